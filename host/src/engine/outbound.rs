//! The one port through which a plugin's requests leave the sandbox. The engine admits a request
//! (caps, the origin gate, header rules) and records it; the embedder supplies an [`Outbound`]
//! that completes it (credentials, signatures, the execution id, a hidden URL made real) and
//! sends it. Policy and credentials stay outside the Wasm host code.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use url::{Origin, Url};

/// A request ready to leave the host: checked, credentials and signatures added.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The method.
    pub method: http::Method,
    /// The destination.
    pub url: Url,
    /// Headers, lowercase names.
    pub headers: Vec<(String, String)>,
    /// The exact bytes to send (the signatures cover them).
    pub body: Bytes,
}

/// A receiver's answer.
#[derive(Debug, Clone)]
pub struct InboundResponse {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body, at most the cap the caller gave.
    pub body: Vec<u8>,
}

/// Why a request got no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// Refused by the egress policy: no connection was made.
    #[error("denied: {0}")]
    Denied(String),
    /// The name did not resolve.
    #[error("dns: {0}")]
    Dns(String),
    /// No connection could be made.
    #[error("connect: {0}")]
    Connect(String),
    /// No answer in time.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The body was over the cap (bytes).
    #[error("the response body is over {0} bytes")]
    ResponseTooLarge(usize),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// A boxed future returned by [`Outbound::send`].
pub type SendFuture<'a> =
    Pin<Box<dyn Future<Output = Result<InboundResponse, TransportError>> + Send + 'a>>;

/// Where a plugin may send: the origin of its integration (as the plugin sees the integration's
/// URL) and the origins the operator granted it. Everything else is refused before a socket
/// opens.
#[derive(Debug, Clone, Default)]
pub struct OriginGate {
    /// The integration's origin, as the plugin sees it.
    pub integration: Option<Origin>,
    /// Origins granted to the plugin besides (reached without credentials).
    pub granted: Vec<Origin>,
}

/// What the embedder hands each execution: completes and sends the requests the sandbox admits.
pub trait Outbound: Send + Sync {
    /// Completes an admitted request with what the host owns (credentials, signatures, the
    /// execution id, the real URL of a hidden one). `to_integration` is true when it goes to the
    /// integration's origin. The result is what is sent and recorded.
    fn complete(&self, request: OutboundRequest, to_integration: bool) -> OutboundRequest;
    /// Sends a completed request, reading at most `max_response_bytes` of the answer.
    fn send(&self, request: OutboundRequest, max_response_bytes: usize) -> SendFuture<'_>;
    /// Cleans an answer before the plugin sees it: a receiver that echoes the request would
    /// otherwise hand the sandbox the credentials and secrets the host added to it.
    fn inbound(&self, response: InboundResponse) -> InboundResponse;
}

/// A plugin's request to run a launch job (the `launch.enqueue` import).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRequest {
    /// The queue, in the automation's entity.
    pub queue: String,
    /// The job: `name` or `name@version`.
    pub job: String,
    /// Config overrides (JSON object text).
    pub config: String,
    /// Higher runs first.
    pub priority: i32,
}

/// A boxed future returned by [`Launcher::enqueue`]: the item's id, or why not.
pub type EnqueueFuture<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// What the embedder hands an execution that may enqueue launch jobs: checks the request
/// against its entity's queues and jobs and enqueues it.
pub trait Launcher: Send + Sync {
    /// Enqueues a run; the error is told to the plugin.
    fn enqueue(&self, request: LaunchRequest) -> EnqueueFuture<'_>;
}
