//! S3Store against the s3api of a real Swift on 127.0.0.1.
//!
//! The first test to need it starts an all-in-one Swift with
//! `scripts/swift start --dir <tmp> --until-pid <this process>`, once for
//! the whole binary (as tests/swift.rs does, with a Swift of its own); the
//! script's watcher stops it and removes its state when this process exits.
//! If Swift cannot be started the tests fail, saying why: they are never
//! skipped.

mod common;

use std::sync::OnceLock;

use bytes::Bytes;
use dbaas_objstore::{Error, Metadata, ObjectStore, S3Config, S3Store, Secret};

struct Swift {
    auth_url: String,
    user: String,
    key: String,
    s3_endpoint: String,
    s3_access_key: String,
    s3_secret_key: String,
}

fn swift() -> &'static Swift {
    static SWIFT: OnceLock<Result<Swift, String>> = OnceLock::new();
    match SWIFT.get_or_init(start_swift) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn start_swift() -> Result<Swift, String> {
    let vars = common::start_swift("dbaas-objstore-s3", &[])?;
    let get = |k: &str| common::printed(&vars, k);
    Ok(Swift {
        auth_url: get("SWIFT_AUTH_URL")?,
        user: get("SWIFT_USER")?,
        key: get("SWIFT_KEY")?,
        s3_endpoint: get("SWIFT_S3_ENDPOINT")?,
        s3_access_key: get("SWIFT_S3_ACCESS_KEY")?,
        s3_secret_key: get("SWIFT_S3_SECRET_KEY")?,
    })
}

fn config(test: &str) -> S3Config {
    let s = swift();
    let mut cfg = S3Config::new(
        s.s3_endpoint.clone(),
        format!("{test}-{}", std::process::id()),
        s.s3_access_key.clone(),
        Secret::new(s.s3_secret_key.clone()),
    );
    cfg.create_bucket = true;
    cfg
}

/// A store in a bucket of its own, so that tests run side by side.
fn store(test: &str) -> S3Store {
    S3Store::new(config(test)).unwrap()
}

/// PUTs straight through Swift's native API (`container/object`), with a
/// fresh tempauth token.
async fn raw_swift_put(path: &str, body: Bytes, sha256: &str) {
    let s = swift();
    let http = reqwest::Client::new();
    let resp = http
        .get(&s.auth_url)
        .header("X-Auth-User", &s.user)
        .header("X-Auth-Key", &s.key)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "raw auth: {}", resp.status());
    let h = |k: &str| resp.headers()[k].to_str().unwrap().to_string();
    let (url, token) = (h("x-storage-url"), h("x-auth-token"));
    let status = http
        .put(format!("{url}/{path}"))
        .header("X-Auth-Token", &token)
        .header("X-Object-Meta-Sha256", sha256)
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 201, "raw PUT {path}");
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn pattern(len: usize, seed: u8) -> Bytes {
    let mut x = seed as u32 | 1;
    Bytes::from(
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn round_trip_head_and_metadata() {
    let store = store("roundtrip");
    let m: Metadata = [
        ("lsn".to_string(), "0/16B3748".to_string()),
        ("timeline".to_string(), "1".to_string()),
    ]
    .into();
    let data = Bytes::from_static(b"a small manifest");

    let put = store
        .put("base/manifest.json", data.clone(), &m)
        .await
        .unwrap();
    assert_eq!(put.size, data.len() as u64);
    // md5sum of the text: a single-part object's etag is its MD5.
    assert_eq!(put.etag, "90b502ea26a7740b831e1f3fe522b1be");
    assert_eq!(put.sha256.as_deref(), Some(sha256(&data).as_str()));

    let got = store.get("base/manifest.json").await.unwrap();
    assert_eq!(got.data, data);
    assert_eq!(got.info, put);
    assert_eq!(got.info.metadata, m);

    let head = store.head("base/manifest.json").await.unwrap().unwrap();
    assert_eq!(head, put);
    assert!(store.head("base/absent").await.unwrap().is_none());
    let err = store.get("base/absent").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    // Replacing keeps only the new metadata.
    let empty = Bytes::new();
    let put2 = store
        .put("base/manifest.json", empty.clone(), &Metadata::new())
        .await
        .unwrap();
    let got = store.get("base/manifest.json").await.unwrap();
    assert_eq!(got.data, empty);
    assert_eq!(got.info, put2);
    assert!(got.info.metadata.is_empty());
}

#[tokio::test]
async fn names_and_metadata_are_validated() {
    let store = store("validate");
    for bad in ["", "/abs", "a/../b", "a//b", "a b"] {
        let err = store
            .put(bad, Bytes::from_static(b"x"), &Metadata::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{bad:?}: {err}");
        assert!(matches!(
            store.get(bad).await.unwrap_err(),
            Error::InvalidName { .. }
        ));
        assert!(matches!(
            store.delete(bad).await.unwrap_err(),
            Error::InvalidName { .. }
        ));
    }
    assert!(matches!(
        store.list("../").await.unwrap_err(),
        Error::InvalidName { .. }
    ));
    let m: Metadata = [("sha256".to_string(), "x".to_string())].into();
    assert!(matches!(
        store.put("a", Bytes::new(), &m).await.unwrap_err(),
        Error::InvalidMetadata { .. }
    ));
    let mut cfg = config("validate");
    cfg.bucket = "Bad_Bucket".into();
    assert!(matches!(S3Store::new(cfg).unwrap_err(), Error::Config(_)));
}

#[tokio::test]
async fn listing_pages_through_many_objects_and_prefixes() {
    let mut cfg = config("paging");
    cfg.list_page_size = 3;
    let store = S3Store::new(cfg).unwrap();
    for i in 0..10 {
        store
            .put(
                &format!("wal/{i:02}"),
                Bytes::from(vec![i as u8; i + 1]),
                &Metadata::new(),
            )
            .await
            .unwrap();
    }
    for name in ["wam", "base/1/a", "base/1/b", "base/2/a"] {
        store
            .put(name, Bytes::from_static(b"x"), &Metadata::new())
            .await
            .unwrap();
    }

    let wal = store.list("wal/").await.unwrap();
    let names: Vec<_> = wal.iter().map(|i| i.name.clone()).collect();
    let want: Vec<_> = (0..10).map(|i| format!("wal/{i:02}")).collect();
    assert_eq!(names, want);
    assert!(wal.iter().enumerate().all(|(i, o)| o.size == i as u64 + 1));
    assert!(wal.iter().all(|o| o.sha256.is_none() && o.etag.len() == 32));
    assert_eq!(store.list("").await.unwrap().len(), 14);
    assert_eq!(store.list("wa").await.unwrap().len(), 11);
    let base: Vec<_> = store
        .list("base/1/")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(base, ["base/1/a", "base/1/b"]);
    assert_eq!(store.list("base/").await.unwrap().len(), 3);
    assert!(store.list("zzz").await.unwrap().is_empty());
}

#[tokio::test]
async fn delete_twice() {
    let store = store("delete");
    store
        .put("a/b", Bytes::from_static(b"1"), &Metadata::new())
        .await
        .unwrap();
    store.delete("a/b").await.unwrap();
    assert!(store.head("a/b").await.unwrap().is_none());
    store.delete("a/b").await.unwrap();
    store.delete("never/was").await.unwrap();
    assert!(store.list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_replaced_object_is_detected_as_corrupt() {
    let store = store("corrupt");
    let put = store
        .put(
            "base/0002.tar",
            Bytes::from_static(b"original"),
            &Metadata::new(),
        )
        .await
        .unwrap();
    // Different bytes, same length, the old recorded SHA-256: only the
    // checksum can tell.
    raw_swift_put(
        &format!("{}/base/0002.tar", store.bucket()),
        Bytes::from_static(b"tampered"),
        put.sha256.as_deref().unwrap(),
    )
    .await;
    let head = store.head("base/0002.tar").await.unwrap().unwrap();
    assert_eq!(head.sha256, put.sha256, "the tampering kept the metadata");
    let err = store.get("base/0002.tar").await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    eprintln!("detected: {msg}");
    assert!(
        msg.contains("base/0002.tar") && msg.contains("SHA-256"),
        "{msg}"
    );
}

#[tokio::test]
async fn large_object_goes_multipart() {
    let mut cfg = config("multipart");
    cfg.part_size = 5 << 20;
    let store = S3Store::new(cfg).unwrap();
    let data = pattern((11 << 20) + 1000, 7); // 3 parts, the last short
    let m: Metadata = [("lsn".to_string(), "0/3000000".to_string())].into();
    let put = store.put("base/big.tar", data.clone(), &m).await.unwrap();
    assert_eq!(put.size, data.len() as u64);
    assert!(put.etag.ends_with("-3"), "multipart etag: {}", put.etag);
    let got = store.get("base/big.tar").await.unwrap();
    assert_eq!(got.data, data);
    assert_eq!(got.info.metadata, m);
    assert_eq!(got.info.sha256, put.sha256);
    let listed = store.list("").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, data.len() as u64);
    store.delete("base/big.tar").await.unwrap();
    assert!(store.head("base/big.tar").await.unwrap().is_none());
}

#[tokio::test]
async fn wrong_secret_is_refused() {
    let mut cfg = config("wrongkey");
    cfg.secret_key = Secret::new("wrong");
    cfg.create_bucket = false;
    let store = S3Store::new(cfg).unwrap();
    let err = store.head("x").await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 403, .. }), "{err}");
}
