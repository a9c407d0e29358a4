//! Instants as the API takes them: RFC 3339 date-times with any offset (`Z`, `+02:00`), the
//! `date-time` format the OpenAPI document names, normalised to UTC with milliseconds (the form
//! stored timestamps have, so that stored text compares like with like).

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Parses an RFC 3339 date-time; the error says what is wrong with it.
pub fn parse(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|e| e.to_string())
}

/// The instant as UTC with milliseconds, e.g. `2026-11-30T07:00:00.000Z` for
/// `2026-11-30T09:00:00+02:00`.
pub fn utc_millis(text: &str) -> Result<String, String> {
    let at = parse(text)?.to_offset(UtcOffset::UTC);
    let at = at
        .replace_nanosecond(at.millisecond() as u32 * 1_000_000)
        .map_err(|e| e.to_string())?;
    at.format(&Rfc3339)
        .map(|text| with_millis(&text))
        .map_err(|e| e.to_string())
}

/// `…:SSZ` or `…:SS.fffZ` (RFC 3339 formatting drops a zero fraction) as `…:SS.fffZ`.
fn with_millis(text: &str) -> String {
    let body = text.trim_end_matches('Z');
    match body.split_once('.') {
        Some((seconds, fraction)) => {
            format!("{seconds}.{:0<3}Z", &fraction[..fraction.len().min(3)])
        }
        None => format!("{body}.000Z"),
    }
}

#[cfg(test)]
mod tests {
    use super::utc_millis;

    #[test]
    fn any_offset_becomes_utc_with_milliseconds() {
        assert_eq!(
            utc_millis("2026-11-30T09:00:00Z").unwrap(),
            "2026-11-30T09:00:00.000Z"
        );
        assert_eq!(
            utc_millis("2026-11-30T09:00:00+02:00").unwrap(),
            "2026-11-30T07:00:00.000Z"
        );
        assert_eq!(
            utc_millis("2026-11-30T09:00:00.5-01:30").unwrap(),
            "2026-11-30T10:30:00.500Z"
        );
        assert_eq!(
            utc_millis("0144-04-24T20:51:33-21:38").unwrap(),
            "0144-04-25T18:29:33.000Z"
        );
        assert!(utc_millis("yesterday").is_err());
        assert!(utc_millis("2026-11-30").is_err());
    }
}
