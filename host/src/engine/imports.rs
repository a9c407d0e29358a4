//! The host side of the plugin imports: `http` (caps, the origin gate, header rules, recording;
//! the embedder's [`Outbound`](super::outbound::Outbound) completes and sends), `log` and
//! `launch`. Everything a plugin does outside its memory passes here; what it may reach and the
//! records are `io.rs`.

use std::time::{Duration, Instant, SystemTime};

use url::Url;

use super::bindings::herald::plugin::{http, launch, log, types};
use super::bindings::{Header, HttpError, HttpRequest, HttpResponse, LogLevel, RunRequest};
use super::io::{HostIo, IoLimits, RequestRecord, ResponseRecord, recorded_url};
use super::outbound::{LaunchRequest, OutboundRequest, TransportError};
use super::state::ExecState;

/// The most header bytes (names and values) a plugin's request may carry.
pub const MAX_REQUEST_HEADER_BYTES: usize = 32 << 10;

/// Headers the host owns: a plugin's values for these are dropped.
const HOST_OWNED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "authorization",
    "x-wandb-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

impl types::Host for ExecState {}

impl log::Host for ExecState {
    async fn write(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.push_log(level, &message);
        Ok(())
    }
}

impl launch::Host for ExecState {
    async fn enqueue(&mut self, request: RunRequest) -> wasmtime::Result<Result<String, String>> {
        let max = self.io_limits().max_requests;
        let Some(io) = self.io.as_mut() else {
            return Ok(Err("describe and validate-config may not enqueue".into()));
        };
        let Some(launcher) = io.launcher.as_ref() else {
            return Ok(Err(
                "launch queues are not available here (a test or a local run)".into(),
            ));
        };
        if io.enqueued >= max {
            return Ok(Err(format!("at most {max} enqueues per execution")));
        }
        io.enqueued += 1;
        let request = LaunchRequest {
            queue: request.queue,
            job: request.job,
            config: request.config,
            priority: request.priority,
        };
        Ok(launcher.enqueue(request).await)
    }
}

impl http::Host for ExecState {
    async fn send(
        &mut self,
        request: HttpRequest,
    ) -> wasmtime::Result<Result<HttpResponse, HttpError>> {
        let limits = self.io_limits();
        let Some(io) = self.io.as_mut() else {
            return Ok(Err(HttpError::Denied(
                "describe and validate-config may not make requests".into(),
            )));
        };
        let at = SystemTime::now();
        io.requested += 1;
        let mut record = RequestRecord {
            at,
            method: recorded_url(&request.method),
            url: recorded_url(&request.url),
            headers: Vec::new(),
            body: Vec::new(),
            response: None,
            error: None,
            duration: Duration::ZERO,
        };
        let outbound = match prepare(io, request, &limits) {
            Ok(outbound) => outbound,
            Err(error) => {
                record.error = Some(error_class(&error));
                io.keep(record, limits.max_requests);
                return Ok(Err(error));
            }
        };
        record.headers = outbound.headers.clone();
        record.body = outbound.body.to_vec();
        let started = Instant::now();
        let result = io.port.send(outbound, limits.max_response_bytes).await;
        let waited = started.elapsed();
        self.add_host_wait(waited);
        record.duration = waited;
        let reply = match result {
            Ok(response) => {
                record.response = Some(ResponseRecord {
                    status: response.status,
                    headers: response.headers.clone(),
                    body: response.body.clone(),
                });
                // The plugin sees the answer only as the port cleaned it.
                let response = match self.io.as_ref() {
                    Some(io) => io.port.inbound(response),
                    None => response,
                };
                Ok(HttpResponse {
                    status: response.status,
                    headers: response
                        .headers
                        .into_iter()
                        .map(|(name, value)| Header { name, value })
                        .collect(),
                    body: response.body,
                })
            }
            Err(error) => {
                let error = transport_error(error);
                record.error = Some(error_class(&error));
                Err(error)
            }
        };
        if let Some(io) = self.io.as_mut() {
            io.keep(record, limits.max_requests);
        }
        Ok(reply)
    }
}

/// Checks a plugin's request against the caps, the gate and the header rules, then has the port
/// complete it.
fn prepare(
    io: &HostIo,
    request: HttpRequest,
    limits: &IoLimits,
) -> Result<OutboundRequest, HttpError> {
    // Every request asked for counts, refused ones included (`requested` counts this one).
    if io.requested as u64 > u64::from(limits.max_requests) {
        return Err(HttpError::LimitExceeded(format!(
            "at most {} requests per execution",
            limits.max_requests
        )));
    }
    let url = Url::parse(&request.url).map_err(|e| {
        HttpError::InvalidRequest(format!("bad URL {:?}: {e}", recorded_url(&request.url)))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HttpError::InvalidRequest(format!(
            "only http and https URLs can be sent, not {}:",
            url.scheme()
        )));
    }
    let method = ::http::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
        HttpError::InvalidRequest(format!("bad method {:?}", recorded_url(&request.method)))
    })?;
    let header_bytes: usize = request
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len())
        .sum();
    if header_bytes > MAX_REQUEST_HEADER_BYTES {
        return Err(HttpError::LimitExceeded(format!(
            "{header_bytes} bytes of headers is over the {MAX_REQUEST_HEADER_BYTES} byte limit"
        )));
    }
    if request.body.len() > limits.max_request_bytes {
        return Err(HttpError::LimitExceeded(format!(
            "request body of {} bytes is over the {} byte limit",
            request.body.len(),
            limits.max_request_bytes
        )));
    }

    let origin = url.origin();
    let to_integration = io.gate.integration.as_ref() == Some(&origin);
    if !to_integration && !io.gate.granted.contains(&origin) {
        return Err(HttpError::Denied(match &io.gate.integration {
            Some(integration) => format!(
                "{} is not the integration's origin ({}) nor granted to this plugin",
                origin.ascii_serialization(),
                integration.ascii_serialization()
            ),
            None => format!(
                "{} is not granted to this plugin (the automation has no integration)",
                origin.ascii_serialization()
            ),
        }));
    }

    let mut headers = Vec::with_capacity(request.headers.len() + 6);
    for Header { name, value } in request.headers {
        ::http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            HttpError::InvalidRequest(format!("bad header name {:?}", recorded_url(&name)))
        })?;
        ::http::HeaderValue::from_str(&value)
            .map_err(|_| HttpError::InvalidRequest(format!("bad value for header {name}")))?;
        if !HOST_OWNED_HEADERS
            .iter()
            .any(|owned| name.eq_ignore_ascii_case(owned))
        {
            headers.push((name.to_ascii_lowercase(), value));
        }
    }
    if !headers.iter().any(|(name, _)| name == "user-agent") {
        headers.push(("user-agent".into(), crate::USER_AGENT.into()));
    }

    let request = OutboundRequest {
        method,
        url,
        headers,
        body: request.body.into(),
    };
    Ok(io.port.complete(request, to_integration))
}

fn transport_error(error: TransportError) -> HttpError {
    match error {
        TransportError::Denied(m) => HttpError::Denied(m),
        TransportError::Dns(m) => HttpError::Dns(m),
        TransportError::Connect(m) => HttpError::Connect(m),
        TransportError::Timeout(m) => HttpError::Timeout(m),
        TransportError::ResponseTooLarge(limit) => {
            HttpError::ResponseTooLarge(format!("the response body is over {limit} bytes"))
        }
        TransportError::Other(m) => HttpError::Other(m),
    }
}

/// The error class stored with an attempt, and the message.
fn error_class(error: &HttpError) -> (String, String) {
    let (class, message) = match error {
        HttpError::Denied(m) => ("denied", m),
        HttpError::InvalidRequest(m) => ("invalid", m),
        HttpError::LimitExceeded(m) => ("limit", m),
        HttpError::Dns(m) => ("dns", m),
        HttpError::Connect(m) => ("connect", m),
        HttpError::Timeout(m) => ("timeout", m),
        HttpError::ResponseTooLarge(m) => ("too-large", m),
        HttpError::Other(m) => ("http", m),
    };
    (class.to_string(), message.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::io::MAX_RECORDED_URL;

    #[test]
    fn long_urls_are_cut_in_records() {
        let url = format!("https://example.com/{}", "é".repeat(4000));
        let kept = recorded_url(&url);
        assert!(kept.len() < MAX_RECORDED_URL + 64, "{}", kept.len());
        assert!(kept.ends_with(&format!("[cut: {} bytes in all]", url.len())));
        assert_eq!(recorded_url("https://example.com/"), "https://example.com/");
    }
}
