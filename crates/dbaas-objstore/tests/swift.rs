//! SwiftStore against a real Swift on 127.0.0.1.
//!
//! The first test to need it starts an all-in-one Swift with
//! `scripts/swift start --dir <tmp> --until-pid <this process>`, once for
//! the whole binary; the script's watcher stops it and removes its state
//! when this process exits. A caller that already runs a Swift can set
//! DBAAS_TEST_SWIFT_AUTH_URL, DBAAS_TEST_SWIFT_USER and
//! DBAAS_TEST_SWIFT_KEY (tempauth) and DBAAS_TEST_SWIFT_MEMCACHED (the
//! proxy's memcached, `127.0.0.1:PORT`, flushed to expire tokens) instead. If Swift cannot be started the
//! tests fail, saying why: they are never skipped.

mod common;

use std::sync::OnceLock;

use bytes::Bytes;
use dbaas_objstore::{Error, Metadata, ObjectStore, Secret, SwiftAuth, SwiftConfig, SwiftStore};

struct Swift {
    auth_url: String,
    user: String,
    key: String,
    /// The memcached holding tempauth's tokens.
    memcached: String,
}

fn swift() -> &'static Swift {
    static SWIFT: OnceLock<Result<Swift, String>> = OnceLock::new();
    match SWIFT.get_or_init(start_swift) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn start_swift() -> Result<Swift, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(auth_url) = env("DBAAS_TEST_SWIFT_AUTH_URL") {
        let (Some(user), Some(key), Some(memcached)) = (
            env("DBAAS_TEST_SWIFT_USER"),
            env("DBAAS_TEST_SWIFT_KEY"),
            env("DBAAS_TEST_SWIFT_MEMCACHED"),
        ) else {
            return Err("DBAAS_TEST_SWIFT_AUTH_URL is set but DBAAS_TEST_SWIFT_USER, DBAAS_TEST_SWIFT_KEY or DBAAS_TEST_SWIFT_MEMCACHED is not".into());
        };
        if !auth_url.starts_with("http://127.0.0.1:") {
            return Err(format!(
                "DBAAS_TEST_SWIFT_AUTH_URL={auth_url}: these tests only talk to 127.0.0.1"
            ));
        }
        if !memcached.starts_with("127.0.0.1:") {
            return Err(format!(
                "DBAAS_TEST_SWIFT_MEMCACHED={memcached}: these tests only talk to 127.0.0.1"
            ));
        }
        return Ok(Swift {
            auth_url,
            user,
            key,
            memcached,
        });
    }
    let vars = common::start_swift("dbaas-objstore-swift", &[])?;
    let get = |k: &str| common::printed(&vars, k);
    Ok(Swift {
        auth_url: get("SWIFT_AUTH_URL")?,
        user: get("SWIFT_USER")?,
        key: get("SWIFT_KEY")?,
        memcached: get("SWIFT_MEMCACHED")?,
    })
}

/// A store in a container of its own, so that tests run side by side.
fn store(test: &str, segment_size: u64, parallelism: usize, page: usize) -> SwiftStore {
    let s = swift();
    let mut cfg = SwiftConfig::new(
        SwiftAuth::TempAuth {
            auth_url: s.auth_url.clone(),
            user: s.user.clone(),
            key: Secret::new(s.key.clone()),
        },
        format!("{test}-{}", std::process::id()),
    );
    cfg.segment_size = segment_size;
    cfg.parallelism = parallelism;
    cfg.list_page_size = page;
    SwiftStore::new(cfg).unwrap()
}

/// A store reading the segment container directly, to look behind the
/// object store's back.
fn segments_view(store: &SwiftStore) -> SwiftStore {
    let s = swift();
    let mut cfg = SwiftConfig::new(
        SwiftAuth::TempAuth {
            auth_url: s.auth_url.clone(),
            user: s.user.clone(),
            key: Secret::new(s.key.clone()),
        },
        store.segment_container(),
    );
    cfg.segment_container = Some(format!("{}-unused", store.segment_container()));
    SwiftStore::new(cfg).unwrap()
}

/// Raw tempauth, for looking behind the store's back.
async fn raw_session(http: &reqwest::Client) -> (String, String) {
    let s = swift();
    let resp = http
        .get(&s.auth_url)
        .header("X-Auth-User", &s.user)
        .header("X-Auth-Key", &s.key)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "raw auth: {}", resp.status());
    let h = |k: &str| resp.headers()[k].to_str().unwrap().to_string();
    (h("x-storage-url"), h("x-auth-token"))
}

/// PUTs straight through Swift's API (`path` under the account), with a
/// fresh token (another test may expire them all at any time).
async fn raw_put(path: &str, body: Bytes, sha256: Option<&str>) {
    let http = reqwest::Client::new();
    let mut status = 0;
    for _ in 0..2 {
        let (url, token) = raw_session(&http).await;
        let mut req = http
            .put(format!("{url}/{path}"))
            .header("X-Auth-Token", &token)
            .body(body.clone());
        if let Some(sha) = sha256 {
            req = req.header("X-Object-Meta-Sha256", sha);
        }
        status = req.send().await.unwrap().status().as_u16();
        if status != 401 {
            break;
        }
    }
    assert_eq!(status, 201, "raw PUT {path}");
}

fn pattern(len: usize, seed: u8) -> Bytes {
    let mut x = seed as u32 | 1;
    Bytes::from(
        (0..len)
            .map(|_| {
                // xorshift: cheap bytes that differ between segments.
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect::<Vec<_>>(),
    )
}

const SEG: u64 = 64 << 10;
const BIG: usize = (1 << 20) + 1000; // 17 segments of 64 KiB, the last short

#[tokio::test]
async fn small_object_round_trip() {
    let store = store("small", SEG, 4, 1000);
    let m: Metadata = [("lsn".to_string(), "0/16B3748".to_string())].into();
    let data = Bytes::from_static(b"a small manifest");

    let put = store
        .put("base/manifest.json", data.clone(), &m)
        .await
        .unwrap();
    assert_eq!(put.size, data.len() as u64);
    // md5sum of the text: a small object's etag is its MD5.
    assert_eq!(put.etag, "90b502ea26a7740b831e1f3fe522b1be");

    let got = store.get("base/manifest.json").await.unwrap();
    assert_eq!(got.data, data);
    assert_eq!(got.info, put);

    let head = store.head("base/manifest.json").await.unwrap().unwrap();
    assert_eq!(head, put);
    assert!(store.head("base/absent").await.unwrap().is_none());
    assert!(matches!(
        store.get("base/absent").await,
        Err(Error::NotFound { .. })
    ));

    store
        .put("empty", Bytes::new(), &Metadata::new())
        .await
        .unwrap();
    assert!(store.get("empty").await.unwrap().data.is_empty());

    let listed = store.list("").await.unwrap();
    let names: Vec<_> = listed.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["base/manifest.json", "empty"]);
    assert_eq!((listed[0].size, &listed[0].etag), (put.size, &put.etag));

    store.delete("base/manifest.json").await.unwrap();
    store.delete("base/manifest.json").await.unwrap();
    assert!(store.head("base/manifest.json").await.unwrap().is_none());
    assert!(matches!(
        store.put("../x", data, &Metadata::new()).await,
        Err(Error::InvalidName { .. })
    ));
}

#[tokio::test]
async fn large_object_in_parallel_segments_restores_identical() {
    let store = store("large", SEG, 4, 1000);
    let data = pattern(BIG, 7);
    let put = store
        .put("base/0001.tar", data.clone(), &Metadata::new())
        .await
        .unwrap();

    let segments = segments_view(&store).list("").await.unwrap();
    assert_eq!(segments.len(), 17, "{segments:?}");
    assert!(segments
        .iter()
        .all(|s| s.name.starts_with("base/0001.tar/")));
    assert!(segments.iter().all(|s| s.size == SEG || s.size == 1000));

    let head = store.head("base/0001.tar").await.unwrap().unwrap();
    assert_eq!(head.size, BIG as u64);
    assert_eq!(head.etag, put.etag, "Swift's SLO etag");
    assert_eq!(head.sha256, put.sha256);

    let got = store.get("base/0001.tar").await.unwrap();
    assert!(got.data == data, "restored bytes differ");
    assert_eq!(got.info, put);

    let listed = store.list("base/").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].size, &listed[0].etag), (BIG as u64, &put.etag));

    // Replacing it with other content leaves only the new segments
    // (15: 14 of 64 KiB and a short one).
    let data2 = pattern(BIG - 70_000, 9);
    store
        .put("base/0001.tar", data2.clone(), &Metadata::new())
        .await
        .unwrap();
    assert!(store.get("base/0001.tar").await.unwrap().data == data2);
    assert_eq!(segments_view(&store).list("").await.unwrap().len(), 15);
}

#[tokio::test]
async fn corrupted_segment_is_named() {
    let store = store("corrupt", SEG, 4, 1000);
    let data = pattern(BIG, 3);
    store
        .put("base/0002.tar", data, &Metadata::new())
        .await
        .unwrap();

    let segments = segments_view(&store).list("").await.unwrap();
    let victim = &segments[2].name;
    assert!(victim.ends_with("/00000003"), "{victim}");

    // Same size, other bytes, written straight through the API.
    let path = format!("{}/{victim}", store.segment_container());
    raw_put(&path, pattern(SEG as usize, 99), None).await;

    let err = store.get("base/0002.tar").await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    eprintln!("detected: {msg}");
    assert!(
        msg.contains("base/0002.tar") && msg.contains(victim.as_str()),
        "{msg}"
    );

    // A small object replaced behind the store's back, keeping the
    // recorded SHA-256 (Swift's ETag then matches the new bytes): caught.
    let put = store
        .put("small", Bytes::from_static(b"original"), &Metadata::new())
        .await
        .unwrap();
    let path = format!("{}/small", store.container());
    raw_put(
        &path,
        Bytes::from_static(b"tampered"),
        put.sha256.as_deref(),
    )
    .await;
    let err = store.get("small").await.unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { .. }) && err.to_string().contains("SHA-256"),
        "{err}"
    );
}

#[tokio::test]
async fn listing_pages_through_many_objects() {
    let store = store("paging", SEG, 4, 3);
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
    store
        .put("wam", Bytes::from_static(b"x"), &Metadata::new())
        .await
        .unwrap();

    let wal = store.list("wal/").await.unwrap();
    let names: Vec<_> = wal.iter().map(|i| i.name.clone()).collect();
    let want: Vec<_> = (0..10).map(|i| format!("wal/{i:02}")).collect();
    assert_eq!(names, want);
    assert!(wal.iter().enumerate().all(|(i, o)| o.size == i as u64 + 1));
    assert_eq!(store.list("").await.unwrap().len(), 11);
    assert_eq!(store.list("wa").await.unwrap().len(), 11);
    assert!(store.list("zzz").await.unwrap().is_empty());
}

#[tokio::test]
async fn deleting_a_large_object_removes_its_segments() {
    let store = store("slodelete", SEG, 4, 1000);
    store
        .put("base/0003.tar", pattern(BIG, 5), &Metadata::new())
        .await
        .unwrap();
    store
        .put("keep", Bytes::from_static(b"k"), &Metadata::new())
        .await
        .unwrap();
    assert_eq!(segments_view(&store).list("").await.unwrap().len(), 17);

    store.delete("base/0003.tar").await.unwrap();
    assert!(store.head("base/0003.tar").await.unwrap().is_none());
    assert!(segments_view(&store).list("").await.unwrap().is_empty());
    store.delete("base/0003.tar").await.unwrap();
    assert_eq!(store.list("").await.unwrap().len(), 1);
}

#[tokio::test]
async fn wrong_key_is_an_authentication_error() {
    let s = swift();
    let store = SwiftStore::new(SwiftConfig::new(
        SwiftAuth::TempAuth {
            auth_url: s.auth_url.clone(),
            user: s.user.clone(),
            key: Secret::new("wrong"),
        },
        "never",
    ))
    .unwrap();
    let err = store.head("x").await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(err.to_string().contains("check the user"), "{err}");
}

#[tokio::test]
async fn an_expired_token_is_renewed() {
    let store = store("reauth", SEG, 4, 1000);
    store
        .put("a", Bytes::from_static(b"1"), &Metadata::new())
        .await
        .unwrap();

    // tempauth keeps its tokens only in memcached: flushing it expires
    // every token, the store's included.
    let http = reqwest::Client::new();
    let (url, old_token) = raw_session(&http).await;
    flush_memcached(&swift().memcached);
    let status = http
        .head(format!("{url}/{}", store.container()))
        .header("X-Auth-Token", &old_token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401, "the flush did not expire tokens");

    store
        .put("b", Bytes::from_static(b"2"), &Metadata::new())
        .await
        .unwrap();
    assert_eq!(&store.get("a").await.unwrap().data[..], b"1");
    assert_eq!(store.list("").await.unwrap().len(), 2);
}

fn flush_memcached(addr: &str) {
    use std::io::{Read, Write};
    let mut conn =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("memcached at {addr}: {e}"));
    conn.write_all(b"flush_all\r\n").unwrap();
    let mut answer = [0u8; 4];
    conn.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"OK\r\n");
}

/// Reads a stream to its end: the pieces joined, and the last item's error.
async fn drain(mut s: dbaas_objstore::ByteStream) -> (Vec<u8>, Option<Error>) {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        match piece {
            Ok(b) => out.extend_from_slice(&b),
            Err(e) => {
                assert!(s.next().await.is_none(), "an error is the last item");
                return (out, Some(e));
            }
        }
    }
    (out, None)
}

#[tokio::test]
async fn streamed_reads_are_verified_at_their_end() {
    let store = store("stream", SEG, 4, 1000);
    // A plain object (below the segment size) streams in pieces.
    let data = pattern(SEG as usize - 10, 5);
    let put = store
        .put("plain", data.clone(), &Metadata::new())
        .await
        .unwrap();
    let (info, s) = store.get_stream("plain").await.unwrap();
    assert_eq!(info, put);
    let (got, e) = drain(s).await;
    assert!(e.is_none(), "{e:?}");
    assert!(got == data, "streamed bytes differ");

    // A large object: read whole, checked the same way.
    let big = pattern(BIG, 6);
    let put = store
        .put("large", big.clone(), &Metadata::new())
        .await
        .unwrap();
    let (info, s) = store.get_stream("large").await.unwrap();
    assert_eq!((info.size, &info.sha256), (put.size, &put.sha256));
    let (got, e) = drain(s).await;
    assert!(e.is_none(), "{e:?}");
    assert!(got == big, "streamed bytes differ");

    assert!(matches!(
        store.get_stream("absent").await,
        Err(Error::NotFound { .. })
    ));

    // Replaced behind the store's back, the recorded SHA-256 kept: the
    // bytes arrive, and the stream ends with the mismatch.
    let path = format!("{}/plain", store.container());
    raw_put(
        &path,
        pattern(SEG as usize - 10, 8),
        put_sha(&store, "plain").await.as_deref(),
    )
    .await;
    let (_, s) = store.get_stream("plain").await.unwrap();
    let (got, e) = drain(s).await;
    assert_eq!(got.len(), SEG as usize - 10);
    let e = e.expect("the mismatch is reported");
    assert!(
        matches!(e, Error::Corrupt { .. }) && e.to_string().contains("SHA-256"),
        "{e}"
    );
}

async fn put_sha(store: &SwiftStore, name: &str) -> Option<String> {
    store.head(name).await.unwrap().unwrap().sha256
}
