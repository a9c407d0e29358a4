//! Per-execution store state: the empty WASI context, the memory limiter, the CPU clock, and the
//! bounded log buffer.

use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::SandboxLimits;
use super::bindings::LogLevel;
use super::io::{HostIo, IoLimits, RequestRecord};
use super::output::BoundedOutput;

/// Bytes of the plugin's stderr kept (a Rust panic message lands there).
const STDERR_CAPACITY: usize = 4 << 10;
/// Bytes of the plugin's stdout kept; each line becomes an `info` log line.
const STDOUT_CAPACITY: usize = 4 << 10;
/// The longest single log line kept; longer lines are cut.
const MAX_LOG_LINE: usize = 2 << 10;

/// One line a plugin logged.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LogLine {
    /// `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The text (cut at 2 KiB).
    pub message: String,
}

/// What a store holds for one call into a plugin.
pub(super) struct ExecState {
    wasi: WasiCtx,
    table: ResourceTable,
    stdout: BoundedOutput,
    stderr: BoundedOutput,
    limiter: MemoryLimiter,
    clock: CpuClock,
    logs: LogBuffer,
    io_limits: IoLimits,
    pub(super) io: Option<HostIo>,
}

/// A store for one call: WASI grants nothing (no files, environment, arguments, sockets or
/// stdin); stderr goes to a small buffer; CPU and memory are capped.
pub(super) fn new_store(
    engine: &Engine,
    limits: &SandboxLimits,
    io: Option<HostIo>,
    tick: Duration,
) -> Store<ExecState> {
    let stdout = BoundedOutput::new(STDOUT_CAPACITY);
    let stderr = BoundedOutput::new(STDERR_CAPACITY);
    let wasi = WasiCtx::builder()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .build();
    let state = ExecState {
        wasi,
        table: ResourceTable::new(),
        stdout,
        stderr,
        limiter: MemoryLimiter {
            max_bytes: limits.memory_bytes,
            exhausted: false,
        },
        clock: CpuClock::new(limits.cpu_time, tick),
        logs: LogBuffer {
            lines: Vec::new(),
            bytes: 0,
            max_bytes: limits.max_log_bytes,
            dropped: 0,
        },
        io_limits: IoLimits {
            max_requests: limits.max_requests,
            max_request_bytes: limits.max_request_bytes,
            max_response_bytes: limits.max_response_bytes,
        },
        io,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(state_ticks(limits.cpu_time, tick));
    store.epoch_deadline_callback(|mut context| {
        let clock = &mut context.data_mut().clock;
        match clock.remaining() {
            Some(left) => Ok(UpdateDeadline::Continue(state_ticks(left, clock.tick))),
            None => {
                clock.hit = true;
                Ok(UpdateDeadline::Interrupt)
            }
        }
    });
    store
}

fn state_ticks(duration: Duration, tick: Duration) -> u64 {
    (duration.as_micros() / tick.as_micros().max(1)).max(1) as u64
}

impl ExecState {
    pub(super) fn io_limits(&self) -> IoLimits {
        self.io_limits
    }

    pub(super) fn memory_exhausted(&self) -> bool {
        self.limiter.exhausted
    }

    pub(super) fn cpu_deadline_hit(&self) -> bool {
        self.clock.hit
    }

    /// The end of what the plugin wrote to stderr, on one line.
    pub(super) fn stderr_tail(&self) -> String {
        let (bytes, _) = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        // Rust's hint about RUST_BACKTRACE means nothing inside the sandbox.
        let line = match line.find(" note: run with `RUST_BACKTRACE=1`") {
            Some(index) => line[..index].to_string(),
            None => line,
        };
        let start = line
            .char_indices()
            .rev()
            .nth(300)
            .map(|(i, _)| i)
            .unwrap_or(0);
        line[start..].to_string()
    }

    /// Records time spent waiting on the host, which does not count against the CPU limit.
    pub(super) fn add_host_wait(&mut self, waited: Duration) {
        self.clock.host_wait += waited;
    }

    pub(super) fn push_log(&mut self, level: LogLevel, message: &str) {
        self.logs.push(level_name(level), message);
    }

    /// The requests made and the log lines (stderr appended as `warn` lines).
    pub(super) fn into_records(mut self) -> (Vec<RequestRecord>, Vec<super::LogLine>) {
        let (stdout, dropped) = self.stdout.contents();
        if !stdout.is_empty() {
            for line in String::from_utf8_lossy(&stdout).lines() {
                if !line.trim().is_empty() {
                    self.logs.push("info", &format!("stdout: {line}"));
                }
            }
            if dropped > 0 {
                self.logs.push(
                    "warn",
                    &format!("stdout: {dropped} more byte(s) dropped ({STDOUT_CAPACITY} kept)"),
                );
            }
        }
        let stderr = self.stderr_tail();
        if !stderr.is_empty() {
            self.logs.push("warn", &format!("stderr: {stderr}"));
        }
        if self.logs.dropped > 0 {
            let note = format!(
                "{} more log line(s) dropped: log limit reached",
                self.logs.dropped
            );
            self.logs.lines.push(LogLine {
                level: "warn",
                message: note,
            });
        }
        let requests = self.io.map(|io| {
            let unrecorded = io.requested - io.records.len();
            if unrecorded > 0 {
                self.logs.lines.push(LogLine {
                    level: "warn",
                    message: format!(
                        "{unrecorded} more request(s) refused and not recorded: request limit reached"
                    ),
                });
            }
            io.records
        });
        (requests.unwrap_or_default(), self.logs.lines)
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

impl WasiView for ExecState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps linear memory and remembers that the cap was hit, so the resulting trap can be named.
struct MemoryLimiter {
    max_bytes: usize,
    exhausted: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exhausted = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Measures the CPU time a plugin's own code uses: wall time since the call began, less the time
/// it spent waiting on host I/O.
struct CpuClock {
    started: Instant,
    host_wait: Duration,
    budget: Duration,
    tick: Duration,
    hit: bool,
}

impl CpuClock {
    fn new(budget: Duration, tick: Duration) -> Self {
        Self {
            started: Instant::now(),
            host_wait: Duration::ZERO,
            budget,
            tick,
            hit: false,
        }
    }

    fn remaining(&self) -> Option<Duration> {
        let used = self.started.elapsed().saturating_sub(self.host_wait);
        self.budget.checked_sub(used).filter(|left| !left.is_zero())
    }
}

/// Log lines up to a byte budget; lines past it are counted.
struct LogBuffer {
    lines: Vec<LogLine>,
    bytes: usize,
    max_bytes: usize,
    dropped: usize,
}

impl LogBuffer {
    fn push(&mut self, level: &'static str, message: &str) {
        let cut = match message.char_indices().nth(MAX_LOG_LINE) {
            Some((index, _)) => &message[..index],
            None => message,
        };
        if self.bytes + cut.len() > self.max_bytes {
            self.dropped += 1;
            return;
        }
        self.bytes += cut.len();
        self.lines.push(LogLine {
            level,
            message: cut.to_string(),
        });
    }
}
