//! The HTTP API (axum): one file per resource, mounted under `/v1`.

mod health;
mod plugins;

use std::sync::Arc;

use axum::Router;

use crate::engine::PluginEngine;
use crate::plugins::PluginRegistry;

/// What every route can reach.
#[derive(Clone)]
pub struct AppState {
    /// The sandbox.
    pub engine: PluginEngine,
    /// Installed plugins.
    pub plugins: Arc<PluginRegistry>,
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .nest("/v1", plugins::routes())
        .with_state(state)
}
