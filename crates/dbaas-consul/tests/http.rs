//! The client over real HTTP against an in-test fake Consul agent
//! (`fake_consul`), checking the documented semantics end to end.

mod fake_consul;

use std::time::{Duration, Instant};

use dbaas_consul::*;

fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

fn client(fake: &fake_consul::Fake) -> ConsulClient {
    client_with(fake, |_| {})
}

fn client_with(fake: &fake_consul::Fake, tweak: impl FnOnce(&mut ConsulConfig)) -> ConsulClient {
    install_provider();
    let mut config = ConsulConfig::with_address(&fake.url).unwrap();
    config.retry = fast_retry();
    tweak(&mut config);
    ConsulClient::new(config).unwrap()
}

fn cas(index: u64) -> KvPutOptions {
    KvPutOptions {
        cas: Some(index),
        ..KvPutOptions::default()
    }
}

fn acquire(session: &str) -> KvPutOptions {
    KvPutOptions {
        acquire: Some(session.to_string()),
        ..KvPutOptions::default()
    }
}

fn release(session: &str) -> KvPutOptions {
    KvPutOptions {
        release: Some(session.to_string()),
        ..KvPutOptions::default()
    }
}

const NOW: QueryOptions = QueryOptions {
    index: None,
    wait: None,
    consistency: Consistency::Default,
};

#[tokio::test]
async fn kv_put_get_and_cas_semantics() {
    let fake = fake_consul::start().await;
    let c = client(&fake);

    let (absent, meta) = c.kv_get("dbaas/leader", &NOW).await.unwrap();
    assert_eq!(absent, None);
    assert!(meta.last_index >= 1 && meta.known_leader);

    // cas=0 creates only if absent.
    assert!(c.kv_put("dbaas/leader", "agent-1", &cas(0)).await.unwrap());
    assert!(!c.kv_put("dbaas/leader", "agent-2", &cas(0)).await.unwrap());
    let (pair, meta) = c.kv_get("dbaas/leader", &NOW).await.unwrap();
    let pair = pair.unwrap();
    assert_eq!(pair.value.as_deref(), Some(&b"agent-1"[..]));
    assert_eq!(meta.last_index, pair.modify_index);

    // cas=N succeeds only at the current ModifyIndex; a stale one is refused
    // and does not overwrite the newer value.
    let first = pair.modify_index;
    assert!(c
        .kv_put("dbaas/leader", "agent-3", &cas(first))
        .await
        .unwrap());
    assert!(!c
        .kv_put("dbaas/leader", "agent-4", &cas(first))
        .await
        .unwrap());
    let pair = c.kv_get("dbaas/leader", &NOW).await.unwrap().0.unwrap();
    assert_eq!(pair.value.as_deref(), Some(&b"agent-3"[..]));
    assert!(pair.modify_index > first);
    assert_eq!(pair.create_index, first);

    // Flags and binary values survive; keys needing escapes work.
    let opts = KvPutOptions {
        flags: Some(42),
        ..KvPutOptions::default()
    };
    assert!(c
        .kv_put("dbaas/odd key?#", vec![0u8, 255, 10], &opts)
        .await
        .unwrap());
    let pair = c.kv_get("dbaas/odd key?#", &NOW).await.unwrap().0.unwrap();
    assert_eq!((pair.key.as_str(), pair.flags), ("dbaas/odd key?#", 42));
    assert_eq!(pair.value, Some(vec![0u8, 255, 10]));
}

#[tokio::test]
async fn concurrent_cas_increments_lose_no_update() {
    let fake = fake_consul::start().await;
    let c = client(&fake);
    assert!(c.kv_put("counter", "0", &cas(0)).await.unwrap());
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                loop {
                    let pair = c.kv_get("counter", &NOW).await.unwrap().0.unwrap();
                    let n: u64 = String::from_utf8(pair.value.unwrap())
                        .unwrap()
                        .parse()
                        .unwrap();
                    let next = (n + 1).to_string();
                    if c.kv_put("counter", next, &cas(pair.modify_index))
                        .await
                        .unwrap()
                    {
                        break;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let pair = c.kv_get("counter", &NOW).await.unwrap().0.unwrap();
    assert_eq!(pair.value.as_deref(), Some(&b"30"[..]));
}

#[tokio::test]
async fn kv_list_keys_and_delete() {
    let fake = fake_consul::start().await;
    let c = client(&fake);
    for key in ["db/a", "db/b", "db/sub/c", "other"] {
        assert!(c.kv_put(key, key, &KvPutOptions::default()).await.unwrap());
    }
    let (pairs, _) = c.kv_list("db/", &NOW).await.unwrap();
    let keys: Vec<&str> = pairs.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["db/a", "db/b", "db/sub/c"]);
    let (keys, _) = c.kv_keys("db/", None, &NOW).await.unwrap();
    assert_eq!(keys, ["db/a", "db/b", "db/sub/c"]);
    assert!(c.kv_list("nothing/", &NOW).await.unwrap().0.is_empty());

    // delete with a stale cas does nothing; with the right one deletes.
    let a = c.kv_get("db/a", &NOW).await.unwrap().0.unwrap();
    let stale = KvDeleteOptions {
        cas: Some(a.modify_index + 100),
        recurse: false,
    };
    assert!(!c.kv_delete("db/a", &stale).await.unwrap());
    let right = KvDeleteOptions {
        cas: Some(a.modify_index),
        recurse: false,
    };
    assert!(c.kv_delete("db/a", &right).await.unwrap());
    assert_eq!(c.kv_get("db/a", &NOW).await.unwrap().0, None);

    let tree = KvDeleteOptions {
        cas: None,
        recurse: true,
    };
    assert!(c.kv_delete("db/", &tree).await.unwrap());
    assert!(c.kv_list("db/", &NOW).await.unwrap().0.is_empty());
    assert!(c.kv_get("other", &NOW).await.unwrap().0.is_some());
}

#[tokio::test]
async fn blocking_get_returns_at_once_if_moved_else_waits() {
    let fake = fake_consul::start().await;
    let c = client(&fake);
    assert!(c.kv_put("k", "v1", &KvPutOptions::default()).await.unwrap());
    let (_, meta) = c.kv_get("k", &NOW).await.unwrap();
    let index = meta.last_index;

    // The index already moved past the one asked for: no waiting.
    let started = Instant::now();
    let (_, moved) = c
        .kv_get(
            "k",
            &QueryOptions::blocking(index - 1, Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert_eq!(moved.last_index, index);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Nothing changes: waits about `wait`, returns with the same index.
    let started = Instant::now();
    let (pair, same) = c
        .kv_get(
            "k",
            &QueryOptions::blocking(index, Duration::from_millis(400)),
        )
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(350), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(same.last_index, index);
    assert_eq!(pair.unwrap().value.as_deref(), Some(&b"v1"[..]));

    // A write during the wait wakes it with the new value.
    let writer = c.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        writer
            .kv_put("k", "v2", &KvPutOptions::default())
            .await
            .unwrap();
    });
    let started = Instant::now();
    let (pair, woke) = c
        .kv_get("k", &QueryOptions::blocking(index, Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(woke.last_index > index);
    assert_eq!(pair.unwrap().value.as_deref(), Some(&b"v2"[..]));
}

#[tokio::test]
async fn watcher_reports_changes_and_resets_when_the_index_goes_backwards() {
    let fake = fake_consul::start().await;
    let c = client(&fake);
    let mut watch = c
        .watch_key("cfg", Duration::from_millis(300))
        .with_min_interval(Duration::from_millis(5));

    // First call: the current state at once (absent).
    assert_eq!(watch.next().await.unwrap(), None);

    let writer = c.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // An unrelated write bumps the index but must not be reported.
        writer
            .kv_put("unrelated", "x", &KvPutOptions::default())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer
            .kv_put("cfg", "one", &KvPutOptions::default())
            .await
            .unwrap();
    });
    let pair = watch.next().await.unwrap().unwrap();
    assert_eq!(pair.value.as_deref(), Some(&b"one"[..]));
    let high = watch.index();
    assert_eq!(high, pair.modify_index);

    // Imitate a snapshot restore: the data changes and the index drops.
    {
        let mut st = fake.state();
        let e = st.kv.get_mut("cfg").unwrap();
        e.value = b"restored".to_vec();
        e.modify_index = 2;
    }
    fake.shared.set_index(2);
    let pair = watch.next().await.unwrap().unwrap();
    assert_eq!(pair.value.as_deref(), Some(&b"restored"[..]));
    assert!(watch.index() < high, "index was reset: {}", watch.index());

    // Deletion is a change too.
    let deleter = c.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        deleter
            .kv_delete("cfg", &KvDeleteOptions::default())
            .await
            .unwrap();
    });
    assert_eq!(watch.next().await.unwrap(), None);
}

#[tokio::test]
async fn session_locks_are_exclusive() {
    let fake = fake_consul::start().await;
    let c = client(&fake);
    let request = SessionCreate {
        name: Some("dbaas-leader".into()),
        ttl: Some(Duration::from_secs(15)),
        lock_delay: Some(Duration::from_secs(1)),
        behavior: Some(SessionBehavior::Release),
        ..SessionCreate::default()
    };
    let s1 = c.session_create(&request).await.unwrap();
    let s2 = c.session_create(&request).await.unwrap();
    assert_ne!(s1, s2);

    let (info, _) = c.session_info(&s1, &NOW).await.unwrap();
    let info = info.unwrap();
    assert_eq!(info.ttl, Some(Duration::from_secs(15)));
    assert_eq!(info.lock_delay, Duration::from_secs(1));
    assert_eq!(info.name, "dbaas-leader");

    assert!(c.kv_put("leader", "agent-1", &acquire(&s1)).await.unwrap());
    // Re-acquiring with the holder updates without a new lock index.
    assert!(c.kv_put("leader", "agent-1b", &acquire(&s1)).await.unwrap());
    assert!(!c.kv_put("leader", "agent-2", &acquire(&s2)).await.unwrap());
    let pair = c.kv_get("leader", &NOW).await.unwrap().0.unwrap();
    assert_eq!(pair.session.as_deref(), Some(s1.as_str()));
    assert_eq!(pair.lock_index, 1);
    assert_eq!(pair.value.as_deref(), Some(&b"agent-1b"[..]));

    // Only the holder can release; then the other can take it.
    assert!(!c.kv_put("leader", "", &release(&s2)).await.unwrap());
    assert!(c.kv_put("leader", "", &release(&s1)).await.unwrap());
    assert!(c.kv_put("leader", "agent-2", &acquire(&s2)).await.unwrap());
    let pair = c.kv_get("leader", &NOW).await.unwrap().0.unwrap();
    assert_eq!(
        (pair.session.as_deref(), pair.lock_index),
        (Some(s2.as_str()), 2)
    );

    // Destroying the holder frees the lock; renew then says it is gone.
    assert!(c.session_renew(&s2).await.unwrap().is_some());
    assert!(c.session_destroy(&s2).await.unwrap());
    assert!(
        c.session_destroy(&s2).await.unwrap(),
        "destroy is idempotent"
    );
    assert_eq!(c.session_renew(&s2).await.unwrap(), None);
    assert_eq!(c.session_info(&s2, &NOW).await.unwrap().0, None);
    let pair = c.kv_get("leader", &NOW).await.unwrap().0.unwrap();
    assert_eq!(pair.session, None);
    assert!(c.kv_put("leader", "agent-1", &acquire(&s1)).await.unwrap());
}

#[tokio::test]
async fn txn_applies_or_rolls_back_with_typed_errors() {
    let fake = fake_consul::start().await;
    let c = client(&fake);
    let results = c
        .txn(&[
            TxnOp::Kv(TxnKvOp::cas("a", "1", 0)),
            TxnOp::Kv(TxnKvOp::set("b", "2")),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    let TxnResult::Kv(a) = &results[0] else {
        panic!("{results:?}")
    };
    assert_eq!(a.key, "a");
    assert!(a.modify_index > 0);

    let results = c.txn(&[TxnOp::Kv(TxnKvOp::get("b"))]).await.unwrap();
    let TxnResult::Kv(b) = results[0].clone() else {
        panic!("{results:?}")
    };
    assert_eq!(b.into_pair().unwrap().value.as_deref(), Some(&b"2"[..]));

    // Second op fails (stale cas): nothing is applied, the error says which.
    let err = c
        .txn(&[
            TxnOp::Kv(TxnKvOp::set("b", "changed")),
            TxnOp::Kv(TxnKvOp::cas("a", "x", a.modify_index + 50)),
        ])
        .await
        .unwrap_err();
    let ConsulError::TxnRolledBack(errors) = &err else {
        panic!("{err}")
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].op_index, 1);
    assert!(errors[0].what.contains("stale"), "{}", errors[0].what);
    assert_eq!(err.status(), Some(409));
    assert!(err.to_string().contains("operation #1"), "{err}");
    let b = c.kv_get("b", &NOW).await.unwrap().0.unwrap();
    assert_eq!(b.value.as_deref(), Some(&b"2"[..]), "rolled back");
}

#[tokio::test]
async fn token_and_namespace_are_sent() {
    let fake = fake_consul::start().await;
    fake.state().required_token = Some("s3cret".into());
    let c = client_with(&fake, |cfg| {
        cfg.token = Some("s3cret".into());
        cfg.namespace = Some("team-a".into());
    });
    assert!(c.kv_put("k", "v", &KvPutOptions::default()).await.unwrap());
    assert!(c.kv_get("k", &NOW).await.unwrap().0.is_some());
    {
        let st = fake.state();
        assert!(st
            .tokens_seen
            .iter()
            .all(|t| t.as_deref() == Some("s3cret")));
        assert!(st
            .namespaces_seen
            .iter()
            .all(|n| n.as_deref() == Some("team-a")));
    }

    // Without the token: a 403, not retried, with Consul's message and a hint.
    let anonymous = client(&fake);
    let before = fake.state().tokens_seen.len();
    let err = anonymous.kv_get("k", &NOW).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    let msg = err.to_string();
    assert!(
        msg.contains("ACL not found") && msg.contains("CONSUL_HTTP_TOKEN"),
        "{msg}"
    );
    assert_eq!(fake.state().tokens_seen.len(), before + 1);
}

#[tokio::test]
async fn query_options_become_documented_parameters() {
    let fake = fake_consul::start().await;
    let c = client_with(&fake, |cfg| cfg.datacenter = Some("dc2".into()));
    let stale = QueryOptions {
        consistency: Consistency::Stale,
        ..QueryOptions::blocking(1, Duration::from_millis(50))
    };
    c.kv_get("a/b", &stale).await.unwrap();
    let consistent = QueryOptions {
        consistency: Consistency::Consistent,
        ..QueryOptions::default()
    };
    c.kv_keys("a/", Some("/"), &consistent).await.unwrap();
    c.health_service("web", true, &NOW).await.unwrap();
    let seen = fake.state().requests_seen.clone();
    assert_eq!(
        seen,
        [
            "GET /v1/kv/a/b?dc=dc2&index=1&wait=50ms&stale",
            "GET /v1/kv/a/?dc=dc2&keys&separator=%2F&consistent",
            "GET /v1/health/service/web?dc=dc2&passing",
        ]
    );
}

#[tokio::test]
async fn a_500_is_retried_then_succeeds() {
    let fake = fake_consul::start().await;
    fake.state().health_failures = 1;
    let c = client(&fake);
    let (entries, _) = c.health_service("dbaas", true, &NOW).await.unwrap();
    assert_eq!(fake.state().health_calls, 2);
    // `passing` only: node-b's critical instance is filtered out.
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].node.node, "node-a");
    assert_eq!(
        entries[0].address(),
        "10.0.0.1",
        "falls back to the node's address"
    );
    assert_eq!(entries[0].service.port, 5432);
    assert!(entries[0].is_passing());

    let (all, _) = c.health_service("dbaas", false, &NOW).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(!all[1].is_passing());
}

#[tokio::test]
async fn retries_are_bounded() {
    let fake = fake_consul::start().await;
    fake.state().health_failures = 100;
    let c = client(&fake);
    let err = c.health_service("dbaas", true, &NOW).await.unwrap_err();
    assert_eq!(fake.state().health_calls, 4, "1 attempt + 3 retries");
    assert_eq!(err.status(), Some(500));
    assert!(err.is_transient());
    assert!(err.to_string().contains("No cluster leader"), "{err}");
}

#[tokio::test]
async fn a_400_is_not_retried_and_its_message_surfaces() {
    let fake = fake_consul::start().await;
    let c = client(&fake);
    let err = c.catalog_service("bad name", &NOW).await.unwrap_err();
    assert_eq!(fake.state().catalog_calls, 1);
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_transient());
    assert!(err.to_string().contains("invalid service name"), "{err}");

    let (nodes, _) = c.catalog_service("dbaas", &NOW).await.unwrap();
    assert_eq!(nodes[0].service_port, 8500);
    assert!(nodes[0].service_tags.is_empty());
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    install_provider();
    // A port that was free a moment ago: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = ConsulConfig::with_address(&format!("127.0.0.1:{port}")).unwrap();
    config.retry = fast_retry();
    let c = ConsulClient::new(config).unwrap();
    let err = c.kv_get("k", &NOW).await.unwrap_err();
    assert!(err.is_transient());
    let msg = err.to_string();
    assert!(
        msg.contains("after 4 attempt(s)") && msg.contains("CONSUL_HTTP_ADDR"),
        "{msg}"
    );
}

#[test]
fn unreadable_tls_files_are_a_clear_error() {
    install_provider();
    let config = ConsulConfig {
        ca_cert: Some("/nonexistent/ca.pem".into()),
        ..ConsulConfig::default()
    };
    let err = ConsulClient::new(config).unwrap_err().to_string();
    assert!(
        err.contains("CONSUL_CACERT") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("ca.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let config = ConsulConfig {
        client_cert: Some(garbage.clone()),
        client_key: Some(garbage),
        ..ConsulConfig::default()
    };
    let err = ConsulClient::new(config).unwrap_err().to_string();
    assert!(err.contains("CONSUL_CLIENT_CERT"), "{err}");

    let config = ConsulConfig {
        client_cert: Some("/x.pem".into()),
        ..ConsulConfig::default()
    };
    let err = ConsulClient::new(config).unwrap_err().to_string();
    assert!(err.contains("must be set together"), "{err}");
}
