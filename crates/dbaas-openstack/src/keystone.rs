//! Keystone (Identity v3) token types: what `POST /v3/auth/tokens` takes and
//! returns. The token itself travels in the `X-Subject-Token` header, not
//! in these bodies.

use serde::{Deserialize, Serialize};

use crate::serde_util::{Secret, Timestamp};

/// The header that carries a newly issued token in Keystone's answer.
pub const SUBJECT_TOKEN_HEADER: &str = "X-Subject-Token";
/// The header that carries the caller's token on every other request.
pub const AUTH_TOKEN_HEADER: &str = "X-Auth-Token";

/// `POST /v3/auth/tokens` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthRequest {
    /// The one `auth` object.
    pub auth: Auth,
}

/// Who authenticates, and for which scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Auth {
    /// The credentials.
    pub identity: Identity,
    /// The project asked for; absent for application credentials, whose
    /// scope is fixed when they are created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

/// The authentication methods used and their credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// `["password"]` or `["application_credential"]`.
    pub methods: Vec<String>,
    /// Credentials of the `password` method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordMethod>,
    /// Credentials of the `application_credential` method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_credential: Option<ApplicationCredentialMethod>,
}

/// The `password` method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordMethod {
    /// The user and their password.
    pub user: PasswordUser,
}

/// A user named by id, or by name within a domain, with a password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordUser {
    /// The user's id (then no name or domain is needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The user's name, unique within `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's domain, required with a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainRef>,
    /// The password.
    pub password: Secret,
}

/// A domain named by id or by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRef {
    /// The domain's id (`default` for the default domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The domain's name (`Default` for the default domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl DomainRef {
    /// A domain by id.
    pub fn id(id: impl Into<String>) -> DomainRef {
        DomainRef {
            id: Some(id.into()),
            name: None,
        }
    }
    /// A domain by name.
    pub fn name(name: impl Into<String>) -> DomainRef {
        DomainRef {
            id: None,
            name: Some(name.into()),
        }
    }
}

/// A user named by id, or by name within a domain (no password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// The user's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The user's name, unique within `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's domain, required with a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainRef>,
}

/// The scope asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// A project scope (the only one dbaas uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<ProjectRef>,
}

/// A project named by id, or by name within a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRef {
    /// The project's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The project's name, unique within `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The project's domain, required with a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainRef>,
}

/// The `application_credential` method: by id, or by name with its user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationCredentialMethod {
    /// The credential's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The credential's name (unique per user, so `user` is required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The secret shown once when the credential was created.
    pub secret: Secret,
    /// The owner, required with a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserRef>,
}

impl AuthRequest {
    /// Password authentication scoped to `project`.
    pub fn password(user: UserRef, password: Secret, project: ProjectRef) -> AuthRequest {
        AuthRequest {
            auth: Auth {
                identity: Identity {
                    methods: vec!["password".into()],
                    password: Some(PasswordMethod {
                        user: PasswordUser {
                            id: user.id,
                            name: user.name,
                            domain: user.domain,
                            password,
                        },
                    }),
                    application_credential: None,
                },
                scope: Some(Scope {
                    project: Some(project),
                }),
            },
        }
    }

    /// Application credential authentication by the credential's id.
    pub fn application_credential_id(id: impl Into<String>, secret: Secret) -> AuthRequest {
        Self::application_credential(ApplicationCredentialMethod {
            id: Some(id.into()),
            name: None,
            secret,
            user: None,
        })
    }

    /// Application credential authentication by name and owner.
    pub fn application_credential_name(
        name: impl Into<String>,
        user: UserRef,
        secret: Secret,
    ) -> AuthRequest {
        Self::application_credential(ApplicationCredentialMethod {
            id: None,
            name: Some(name.into()),
            secret,
            user: Some(user),
        })
    }

    fn application_credential(method: ApplicationCredentialMethod) -> AuthRequest {
        AuthRequest {
            auth: Auth {
                identity: Identity {
                    methods: vec!["application_credential".into()],
                    password: None,
                    application_credential: Some(method),
                },
                scope: None,
            },
        }
    }
}

/// `POST /v3/auth/tokens` answer body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// What the issued token grants.
    pub token: Token,
}

/// What a token grants, and until when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// When the token stops being accepted.
    pub expires_at: Timestamp,
    /// When it was issued.
    #[serde(default)]
    pub issued_at: Option<Timestamp>,
    /// The methods that were used.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Audit ids (the token's own, then its parent's).
    #[serde(default)]
    pub audit_ids: Vec<String>,
    /// The services reachable with the token; empty with `?nocatalog`.
    #[serde(default)]
    pub catalog: Vec<CatalogService>,
    /// The project the token is scoped to.
    #[serde(default)]
    pub project: Option<ProjectInfo>,
    /// The authenticated user.
    #[serde(default)]
    pub user: Option<UserInfo>,
    /// The roles granted on the scope.
    #[serde(default)]
    pub roles: Vec<NamedRef>,
    /// Whether the project scope is a domain acting as a project.
    #[serde(default)]
    pub is_domain: Option<bool>,
    /// The application credential used, if any.
    #[serde(default)]
    pub application_credential: Option<ApplicationCredentialInfo>,
}

/// A project, as Keystone describes it in a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its domain.
    #[serde(default)]
    pub domain: Option<NamedRef>,
}

/// A user, as Keystone describes it in a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its domain.
    #[serde(default)]
    pub domain: Option<NamedRef>,
    /// When its password expires (`null` when it does not).
    #[serde(default)]
    pub password_expires_at: Option<Timestamp>,
}

/// Something with an id and a name (a role, a domain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedRef {
    /// Its id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
}

/// The application credential a token was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationCredentialInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether it may not create other credentials.
    #[serde(default)]
    pub restricted: Option<bool>,
}

/// One service in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogService {
    /// The service type (`block-storage`, `volumev3`, `network`, ...).
    #[serde(rename = "type")]
    pub service_type: String,
    /// The service's id.
    #[serde(default)]
    pub id: Option<String>,
    /// The service's name (`cinder`, `neutron`, ...).
    #[serde(default)]
    pub name: Option<String>,
    /// Where it is reached.
    #[serde(default)]
    pub endpoints: Vec<CatalogEndpoint>,
}

/// One endpoint of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEndpoint {
    /// The endpoint's id.
    #[serde(default)]
    pub id: Option<String>,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    /// The region (older field, same as `region_id`).
    #[serde(default)]
    pub region: Option<String>,
    /// The region's id.
    #[serde(default)]
    pub region_id: Option<String>,
    /// The base URL (project id already substituted).
    pub url: String,
}

/// `GET /v3/auth/catalog` answer body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogResponse {
    /// The services.
    pub catalog: Vec<CatalogService>,
}

/// Service types that name the same API: a catalog may list Cinder v3 as
/// `block-storage` (the official type) or under an older alias.
pub fn service_type_aliases(service_type: &str) -> &'static [&'static str] {
    match service_type {
        "block-storage" | "volumev3" | "volume" => &["block-storage", "volumev3", "volume"],
        "network" => &["network"],
        "identity" => &["identity"],
        "orchestration" => &["orchestration"],
        "compute" => &["compute"],
        _ => &[],
    }
}

/// Finds the URL of `service_type` (or an alias) on `interface` in
/// `region` (any region when `None`).
pub fn find_endpoint<'a>(
    catalog: &'a [CatalogService],
    service_type: &str,
    interface: &str,
    region: Option<&str>,
) -> Option<&'a str> {
    let aliases = service_type_aliases(service_type);
    // An exact type match first, then aliases in their order of preference.
    let mut types: Vec<&str> = vec![service_type];
    types.extend(aliases.iter().copied().filter(|t| *t != service_type));
    for t in types {
        for svc in catalog.iter().filter(|s| s.service_type == t) {
            let found = svc.endpoints.iter().find(|e| {
                let iface = e.interface.trim_end_matches("URL");
                iface == interface
                    && region.is_none_or(|r| {
                        e.region_id.as_deref() == Some(r) || e.region.as_deref() == Some(r)
                    })
            });
            if let Some(e) = found {
                return Some(e.url.as_str());
            }
        }
    }
    None
}
