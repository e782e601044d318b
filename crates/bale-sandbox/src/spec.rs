//! What runs in a sandbox, and over what.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::SandboxError;

pub(crate) const SPEC_FILE: &str = "spec.json";
pub(crate) const REPORT_FILE: &str = "report.json";
pub(crate) const ROOT_DIR: &str = "root";

/// Top-level names the sandbox makes itself; a bind may not take them.
pub(crate) const RESERVED: &[&str] = &["proc", "dev", "tmp"];

/// The PATH of every sandbox.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A command and the tree it sees.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The directory that becomes `/`, read-only: each of its top-level
    /// entries is bound read-only into a new root (symlinks recreated), so
    /// the directory itself is never written.
    pub root: PathBuf,
    /// Host directories bound at new top-level directories (`/build`).
    pub binds: Vec<Bind>,
    /// The command, run without a shell unless it names one.
    pub argv: Vec<String>,
    /// The whole environment: nothing of the caller's is passed on.
    pub env: Vec<(String, String)>,
    /// The working directory inside.
    pub cwd: String,
    pub hostname: String,
    /// The ids the command runs as, which also own everything of the root
    /// and the binds, as the command sees them.
    pub uid: u32,
    pub gid: u32,
    /// The size of the tmpfs at `/tmp`, in MiB.
    pub tmp_mib: u64,
    /// When set, `/` is writable instead: an overlay whose lower layer is
    /// `root` (never written) and whose changes land in `upper` of this
    /// host directory (its `work` is the overlay's own). Runs may share
    /// it, one after another, each seeing what the earlier wrote.
    #[serde(default)]
    pub overlay: Option<PathBuf>,
}

/// A host directory at `/target` inside.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bind {
    pub source: PathBuf,
    /// One path component, without a slash: the bind is at `/target`.
    pub target: String,
    pub writable: bool,
}

impl SandboxSpec {
    /// A sandbox over `root` running `argv` with the fixed defaults: uid and
    /// gid 1000, hostname `bale`, working directory `/`, PATH, HOME=/build,
    /// TZ=UTC, LC_ALL=C, a 1 GiB `/tmp`.
    pub fn new(root: impl Into<PathBuf>, argv: Vec<String>) -> Self {
        Self {
            root: root.into(),
            binds: Vec::new(),
            argv,
            env: vec![
                ("PATH".into(), PATH.into()),
                ("HOME".into(), "/build".into()),
                ("TZ".into(), "UTC".into()),
                ("LC_ALL".into(), "C".into()),
            ],
            cwd: "/".into(),
            hostname: "bale".into(),
            uid: 1000,
            gid: 1000,
            tmp_mib: 1024,
            overlay: None,
        }
    }

    /// Sets `name` in the environment, replacing an earlier value.
    pub fn set_env(&mut self, name: &str, value: impl Into<String>) {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.into(), value.into()));
    }

    pub(crate) fn check(&self) -> Result<(), SandboxError> {
        if self.argv.is_empty() {
            return Err(SandboxError::Spec { what: "no command to run".into() });
        }
        if !self.root.is_absolute() || !self.cwd.starts_with('/') {
            return Err(SandboxError::Spec { what: "the root and the working directory must be absolute".into() });
        }
        let mut seen = Vec::new();
        for bind in &self.binds {
            let target = bind.target.as_str();
            if target.is_empty()
                || target.contains('/')
                || target == "."
                || target == ".."
                || target.contains('\0')
                || RESERVED.contains(&target)
                || seen.contains(&target)
            {
                return Err(SandboxError::Spec {
                    what: format!("bind target {target:?}: one new top-level name, not proc, dev or tmp, once"),
                });
            }
            if !bind.source.is_absolute() {
                return Err(SandboxError::Spec {
                    what: format!("bind source {} is not absolute", bind.source.display()),
                });
            }
            seen.push(target);
        }
        if let Some(overlay) = &self.overlay
            && (!overlay.is_absolute() || !self.binds.is_empty())
        {
            return Err(SandboxError::Spec {
                what: format!("overlay {}: an absolute directory, with no binds beside it", overlay.display()),
            });
        }
        if self.hostname.is_empty() || self.hostname.len() > 64 {
            return Err(SandboxError::Spec { what: format!("hostname {:?}", self.hostname) });
        }
        Ok(())
    }
}
