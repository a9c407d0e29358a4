//! Which answers are gzipped (when the client asks): the console's files and the API's reads of
//! at least 1 KiB, never an answer on the ingest path. An event post's answer is small, every
//! training loop and CI job waits on it, and clients relay or log it as it came (httpx, which
//! the Python client uses, asks for gzip by default): it stays plain, with its `Content-Length`.

use axum::http::{Extensions, HeaderMap, StatusCode, Version};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};

/// Marks an answer that is never compressed (a response extension the ingest handlers add).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plain;

/// The smallest answer worth compressing: under it gzip's header and the CPU cost outweigh the
/// bytes saved.
const SMALLEST: u16 = 1024;

/// gzip for answers of [`SMALLEST`] bytes or more that are not [`Plain`] (and none of what
/// tower-http never compresses: images, event streams, gRPC).
pub(crate) fn layer() -> CompressionLayer<impl Predicate> {
    let unmarked = |_: StatusCode, _: Version, _: &HeaderMap, extensions: &Extensions| {
        extensions.get::<Plain>().is_none()
    };
    let predicate = DefaultPredicate::new()
        .and(SizeAbove::new(SMALLEST))
        .and(unmarked);
    // The default level: `Fastest` sends the API document half again as large (31.6 KB, not
    // 19.7 KB), and what is compressed here is read by people, not on the hot path.
    CompressionLayer::new().compress_when(predicate)
}
