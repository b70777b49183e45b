//! Where the cloud is and who we are in it: `clouds.yaml` (with
//! `secure.yaml` merged over it) or the plain `OS_*` variables, read the
//! way the `openstack` command line reads them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{OpenStackError, Result};
use crate::keystone::{AuthRequest, DomainRef, ProjectRef, UserRef};
use crate::serde_util::Secret;

/// How to obtain a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    /// A user's password, for a token scoped to a project.
    Password {
        /// The user (by id, or by name within a domain).
        user: UserRef,
        /// The password.
        password: Secret,
        /// The project (by id, or by name within a domain).
        project: ProjectRef,
    },
    /// An application credential: its scope and roles were fixed when it
    /// was created, so no project is named.
    ApplicationCredential {
        /// The credential's id.
        id: Option<String>,
        /// The credential's name (needs `user`).
        name: Option<String>,
        /// The owner, required with a name.
        user: Option<UserRef>,
        /// The secret.
        secret: Secret,
    },
}

/// One cloud: Keystone's URL, the credentials, and which endpoints to use.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudConfig {
    /// Keystone's URL, with or without the `/v3` suffix.
    pub auth_url: String,
    /// The credentials.
    pub credentials: Credentials,
    /// The region whose endpoints are used (any region when `None`).
    pub region_name: Option<String>,
    /// `public` (default), `internal` or `admin`.
    pub interface: String,
}

/// Where configuration is read from; [`ConfigSources::from_process`] is
/// the real environment, tests build their own.
pub struct ConfigSources<'a> {
    /// Looks up an environment variable.
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// The directory searched first for `clouds.yaml`.
    pub cwd: PathBuf,
    /// The system-wide directory (`/etc/openstack`).
    pub system_dir: PathBuf,
}

fn process_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl ConfigSources<'static> {
    /// The process's environment, current directory and `/etc/openstack`.
    pub fn from_process() -> ConfigSources<'static> {
        ConfigSources {
            var: &process_var,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            system_dir: PathBuf::from("/etc/openstack"),
        }
    }
}

impl ConfigSources<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|v| !v.is_empty())
    }

    /// The directories searched, in order: the current directory, the
    /// user's (`$XDG_CONFIG_HOME/openstack` or `~/.config/openstack`), the
    /// system's.
    pub fn search_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.cwd.clone()];
        if let Some(x) = self.get("XDG_CONFIG_HOME") {
            dirs.push(PathBuf::from(x).join("openstack"));
        } else if let Some(h) = self.get("HOME") {
            dirs.push(PathBuf::from(h).join(".config/openstack"));
        }
        dirs.push(self.system_dir.clone());
        dirs
    }

    fn find(&self, override_var: &str, stem: &str) -> Option<PathBuf> {
        if let Some(p) = self.get(override_var) {
            return Some(PathBuf::from(p));
        }
        self.search_dirs().into_iter().find_map(|d| {
            [format!("{stem}.yaml"), format!("{stem}.yml")]
                .into_iter()
                .map(|f| d.join(f))
                .find(|p| p.is_file())
        })
    }
}

impl CloudConfig {
    /// The configuration the process's environment names: the cloud
    /// `OS_CLOUD` in `clouds.yaml` when it is set, else the `OS_*`
    /// variables.
    pub fn from_env() -> Result<CloudConfig> {
        Self::load(&ConfigSources::from_process())
    }

    /// As [`CloudConfig::from_env`], from the given sources.
    pub fn load(src: &ConfigSources<'_>) -> Result<CloudConfig> {
        if let Some(cloud) = src.get("OS_CLOUD") {
            let path = src.find("OS_CLIENT_CONFIG_FILE", "clouds").ok_or_else(|| {
                OpenStackError::Config(format!(
                    "OS_CLOUD={cloud} but no clouds.yaml in {} (or set OS_CLIENT_CONFIG_FILE)",
                    src.search_dirs()
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let secure = src.find("OS_CLIENT_SECURE_FILE", "secure");
            return Self::from_clouds_yaml(&path, secure.as_deref(), &cloud);
        }
        if src.get("OS_AUTH_URL").is_some() {
            return Self::from_os_vars(src);
        }
        Err(OpenStackError::Config(
            "neither OS_CLOUD nor OS_AUTH_URL is set".into(),
        ))
    }

    /// The cloud named `cloud` in the clouds.yaml at `path`, with the
    /// secure.yaml at `secure` (passwords kept apart) merged over it.
    pub fn from_clouds_yaml(
        path: &Path,
        secure: Option<&Path>,
        cloud: &str,
    ) -> Result<CloudConfig> {
        let mut doc = read_yaml(path)?;
        if let Some(s) = secure.filter(|s| s.is_file()) {
            merge(&mut doc, read_yaml(s)?);
        }
        let entry = doc
            .get("clouds")
            .and_then(|c| c.get(cloud))
            .ok_or_else(|| {
                OpenStackError::Config(format!("no cloud {cloud:?} in {}", path.display()))
            })?;
        let mut params = BTreeMap::new();
        if let Some(Value::Object(auth)) = entry.get("auth") {
            for (k, v) in auth {
                if let Some(s) = scalar(v) {
                    params.insert(k.clone(), s);
                }
            }
        }
        let top = |k: &str| entry.get(k).and_then(scalar);
        Self::from_params(
            &params,
            top("auth_type"),
            top("region_name"),
            top("interface"),
            &format!("cloud {cloud:?} in {}", path.display()),
        )
    }

    /// The configuration in the `OS_*` variables (`OS_AUTH_URL`,
    /// `OS_USERNAME`, `OS_PASSWORD`, `OS_PROJECT_NAME`/`_ID`,
    /// `OS_USER_DOMAIN_NAME`, `OS_PROJECT_DOMAIN_NAME`, `OS_REGION_NAME`,
    /// `OS_INTERFACE`, `OS_APPLICATION_CREDENTIAL_ID`/`_NAME`/`_SECRET`, ...).
    pub fn from_os_vars(src: &ConfigSources<'_>) -> Result<CloudConfig> {
        // Each OS_FOO is the clouds.yaml auth key `foo`.
        const KEYS: &[&str] = &[
            "auth_url",
            "username",
            "user_id",
            "password",
            "project_name",
            "project_id",
            "user_domain_name",
            "user_domain_id",
            "project_domain_name",
            "project_domain_id",
            "domain_name",
            "domain_id",
            "application_credential_id",
            "application_credential_name",
            "application_credential_secret",
        ];
        let mut params = BTreeMap::new();
        for k in KEYS {
            if let Some(v) = src.get(&format!("OS_{}", k.to_uppercase())) {
                params.insert(k.to_string(), v);
            }
        }
        // The names of Keystone v2 days, still set by older openrc files.
        for (old, new) in [
            ("OS_TENANT_NAME", "project_name"),
            ("OS_TENANT_ID", "project_id"),
        ] {
            if let Some(v) = src.get(old) {
                params.entry(new.to_string()).or_insert(v);
            }
        }
        let interface = src
            .get("OS_INTERFACE")
            .or_else(|| src.get("OS_ENDPOINT_TYPE"));
        Self::from_params(
            &params,
            src.get("OS_AUTH_TYPE"),
            src.get("OS_REGION_NAME"),
            interface,
            "the OS_* variables",
        )
    }

    fn from_params(
        p: &BTreeMap<String, String>,
        auth_type: Option<String>,
        region_name: Option<String>,
        interface: Option<String>,
        origin: &str,
    ) -> Result<CloudConfig> {
        let get = |k: &str| p.get(k).cloned();
        let missing = |what: &str| OpenStackError::Config(format!("{origin}: {what} is missing"));
        let auth_url = get("auth_url").ok_or_else(|| missing("auth_url"))?;
        // `domain_*` is the default for both the user's and the project's.
        let domain = |prefix: &str| -> Option<DomainRef> {
            let id = get(&format!("{prefix}_domain_id")).or_else(|| get("domain_id"));
            let name = get(&format!("{prefix}_domain_name")).or_else(|| get("domain_name"));
            match (id, name) {
                (None, None) => None,
                (id, name) => Some(DomainRef { id, name }),
            }
        };
        let user = |with_default_domain: bool| -> Option<UserRef> {
            let id = get("user_id");
            let name = get("username");
            if id.is_none() && name.is_none() {
                return None;
            }
            // A name is only unique within a domain; like the CLI, assume
            // the default domain when none is given.
            let domain = if id.is_none() && with_default_domain {
                Some(domain("user").unwrap_or_else(|| DomainRef::id("default")))
            } else {
                domain("user")
            };
            Some(UserRef { id, name, domain })
        };
        let app_cred = auth_type
            .as_deref()
            .map(|t| t.contains("applicationcredential") || t.contains("application_credential"))
            .unwrap_or_else(|| get("application_credential_secret").is_some());
        let credentials = if app_cred {
            let secret = get("application_credential_secret")
                .ok_or_else(|| missing("application_credential_secret"))?;
            let id = get("application_credential_id");
            let name = get("application_credential_name");
            let user = if id.is_none() {
                if name.is_none() {
                    return Err(missing("application_credential_id or _name"));
                }
                Some(user(true).ok_or_else(|| {
                    missing("user_id or username (needed with an application credential name)")
                })?)
            } else {
                None
            };
            Credentials::ApplicationCredential {
                id,
                name,
                user,
                secret: Secret::new(secret),
            }
        } else {
            if let Some(t) = auth_type.as_deref() {
                if t != "password" && t != "v3password" {
                    return Err(OpenStackError::Config(format!(
                        "{origin}: auth_type {t:?} is not supported (password, v3applicationcredential)"
                    )));
                }
            }
            let user = user(true).ok_or_else(|| missing("username or user_id"))?;
            let password = get("password").ok_or_else(|| missing("password"))?;
            let project_id = get("project_id");
            let project_name = get("project_name");
            if project_id.is_none() && project_name.is_none() {
                return Err(missing("project_name or project_id"));
            }
            let project_domain = if project_id.is_none() {
                Some(domain("project").unwrap_or_else(|| DomainRef::id("default")))
            } else {
                None
            };
            Credentials::Password {
                user,
                password: Secret::new(password),
                project: ProjectRef {
                    id: project_id,
                    name: project_name,
                    domain: project_domain,
                },
            }
        };
        Ok(CloudConfig {
            auth_url,
            credentials,
            region_name,
            interface: normalize_interface(interface.as_deref().unwrap_or("public")),
        })
    }

    /// The body that asks Keystone for a token.
    pub fn auth_request(&self) -> AuthRequest {
        match &self.credentials {
            Credentials::Password {
                user,
                password,
                project,
            } => AuthRequest::password(user.clone(), password.clone(), project.clone()),
            Credentials::ApplicationCredential {
                id: Some(id),
                secret,
                ..
            } => AuthRequest::application_credential_id(id.clone(), secret.clone()),
            Credentials::ApplicationCredential {
                name, user, secret, ..
            } => AuthRequest::application_credential_name(
                name.clone().unwrap_or_default(),
                user.clone().unwrap_or(UserRef {
                    id: None,
                    name: None,
                    domain: None,
                }),
                secret.clone(),
            ),
        }
    }

    /// Keystone's v3 base URL (`.../v3`, no trailing slash).
    pub fn identity_v3_url(&self) -> String {
        let base = self.auth_url.trim_end_matches('/');
        if base.ends_with("/v3") {
            base.to_string()
        } else {
            format!("{base}/v3")
        }
    }
}

/// `publicURL` (the old spelling) is `public`.
fn normalize_interface(i: &str) -> String {
    i.trim_end_matches("URL").to_ascii_lowercase()
}

fn read_yaml(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| OpenStackError::Config(format!("{}: {e}", path.display())))?;
    serde_norway::from_str::<Value>(&text)
        .map_err(|e| OpenStackError::Config(format!("{}: {e}", path.display())))
}

/// Merges `over` into `base`, maps key by key, anything else replaced.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// YAML scalars as strings: a numeric password or project id is still a
/// string to Keystone.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
