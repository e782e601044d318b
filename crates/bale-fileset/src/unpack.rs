//! Unpacking a file set into a directory, through the strict reader.

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::entry::EntryKind;
use crate::error::FilesetError;
use crate::read::{Limits, read_entries};

#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackOptions {
    /// Apply numeric owners (only works with the privilege to chown).
    pub owners: bool,
}

/// Unpacks the tar from `reader` into `dest`, which must not exist or be an
/// empty directory. Nothing is ever written outside `dest`: the strict
/// reader refuses traversal and writes through links, and no path that
/// already exists is overwritten or followed. On error, `dest` is removed if
/// this call created it.
pub fn unpack(reader: impl Read, dest: &Path, limits: &Limits, options: UnpackOptions) -> Result<u64, FilesetError> {
    let created = match fs::symlink_metadata(dest) {
        Ok(md) if md.is_dir() => {
            let mut listing = fs::read_dir(dest).map_err(|e| FilesetError::io(dest, e))?;
            if listing.next().is_some() {
                return Err(FilesetError::DestinationNotEmpty { path: dest.to_path_buf() });
            }
            false
        }
        Ok(_) => return Err(FilesetError::DestinationNotEmpty { path: dest.to_path_buf() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir(dest).map_err(|e| FilesetError::io(dest, e))?;
            true
        }
        Err(e) => return Err(FilesetError::io(dest, e)),
    };
    let result = unpack_into(reader, dest, limits, options);
    if result.is_err() && created {
        let _ = make_writable_and_remove(dest);
    }
    result
}

fn unpack_into(reader: impl Read, dest: &Path, limits: &Limits, options: UnpackOptions) -> Result<u64, FilesetError> {
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    let mut count = 0u64;
    read_entries(reader, limits, |entry, data| {
        let target = dest.join(&entry.path);
        let io_err = |e| FilesetError::io(&target, e);
        // Parents the archive did not list are created as plain directories;
        // the reader guarantees no listed ancestor is anything else.
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| FilesetError::io(parent, e))?;
        }
        match &entry.kind {
            EntryKind::Directory => {
                match fs::create_dir(&target) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        let md = fs::symlink_metadata(&target).map_err(io_err)?;
                        if !md.is_dir() {
                            return Err(io_err(io::Error::new(
                                io::ErrorKind::AlreadyExists,
                                "exists and is not a directory",
                            )));
                        }
                    }
                    Err(e) => return Err(io_err(e)),
                }
                // Owner-writable until the end, so its children can be made.
                fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).map_err(io_err)?;
                dir_modes.push((target.clone(), entry.mode));
            }
            EntryKind::File { .. } => {
                let mut file =
                    OpenOptions::new().write(true).create_new(true).mode(0o600).open(&target).map_err(io_err)?;
                io::copy(data, &mut file).map_err(io_err)?;
                file.set_permissions(fs::Permissions::from_mode(entry.mode)).map_err(io_err)?;
            }
            EntryKind::Symlink { target: link } => {
                std::os::unix::fs::symlink(link, &target).map_err(io_err)?;
            }
            EntryKind::Hardlink { target: original } => {
                fs::hard_link(dest.join(original), &target).map_err(io_err)?;
            }
        }
        if options.owners {
            std::os::unix::fs::lchown(&target, u32::try_from(entry.uid).ok(), u32::try_from(entry.gid).ok())
                .map_err(io_err)?;
        }
        count += 1;
        Ok(())
    })?;
    // Deepest first, so a read-only directory is closed after its children.
    dir_modes.sort_by(|a, b| b.0.cmp(&a.0));
    for (path, mode) in dir_modes {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(|e| FilesetError::io(&path, e))?;
    }
    Ok(count)
}

fn make_writable_and_remove(dir: &Path) -> io::Result<()> {
    fn walk(dir: &Path) -> io::Result<()> {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        for item in fs::read_dir(dir)? {
            let item = item?;
            if item.file_type()?.is_dir() {
                walk(&item.path())?;
            }
        }
        Ok(())
    }
    walk(dir)?;
    fs::remove_dir_all(dir)
}
