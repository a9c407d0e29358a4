//! The on-disk cache of compiled components, so that a restart does not recompile plugins.
//!
//! Entries are keyed by the SHA-256 of the component and the engine's compatibility hash (wasmtime
//! version and settings), so a changed plugin or an upgraded host never loads a stale entry. The
//! directory must be writable only by the operator: deserialising trusts its contents.

use std::hash::{Hash, Hasher};
use std::path::Path;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::LoadError;
use super::failure::one_line;

/// The SHA-256 of a component, in hex.
pub(super) fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Loads the compiled form of `bytes` (whose [`digest`] is `digest`) from `dir`, or compiles it
/// and stores it there.
pub(super) fn load_or_compile(
    engine: &Engine,
    dir: &Path,
    bytes: &[u8],
    digest: &str,
) -> Result<Component, LoadError> {
    let path = dir.join(format!("{}.cwasm", cache_key(engine, digest)));
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of this same engine
        // configuration (the key includes its compatibility hash) into the operator's own
        // directory; wasmtime still checks the header and version before using it.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %one_line(&error), "ignoring unusable compiled-component cache entry");
            }
        }
    }
    let component = Component::new(engine, bytes).map_err(|e| LoadError::Compile(one_line(&e)))?;
    if let Err(error) = store(&component, &path) {
        tracing::warn!(path = %path.display(), %error, "could not write the compiled-component cache");
    }
    Ok(component)
}

/// Whether `dir` holds the compiled form of the component whose [`digest`] is `digest`.
pub(super) fn holds(engine: &Engine, dir: &Path, digest: &str) -> bool {
    dir.join(format!("{}.cwasm", cache_key(engine, digest)))
        .exists()
}

fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    let compiled = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
    // Write then rename, so a crash never leaves a half-written entry under the real name.
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, compiled)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

fn cache_key(engine: &Engine, digest: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{digest}-{:016x}", hasher.finish())
}
