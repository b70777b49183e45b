//! Neutron (Networking v2.0) types: floating IPs, ports and networks.
//!
//! Tags cannot be given when a floating IP is created (Neutron refuses
//! them in the body unless the `tag-creation` extension is loaded): they are
//! set afterwards with [`TagsRequest`] on `PUT /v2.0/floatingips/{id}/tags`.

use serde::{Deserialize, Serialize};

use crate::serde_util::{nullable, Timestamp};

/// `POST /v2.0/floatingips` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIpCreateRequest {
    /// The floating IP to create.
    pub floatingip: FloatingIpCreate,
}

/// The floating IP to create.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FloatingIpCreate {
    /// The external network to allocate from.
    pub floating_network_id: String,
    /// A port to associate at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_id: Option<String>,
    /// The external subnet to allocate from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// Which fixed address of the port to map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_ip_address: Option<String>,
    /// A specific address to allocate (admin by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floating_ip_address: Option<String>,
    /// Free text; dbaas writes its deterministic key here, because it can
    /// be set in the create body (tags cannot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// DNS domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
    /// DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// QoS policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_policy_id: Option<String>,
}

/// `PUT /v2.0/floatingips/{id}` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIpUpdateRequest {
    /// The changes.
    pub floatingip: FloatingIpUpdate,
}

/// Changes to a floating IP. `port_id: Some(None)` sends `null`, which
/// disassociates it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FloatingIpUpdate {
    /// The port to associate, or `null` to disassociate.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub port_id: Option<Option<String>>,
    /// Which fixed address of the port to map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_ip_address: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `{"floatingip": {...}}` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIpResponse {
    /// The floating IP.
    pub floatingip: FloatingIp,
}

/// `GET /v2.0/floatingips` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIpList {
    /// The floating IPs.
    pub floatingips: Vec<FloatingIp>,
}

/// A floating IP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIp {
    /// Its id.
    pub id: String,
    /// The address.
    pub floating_ip_address: String,
    /// The external network it belongs to.
    pub floating_network_id: String,
    /// The fixed address it maps to, when associated.
    #[serde(default)]
    pub fixed_ip_address: Option<String>,
    /// The port it is associated with.
    #[serde(default)]
    pub port_id: Option<String>,
    /// The router that does the translation.
    #[serde(default)]
    pub router_id: Option<String>,
    /// `ACTIVE`, `DOWN` or `ERROR`.
    #[serde(default)]
    pub status: Option<String>,
    /// Owner project.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Owner project (the older name).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// DNS domain.
    #[serde(default)]
    pub dns_domain: Option<String>,
    /// DNS name.
    #[serde(default)]
    pub dns_name: Option<String>,
    /// Tags. Each element is one tag (a published sample has `"tag1,tag2"`
    /// as a single element; it is kept as one string).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Created.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Last updated.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// Changes on every update.
    #[serde(default)]
    pub revision_number: Option<u64>,
    /// The associated port, summarised.
    #[serde(default)]
    pub port_details: Option<PortDetails>,
    /// Port forwardings on this address.
    #[serde(default)]
    pub port_forwardings: Vec<PortForwarding>,
    /// QoS policy of the floating IP.
    #[serde(default)]
    pub qos_policy_id: Option<String>,
    /// QoS policy of its network.
    #[serde(default)]
    pub qos_network_policy_id: Option<String>,
}

/// The port behind a floating IP, summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDetails {
    /// Port status.
    #[serde(default)]
    pub status: Option<String>,
    /// Port name.
    #[serde(default)]
    pub name: Option<String>,
    /// Administrative state.
    #[serde(default)]
    pub admin_state_up: Option<bool>,
    /// Its network.
    #[serde(default)]
    pub network_id: Option<String>,
    /// Who uses the port (`compute:nova`, ...).
    #[serde(default)]
    pub device_owner: Option<String>,
    /// MAC address.
    #[serde(default)]
    pub mac_address: Option<String>,
    /// The device (server) id.
    #[serde(default)]
    pub device_id: Option<String>,
}

/// A port forwarding on a floating IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForwarding {
    /// Its id.
    #[serde(default)]
    pub id: Option<String>,
    /// `tcp` or `udp`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// Internal address.
    #[serde(default)]
    pub internal_ip_address: Option<String>,
    /// Internal port number.
    #[serde(default)]
    pub internal_port: Option<u16>,
    /// Internal Neutron port.
    #[serde(default)]
    pub internal_port_id: Option<String>,
    /// External port number.
    #[serde(default)]
    pub external_port: Option<u16>,
}

/// `PUT /v2.0/{resource}/{id}/tags` body (replaces every tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagsRequest {
    /// The tags.
    pub tags: Vec<String>,
}

/// `GET /v2.0/floatingip_pools` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatingIpPoolList {
    /// The pools (one per external subnet).
    pub floatingip_pools: Vec<FloatingIpPool>,
}

/// A subnet floating IPs can come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatingIpPool {
    /// The subnet.
    pub subnet_id: String,
    /// Its name.
    #[serde(default)]
    pub subnet_name: Option<String>,
    /// Its network.
    pub network_id: String,
    /// Its CIDR.
    #[serde(default)]
    pub cidr: Option<String>,
    /// Owner project.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Owner project (older name).
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// `POST /v2.0/ports` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortCreateRequest {
    /// The port to create.
    pub port: PortCreate,
}

/// The port to create.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PortCreate {
    /// Its network.
    pub network_id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Administrative state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_state_up: Option<bool>,
    /// Fixed addresses asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_ips: Option<Vec<FixedIp>>,
    /// Extra addresses the port may answer for (a VIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_address_pairs: Option<Vec<AddressPair>>,
    /// Security groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    /// Whether port security applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_security_enabled: Option<bool>,
    /// Who uses the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_owner: Option<String>,
    /// The device id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// DNS domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
    /// DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// QoS policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_policy_id: Option<String>,
    /// Uplink status propagation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_uplink_status: Option<bool>,
    /// Private VLAN type (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvlan_type: Option<String>,
    /// Private VLAN community (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvlan_community: Option<String>,
    /// Hardware offload type (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_offload_type: Option<String>,
    /// Trusted VIF (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
}

/// `{"port": {...}}` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortResponse {
    /// The port.
    pub port: Port,
}

/// `GET /v2.0/ports` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortList {
    /// The ports.
    pub ports: Vec<Port>,
}

/// A port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Port {
    /// Its id.
    pub id: String,
    /// Its network.
    pub network_id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// `ACTIVE`, `DOWN`, `BUILD`, `ERROR`.
    #[serde(default)]
    pub status: Option<String>,
    /// Administrative state.
    #[serde(default)]
    pub admin_state_up: Option<bool>,
    /// MAC address.
    #[serde(default)]
    pub mac_address: Option<String>,
    /// Fixed addresses.
    #[serde(default)]
    pub fixed_ips: Vec<FixedIp>,
    /// Extra addresses the port may answer for.
    #[serde(default)]
    pub allowed_address_pairs: Vec<AddressPair>,
    /// Who uses the port.
    #[serde(default)]
    pub device_owner: Option<String>,
    /// The device id.
    #[serde(default)]
    pub device_id: Option<String>,
    /// Security groups.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Whether port security applies.
    #[serde(default)]
    pub port_security_enabled: Option<bool>,
    /// DNS name.
    #[serde(default)]
    pub dns_name: Option<String>,
    /// DNS domain.
    #[serde(default)]
    pub dns_domain: Option<String>,
    /// The DNS records made for the port.
    #[serde(default)]
    pub dns_assignment: Vec<DnsAssignment>,
    /// DHCP options.
    #[serde(default)]
    pub extra_dhcp_opts: Vec<ExtraDhcpOpt>,
    /// `immediate`, `deferred` or `none`.
    #[serde(default)]
    pub ip_allocation: Option<String>,
    /// Data plane status (extension).
    #[serde(default)]
    pub data_plane_status: Option<String>,
    /// Owner project.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Owner project (older name).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Changes on every update.
    #[serde(default)]
    pub revision_number: Option<u64>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Created (some releases write no zone).
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Last updated.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// QoS policy.
    #[serde(default)]
    pub qos_policy_id: Option<String>,
    /// QoS policy of its network.
    #[serde(default)]
    pub qos_network_policy_id: Option<String>,
    /// Uplink status propagation.
    #[serde(default)]
    pub propagate_uplink_status: Option<bool>,
    /// Hardware offload type (extension).
    #[serde(default)]
    pub hardware_offload_type: Option<String>,
    /// Private VLAN type (extension).
    #[serde(default)]
    pub pvlan_type: Option<String>,
    /// Private VLAN community (extension).
    #[serde(default)]
    pub pvlan_community: Option<String>,
    /// Trusted VIF (extension).
    #[serde(default)]
    pub trusted: Option<bool>,
}

/// A fixed address of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    /// The address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Its subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
}

/// An allowed address pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    /// Address or CIDR.
    pub ip_address: String,
    /// MAC address (the port's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

/// A DNS record made for a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsAssignment {
    /// Host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Address.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// Fully qualified name.
    #[serde(default)]
    pub fqdn: Option<String>,
}

/// A DHCP option of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraDhcpOpt {
    /// Option name.
    pub opt_name: String,
    /// Option value.
    pub opt_value: String,
    /// 4 or 6.
    #[serde(default)]
    pub ip_version: Option<u8>,
}

/// `{"network": {...}}` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkResponse {
    /// The network.
    pub network: Network,
}

/// `GET /v2.0/networks` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkList {
    /// The networks.
    pub networks: Vec<Network>,
}

/// A network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Its id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// `ACTIVE`, `DOWN`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// Administrative state.
    #[serde(default)]
    pub admin_state_up: Option<bool>,
    /// Whether floating IPs can come from it.
    #[serde(rename = "router:external", default)]
    pub external: Option<bool>,
    /// Whether every project may use it.
    #[serde(default)]
    pub shared: Option<bool>,
    /// Its subnets.
    #[serde(default)]
    pub subnets: Vec<String>,
    /// MTU.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Owner project.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Owner project (older name).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Created.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Last updated.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// Changes on every update.
    #[serde(default)]
    pub revision_number: Option<u64>,
}
