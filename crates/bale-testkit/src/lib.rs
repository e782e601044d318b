//! What bale's tests share.
//!
//! Every test that needs a tool, root, a file of the host or the network
//! asks for it here. Without `BALE_REQUIRE_TOOLS=1` a missing prerequisite
//! skips the test with a line saying why; with it (CI sets it) the test
//! fails, so nothing CI is meant to prove is silently left out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod elf;
pub mod npm;
pub mod pypi;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The uid and gid tests drop to when they need another user (`nobody`).
pub const OTHER_USER: (u32, u32) = (65534, 65534);

/// Is a missing prerequisite a failure (`BALE_REQUIRE_TOOLS=1`)?
pub fn strict() -> bool {
    std::env::var_os("BALE_REQUIRE_TOOLS").is_some_and(|v| v == "1")
}

/// Reports a missing prerequisite: a panic when [`strict`], else a note.
/// Returns false so callers can write `if !require_x() { return; }`.
pub fn missing(what: &str) -> bool {
    if strict() {
        panic!("{what} (BALE_REQUIRE_TOOLS=1 makes this a failure; scripts/install-deps installs the tools)");
    }
    eprintln!("skipping: {what}");
    false
}

pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(tool)).find(|p| p.is_file())
}

/// The path of `tool`, or `None` (a failure when strict) if it is not on PATH.
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    match which(tool) {
        Some(path) => Some(path),
        None => {
            missing(&format!("{tool} is not on PATH"));
            None
        }
    }
}

/// All of `tools`, or false.
pub fn require_tools(tools: &[&str]) -> bool {
    tools.iter().all(|tool| require_tool(tool).is_some())
}

/// A file of the host a test reads (a keyring, a static binary).
pub fn require_file(path: &Path, what: &str) -> bool {
    path.exists() || missing(&format!("{what} ({}) is not on this machine", path.display()))
}

pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Root, for tests that chown, run containers or race bale as another user.
pub fn require_root(why: &str) -> bool {
    is_root() || missing(&format!("{why} needs root"))
}

/// The network, for the one live test per source. `BALE_LIVE=1` turns it
/// on; when strict it must be on unless `BALE_LIVE=0` says the run is
/// deliberately offline.
pub fn require_live() -> bool {
    match std::env::var("BALE_LIVE").as_deref() {
        Ok("1") => true,
        Ok("0") => {
            eprintln!("skipping: BALE_LIVE=0 (an offline run)");
            false
        }
        _ => missing("a live test needs BALE_LIVE=1 and the network"),
    }
}

/// `program` run as [`OTHER_USER`] through `setpriv` (the caller is root).
pub fn as_other_user(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let (uid, gid) = OTHER_USER;
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={uid}")).arg(format!("--regid={gid}")).arg("--clear-groups").arg("--").arg(program);
    cmd
}

/// Makes `path` and everything below it belong to [`OTHER_USER`].
pub fn give_to_other_user(path: &Path) {
    let (uid, gid) = OTHER_USER;
    let status = Command::new("chown").arg("-R").arg(format!("{uid}:{gid}")).arg(path).status().unwrap();
    assert!(status.success(), "chown -R {}", path.display());
}

/// A pause point of bale's (see `bale_fileset::hook`): bale stops there,
/// the test changes the world, then lets it go on.
#[derive(Debug)]
pub struct Pause {
    dir: tempfile::TempDir,
    point: String,
    nth: u64,
}

impl Pause {
    /// Pauses the `nth` time (from 1) bale reaches `point`.
    pub fn at(point: &str, nth: u64) -> Self {
        Self { dir: tempfile::tempdir().unwrap(), point: point.to_string(), nth }
    }

    pub fn arm(&self, cmd: &mut Command) {
        cmd.env("BALE_TEST_PAUSE", format!("{}@{}", self.point, self.nth)).env("BALE_TEST_PAUSE_DIR", self.dir.path());
    }

    /// Waits until the child is paused there. Panics if it exits first or
    /// does not get there within a minute: a race test whose race did not
    /// happen must not pass.
    pub fn wait(&self, child: &mut Child) {
        let marker = self.dir.path().join(format!("{}.paused", self.point));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !marker.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("bale exited ({status}) before reaching the pause point {}", self.point);
            }
            assert!(Instant::now() < deadline, "bale did not reach the pause point {} in a minute", self.point);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn resume(&self) {
        std::fs::write(self.dir.path().join(format!("{}.resume", self.point)), b"").unwrap();
    }
}
