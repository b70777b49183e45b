//! Configuration loading, and the session against a fake Keystone and a
//! fake service: token caching and renewal, endpoint lookup, bounded
//! retries on 5xx and connection errors, none on 4xx, one re-auth on 401.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as AxPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use dbaas_openstack::keystone::{DomainRef, ProjectRef, UserRef};
use dbaas_openstack::{
    ApiRequest, CloudConfig, ConfigSources, Credentials, OpenStackError, RetryPolicy, Secret,
    Session, SessionOptions,
};
use reqwest::Method;
use serde_json::json;

// ------------------------------------------------------------ configuration

fn sources<'a>(
    f: &'a dyn Fn(&str) -> Option<String>,
    cwd: &std::path::Path,
    sys: &std::path::Path,
) -> ConfigSources<'a> {
    ConfigSources {
        var: f,
        cwd: cwd.to_path_buf(),
        system_dir: sys.to_path_buf(),
    }
}

const CLOUDS: &str = r#"
clouds:
  prod:
    auth:
      auth_url: https://keystone.example.com:5000
      username: dbaas
      project_name: databases
      user_domain_name: Users
      project_domain_id: default
    region_name: RegionTwo
    interface: internal
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example.com/v3/
      application_credential_id: 0123abc
    region_name: RegionOne
"#;

const SECURE: &str = r#"
clouds:
  prod:
    auth:
      password: 12345
  appcred:
    auth:
      application_credential_secret: s3cret
"#;

#[test]
fn clouds_yaml_with_secure_yaml_merged() {
    let dir = tempfile::tempdir().unwrap();
    let user_dir = dir.path().join("xdg/openstack");
    std::fs::create_dir_all(&user_dir).unwrap();
    std::fs::write(user_dir.join("clouds.yaml"), CLOUDS).unwrap();
    std::fs::write(user_dir.join("secure.yaml"), SECURE).unwrap();
    let cwd = dir.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let xdg = dir.path().join("xdg").display().to_string();
    let cloud = std::cell::RefCell::new("prod");
    let f = |k: &str| match k {
        "OS_CLOUD" => Some(cloud.borrow().to_string()),
        "XDG_CONFIG_HOME" => Some(xdg.clone()),
        "HOME" => Some("/nonexistent".to_string()),
        _ => None,
    };
    let src = sources(&f, &cwd, &dir.path().join("etc"));
    let c = CloudConfig::load(&src).unwrap();
    assert_eq!(c.auth_url, "https://keystone.example.com:5000");
    assert_eq!(c.identity_v3_url(), "https://keystone.example.com:5000/v3");
    assert_eq!(c.region_name.as_deref(), Some("RegionTwo"));
    assert_eq!(c.interface, "internal");
    assert_eq!(
        c.credentials,
        Credentials::Password {
            user: UserRef {
                id: None,
                name: Some("dbaas".into()),
                domain: Some(DomainRef::name("Users")),
            },
            // A number in YAML, a string to Keystone.
            password: Secret::new("12345"),
            project: ProjectRef {
                id: None,
                name: Some("databases".into()),
                domain: Some(DomainRef::id("default")),
            },
        }
    );
    let body = serde_json::to_value(c.auth_request()).unwrap();
    assert_eq!(
        body["auth"]["identity"]["password"]["user"]["password"],
        json!("12345")
    );
    assert_eq!(body["auth"]["scope"]["project"]["name"], json!("databases"));

    *cloud.borrow_mut() = "appcred";
    let c = CloudConfig::load(&src).unwrap();
    assert_eq!(c.identity_v3_url(), "https://keystone.example.com/v3");
    assert_eq!(c.interface, "public");
    assert_eq!(
        serde_json::to_value(c.auth_request()).unwrap(),
        json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"id": "0123abc", "secret": "s3cret"}}}})
    );

    *cloud.borrow_mut() = "nope";
    let e = CloudConfig::load(&src).unwrap_err().to_string();
    assert!(e.contains("no cloud \"nope\""), "{e}");
}

#[test]
fn clouds_yaml_search_order_and_override() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("cwd");
    let home_dir = dir.path().join("home/.config/openstack");
    let etc = dir.path().join("etc");
    for d in [&cwd, &home_dir, &etc] {
        std::fs::create_dir_all(d).unwrap();
    }
    let write = |d: &std::path::Path, url: &str| {
        std::fs::write(
            d.join("clouds.yaml"),
            format!(
                "clouds:\n  c:\n    auth:\n      auth_url: {url}\n      username: u\n      password: p\n      project_id: pid\n"
            ),
        )
        .unwrap()
    };
    write(&etc, "http://etc");
    let home = dir.path().join("home").display().to_string();
    let override_file = std::cell::RefCell::new(None::<String>);
    let f = |k: &str| match k {
        "OS_CLOUD" => Some("c".to_string()),
        "HOME" => Some(home.clone()),
        "OS_CLIENT_CONFIG_FILE" => override_file.borrow().clone(),
        _ => None,
    };
    let src = sources(&f, &cwd, &etc);
    assert_eq!(CloudConfig::load(&src).unwrap().auth_url, "http://etc");
    write(&home_dir, "http://home");
    assert_eq!(CloudConfig::load(&src).unwrap().auth_url, "http://home");
    write(&cwd, "http://cwd");
    assert_eq!(CloudConfig::load(&src).unwrap().auth_url, "http://cwd");
    let other = dir.path().join("other.yaml");
    write(dir.path(), "http://ignored");
    std::fs::rename(dir.path().join("clouds.yaml"), &other).unwrap();
    *override_file.borrow_mut() = Some(other.display().to_string());
    let c = CloudConfig::load(&src).unwrap();
    assert_eq!(c.auth_url, "http://ignored");
    // A project by id needs no domain; the user name gets the default one.
    match c.credentials {
        Credentials::Password { user, project, .. } => {
            assert_eq!(project.id.as_deref(), Some("pid"));
            assert_eq!(project.domain, None);
            assert_eq!(user.domain, Some(DomainRef::id("default")));
        }
        other => panic!("{other:?}"),
    }
}

fn from_vars(pairs: &[(&str, &str)]) -> dbaas_openstack::Result<CloudConfig> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let f = move |k: &str| map.get(k).cloned();
    let empty = tempfile::tempdir().unwrap();
    CloudConfig::load(&ConfigSources {
        var: &f,
        cwd: empty.path().to_path_buf(),
        system_dir: empty.path().to_path_buf(),
    })
}

#[test]
fn os_variables() {
    let c = from_vars(&[
        ("OS_AUTH_URL", "http://ks:5000/v3"),
        ("OS_USERNAME", "alice"),
        ("OS_PASSWORD", "pw"),
        ("OS_PROJECT_NAME", "proj"),
        ("OS_USER_DOMAIN_NAME", "Default"),
        ("OS_PROJECT_DOMAIN_NAME", "Default"),
        ("OS_REGION_NAME", "R1"),
        ("OS_INTERFACE", "publicURL"),
    ])
    .unwrap();
    assert_eq!(c.region_name.as_deref(), Some("R1"));
    assert_eq!(c.interface, "public");
    assert_eq!(
        serde_json::to_value(c.auth_request()).unwrap(),
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "alice", "domain": {"name": "Default"}, "password": "pw"}}},
            "scope": {"project": {"name": "proj", "domain": {"name": "Default"}}}}})
    );
    assert!(
        !format!("{c:?}").contains("\"pw\""),
        "Debug leaks the password"
    );

    let c = from_vars(&[
        ("OS_AUTH_URL", "http://ks:5000"),
        ("OS_USERNAME", "alice"),
        ("OS_PASSWORD", "pw"),
        ("OS_PROJECT_ID", "p-1"),
    ])
    .unwrap();
    assert_eq!(
        serde_json::to_value(c.auth_request()).unwrap()["auth"]["scope"],
        json!({"project": {"id": "p-1"}})
    );

    let c = from_vars(&[
        ("OS_AUTH_URL", "http://ks:5000"),
        ("OS_APPLICATION_CREDENTIAL_NAME", "dbaas"),
        ("OS_APPLICATION_CREDENTIAL_SECRET", "sec"),
        ("OS_USERNAME", "alice"),
        ("OS_USER_DOMAIN_NAME", "Default"),
    ])
    .unwrap();
    assert_eq!(
        serde_json::to_value(c.auth_request()).unwrap(),
        json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"name": "dbaas", "secret": "sec",
                "user": {"name": "alice", "domain": {"name": "Default"}}}}}})
    );
    let c = from_vars(&[
        ("OS_AUTH_URL", "http://ks:5000"),
        ("OS_APPLICATION_CREDENTIAL_ID", "id-1"),
        ("OS_APPLICATION_CREDENTIAL_SECRET", "sec"),
    ])
    .unwrap();
    assert!(matches!(
        c.credentials,
        Credentials::ApplicationCredential {
            id: Some(_),
            user: None,
            ..
        }
    ));

    for (vars, want) in [
        (vec![], "neither OS_CLOUD nor OS_AUTH_URL"),
        (vec![("OS_AUTH_URL", "http://x")], "username or user_id"),
        (
            vec![
                ("OS_AUTH_URL", "http://x"),
                ("OS_USERNAME", "u"),
                ("OS_PASSWORD", "p"),
            ],
            "project_name or project_id",
        ),
        (
            vec![
                ("OS_AUTH_URL", "http://x"),
                ("OS_APPLICATION_CREDENTIAL_SECRET", "s"),
            ],
            "application_credential_id or _name",
        ),
    ] {
        let e = from_vars(&vars).unwrap_err();
        assert!(matches!(e, OpenStackError::Config(_)));
        assert!(e.to_string().contains(want), "{e} / {want}");
    }
}

// ------------------------------------------------------------------ session

#[derive(Default)]
struct Fake {
    base: std::sync::Mutex<String>,
    auths: AtomicU32,
    hits: std::sync::Mutex<HashMap<String, u32>>,
    /// Seconds of life of the tokens issued.
    lifetime: AtomicU32,
    /// The token a service accepts; others get 401 (0 = any).
    accept_only: AtomicU32,
}

type St = Arc<Fake>;

async fn keystone(State(s): State<St>, Json(body): Json<serde_json::Value>) -> Response {
    let pw = &body["auth"]["identity"]["password"]["user"]["password"];
    if pw != "right" {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}})),
        )
            .into_response();
    }
    let n = s.auths.fetch_add(1, Ordering::SeqCst) + 1;
    let life = s.lifetime.load(Ordering::SeqCst) as i64;
    let exp = chrono::Utc::now() + chrono::Duration::seconds(life);
    let base = s.base.lock().unwrap().clone();
    let body = json!({"token": {
    "expires_at": exp.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    "methods": ["password"],
    "project": {"id": "p1", "name": "proj", "domain": {"id": "default", "name": "Default"}},
    "catalog": [
        {"type": "volumev3", "name": "cinderv3", "endpoints": [
            {"interface": "public", "region_id": "R1", "region": "R1", "url": format!("{base}/wrong-region")},
            {"interface": "public", "region_id": "R2", "region": "R2", "url": format!("{base}/svc/")},
            {"interface": "internal", "region_id": "R2", "region": "R2", "url": format!("{base}/internal")}
        ]}
    ]}});
    let mut h = HeaderMap::new();
    h.insert("X-Subject-Token", format!("tok-{n}").parse().unwrap());
    (StatusCode::CREATED, h, Json(body)).into_response()
}

async fn service(
    State(s): State<St>,
    AxPath(what): AxPath<String>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    let key = format!("{method} {what}");
    let n = {
        let mut hits = s.hits.lock().unwrap();
        let e = hits.entry(key).or_default();
        *e += 1;
        *e
    };
    let tok = headers
        .get("X-Auth-Token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let only = s.accept_only.load(Ordering::SeqCst);
    if only != 0 && tok != format!("tok-{only}") {
        return (StatusCode::UNAUTHORIZED, "expired").into_response();
    }
    match what.as_str() {
        "ok" => Json(json!({"token": tok})).into_response(),
        "flaky" if n < 3 => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        "flaky" => Json(json!({"attempt": n})).into_response(),
        "down" => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"computeFault": {"message": "boom", "code": 500}}))).into_response(),
        "unavailable" => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        "bad" => (StatusCode::BAD_REQUEST, Json(json!({"badRequest": {"message": "Invalid input", "code": 400}}))).into_response(),
        "missing" => (StatusCode::NOT_FOUND, Json(json!({"NeutronError": {"type": "X", "message": "Floating IP x could not be found", "detail": ""}}))).into_response(),
        _ => StatusCode::IM_A_TEAPOT.into_response(),
    }
}

async fn fake() -> (St, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let st: St = Arc::new(Fake::default());
    st.lifetime.store(3600, Ordering::SeqCst);
    let app = Router::new()
        .route("/identity/v3/auth/tokens", post(keystone))
        .route("/svc/{what}", any(service))
        .with_state(st.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    *st.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (st, base)
}

fn config(base: &str, password: &str) -> CloudConfig {
    CloudConfig {
        auth_url: format!("{base}/identity"),
        credentials: Credentials::Password {
            user: UserRef {
                id: None,
                name: Some("u".into()),
                domain: Some(DomainRef::id("default")),
            },
            password: Secret::new(password),
            project: ProjectRef {
                id: Some("p1".into()),
                name: None,
                domain: None,
            },
        },
        region_name: Some("R2".into()),
        interface: "public".into(),
    }
}

fn fast(margin: Duration) -> SessionOptions {
    SessionOptions {
        renew_margin: margin,
        retry: RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        },
        ..SessionOptions::default()
    }
}

fn get(what: &str) -> ApiRequest {
    ApiRequest::new("block-storage", Method::GET, format!("/{what}"))
}

fn hits(st: &Fake, key: &str) -> u32 {
    st.hits.lock().unwrap().get(key).copied().unwrap_or(0)
}

#[tokio::test]
async fn token_is_cached_and_endpoint_found_by_alias_region_and_interface() {
    let (st, base) = fake().await;
    let s = Session::with_options(config(&base, "right"), fast(Duration::from_secs(60))).unwrap();
    // block-storage is found under its alias volumev3, in region R2.
    assert_eq!(
        s.endpoint("block-storage").await.unwrap(),
        format!("{base}/svc")
    );
    let a: serde_json::Value = s.send_json(&get("ok")).await.unwrap();
    let b: serde_json::Value = s.send_json(&get("ok")).await.unwrap();
    assert_eq!(a["token"], "tok-1");
    assert_eq!(b["token"], "tok-1");
    assert_eq!(st.auths.load(Ordering::SeqCst), 1);
    assert_eq!(s.token().await.unwrap().project_id(), Some("p1"));

    let e = s.endpoint("network").await.unwrap_err();
    assert!(matches!(e, OpenStackError::NoEndpoint { .. }), "{e}");
    let mut other = config(&base, "right");
    other.region_name = Some("R9".into());
    let e = Session::new(other)
        .unwrap()
        .endpoint("volumev3")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("region \"R9\""), "{e}");
}

#[tokio::test]
async fn token_renewed_within_margin() {
    let (st, base) = fake().await;
    st.lifetime.store(120, Ordering::SeqCst);
    // Tokens live 2 minutes; a 5-minute margin means each is already due.
    let s = Session::with_options(config(&base, "right"), fast(Duration::from_secs(300))).unwrap();
    let a = s.token().await.unwrap();
    let b = s.token().await.unwrap();
    assert_ne!(a.value, b.value);
    assert_eq!(st.auths.load(Ordering::SeqCst), 2);
    // A 1-minute margin keeps them.
    let s = Session::with_options(config(&base, "right"), fast(Duration::from_secs(60))).unwrap();
    let a = s.token().await.unwrap();
    let b = s.token().await.unwrap();
    assert_eq!(a.value, b.value);
}

#[tokio::test]
async fn bad_password_is_an_auth_error() {
    let (_st, base) = fake().await;
    let s = Session::with_options(config(&base, "wrong"), fast(Duration::from_secs(60))).unwrap();
    let e = s.send(&get("ok")).await.unwrap_err();
    assert!(matches!(e, OpenStackError::Auth { .. }), "{e}");
    assert!(e.to_string().contains("HTTP 401"), "{e}");
    assert!(e.to_string().contains("requires authentication"), "{e}");
}

#[tokio::test]
async fn retries_5xx_bounded_and_never_4xx() {
    let (st, base) = fake().await;
    let s = Session::with_options(config(&base, "right"), fast(Duration::from_secs(60))).unwrap();
    let v: serde_json::Value = s.send_json(&get("flaky")).await.unwrap();
    assert_eq!(v["attempt"], 3);

    let e = s.send(&get("down")).await.unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert!(e.to_string().contains("boom"), "{e}");
    assert_eq!(hits(&st, "GET down"), 4, "bounded by max_attempts");

    let e = s.send(&get("bad")).await.unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert!(e.to_string().contains("Invalid input"), "{e}");
    assert_eq!(hits(&st, "GET bad"), 1);
    let e = s.send(&get("missing")).await.unwrap_err();
    assert!(e.is_not_found());
    assert!(e.to_string().contains("could not be found"), "{e}");
    assert_eq!(hits(&st, "GET missing"), 1);

    // A POST that may have been acted on is not repeated, whatever the
    // 5xx: even a proxy's 503 may come after the service acted. The caller
    // looks up before creating again.
    let post =
        |w: &str| ApiRequest::new("block-storage", Method::POST, format!("/{w}")).json(&json!({}));
    assert_eq!(s.send(&post("down")).await.unwrap_err().status(), Some(500));
    assert_eq!(hits(&st, "POST down"), 1);
    assert_eq!(
        s.send(&post("unavailable")).await.unwrap_err().status(),
        Some(503)
    );
    assert_eq!(hits(&st, "POST unavailable"), 1);
}

#[tokio::test]
async fn reauthenticates_once_on_401() {
    let (st, base) = fake().await;
    let s = Session::with_options(config(&base, "right"), fast(Duration::from_secs(60))).unwrap();
    let _ = s.token().await.unwrap(); // tok-1 cached
                                      // The service now accepts only the next token: as if tok-1 were revoked.
    st.accept_only.store(2, Ordering::SeqCst);
    let v: serde_json::Value = s.send_json(&get("ok")).await.unwrap();
    assert_eq!(v["token"], "tok-2");
    assert_eq!(st.auths.load(Ordering::SeqCst), 2);
    // If even a new token is refused, the 401 is returned, after one try.
    st.accept_only.store(99, Ordering::SeqCst);
    let e = s.send(&get("ok")).await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert_eq!(st.auths.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = Session::with_options(
        config(&format!("http://127.0.0.1:{port}"), "right"),
        fast(Duration::from_secs(60)),
    )
    .unwrap();
    let t = std::time::Instant::now();
    let e = s.token().await.unwrap_err();
    assert!(matches!(e, OpenStackError::Auth { .. }), "{e}");
    assert!(e.to_string().contains("no answer"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
}
