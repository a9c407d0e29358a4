//! Id newtypes for events, automations and executions, so that one cannot be passed where
//! another is expected. Event and execution ids are UUIDv7s (they sort by creation time);
//! automation ids are `aut_` and random characters.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $generate:expr) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new, unique id.
            pub fn generate() -> Self {
                Self($generate)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            /// Takes an id read from a path, a row or a test: it is opaque text, never parsed.
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_string())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// An event's id.
    EventId,
    uuid::Uuid::now_v7().to_string()
);
id_type!(
    /// An automation's id.
    AutomationId,
    crate::auth::random_id("aut_")
);
id_type!(
    /// An execution's id: stable across retries, and the `webhook-id` receivers deduplicate on.
    ExecutionId,
    uuid::Uuid::now_v7().to_string()
);
id_type!(
    /// A background task's id (a recover, a bulk retry).
    TaskId,
    crate::auth::random_id("task_")
);
id_type!(
    /// An audit log entry's id: a UUIDv7, so entries sort by when they were written.
    AuditId,
    uuid::Uuid::now_v7().to_string()
);

impl ExecutionId {
    /// The smallest id an execution created at `unix_ms` can have (ids are UUIDv7: their first
    /// 48 bits are the creation time), so that a time window is a range of ids.
    pub fn floor_at(unix_ms: i64) -> String {
        let ms = unix_ms.clamp(0, (1 << 48) - 1) as u64;
        let hex = format!("{ms:012x}");
        format!("{}-{}-0000-0000-000000000000", &hex[..8], &hex[8..])
    }
}
