//! Why a sandbox could not be made: the knobs that disable or restrict
//! user namespaces, read after the kernel refused.

use std::fs;

use crate::{SandboxError, SetupFailure};

const EPERM: i32 = 1;
const EACCES: i32 = 13;
const EINVAL: i32 = 22;
const ENOSPC: i32 = 28;
const EUSERS: i32 = 87;

fn knob(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// The settings that decide whether user namespaces may be made.
#[derive(Debug, Default)]
pub(crate) struct Knobs {
    max_user_namespaces: Option<String>,
    unprivileged_userns_clone: Option<String>,
    apparmor_restrict_unprivileged_userns: Option<String>,
    seccomp_filtered: bool,
    root: bool,
}

impl Knobs {
    fn read() -> Self {
        Self {
            max_user_namespaces: knob("/proc/sys/user/max_user_namespaces"),
            unprivileged_userns_clone: knob("/proc/sys/kernel/unprivileged_userns_clone"),
            apparmor_restrict_unprivileged_userns: knob("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
            seccomp_filtered: seccomp_filtered(),
            root: rustix::process::getuid().is_root(),
        }
    }
}

/// The most likely reason for `failure`, from the machine's settings.
pub(crate) fn diagnose(failure: SetupFailure) -> SandboxError {
    diagnose_with(failure, &Knobs::read())
}

fn diagnose_with(failure: SetupFailure, knobs: &Knobs) -> SandboxError {
    let refused = matches!(failure.errno, Some(EPERM | EACCES | EINVAL | ENOSPC | EUSERS));
    if !refused {
        return SandboxError::Setup { failure };
    }
    if knobs.max_user_namespaces.as_deref() == Some("0") {
        return SandboxError::UserNamespacesDisabled { knob: "user.max_user_namespaces = 0".into(), failure };
    }
    // Debian's and older Ubuntu kernels' own switch; root is exempt from it.
    if knobs.unprivileged_userns_clone.as_deref() == Some("0") && !knobs.root {
        return SandboxError::UserNamespacesDisabled { knob: "kernel.unprivileged_userns_clone = 0".into(), failure };
    }
    // Ubuntu 23.10 and later: unshare succeeds but the namespace gets no
    // capabilities, so mapping or mounting fails.
    if knobs.apparmor_restrict_unprivileged_userns.as_deref() == Some("1") && !knobs.root {
        return SandboxError::AppArmor { failure };
    }
    if failure.step == "unshare" && knobs.seccomp_filtered {
        return SandboxError::Seccomp { failure };
    }
    SandboxError::Setup { failure }
}

/// Whether this process runs under a seccomp filter (as in Docker's and
/// podman's default profiles).
fn seccomp_filtered() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|status| status.lines().any(|line| line.split_whitespace().collect::<Vec<_>>() == ["Seccomp:", "2"]))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(step: &str, errno: i32) -> SetupFailure {
        SetupFailure { step: step.into(), path: None, errno: Some(errno), message: "refused".into() }
    }

    fn knobs(f: impl FnOnce(&mut Knobs)) -> Knobs {
        let mut k = Knobs { max_user_namespaces: Some("15000".into()), ..Knobs::default() };
        f(&mut k);
        k
    }

    #[test]
    fn a_failure_that_is_no_refusal_stays_a_setup_error() {
        let failure = SetupFailure {
            step: "bind".into(),
            path: Some("/x".into()),
            errno: Some(2),
            message: "No such file".into(),
        };
        assert!(matches!(diagnose_with(failure, &knobs(|_| {})), SandboxError::Setup { .. }));
    }

    #[test]
    fn each_knob_is_named() {
        let e = diagnose_with(refused("unshare", ENOSPC), &knobs(|k| k.max_user_namespaces = Some("0".into())));
        assert!(e.to_string().contains("user.max_user_namespaces = 0"), "{e}");
        assert!(e.help().unwrap_or_default().contains("sysctl -w user.max_user_namespaces"));

        let e = diagnose_with(refused("unshare", EPERM), &knobs(|k| k.unprivileged_userns_clone = Some("0".into())));
        assert!(e.to_string().contains("kernel.unprivileged_userns_clone = 0"), "{e}");
        assert!(e.help().unwrap_or_default().contains("unprivileged_userns_clone=1"));

        let e = diagnose_with(
            refused("write uid_map", EPERM),
            &knobs(|k| k.apparmor_restrict_unprivileged_userns = Some("1".into())),
        );
        assert!(matches!(e, SandboxError::AppArmor { .. }), "{e}");

        let e = diagnose_with(refused("unshare", EPERM), &knobs(|k| k.seccomp_filtered = true));
        assert!(matches!(e, SandboxError::Seccomp { .. }), "{e}");
        assert!(e.help().unwrap_or_default().contains("seccomp"));
    }

    #[test]
    fn root_is_exempt_from_the_unprivileged_switches() {
        let e = diagnose_with(
            refused("unshare", EPERM),
            &knobs(|k| {
                k.root = true;
                k.unprivileged_userns_clone = Some("0".into());
            }),
        );
        assert!(matches!(e, SandboxError::Setup { .. }), "{e}");
    }
}
