//! The `herald` binary: see `herald --help`.

fn main() -> std::process::ExitCode {
    herald::cli::main()
}
