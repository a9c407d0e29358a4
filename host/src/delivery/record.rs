//! The record an attempt leaves: every request and response with secrets redacted, bodies and
//! headers bounded, the plugin's log lines; what the API and console show of an attempt.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::redact::{REDACTED, Redactor};
use super::verdict::Verdict;
use crate::bounded::cut;
use crate::engine::ExecutionReport;

/// The most of a request or response body an attempt record keeps.
pub const RECORD_BODY_LIMIT: usize = 64 << 10;
/// The most body bytes one attempt record keeps across all its requests and responses; bodies
/// past it are recorded by their length only.
pub const RECORD_BODIES_LIMIT: usize = 256 << 10;
/// The longest message (a plugin's summary or error, a log line) a record keeps.
pub const MAX_MESSAGE_BYTES: usize = 4 << 10;

/// The error class of an attempt: the last request's, `http` for a refused response, `plugin`
/// for a sandbox failure, or none.
fn error_class(report: &ExecutionReport, verdict: &Verdict) -> Option<String> {
    if matches!(verdict, Verdict::Succeeded(_)) {
        return None;
    }
    if report.result.is_err() {
        return Some("plugin".into());
    }
    match report.requests.last() {
        Some(request) => match &request.error {
            Some((class, _)) => Some(class.clone()),
            None => Some("http".into()),
        },
        None => Some("plugin".into()),
    }
}

/// An attempt as stored and shown: every request with secrets redacted and bodies capped at
/// 64 KiB. Serialised straight to its JSON text (no intermediate `Value` tree: this is built for
/// every delivery).
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    /// The attempt's number, 1 for the first.
    pub number: u32,
    /// When it started (RFC 3339, milliseconds).
    pub started_at: String,
    /// How long the plugin ran, its requests included.
    pub duration_ms: f64,
    /// `succeeded`, `invalid`, `rejected`, `sandbox-error`, `unrunnable` or `transient`.
    pub outcome: &'static str,
    /// The plugin's summary or the reason it failed.
    pub message: String,
    /// The receiver's `Retry-After`, for a transient failure that had one.
    pub retry_after: Option<String>,
    /// What kind of failure, if it failed (`timeout`, `connect`, `http`, `plugin`, `config`, ...).
    pub error_class: Option<String>,
    /// The requests the plugin made, in order.
    pub requests: Vec<RequestView>,
    /// The plugin's log lines.
    pub logs: Vec<LogView>,
}

/// One request of an attempt, redacted.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    /// When it was made (RFC 3339, milliseconds).
    pub at: String,
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// The headers as sent, `[name, value]` pairs.
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: BodyView,
    /// Time from sending to the end of the response.
    pub duration_ms: f64,
    /// The receiver's answer, if one came.
    pub response: Option<ResponseView>,
    /// Why no answer came.
    pub error: Option<ErrorView>,
}

/// A receiver's answer, redacted.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseView {
    /// The status code.
    pub status: u16,
    /// The headers, `[name, value]` pairs.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: BodyView,
}

/// A body as text, or its first 64 KiB and its length when it was longer, or only its length
/// once the attempt's record has kept [`RECORD_BODIES_LIMIT`] bytes of bodies.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum BodyView {
    /// The whole body.
    Whole(String),
    /// The body's start.
    Truncated {
        /// The first 64 KiB.
        text: String,
        /// Always true.
        truncated: bool,
        /// The whole body's length in bytes.
        length: usize,
    },
    /// Not kept: the attempt's record already holds as many body bytes as it may, or the body
    /// is older than `[retention] attempt_bodies`.
    Omitted {
        /// Always true.
        omitted: bool,
        /// The body's length in bytes.
        length: usize,
    },
}

/// Why a request got no answer.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorView {
    /// `denied`, `dns`, `connect`, `timeout`, ...
    pub class: String,
    /// What happened, redacted.
    pub message: String,
}

/// A plugin's log line, redacted.
#[derive(Debug, Clone, Serialize)]
pub struct LogView {
    /// `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The text.
    pub message: String,
}

/// A body as recorded: redacted whole first (so that a secret cut by the limit leaves no
/// prefix behind), then cut to what the attempt's remaining `budget` allows.
fn recorded_body(redactor: &Redactor, bytes: &[u8], budget: &mut usize) -> BodyView {
    if bytes.is_empty() {
        return BodyView::Whole(String::new());
    }
    if *budget == 0 {
        return BodyView::Omitted {
            omitted: true,
            length: bytes.len(),
        };
    }
    let text = redactor.bytes(bytes);
    let limit = RECORD_BODY_LIMIT.min(*budget);
    if text.len() <= limit {
        *budget -= text.len();
        return BodyView::Whole(text);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // Never end inside a redaction marker: a cut marker would read as part of the body.
    if let Some(start) = text[..end].rfind('[')
        && REDACTED.starts_with(&text[start..end])
    {
        end = start;
    }
    *budget -= end;
    BodyView::Truncated {
        text: text[..end].to_string(),
        truncated: true,
        length: bytes.len(),
    }
}

/// The most header bytes a record keeps per request or response; the rest are counted.
const RECORD_HEADERS_LIMIT: usize = 16 << 10;

/// Headers as recorded: redacted, and at most [`RECORD_HEADERS_LIMIT`] bytes of them, with a
/// last pseudo-header saying how many were left out.
fn recorded_headers(redactor: &Redactor, headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut kept = Vec::new();
    let mut bytes = 0;
    let redacted = redactor.headers(headers);
    let total = redacted.len();
    for (name, value) in redacted {
        bytes += name.len() + value.len();
        if bytes > RECORD_HEADERS_LIMIT {
            break;
        }
        kept.push((name, value));
    }
    if kept.len() < total {
        let left = total - kept.len();
        kept.push((
            "x-herald-note".into(),
            format!("{left} more header(s) not recorded: record limit reached"),
        ));
    }
    kept
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn rfc3339_millis(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// The attempt as stored: every request with secrets redacted and bodies capped at 64 KiB.
pub fn attempt_record(
    attempt: u32,
    started: SystemTime,
    report: &ExecutionReport,
    verdict: &Verdict,
    redactor: &Redactor,
) -> AttemptRecord {
    let mut budget = RECORD_BODIES_LIMIT;
    let requests = report
        .requests
        .iter()
        .map(|r| RequestView {
            at: rfc3339_millis(r.at),
            method: r.method.clone(),
            url: redactor.text(&r.url),
            headers: recorded_headers(redactor, &r.headers),
            body: recorded_body(redactor, &r.body, &mut budget),
            duration_ms: millis(r.duration),
            response: r.response.as_ref().map(|response| ResponseView {
                status: response.status,
                headers: recorded_headers(redactor, &response.headers),
                body: recorded_body(redactor, &response.body, &mut budget),
            }),
            error: r.error.as_ref().map(|(class, message)| ErrorView {
                class: class.clone(),
                message: cut(&redactor.text(message), MAX_MESSAGE_BYTES),
            }),
        })
        .collect();
    let (outcome, message, retry_after) = match verdict {
        Verdict::Succeeded(summary) => ("succeeded", summary, None),
        Verdict::Permanent { kind, message } => (kind.as_str(), message, None),
        Verdict::Transient {
            reason,
            retry_after,
        } => ("transient", reason, retry_after.clone()),
    };
    AttemptRecord {
        number: attempt,
        started_at: rfc3339_millis(started),
        duration_ms: millis(report.duration),
        outcome,
        message: cut(&redactor.text(message), MAX_MESSAGE_BYTES),
        retry_after,
        error_class: error_class(report, verdict),
        requests,
        logs: report
            .logs
            .iter()
            .map(|line| LogView {
                level: line.level,
                message: redactor.text(&line.message),
            })
            .collect(),
    }
}

pub(super) fn unrunnable_record(attempt: u32, started: SystemTime, reason: &str) -> AttemptRecord {
    AttemptRecord {
        number: attempt,
        started_at: rfc3339_millis(started),
        duration_ms: 0.0,
        outcome: "unrunnable",
        message: reason.to_string(),
        retry_after: None,
        error_class: Some("config".into()),
        requests: Vec::new(),
        logs: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_cut_by_the_body_limit_leaves_no_prefix() {
        let secret = "S3CRET-VALUE-1234567890";
        let redactor = Redactor::new([secret]);
        // The secret straddles the 64 KiB boundary.
        let mut body = "x".repeat(RECORD_BODY_LIMIT - 5);
        body.push_str(secret);
        body.push_str(&"y".repeat(100));
        let mut budget = RECORD_BODIES_LIMIT;
        let BodyView::Truncated { text, .. } =
            recorded_body(&redactor, body.as_bytes(), &mut budget)
        else {
            panic!("not truncated")
        };
        assert!(!text.contains("S3CR"), "a prefix of the secret was kept");
        assert!(text.ends_with('x') || text.ends_with(REDACTED));
    }

    #[test]
    fn bodies_past_the_attempt_budget_are_omitted() {
        let redactor = Redactor::default();
        let body = vec![b'a'; RECORD_BODY_LIMIT * 2];
        let mut budget = RECORD_BODIES_LIMIT;
        for _ in 0..RECORD_BODIES_LIMIT / RECORD_BODY_LIMIT {
            assert!(matches!(
                recorded_body(&redactor, &body, &mut budget),
                BodyView::Truncated { .. }
            ));
        }
        assert!(matches!(
            recorded_body(&redactor, &body, &mut budget),
            BodyView::Omitted { length, .. } if length == body.len()
        ));
    }

    #[test]
    fn messages_are_cut_and_say_so() {
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let kept = cut(&long, MAX_MESSAGE_BYTES);
        assert!(kept.len() < MAX_MESSAGE_BYTES + 40);
        assert!(kept.ends_with(&format!("[cut: {} bytes in all]", long.len())));
    }
}
