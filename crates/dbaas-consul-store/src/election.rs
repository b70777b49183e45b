//! Leader election among the agents of one cluster, with a Consul session
//! and lock.

use std::future::Future;
use std::time::Duration;

use dbaas_consul::{
    ConsulClient, ConsulError, KvPair, KvPutOptions, QueryOptions, SessionBehavior, SessionCreate,
    TxnKvOp, TxnOp, TxnResult,
};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::keys::Keys;
use crate::role::{Fence, LeaderInfo, Role};

/// How an agent takes part in the election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionConfig {
    /// This agent's id (unique in the cluster), written in the lock.
    pub id: String,
    /// Where this agent's API listens, for followers to forward to.
    pub address: String,
    /// The session's TTL: a leader that stops renewing (crashed, cut off)
    /// loses the lock once Consul expires the session (Consul allows
    /// 10 s to 24 h and may take up to twice the TTL).
    pub session_ttl: Duration,
    /// Consul's lock-delay: after the session is invalidated nobody can
    /// take the lock for this long, so the old leader's in-flight work can
    /// notice and stop (its writes are fenced in any case).
    pub lock_delay: Duration,
    /// How often the session is renewed; a third of the TTL by default.
    pub renew_interval: Duration,
    /// How long one blocking query on the lock waits for a change.
    pub watch_wait: Duration,
    /// The pause after an error, and between tries to take a free lock
    /// that is still under its lock-delay.
    pub retry_interval: Duration,
}

impl ElectionConfig {
    /// Defaults: TTL 15 s renewed every 5 s, lock-delay 15 s (Consul's
    /// default), blocking queries of 30 s, retries every second.
    pub fn new(id: impl Into<String>, address: impl Into<String>) -> ElectionConfig {
        let ttl = Duration::from_secs(15);
        ElectionConfig {
            id: id.into(),
            address: address.into(),
            session_ttl: ttl,
            lock_delay: Duration::from_secs(15),
            renew_interval: ttl / 3,
            watch_wait: Duration::from_secs(30),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// One agent's part in the election, run by a background task from
/// [`LeaderElection::start`] until [`LeaderElection::resign`] or drop.
///
/// The agent keeps a Consul session (TTL, lock-delay, behavior `release`)
/// renewed every `renew_interval`, and watches the leader key with
/// blocking queries. When the key is free it takes the lock (`acquire`,
/// the value naming this agent) and then increments the generation key by
/// check-and-set, in a transaction that also checks it still holds the
/// lock; the new generation and the generation key's index are the
/// [`Fence`] its writes carry. It steps down (role `Follower`) as soon as a
/// renewal fails or the session is gone, or the key shows another holder
/// or none, and then starts over with a new session. Followers learn the
/// leader from the key's value.
///
/// Dropping the handle stops the task without releasing anything, as a
/// crash would: the session expires after its TTL and another agent takes
/// over after the lock-delay. [`LeaderElection::resign`] releases the lock
/// at once (no lock-delay applies to a release).
pub struct LeaderElection {
    role: watch::Receiver<Role>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl LeaderElection {
    /// Starts campaigning. The role starts as a follower knowing no leader.
    pub fn start(client: ConsulClient, keys: Keys, config: ElectionConfig) -> LeaderElection {
        let (role_tx, role) = watch::channel(Role::no_leader());
        let (stop, stop_rx) = watch::channel(false);
        let elector = Elector {
            client,
            keys,
            config,
            role: role_tx,
        };
        let task = tokio::spawn(elector.run(stop_rx));
        LeaderElection { role, stop, task }
    }

    /// The role, updated on every change (hand it to
    /// [`ConsulStore::new`](crate::ConsulStore::new)).
    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    /// The role now.
    pub fn current(&self) -> Role {
        self.role.borrow().clone()
    }

    /// Steps down for good: releases the lock if held (another agent can
    /// take it at once) and destroys the session.
    pub async fn resign(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
    }
}

impl Drop for LeaderElection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a campaign with one session ended.
enum Exit {
    Stop,
    Lost(String),
}

/// Aborts the renewal task when the campaign ends, however it ends.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Elector {
    client: ConsulClient,
    keys: Keys,
    config: ElectionConfig,
    role: watch::Sender<Role>,
}

/// Runs `f` unless the agent is stopping or the session is lost first.
async fn guarded<F: Future>(
    stop: &mut watch::Receiver<bool>,
    lost: &mut oneshot::Receiver<String>,
    f: F,
) -> Result<F::Output, Exit> {
    if *stop.borrow() {
        return Err(Exit::Stop);
    }
    tokio::select! {
        biased;
        _ = stop.wait_for(|s| *s) => Err(Exit::Stop),
        reason = &mut *lost => Err(Exit::Lost(reason.unwrap_or_else(|_| "the session renewal stopped".to_string()))),
        out = f => Ok(out),
    }
}

impl Elector {
    fn publish(&self, role: Role) {
        self.role.send_if_modified(|current| {
            if *current == role {
                return false;
            }
            match &role {
                Role::Leader(f) => {
                    tracing::info!(agent = %self.config.id, generation = f.generation, "leading")
                }
                Role::Follower { leader: Some(l) } => {
                    tracing::info!(agent = %self.config.id, leader = %l.id, "following")
                }
                Role::Follower { leader: None } => {
                    tracing::info!(agent = %self.config.id, "no leader known")
                }
            }
            *current = role;
            true
        });
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let session = match self.create_session().await {
                Ok(id) => id,
                Err(e) => {
                    tracing::warn!(agent = %self.config.id, error = %e, "cannot create a Consul session");
                    self.publish(Role::no_leader());
                    if self.pause(&mut stop).await {
                        return;
                    }
                    continue;
                }
            };
            let (lost_tx, mut lost) = oneshot::channel();
            let _renewer = AbortOnDrop(tokio::spawn(renew(
                self.client.clone(),
                session.clone(),
                self.config.renew_interval,
                lost_tx,
            )));
            let exit = self.campaign(&session, &mut stop, &mut lost).await;
            let held = self.role.borrow().is_leader();
            self.publish(Role::no_leader());
            match exit {
                Exit::Stop => {
                    if held {
                        let release = KvPutOptions {
                            release: Some(session.clone()),
                            ..KvPutOptions::default()
                        };
                        let _ = self.client.kv_put(&self.keys.leader(), "", &release).await;
                    }
                    let _ = self.client.session_destroy(&session).await;
                    return;
                }
                Exit::Lost(reason) => {
                    tracing::warn!(agent = %self.config.id, %reason, "stepping down, the session is lost");
                    // Best effort: if Consul still has the session, drop
                    // it so its lock does not outlive this campaign.
                    let _ = self.client.session_destroy(&session).await;
                    if self.pause(&mut stop).await {
                        return;
                    }
                }
            }
        }
    }

    /// Sleeps `retry_interval`; true if asked to stop meanwhile.
    async fn pause(&self, stop: &mut watch::Receiver<bool>) -> bool {
        let stopped = tokio::select! {
            _ = stop.wait_for(|s| *s) => true,
            _ = tokio::time::sleep(self.config.retry_interval) => false,
        };
        stopped || *stop.borrow()
    }

    async fn create_session(&self) -> Result<String, ConsulError> {
        self.client
            .session_create(&SessionCreate {
                name: Some(format!("dbaas leader election: {}", self.config.id)),
                ttl: Some(self.config.session_ttl),
                lock_delay: Some(self.config.lock_delay),
                behavior: Some(SessionBehavior::Release),
                ..SessionCreate::default()
            })
            .await
    }

    /// Follows the leader key with `session` until the session is lost or
    /// the agent stops.
    async fn campaign(
        &self,
        session: &str,
        stop: &mut watch::Receiver<bool>,
        lost: &mut oneshot::Receiver<String>,
    ) -> Exit {
        let key = self.keys.leader();
        let mut index = 0u64;
        loop {
            let opts = if index == 0 {
                QueryOptions::default()
            } else {
                QueryOptions::blocking(index, self.config.watch_wait)
            };
            let read = match guarded(stop, lost, self.client.kv_get(&key, &opts)).await {
                Ok(r) => r,
                Err(exit) => return exit,
            };
            let (entry, meta) = match read {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(agent = %self.config.id, error = %e, "cannot read the leader key");
                    if let Err(exit) = self.sleep(stop, lost).await {
                        return exit;
                    }
                    index = 0;
                    continue;
                }
            };
            // Consul's rule: an index going backwards resets the watch.
            index = if meta.last_index < index {
                0
            } else {
                meta.last_index.max(1)
            };
            let holder = entry.as_ref().and_then(|e| e.session.as_deref());
            match holder {
                Some(s) if s == session => {
                    if !self.role.borrow().is_leader() {
                        // The lock is ours but the generation was not
                        // bumped (that step failed): finish winning.
                        if let Err(exit) = self.win(session, stop, lost).await {
                            return exit;
                        }
                    }
                }
                Some(_) => {
                    if self.role.borrow().is_leader() {
                        return Exit::Lost("another session holds the leader lock".into());
                    }
                    self.publish(Role::Follower {
                        leader: entry.as_ref().and_then(leader_info),
                    });
                }
                None => {
                    if self.role.borrow().is_leader() {
                        return Exit::Lost("the leader lock was released".into());
                    }
                    let info = serde_json::to_vec(&LeaderInfo {
                        id: self.config.id.clone(),
                        address: self.config.address.clone(),
                    })
                    .expect("LeaderInfo serializes");
                    let acquire = KvPutOptions {
                        acquire: Some(session.to_string()),
                        ..KvPutOptions::default()
                    };
                    match guarded(stop, lost, self.client.kv_put(&key, info, &acquire)).await {
                        Err(exit) => return exit,
                        Ok(Ok(true)) => {
                            if let Err(exit) = self.win(session, stop, lost).await {
                                return exit;
                            }
                        }
                        Ok(Ok(false)) => {
                            // Taken meanwhile, or still under lock-delay:
                            // look again shortly.
                            self.publish(Role::no_leader());
                            if let Err(exit) = self.sleep(stop, lost).await {
                                return exit;
                            }
                            index = 0;
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(agent = %self.config.id, error = %e, "cannot take the leader lock");
                            if let Err(exit) = self.sleep(stop, lost).await {
                                return exit;
                            }
                            index = 0;
                        }
                    }
                }
            }
        }
    }

    async fn sleep(
        &self,
        stop: &mut watch::Receiver<bool>,
        lost: &mut oneshot::Receiver<String>,
    ) -> Result<(), Exit> {
        guarded(stop, lost, tokio::time::sleep(self.config.retry_interval)).await
    }

    /// Holding the lock: bumps the generation and becomes leader. An error
    /// leaves the role a follower; the next look at the key tries again.
    async fn win(
        &self,
        session: &str,
        stop: &mut watch::Receiver<bool>,
        lost: &mut oneshot::Receiver<String>,
    ) -> Result<(), Exit> {
        match guarded(
            stop,
            lost,
            bump_generation(&self.client, &self.keys, session),
        )
        .await?
        {
            Ok(fence) => {
                self.publish(Role::Leader(fence));
                Ok(())
            }
            Err(BumpError::LockLost) => {
                Err(Exit::Lost("the leader lock was lost while winning".into()))
            }
            Err(BumpError::Consul(e)) => {
                tracing::warn!(agent = %self.config.id, error = %e, "cannot bump the leadership generation");
                self.sleep(stop, lost).await
            }
        }
    }
}

fn leader_info(entry: &KvPair) -> Option<LeaderInfo> {
    serde_json::from_slice(entry.value.as_deref()?).ok()
}

enum BumpError {
    LockLost,
    Consul(ConsulError),
}

/// Increments the generation key by check-and-set, in a transaction that
/// also checks `session` holds the leader lock.
async fn bump_generation(
    client: &ConsulClient,
    keys: &Keys,
    session: &str,
) -> Result<Fence, BumpError> {
    let key = keys.generation();
    loop {
        let (pair, _) = client
            .kv_get(&key, &QueryOptions::default())
            .await
            .map_err(BumpError::Consul)?;
        let (current, index) = match &pair {
            Some(p) => (
                std::str::from_utf8(p.value.as_deref().unwrap_or_default())
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0),
                p.modify_index,
            ),
            None => (0, 0),
        };
        let next = current + 1;
        let ops = [
            TxnOp::Kv(TxnKvOp {
                verb: dbaas_consul::KvVerb::CheckSession,
                key: keys.leader(),
                value: None,
                flags: 0,
                index: 0,
                session: Some(session.to_string()),
            }),
            TxnOp::Kv(TxnKvOp::cas(&key, next.to_string(), index)),
        ];
        match client.txn(&ops).await {
            Ok(results) => {
                let generation_index = results
                    .iter()
                    .find_map(|r| match r {
                        TxnResult::Kv(kv) if kv.key == key => Some(kv.modify_index),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        BumpError::Consul(ConsulError::Decode {
                            what: "the generation bump".into(),
                            detail: "no result for the generation key".into(),
                        })
                    })?;
                return Ok(Fence {
                    generation: next,
                    generation_index,
                    session: session.to_string(),
                });
            }
            Err(ConsulError::TxnRolledBack(errors)) if errors.iter().any(|e| e.op_index == 0) => {
                return Err(BumpError::LockLost)
            }
            // The generation changed under us (a lost answer of our own
            // earlier try, or a deposed leader's stray bump): read again.
            Err(ConsulError::TxnRolledBack(_)) => continue,
            Err(e) => return Err(BumpError::Consul(e)),
        }
    }
}

/// Renews `session` every `interval`; reports the first failure on `lost`.
async fn renew(
    client: ConsulClient,
    session: String,
    interval: Duration,
    lost: oneshot::Sender<String>,
) {
    loop {
        tokio::time::sleep(interval).await;
        let reason = match client.session_renew(&session).await {
            Ok(Some(_)) => continue,
            Ok(None) => "the session expired or was destroyed".to_string(),
            Err(e) => format!("renewing the session failed: {e}"),
        };
        let _ = lost.send(reason);
        return;
    }
}
