//! A run's output as the host keeps it: one stream (stdout and stderr interleaved as the agent
//! read them), of which the last [`OUTPUT_TAIL_BYTES`] are stored along with how many bytes the
//! stream has had in all. The agent appends chunks while the job runs; each names the offset it
//! starts at, so a retried chunk is taken once and a chunk the agent had to drop shows as a cut.

/// At most this many bytes of a run's output are kept (its tail).
pub const OUTPUT_TAIL_BYTES: usize = 64 * 1024;

/// Output an agent appends to an item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputChunk {
    /// Where in the run's stream `text` starts (bytes): equal to what the host already has for
    /// a chunk that follows on, less for a retry of one the host already took, more when the
    /// agent cut the bytes in between. `None` appends at the end, whatever that is.
    pub offset: Option<u64>,
    /// The output.
    pub text: String,
}

/// The stored output of an item: its tail and the length of the whole stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredOutput {
    /// The last [`OUTPUT_TAIL_BYTES`] (at most) of the stream.
    pub kept: String,
    /// Bytes the stream has had in all; `total - kept.len()` were cut.
    pub total: u64,
}

impl StoredOutput {
    /// Bytes of the stream no longer kept.
    pub fn cut(&self) -> u64 {
        self.total.saturating_sub(self.kept.len() as u64)
    }

    /// Takes a chunk: what the host already has of it is skipped, a gap before it counts as
    /// cut, and the tail is trimmed to [`OUTPUT_TAIL_BYTES`] at a character boundary.
    pub fn append(&mut self, chunk: &OutputChunk) {
        let offset = chunk.offset.unwrap_or(self.total);
        let text = if offset < self.total {
            // A retry: skip what was taken already (on a character boundary).
            let mut skip = usize::try_from(self.total - offset).unwrap_or(usize::MAX);
            if skip >= chunk.text.len() {
                return;
            }
            while !chunk.text.is_char_boundary(skip) {
                skip += 1;
            }
            &chunk.text[skip..]
        } else {
            if offset > self.total {
                // The agent cut what lies between: what is kept no longer joins on.
                self.kept.clear();
                self.total = offset;
            }
            &chunk.text
        };
        self.kept.push_str(text);
        self.total += text.len() as u64;
        let start = tail_start(&self.kept);
        if start > 0 {
            self.kept.drain(..start);
        }
    }

    /// The stream from byte `from` on, as far as it is kept: where the text returned starts
    /// (later than `from` when the bytes there were cut) and the text.
    pub fn since(&self, from: u64) -> (u64, &str) {
        let cut = self.cut();
        let from = from.clamp(cut, self.total);
        let mut at = usize::try_from(from - cut).unwrap_or(usize::MAX);
        while !self.kept.is_char_boundary(at) {
            at += 1;
        }
        (cut + at as u64, &self.kept[at..])
    }
}

/// Where the last [`OUTPUT_TAIL_BYTES`] of `text` start, on a character boundary.
fn tail_start(text: &str) -> usize {
    let mut start = text.len().saturating_sub(OUTPUT_TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    start
}

/// The last [`OUTPUT_TAIL_BYTES`] of `output`, cut at a character boundary.
pub fn output_tail(output: &str) -> &str {
    &output[tail_start(output)..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(offset: Option<u64>, text: &str) -> OutputChunk {
        OutputChunk {
            offset,
            text: text.into(),
        }
    }

    #[test]
    fn chunks_join_on_and_a_retry_is_taken_once() {
        let mut output = StoredOutput::default();
        output.append(&chunk(Some(0), "epoch 1\n"));
        output.append(&chunk(Some(8), "epoch 2\n"));
        // The same chunk again (its answer was lost), and one overlapping what was taken.
        output.append(&chunk(Some(8), "epoch 2\n"));
        output.append(&chunk(Some(12), "h 2\nepoch 3\n"));
        assert_eq!(output.kept, "epoch 1\nepoch 2\nepoch 3\n");
        assert_eq!((output.total, output.cut()), (24, 0));
        output.append(&chunk(None, "done"));
        assert_eq!(output.since(16), (16, "epoch 3\ndone"));
    }

    #[test]
    fn the_tail_is_bounded_and_says_how_much_was_cut() {
        let mut output = StoredOutput::default();
        let line = "x".repeat(1023) + "\n";
        for n in 0..100u64 {
            output.append(&chunk(Some(n * 1024), &line));
        }
        assert_eq!(output.total, 100 * 1024);
        assert_eq!(output.kept.len(), OUTPUT_TAIL_BYTES);
        assert_eq!(output.cut(), 36 * 1024);
        // Asking for cut bytes answers from the first kept one.
        assert_eq!(output.since(0).0, 36 * 1024);
        // A gap the agent left counts as cut; the tail starts again after it.
        output.append(&chunk(Some(200 * 1024), "late"));
        assert_eq!(
            (output.kept.as_str(), output.total),
            ("late", 200 * 1024 + 4)
        );
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        let mut output = StoredOutput::default();
        output.append(&chunk(Some(0), &"é".repeat(OUTPUT_TAIL_BYTES)));
        assert!(output.kept.len() <= OUTPUT_TAIL_BYTES);
        assert_eq!(output.total, 2 * OUTPUT_TAIL_BYTES as u64);
        let (start, text) = output.since(output.cut() + 1);
        assert!(text.starts_with('é') && start == output.cut() + 2);
        // A retry overlapping mid-character skips to the next whole one.
        let mut short = StoredOutput::default();
        short.append(&chunk(Some(0), "aé"));
        short.append(&chunk(Some(2), "éb"));
        assert_eq!(short.kept, "aéb");
    }
}
