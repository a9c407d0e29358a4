//! The one harness every end-to-end test shares, one file per part: the server under test
//! (`server.rs`: the real `herald` binary on an ephemeral port, stopped when dropped), receivers
//! on 127.0.0.1 (`receiver.rs`), the API client and the calls most tests make (`api.rs`), the one
//! headless Chromium the console tests share (`browser.rs`), waiting on conditions (`wait.rs`),
//! and the README's examples (`readme.rs`).

mod api;
pub(crate) mod browser;
mod checks;
mod readme;
mod receiver;
mod server;
mod wait;

pub(crate) use api::*;
pub(crate) use readme::*;
pub(crate) use receiver::*;
pub(crate) use server::*;
pub(crate) use wait::*;
