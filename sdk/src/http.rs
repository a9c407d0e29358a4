//! HTTP through the host: the only network a plugin has.

use crate::__bindings::herald::plugin::http as wit;
use crate::ActionError;

pub use wit::HttpError;

/// A request to send through the host (see [`Request::post`]).
///
/// # Example
///
/// ```no_run
/// # fn f(invocation: &herald_sdk::Invocation) -> Result<(), herald_sdk::ActionError> {
/// use herald_sdk::http::Request;
///
/// let response = Request::post(invocation.integration_url()?)
///     .header("x-source", "herald")
///     .json(&serde_json::json!({"text": "hello"}))
///     .send()?
///     .classify()?;
/// # let _ = response; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// A request with any method.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let request = herald_sdk::http::Request::new("PUT", "https://api.example.com/items/7");
    /// ```
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `POST` request.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let request = herald_sdk::http::Request::post("https://hooks.example.com/in");
    /// ```
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let request = herald_sdk::http::Request::post("https://hooks.example.com/in")
    ///     .header("x-github-api-version", "2022-11-28");
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body to these JSON bytes, sent as they are, with `Content-Type: application/json`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: &herald_sdk::Invocation) -> Result<(), herald_sdk::ActionError> {
    /// // The rendered payload, byte for byte (the host signs exactly these bytes).
    /// let body = invocation.payload().unwrap_or("{}").as_bytes().to_vec();
    /// let request = herald_sdk::http::Request::post(invocation.integration_url()?).json_bytes(body);
    /// # Ok(()) }
    /// ```
    pub fn json_bytes(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self.header("content-type", "application/json")
    }

    /// Sets the body to a serialised JSON value, with `Content-Type: application/json`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let request = herald_sdk::http::Request::post("https://hooks.example.com/in")
    ///     .json(&serde_json::json!({"text": "model promoted"}));
    /// ```
    pub fn json(self, value: &serde_json::Value) -> Self {
        let bytes = serde_json::to_vec(value).expect("a JSON value always serialises");
        self.json_bytes(bytes)
    }

    /// Sets a raw body.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let request = herald_sdk::http::Request::post("https://hooks.example.com/in")
    ///     .header("content-type", "text/plain")
    ///     .body("model promoted");
    /// ```
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Asks the host to send the request. Transport failures become [`ActionError`]s: a
    /// denied destination or a malformed request is `Invalid`, a response too large is
    /// `Rejected`, and network trouble is `Transient`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f() -> Result<(), herald_sdk::ActionError> {
    /// // A refused destination or a network failure becomes the matching ActionError.
    /// let response = herald_sdk::http::Request::post("https://hooks.example.com/in").send()?;
    /// herald_sdk::info!("answered {}", response.status);
    /// # Ok(()) }
    /// ```
    pub fn send(self) -> Result<Response, ActionError> {
        self.try_send().map_err(http_error_to_action_error)
    }

    /// Like [`Request::send`], but returns the host's error unclassified.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use herald_sdk::http::{HttpError, Request, http_error_to_action_error};
    ///
    /// # fn f() -> Result<(), herald_sdk::ActionError> {
    /// match Request::post("https://hooks.example.com/in").try_send() {
    ///     Ok(response) => herald_sdk::info!("answered {}", response.status),
    ///     // Decide for yourself, for example: a timeout is worth a note before retrying.
    ///     Err(HttpError::Timeout(message)) => return Err(herald_sdk::ActionError::transient(message)),
    ///     Err(other) => return Err(http_error_to_action_error(other)),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn try_send(self) -> Result<Response, HttpError> {
        let request = wit::Request {
            method: self.method,
            url: self.url,
            headers: self
                .headers
                .into_iter()
                .map(
                    |(name, value)| crate::__bindings::herald::plugin::types::Header {
                        name,
                        value,
                    },
                )
                .collect(),
            body: self.body,
        };
        wit::send(&request).map(|r| Response {
            status: r.status,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
        })
    }
}

/// Turns a host transport error into the action error the host should act on.
///
/// # Example
///
/// ```no_run
/// # fn f() -> Result<(), herald_sdk::ActionError> {
/// use herald_sdk::http::{Request, http_error_to_action_error};
///
/// let response = Request::post("https://hooks.example.com/in")
///     .try_send()
///     .map_err(http_error_to_action_error)?;
/// # let _ = response; Ok(()) }
/// ```
pub fn http_error_to_action_error(error: HttpError) -> ActionError {
    match error {
        HttpError::Denied(m) => ActionError::Invalid(format!("destination denied: {m}")),
        HttpError::InvalidRequest(m) => ActionError::Invalid(format!("invalid request: {m}")),
        HttpError::LimitExceeded(m) => ActionError::Invalid(format!("limit exceeded: {m}")),
        HttpError::ResponseTooLarge(m) => ActionError::Rejected(format!("response too large: {m}")),
        HttpError::Dns(m) => ActionError::transient(format!("dns: {m}")),
        HttpError::Connect(m) => ActionError::transient(format!("connect: {m}")),
        HttpError::Timeout(m) => ActionError::transient(format!("timeout: {m}")),
        HttpError::Other(m) => ActionError::transient(m),
    }
}

/// The receiver's answer.
///
/// # Example
///
/// ```no_run
/// # fn f() -> Result<(), herald_sdk::ActionError> {
/// let response = herald_sdk::http::Request::post("https://hooks.example.com/in").send()?;
/// herald_sdk::info!("{} ({} bytes)", response.status, response.body.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(response: herald_sdk::http::Response) {
    /// let retry_after = response.header("Retry-After"); // names compare case-insensitively
    /// # }
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(response: herald_sdk::http::Response) {
    /// herald_sdk::warn!("the service said: {}", response.text());
    /// # }
    /// ```
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON, if it is JSON.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(response: herald_sdk::http::Response) {
    /// // Slack's Web API answers 200 with {"ok": false, "error": "..."} on failure.
    /// let ok = response.json().is_some_and(|body| body["ok"] == true);
    /// # }
    /// ```
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Classifies the status the way Herald's delivery does: 2xx is success; 408, 429 and
    /// 5xx are transient (with the receiver's `Retry-After`); 3xx is rejected (redirects are
    /// never followed); any other 4xx is rejected.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f() -> Result<(), herald_sdk::ActionError> {
    /// // 2xx passes; 429 and 5xx become transient (with Retry-After); other answers refusals.
    /// let response = herald_sdk::http::Request::post("https://hooks.example.com/in")
    ///     .send()?
    ///     .classify()?;
    /// # let _ = response; Ok(()) }
    /// ```
    pub fn classify(self) -> Result<Response, ActionError> {
        let status = self.status;
        let detail = || {
            let text = self.text();
            let text = text.trim();
            if text.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {}", truncate(text, 200))
            }
        };
        match status {
            200..=299 => Ok(self),
            408 | 429 | 500..=599 => Err(ActionError::Transient {
                message: detail(),
                retry_after: self.header("retry-after").map(str::to_owned),
            }),
            300..=399 => Err(ActionError::Rejected(format!(
                "{} (redirect to {}; redirects are not followed)",
                detail(),
                self.header("location").unwrap_or("nowhere")
            ))),
            _ => Err(ActionError::Rejected(detail())),
        }
    }
}

fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}
