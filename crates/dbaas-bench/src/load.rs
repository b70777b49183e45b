//! GET throughput: a closed-loop load generator (a fixed number of tasks,
//! each with its own reqwest client and keep-alive connection, each sending
//! its next request as soon as the previous one is answered), and the peer
//! it is compared with, a hello-world axum server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};

/// How one load run went.
pub struct LoadResult {
    /// Successful answers completed within the measured window.
    pub ok: u64,
    /// Failed requests (transport errors, non-2xx, empty bodies) completed
    /// within the measured window.
    pub errors: u64,
    /// Successful answers per second over the measured window.
    pub rps: f64,
}

/// Load parameters, the same for every server.
#[derive(Clone, Copy)]
pub struct Load {
    pub concurrency: usize,
    /// Requests answered during the warm-up are not counted.
    pub warmup: Duration,
    pub measure: Duration,
    /// Safety bound on the requests sent in one run.
    pub max_requests: u64,
}

/// Sends GET `url` (which must be on 127.0.0.1) from `load.concurrency`
/// tasks for `load.warmup + load.measure`.
pub async fn run(url: &str, load: Load) -> anyhow::Result<LoadResult> {
    ensure!(
        url.starts_with("http://127.0.0.1:"),
        "load goes to 127.0.0.1 only, not {url}"
    );
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let warm_end = start + load.warmup;
    let end = warm_end + load.measure;
    let mut tasks = Vec::with_capacity(load.concurrency);
    for _ in 0..load.concurrency {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(1)
            .build()?;
        let url = url.to_string();
        let issued = issued.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors) = (0u64, 0u64);
            while Instant::now() < end && issued.fetch_add(1, Ordering::Relaxed) < load.max_requests
            {
                let answered = match http.get(&url).send().await {
                    Ok(resp) if resp.status().is_success() => {
                        resp.bytes().await.is_ok_and(|b| !b.is_empty())
                    }
                    _ => false,
                };
                let done = Instant::now();
                if done >= warm_end && done < end {
                    if answered {
                        ok += 1;
                    } else {
                        errors += 1;
                    }
                }
            }
            (ok, errors)
        }));
    }
    let (mut ok, mut errors) = (0, 0);
    for task in tasks {
        let (o, e) = task.await.context("a load task panicked")?;
        ok += o;
        errors += e;
    }
    // The window is shorter than asked if the request bound stopped it.
    let window = Instant::now().min(end).saturating_duration_since(warm_end);
    let rps = if window.is_zero() {
        0.0
    } else {
        ok as f64 / window.as_secs_f64()
    };
    Ok(LoadResult { ok, errors, rps })
}

/// A hello-world axum server on 127.0.0.1:0, on a thread with a
/// multi-threaded tokio runtime of its own (as the agent has in its own
/// process), answering GET /hello with a small JSON body. Stopped when
/// dropped.
pub struct HelloServer {
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HelloServer {
    pub fn start() -> anyhow::Result<HelloServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}/hello", listener.local_addr()?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("hello-axum".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let app = axum::Router::new().route(
                        "/hello",
                        axum::routing::get(|| async {
                            axum::Json(serde_json::json!({ "message": "hello, world" }))
                        }),
                    );
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                })
            })?;
        Ok(HelloServer {
            url,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for HelloServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
