//! The one module that touches a tree bale reads or writes: every open and
//! create is relative to a directory handle, resolved beneath it without
//! following any symlink (`openat2` with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS`, or a component-by-component walk with `O_NOFOLLOW`
//! where the kernel lacks `openat2`). Another user who owns part of the tree
//! can rename and replace entries while bale works; the worst they get is
//! an error naming the entry, never a read or a write outside the tree.
//!
//! Regular files are opened with `O_NONBLOCK` (a FIFO swapped in cannot make
//! bale wait) and checked with `fstat` on the opened handle, so what is read
//! is what was checked.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, ResolveFlags};

/// Set once `openat2` has answered ENOSYS: the walk is used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// What an entry is and who owns it, as `lstat` or `fstat` saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub nlink: u64,
    pub identity: Identity,
}

/// The inode behind an entry: two handles with equal identities are the
/// same file, so a swap between a check and a use shows up as a mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Self::File => "regular file",
            Self::Directory => "directory",
            Self::Symlink => "symbolic link",
            Self::Fifo => "fifo",
            Self::Socket => "socket",
            Self::CharDevice => "character device",
            Self::BlockDevice => "block device",
            Self::Unknown => "special file",
        }
    }
}

fn meta_of(stat: &rustix::fs::Stat) -> Meta {
    let kind = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Directory,
        FileType::Symlink => Kind::Symlink,
        FileType::Fifo => Kind::Fifo,
        FileType::Socket => Kind::Socket,
        FileType::CharacterDevice => Kind::CharDevice,
        FileType::BlockDevice => Kind::BlockDevice,
        FileType::Unknown => Kind::Unknown,
    };
    Meta {
        kind,
        mode: stat.st_mode & 0o7777,
        uid: stat.st_uid,
        gid: stat.st_gid,
        size: u64::try_from(stat.st_size).unwrap_or(0),
        nlink: stat.st_nlink,
        identity: Identity { dev: stat.st_dev, ino: stat.st_ino },
    }
}

/// The metadata of an open handle.
pub fn fstat(fd: impl AsFd) -> io::Result<Meta> {
    Ok(meta_of(&rustix::fs::fstat(fd)?))
}

/// An error for an entry that is not what bale expected to find there.
pub fn unexpected(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Gives ELOOP and EXDEV from a resolution a message that says why.
fn explain(error: rustix::io::Errno) -> io::Error {
    match error {
        rustix::io::Errno::LOOP => {
            unexpected("a symbolic link stands on this path; bale never follows links inside a tree")
        }
        rustix::io::Errno::XDEV => unexpected("the path leaves the tree"),
        e => e.into(),
    }
}

/// A directory held open; everything below it is reached through it.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    /// For messages only: nothing is ever opened by this path.
    path: PathBuf,
}

impl Dir {
    /// Opens a directory the user named. Links in `path` itself are the
    /// user's choice and are followed; nothing below it will be.
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Self { fd, path: path.to_path_buf() })
    }

    /// Opens a directory whose last component must not be a symlink.
    pub fn open_nofollow(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(explain)?;
        Ok(Self { fd, path: path.to_path_buf() })
    }

    /// Creates `path`, which must not exist, as an empty directory with
    /// `mode`, and opens it (refusing a link swapped in between).
    pub fn create_new(path: &Path, mode: u32) -> io::Result<Self> {
        rustix::fs::mkdir(path, Mode::from_raw_mode(mode))?;
        Self::open_nofollow(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rel` under this directory, for messages.
    pub fn display(&self, rel: &str) -> PathBuf {
        if rel.is_empty() { self.path.clone() } else { self.path.join(rel) }
    }

    pub fn meta(&self) -> io::Result<Meta> {
        fstat(&self.fd)
    }

    /// Resolves `rel` (a relative path of plain components) beneath this
    /// directory, following no symlink at all.
    fn resolve(&self, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
        // openat2 refuses O_PATH with any flag but these three.
        let flags = if flags.contains(OFlags::PATH) {
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC
        } else {
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY
        };
        if rel.is_empty() || rel.starts_with('/') || rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            if rel.is_empty() {
                return Ok(rustix::fs::openat(&self.fd, c".", flags, Mode::empty())?);
            }
            return Err(unexpected(format!("{rel:?} is not a plain relative path")));
        }
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(&self.fd, rel, flags, Mode::empty(), resolve) {
                Ok(fd) => return Ok(fd),
                // No openat2 (old kernels), or a seccomp filter that refuses
                // it (older container runtimes answer EPERM): the walk is as
                // strict, one component at a time.
                Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => NO_OPENAT2.store(true, Ordering::Relaxed),
                // Interrupted by a concurrent rename anywhere on the system;
                // or a link opened itself (O_PATH | O_NOFOLLOW) where a
                // directory was wanted, which the walk names as a link.
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::NOTDIR) => return self.walk(rel, flags),
                Err(e) => return Err(explain(e)),
            }
        }
        self.walk(rel, flags)
    }

    /// The same resolution one component at a time, each opened with
    /// `O_NOFOLLOW`, for kernels without `openat2`.
    fn walk(&self, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let mut components = rel.split('/').peekable();
        let mut current: Option<OwnedFd> = None;
        while let Some(component) = components.next() {
            let base = current.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd());
            let step_flags = if components.peek().is_some() {
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
            } else {
                flags
            };
            let next = match rustix::fs::openat(base, component, step_flags, Mode::empty()) {
                Ok(fd) => fd,
                // O_PATH | O_NOFOLLOW opens a link itself, which is then not a directory.
                Err(rustix::io::Errno::NOTDIR)
                    if rustix::fs::statat(base, component, AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink) =>
                {
                    return Err(explain(rustix::io::Errno::LOOP));
                }
                Err(e) => return Err(explain(e)),
            };
            current = Some(next);
        }
        current.ok_or_else(|| unexpected("empty path"))
    }

    /// The directory holding `rel` and the last component's name.
    fn parent<'a>(&self, rel: &'a str) -> io::Result<(Option<OwnedFd>, &'a str)> {
        match rel.rsplit_once('/') {
            Some((_, "" | "." | "..")) => Err(unexpected(format!("{rel:?} is not a plain relative path"))),
            Some((dir, name)) => Ok((Some(self.resolve(dir, OFlags::PATH | OFlags::DIRECTORY)?), name)),
            None if rel.is_empty() || rel == "." || rel == ".." => {
                Err(unexpected(format!("{rel:?} is not a plain relative path")))
            }
            None => Ok((None, rel)),
        }
    }

    fn at<'a>(&'a self, parent: &'a Option<OwnedFd>) -> BorrowedFd<'a> {
        parent.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd())
    }

    /// Opens the directory `rel` below this one.
    pub fn open_dir(&self, rel: &str) -> io::Result<Dir> {
        let fd = self.resolve(rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
        Ok(Dir { fd, path: self.display(rel) })
    }

    /// The entry at `rel` itself (a symlink is described, not followed).
    pub fn entry_meta(&self, rel: &str) -> io::Result<Meta> {
        let (parent, name) = self.parent(rel)?;
        Ok(meta_of(&rustix::fs::statat(self.at(&parent), name, AtFlags::SYMLINK_NOFOLLOW)?))
    }

    /// The names in this directory, bytewise sorted, without `.` and `..`.
    pub fn names(&self) -> io::Result<Vec<Vec<u8>>> {
        let mut names = Vec::new();
        for item in rustix::fs::Dir::read_from(&self.fd)? {
            let item = item?;
            let name = item.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
        }
        names.sort();
        Ok(names)
    }

    pub fn read_link(&self, rel: &str) -> io::Result<Vec<u8>> {
        let (parent, name) = self.parent(rel)?;
        Ok(rustix::fs::readlinkat(self.at(&parent), name, Vec::new())?.into_bytes())
    }

    /// Opens the regular file at `rel` for reading. Anything else there (a
    /// link, a FIFO, a device) is refused without being followed or waited on.
    pub fn open_file(&self, rel: &str) -> io::Result<(File, Meta)> {
        let fd = self.resolve(rel, OFlags::RDONLY | OFlags::NONBLOCK)?;
        regular(fd)
    }

    /// Creates the file `rel`, which must not exist, for writing.
    pub fn create_file(&self, rel: &str, mode: u32) -> io::Result<File> {
        let (parent, name) = self.parent(rel)?;
        let fd = rustix::fs::openat(
            self.at(&parent),
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::from_raw_mode(mode),
        )?;
        Ok(File::from(fd))
    }

    /// Creates the directory `rel`, which must not exist.
    pub fn create_dir(&self, rel: &str, mode: u32) -> io::Result<()> {
        let (parent, name) = self.parent(rel)?;
        Ok(rustix::fs::mkdirat(self.at(&parent), name, Mode::from_raw_mode(mode))?)
    }

    pub fn symlink(&self, target: &str, rel: &str) -> io::Result<()> {
        let (parent, name) = self.parent(rel)?;
        Ok(rustix::fs::symlinkat(target, self.at(&parent), name)?)
    }

    /// Sets the owner of the entry `rel` itself, never of what a link names.
    pub fn chown_entry(&self, rel: &str, uid: u32, gid: u32) -> io::Result<()> {
        let (parent, name) = self.parent(rel)?;
        Ok(rustix::fs::chownat(
            self.at(&parent),
            name,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// Renames `from` to `to`, both in this directory; `to` is replaced
    /// (a link there is replaced itself, never written through).
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (from_parent, from_name) = self.parent(from)?;
        let (to_parent, to_name) = self.parent(to)?;
        Ok(rustix::fs::renameat(self.at(&from_parent), from_name, self.at(&to_parent), to_name)?)
    }

    /// Renames the directory `from` to `to`, failing if `to` exists. Where
    /// the filesystem cannot refuse atomically, a plain rename, which can
    /// replace nothing but an empty directory.
    pub fn rename_noreplace(&self, from: &str, to: &str) -> io::Result<()> {
        let (from_parent, from_name) = self.parent(from)?;
        let (to_parent, to_name) = self.parent(to)?;
        match rustix::fs::renameat_with(
            self.at(&from_parent),
            from_name,
            self.at(&to_parent),
            to_name,
            RenameFlags::NOREPLACE,
        ) {
            Err(rustix::io::Errno::INVAL) => {
                Ok(rustix::fs::renameat(self.at(&from_parent), from_name, self.at(&to_parent), to_name)?)
            }
            other => Ok(other?),
        }
    }

    /// Hard-links a file bale keeps elsewhere (a store blob, by its path)
    /// to the new name `name` in this directory.
    pub fn link_from(&self, existing: &Path, name: &str) -> io::Result<()> {
        let (parent, name) = self.parent(name)?;
        Ok(rustix::fs::linkat(rustix::fs::CWD, existing, self.at(&parent), name, AtFlags::empty())?)
    }

    /// Swaps `a` and `b` atomically (both must exist).
    pub fn exchange(&self, a: &str, b: &str) -> io::Result<()> {
        let (a_parent, a_name) = self.parent(a)?;
        let (b_parent, b_name) = self.parent(b)?;
        Ok(rustix::fs::renameat_with(self.at(&a_parent), a_name, self.at(&b_parent), b_name, RenameFlags::EXCHANGE)?)
    }

    pub fn remove_file(&self, rel: &str) -> io::Result<()> {
        let (parent, name) = self.parent(rel)?;
        Ok(rustix::fs::unlinkat(self.at(&parent), name, AtFlags::empty())?)
    }

    /// Removes `rel` and everything below it, through handles: a link found
    /// inside is removed itself, and a directory bale made read-only is
    /// opened up first so it can be emptied.
    pub fn remove_tree(&self, rel: &str) -> io::Result<()> {
        let meta = self.entry_meta(rel)?;
        if meta.kind != Kind::Directory {
            return self.remove_file(rel);
        }
        let dir = match self.open_dir(rel) {
            // A directory without read permission (overlayfs leaves its
            // work directory mode 0): opened up through a handle that
            // needs none, never through a name that could be swapped.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                let (parent, name) = self.parent(rel)?;
                let fd = rustix::fs::openat(
                    self.at(&parent),
                    name,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                use std::os::fd::AsRawFd;
                rustix::fs::chmod(format!("/proc/self/fd/{}", fd.as_raw_fd()), Mode::from_raw_mode(0o700))?;
                self.open_dir(rel)?
            }
            other => other?,
        };
        dir.remove_contents()?;
        let (parent, name) = self.parent(rel)?;
        Ok(rustix::fs::unlinkat(self.at(&parent), name, AtFlags::REMOVEDIR)?)
    }

    /// Removes the empty directory `rel` if it is still the inode `identity`.
    pub fn remove_empty_dir(&self, rel: &str, identity: Identity) -> io::Result<()> {
        let (parent, name) = self.parent(rel)?;
        let stat = rustix::fs::statat(self.at(&parent), name, AtFlags::SYMLINK_NOFOLLOW)?;
        if meta_of(&stat).identity != identity {
            return Err(unexpected("it is no longer the directory bale made"));
        }
        Ok(rustix::fs::unlinkat(self.at(&parent), name, AtFlags::REMOVEDIR)?)
    }

    /// Empties this directory (see [`Dir::remove_tree`]).
    pub fn remove_contents(&self) -> io::Result<()> {
        if self.meta()?.mode & 0o700 != 0o700 {
            rustix::fs::fchmod(&self.fd, Mode::from_raw_mode(0o700))?;
        }
        for name in self.names()? {
            let Ok(name) = std::str::from_utf8(&name) else {
                // Names bale did not write: remove without recursing by name.
                let name = OsStr::from_bytes(&name);
                match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
                    Err(rustix::io::Errno::ISDIR) => {
                        let fd = rustix::fs::openat(
                            &self.fd,
                            name,
                            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )?;
                        Dir { fd, path: self.path.join(name) }.remove_contents()?;
                        rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)?;
                    }
                    other => other?,
                }
                continue;
            };
            self.remove_tree(name)?;
        }
        Ok(())
    }

    /// Writes `bytes` to `name` in this directory atomically: into a new
    /// file under a random name (created exclusively, so nothing planted
    /// there is written through), synced, then renamed over `name`.
    pub fn write_atomic(&self, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        let temp = self.create_temp(name, mode)?;
        let result = (|| {
            let mut file = &temp.1;
            file.write_all(bytes)?;
            file.sync_all()?;
            self.rename(&temp.0, name)
        })();
        if result.is_err() {
            let _ = self.remove_file(&temp.0);
        }
        result
    }

    /// A new, exclusively created file named after `name` with a random
    /// suffix, in this directory. Returns its name and the open file.
    pub fn create_temp(&self, name: &str, mode: u32) -> io::Result<(String, File)> {
        for _ in 0..64 {
            let candidate = temp_name(name);
            match self.create_file(&candidate, mode) {
                Ok(file) => return Ok((candidate, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"))
    }

    /// A new directory named after `name` with a random suffix.
    pub fn create_temp_dir(&self, name: &str, mode: u32) -> io::Result<(String, Dir)> {
        for _ in 0..64 {
            let candidate = temp_name(name);
            match self.create_dir(&candidate, mode) {
                Ok(()) => {
                    let dir = self.open_dir(&candidate)?;
                    return Ok((candidate, dir));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"))
    }

    /// Links `existing` here to `new_name` in `dest` (no link is followed).
    pub fn hard_link_to(&self, existing: &str, dest: &Dir, new_name: &str) -> io::Result<()> {
        let (from_parent, from_name) = self.parent(existing)?;
        let (to_parent, to_name) = dest.parent(new_name)?;
        Ok(rustix::fs::linkat(self.at(&from_parent), from_name, dest.at(&to_parent), to_name, AtFlags::empty())?)
    }

    /// Changes this directory's owner through its handle.
    pub fn set_owner(&self, uid: u32, gid: u32) -> io::Result<()> {
        Ok(rustix::fs::fchown(&self.fd, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)))?)
    }

    /// Changes this directory's permission bits through its handle.
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::fchmod(&self.fd, Mode::from_raw_mode(mode))?)
    }

    pub fn sync(&self) -> io::Result<()> {
        Ok(rustix::fs::fsync(&self.fd)?)
    }
}

/// `.NAME.bale-RANDOM`: hidden, and unguessable, so another user cannot
/// plant something at the name first.
fn temp_name(name: &str) -> String {
    let mut random = [0u8; 8];
    let fill = rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty());
    let suffix = match fill {
        Ok(8) => hex::encode(random),
        _ => {
            // Fall back to the hasher's per-process random keys.
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
            );
            format!("{:016x}", h.finish())
        }
    };
    let short: String = name.chars().take(64).collect();
    format!(".{short}.bale-{suffix}")
}

/// A handle known to be a regular file, with O_NONBLOCK dropped again.
fn regular(fd: OwnedFd) -> io::Result<(File, Meta)> {
    let meta = fstat(&fd)?;
    if meta.kind != Kind::File {
        return Err(unexpected(format!("it is a {}, not a regular file", meta.kind.describe())));
    }
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
    Ok((File::from(fd), meta))
}

/// Opens a file the user named (the path is theirs: links in it are
/// followed) that must be a regular file of at most `max` bytes.
pub fn open_regular(path: &Path, max: u64) -> io::Result<(File, Meta)> {
    let fd =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())?;
    let (file, meta) = regular(fd)?;
    if meta.size > max {
        return Err(unexpected(format!("it is {} bytes; the limit is {max}", meta.size)));
    }
    Ok((file, meta))
}

/// Reads a whole regular file of at most `max` bytes that the user named.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let (file, meta) = open_regular(path, max)?;
    let mut out = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
    // It may grow after the check: read one byte past the limit to notice.
    file.take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(unexpected(format!("it grew past the limit of {max} bytes while being read")));
    }
    Ok(out)
}

/// Opens a directory the user named for writing output into and splits off
/// the last component: `out/image` gives (`out`, `image`). The last
/// component is only ever created, renamed or replaced through the handle.
pub fn open_parent(path: &Path) -> io::Result<(Dir, String)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .ok_or_else(|| unexpected(format!("{} does not end in a file name bale can write", path.display())))?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    Ok((Dir::open(parent)?, name.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, Dir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/f"), "data").unwrap();
        symlink("/etc", dir.path().join("a/link")).unwrap();
        symlink("b", dir.path().join("a/rel")).unwrap();
        let root = Dir::open(dir.path()).unwrap();
        (dir, root)
    }

    #[test]
    fn resolves_only_plain_paths_without_links() {
        for force_walk in [false, true] {
            let (_tmp, root) = tree();
            let open = |rel: &str| {
                if force_walk {
                    root.walk(rel, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC)
                } else {
                    root.resolve(rel, OFlags::RDONLY)
                }
            };
            let mut text = String::new();
            File::from(open("a/b/f").unwrap()).read_to_string(&mut text).unwrap();
            assert_eq!(text, "data");
            for bad in ["a/link/passwd", "a/rel/f", "a/link", "a/rel"] {
                let err = open(bad).unwrap_err();
                assert!(err.to_string().contains("symbolic link"), "{bad} (walk: {force_walk}): {err}");
            }
            assert!(root.open_dir("../").is_err());
            assert!(root.open_dir("a/../a").is_err());
            assert!(root.open_dir("/etc").is_err());
        }
    }

    #[test]
    fn refuses_fifos_without_waiting() {
        let (tmp, root) = tree();
        let status = std::process::Command::new("mkfifo").arg(tmp.path().join("a/fifo")).status();
        if !status.is_ok_and(|s| s.success()) {
            return;
        }
        let err = root.open_file("a/fifo").unwrap_err();
        assert!(err.to_string().contains("fifo"), "{err}");
        assert!(open_regular(&tmp.path().join("a/fifo"), 10).is_err());
    }

    #[test]
    fn creates_exclusively_and_writes_atomically_over_links() {
        let (tmp, root) = tree();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        symlink(&victim, tmp.path().join("a/out")).unwrap();
        let err = root.create_file("a/out", 0o644).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        root.create_file("a/b/new", 0o644).unwrap().write_all(b"nested").unwrap();
        root.create_dir("a/b/sub", 0o755).unwrap();
        root.open_dir("a/b/sub").unwrap().write_atomic("f", b"deep", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(tmp.path().join("a/b/sub/f")).unwrap(), "deep");
        assert!(root.create_file("a/link/x", 0o644).unwrap_err().to_string().contains("symbolic link"));
        root.write_atomic("out-link", b"new", 0o644).unwrap();
        let a = root.open_dir("a").unwrap();
        a.write_atomic("out", b"new", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(tmp.path().join("a/out")).unwrap(), "new");
        assert!(std::fs::symlink_metadata(tmp.path().join("a/out")).unwrap().is_file());
    }

    #[test]
    fn remove_tree_never_follows_links() {
        let (tmp, root) = tree();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("precious"), "x").unwrap();
        symlink(outside.path(), tmp.path().join("a/b/out")).unwrap();
        root.open_dir("a/b").unwrap().set_mode(0o500).unwrap();
        root.remove_tree("a").unwrap();
        assert!(!tmp.path().join("a").exists());
        assert!(outside.path().join("precious").exists());
    }
}
