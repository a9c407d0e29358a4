//! Redaction: the one place that turns secret values into `[REDACTED]` before anything is shown,
//! logged, stored or handed to a plugin. A value is searched for in every form the host or a
//! receiver echoing a request may have written it in:
//!
//! - as it is, JSON-escaped (as payload filling writes it), and JSON-escaped with `\uXXXX` for
//!   non-ASCII (lower- and upper-case hex digits), as many receivers echo a body;
//! - percent-encoded (`+` or `%20` for spaces), and, for a URL, as the URL parser normalises it,
//!   plus its path and query alone (where a Slack or Teams webhook URL keeps its credential);
//! - base64, standard and URL-safe, padded or not, at each of the three byte alignments it can
//!   have inside a longer base64 text (only the characters that depend on the value alone are
//!   searched for, so a value encoded together with what surrounds it is found too);
//! - hex, lower- and upper-case.
//!
//! All forms of all values are found in one pass (Aho-Corasick, leftmost-longest, so a form that
//! contains another is replaced whole).

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// What replaces a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// The shortest secret value accepted: shorter ones could not be told apart from ordinary text.
pub const MIN_SECRET_LEN: usize = 4;

/// The shortest encoded form searched for: shorter runs of base64 characters would match
/// ordinary text.
const MIN_FORM_LEN: usize = 4;

/// The shortest URL path (with its query) redacted on its own, for a value that is a URL.
const MIN_URL_PATH_LEN: usize = 8;

/// Replaces every known secret value, in each of its forms, in text or bytes. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// `None` when there is nothing to redact.
    forms: Option<Arc<AhoCorasick>>,
}

impl Redactor {
    /// A redactor for these secret values (values shorter than [`MIN_SECRET_LEN`] are skipped).
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut forms: Vec<Vec<u8>> = Vec::new();
        for value in values {
            let value: String = value.into();
            if value.len() < MIN_SECRET_LEN {
                continue;
            }
            forms.extend(encodings(&value));
        }
        forms.sort();
        forms.dedup();
        if forms.is_empty() {
            return Self::default();
        }
        // A contiguous NFA: built in time linear in the patterns' length. With few patterns
        // the default is a full DFA, whose construction for a 64 KiB secret's forms takes
        // seconds; scanning the small bodies of an attempt does not need it.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&forms)
            .expect("a few thousand literal patterns always build");
        Self {
            forms: Some(Arc::new(automaton)),
        }
    }

    /// Whether there is anything to redact.
    pub fn is_empty(&self) -> bool {
        self.forms.is_none()
    }

    /// The text with every form of every secret value replaced.
    pub fn text(&self, text: &str) -> String {
        // One scan: `replace` finds the first match or answers that there is none.
        self.forms
            .as_ref()
            .and_then(|forms| replace(forms, text.as_bytes()))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|| text.to_string())
    }

    /// Bytes shown as text (lossy UTF-8), redacted.
    pub fn bytes(&self, bytes: &[u8]) -> String {
        self.text(&String::from_utf8_lossy(bytes))
    }

    /// Bytes with every form replaced, kept as bytes (a binary body stays binary around them).
    pub fn clean(&self, bytes: Vec<u8>) -> Vec<u8> {
        match &self.forms {
            Some(forms) => replace(forms, &bytes).unwrap_or(bytes),
            None => bytes,
        }
    }

    /// Headers with their values redacted; `authorization` is always masked after its scheme.
    pub fn headers(&self, headers: &[(String, String)]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(name, value)| {
                let value = if name.eq_ignore_ascii_case("authorization") {
                    match value.split_once(' ') {
                        Some((scheme, _)) => format!("{scheme} {REDACTED}"),
                        None => REDACTED.to_string(),
                    }
                } else {
                    self.text(value)
                };
                (self.text(name), value)
            })
            .collect()
    }
}

/// The bytes with every match replaced, or `None` when nothing matched.
fn replace(forms: &AhoCorasick, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut matches = forms.find_iter(bytes).peekable();
    matches.peek()?;
    let mut out = Vec::with_capacity(bytes.len());
    let mut last = 0;
    for found in matches {
        out.extend_from_slice(&bytes[last..found.start()]);
        out.extend_from_slice(REDACTED.as_bytes());
        last = found.end();
    }
    out.extend_from_slice(&bytes[last..]);
    Some(out)
}

/// Every form of `value` to search for, the value itself included.
fn encodings(value: &str) -> Vec<Vec<u8>> {
    // As JSON writes it inside a string, and again when a receiver echoes a body it received
    // inside a JSON string of its own (`{"data": "{\"token\": \"…\"}"}`).
    let once = json_escaped(value);
    let twice = json_escaped(&once);
    let mut texts = vec![value.to_string()];
    for escaped in [&once, &twice] {
        texts.push(escaped.clone());
        let ascii = ascii_escaped(escaped);
        texts.push(
            ascii
                .replace("\\u", "\\U")
                .to_ascii_uppercase()
                .replace("\\U", "\\u"),
        );
        texts.push(ascii);
    }
    if let Ok(url) = url::Url::parse(value) {
        texts.push(url.to_string());
        let mut tail = url.path().to_string();
        if let Some(query) = url.query() {
            tail.push('?');
            tail.push_str(query);
        }
        if tail.len() >= MIN_URL_PATH_LEN {
            texts.push(tail);
        }
    }
    // Encoded forms of the value as it is and as JSON writes it (a receiver that base64s or
    // hex-dumps the body it received encodes the escaped form).
    for source in dedup(vec![value.to_string(), once]) {
        let bytes = source.as_bytes();
        let percent: String = url::form_urlencoded::byte_serialize(bytes).collect();
        texts.push(percent.replace('+', "%20"));
        texts.push(percent);
        texts.push(hex::encode(bytes));
        texts.push(hex::encode_upper(bytes));
        for offset in 0..3 {
            for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                texts.push(base64_core(engine, bytes, offset));
            }
        }
        // Padded, on its own: the whole encoding with its `=` (longer than the core, so it is
        // replaced whole).
        texts.push(base64::engine::general_purpose::STANDARD.encode(bytes));
        texts.push(base64::engine::general_purpose::URL_SAFE.encode(bytes));
    }
    dedup(texts)
        .into_iter()
        .filter(|f| f.len() >= MIN_FORM_LEN)
        .map(String::into_bytes)
        .collect()
}

/// The text as it stands inside a JSON string (without the quotes).
fn json_escaped(text: &str) -> String {
    let json = serde_json::to_string(text).expect("a string serialises");
    json[1..json.len() - 1].to_string()
}

/// JSON-escaped text with every non-ASCII character as `\uXXXX` (lower-case hex digits).
fn ascii_escaped(escaped: &str) -> String {
    let mut ascii = String::with_capacity(escaped.len());
    for c in escaped.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    ascii
}

fn dedup(mut texts: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    texts.retain(|t| seen.insert(t.clone()));
    texts
}

/// The base64 characters that `bytes` alone determine when they start `offset` bytes (0, 1 or
/// 2) into a longer encoded text: a character covers six bits, so those at the edges that also
/// cover a neighbour's bits are left out.
fn base64_core(engine: &impl base64::Engine, bytes: &[u8], offset: usize) -> String {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(bytes);
    let encoded = engine.encode(&padded);
    let first_bit = 8 * offset;
    let end_bit = 8 * (offset + bytes.len());
    let start = first_bit.div_ceil(6);
    let end = end_bit / 6;
    encoded.get(start..end).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    #[test]
    fn redacts_every_occurrence_and_authorization() {
        let redactor = Redactor::new(["s3cr3t-token", "abc"]);
        assert_eq!(
            redactor.text("x s3cr3t-token y s3cr3t-token abc"),
            "x [REDACTED] y [REDACTED] abc"
        );
        let headers = redactor.headers(&[("Authorization".into(), "Bearer whatever".into())]);
        assert_eq!(headers[0].1, "Bearer [REDACTED]");
    }

    #[test]
    fn redacts_the_forms_the_host_produces() {
        let value = "q\"uo\\te\nnew lïne/?&=";
        let redactor = Redactor::new([value]);
        let json = serde_json::to_string(&serde_json::json!({"v": value})).unwrap();
        assert_eq!(redactor.text(&json), r#"{"v":"[REDACTED]"}"#);
        let ascii = json.replace('ï', "\\u00ef");
        assert_eq!(redactor.text(&ascii), r#"{"v":"[REDACTED]"}"#);
        let percent: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        assert_eq!(redactor.text(&format!("a={percent}")), "a=[REDACTED]");
        let url = "https://hooks.example.com/services/T0/B0/xyz é";
        let parsed = url::Url::parse(url).unwrap();
        assert_ne!(parsed.as_str(), url);
        let redactor = Redactor::new([url]);
        assert_eq!(
            redactor.text(&format!("error sending to {parsed}")),
            "error sending to [REDACTED]"
        );
        assert_eq!(
            redactor.text(&format!("POST {} HTTP/1.1", parsed.path())),
            "POST [REDACTED] HTTP/1.1"
        );
    }

    #[test]
    fn redacts_base64_at_every_alignment_and_hex() {
        let secret = "tok-\u{e9}-Zq9!x";
        let redactor = Redactor::new([secret]);
        for prefix in ["", "a", "ab", "abc", "{\"token\":\"", "Bearer "] {
            for suffix in ["", "z", "zz", "\"}"] {
                let whole = format!("{prefix}{secret}{suffix}");
                for encoded in [
                    STANDARD.encode(&whole),
                    STANDARD_NO_PAD.encode(&whole),
                    URL_SAFE.encode(&whole),
                    URL_SAFE_NO_PAD.encode(&whole),
                ] {
                    let shown = redactor.text(&encoded);
                    assert!(shown.contains(REDACTED), "{whole:?} as {encoded}: {shown}");
                    // What is left of the encoding decodes to no more than a few bits of it.
                    for piece in shown.split(REDACTED) {
                        assert!(piece.len() <= 2 + prefix.len().div_ceil(3) * 4 + 4);
                    }
                }
            }
        }
        for hexed in [hex::encode(secret), hex::encode_upper(secret)] {
            assert_eq!(redactor.text(&format!("<{hexed}>")), "<[REDACTED]>");
        }
    }

    #[test]
    fn redacts_a_body_echoed_inside_a_json_string() {
        let secret = "tok \"q\" é";
        let body = serde_json::json!({"t": secret}).to_string();
        let echoed = serde_json::json!({"data": body}).to_string();
        let shown = Redactor::new([secret]).text(&echoed);
        assert_eq!(shown, r#"{"data":"{\"t\":\"[REDACTED]\"}"}"#);
    }

    #[test]
    fn binary_bytes_survive_around_a_redaction() {
        let redactor = Redactor::new(["SECRET-1234"]);
        let mut body = vec![0xff, 0x00, 0xfe];
        body.extend_from_slice(b"SECRET-1234");
        body.push(0x80);
        let mut expected = vec![0xff, 0x00, 0xfe];
        expected.extend_from_slice(REDACTED.as_bytes());
        expected.push(0x80);
        assert_eq!(redactor.clean(body), expected);
        assert!(Redactor::new(["abc"]).is_empty());
    }
}
