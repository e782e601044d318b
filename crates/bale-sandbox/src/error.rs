use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Outcome;

/// What a sandbox stage reports when a step of setting up failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetupFailure {
    /// The step, e.g. "unshare", "write uid_map", "bind".
    pub step: String,
    /// The path it was about, when there is one.
    pub path: Option<String>,
    /// The `errno`, when the kernel refused.
    pub errno: Option<i32>,
    pub message: String,
}

impl std::fmt::Display for SetupFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.step)?;
        if let Some(path) = &self.path {
            write!(f, " {path}")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox: {what}")]
    Spec { what: String },
    #[error("{}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("starting the sandbox helper {}", helper.display())]
    Spawn { helper: PathBuf, source: io::Error },
    #[error("user namespaces are disabled on this machine ({knob})")]
    UserNamespacesDisabled { knob: String, failure: SetupFailure },
    #[error("AppArmor restricts unprivileged user namespaces here (kernel.apparmor_restrict_unprivileged_userns = 1)")]
    AppArmor { failure: SetupFailure },
    #[error("a seccomp filter refuses to create user namespaces (this process runs under seccomp mode 2)")]
    Seccomp { failure: SetupFailure },
    #[error("setting up the sandbox failed: {failure}")]
    Setup { failure: SetupFailure },
    #[error("the sandbox probe ended with {outcome}")]
    ProbeFailed { outcome: Outcome },
}

impl SandboxError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    /// What to do about it. bale never builds outside the sandbox, so each
    /// of these says how to allow it.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::UserNamespacesDisabled { knob, .. } if knob.starts_with("kernel.unprivileged_userns_clone") => Some(
                "allow them with `sysctl -w kernel.unprivileged_userns_clone=1` (persist it in /etc/sysctl.d/); bale \
                 builds only inside its sandbox",
            ),
            Self::UserNamespacesDisabled { .. } => Some(
                "allow them with `sysctl -w user.max_user_namespaces=15000` (persist it in /etc/sysctl.d/); bale \
                 builds only inside its sandbox",
            ),
            Self::AppArmor { .. } => Some(
                "allow bale with an AppArmor profile granting `userns,` (see docs/recipes.md), or for the whole \
                 machine `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`",
            ),
            Self::Seccomp { .. } => Some(
                "inside a container, run it with a seccomp profile that allows unshare/clone with CLONE_NEWUSER \
                 (Docker and podman: --security-opt seccomp=unconfined, or a profile of your own); bale builds only \
                 inside its sandbox",
            ),
            Self::Setup { failure } if failure.step == "unshare" => Some(
                "this kernel or this environment does not allow user namespaces; bale builds only inside its sandbox",
            ),
            Self::Setup { failure } if failure.step == "mount overlay" => Some(
                "[[run]] needs overlayfs mountable in a user namespace (Linux 5.11 or later, with user extended \
                 attributes on the store's filesystem)",
            ),
            Self::Spawn { .. } => Some("the sandbox runs bale's own executable again; check it is still in place"),
            _ => None,
        }
    }
}
