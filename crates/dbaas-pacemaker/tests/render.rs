//! The rendered fragment, byte for byte (golden file), and the refusal of
//! every value that could break XML or crm syntax before anything is
//! rendered.
//!
//! Regenerate the golden file after a deliberate change with
//! `DBAAS_UPDATE_GOLDEN=1 cargo test -p dbaas-pacemaker --test render`, and
//! review the diff: it is what operators will see in their CIB.

mod common;

use std::path::PathBuf;

use dbaas_pacemaker::{
    AbsolutePath, CloudName, Credentials, DatabaseName, Error, FloatingIpId, FsType, NodeName,
    PairName, ServerId, SubnetId, VolumeId,
};

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `rendered` with the golden file, or rewrites the file when
/// DBAAS_UPDATE_GOLDEN=1.
fn check_golden(name: &str, rendered: &str) {
    let path = golden(name);
    if std::env::var("DBAAS_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with DBAAS_UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == rendered,
        "the fragment differs from {} (run with DBAAS_UPDATE_GOLDEN=1 to accept the change and review the diff)\n--- rendered ---\n{rendered}",
        path.display()
    );
}

#[test]
fn fragment_matches_golden_file() {
    check_golden("orders-db.xml", &common::sample().render().unwrap());
}

#[test]
fn fragment_with_openrc_credentials_matches_golden_file() {
    let mut group = common::sample();
    group.credentials = Credentials::Openrc(AbsolutePath::parse("/etc/dbaas/openrc.sh").unwrap());
    check_golden("orders-db-openrc.xml", &group.render().unwrap());
}

#[test]
fn rendering_is_deterministic() {
    // ids and attribute order must not depend on anything but the values,
    // or re-applying the fragment would not be a no-op.
    assert_eq!(
        common::sample().render().unwrap(),
        common::sample().render().unwrap()
    );
}

#[test]
fn member_ids_are_in_start_order() {
    let group = common::sample();
    assert_eq!(group.group_id(), "g-orders-db");
    assert_eq!(
        group.member_ids(),
        [
            "orders-db-volume",
            "orders-db-fs-data",
            "orders-db-fs-wal",
            "orders-db-floating-ip",
            "orders-db-docker",
            "orders-db-nomad",
        ]
    );
}

/// Every value here would break XML, crm shell syntax or an agent's
/// environment if it reached the CIB.
const HOSTILE: &[&str] = &[
    "",
    "a b",
    "a\"b",
    "a'b",
    "a<b",
    "a>b",
    "a&b",
    "a\nb",
    "a\tb",
    "a\0b",
    "a;b",
    "a$b",
    "a`b",
    "a=b",
    "é",
    "a\u{202e}b",
    // Line and word breaks that are not ASCII whitespace, and look-alikes.
    "a\rb",
    "a\u{85}b",
    "a\u{a0}b",
    "a\u{200b}b",
    "\u{ff41}",
    "a\u{7f}b",
    // crm shell: comments, escapes, lists, groups; XPath predicates.
    "a#b",
    "a\\b",
    "a|b",
    "a,b",
    "a(b)",
    "a{b}",
    "a[b]",
    "a*b",
    "a%b",
];

fn assert_invalid<T: std::fmt::Debug>(kind: &str, value: &str, result: Result<T, Error>) {
    match result {
        Err(Error::Invalid {
            kind: k, value: v, ..
        }) => {
            assert_eq!(k, kind, "for {value:?}");
            assert_eq!(v, value);
        }
        other => panic!("{kind} {value:?} was not refused: {other:?}"),
    }
}

#[test]
fn hostile_characters_are_refused_by_every_type() {
    for value in HOSTILE {
        assert_invalid("database name", value, DatabaseName::parse(value));
        assert_invalid("pair name", value, PairName::parse(value));
        assert_invalid("node name", value, NodeName::parse(value));
        assert_invalid("Cinder volume id", value, VolumeId::parse(value));
        assert_invalid("Nova server id", value, ServerId::parse(value));
        assert_invalid("floating IP id", value, FloatingIpId::parse(value));
        assert_invalid("subnet id", value, SubnetId::parse(value));
        assert_invalid("filesystem type", value, FsType::parse(value));
        assert_invalid("clouds.yaml cloud name", value, CloudName::parse(value));
        let path = format!("/srv/{value}");
        assert_invalid("path", &path, AbsolutePath::parse(&path));
    }
}

#[test]
fn values_that_read_as_options_are_refused() {
    // pcs, crm and the agents' command lines would take these for options.
    for value in ["-a", "--force", "-"] {
        assert_invalid("database name", value, DatabaseName::parse(value));
        assert_invalid("pair name", value, PairName::parse(value));
        assert_invalid("node name", value, NodeName::parse(value));
        assert_invalid("filesystem type", value, FsType::parse(value));
        assert_invalid("clouds.yaml cloud name", value, CloudName::parse(value));
        assert_invalid("Cinder volume id", value, VolumeId::parse(value));
        assert_invalid("path", value, AbsolutePath::parse(value));
    }
}

#[test]
fn the_error_names_the_character_and_the_rule() {
    let err = NodeName::parse("db host").unwrap_err().to_string();
    assert!(
        err.starts_with("invalid node name \"db host\": it contains ' '"),
        "{err}"
    );
    assert!(err.contains("host names"), "{err}");
    // A newline is shown escaped, so the message stays on one line.
    let err = DatabaseName::parse("a\nb").unwrap_err().to_string();
    assert!(!err.contains('\n'), "{err}");
    assert!(err.contains("\\n"), "{err}");
}

#[test]
fn names_follow_their_rules() {
    // Instance names too: the longest API name (48) as dbaas-NAME-ID8.
    let longest = format!("dbaas-{}-0a1b2c3d", "a".repeat(48));
    assert_eq!(longest.len(), 63);
    for ok in [
        "orders-db",
        "a",
        "db2",
        "dbaas-orders-db-0a1b2c3d",
        &longest,
    ] {
        DatabaseName::parse(ok).unwrap();
    }
    for bad in ["Orders", "2db", "db-", "orders_db", &"a".repeat(64)] {
        assert_invalid("database name", bad, DatabaseName::parse(bad));
    }
    for ok in ["db-host-a", "DB1", "host.example.com", "1host"] {
        NodeName::parse(ok).unwrap();
    }
    for bad in ["-host", "host-", "host.", "a..b", "host_a", &"h".repeat(64)] {
        assert_invalid("node name", bad, NodeName::parse(bad));
    }
}

#[test]
fn ids_must_be_canonical_uuids() {
    VolumeId::parse("3e8dbc60-2f5f-4c77-9c20-7f4b9daebf03").unwrap();
    for bad in [
        "3E8DBC60-2F5F-4C77-9C20-7F4B9DAEBF03",
        "3e8dbc602f5f4c779c207f4b9daebf03",
        "{3e8dbc60-2f5f-4c77-9c20-7f4b9daebf03}",
        "3e8dbc60-2f5f-4c77-9c20-7f4b9daebf0",
        "3e8dbc60-2f5f-4c77-9c20-7f4b9daebf03-",
        "volume-1",
    ] {
        assert_invalid("Cinder volume id", bad, VolumeId::parse(bad));
    }
}

#[test]
fn paths_must_be_absolute_and_plain() {
    for ok in [
        "/srv/data",
        "/dev/disk/by-path/pci-0000:00:05.0",
        "/dev/disk/by-id/virtio-3e8dbc60-2f5f-4c77-9",
    ] {
        AbsolutePath::parse(ok).unwrap();
    }
    for bad in [
        "srv/data",
        "/",
        "/srv/",
        "/srv//data",
        "/srv/../etc",
        "/srv/./data",
    ] {
        assert_invalid("path", bad, AbsolutePath::parse(bad));
    }
    assert_invalid(
        "path",
        &format!("/{}", "a".repeat(255)),
        AbsolutePath::parse(&format!("/{}", "a".repeat(255))),
    );
}

#[test]
fn inconsistent_groups_are_refused_before_rendering() {
    let mut same_node = common::sample();
    same_node.nodes[1].name = same_node.nodes[0].name.clone();
    assert!(matches!(same_node.render(), Err(Error::Inconsistent(_))));

    let mut same_server = common::sample();
    same_server.nodes[1].server = same_server.nodes[0].server.clone();
    assert!(matches!(same_server.render(), Err(Error::Inconsistent(_))));

    let mut same_device = common::sample();
    same_device.wal.device = same_device.data.device.clone();
    assert!(matches!(same_device.render(), Err(Error::Inconsistent(_))));

    let mut nested = common::sample();
    nested.wal.directory = AbsolutePath::parse("/srv/dbaas/orders-db/data/wal").unwrap();
    assert!(matches!(nested.render(), Err(Error::Inconsistent(_))));

    // A sibling whose name merely starts with the other's is not nested.
    let mut sibling = common::sample();
    sibling.data.directory = AbsolutePath::parse("/srv/db").unwrap();
    sibling.wal.directory = AbsolutePath::parse("/srv/db-wal").unwrap();
    sibling.render().unwrap();
}
