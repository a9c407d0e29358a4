//! Delivery's side of the sandbox's outbound port: what the host adds to a request a plugin made
//! for its integration (the secrets its payload references, `Authorization`, both signatures over
//! the exact bytes, the real URL of a hidden one) and the execution id every request carries.
//! The values never enter the sandbox.

use std::sync::Arc;
use std::time::SystemTime;

use url::{Origin, Url};

use crate::ids::ExecutionId;

use super::redact::Redactor;
use super::signing;
use super::transport::Transport;
use crate::engine::outbound::{InboundResponse, OriginGate, Outbound, OutboundRequest, SendFuture};
use crate::secrets::refs::RefTag;

/// An integration's destination and credentials. The values never enter the sandbox.
#[derive(Clone)]
pub struct Credentials {
    /// The integration URL; its origin (scheme, host, port) is what the plugin may reach.
    pub url: Url,
    /// Sent as `Authorization: Bearer <token>` on requests to that origin.
    pub access_token: Option<String>,
    /// Sign requests to that origin (`X-Wandb-Signature` and the Standard Webhooks headers):
    /// the signing secret's value, then, while a rotation's overlap lasts, the value it replaced.
    /// Each header carries one signature per value, space-separated.
    pub signing_secrets: Vec<String>,
    /// Values for the secrets the rendered payload references, by name: filled in for this
    /// execution's placeholders only (see [`crate::secrets::refs`]).
    pub payload_secrets: Vec<(String, String)>,
    /// The URL is itself a credential: the plugin is given [`HIDDEN_INTEGRATION_URL`] and the
    /// host sends requests for it to the real URL.
    pub hidden_url: bool,
    /// When these must be read again though nothing was written: a rotation's overlap ends.
    pub stale_at_ms: Option<i64>,
}

/// What a plugin sees instead of an integration URL that is a credential.
pub const HIDDEN_INTEGRATION_URL: &str = "https://integration.herald.invalid/";

impl Credentials {
    /// The integration URL as the plugin sees it.
    pub fn url_for_plugin(&self) -> String {
        if self.hidden_url {
            HIDDEN_INTEGRATION_URL.to_string()
        } else {
            self.url.to_string()
        }
    }

    /// The origin the plugin's requests must have to reach the integration.
    pub fn plugin_origin(&self) -> Origin {
        if self.hidden_url {
            Url::parse(HIDDEN_INTEGRATION_URL)
                .expect("a valid URL")
                .origin()
        } else {
            self.url.origin()
        }
    }

    /// Where a request the plugin made for the integration really goes.
    fn real_url(&self, requested: Url) -> Url {
        if !self.hidden_url {
            return requested;
        }
        // The placeholder stands for the whole real URL; a longer path is appended to it.
        let extra = requested.path().trim_start_matches('/');
        let mut real = self.url.clone();
        if !extra.is_empty() {
            let joined = format!("{}/{extra}", real.path().trim_end_matches('/'));
            real.set_path(&joined);
        }
        if requested.query().is_some() {
            real.set_query(requested.query());
        }
        real
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("url", &self.url.as_str())
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("signing_secrets", &self.signing_secrets.len())
            .finish_non_exhaustive()
    }
}

/// The port one execution sends through.
pub struct DeliveryPort {
    /// The integration's credentials, if the automation has one.
    pub credentials: Option<Credentials>,
    /// The execution's id: `webhook-id` on every request, and what signatures cover.
    pub execution_id: ExecutionId,
    /// The execution's placeholder tag.
    pub refs: RefTag,
    /// Where requests go out.
    pub transport: Arc<dyn Transport>,
    /// Every secret value this execution holds (credentials and the payload's secrets), in every
    /// form: removed from each answer before the plugin sees it.
    pub redactor: Redactor,
}

impl DeliveryPort {
    /// The gate that goes with this port: the integration's origin as the plugin sees it, and
    /// `granted`.
    pub fn gate(&self, granted: Vec<Origin>) -> OriginGate {
        OriginGate {
            integration: self.credentials.as_ref().map(Credentials::plugin_origin),
            granted,
        }
    }
}

impl Outbound for DeliveryPort {
    fn complete(&self, mut request: OutboundRequest, to_integration: bool) -> OutboundRequest {
        // Every request names its execution, so that receivers can deduplicate retries.
        request
            .headers
            .push(("webhook-id".into(), self.execution_id.to_string()));
        let Some(credentials) = self.credentials.as_ref().filter(|_| to_integration) else {
            return request;
        };
        let body = self
            .refs
            .fill(request.body.to_vec(), &credentials.payload_secrets);
        if let Some(token) = &credentials.access_token {
            request
                .headers
                .push(("authorization".into(), format!("Bearer {token}")));
        }
        if !credentials.signing_secrets.is_empty() {
            let timestamp = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let secrets = &credentials.signing_secrets;
            let id = self.execution_id.as_str();
            // One signature per live secret, space-separated (the Standard Webhooks rule; base64
            // holds no space), so that a receiver verifying with either passes during an overlap.
            let each = |sign: &dyn Fn(&str) -> String| {
                secrets
                    .iter()
                    .map(|s| sign(s))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let wandb = each(&|secret| signing::wandb_signature(secret, &body));
            let standard =
                each(&|secret| signing::standard_webhooks_signature(secret, id, timestamp, &body));
            request.headers.push(("x-wandb-signature".into(), wandb));
            request
                .headers
                .push(("webhook-timestamp".into(), timestamp.to_string()));
            request.headers.push(("webhook-signature".into(), standard));
        }
        request.url = credentials.real_url(request.url);
        request.body = body.into();
        request
    }

    fn send(&self, request: OutboundRequest, max_response_bytes: usize) -> SendFuture<'_> {
        self.transport.send(request, max_response_bytes)
    }

    fn inbound(&self, mut response: InboundResponse) -> InboundResponse {
        if self.redactor.is_empty() {
            return response;
        }
        response.headers = response
            .headers
            .into_iter()
            .map(|(name, value)| (self.redactor.text(&name), self.redactor.text(&value)))
            .collect();
        response.body = self.redactor.clean(response.body);
        response
    }
}
