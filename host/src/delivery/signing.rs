//! Request signatures: `X-Wandb-Signature` and the Standard Webhooks `webhook-signature`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn hmac_base64(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// `base64(HMAC-SHA256(secret, body))`: what the reference receiver script computes with
/// `openssl dgst -sha256 -hmac "$SECRET" -binary | base64`.
pub fn wandb_signature(secret: &str, body: &[u8]) -> String {
    hmac_base64(secret.as_bytes(), &[body])
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, where the key is the base64-decoded
/// part of a `whsec_…` secret, or the secret's bytes otherwise.
pub fn standard_webhooks_signature(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> String {
    let key = standard_webhooks_key(secret);
    let timestamp = timestamp.to_string();
    format!(
        "v1,{}",
        hmac_base64(
            &key,
            &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]
        )
    )
}

fn standard_webhooks_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|encoded| BASE64.decode(encoded).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wandb_signature_matches_a_known_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let expected = BASE64.encode(
            hex::decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
                .unwrap(),
        );
        assert_eq!(
            wandb_signature("Jefe", b"what do ya want for nothing?"),
            expected
        );
    }

    #[test]
    fn standard_webhooks_matches_the_specification_example() {
        // The example from the Standard Webhooks specification.
        let signature = standard_webhooks_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
