//! Fixtures for tests against a real cloud (feature `testing`): what a
//! deployment's network would hold, made through the API. They panic on
//! any failure, as test fixtures do.

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

use crate::{ApiRequest, Session};

/// A private network behind a router with a gateway on the external
/// network, and a port on it: a host pair's VIP.
pub struct VipNetwork {
    /// The session that made it (and deletes it).
    pub session: Arc<Session>,
    /// The router joining the subnet to the external network.
    pub router: String,
    /// The private subnet (10.77.0.0/24).
    pub subnet: String,
    /// The private network.
    pub network: String,
    /// The VIP port.
    pub port: String,
    /// The VIP port's fixed address.
    pub port_ip: String,
}

impl VipNetwork {
    /// Makes the network, subnet, router (gateway and interface) and port,
    /// named `n`.
    pub async fn create(session: Arc<Session>, ext_id: &str, n: &str) -> VipNetwork {
        let post = |path: &str, body: serde_json::Value| {
            let s = session.clone();
            let path = path.to_string();
            async move {
                s.send_json::<serde_json::Value>(
                    &ApiRequest::new("network", Method::POST, path).json(&body),
                )
                .await
                .unwrap()
            }
        };
        let net = post("/v2.0/networks", json!({"network": {"name": n}})).await;
        let network = net["network"]["id"].as_str().unwrap().to_string();
        let sub = post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": network, "ip_version": 4, "cidr": "10.77.0.0/24", "name": n}}),
        )
        .await;
        let subnet = sub["subnet"]["id"].as_str().unwrap().to_string();
        let r = post(
            "/v2.0/routers",
            json!({"router": {"name": n, "external_gateway_info": {"network_id": ext_id}}}),
        )
        .await;
        let router = r["router"]["id"].as_str().unwrap().to_string();
        session
            .send(
                &ApiRequest::new(
                    "network",
                    Method::PUT,
                    format!("/v2.0/routers/{router}/add_router_interface"),
                )
                .json(&json!({"subnet_id": subnet})),
            )
            .await
            .unwrap();
        let p = post(
            "/v2.0/ports",
            json!({"port": {"network_id": network, "name": format!("{n}-vip")}}),
        )
        .await;
        let port = p["port"]["id"].as_str().unwrap().to_string();
        let port_ip = p["port"]["fixed_ips"][0]["ip_address"]
            .as_str()
            .unwrap()
            .to_string();
        VipNetwork {
            session,
            router,
            subnet,
            network,
            port,
            port_ip,
        }
    }

    /// Removes everything `create` made.
    pub async fn delete(self) {
        let s = &self.session;
        let del = |p: String| ApiRequest::new("network", Method::DELETE, p);
        s.send(&del(format!("/v2.0/ports/{}", self.port)))
            .await
            .unwrap();
        s.send(
            &ApiRequest::new(
                "network",
                Method::PUT,
                format!("/v2.0/routers/{}/remove_router_interface", self.router),
            )
            .json(&json!({"subnet_id": self.subnet})),
        )
        .await
        .unwrap();
        s.send(&del(format!("/v2.0/routers/{}", self.router)))
            .await
            .unwrap();
        s.send(&del(format!("/v2.0/networks/{}", self.network)))
            .await
            .unwrap();
    }
}
