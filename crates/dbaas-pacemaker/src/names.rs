//! The checked values a fragment is built from.
//!
//! Every value that reaches the CIB is one of these types, and each type can
//! only be made by `parse`, which enforces a small alphabet. The alphabets
//! are chosen so that a value is safe in every place Pacemaker reads it: an
//! XML attribute, a part of an XML `id` (an NCName), a word of `crm`/`pcs`
//! shell syntax and an `OCF_RESKEY_*` environment variable. The XML writer
//! escapes anyway; the alphabets are what keeps a value from meaning
//! something else to the tools downstream.

use std::fmt;

/// Why a value was refused. The message names the kind of value, shows the
/// value escaped (so a newline or a quote is visible) and states the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// One value broke the rule of its type.
    #[error("invalid {kind} {value:?}: {reason}")]
    Invalid {
        /// What the value is (e.g. "node name").
        kind: &'static str,
        /// The refused value as given.
        value: String,
        /// The rule it broke, in words a user can act on.
        reason: String,
    },
    /// Values that are each valid but cannot go together (e.g. the same
    /// node twice in a pair).
    #[error("inconsistent database group: {0}")]
    Inconsistent(String),
}

fn invalid(kind: &'static str, value: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        kind,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Finds the first character outside `allowed` and words the refusal, so
/// that every type reports a quote, `<`, `&`, a space, a newline or a
/// non-ASCII letter the same way.
fn check_alphabet(
    kind: &'static str,
    value: &str,
    allowed: impl Fn(char) -> bool,
    rule: &str,
) -> Result<(), Error> {
    if value.is_empty() {
        return Err(invalid(kind, value, format!("it is empty; {rule}")));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(invalid(kind, value, format!("it contains {bad:?}; {rule}")));
    }
    Ok(())
}

/// Declares a string newtype whose only constructor is `parse`.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks `value` and wraps it; see the type's rule.
            pub fn parse(value: &str) -> Result<Self, Error> {
                $check(value)?;
                Ok($name(value.to_owned()))
            }

            /// The checked value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(value: &str) -> Result<Self, Error> {
                Self::parse(value)
            }
        }
    };
}

/// Longest database name here: the instance name `dbaas-NAME-ID8` of the
/// longest name the API accepts (6 + 48 + 9 characters).
const MAX_DATABASE_NAME: usize = 63;

fn check_database_name(value: &str) -> Result<(), Error> {
    // The API's alphabet, applied again (a fragment may be rendered from a
    // stored record), with room for the instance name the workflows name
    // resources by.
    const KIND: &str = "database name";
    const RULE: &str = "database names (and the instance names dbaas-NAME-ID8 made of them) are 1 to 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen";
    check_alphabet(
        KIND,
        value,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
        RULE,
    )?;
    if value.len() > MAX_DATABASE_NAME {
        return Err(invalid(
            KIND,
            value,
            format!("it is {} characters long; {RULE}", value.len()),
        ));
    }
    if !value.starts_with(|c: char| c.is_ascii_lowercase()) || value.ends_with('-') {
        return Err(invalid(KIND, value, RULE));
    }
    Ok(())
}

fn check_pair_name(value: &str) -> Result<(), Error> {
    // Pair names are made by the control plane with the same alphabet as
    // database names (they end up in node attributes and resource ids).
    dbaas_model::validate::validate_name(value).map_err(|e| invalid("pair name", value, e.message))
}

/// Longest host name label (RFC 1123); Pacemaker takes node names from
/// `uname -n`, which on OpenStack is the instance's host name.
const MAX_NODE_NAME: usize = 63;

fn check_node_name(value: &str) -> Result<(), Error> {
    const KIND: &str = "node name";
    const RULE: &str = "node names are host names: 1 to 63 ASCII letters, digits, hyphens and dots, starting with a letter or digit and not ending with a hyphen or dot";
    check_alphabet(
        KIND,
        value,
        |c| c.is_ascii_alphanumeric() || c == '-' || c == '.',
        RULE,
    )?;
    if value.len() > MAX_NODE_NAME {
        return Err(invalid(
            KIND,
            value,
            format!("it is {} characters long; {RULE}", value.len()),
        ));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) || value.ends_with(['-', '.']) {
        return Err(invalid(KIND, value, RULE));
    }
    if value.contains("..") {
        return Err(invalid(
            KIND,
            value,
            format!("it has an empty label; {RULE}"),
        ));
    }
    Ok(())
}

/// Checks the canonical lowercase UUID form OpenStack prints
/// (`8-4-4-4-12` hex digits). Other spellings (braces, no hyphens,
/// uppercase) are refused rather than normalised: the value is compared
/// with what the APIs return, so it must be spelled the same way.
fn check_uuid(kind: &'static str, value: &str) -> Result<(), Error> {
    const RULE: &str =
        "OpenStack ids are lowercase UUIDs like 0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
    check_alphabet(
        kind,
        value,
        |c| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '-',
        RULE,
    )?;
    let groups: Vec<&str> = value.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if lengths != [8, 4, 4, 4, 12] {
        return Err(invalid(kind, value, RULE));
    }
    Ok(())
}

fn check_volume_id(value: &str) -> Result<(), Error> {
    check_uuid("Cinder volume id", value)
}
fn check_server_id(value: &str) -> Result<(), Error> {
    check_uuid("Nova server id", value)
}
fn check_floating_ip_id(value: &str) -> Result<(), Error> {
    check_uuid("floating IP id", value)
}
fn check_subnet_id(value: &str) -> Result<(), Error> {
    check_uuid("subnet id", value)
}

/// Longest path accepted (Linux `PATH_MAX` is larger; no real mount point
/// or device link comes near this).
const MAX_PATH: usize = 255;

fn check_path(value: &str) -> Result<(), Error> {
    const KIND: &str = "path";
    const RULE: &str = "paths are absolute, up to 255 characters of ASCII letters, digits and . _ - : @ + /, with no empty, '.' or '..' component and no trailing slash";
    // `:` `@` `+` appear in /dev/disk/by-path and by-id names; none of them
    // means anything to XML, crm syntax or the agents' shell.
    check_alphabet(
        KIND,
        value,
        |c| c.is_ascii_alphanumeric() || "._-:@+/".contains(c),
        RULE,
    )?;
    if value.len() > MAX_PATH {
        return Err(invalid(
            KIND,
            value,
            format!("it is {} characters long; {RULE}", value.len()),
        ));
    }
    let Some(rest) = value.strip_prefix('/') else {
        return Err(invalid(KIND, value, format!("it is not absolute; {RULE}")));
    };
    // `/` alone is refused too: mounting over the root or using it as a
    // device is never meant.
    if rest
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(invalid(KIND, value, RULE));
    }
    Ok(())
}

fn check_fstype(value: &str) -> Result<(), Error> {
    const KIND: &str = "filesystem type";
    const RULE: &str = "filesystem types are 1 to 32 lowercase letters, digits, dots and underscores, starting with a letter (e.g. \"ext4\", \"xfs\")";
    check_alphabet(
        KIND,
        value,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_',
        RULE,
    )?;
    if value.len() > 32 || !value.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(invalid(KIND, value, RULE));
    }
    Ok(())
}

fn check_cloud_name(value: &str) -> Result<(), Error> {
    const KIND: &str = "clouds.yaml cloud name";
    const RULE: &str = "cloud names are 1 to 64 ASCII letters, digits, dots, underscores and hyphens, starting with a letter or digit";
    check_alphabet(
        KIND,
        value,
        |c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-',
        RULE,
    )?;
    if value.len() > 64 || !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(invalid(KIND, value, RULE));
    }
    Ok(())
}

checked_string!(
    /// A database name by the API's alphabet (`[a-z][a-z0-9-]*`), at most
    /// 63 characters so that the instance name `dbaas-NAME-ID8` fits. It
    /// prefixes every resource id of the database's group.
    DatabaseName,
    check_database_name
);
checked_string!(
    /// The name of a host pair, the value of the node attribute
    /// [`crate::PAIR_ATTRIBUTE`] on both of its nodes. Same rule as a
    /// database name.
    PairName,
    check_pair_name
);
checked_string!(
    /// A Pacemaker node name: a host name (`[A-Za-z0-9.-]`, at most 63
    /// characters). Used in `pcmk_host_list` and in fencing resource ids.
    NodeName,
    check_node_name
);
checked_string!(
    /// A Cinder volume id (lowercase UUID), `volume_id` of
    /// `openstack-cinder-volume`.
    VolumeId,
    check_volume_id
);
checked_string!(
    /// A Nova server id (lowercase UUID), the `plug` fence_openstack powers
    /// off or reboots.
    ServerId,
    check_server_id
);
checked_string!(
    /// A Neutron floating IP id (lowercase UUID), `ip_id` of
    /// `openstack-floating-ip`.
    FloatingIpId,
    check_floating_ip_id
);
checked_string!(
    /// A Neutron subnet id (lowercase UUID), `subnet_id` of
    /// `openstack-floating-ip`.
    SubnetId,
    check_subnet_id
);
checked_string!(
    /// An absolute path (a device or a mount point) in a restricted ASCII
    /// alphabet, without `.`/`..` components.
    AbsolutePath,
    check_path
);
checked_string!(
    /// A filesystem type as `mount -t` takes it (e.g. `ext4`, `xfs`).
    FsType,
    check_fstype
);
checked_string!(
    /// The name of an entry in `clouds.yaml`, passed as `cloud` to the
    /// OpenStack resource agents and to fence_openstack.
    CloudName,
    check_cloud_name
);
