//! The sandbox's two stages (see the crate documentation), each run as a
//! fresh, single-threaded process of the calling binary.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};

use rustix::fs::{Mode, StatVfsMountFlags};
use rustix::io::Errno;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};
use rustix::process::{Signal, WaitOptions};
use rustix::thread::UnshareFlags;

use crate::spec::{REPORT_FILE, RESERVED, ROOT_DIR, SPEC_FILE, SandboxSpec};
use crate::{HELPER_ARG, SETUP_FAILED, SetupFailure};

type Step<T> = Result<T, SetupFailure>;

fn failed(step: &str, path: Option<&Path>, error: io::Error) -> SetupFailure {
    SetupFailure {
        step: step.into(),
        path: path.map(|p| p.display().to_string()),
        errno: error.raw_os_error(),
        message: error.to_string(),
    }
}

fn errno(step: &str, path: Option<&Path>, error: Errno) -> SetupFailure {
    failed(step, path, io::Error::from(error))
}

fn report(path: &Path, mut file: Option<File>, failure: &SetupFailure) {
    let bytes = serde_json::to_vec(failure).unwrap_or_default();
    let written = match file.as_mut() {
        Some(file) => file.write_all(&bytes),
        None => fs::write(path, &bytes),
    };
    if written.is_err() {
        // The caller will only see the exit status; say it here too.
        eprintln!("bale sandbox: {failure}");
    }
}

mod namespaces {
    use rustix::io::Errno;
    use rustix::thread::UnshareFlags;

    /// `unshare(2)`. rustix marks it unsafe because `CLONE_FILES` could
    /// split a file table under other threads' feet; the sandbox's stages
    /// are single-threaded processes and never pass `CLONE_FILES`.
    #[allow(unsafe_code)]
    pub(super) fn unshare(flags: UnshareFlags) -> Result<(), Errno> {
        debug_assert!(!flags.contains(UnshareFlags::FILES));
        // SAFETY: see above: no CLONE_FILES, and no other thread exists.
        unsafe { rustix::thread::unshare_unsafe(flags) }
    }
}

fn write_proc(step: &str, path: &str, contents: &str) -> Step<()> {
    fs::write(path, contents).map_err(|e| failed(step, Some(Path::new(path)), e))
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1)
}

/// Stage 1: new namespaces, uid 0 inside mapped to the caller; then pid 1.
pub(crate) fn outer(work: &Path, probe_only: bool) -> i32 {
    match outer_steps(work, probe_only) {
        Ok(code) => code,
        Err(failure) => {
            report(&work.join(REPORT_FILE), None, &failure);
            SETUP_FAILED
        }
    }
}

fn outer_steps(work: &Path, probe_only: bool) -> Step<i32> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| errno("set the parent-death signal", None, e))?;
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    namespaces::unshare(
        UnshareFlags::NEWUSER
            | UnshareFlags::NEWNS
            | UnshareFlags::NEWPID
            | UnshareFlags::NEWNET
            | UnshareFlags::NEWUTS
            | UnshareFlags::NEWIPC,
    )
    .map_err(|e| errno("unshare", None, e))?;
    // Unprivileged gid maps need setgroups denied first.
    write_proc("write setgroups", "/proc/self/setgroups", "deny")?;
    write_proc("write uid_map", "/proc/self/uid_map", &format!("0 {uid} 1\n"))?;
    write_proc("write gid_map", "/proc/self/gid_map", &format!("0 {gid} 1\n"))?;
    if probe_only {
        // What a restricted namespace cannot do is mount: try one.
        let probe = work.join("probe");
        fs::DirBuilder::new().mode(0o700).create(&probe).map_err(|e| failed("mkdir", Some(&probe), e))?;
        rustix::mount::mount("tmpfs", &probe, "tmpfs", MountFlags::NOSUID | MountFlags::NODEV, None)
            .map_err(|e| errno("mount tmpfs", Some(&probe), e))?;
        return Ok(0);
    }
    let status = Command::new("/proc/self/exe")
        .arg(HELPER_ARG)
        .arg("init")
        .arg(work)
        .env_clear()
        .stdin(Stdio::null())
        .status()
        .map_err(|e| failed("start the sandbox's pid 1", None, e))?;
    Ok(exit_code(status))
}

/// Stage 2, pid 1 of the new pid namespace.
pub(crate) fn init(work: &Path) -> i32 {
    let report_path = work.join(REPORT_FILE);
    // Opened now: after the pivot, `work` is out of sight.
    let file = File::options().write(true).create(true).truncate(true).open(&report_path).ok();
    match init_steps(work) {
        Ok(code) => code,
        Err(failure) => {
            report(&report_path, file, &failure);
            SETUP_FAILED
        }
    }
}

fn data(options: &str) -> CString {
    CString::new(options).unwrap_or_default()
}

/// The flags of the mount at `path` that a less privileged namespace
/// inherits locked: a read-only remount must repeat them or be refused.
fn locked_flags(path: &Path) -> Step<MountFlags> {
    let vfs = rustix::fs::statvfs(path).map_err(|e| errno("statvfs", Some(path), e))?;
    let mut flags = MountFlags::empty();
    for (vfs_flag, flag) in [
        (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
        (StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
    ] {
        if vfs.f_flag.contains(vfs_flag) {
            flags |= flag;
        }
    }
    Ok(flags)
}

fn bind(source: &Path, target: &Path, writable: bool) -> Step<()> {
    rustix::mount::mount_bind_recursive(source, target).map_err(|e| errno("bind", Some(source), e))?;
    if !writable {
        let flags = MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | locked_flags(target)?;
        rustix::mount::mount_remount(target, flags, "").map_err(|e| errno("remount read-only", Some(source), e))?;
    }
    Ok(())
}

fn mkdir(path: &Path, mode: u32) -> Step<()> {
    fs::DirBuilder::new().mode(mode).create(path).map_err(|e| failed("mkdir", Some(path), e))
}

fn tmpfs(target: &Path, flags: MountFlags, options: &str) -> Step<()> {
    rustix::mount::mount("tmpfs", target, "tmpfs", flags, Some(data(options).as_c_str()))
        .map_err(|e| errno("mount tmpfs", Some(target), e))
}

/// The root's top-level entries, bound read-only onto the tmpfs at `new`.
fn populate_root(spec: &SandboxSpec, new: &Path) -> Step<()> {
    let entries = fs::read_dir(&spec.root).map_err(|e| failed("read the root", Some(&spec.root), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| failed("read the root", Some(&spec.root), e))?;
        let name = entry.file_name();
        let Some(text) = name.to_str() else { continue };
        if RESERVED.contains(&text) || spec.binds.iter().any(|b| b.target == text) {
            continue;
        }
        let source = entry.path();
        let target = new.join(&name);
        let kind = entry.file_type().map_err(|e| failed("read the root", Some(&source), e))?;
        if kind.is_symlink() {
            let to = fs::read_link(&source).map_err(|e| failed("readlink", Some(&source), e))?;
            symlink(&to, &target).map_err(|e| failed("symlink", Some(&target), e))?;
        } else if kind.is_dir() {
            mkdir(&target, 0o755)?;
            bind(&source, &target, false)?;
        } else if kind.is_file() {
            File::create(&target).map_err(|e| failed("create", Some(&target), e))?;
            bind(&source, &target, false)?;
        }
    }
    Ok(())
}

/// An overlay at `target` over `lower` (bound read-only first), its
/// changes in `changes/upper`. Overlay options are comma-separated paths,
/// so every path is given relative to `work` by a name chosen here: no
/// path of the host needs escaping.
fn overlay(lower: &Path, changes: &Path, work: &Path, target: &Path) -> Step<()> {
    let lower_at = work.join("lower");
    mkdir(&lower_at, 0o755)?;
    bind(lower, &lower_at, false)?;
    let changes_at = work.join("changes");
    mkdir(&changes_at, 0o755)?;
    bind(changes, &changes_at, true)?;
    for dir in ["upper", "work"] {
        let path = changes_at.join(dir);
        if !path.is_dir() {
            mkdir(&path, 0o755)?;
        }
    }
    rustix::process::chdir(work).map_err(|e| errno("chdir", Some(work), e))?;
    // `userxattr`: the overlay's own marks as user.overlay.* attributes,
    // which a user namespace may set (trusted.* it may not).
    // index and xino off whatever the kernel's defaults: what lands in
    // the upper layer must not depend on how the kernel was configured.
    let options = "lowerdir=lower,upperdir=changes/upper,workdir=changes/work,userxattr,index=off,xino=off";
    rustix::mount::mount("overlay", target, "overlay", MountFlags::NOSUID, Some(data(options).as_c_str()))
        .map_err(|e| errno("mount overlay", Some(target), e))
}

fn populate_dev(dev: &Path) -> Step<()> {
    tmpfs(dev, MountFlags::NOSUID | MountFlags::NOEXEC, "mode=0755,size=64k")?;
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(node);
        File::create(&target).map_err(|e| failed("create", Some(&target), e))?;
        let source = Path::new("/dev").join(node);
        match rustix::mount::mount_bind(&source, &target) {
            Ok(()) => {}
            // No controlling terminal to offer: fine, builds have none.
            Err(_) if node == "tty" => fs::remove_file(&target).map_err(|e| failed("remove", Some(&target), e))?,
            Err(e) => return Err(errno("bind", Some(&source), e)),
        }
    }
    for (name, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let target = dev.join(name);
        symlink(to, &target).map_err(|e| failed("symlink", Some(&target), e))?;
    }
    let shm = dev.join("shm");
    mkdir(&shm, 0o755)?;
    tmpfs(&shm, MountFlags::NOSUID | MountFlags::NODEV, "mode=1777,size=64m")?;
    rustix::mount::mount_remount(dev, MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NOEXEC, "")
        .map_err(|e| errno("remount read-only", Some(dev), e))
}

fn init_steps(work: &Path) -> Step<i32> {
    // pid 1 dies with stage 1, and the kernel then kills everything else
    // in the namespace: no build outlives bale.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| errno("set the parent-death signal", None, e))?;
    let spec_path = work.join(SPEC_FILE);
    let bytes = fs::read(&spec_path).map_err(|e| failed("read", Some(&spec_path), e))?;
    let spec: SandboxSpec = serde_json::from_slice(&bytes).map_err(|e| failed("read", Some(&spec_path), e.into()))?;

    // Nothing mounted here propagates back to the host.
    rustix::mount::mount_change("/", MountPropagationFlags::REC | MountPropagationFlags::PRIVATE)
        .map_err(|e| errno("make mounts private", Some(Path::new("/")), e))?;
    let new = work.join(ROOT_DIR);
    match &spec.overlay {
        Some(changes) => overlay(&spec.root, changes, work, &new)?,
        None => {
            tmpfs(&new, MountFlags::NOSUID | MountFlags::NODEV, "mode=0755,size=1m")?;
            populate_root(&spec, &new)?;
        }
    }
    for b in &spec.binds {
        let target = new.join(&b.target);
        mkdir(&target, 0o755)?;
        bind(&b.source, &target, b.writable)?;
    }
    // Over an overlay these may be the image's own directories already.
    // Without following a link the image put there: a link would resolve
    // against the host's tree, not the image's.
    let mountpoint = |path: &Path, mode: u32| match (&spec.overlay, fs::symlink_metadata(path)) {
        (Some(_), Ok(meta)) if meta.is_dir() => Ok(()),
        (Some(_), Ok(_)) => Err(failed(
            "mount point",
            Some(path),
            io::Error::other("the image has something other than a directory there"),
        )),
        _ => mkdir(path, mode),
    };
    let proc = new.join("proc");
    mountpoint(&proc, 0o555)?;
    // Before the old root goes: mounting proc needs a visible one.
    rustix::mount::mount("proc", &proc, "proc", MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC, None)
        .map_err(|e| errno("mount proc", Some(&proc), e))?;
    let dev = new.join("dev");
    mountpoint(&dev, 0o755)?;
    populate_dev(&dev)?;
    let tmp = new.join("tmp");
    mountpoint(&tmp, 0o1777)?;
    tmpfs(&tmp, MountFlags::NOSUID | MountFlags::NODEV, &format!("mode=1777,size={}m", spec.tmp_mib))?;
    if spec.overlay.is_none() {
        rustix::mount::mount_remount(&new, MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV, "")
            .map_err(|e| errno("remount read-only", Some(&new), e))?;
    }

    rustix::process::chdir(&new).map_err(|e| errno("chdir", Some(&new), e))?;
    rustix::process::pivot_root(".", ".").map_err(|e| errno("pivot_root", Some(&new), e))?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).map_err(|e| errno("detach the old root", None, e))?;
    rustix::process::chdir("/").map_err(|e| errno("chdir", Some(Path::new("/")), e))?;
    rustix::system::sethostname(spec.hostname.as_bytes()).map_err(|e| errno("sethostname", None, e))?;
    crate::netlink::loopback_up().map_err(|e| failed("bring loopback up", None, e))?;

    // The command runs as `spec.uid` of a nested user namespace in which
    // it is not root, so it holds no capability over anything set up here.
    namespaces::unshare(UnshareFlags::NEWUSER).map_err(|e| errno("unshare", None, e))?;
    write_proc("write setgroups", "/proc/self/setgroups", "deny")?;
    write_proc("write uid_map", "/proc/self/uid_map", &format!("{} 0 1\n", spec.uid))?;
    write_proc("write gid_map", "/proc/self/gid_map", &format!("{} 0 1\n", spec.gid))?;
    rustix::thread::set_no_new_privs(true).map_err(|e| errno("set no_new_privs", None, e))?;
    rustix::process::umask(Mode::from_raw_mode(0o022));

    let (program, args) = spec.argv.split_first().ok_or_else(|| failed("run", None, io::Error::other("no command")))?;
    let child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| failed("run", Some(Path::new(program)), e))?;
    let pid = child.id();
    // pid 1 reaps every orphan; the sandbox ends when the command does.
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((reaped, status))) if reaped.as_raw_nonzero().get() as u32 == pid => {
                return Ok(status.exit_status().or_else(|| status.terminating_signal().map(|s| 128 + s)).unwrap_or(1));
            }
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(errno("wait", None, e)),
        }
    }
}
