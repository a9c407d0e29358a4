//! What one execution may reach outside its sandbox and what it did there: the [`HostIo`] the
//! embedder hands in (the origin gate, the outbound port, the launcher), the caps the `http`
//! import enforces, and the record of every request.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::outbound::{Launcher, OriginGate, Outbound};

/// Requests past the request budget that are still recorded (each refused); past these they are
/// only counted, so that a plugin looping on refused requests cannot grow its record.
const MAX_REFUSED_RECORDS: usize = 8;
/// The longest URL a record keeps; a longer one is cut and says so.
pub(super) const MAX_RECORDED_URL: usize = 2 << 10;
/// Everything `execute` may use to reach outside: the origin gate and the embedder's port.
pub struct HostIo {
    pub(super) gate: OriginGate,
    pub(super) port: Box<dyn Outbound>,
    pub(super) launcher: Option<Box<dyn Launcher>>,
    /// Enqueues asked for (capped like requests).
    pub(super) enqueued: u32,
    pub(super) records: Vec<RequestRecord>,
    /// Requests asked for in all, recorded or not.
    pub(super) requested: usize,
}

impl HostIo {
    /// I/O for one execution: requests the gate admits are completed and sent by `port`.
    pub fn new(gate: OriginGate, port: Box<dyn Outbound>) -> Self {
        Self {
            gate,
            port,
            launcher: None,
            enqueued: 0,
            records: Vec::new(),
            requested: 0,
        }
    }

    /// Lets the execution enqueue launch jobs through `launcher`.
    pub fn with_launcher(mut self, launcher: Box<dyn Launcher>) -> Self {
        self.launcher = Some(launcher);
        self
    }

    /// Keeps a record unless the plugin is past its budget of recorded refusals.
    pub(super) fn keep(&mut self, record: RequestRecord, max_requests: u32) {
        if self.records.len() < max_requests as usize + MAX_REFUSED_RECORDS {
            self.records.push(record);
        }
    }
}

/// A URL (or method, or header name) as a record keeps it: at most [`MAX_RECORDED_URL`] bytes.
pub(super) fn recorded_url(url: &str) -> String {
    crate::bounded::cut(url, MAX_RECORDED_URL)
}

/// One request a plugin asked for, as the host sent it (or why it did not).
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    /// When the host took the request.
    pub at: SystemTime,
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// The headers as sent, credentials included: redact before showing or storing.
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: Vec<u8>,
    /// The receiver's answer, if one came.
    pub response: Option<ResponseRecord>,
    /// Why there was no answer: (class, message), e.g. `("denied", "...")`.
    pub error: Option<(String, String)>,
    /// Time from sending to the end of the response (zero if not sent).
    pub duration: Duration,
}

/// The receiver's answer to a recorded request.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseRecord {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body (as much as the host accepted).
    pub body: Vec<u8>,
}

/// The caps the `http` import enforces, copied out of the store's limits.
#[derive(Debug, Clone, Copy)]
pub(super) struct IoLimits {
    pub max_requests: u32,
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
}
