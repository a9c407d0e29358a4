//! Redaction: the one place that turns secret values into `[REDACTED]` before anything is shown,
//! logged or stored.

/// What replaces a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// Replaces every known secret value in text. Values shorter than four characters are not
/// searched for: they would redact ordinary words and say more about the secret than hide it.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut values: Vec<String> = values
            .into_iter()
            .map(Into::into)
            .filter(|v| v.len() >= 4)
            .collect();
        // Longest first, so a secret that contains another is replaced whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self { values }
    }

    /// The text with every secret value replaced.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), REDACTED);
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
                (name.clone(), value)
            })
            .collect()
    }
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
}
