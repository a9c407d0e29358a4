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

/// The opaque cursor of a list ordered by a name (or an id): its bytes in hex, so that any
/// well-formed cursor names a place in the list.
pub(super) fn name_cursor(name: &str) -> String {
    hex::encode(name)
}

/// The place a [`name_cursor`] names; 400 for one that is not hex. (Bytes that are not UTF-8
/// cannot be a name this API gave, but still name a place: the nearest one.)
pub(super) fn name_of_cursor(cursor: &str) -> Result<String, crate::error::ApiError> {
    let lower_hex = !cursor.is_empty()
        && cursor.len() <= 2048
        && cursor
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !lower_hex {
        return Err(not_a_cursor());
    }
    let bytes = hex::decode(cursor).map_err(|_| not_a_cursor())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A cursor that is a task id as this API writes them, or 400.
pub(super) fn task_cursor(cursor: &str) -> Result<String, crate::error::ApiError> {
    let well_formed = cursor.strip_prefix("task_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if well_formed {
        Ok(cursor.to_string())
    } else {
        Err(not_a_cursor())
    }
}
