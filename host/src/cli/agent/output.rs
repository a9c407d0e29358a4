//! A job's output on its way to the server: both streams are read as they come into one
//! buffer, and sent while the job runs, a line-aligned chunk at a time, with the credentials the
//! agent holds (the run token, the lease token, its key) redacted. Each chunk names its offset in
//! the stream, so a retried chunk is taken once and one the agent dropped shows as a cut.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::delivery::redact::Redactor;
use crate::launch::{OUTPUT_TAIL_BYTES, OutputChunk};

/// A partial line longer than this is sent without waiting for its end.
const LONG_LINE: usize = 8 * 1024;

/// Output read and not yet sent.
#[derive(Default)]
struct Buffer {
    /// Bytes read and not yet sent.
    pending: Vec<u8>,
    /// Bytes dropped from the front of `pending` since the last chunk (the job wrote faster
    /// than they could be sent; the server keeps no more than [`OUTPUT_TAIL_BYTES`] anyway).
    dropped: u64,
    /// Where the next chunk starts in the server's stream.
    offset: u64,
}

/// The output of one run, shared by its stream readers and whoever sends it.
#[derive(Clone)]
pub(super) struct Output {
    buffer: Arc<Mutex<Buffer>>,
    redactor: Redactor,
}

impl Output {
    /// Output that redacts these values.
    pub(super) fn new(redact: impl IntoIterator<Item = String>) -> Self {
        Self {
            buffer: Arc::default(),
            redactor: Redactor::new(redact),
        }
    }

    /// Reads a stream to its end into the buffer (the two streams interleave as they arrive).
    pub(super) async fn read(self, mut stream: impl AsyncRead + Unpin) {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = stream.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            let mut buffer = self.buffer.lock().expect("not poisoned");
            buffer.pending.extend_from_slice(&chunk[..n]);
            let excess = buffer.pending.len().saturating_sub(OUTPUT_TAIL_BYTES);
            if excess > 0 {
                buffer.pending.drain(..excess);
                buffer.dropped += excess as u64;
            }
        }
    }

    /// The next chunk to send, if any: while the job runs, whole lines only (a secret is never
    /// split between two chunks, so redaction sees it whole), unless a line grows past
    /// [`LONG_LINE`]; at the `end`, everything. Counts the chunk as sent: one that cannot be
    /// delivered shows as a cut.
    pub(super) fn take(&self, end: bool) -> Option<OutputChunk> {
        let mut buffer = self.buffer.lock().expect("not poisoned");
        let pending = &buffer.pending;
        let len = if end {
            pending.len()
        } else {
            match pending.iter().rposition(|&b| b == b'\n') {
                Some(newline) => newline + 1,
                None if pending.len() >= LONG_LINE => match std::str::from_utf8(pending) {
                    Ok(_) => pending.len(),
                    // Keep a character cut in the middle for the next chunk.
                    Err(error) if error.error_len().is_none() => error.valid_up_to(),
                    Err(_) => pending.len(),
                },
                None => 0,
            }
        };
        if len == 0 && buffer.dropped == 0 {
            return None;
        }
        let bytes: Vec<u8> = buffer.pending.drain(..len).collect();
        let text = self.redactor.bytes(&bytes);
        let offset = buffer.offset + std::mem::take(&mut buffer.dropped);
        buffer.offset = offset + text.len() as u64;
        Some(OutputChunk {
            offset: Some(offset),
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(output: &Output, bytes: &[u8]) {
        let mut buffer = output.buffer.lock().unwrap();
        buffer.pending.extend_from_slice(bytes);
    }

    #[test]
    fn chunks_are_whole_lines_with_credentials_redacted() {
        let token = "hrt_0123456789abcdef0123456789abcdef".to_string();
        let output = Output::new([token.clone()]);
        feed(
            &output,
            format!("epoch 1\ntoken={}", &token[..10]).as_bytes(),
        );
        let first = output.take(false).unwrap();
        assert_eq!(
            first,
            OutputChunk {
                offset: Some(0),
                text: "epoch 1\n".into()
            }
        );
        // The rest of the line arrives: the token is whole in the next chunk, and redacted.
        feed(&output, format!("{}\n", &token[10..]).as_bytes());
        let second = output.take(false).unwrap();
        assert_eq!(second.offset, Some(8));
        assert!(second.text.starts_with("token=") && !second.text.contains("0123456789abcdef"));
        assert_eq!(output.take(false), None);
        // At the end, a partial line goes too.
        feed(&output, b"no newline");
        assert_eq!(output.take(false), None);
        let last = output.take(true).unwrap();
        assert_eq!(last.offset, Some(8 + second.text.len() as u64));
        assert_eq!(last.text, "no newline");
    }

    #[test]
    fn what_was_dropped_shows_as_a_gap() {
        let output = Output::new([]);
        {
            let mut buffer = output.buffer.lock().unwrap();
            buffer.pending.extend_from_slice(b"tail\n");
            buffer.dropped = 1000;
        }
        assert_eq!(
            output.take(false),
            Some(OutputChunk {
                offset: Some(1000),
                text: "tail\n".into()
            })
        );
    }

    #[test]
    fn a_long_line_is_cut_between_characters() {
        let output = Output::new([]);
        let mut bytes = "é".repeat(LONG_LINE / 2).into_bytes();
        bytes.push(0xc3); // the first byte of another é
        feed(&output, &bytes);
        let chunk = output.take(false).unwrap();
        assert_eq!(chunk.text.len(), LONG_LINE);
        feed(&output, &[0xa9]);
        assert_eq!(output.take(true).unwrap().text, "é");
    }
}
