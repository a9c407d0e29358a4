//! How `herald agent` starts a job's process so that it cannot reach the agent's secrets and
//! cannot outlive the agent: a private run directory, an environment of named variables only,
//! another user when asked, its own process group, and a reaper that kills that group whenever
//! the agent goes, however it goes.

use std::ffi::CString;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// Makes this process non-dumpable (as ssh-agent does): other processes of the same user, a
/// job included, can no longer read its `/proc/<pid>/environ`, `mem` or attach to it. Its
/// `cmdline` stays readable by everyone, which is why a key is never passed as an argument.
pub(super) fn protect_self() -> anyhow::Result<()> {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) changes a flag of this process; it reads no memory of
    // ours.
    let result = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if result != 0 {
        bail!(
            "cannot make the agent non-dumpable: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// A user jobs run as (`--run-as`).
#[derive(Debug, Clone)]
pub(super) struct RunAs {
    /// Its name.
    pub name: String,
    /// Its user id.
    pub uid: u32,
    /// Its primary group id.
    pub gid: u32,
    /// Its home directory.
    pub home: PathBuf,
}

impl RunAs {
    /// Looks `name` up in the user database; the agent must be root to switch to it.
    pub(super) fn lookup(name: &str) -> anyhow::Result<Self> {
        // SAFETY: geteuid reads this process's credentials.
        if unsafe { libc::geteuid() } != 0 {
            bail!("--run-as needs the agent to run as root (it switches each job to that user)");
        }
        let c_name = CString::new(name).context("--run-as: a user name has no NUL")?;
        // SAFETY: getpwnam returns a pointer into static storage or null; it is read at once,
        // before any other call could overwrite it (the agent calls this once, at start).
        let entry = unsafe { libc::getpwnam(c_name.as_ptr()) };
        if entry.is_null() {
            bail!("--run-as: no user named {name}");
        }
        // SAFETY: `entry` is a valid passwd record (checked non-null above).
        let (uid, gid, home) = unsafe {
            let entry = &*entry;
            let home = std::ffi::CStr::from_ptr(entry.pw_dir)
                .to_string_lossy()
                .into_owned();
            (entry.pw_uid, entry.pw_gid, home)
        };
        if uid == 0 {
            bail!("--run-as {name}: that is root; jobs must not run as the agent's user");
        }
        Ok(Self {
            name: name.to_string(),
            uid,
            gid,
            home: PathBuf::from(home),
        })
    }
}

/// A run's private directory (mode 0700, the job's user its owner) holding its config file
/// (0600); removed with everything in it when dropped.
pub(super) struct RunDir {
    dir: PathBuf,
    /// The config file (`HERALD_RUN_CONFIG`).
    pub config: PathBuf,
}

impl RunDir {
    /// Creates `<base>/herald-run-<id>-<random>/config.json`. Neither may exist beforehand:
    /// something planted at either path (a symlink included) makes this fail rather than write
    /// through it. The random part makes each claim's directory new, even when a killed agent
    /// left an earlier one of the same item behind.
    pub(super) fn create(
        base: &Path,
        id: &str,
        config: &str,
        owner: Option<&RunAs>,
    ) -> anyhow::Result<Self> {
        let nonce = hex::encode(crate::auth::random_bytes::<8>());
        let dir = base.join(format!("herald-run-{id}-{nonce}"));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating the run directory {}", dir.display()))?;
        let made = Self {
            config: dir.join("config.json"),
            dir,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&made.config)
            .with_context(|| format!("creating {}", made.config.display()))?;
        std::io::Write::write_all(&mut file, config.as_bytes())?;
        if let Some(user) = owner {
            for path in [&made.dir, &made.config] {
                std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))
                    .with_context(|| format!("giving {} to {}", path.display(), user.name))?;
            }
        }
        Ok(made)
    }
}

impl RunDir {
    /// The directory itself.
    pub(super) fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Asks the kernel to SIGKILL the calling process when the thread that started it exits: set in
/// the job's process between fork and exec, it ends the job's first process if the agent dies
/// before its reaper is in place.
pub(super) fn die_with_parent(command: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl, which is
    // async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A process that kills a job's process group as soon as its standard input closes: when the
/// agent drops [`Reaper`] at the end of the run, or when the kernel closes the agent's end
/// because the agent died (`kill -9` included). It runs as the agent's user, in a process group
/// of its own, so neither the job nor a signal to the agent's terminal reaches it.
pub(super) struct Reaper {
    child: tokio::process::Child,
}

impl Reaper {
    /// Starts the reaper of process group `group`, which also removes `run_dir` (the agent's
    /// own cleanup does not run when it is killed).
    pub(super) fn start(group: u32, run_dir: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding the herald binary for the reaper")?;
        let child = tokio::process::Command::new(exe)
            .args(["agent-reaper", "--group", &group.to_string(), "--dir"])
            .arg(run_dir)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .context("starting the run's reaper")?;
        Ok(Self { child })
    }

    /// Ends the run's group now (the run is over) and waits for the reaper to exit.
    pub(super) async fn finish(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// `herald agent-reaper --group PGID --dir RUN_DIR`: waits for standard input to close, then
/// SIGKILLs the group and removes the run's directory. Runs without the async runtime.
pub(crate) fn reap(group: i32, run_dir: Option<&Path>) -> std::process::ExitCode {
    if group <= 1 {
        eprintln!("error: agent-reaper: --group must be a process group id");
        return std::process::ExitCode::from(2);
    }
    // Termination signals meant for the agent must not stop the reaper before its work.
    // SAFETY: setting a signal's disposition to ignored touches no memory of ours.
    unsafe {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
            libc::signal(signal, libc::SIG_IGN);
        }
    }
    let mut buffer = [0u8; 64];
    loop {
        match std::io::Read::read(&mut std::io::stdin(), &mut buffer) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    signal_group(Some(group as u32), libc::SIGKILL);
    // Only a directory this agent made: a run directory's name, never a link.
    if let Some(dir) = run_dir.filter(|d| {
        d.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("herald-run-"))
            && std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir())
    }) {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::process::ExitCode::SUCCESS
}

/// Sends `signal` to the process group the run's process leads (its id is the group's).
pub(super) fn signal_group(group: Option<u32>, signal: libc::c_int) {
    if let Some(group) = group {
        // SAFETY: `kill` with a negative pid signals the process group this agent created for
        // the run (`process_group(0)`); it reads no memory of ours.
        unsafe {
            libc::kill(-(group as libc::pid_t), signal);
        }
    }
}

/// SIGTERM to the run's process group, then SIGKILL after `grace`; returns how the process
/// ended.
pub(super) async fn stop(
    child: &mut tokio::process::Child,
    group: Option<u32>,
    grace: Duration,
) -> anyhow::Result<std::process::ExitStatus> {
    signal_group(group, libc::SIGTERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => Ok(status?),
        Err(_) => {
            signal_group(group, libc::SIGKILL);
            Ok(child.wait().await?)
        }
    }
}

/// The exit code, or 128 + the signal's number for a process a signal ended.
pub(super) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}
