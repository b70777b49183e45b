//! A typed client of the dbaas REST API, used by the CLI and the tests.

use std::time::Duration;

use dbaas_model::*;
use serde::de::DeserializeOwned;

/// Installs the process's one TLS crypto provider (ring). Call it first
/// thing in `main`, before any client is built; calling it again is
/// harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Address used when neither `--address` nor `DBAAS_ADDR` is given.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4680";

/// Why a call failed.
#[derive(Debug)]
pub enum ClientError {
    /// The agent answered with an error.
    Api(ApiError),
    /// The agent could not be reached or answered something unreadable.
    Transport(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Api(e) => write!(f, "{}", e.message),
            ClientError::Transport(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ClientError {}

pub type Result<T> = std::result::Result<T, ClientError>;

/// A client bound to one agent.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(address: &str) -> Client {
        let base = if address.contains("://") {
            address.trim_end_matches('/').to_string()
        } else {
            format!("http://{}", address.trim_end_matches('/'))
        };
        Client {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
        }
    }

    pub fn address(&self) -> &str {
        &self.base
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        let resp = req.send().await.map_err(|e| {
            ClientError::Transport(format!(
                "cannot reach the dbaas agent at {}: {}; is it running? (set --address or DBAAS_ADDR)",
                self.base,
                root_cause(&e)
            ))
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(format!("reading the agent's answer: {e}")))?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::Transport(format!("unexpected answer from the agent: {e}"))
            })
        } else {
            match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => Err(ClientError::Api(body.into())),
                Err(_) => Err(ClientError::Transport(format!(
                    "the agent answered {status}: {}",
                    String::from_utf8_lossy(&bytes)
                ))),
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1{path}", self.base)
    }

    pub async fn health(&self) -> Result<Health> {
        self.send(self.http.get(self.url("/health"))).await
    }

    pub async fn create_database(&self, req: &CreateDatabaseRequest) -> Result<Operation> {
        self.send(self.http.post(self.url("/databases")).json(req))
            .await
    }

    pub async fn list_databases(&self) -> Result<Vec<Database>> {
        let l: DatabaseList = self.send(self.http.get(self.url("/databases"))).await?;
        Ok(l.databases)
    }

    pub async fn get_database(&self, name: &str) -> Result<Database> {
        self.send(
            self.http
                .get(self.url(&format!("/databases/{}", seg(name)))),
        )
        .await
    }

    pub async fn connection(&self, name: &str) -> Result<Connection> {
        self.send(
            self.http
                .get(self.url(&format!("/databases/{}/connection", seg(name)))),
        )
        .await
    }

    pub async fn delete_database(&self, name: &str) -> Result<Operation> {
        self.send(
            self.http
                .delete(self.url(&format!("/databases/{}", seg(name)))),
        )
        .await
    }

    /// Grows the data volume of `name` to `size_gb`.
    pub async fn resize_database(&self, name: &str, size_gb: i64) -> Result<Operation> {
        self.send(
            self.http
                .post(self.url(&format!("/databases/{}/resize", seg(name))))
                .json(&ResizeDatabaseRequest { size_gb }),
        )
        .await
    }

    pub async fn submit_sql(&self, name: &str, req: &SqlJobRequest) -> Result<Operation> {
        self.send(
            self.http
                .post(self.url(&format!("/databases/{}/sql-jobs", seg(name))))
                .json(req),
        )
        .await
    }

    pub async fn get_sql_job(&self, id: &str) -> Result<SqlJob> {
        self.send(self.http.get(self.url(&format!("/sql-jobs/{}", seg(id)))))
            .await
    }

    /// Orphaned resources and broken databases; with `fix`, the orphans
    /// are removed.
    pub async fn doctor(&self, fix: bool) -> Result<DoctorReport> {
        let req = if fix {
            self.http.post(self.url("/doctor/fix"))
        } else {
            self.http.get(self.url("/doctor"))
        };
        self.send(req).await
    }

    /// The host pool and its use.
    pub async fn list_hosts(&self) -> Result<Vec<HostPair>> {
        let l: HostPairList = self.send(self.http.get(self.url("/hosts"))).await?;
        Ok(l.pairs)
    }

    pub async fn list_operations(&self, target: Option<&str>) -> Result<Vec<Operation>> {
        let mut req = self.http.get(self.url("/operations"));
        if let Some(t) = target {
            req = req.query(&[("target", t)]);
        }
        let l: OperationList = self.send(req).await?;
        Ok(l.operations)
    }

    pub async fn create_backup(&self, name: &str) -> Result<Operation> {
        self.send(
            self.http
                .post(self.url(&format!("/databases/{}/backups", seg(name)))),
        )
        .await
    }

    pub async fn list_backups(&self, name: &str) -> Result<Vec<Backup>> {
        self.list_backups_in(name, None).await
    }

    /// Backups of `name` in a named store of another cloud.
    pub async fn list_backups_in(&self, name: &str, store: Option<&str>) -> Result<Vec<Backup>> {
        let mut req = self
            .http
            .get(self.url(&format!("/databases/{}/backups", seg(name))));
        if let Some(s) = store {
            req = req.query(&[("store", s)]);
        }
        let l: BackupList = self.send(req).await?;
        Ok(l.backups)
    }

    pub async fn set_backup_policy(&self, name: &str, policy: &BackupPolicy) -> Result<Database> {
        self.send(
            self.http
                .put(self.url(&format!("/databases/{}/backup-policy", seg(name))))
                .json(policy),
        )
        .await
    }

    pub async fn verify_backup(&self, id: &str) -> Result<Operation> {
        self.send(
            self.http
                .post(self.url(&format!("/backups/{}/verify", seg(id)))),
        )
        .await
    }

    pub async fn get_backup(&self, id: &str) -> Result<Backup> {
        self.send(self.http.get(self.url(&format!("/backups/{}", seg(id)))))
            .await
    }

    pub async fn delete_backup(&self, id: &str) -> Result<Operation> {
        self.send(self.http.delete(self.url(&format!("/backups/{}", seg(id)))))
            .await
    }

    pub async fn restore_database(
        &self,
        name: &str,
        req: &RestoreDatabaseRequest,
    ) -> Result<Operation> {
        self.send(
            self.http
                .post(self.url(&format!("/databases/{}/restore", seg(name))))
                .json(req),
        )
        .await
    }

    pub async fn get_operation(&self, id: &str) -> Result<Operation> {
        self.send(self.http.get(self.url(&format!("/operations/{}", seg(id)))))
            .await
    }

    /// Polls an operation until it finishes, calling `progress` each time
    /// it changes.
    pub async fn wait_operation(
        &self,
        id: &str,
        mut progress: impl FnMut(&Operation),
    ) -> Result<Operation> {
        let mut last: Option<String> = None;
        // Polls are cheap for the agent (tens of thousands a second), and a
        // short period keeps the wait close to the operation's real end.
        let mut delay = Duration::from_millis(20);
        loop {
            let op = self.get_operation(id).await?;
            let fingerprint = serde_json::to_string(&(&op.state, &op.steps)).unwrap_or_default();
            if last.as_deref() != Some(&fingerprint) {
                progress(&op);
                last = Some(fingerprint);
            }
            if op.state.is_finished() {
                return Ok(op);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }
}

/// Percent-encodes a path segment, so that whatever a user typed reaches
/// the agent's validation as typed.
fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
