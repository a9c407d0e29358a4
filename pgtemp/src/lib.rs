//! A throwaway PostgreSQL server: `initdb` into a fresh directory, `pg_ctl start` on a free
//! loopback port, `pg_ctl stop` and the directory removed when the [`PgServer`] is dropped.
//! `cargo xtask test` starts one per run (its tests each create their own database in it) and
//! herald-bench starts one for its PostgreSQL figures. When the server programs are missing on a
//! Debian machine, [`PgServer::start`] installs the `postgresql` package first.
//!
//! Run as root (as CI is), the server runs as the `postgres` user, since PostgreSQL refuses to
//! run as root.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running server, stopped when dropped.
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    run_as_postgres: bool,
}

/// How the server is tuned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// Durable as shipped (`fsync` and `synchronous_commit` on): for benchmark figures.
    Durable,
    /// No fsync: for tests, which throw the data away.
    Fast,
}

impl PgServer {
    /// Starts a server whose data directory is `dir` (emptied first). The superuser is `herald`,
    /// trusted on loopback.
    pub fn start(dir: &Path, tuning: Tuning) -> Result<Self, String> {
        let bin = match server_bin() {
            Some(bin) => bin,
            None => {
                install_debian_packages(
                    &["postgresql"],
                    "PostgreSQL's server programs (initdb, pg_ctl)",
                )?;
                server_bin().ok_or("the postgresql package installed no initdb")?
            }
        };
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let run_as_postgres = is_root();
        if run_as_postgres {
            run(
                Command::new("chown").arg("postgres:postgres").arg(dir),
                "chown the PostgreSQL directory",
            )?;
        }
        let data = dir.join("data");
        let mut server = Self {
            bin,
            dir: dir.to_path_buf(),
            port: 0,
            run_as_postgres,
        };
        let mut initdb = server.command("initdb");
        run(
            initdb.arg("-D").arg(&data).args([
                "-U",
                "herald",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
            "initdb",
        )?;
        server.port = free_port()?;
        server.restart(tuning)?;
        Ok(server)
    }

    /// The URL of database `name` for the superuser.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://herald@127.0.0.1:{}/{name}", self.port)
    }

    /// The server's main process (the postmaster), while it runs.
    pub fn pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join("data").join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Stops the server at once (as a crash would); its data stays for [`PgServer::restart`].
    pub fn kill(&self) -> Result<(), String> {
        let mut stop = self.command("pg_ctl");
        run(
            stop.arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"]),
            "pg_ctl stop",
        )
    }

    /// Starts the server (again, after [`PgServer::kill`]) on its port.
    pub fn restart(&self, tuning: Tuning) -> Result<(), String> {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB",
            self.port,
            self.dir.display()
        );
        if tuning == Tuning::Fast {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let mut start = self.command("pg_ctl");
        run(
            start
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-o", &options, "-w", "-t", "60", "start"]),
            "pg_ctl start",
        )
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed server's `bin` directory (Debian keeps each major version apart).
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Installs Debian packages with apt-get (the suites run as root, as CI does); `why` says what
/// needs them, for the error on a machine that is not Debian.
pub fn install_debian_packages(packages: &[&str], why: &str) -> Result<(), String> {
    let apt = Path::new("/usr/bin/apt-get");
    if !apt.exists() {
        return Err(format!(
            "{} are needed for {why}, and this is not a Debian machine: install them",
            packages.join(", ")
        ));
    }
    run(Command::new(apt).args(["update", "-qq"]), "apt-get update")?;
    run(
        Command::new(apt)
            .args(["install", "-y", "-qq"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &format!("apt-get install {}", packages.join(" ")),
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
