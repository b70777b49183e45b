//! Client configuration, read from the same environment variables the
//! `consul` CLI uses so an operator configures both the same way.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::error::ConsulError;

/// Consul's default HTTP address, as the CLI assumes it.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:8500";

/// How failed requests are retried: only transport errors and 5xx answers,
/// never 4xx (the request itself is wrong; repeating it cannot help).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// Pause before the first retry; doubled after each one.
    pub initial_backoff: Duration,
    /// Upper bound of the pause.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // About 3 s of retrying in total: long enough to ride out a leader
        // election (Consul's is typically sub-second to a few seconds),
        // short enough that a caller with a deadline still gets an answer.
        Self {
            max_retries: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The pause before retry number `retry` (from 0).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Everything needed to reach a Consul agent.
#[derive(Clone)]
pub struct ConsulConfig {
    /// The agent's base URL (`CONSUL_HTTP_ADDR`).
    pub address: Url,
    /// ACL token sent as `X-Consul-Token` (`CONSUL_HTTP_TOKEN`).
    pub token: Option<String>,
    /// Enterprise namespace sent as `?ns=` (`CONSUL_NAMESPACE`).
    pub namespace: Option<String>,
    /// Datacenter sent as `?dc=` (`CONSUL_DATACENTER`); `None`: the agent's.
    pub datacenter: Option<String>,
    /// PEM file of the CA that signs Consul's certificate (`CONSUL_CACERT`).
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (`CONSUL_CLIENT_CERT`).
    pub client_cert: Option<PathBuf>,
    /// PEM key of the client certificate (`CONSUL_CLIENT_KEY`).
    pub client_key: Option<PathBuf>,
    /// Retry policy for transport errors and 5xx answers.
    pub retry: RetryPolicy,
    /// Timeout of a non-blocking request; a blocking query adds its `wait`.
    pub request_timeout: Duration,
}

// Written by hand so the ACL token never reaches a log.
impl fmt::Debug for ConsulConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsulConfig")
            .field("address", &self.address.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("namespace", &self.namespace)
            .field("datacenter", &self.datacenter)
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl Default for ConsulConfig {
    fn default() -> Self {
        Self {
            address: Url::parse(DEFAULT_ADDRESS).expect("the default address is a valid URL"),
            token: None,
            namespace: None,
            datacenter: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl ConsulConfig {
    /// A configuration for the agent at `address` (same forms as
    /// `CONSUL_HTTP_ADDR`), everything else default.
    pub fn with_address(address: &str) -> Result<Self, ConsulError> {
        Ok(Self {
            address: parse_address(address, false)?,
            ..Self::default()
        })
    }

    /// Reads the `CONSUL_*` environment variables.
    pub fn from_env() -> Result<Self, ConsulError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`ConsulConfig::from_env`] with a custom variable lookup, so
    /// tests need not mutate the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConsulError> {
        // An empty variable counts as unset, as in the consul CLI.
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let ssl = match get("CONSUL_HTTP_SSL") {
            None => false,
            Some(v) => parse_bool(&v).ok_or_else(|| ConsulError::Config {
                setting: "CONSUL_HTTP_SSL".to_string(),
                detail: format!("{v:?} is not a boolean; use true or false"),
            })?,
        };
        let address = match get("CONSUL_HTTP_ADDR") {
            Some(addr) => parse_address(&addr, ssl)?,
            None if ssl => parse_address("127.0.0.1:8500", true)?,
            None => parse_address(DEFAULT_ADDRESS, false)?,
        };
        let token = match (get("CONSUL_HTTP_TOKEN"), get("CONSUL_HTTP_TOKEN_FILE")) {
            (Some(token), _) => Some(token.trim().to_string()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| ConsulError::Config {
                        setting: "CONSUL_HTTP_TOKEN_FILE".to_string(),
                        detail: format!("cannot read {path}: {e}; point it at a readable file holding the ACL token"),
                    })?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        Ok(Self {
            address,
            token,
            namespace: get("CONSUL_NAMESPACE"),
            datacenter: get("CONSUL_DATACENTER"),
            ca_cert: get("CONSUL_CACERT").map(PathBuf::from),
            client_cert: get("CONSUL_CLIENT_CERT").map(PathBuf::from),
            client_key: get("CONSUL_CLIENT_KEY").map(PathBuf::from),
            ..Self::default()
        })
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Some(true),
        "0" | "f" | "false" => Some(false),
        _ => None,
    }
}

/// Parses `CONSUL_HTTP_ADDR`: a URL (`http://…`, `https://…`) or, as the
/// consul CLI accepts, a bare `host:port`, which means `http` unless
/// `CONSUL_HTTP_SSL` is true.
pub fn parse_address(addr: &str, ssl: bool) -> Result<Url, ConsulError> {
    let addr = addr.trim();
    let bad = |detail: String| ConsulError::Config {
        setting: "CONSUL_HTTP_ADDR".to_string(),
        detail,
    };
    if addr.starts_with("unix://") {
        return Err(bad(format!(
            "{addr:?}: unix sockets are not supported; use http://host:port"
        )));
    }
    let with_scheme = if addr.contains("://") {
        addr.to_string()
    } else if ssl {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        bad(format!(
            "{addr:?} is not an address ({e}); use host:port or http(s)://host:port"
        ))
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad(format!(
            "{addr:?}: scheme {:?} is not supported; use http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("{addr:?} has no host; use host:port")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<ConsulConfig, ConsulError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ConsulConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_to_local_agent() {
        let c = from(&[]).unwrap();
        assert_eq!(c.address.as_str(), "http://127.0.0.1:8500/");
        assert!(c.token.is_none() && c.namespace.is_none());
    }

    #[test]
    fn accepts_host_port_without_scheme() {
        let c = from(&[("CONSUL_HTTP_ADDR", "consul.internal:8501")]).unwrap();
        assert_eq!(c.address.as_str(), "http://consul.internal:8501/");
        let c = from(&[
            ("CONSUL_HTTP_ADDR", "consul.internal:8501"),
            ("CONSUL_HTTP_SSL", "true"),
        ])
        .unwrap();
        assert_eq!(c.address.as_str(), "https://consul.internal:8501/");
        let c = from(&[("CONSUL_HTTP_ADDR", "https://10.0.0.1:8501")]).unwrap();
        assert_eq!(c.address.scheme(), "https");
    }

    #[test]
    fn reads_token_namespace_and_tls_paths() {
        let c = from(&[
            ("CONSUL_HTTP_TOKEN", "s3cret"),
            ("CONSUL_NAMESPACE", "team-a"),
            ("CONSUL_CACERT", "/etc/consul/ca.pem"),
        ])
        .unwrap();
        assert_eq!(c.token.as_deref(), Some("s3cret"));
        assert_eq!(c.namespace.as_deref(), Some("team-a"));
        assert_eq!(c.ca_cert, Some(PathBuf::from("/etc/consul/ca.pem")));
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "token must not be logged"
        );
    }

    #[test]
    fn rejects_bad_addresses_with_a_hint() {
        for bad in ["unix:///tmp/consul.sock", "ftp://x:1", "http://"] {
            let err = from(&[("CONSUL_HTTP_ADDR", bad)]).unwrap_err().to_string();
            assert!(err.contains("CONSUL_HTTP_ADDR"), "{err}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0), Duration::from_millis(200));
        assert_eq!(p.backoff(1), Duration::from_millis(400));
        assert_eq!(p.backoff(10), Duration::from_secs(2));
    }
}
