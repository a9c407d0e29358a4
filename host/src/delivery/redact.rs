//! Redaction: the one place that turns secret values into `[REDACTED]` before anything is shown,
//! logged or stored. A value is searched for in every form the host may have produced it in: as
//! it is, JSON-escaped (as payload filling writes it), JSON-escaped with `\uXXXX` for non-ASCII
//! (as many receivers echo a body), percent-encoded (in URLs and forms), and, for a URL, as the
//! URL parser normalises it.

/// What replaces a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// The shortest secret value accepted: shorter ones could not be told apart from ordinary text.
pub const MIN_SECRET_LEN: usize = 4;

/// Replaces every known secret value, in each of its forms, in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    forms: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut forms = Vec::new();
        for value in values {
            let value: String = value.into();
            if value.len() < MIN_SECRET_LEN {
                continue;
            }
            forms.extend(encodings(&value));
            forms.push(value);
        }
        // Longest first, so a form that contains another is replaced whole.
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        Self { forms }
    }

    /// The text with every form of every secret value replaced.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for form in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), REDACTED);
            }
        }
        out
    }

    /// Bytes shown as text (lossy UTF-8), redacted.
    pub fn bytes(&self, bytes: &[u8]) -> String {
        self.text(&String::from_utf8_lossy(bytes))
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

/// The other forms the host (or a receiver echoing it) may write a value in.
fn encodings(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).expect("a string serialises");
    let json = json[1..json.len() - 1].to_string();
    let mut ascii = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    let upper = ascii
        .replace("\\u", "\\U")
        .to_ascii_uppercase()
        .replace("\\U", "\\u");
    let percent: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let path = percent.replace('+', "%20");
    let mut forms = vec![json, ascii, upper, percent, path];
    if let Ok(url) = url::Url::parse(value) {
        forms.push(url.to_string());
    }
    forms.retain(|f| f != value && f.len() >= MIN_SECRET_LEN);
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let parsed = url::Url::parse(url).unwrap().to_string();
        assert_ne!(parsed, url);
        assert_eq!(
            Redactor::new([url]).text(&format!("error sending to {parsed}")),
            "error sending to [REDACTED]"
        );
    }
}
