//! The `herald` binary: see `herald --help`.

/// mimalloc rather than the system allocator: a delivery allocates and frees many small buffers
/// across threads, and glibc's malloc spent about a fifth of the server's time under load on
/// them (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    herald::cli::main()
}
