//! Where dbaas keeps backups: a small object-store interface
//! ([`ObjectStore`]) and two implementations, a local directory
//! ([`LocalStore`], the `--dev` default) and OpenStack Swift through its
//! native API ([`SwiftStore`]). Base-backup segments and their manifests go
//! through it, so every object is checksummed end to end: the store records
//! the SHA-256 of what it was given, and [`ObjectStore::get`] refuses to hand
//! back bytes that do not match it.
//!
//! The interface is deliberately whole-object (a byte buffer in, a byte
//! buffer out): backup segments are sized by the caller to fit in memory, and
//! a whole buffer is what lets the store verify before returning anything.
//!
//! Object names are relative, `/`-separated paths of the characters
//! `A-Z a-z 0-9 . _ ~ - /` (see [`validate_name`]). The narrow alphabet is on
//! purpose: such names need no escaping in a URL, a Swift manifest or a file
//! name, so no layer can read them differently from another.

mod local;
mod s3;
mod swift;

use std::collections::BTreeMap;

use async_trait::async_trait;
use bytes::Bytes;

pub use local::LocalStore;
pub use s3::{S3Config, S3Store};
pub use swift::{KeystoneAuth, KeystoneRequest, Secret, SwiftAuth, SwiftConfig, SwiftStore};

/// User metadata of an object: lower-case keys of `[a-z0-9-]` (at most 64
/// bytes) to printable ASCII values (at most 256 bytes). The key `sha256` is
/// reserved for the store's own checksum.
pub type Metadata = BTreeMap<String, String>;

/// What a store knows about one stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's name, as given to [`ObjectStore::put`].
    pub name: String,
    /// Its length in bytes.
    pub size: u64,
    /// The store's content tag, lower-case hex: the MD5 of the content for a
    /// local or a small Swift object; for a Swift Static Large Object, the
    /// MD5 of its segments' MD5s (Swift's own rule). Equal etags within one
    /// store mean equal content; etags are not comparable across stores.
    pub etag: String,
    /// SHA-256 of the whole content, lower-case hex, as recorded at `put`.
    /// Always present from `put`, `head` and `get`; `None` in Swift
    /// listings, which do not carry object metadata.
    pub sha256: Option<String>,
    /// The user metadata given to `put` (empty in Swift listings).
    pub metadata: Metadata,
}

/// An object read back by [`ObjectStore::get`], already verified.
#[derive(Debug, Clone)]
pub struct Object {
    /// What the store knows about it.
    pub info: ObjectInfo,
    /// The content.
    pub data: Bytes,
}

/// The content of an object read by [`ObjectStore::get_stream`]: pieces
/// in order, verified only once the stream has ended without an error.
pub type ByteStream = futures_util::stream::BoxStream<'static, Result<Bytes, Error>>;

/// An object store. Every method is idempotent, so a saga step that is
/// re-run after a crash can simply call it again.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores `data` under `name`, replacing any object of that name, with
    /// `metadata`. The store computes the SHA-256 of `data` and records it;
    /// the transfer itself is verified too (Swift checks each PUT's MD5).
    /// Returns what was stored.
    async fn put(&self, name: &str, data: Bytes, metadata: &Metadata) -> Result<ObjectInfo, Error>;

    /// Reads a whole object and verifies it against the checksums recorded
    /// at `put`; a mismatch is [`Error::Corrupt`], never silently wrong
    /// bytes. An absent object is [`Error::NotFound`].
    async fn get(&self, name: &str) -> Result<Object, Error>;

    /// Reads an object as a stream of pieces, for a caller that uses the
    /// first ones while the rest is still arriving. The [`ObjectInfo`]
    /// (from the store's answer, before any content) lets the caller check
    /// the object's size and recorded checksum first. The content is
    /// checked as [`ObjectStore::get`] checks it, but that can only be
    /// known at its end: a mismatch, or content shorter or longer than the
    /// object's size, is the stream's last item ([`Error::Corrupt`]), and
    /// a stream that is not read to its end (`None`) has not been verified.
    /// Whatever the caller did with the pieces is unverified until then.
    ///
    /// The default reads the whole object with `get` and yields it as one
    /// piece.
    async fn get_stream(&self, name: &str) -> Result<(ObjectInfo, ByteStream), Error> {
        let obj = self.get(name).await?;
        let data = obj.data;
        Ok((
            obj.info,
            Box::pin(futures_util::stream::once(async move { Ok(data) })),
        ))
    }

    /// Describes an object without reading it; `None` if it is absent.
    async fn head(&self, name: &str) -> Result<Option<ObjectInfo>, Error>;

    /// Every object whose name starts with `prefix` (`""` for all), sorted
    /// by name. Pages through the store internally.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, Error>;

    /// Removes an object (and, for a Swift large object, its segments).
    /// Removing an absent object succeeds.
    async fn delete(&self, name: &str) -> Result<(), Error>;
}

/// What went wrong, said so that an operator can act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name (or prefix) is not one this crate accepts.
    #[error("invalid object name {name:?}: {reason}")]
    InvalidName {
        /// The refused name.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Metadata the store cannot carry faithfully.
    #[error("invalid metadata {key:?}: {reason}")]
    InvalidMetadata {
        /// The offending key.
        key: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The object does not exist.
    #[error("object {name:?} does not exist in {store}")]
    NotFound {
        /// The object's name.
        name: String,
        /// Which store was asked (container or directory).
        store: String,
    },
    /// Stored bytes do not match their recorded checksum: the copy in the
    /// store is damaged (or was replaced behind the store's back).
    #[error("object {name:?} is corrupt: {detail}; do not use this copy: restore from another backup or write the object again")]
    Corrupt {
        /// The object's name.
        name: String,
        /// Which part failed which check.
        detail: String,
    },
    /// The store's configuration cannot work.
    #[error("object store configuration: {0}")]
    Config(String),
    /// Authentication was refused or its answer was unusable.
    #[error("object store authentication at {url} failed: {detail}")]
    Auth {
        /// The authentication endpoint.
        url: String,
        /// What happened and what to check.
        detail: String,
    },
    /// The object store answered with an unexpected HTTP status.
    #[error("{op} failed: HTTP {status} from the object store{}: {body}; check the object store's health and the account's quota and permissions, then retry", trans_id.as_deref().map(|t| format!(" (transaction {t})")).unwrap_or_default())]
    Http {
        /// What was being done, e.g. `PUT container/object`.
        op: String,
        /// The status.
        status: u16,
        /// Swift's transaction id, to find the request in its logs.
        trans_id: Option<String>,
        /// The start of the response body.
        body: String,
    },
    /// The object store could not be reached or the exchange broke off.
    #[error("{op} failed: {source}; check that the object store is reachable, then retry")]
    Transport {
        /// What was being done.
        op: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// A local file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The longest accepted object name, in bytes. Swift allows 1024 including
/// the container; the local store encodes names into single file names.
pub const MAX_NAME_LEN: usize = 200;

/// Checks an object name: non-empty, at most [`MAX_NAME_LEN`] bytes, of
/// `A-Z a-z 0-9 . _ ~ - /`, relative (no leading `/`), no empty component
/// (`a//b`, trailing `/`), and no `.` or `..` component, so that no store
/// can be led outside of its directory or container.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.starts_with('/') {
        return bad("absolute names are refused: use a relative path such as base/0001");
    }
    validate_prefix(name)?;
    if name.split('/').any(|c| c.is_empty()) {
        return bad("it has an empty path component (a doubled or trailing '/')");
    }
    if name.split('/').any(|c| c == "." || c == "..") {
        return bad("'.' and '..' components are refused");
    }
    Ok(())
}

/// Checks a listing prefix: like a name's characters and length, may be
/// empty, and may end in a partial component.
pub fn validate_prefix(prefix: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: prefix.to_string(),
            reason,
        })
    };
    if prefix.len() > MAX_NAME_LEN {
        return bad("it is longer than 200 bytes");
    }
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._~-/".contains(&b))
    {
        return bad("only A-Z a-z 0-9 . _ ~ - / are allowed");
    }
    if prefix.starts_with('/') {
        return bad("absolute names are refused: use a relative path such as base/0001");
    }
    if prefix.split('/').any(|c| c == "..") {
        return bad("'.' and '..' components are refused");
    }
    Ok(())
}

/// The metadata key under which the store records the content's SHA-256.
pub(crate) const SHA256_KEY: &str = "sha256";

/// Checks user metadata against what both stores carry unchanged (Swift
/// turns metadata into HTTP headers, which are case-insensitive ASCII).
pub fn validate_metadata(metadata: &Metadata) -> Result<(), Error> {
    for (key, value) in metadata {
        let bad = |reason| {
            Err(Error::InvalidMetadata {
                key: key.clone(),
                reason,
            })
        };
        if key.is_empty() || key.len() > 64 {
            return bad("keys are 1 to 64 bytes");
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return bad("keys are of a-z 0-9 -");
        }
        if key == SHA256_KEY {
            return bad("the key sha256 is reserved for the store's checksum");
        }
        if value.len() > 256 || !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return bad("values are at most 256 bytes of printable ASCII");
        }
        if value.starts_with(' ') || value.ends_with(' ') {
            // HTTP drops surrounding blanks, so Swift would not give them back.
            return bad("values may not start or end with a space");
        }
    }
    Ok(())
}

/// Lower-case hex of some bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// MD5 of a buffer, lower-case hex.
pub(crate) fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(data))
}

/// SHA-256 of a buffer, lower-case hex.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(data))
}

/// Runs a hash of a large buffer off the async worker threads: hashing a
/// 100 MiB segment takes long enough to stall every other task on a
/// 2-core machine.
pub(crate) async fn hash_off_thread(data: Bytes, f: fn(&[u8]) -> String) -> String {
    if data.len() < 1 << 20 {
        return f(&data);
    }
    match tokio::task::spawn_blocking(move || f(&data)).await {
        Ok(h) => h,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "base/0001", "x.tar.zst", "a-b_c~d/e.f"] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/..",
            "a//b",
            "a/",
            ".",
            "a b",
            "a\\b",
            "é",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        validate_prefix("").unwrap();
        validate_prefix("base/00").unwrap();
        assert!(validate_prefix("../").is_err());
        assert!(validate_name(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn metadata() {
        let m = |k: &str, v: &str| Metadata::from([(k.to_string(), v.to_string())]);
        validate_metadata(&m("lsn", "0/16B3748")).unwrap();
        assert!(validate_metadata(&m("Lsn", "x")).is_err());
        assert!(validate_metadata(&m("sha256", "x")).is_err());
        assert!(validate_metadata(&m("a", "line\nbreak")).is_err());
        assert!(validate_metadata(&m("a", " padded")).is_err());
    }

    #[test]
    fn digests() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
