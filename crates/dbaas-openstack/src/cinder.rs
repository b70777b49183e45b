//! Cinder (Block Storage v3) volume types.
//!
//! Responses carry many fields that depend on the microversion (the
//! `os-vol-*` attributes for admins, `shared_targets` from 3.48,
//! `volume_type_id` and `consumes_quota` from 3.63/3.65, ...): all of them are
//! optional here, and fields this crate does not know are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::serde_util::{nullable, Timestamp};

/// The microversion dbaas asks for: new enough for `consumes_quota` and
/// generic filtering, old enough for every supported release (Zed has 3.70).
pub const VOLUME_MICROVERSION: &str = "3.65";

/// A link to a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The URL.
    pub href: String,
    /// `self` or `bookmark`.
    pub rel: String,
}

/// `POST /v3/{project_id}/volumes` body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VolumeCreateRequest {
    /// The volume to create.
    pub volume: VolumeCreate,
    /// Placement hints for the scheduler (`same_host`, `different_host`, ...).
    #[serde(
        rename = "OS-SCH-HNT:scheduler_hints",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub scheduler_hints: Option<BTreeMap<String, Value>>,
}

/// The volume to create. Optional fields are three-state: `None` is left
/// out, `Some(None)` is sent as `null`, `Some(Some(v))` as `v`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VolumeCreate {
    /// Size in GiB.
    pub size: u64,
    /// Name (not unique: dbaas finds its volumes by metadata).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<Option<String>>,
    /// Free text.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<Option<String>>,
    /// Key/value pairs kept with the volume.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<Option<BTreeMap<String, String>>>,
    /// Availability zone.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub availability_zone: Option<Option<String>>,
    /// Volume type name or id.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub volume_type: Option<Option<String>>,
    /// Whether it can be attached to several servers.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub multiattach: Option<Option<bool>>,
    /// Volume to clone.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_volid: Option<Option<String>>,
    /// Snapshot to create from.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub snapshot_id: Option<Option<String>>,
    /// Backup to restore (3.47+).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub backup_id: Option<Option<String>>,
    /// Image to create from.
    #[serde(
        rename = "imageRef",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_ref: Option<Option<String>>,
    /// Consistency group (deprecated by groups).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub consistencygroup_id: Option<Option<String>>,
}

impl VolumeCreateRequest {
    /// A plain volume of `size_gb` GiB with a name and metadata.
    pub fn new(
        name: impl Into<String>,
        size_gb: u64,
        metadata: BTreeMap<String, String>,
    ) -> VolumeCreateRequest {
        VolumeCreateRequest {
            volume: VolumeCreate {
                size: size_gb,
                name: Some(Some(name.into())),
                metadata: Some(Some(metadata)),
                ..VolumeCreate::default()
            },
            scheduler_hints: None,
        }
    }
}

/// `GET /volumes/{id}` and create answers: `{"volume": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeResponse {
    /// The volume.
    pub volume: Volume,
}

/// `GET /volumes/detail` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeDetailList {
    /// The volumes.
    pub volumes: Vec<Volume>,
}

/// `GET /volumes` answer (ids and names only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeList {
    /// The volumes.
    pub volumes: Vec<VolumeSummary>,
}

/// A volume in the short list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeSummary {
    /// Its id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Links to it.
    #[serde(default)]
    pub links: Vec<Link>,
}

/// A volume, in detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// Its id (a UUID).
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// `creating`, `available`, `in-use`, `extending`, `deleting`,
    /// `error`, `error_extending`, `error_deleting`, ...
    pub status: String,
    /// Size in GiB.
    pub size: u64,
    /// Key/value pairs kept with the volume.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Availability zone.
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// `"true"` or `"false"`: a string in every Cinder release.
    #[serde(default)]
    pub bootable: Option<String>,
    /// Whether it is encrypted.
    #[serde(default)]
    pub encrypted: Option<bool>,
    /// Whether it can be attached to several servers.
    #[serde(default)]
    pub multiattach: Option<bool>,
    /// Where it is attached.
    #[serde(default)]
    pub attachments: Vec<VolumeAttachment>,
    /// Links to it.
    #[serde(default)]
    pub links: Vec<Link>,
    /// Created (UTC; Cinder writes no zone).
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Last updated.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// Volume type name.
    #[serde(default)]
    pub volume_type: Option<String>,
    /// Volume type id (3.63+).
    #[serde(default)]
    pub volume_type_id: Option<String>,
    /// Owner user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Source snapshot.
    #[serde(default)]
    pub snapshot_id: Option<String>,
    /// Source volume.
    #[serde(default)]
    pub source_volid: Option<String>,
    /// Consistency group.
    #[serde(default)]
    pub consistencygroup_id: Option<String>,
    /// Group (3.13+).
    #[serde(default)]
    pub group_id: Option<String>,
    /// Migration status.
    #[serde(default)]
    pub migration_status: Option<String>,
    /// Replication status.
    #[serde(default)]
    pub replication_status: Option<String>,
    /// Owner project (admin or owner view).
    #[serde(rename = "os-vol-tenant-attr:tenant_id", default)]
    pub tenant_id: Option<String>,
    /// Backend host (admin only).
    #[serde(rename = "os-vol-host-attr:host", default)]
    pub host: Option<String>,
    /// Migration state (admin only).
    #[serde(rename = "os-vol-mig-status-attr:migstat", default)]
    pub migstat: Option<String>,
    /// Id of the backing volume during migration (admin only).
    #[serde(rename = "os-vol-mig-status-attr:name_id", default)]
    pub name_id: Option<String>,
    /// Backend's own id (admin, 3.21+).
    #[serde(default)]
    pub provider_id: Option<String>,
    /// Volume service id (3.48+).
    #[serde(default)]
    pub service_uuid: Option<String>,
    /// Whether targets are shared and need locking (3.48+; `null` for
    /// non-admins from 3.69).
    #[serde(default)]
    pub shared_targets: Option<bool>,
    /// Cluster (3.61+, admin).
    #[serde(default)]
    pub cluster_name: Option<String>,
    /// Whether it counts against quota (3.65+).
    #[serde(default)]
    pub consumes_quota: Option<bool>,
}

/// One attachment of a volume to a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeAttachment {
    /// The attachment's id.
    #[serde(default)]
    pub attachment_id: Option<String>,
    /// The server.
    #[serde(default)]
    pub server_id: Option<String>,
    /// The device path on the server.
    #[serde(default)]
    pub device: Option<String>,
    /// The host.
    #[serde(default)]
    pub host_name: Option<String>,
    /// When it was attached.
    #[serde(default)]
    pub attached_at: Option<Timestamp>,
}

/// `POST /volumes/{id}/metadata` (merge) and `PUT` (replace) body and answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMetadata {
    /// The pairs.
    pub metadata: BTreeMap<String, String>,
}

/// `POST /volumes/{id}/action` with `os-extend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeExtendRequest {
    /// The action's arguments.
    #[serde(rename = "os-extend")]
    pub extend: VolumeExtend,
}

/// The new size of an extend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeExtend {
    /// New size in GiB (larger than the current one).
    pub new_size: u64,
}

impl VolumeExtendRequest {
    /// Grows a volume to `new_size` GiB.
    pub fn new(new_size: u64) -> VolumeExtendRequest {
        VolumeExtendRequest {
            extend: VolumeExtend { new_size },
        }
    }
}
