//! Watching one key with blocking queries.

use std::time::{Duration, Instant};

use crate::client::{ConsulClient, QueryOptions};
use crate::error::ConsulError;
use crate::types::KvPair;

/// Reports each change of one KV key by looping blocking queries.
///
/// The loop follows the rules Consul documents for blocking queries: a
/// return is not proof of change (so the entry is compared), an index that
/// goes backwards (snapshot restore, new cluster) resets the loop to a
/// plain read, the index is never below 1 once known (a 0 would make every
/// query return at once), and the loop is rate-limited by a token bucket
/// so a misbehaving server cannot make it spin.
#[derive(Debug)]
pub struct KeyWatcher {
    client: ConsulClient,
    key: String,
    wait: Duration,
    index: u64,
    /// The entry last reported; `None` before the first report.
    last: Option<Option<KvPair>>,
    bucket: TokenBucket,
}

impl KeyWatcher {
    pub(crate) fn new(client: ConsulClient, key: String, wait: Duration) -> Self {
        Self {
            client,
            key,
            wait,
            index: 0,
            last: None,
            bucket: TokenBucket::new(2.0, Duration::from_millis(50)),
        }
    }

    /// Sets the minimum spacing of queries beyond a burst of two.
    pub fn with_min_interval(mut self, interval: Duration) -> Self {
        self.bucket = TokenBucket::new(2.0, interval);
        self
    }

    /// The index the next blocking query will wait on.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The key's state once it differs from the last one reported: the
    /// first call answers at once with the current state; later calls
    /// block until the entry (value, flags, lock) changes or disappears.
    /// `None` means the key does not exist.
    pub async fn next(&mut self) -> Result<Option<KvPair>, ConsulError> {
        loop {
            self.bucket.take().await;
            let opts = QueryOptions {
                index: (self.index > 0).then_some(self.index),
                wait: (self.index > 0).then_some(self.wait),
                ..QueryOptions::default()
            };
            let (entry, meta) = self.client.kv_get(&self.key, &opts).await?;
            if meta.last_index < self.index {
                // Consul's rule: an index going backwards means the data was
                // replaced wholesale; restart from a non-blocking read.
                tracing::debug!(key = %self.key, from = self.index, to = meta.last_index, "Consul index went backwards; resetting the watch");
                self.index = 0;
            } else {
                self.index = meta.last_index.max(1);
            }
            if self.last.as_ref() != Some(&entry) {
                self.last = Some(entry.clone());
                return Ok(entry);
            }
        }
    }
}

/// A token bucket: `burst` queries at once, then one per `interval`.
#[derive(Debug)]
struct TokenBucket {
    burst: f64,
    interval: Duration,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(burst: f64, interval: Duration) -> Self {
        Self {
            burst,
            interval,
            tokens: burst,
            refilled: Instant::now(),
        }
    }

    async fn take(&mut self) {
        let now = Instant::now();
        if !self.interval.is_zero() {
            let earned =
                now.duration_since(self.refilled).as_secs_f64() / self.interval.as_secs_f64();
            self.tokens = (self.tokens + earned).min(self.burst);
        } else {
            self.tokens = self.burst;
        }
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return;
        }
        let missing = self.interval.mul_f64(1.0 - self.tokens);
        tokio::time::sleep(missing).await;
        self.tokens = 0.0;
        self.refilled = Instant::now();
    }
}
