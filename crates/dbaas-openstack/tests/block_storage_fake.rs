//! `ensure_volume`'s waits against a fake Cinder, for the states a real
//! one rarely reaches on demand: a volume that ends in `error`, and one
//! that never leaves `creating`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as AxPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dbaas_openstack::keystone::{DomainRef, ProjectRef, UserRef};
use dbaas_openstack::{
    BlockStorage, CloudConfig, Credentials, OpenStackError, Secret, Session, WaitOptions,
    METADATA_DB, METADATA_OP,
};
use serde_json::{json, Value};

#[derive(Default)]
struct Fake {
    base: Mutex<String>,
    /// The status every created volume reports from then on.
    final_status: Mutex<String>,
    volumes: Mutex<Vec<Value>>,
    creates: Mutex<u32>,
}

type St = Arc<Fake>;

async fn keystone(State(s): State<St>) -> Response {
    let base = s.base.lock().unwrap().clone();
    let exp = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let body = json!({"token": {"expires_at": exp, "methods": ["password"],
        "project": {"id": "p1"},
        "catalog": [{"type": "block-storage", "endpoints": [
            {"interface": "public", "region_id": "RegionOne", "url": format!("{base}/v3/p1")}]}]}});
    let mut h = HeaderMap::new();
    h.insert("X-Subject-Token", "tok".parse().unwrap());
    (StatusCode::CREATED, h, Json(body)).into_response()
}

async fn create(State(s): State<St>, Json(body): Json<Value>) -> Response {
    *s.creates.lock().unwrap() += 1;
    let v = json!({"id": format!("vol-{}", s.volumes.lock().unwrap().len()),
        "name": body["volume"]["name"], "size": body["volume"]["size"],
        "metadata": body["volume"]["metadata"], "status": "creating",
        "created_at": "2026-01-01T00:00:00.000000"});
    s.volumes.lock().unwrap().push(v.clone());
    (StatusCode::ACCEPTED, Json(json!({"volume": v}))).into_response()
}

async fn show(State(s): State<St>, AxPath(id): AxPath<String>) -> Response {
    let status = s.final_status.lock().unwrap().clone();
    let vols = s.volumes.lock().unwrap();
    match vols.iter().find(|v| v["id"] == id.as_str()) {
        Some(v) => {
            let mut v = v.clone();
            v["status"] = json!(status);
            Json(json!({"volume": v})).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"itemNotFound": {"message": "Volume could not be found.", "code": 404}})),
        )
            .into_response(),
    }
}

async fn detail(State(s): State<St>) -> Response {
    let status = s.final_status.lock().unwrap().clone();
    let vols: Vec<Value> = s
        .volumes
        .lock()
        .unwrap()
        .iter()
        .map(|v| {
            let mut v = v.clone();
            v["status"] = json!(status);
            v
        })
        .collect();
    // Like a Cinder that ignores the metadata filter: the client must
    // filter again.
    Json(json!({"volumes": vols})).into_response()
}

async fn fake(final_status: &str) -> (St, BlockStorage) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let st: St = Arc::new(Fake::default());
    *st.final_status.lock().unwrap() = final_status.to_string();
    let app = Router::new()
        .route("/v3/auth/tokens", post(keystone))
        .route("/v3/p1/volumes", post(create))
        .route("/v3/p1/volumes/detail", get(detail))
        .route("/v3/p1/volumes/{id}", get(show))
        .with_state(st.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    *st.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let cfg = CloudConfig {
        auth_url: base,
        credentials: Credentials::Password {
            user: UserRef {
                id: Some("u".into()),
                name: None,
                domain: None,
            },
            password: Secret::new("p"),
            project: ProjectRef {
                id: Some("p1".into()),
                name: None,
                domain: Some(DomainRef::id("default")),
            },
        },
        region_name: None,
        interface: "public".into(),
    };
    let bs = BlockStorage::new(Arc::new(Session::new(cfg).unwrap())).with_wait(WaitOptions {
        timeout: Duration::from_millis(300),
        interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(50),
    });
    (st, bs)
}

fn meta(db: &str) -> BTreeMap<String, String> {
    [
        (METADATA_DB.to_string(), db.to_string()),
        (METADATA_OP.to_string(), "op".to_string()),
    ]
    .into()
}

#[tokio::test]
async fn a_volume_in_error_fails_clearly_and_is_not_recreated() {
    let (st, bs) = fake("error").await;
    let e = bs
        .ensure_volume("dbaas-a", 1, &meta("a"))
        .await
        .unwrap_err();
    assert!(matches!(e, OpenStackError::ResourceFailed(_)), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("dbaas-a") && msg.contains("status error"),
        "{msg}"
    );
    // A retry finds the failed one rather than making another.
    let e = bs
        .ensure_volume("dbaas-a", 1, &meta("a"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("status error"), "{e}");
    assert_eq!(*st.creates.lock().unwrap(), 1);
}

#[tokio::test]
async fn waiting_is_bounded() {
    let (_st, bs) = fake("creating").await;
    let t = std::time::Instant::now();
    let e = bs
        .ensure_volume("dbaas-b", 1, &meta("b"))
        .await
        .unwrap_err();
    assert!(matches!(e, OpenStackError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("last seen: status creating"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn lookup_filters_metadata_itself() {
    let (st, bs) = fake("available").await;
    let a = bs.ensure_volume("dbaas-c", 1, &meta("c")).await.unwrap();
    // The fake lists every volume whatever the filter: a different
    // database's volume must not be taken for ours.
    let b = bs.ensure_volume("dbaas-d", 1, &meta("d")).await.unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(
        bs.ensure_volume("dbaas-c", 1, &meta("c")).await.unwrap().id,
        a.id
    );
    assert_eq!(*st.creates.lock().unwrap(), 2);
}
