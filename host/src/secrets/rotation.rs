//! Rotating a secret: a new value, and how long the one it replaces keeps signing (the overlap),
//! so that receivers can move to the new value without a request failing verification.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;

use crate::auth::random_bytes;

/// The overlap when a rotation names none: 24 hours.
pub const DEFAULT_OVERLAP_SECONDS: u32 = 86_400;

/// The longest overlap: 7 days.
pub const MAX_OVERLAP_SECONDS: u32 = 604_800;

/// A new signing value in the Standard Webhooks form: `whsec_` and 32 random bytes in base64.
pub fn new_signing_value() -> String {
    let bytes = random_bytes::<32>();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// When the replaced value stops signing, for a rotation at `now_ms` (Unix ms): as Unix ms and
/// as RFC 3339.
pub fn overlap_end(now_ms: i64, overlap_seconds: u32) -> (i64, String) {
    let until_ms = now_ms + i64::from(overlap_seconds) * 1000;
    let at = UNIX_EPOCH + Duration::from_millis(until_ms.max(0) as u64);
    (until_ms, humantime::format_rfc3339_millis(at).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_value_is_a_standard_webhooks_secret_and_never_the_same_twice() {
        let value = new_signing_value();
        let key = value.strip_prefix("whsec_").expect("the whsec_ form");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(key)
            .unwrap();
        assert_eq!(decoded.len(), 32);
        assert_ne!(value, new_signing_value());
        assert_eq!(
            overlap_end(1_000, 60),
            (61_000, "1970-01-01T00:01:01.000Z".to_string())
        );
    }
}
