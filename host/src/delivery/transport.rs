//! Outbound HTTP: the `Transport` the sandbox sends through, the real one (reqwest, redirects
//! never followed, sizes capped, every destination vetted by the egress policy with the host's own
//! resolver, so the address checked is the address connected to), and the dry-run double
//! `herald plugin run` uses.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::{Host, Url};

use super::egress::EgressConfig;
pub use crate::engine::outbound::{InboundResponse, OutboundRequest, SendFuture, TransportError};

/// Sends requests on the sandbox's behalf.
pub trait Transport: Send + Sync + 'static {
    /// Sends one request; reads at most `max_response_bytes` of the body.
    fn send(&self, request: OutboundRequest, max_response_bytes: usize) -> SendFuture<'_>;
}

/// Timeouts of the real transport.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Time to establish a connection.
    pub connect: Duration,
    /// Time for the whole exchange.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(30),
        }
    }
}

/// The real transport: reqwest with redirects disabled, no proxy, and a resolver that only hands
/// out addresses the egress policy permits.
#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    policy: Arc<EgressConfig>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A lookup refused by the egress policy (found in reqwest's error chain).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct EgressDenied(String);

/// Resolves names itself and keeps only the addresses the policy permits: a name that resolves to
/// a private address is refused, and a name that resolves to both is reached on the public one.
struct VettingResolver {
    policy: Arc<EgressConfig>,
}

impl reqwest::dns::Resolve for VettingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            if let Err(reason) = policy.check_name(&host) {
                return Err(Box::new(EgressDenied(format!("{reason}: refused"))) as BoxError);
            }
            let found: Vec<IpAddr> = match policy.resolve.get(&host) {
                Some(pinned) => pinned.clone(),
                None => tokio::net::lookup_host((host.as_str(), 0))
                    .await?
                    .map(|a| a.ip())
                    .collect(),
            };
            let vetted: Vec<SocketAddr> = found
                .iter()
                .filter(|ip| policy.permits(&host, **ip))
                .map(|ip| SocketAddr::new(*ip, 0))
                .collect();
            if vetted.is_empty() {
                let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
                return Err(Box::new(EgressDenied(format!(
                    "{host} resolves to {} only: not a public address, refused",
                    shown.join(", ")
                ))) as BoxError);
            }
            Ok(Box::new(vetted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl HttpTransport {
    /// A transport with these timeouts, sending only where `policy` permits.
    pub fn new(timeouts: Timeouts, policy: Arc<EgressConfig>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .dns_resolver(Arc::new(VettingResolver {
                policy: policy.clone(),
            }))
            .user_agent(crate::USER_AGENT)
            .build()?;
        Ok(Self { client, policy })
    }

    /// IP-literal URLs never reach the resolver: check them here.
    fn check_literal(&self, url: &Url) -> Result<(), TransportError> {
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if self.policy.permits("", ip) {
            Ok(())
        } else {
            Err(TransportError::Denied(format!(
                "{ip} is not a public address: refused"
            )))
        }
    }
}

impl Transport for HttpTransport {
    fn send(&self, request: OutboundRequest, max_response_bytes: usize) -> SendFuture<'_> {
        Box::pin(async move {
            self.check_literal(&request.url)?;
            let mut builder = self.client.request(request.method, request.url);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            let mut response = builder.body(request.body).send().await.map_err(classify)?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > max_response_bytes {
                    return Err(TransportError::ResponseTooLarge(max_response_bytes));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(InboundResponse {
                status,
                headers,
                body,
            })
        })
    }
}

fn classify(error: reqwest::Error) -> TransportError {
    // The URL may be a credential (a Slack or Teams webhook): an error never carries it. It
    // reaches the plugin and the records, and the plugin knows where it sent anyway.
    let error = error.without_url();
    let chain = error_chain(&error);
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(cause) = source {
        if let Some(denied) = cause.downcast_ref::<EgressDenied>() {
            return TransportError::Denied(denied.0.clone());
        }
        source = cause.source();
    }
    if error.is_timeout() {
        TransportError::Timeout(chain)
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        TransportError::Dns(chain)
    } else if error.is_connect() {
        TransportError::Connect(chain)
    } else {
        TransportError::Other(chain)
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A transport that sends nothing: it keeps each request and answers with a fixed response.
/// `herald plugin run` uses it to show what a plugin would send.
#[derive(Debug)]
pub struct DryRunTransport {
    status: u16,
    body: Vec<u8>,
    sent: Mutex<Vec<OutboundRequest>>,
}

impl DryRunTransport {
    /// Answers every request with `status` and `body`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            body: body.into(),
            sent: Mutex::new(Vec::new()),
        }
    }
}

impl Transport for DryRunTransport {
    fn send(&self, request: OutboundRequest, _max_response_bytes: usize) -> SendFuture<'_> {
        self.sent.lock().expect("not poisoned").push(request);
        let response = InboundResponse {
            status: self.status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: self.body.clone(),
        };
        Box::pin(async move { Ok(response) })
    }
}
