//! Receivers on 127.0.0.1: a real HTTP server that records every request and answers as told,
//! and a probe that only counts connections (proof that nothing was sent somewhere).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use tokio::sync::Notify;

/// One request a [`Receiver`] saw.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// The method.
    pub method: Method,
    /// Path and query.
    pub uri: Uri,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
}

impl Recorded {
    /// A header's value as text ("" when absent).
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    /// The body parsed as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// What a [`Receiver`] answers: status, headers, body.
pub(crate) type Reply = (u16, Vec<(&'static str, String)>, String);

type Responder = Arc<dyn Fn(usize, &Recorded) -> Reply + Send + Sync>;

/// A real HTTP server on 127.0.0.1 that records every request and answers as told.
pub(crate) struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver that answers every request `200 ok`.
    pub(crate) async fn ok() -> Self {
        Self::start(|_, _| (200, vec![], "ok".into())).await
    }

    /// A receiver whose answer to the n-th request (0-based) `respond` decides.
    pub(crate) async fn start(
        respond: impl Fn(usize, &Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let responder: Responder = Arc::new(respond);
        let app = {
            let requests = requests.clone();
            let arrived = arrived.clone();
            axum::Router::new().fallback(
                move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                    let requests = requests.clone();
                    let arrived = arrived.clone();
                    let responder = responder.clone();
                    async move {
                        let recorded = Recorded {
                            method,
                            uri,
                            headers,
                            body,
                        };
                        let index = {
                            let mut all = requests.lock().unwrap();
                            all.push(recorded.clone());
                            all.len() - 1
                        };
                        arrived.notify_waiters();
                        // On a blocking thread, so that a responder may sleep (a slow receiver)
                        // without stalling the others.
                        let (status, headers, body) =
                            tokio::task::spawn_blocking(move || responder(index, &recorded))
                                .await
                                .unwrap();
                        let mut response =
                            axum::response::Response::new(axum::body::Body::from(body));
                        *response.status_mut() = StatusCode::from_u16(status).unwrap();
                        for (name, value) in headers {
                            response.headers_mut().insert(name, value.parse().unwrap());
                        }
                        response
                    }
                },
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            requests,
            arrived,
            task,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived (panics after `limit`).
    pub(crate) async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.arrived.notified();
            let seen = self.requests();
            if seen.len() >= count {
                return seen;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "waited {limit:?} for {count} requests, saw {}",
                    self.requests().len()
                );
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP listener that only counts connections: proof that nothing was sent somewhere.
pub(crate) struct ConnectionProbe {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<Mutex<Vec<SocketAddr>>>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectionProbe {
    /// Starts listening on an ephemeral port.
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (seen, notify) = (accepted.clone(), arrived.clone());
        let task = tokio::spawn(async move {
            while let Ok((_, peer)) = listener.accept().await {
                seen.lock().unwrap().push(peer);
                notify.notify_waiters();
            }
        });
        Self {
            addr,
            accepted,
            arrived,
            task,
        }
    }

    /// How many connections arrived before now. The probe connects to itself and waits until
    /// that marker is accepted: the backlog is FIFO, so every earlier connection has been
    /// counted by then. No sleeping, no race.
    pub(crate) async fn connections(&self) -> usize {
        let marker = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let marker_addr = marker.local_addr().unwrap();
        loop {
            let notified = self.arrived.notified();
            let seen = self.accepted.lock().unwrap().clone();
            if let Some(position) = seen.iter().position(|peer| *peer == marker_addr) {
                // Remove the marker so that the probe can be asked again.
                self.accepted.lock().unwrap().remove(position);
                return position;
            }
            tokio::time::timeout(Duration::from_secs(5), notified)
                .await
                .expect("the marker arrives");
        }
    }
}

impl Drop for ConnectionProbe {
    fn drop(&mut self) {
        self.task.abort();
    }
}
