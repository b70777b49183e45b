//! LocalStore: the round trip, the refusals, and corruption detection.

use bytes::Bytes;
use dbaas_objstore::{Error, LocalStore, Metadata, ObjectStore};

fn meta(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path().join("objects")).unwrap();
    let data = Bytes::from((0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let m = meta(&[("lsn", "0/16B3748"), ("kind", "segment")]);

    let put = store.put("base/0001.tar", data.clone(), &m).await.unwrap();
    assert_eq!(put.size, data.len() as u64);
    assert_eq!(put.sha256.as_deref().unwrap().len(), 64);

    let got = store.get("base/0001.tar").await.unwrap();
    assert_eq!(got.data, data);
    assert_eq!(got.info, put);

    let head = store.head("base/0001.tar").await.unwrap().unwrap();
    assert_eq!(head, put);
    assert!(store.head("base/0002.tar").await.unwrap().is_none());

    // An object and a "directory" of the same name coexist, as in Swift.
    store
        .put("base", Bytes::from_static(b"x"), &Metadata::new())
        .await
        .unwrap();
    store
        .put("basement", Bytes::new(), &Metadata::new())
        .await
        .unwrap();
    store
        .put("other/1", Bytes::from_static(b"y"), &Metadata::new())
        .await
        .unwrap();

    let names =
        |v: Vec<dbaas_objstore::ObjectInfo>| v.into_iter().map(|i| i.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list("").await.unwrap()),
        ["base", "base/0001.tar", "basement", "other/1"]
    );
    assert_eq!(names(store.list("base/").await.unwrap()), ["base/0001.tar"]);
    let listed = store.list("base/").await.unwrap();
    assert_eq!(listed[0].etag, put.etag);
    assert_eq!(listed[0].size, put.size);
    assert_eq!(
        names(store.list("base").await.unwrap()),
        ["base", "base/0001.tar", "basement"]
    );

    // Replacing is atomic and leaves no temporary files behind.
    store
        .put("base/0001.tar", Bytes::from_static(b"v2"), &Metadata::new())
        .await
        .unwrap();
    assert_eq!(&store.get("base/0001.tar").await.unwrap().data[..], b"v2");

    store.delete("base/0001.tar").await.unwrap();
    store.delete("base/0001.tar").await.unwrap(); // absent: still fine
    assert!(matches!(
        store.get("base/0001.tar").await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        names(store.list("").await.unwrap()),
        ["base", "basement", "other/1"]
    );
    for e in walkdir(store.root()) {
        assert!(!e.ends_with(".tmp"), "temporary file left: {e}");
    }
    // The emptied directory of base/ is gone.
    assert!(!store.root().join("base.d").exists());
}

fn walkdir(p: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        out.push(e.file_name().to_string_lossy().into_owned());
        if e.file_type().unwrap().is_dir() {
            out.extend(walkdir(&e.path()));
        }
    }
    out
}

#[tokio::test]
async fn refuses_escaping_names_and_bad_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path()).unwrap();
    for name in [
        "../escape",
        "a/../../escape",
        "/etc/passwd",
        "",
        "a//b",
        "a/",
        "a/./b",
    ] {
        let err = store
            .put(name, Bytes::from_static(b"x"), &Metadata::new())
            .await;
        assert!(
            matches!(err, Err(Error::InvalidName { .. })),
            "{name:?}: {err:?}"
        );
        assert!(matches!(
            store.get(name).await,
            Err(Error::InvalidName { .. })
        ));
        assert!(matches!(
            store.delete(name).await,
            Err(Error::InvalidName { .. })
        ));
    }
    assert!(matches!(
        store.list("../").await,
        Err(Error::InvalidName { .. })
    ));
    let err = store
        .put("a", Bytes::new(), &meta(&[("sha256", "forged")]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidMetadata { .. }), "{err}");
    assert!(!dir.path().parent().unwrap().join("escape").exists());
    assert!(store.list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn detects_a_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path()).unwrap();
    store
        .put("a/b", Bytes::from_static(b"hello world"), &Metadata::new())
        .await
        .unwrap();
    let file = dir.path().join("a.d").join("b.obj");
    let mut raw = std::fs::read(&file).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    std::fs::write(&file, raw).unwrap();
    let err = store.get("a/b").await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("SHA-256"), "{err}");
}
