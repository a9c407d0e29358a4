//! The on-disk cache of compiled components, so that a restart does not recompile plugins.
//!
//! Entries are keyed by the SHA-256 of the component and the engine's compatibility hash (wasmtime
//! version and settings), so a changed plugin or an upgraded host never loads a stale entry. The
//! directory must be writable only by the operator: deserialising trusts its contents.
//!
//! The cache is bounded (`HERALD_COMPILED_CACHE_MAX`, default 512 MiB): each entry written
//! evicts the least recently used ones (a use refreshes an entry's modification time) until the
//! directory fits. An entry a running host has loaded stays usable when evicted: it is mapped, and
//! removing the file does not unmap it.

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
            Ok(component) => {
                touch(&path);
                return Ok(component);
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %one_line(&error), "ignoring unusable compiled-component cache entry");
            }
        }
    }
    let component = Component::new(engine, bytes).map_err(|e| LoadError::Compile(one_line(&e)))?;
    match store(&component, &path) {
        Ok(()) => evict(dir, &path, bound()),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "could not write the compiled-component cache");
        }
    }
    Ok(component)
}

/// The default bound: a few dozen plugins' compiled forms (a Python or JavaScript one is tens of
/// MiB, a Rust one a few).
const DEFAULT_BOUND: u64 = 512 << 20;

/// The most the cache may hold, in bytes: `HERALD_COMPILED_CACHE_MAX` (`2GiB`, `300MiB`, bytes),
/// else [`DEFAULT_BOUND`]. An unreadable value is said once and the default used.
fn bound() -> u64 {
    static BOUND: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BOUND.get_or_init(|| match std::env::var("HERALD_COMPILED_CACHE_MAX") {
        Ok(text) => super::limits::parse_bytes(&text)
            .map(|n| n as u64)
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "HERALD_COMPILED_CACHE_MAX: using the default 512MiB");
                DEFAULT_BOUND
            }),
        Err(_) => DEFAULT_BOUND,
    })
}

/// Marks an entry used now (its modification time), so that eviction takes it last.
fn touch(path: &Path) {
    let now = std::time::SystemTime::now();
    if let Err(error) = std::fs::File::options()
        .append(true)
        .open(path)
        .and_then(|file| file.set_modified(now))
    {
        tracing::debug!(path = %path.display(), %error, "could not mark a cache entry used");
    }
}

/// Removes the least recently used entries of `dir` until it holds at most `bound` bytes of
/// them; `keep` (the entry just written) stays whatever its size.
fn evict(dir: &Path, keep: &Path, bound: u64) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(std::time::SystemTime, u64, std::path::PathBuf)> = listing
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "cwasm"))
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            Some((meta.modified().ok()?, meta.len(), entry.path()))
        })
        .collect();
    let mut total: u64 = entries.iter().map(|(_, size, _)| size).sum();
    entries.sort();
    for (_, size, path) in entries {
        if total <= bound {
            break;
        }
        if path == keep {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                total -= size;
                tracing::info!(path = %path.display(), size, "evicted a compiled component from the cache (the least recently used)");
            }
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "could not evict a cache entry")
            }
        }
    }
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
