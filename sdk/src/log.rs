//! Log lines attached to the execution record.

use crate::__bindings::herald::plugin::log::{Level, write};

/// Detail for plugin authors.
///
/// # Example
///
/// ```no_run
/// herald_sdk::log::debug("parsed the config");
/// ```
pub fn debug(message: &str) {
    write(Level::Debug, message)
}
/// Normal progress.
///
/// # Example
///
/// ```no_run
/// herald_sdk::log::info("sent to #ml-alerts");
/// ```
pub fn info(message: &str) {
    write(Level::Info, message)
}
/// Something odd that did not stop the action.
///
/// # Example
///
/// ```no_run
/// herald_sdk::log::warn("no channel in the config; using the integration's default");
/// ```
pub fn warn(message: &str) {
    write(Level::Warn, message)
}
/// Something that made the action fail.
///
/// # Example
///
/// ```no_run
/// herald_sdk::log::error("the service refused the token");
/// ```
pub fn error(message: &str) {
    write(Level::Error, message)
}

/// Logs a `debug` line with `format!` arguments: `herald_sdk::debug!("got {n} rows")`.
///
/// # Example
///
/// ```no_run
/// let n = 3;
/// herald_sdk::debug!("got {n} rows");
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(&::std::format!($($arg)*)) };
}

/// Logs an `info` line with `format!` arguments: `herald_sdk::info!("sent to {channel}")`.
///
/// # Example
///
/// ```no_run
/// let channel = "#ml-alerts";
/// herald_sdk::info!("sent to {channel}");
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}

/// Logs a `warn` line with `format!` arguments.
///
/// # Example
///
/// ```no_run
/// let channel = "#ml-alerts";
/// herald_sdk::warn!("fell back to {channel}");
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}

/// Logs an `error` line with `format!` arguments.
///
/// # Example
///
/// ```no_run
/// let reason = "bad token";
/// herald_sdk::error!("refused: {reason}");
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}
