//! Retention of attempt bodies: past `[retention] attempt_bodies`, an attempt's record keeps its
//! requests, statuses and headers but each body only by its length. Executions are gone through
//! in id order (their ids are UUIDv7s, so a time is an id) from a mark the store keeps, so a
//! batch never looks at what an earlier one finished.

use serde_json::{Value, json};

use super::StoreError;

/// The name of the mark attempt-body purges keep (`retention_marks`).
pub(crate) const BODIES_MARK: &str = "attempt_bodies";

/// A body as a record holds it, by its length only; `None` when it has nothing to drop (empty,
/// or already only a length).
fn dropped(body: &Value) -> Option<Value> {
    let length = match body {
        Value::String(text) if !text.is_empty() => text.len(),
        Value::Object(fields) if fields.contains_key("text") => {
            fields.get("length").and_then(Value::as_u64).unwrap_or(0) as usize
        }
        _ => return None,
    };
    Some(json!({"omitted": true, "length": length}))
}

/// An attempt record (its JSON text) with every request and response body replaced by its
/// length; `None` when it holds no body to drop.
pub(crate) fn without_bodies(record: &str) -> Result<Option<String>, StoreError> {
    let mut record: Value = serde_json::from_str(record)
        .map_err(|e| StoreError::Corrupt(format!("an attempt record: {e}")))?;
    let mut changed = false;
    let mut drop_one = |body: Option<&mut Value>| {
        if let Some(body) = body
            && let Some(length) = dropped(body)
        {
            *body = length;
            changed = true;
        }
    };
    for request in record["requests"].as_array_mut().into_iter().flatten() {
        drop_one(request.get_mut("body"));
        drop_one(request.get_mut("response").and_then(|r| r.get_mut("body")));
    }
    Ok(changed.then(|| record.to_string()))
}

super::interface! {
    /// Retention of attempt bodies.
    trait RetentionStore {
        /// Drops the bodies of the attempts of up to `limit` executions after the store's mark
        /// and before `before_id` (of every entity), and moves the mark past them; answers how
        /// many executions it went through (fewer than `limit`: it has caught up).
        async fn drop_attempt_bodies(&self, before_id: String, limit: usize) -> Result<usize, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_go_and_everything_else_stays() {
        let record = json!({"number": 1, "requests": [
            {"method": "POST", "headers": [["a", "b"]], "body": "hello",
             "response": {"status": 200, "headers": [], "body": {"text": "abc", "truncated": true, "length": 90000}}},
            {"method": "POST", "body": "", "response": null, "error": {"class": "connect"}},
            {"method": "POST", "body": {"omitted": true, "length": 7}},
        ], "logs": []});
        let dropped: Value =
            serde_json::from_str(&without_bodies(&record.to_string()).unwrap().unwrap()).unwrap();
        let requests = &dropped["requests"];
        assert_eq!(requests[0]["body"], json!({"omitted": true, "length": 5}));
        assert_eq!(
            requests[0]["response"]["body"],
            json!({"omitted": true, "length": 90000})
        );
        assert_eq!(requests[0]["response"]["status"], 200);
        assert_eq!(requests[0]["headers"], json!([["a", "b"]]));
        assert_eq!(requests[1]["body"], "");
        assert_eq!(requests[2]["body"], json!({"omitted": true, "length": 7}));
        // Once dropped, nothing more to drop.
        assert_eq!(without_bodies(&dropped.to_string()).unwrap(), None);
    }
}
