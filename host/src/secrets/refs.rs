//! Secret references: the one owner of the form a `${SECRET}` takes between rendering a payload
//! and sending it. A rendered payload carries a placeholder for each secret it names; the host
//! fills the value in on the way out, only in requests to the integration's origin.
//!
//! A placeholder holds a tag that only this host can compute: an HMAC, under a key derived from
//! the master key, of the execution id. Client data (event fields, metadata, names, test
//! payloads) is rendered into the same document, but it is written before the execution exists
//! and without the key, so no text a client sends can ever be taken for a reference; a text that
//! merely looks like one is sent as it is. The tag is stable across restarts and retries (it
//! depends on the master key and the execution id only), so stored payloads stay fillable.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// What starts a placeholder as it appears inside JSON text (`\0` is escaped as `\u0000`).
const JSON_START: &str = "\\u0000herald-secret:";
/// What ends a placeholder inside JSON text.
const JSON_END: &str = "\\u0000";
/// What starts a placeholder in a string value.
const RAW_START: &str = "\u{0}herald-secret:";
/// What ends a placeholder in a string value.
const RAW_END: &str = "\u{0}";
/// Hex digits in a tag.
const TAG_LEN: usize = 32;

/// The key that tags placeholders, derived from the master key.
#[derive(Clone)]
pub struct RefKey([u8; 32]);

impl std::fmt::Debug for RefKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefKey(<redacted>)")
    }
}

impl RefKey {
    /// Derives the key from the master key's bytes (domain-separated from encryption).
    pub(crate) fn derive(master: &[u8; 32]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(master).expect("HMAC takes any key length");
        mac.update(b"herald secret references v1");
        Self(mac.finalize().into_bytes().into())
    }

    /// The tag of one execution (or one integration test, under its own id).
    pub fn tag(&self, execution_id: &str) -> RefTag {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(execution_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        RefTag(hex::encode(&digest[..TAG_LEN / 2]))
    }
}

/// The tag of one execution's placeholders.
#[derive(Clone, PartialEq, Eq)]
pub struct RefTag(String);

impl std::fmt::Debug for RefTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefTag(<redacted>)")
    }
}

impl RefTag {
    /// The placeholder a rendered payload carries for secret `name`.
    pub fn placeholder(&self, name: &str) -> String {
        format!("\u{0}herald-secret:{}:{name}\u{0}", self.0)
    }

    /// The placeholder as it appears in JSON text.
    fn json_placeholder(&self, name: &str) -> String {
        format!("{JSON_START}{}:{name}{JSON_END}", self.0)
    }

    /// The secret names this execution's placeholders in a JSON text refer to, each once.
    /// Text with another tag, or none, is not a reference.
    pub fn names_in(&self, json: &str) -> Vec<String> {
        let mut names = Vec::new();
        for_each_placeholder(json, |tag, name| {
            if tag == self.0 && !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        });
        names
    }

    /// Replaces this execution's placeholders for `secrets` in a JSON body by the values,
    /// JSON-escaped, so that the document stays valid whatever a value holds.
    pub fn fill(&self, body: Vec<u8>, secrets: &[(String, String)]) -> Vec<u8> {
        if secrets.is_empty()
            || !body
                .windows(JSON_END.len())
                .any(|w| w == JSON_END.as_bytes())
        {
            return body;
        }
        let mut text = match String::from_utf8(body) {
            Ok(text) => text,
            Err(e) => return e.into_bytes(),
        };
        for (name, value) in secrets {
            let placeholder = self.json_placeholder(name);
            if text.contains(&placeholder) {
                let escaped = serde_json::to_string(value).expect("a string serialises");
                text = text.replace(&placeholder, &escaped[1..escaped.len() - 1]);
            }
        }
        text.into_bytes()
    }

    /// Shows a rendered payload with each of this execution's placeholders written back as its
    /// `${NAME}` reference: how records display a payload without its secrets.
    pub fn show(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) if text.contains(RAW_START) => {
                *text = self.show_text(text);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.show(v)),
            serde_json::Value::Object(fields) => fields.values_mut().for_each(|v| self.show(v)),
            _ => {}
        }
    }

    fn show_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(index) = rest.find(RAW_START) {
            out.push_str(&rest[..index]);
            let after = &rest[index + RAW_START.len()..];
            match parse_placeholder(after, RAW_END) {
                Some((tag, name, len)) if tag == self.0 => {
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                    rest = &after[len..];
                }
                _ => {
                    out.push_str(RAW_START);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// Calls `f(tag, name)` for every placeholder-shaped text in a JSON text.
fn for_each_placeholder<'a>(json: &'a str, mut f: impl FnMut(&'a str, &'a str)) {
    let mut rest = json;
    while let Some(index) = rest.find(JSON_START) {
        let after = &rest[index + JSON_START.len()..];
        match parse_placeholder(after, JSON_END) {
            Some((tag, name, len)) => {
                f(tag, name);
                rest = &after[len..];
            }
            None => rest = after,
        }
    }
}

/// `TAG:NAME<end>…` → (tag, name, length consumed), for a well-formed placeholder body.
fn parse_placeholder<'a>(after: &'a str, end_mark: &str) -> Option<(&'a str, &'a str, usize)> {
    let end = after.find(end_mark)?;
    let (tag, name) = after[..end].split_once(':')?;
    (tag.len() == TAG_LEN && super::valid_name(name)).then_some((tag, name, end + end_mark.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(value: serde_json::Value) -> String {
        value.to_string()
    }

    #[test]
    fn only_this_executions_placeholders_are_filled() {
        let key = RefKey::derive(&[7; 32]);
        let tag = key.tag("exec-1");
        let other = key.tag("exec-2");
        let secrets = vec![("TOKEN".to_string(), "a\"b\\c\nd".to_string())];
        let body = json(serde_json::json!({
            "t": tag.placeholder("TOKEN"),
            "u": format!("x {} y", tag.placeholder("TOKEN")),
            "forged_untagged": "\u{0}herald-secret:TOKEN\u{0}",
            "forged_other": other.placeholder("TOKEN"),
            "unknown": tag.placeholder("OTHER"),
        }));
        assert_eq!(tag.names_in(&body), ["TOKEN", "OTHER"]);
        let filled = tag.fill(body.into_bytes(), &secrets);
        let value: serde_json::Value = serde_json::from_slice(&filled).unwrap();
        assert_eq!(value["t"], "a\"b\\c\nd");
        assert_eq!(value["u"], "x a\"b\\c\nd y");
        assert_eq!(value["forged_untagged"], "\u{0}herald-secret:TOKEN\u{0}");
        assert_eq!(value["forged_other"], other.placeholder("TOKEN"));
        assert_eq!(value["unknown"], tag.placeholder("OTHER"));
    }

    #[test]
    fn tags_depend_on_the_key_and_the_execution() {
        let key = RefKey::derive(&[7; 32]);
        assert_eq!(key.tag("a"), key.tag("a"));
        assert_ne!(key.tag("a"), key.tag("b"));
        assert_ne!(key.tag("a"), RefKey::derive(&[8; 32]).tag("a"));
    }

    #[test]
    fn placeholders_show_as_references() {
        let tag = RefKey::derive(&[7; 32]).tag("e");
        let mut stored = serde_json::json!({"t": [format!("x {}", tag.placeholder("TOKEN"))], "f": "\u{0}herald-secret:X\u{0}"});
        tag.show(&mut stored);
        assert_eq!(
            stored,
            serde_json::json!({"t": ["x ${TOKEN}"], "f": "\u{0}herald-secret:X\u{0}"})
        );
    }
}
