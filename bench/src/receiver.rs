//! The benchmark's receiver: a plain HTTP server on 127.0.0.1 that answers `200 ok` at once,
//! counts requests, and notes when each sequence number arrived (for end-to-end latency).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::HeaderMap;

/// What the receiver saw.
#[derive(Default)]
pub(crate) struct Seen {
    /// Requests received.
    pub count: AtomicU64,
    /// (sequence number, arrival) of each request that carried one (`{"seq": "<n>"}`).
    pub arrivals: Mutex<Vec<(u64, Instant)>>,
}

/// A running receiver.
pub(crate) struct BenchReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it saw.
    pub seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl BenchReceiver {
    /// Starts the receiver on an ephemeral port.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let seen = Arc::new(Seen::default());
        let state = seen.clone();
        let app = axum::Router::new().fallback(move |_headers: HeaderMap, body: Bytes| {
            let seen = state.clone();
            async move {
                let now = Instant::now();
                seen.count.fetch_add(1, Ordering::Relaxed);
                if let Some(seq) = sequence(&body) {
                    seen.arrivals.lock().expect("not poisoned").push((seq, now));
                }
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, seen, task })
    }

    /// Requests received so far.
    pub(crate) fn count(&self) -> u64 {
        self.seen.count.load(Ordering::Relaxed)
    }

    /// Takes the recorded arrivals.
    pub(crate) fn take_arrivals(&self) -> Vec<(u64, Instant)> {
        std::mem::take(&mut *self.seen.arrivals.lock().expect("not poisoned"))
    }
}

impl Drop for BenchReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `"seq"` of a body like `{"seq":"42",...}`, without a full JSON parse on the hot path.
fn sequence(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"seq\":\"")? + 7;
    let end = text[start..].find('"')? + start;
    text[start..end].parse().ok()
}
