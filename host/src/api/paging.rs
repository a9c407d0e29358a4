//! Cursor paging, shared by every list: a read asks the store for one row more than the page,
//! so that whether more exist is known without counting, and the page's last row names where
//! the next one starts.

/// A page of at most `limit` rows from `rows` (read with `limit + 1`): the rows, whether more
/// exist, and the cursor of the next page (made from the page's last row by `cursor_of`).
pub(super) fn page<T>(
    mut rows: Vec<T>,
    limit: usize,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, bool, Option<String>) {
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = has_more.then(|| rows.last().map(cursor_of)).flatten();
    (rows, has_more, next_cursor)
}

/// The page size a `limit` parameter asks for: `default` when absent, at least 1 and at most
/// 1000.
pub(super) fn limit(asked: Option<u32>, default: u32) -> usize {
    asked.unwrap_or(default).clamp(1, 1000) as usize
}

/// A cursor that is a UUID as this API writes them (lower-case, hyphenated), or 400.
pub(super) fn uuid_cursor(cursor: &str) -> Result<String, crate::error::ApiError> {
    if uuid::Uuid::try_parse(cursor).is_ok_and(|u| u.hyphenated().to_string() == cursor) {
        Ok(cursor.to_string())
    } else {
        Err(not_a_cursor())
    }
}

/// The 400 for a cursor this API did not give.
pub(super) fn not_a_cursor() -> crate::error::ApiError {
    crate::error::ApiError::Invalid(
        "cursor: not a cursor this API gave (use next_cursor as it came)".into(),
    )
}

/// The opaque cursor of a list ordered by a name: the name, base64url.
pub(super) fn name_cursor(name: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

/// The name a [`name_cursor`] holds, or 400.
pub(super) fn name_of_cursor(cursor: &str) -> Result<String, crate::error::ApiError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(not_a_cursor)
}
