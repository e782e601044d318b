//! The build sandbox: a command run in fresh user, mount, pid, network,
//! UTS and IPC namespaces, as uid 1000, over a read-only root, with only
//! loopback networking and a fixed environment. No setuid helper and no
//! root: an unprivileged user gets the same sandbox as root does.
//!
//! Namespaces are per-process and `unshare(CLONE_NEWUSER)` refuses a
//! multi-threaded caller, so the sandbox is set up by fresh processes of
//! the calling binary (which calls [`helper_main`] first thing in `main`):
//!
//! 1. `HELPER_ARG outer WORK`: unshares the six namespaces and maps uid 0
//!    inside to the caller's uid; starts the next stage, which is the new
//!    pid namespace's pid 1, and passes on its exit status.
//! 2. `HELPER_ARG init WORK`: builds the root on a tmpfs (or, for
//!    [`SandboxSpec::overlay`], mounts a writable overlay over it), mounts `/proc`,
//!    a minimal `/dev` and tmpfs `/tmp`, pivots into it, brings loopback
//!    up, then enters a nested user namespace that maps only uid 1000
//!    (so the command holds no capabilities at all) and runs the command
//!    as its child, reaping orphans until it exits.
//!
//! A failure while setting up is written to `WORK/report.json` and ends the
//! stage with [`SETUP_FAILED`]; the caller turns it into a [`SandboxError`]
//! that says why (a disabled or restricted user-namespace feature is
//! diagnosed as such). There is no fallback to running outside a sandbox.

mod error;
mod inside;
mod log;
mod netlink;
mod probe;
mod spec;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use error::{SandboxError, SetupFailure};
pub use log::{first_line, log_tail, run_logged};
pub use spec::{Bind, SandboxSpec};

/// The first argument with which the calling binary runs a sandbox stage.
pub const HELPER_ARG: &str = "__sandbox";

/// The exit status of a stage that failed before running the command.
pub const SETUP_FAILED: i32 = 125;

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    /// Killed by this signal.
    Signalled(i32),
}

impl Outcome {
    pub fn success(self) -> bool {
        self == Self::Exited(0)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exited(code) => write!(f, "exit status {code}"),
            Self::Signalled(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// Where the command's standard output and error go. Its input is always
/// `/dev/null`.
#[derive(Debug)]
pub enum Output {
    Inherit,
    /// Both streams appended to this file.
    File(fs::File),
}

/// Runs `spec` in a new sandbox. `helper` is the executable that calls
/// [`helper_main`] (usually `std::env::current_exe()`); `work` is a new,
/// empty, private directory for the sandbox's own files, which the caller
/// removes afterwards.
///
/// Call from the main thread: the sandbox dies with the thread that
/// started it.
pub fn run(spec: &SandboxSpec, helper: &Path, work: &Path, output: Output) -> Result<Outcome, SandboxError> {
    spec.check()?;
    // The stages change directory while setting up.
    let work = &std::path::absolute(work).map_err(|e| SandboxError::io(work, e))?;
    prepare_work(work, spec)?;
    let (stdout, stderr) = match output {
        Output::Inherit => (Stdio::inherit(), Stdio::inherit()),
        Output::File(file) => {
            let again = file.try_clone().map_err(|e| SandboxError::io(work, e))?;
            (Stdio::from(file), Stdio::from(again))
        }
    };
    let status = stage(helper, "outer", work)
        .stdout(stdout)
        .stderr(stderr)
        .status()
        .map_err(|source| SandboxError::Spawn { helper: helper.to_path_buf(), source })?;
    finish(work, status)
}

/// Checks that this machine can make the sandbox at all (user namespaces
/// allowed, mapping and mounting permitted) without running anything in
/// it, so a build stops before fetching and composing when it could
/// never run.
pub fn probe(helper: &Path, work: &Path) -> Result<(), SandboxError> {
    fs::create_dir(work).map_err(|e| SandboxError::io(work, e))?;
    let status = stage(helper, "probe", work)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|source| SandboxError::Spawn { helper: helper.to_path_buf(), source })?;
    match finish(work, status)? {
        Outcome::Exited(0) => Ok(()),
        other => Err(SandboxError::ProbeFailed { outcome: other }),
    }
}

/// For the calling binary's `main`: when started as a sandbox stage, runs
/// that stage and exits; otherwise returns at once. Must run before the
/// program starts any thread.
pub fn helper_main() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(HELPER_ARG.as_ref()) {
        return;
    }
    let stage = args.next();
    let work = args.next().map(PathBuf::from);
    let code = match (stage.as_ref().and_then(|s| s.to_str()), work) {
        (Some("outer"), Some(work)) => inside::outer(&work, false),
        (Some("probe"), Some(work)) => inside::outer(&work, true),
        (Some("init"), Some(work)) => inside::init(&work),
        _ => {
            eprintln!("{HELPER_ARG}: an internal entry point of the build sandbox, not a command");
            2
        }
    };
    std::process::exit(code);
}

/// The first stage, started with nothing of the caller's environment.
fn stage(helper: &Path, name: &str, work: &Path) -> Command {
    let mut command = Command::new(helper);
    command.arg(HELPER_ARG).arg(name).arg(work).env_clear().stdin(Stdio::null());
    command
}

fn prepare_work(work: &Path, spec: &SandboxSpec) -> Result<(), SandboxError> {
    fs::create_dir(work).map_err(|e| SandboxError::io(work, e))?;
    let spec_path = work.join(spec::SPEC_FILE);
    let bytes = serde_json::to_vec(spec).map_err(|e| SandboxError::io(&spec_path, e.into()))?;
    fs::write(&spec_path, bytes).map_err(|e| SandboxError::io(&spec_path, e))?;
    // The mount point of the new root's tmpfs.
    let root = work.join(spec::ROOT_DIR);
    fs::create_dir(&root).map_err(|e| SandboxError::io(&root, e))?;
    Ok(())
}

fn finish(work: &Path, status: std::process::ExitStatus) -> Result<Outcome, SandboxError> {
    use std::os::unix::process::ExitStatusExt;
    let report = work.join(spec::REPORT_FILE);
    if status.code() == Some(SETUP_FAILED)
        && let Ok(bytes) = fs::read(&report)
        && !bytes.is_empty()
    {
        let failure: SetupFailure = serde_json::from_slice(&bytes).map_err(|e| SandboxError::io(&report, e.into()))?;
        return Err(probe::diagnose(failure));
    }
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Outcome::Exited(code),
        (None, Some(signal)) => Outcome::Signalled(signal),
        (None, None) => Outcome::Exited(-1),
    })
}
