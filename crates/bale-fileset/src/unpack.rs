//! Unpacking a file set into a directory, through the strict reader and
//! the race-free directory handles of [`crate::safe_fs`].

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::entry::EntryKind;
use crate::error::{EntryProblem, FilesetError};
use crate::path;
use crate::read::{Limits, read_entries};
use crate::safe_fs::{self, Dir, Identity};

#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackOptions {
    /// Apply numeric owners (only works with the privilege to chown).
    pub owners: bool,
}

/// Unpacks the tar from `reader` into `dest`, which must not exist or be an
/// empty directory. Nothing is ever written outside `dest`: the strict
/// reader refuses traversal and writes through links, every path is
/// resolved beneath `dest` without following links, and each directory
/// bale made is checked to be the same inode whenever it is used again, so
/// one renamed or replaced by another user mid-way stops the unpack with
/// the path named. Owners are set before modes, so setuid and setgid bits
/// survive. On error, `dest` is removed if this call created it.
pub fn unpack(reader: impl Read, dest: &Path, limits: &Limits, options: UnpackOptions) -> Result<u64, FilesetError> {
    let (root, created) = match fs::symlink_metadata(dest) {
        Ok(md) if md.is_dir() => {
            let root = Dir::open_nofollow(dest).map_err(|e| FilesetError::io(dest, e))?;
            if !root.names().map_err(|e| FilesetError::io(dest, e))?.is_empty() {
                return Err(FilesetError::DestinationNotEmpty { path: dest.to_path_buf() });
            }
            (root, false)
        }
        Ok(_) => return Err(FilesetError::DestinationNotEmpty { path: dest.to_path_buf() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let root = Dir::create_new(dest, 0o700).map_err(|e| FilesetError::io(dest, e))?;
            ours_and_empty(&root).map_err(|e| FilesetError::io(dest, e))?;
            (root, true)
        }
        Err(e) => return Err(FilesetError::io(dest, e)),
    };
    let result = Unpacker { root: &root, options, made: HashMap::new() }.run(reader, limits);
    match (&result, created) {
        (Ok(_), true) => root.set_mode(0o755).map_err(|e| FilesetError::io(dest, e))?,
        (Err(_), true) => {
            // Emptied through the handle; then only the directory that
            // handle names is removed, if it is still at `dest`.
            let _ = root.remove_contents();
            if let (Ok((parent, name)), Ok(meta)) = (safe_fs::open_parent(dest), root.meta()) {
                let _ = parent.remove_empty_dir(&name, meta.identity);
            }
        }
        _ => {}
    }
    result
}

/// A directory bale just made must be its own and empty: another user who
/// can write the parent could have swapped in one of theirs.
fn ours_and_empty(dir: &Dir) -> io::Result<()> {
    let meta = dir.meta()?;
    if meta.kind != safe_fs::Kind::Directory || meta.uid != rustix::process::geteuid().as_raw() {
        return Err(safe_fs::unexpected("a directory bale made was replaced by another user's"));
    }
    if !dir.names()?.is_empty() {
        return Err(safe_fs::unexpected("a directory bale made is not empty"));
    }
    Ok(())
}

struct Unpacker<'a> {
    root: &'a Dir,
    options: UnpackOptions,
    /// Every directory and regular file this unpack made, by path: what
    /// it must still be when bale goes back to it.
    made: HashMap<String, Made>,
}

#[derive(Clone, Copy)]
struct Made {
    identity: Identity,
    /// For directories: the mode to give it once its children are in.
    final_mode: Option<u32>,
}

fn replaced(path: &str, detail: impl Into<String>) -> FilesetError {
    FilesetError::entry(path.as_bytes(), EntryProblem::Replaced { detail: detail.into() })
}

impl Unpacker<'_> {
    fn run(mut self, reader: impl Read, limits: &Limits) -> Result<u64, FilesetError> {
        let mut count = 0u64;
        read_entries(reader, limits, |entry, data| {
            crate::hook::pause_point("unpack-entry");
            let path = entry.path.as_str();
            for ancestor in path::ancestors(path) {
                if !self.made.contains_key(ancestor) {
                    // Parents the archive did not list are plain directories.
                    self.make_dir(ancestor, 0o755, None)?;
                }
            }
            // Ids over 32 bits cannot be set: such entries keep bale's own.
            let owner = self.options.owners.then(|| owner_ids(entry.uid, entry.gid)).flatten();
            let (parent, name) = self.parent_of(path)?;
            let here = parent.as_ref().unwrap_or(self.root);
            match &entry.kind {
                EntryKind::Directory => match self.made.get_mut(path) {
                    // Made earlier as a parent; the archive now gives its mode.
                    Some(made) => {
                        made.final_mode = Some(entry.mode);
                        if let Some((uid, gid)) = owner {
                            let dir = self.open_made_dir(path)?;
                            dir.set_owner(uid, gid).map_err(|e| self.io(path, e))?;
                        }
                    }
                    None => self.make_dir(path, entry.mode, owner)?,
                },
                EntryKind::File { .. } => {
                    let mut file = here.create_file(name, 0o600).map_err(|e| self.io(path, e))?;
                    io::copy(data, &mut file).map_err(|e| self.io(path, e))?;
                    // chown clears setuid and setgid, so it goes first.
                    if let Some((uid, gid)) = owner {
                        rustix::fs::fchown(
                            &file,
                            Some(rustix::fs::Uid::from_raw(uid)),
                            Some(rustix::fs::Gid::from_raw(gid)),
                        )
                        .map_err(|e| self.io(path, e.into()))?;
                    }
                    file.set_permissions(fs::Permissions::from_mode(entry.mode)).map_err(|e| self.io(path, e))?;
                    let identity = safe_fs::fstat(&file).map_err(|e| self.io(path, e))?.identity;
                    self.made.insert(path.to_string(), Made { identity, final_mode: None });
                }
                EntryKind::Symlink { target } => {
                    here.symlink(target, name).map_err(|e| self.io(path, e))?;
                    if let Some((uid, gid)) = owner {
                        here.chown_entry(name, uid, gid).map_err(|e| self.io(path, e))?;
                    }
                }
                EntryKind::Hardlink { target } => {
                    let Some(original) = self.made.get(target.as_str()).map(|m| m.identity) else {
                        return Err(replaced(path, format!("its target {target:?} was not unpacked")));
                    };
                    let (target_parent, target_name) = self.parent_of(target)?;
                    let there = target_parent.as_ref().unwrap_or(self.root);
                    there.hard_link_to(target_name, here, name).map_err(|e| self.io(path, e))?;
                    // The link shares the target's inode, owner and mode; make
                    // sure that inode is still the one this unpack wrote.
                    let linked = here.entry_meta(name).map_err(|e| self.io(path, e))?;
                    if linked.identity != original {
                        let _ = here.remove_file(name);
                        return Err(replaced(path, format!("{target:?} was swapped for another file")));
                    }
                }
            }
            count += 1;
            Ok(())
        })?;
        // Deepest first, so a read-only directory is closed after its children.
        let mut dirs: Vec<(String, Made)> =
            self.made.iter().filter(|(_, m)| m.final_mode.is_some()).map(|(p, m)| (p.clone(), *m)).collect();
        dirs.sort_by(|a, b| b.0.cmp(&a.0));
        for (path, made) in dirs {
            let dir = self.open_made_dir(&path)?;
            dir.set_mode(made.final_mode.unwrap_or(0o755)).map_err(|e| self.io(&path, e))?;
        }
        Ok(count)
    }

    fn io(&self, path: &str, error: io::Error) -> FilesetError {
        if error.kind() == io::ErrorKind::InvalidData {
            return replaced(path, error.to_string());
        }
        FilesetError::io(self.root.display(path), error)
    }

    /// Creates a directory, owner-writable until the end so its children
    /// can be made, and remembers its inode.
    fn make_dir(&mut self, path: &str, final_mode: u32, owner: Option<(u32, u32)>) -> Result<(), FilesetError> {
        let (parent, name) = self.parent_of(path)?;
        let here = parent.as_ref().unwrap_or(self.root);
        here.create_dir(name, 0o700).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => replaced(path, "something else was put there"),
            _ => self.io(path, e),
        })?;
        let dir = here.open_dir(name).map_err(|e| self.io(path, e))?;
        ours_and_empty(&dir).map_err(|e| self.io(path, e))?;
        let meta = dir.meta().map_err(|e| self.io(path, e))?;
        if let Some((uid, gid)) = owner {
            dir.set_owner(uid, gid).map_err(|e| self.io(path, e))?;
        }
        if meta.mode != 0o700 {
            dir.set_mode(0o700).map_err(|e| self.io(path, e))?;
        }
        self.made.insert(path.to_string(), Made { identity: meta.identity, final_mode: Some(final_mode) });
        Ok(())
    }

    /// The parent directory of `path`, opened and checked to be the one
    /// this unpack made (`None` for the destination itself), and the name
    /// of `path` in it. Everything is then created through that handle, so
    /// no swap after the check can redirect it.
    fn parent_of<'p>(&self, path: &'p str) -> Result<(Option<Dir>, &'p str), FilesetError> {
        match path.rsplit_once('/') {
            Some((parent, name)) => Ok((Some(self.open_made_dir(parent)?), name)),
            None => Ok((None, path)),
        }
    }

    fn open_made_dir(&self, path: &str) -> Result<Dir, FilesetError> {
        let dir = self.root.open_dir(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => replaced(path, "a directory bale made is gone"),
            _ => self.io(path, e),
        })?;
        let meta = dir.meta().map_err(|e| self.io(path, e))?;
        match self.made.get(path) {
            Some(made) if made.identity == meta.identity => Ok(dir),
            _ => Err(replaced(path, "a directory bale made was replaced by another")),
        }
    }
}

fn owner_ids(uid: u64, gid: u64) -> Option<(u32, u32)> {
    Some((u32::try_from(uid).ok()?, u32::try_from(gid).ok()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::entry::{Entry, Normalize};
    use crate::plan::{Content, Plan};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_destination_it_creates_ends_up_0755() {
        let mut plan = Plan::new(Normalize::default(), Limits::default());
        let mut file = Entry::directory("d/f");
        file.kind = EntryKind::File { size: 2 };
        file.mode = 0o644;
        plan.insert(file, Content::Bytes(b"hi".to_vec())).unwrap();
        let plan = plan.seal().unwrap();
        let mut tar = Vec::new();
        crate::write_canonical(&plan, &mut tar, &bale_progress::NoProgress).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        unpack(tar.as_slice(), &dest, &Limits::default(), UnpackOptions { owners: false }).unwrap();
        assert_eq!(fs::metadata(&dest).unwrap().mode() & 0o7777, 0o755);
        assert_eq!(fs::read_to_string(dest.join("d/f")).unwrap(), "hi");
    }
}
