//! The one function that reads tars: strictly, for canonical tars and for
//! any other tar bale is asked to ingest.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};

use tar::EntryType;

use crate::entry::{Entry, EntryKind};
use crate::error::{EntryProblem, FilesetError};
use crate::path::{self, normalize};

/// Bounds on what one file set may hold. Defaults are sized for real
/// packages (the largest Debian packages are a few GiB unpacked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_total_size: u64,
    pub max_entry_size: u64,
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_total_size: 8 << 30, max_entry_size: 8 << 30, max_entries: 1_000_000 }
    }
}

/// What is known of a path seen earlier in the stream.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    Directory,
    File,
    Other,
}

/// Reads a tar stream entry by entry, refusing anything outside bale's rules,
/// and hands each accepted entry with its data to `visit`.
///
/// Refused: `..` and absolute paths, non-UTF-8 names, devices, fifos,
/// sparse files, whiteouts, duplicates, an entry below a path that is not a
/// directory (a write through a symlink), symlinks whose relative target
/// climbs out of the set, hard links to anything but an earlier regular file,
/// entries or totals over `limits`, and truncated data. The error names the
/// entry as the archive spells it.
///
/// Modes and owners are passed on as declared (the caller normalises), and
/// the root entry (`./`) is skipped. `visit` may read the data or not; the
/// rest is drained and counted either way.
pub fn read_entries<R: Read>(
    reader: R,
    limits: &Limits,
    mut visit: impl FnMut(Entry, &mut dyn Read) -> Result<(), FilesetError>,
) -> Result<(), FilesetError> {
    let mut archive = tar::Archive::new(reader);
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut hardlink_roots: HashMap<String, String> = HashMap::new();
    let mut total: u64 = 0;
    let mut count: u64 = 0;
    let entries = archive.entries().map_err(FilesetError::MalformedTar)?;
    for item in entries {
        let mut tar_entry = item.map_err(FilesetError::MalformedTar)?;
        let raw_path = tar_entry.path_bytes().into_owned();
        let fail = |problem| FilesetError::entry(&raw_path, problem);
        let header = tar_entry.header();
        let entry_type = header.entry_type();
        if entry_type == EntryType::XGlobalHeader {
            check_global_header(&mut tar_entry, &raw_path)?;
            continue;
        }
        let declared_size = tar_entry.size();
        let mode = header.mode().map_err(FilesetError::MalformedTar)?;
        let mut uid = header.uid().map_err(FilesetError::MalformedTar)?;
        let mut gid = header.gid().map_err(FilesetError::MalformedTar)?;
        let mut xattrs = BTreeMap::new();
        if let Some(extensions) = tar_entry.pax_extensions().map_err(FilesetError::MalformedTar)? {
            for ext in extensions {
                let ext = ext.map_err(FilesetError::MalformedTar)?;
                let key = ext.key().map_err(|_| fail(EntryProblem::NotUtf8))?;
                match key {
                    "path" | "linkpath" | "size" | "mtime" | "atime" | "ctime" | "uname" | "gname" | "comment"
                    | "charset" | "hdrcharset" => {}
                    "uid" | "gid" => {
                        let value = parse_pax_number(ext.value_bytes())
                            .ok_or_else(|| fail(EntryProblem::BadNumber { key: key.to_string() }))?;
                        if key == "uid" {
                            uid = value;
                        } else {
                            gid = value;
                        }
                    }
                    k if k.starts_with("SCHILY.xattr.") => {
                        xattrs.insert(k["SCHILY.xattr.".len()..].to_string(), ext.value_bytes().to_vec());
                    }
                    k => return Err(fail(EntryProblem::UnsupportedExtension { key: k.to_string() })),
                }
            }
        }
        let path = match normalize(&raw_path) {
            Ok(Some(p)) => p,
            Ok(None) if entry_type == EntryType::Directory => {
                let mut data = Counting { inner: &mut tar_entry, count: 0 };
                drain(&mut data, &raw_path, declared_size)?;
                continue;
            }
            Ok(None) => return Err(fail(EntryProblem::EmptyPath)),
            Err(problem) => return Err(fail(problem)),
        };
        if path.rsplit('/').next().is_some_and(|name| name.starts_with(".wh.")) {
            return Err(fail(EntryProblem::Whiteout));
        }
        count += 1;
        if count > limits.max_entries {
            return Err(fail(EntryProblem::TooManyEntries { limit: limits.max_entries }));
        }
        if declared_size > limits.max_entry_size {
            return Err(fail(EntryProblem::EntryTooLarge { size: declared_size, limit: limits.max_entry_size }));
        }
        total = total.saturating_add(declared_size);
        if total > limits.max_total_size {
            return Err(fail(EntryProblem::TotalTooLarge { limit: limits.max_total_size }));
        }
        if seen.contains_key(&path) {
            return Err(fail(EntryProblem::Duplicate));
        }
        for ancestor in path::ancestors(&path) {
            if matches!(seen.get(ancestor), Some(Seen::File | Seen::Other)) {
                return Err(fail(EntryProblem::ThroughNonDirectory { ancestor: ancestor.to_string() }));
            }
        }
        let link_target = || -> Result<String, FilesetError> {
            let bytes = tar_entry.link_name_bytes().ok_or_else(|| fail(EntryProblem::BadLinkTarget))?;
            let text = std::str::from_utf8(&bytes).map_err(|_| fail(EntryProblem::BadLinkTarget))?;
            if text.is_empty() || text.contains('\0') {
                return Err(fail(EntryProblem::BadLinkTarget));
            }
            Ok(text.to_string())
        };
        let kind = match entry_type {
            EntryType::Regular | EntryType::Continuous => EntryKind::File { size: declared_size },
            EntryType::Directory => EntryKind::Directory,
            EntryType::Symlink => {
                let target = link_target()?;
                if !path::symlink_stays_inside(&path, &target) {
                    return Err(fail(EntryProblem::SymlinkEscapes { target }));
                }
                EntryKind::Symlink { target }
            }
            EntryType::Link => {
                let raw_target = link_target()?;
                let target = match normalize(raw_target.as_bytes()) {
                    Ok(Some(t)) => t,
                    _ => return Err(fail(EntryProblem::HardlinkTarget { target: raw_target })),
                };
                let root = match seen.get(&target) {
                    Some(Seen::File) => hardlink_roots.get(&target).cloned().unwrap_or(target),
                    _ => return Err(fail(EntryProblem::HardlinkTarget { target: raw_target })),
                };
                EntryKind::Hardlink { target: root }
            }
            other => return Err(fail(unsupported(other))),
        };
        let marker = match &kind {
            EntryKind::Directory => Seen::Directory,
            EntryKind::File { .. } => Seen::File,
            // A hard link is a regular file too: later links may name it.
            EntryKind::Hardlink { target } => {
                hardlink_roots.insert(path.clone(), target.clone());
                Seen::File
            }
            EntryKind::Symlink { .. } => Seen::Other,
        };
        seen.insert(path.clone(), marker);
        let entry = Entry { path, kind, mode: mode & 0o7777, uid, gid, xattrs };
        let mut data = Counting { inner: (&mut tar_entry).take(declared_size), count: 0 };
        visit(entry, &mut data)?;
        drain(&mut data, &raw_path, declared_size)?;
    }
    Ok(())
}

fn unsupported(entry_type: EntryType) -> EntryProblem {
    let kind = match entry_type {
        EntryType::Char => "character device",
        EntryType::Block => "block device",
        EntryType::Fifo => "fifo",
        EntryType::GNUSparse => "GNU sparse file",
        EntryType::GNULongName | EntryType::GNULongLink => "stray GNU long-name header",
        EntryType::XHeader => "stray PAX header",
        _ => "entry of an unknown tar type",
    };
    EntryProblem::UnsupportedType { kind: format!("{kind} ({:?})", entry_type.as_byte() as char) }
}

/// Counts the bytes read through it, to notice archives that end early.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads whatever `visit` left of the entry's data and checks that the
/// archive held all the bytes the header declared.
fn drain<R: Read>(data: &mut Counting<R>, raw_path: &[u8], declared: u64) -> Result<(), FilesetError> {
    match io::copy(data, &mut io::sink()) {
        Ok(_) if data.count == declared => Ok(()),
        Ok(_) => Err(FilesetError::entry(raw_path, EntryProblem::Truncated)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(FilesetError::entry(raw_path, EntryProblem::Truncated))
        }
        Err(e) => Err(FilesetError::MalformedTar(e)),
    }
}

fn check_global_header(entry: &mut tar::Entry<'_, impl Read>, raw_path: &[u8]) -> Result<(), FilesetError> {
    if let Some(extensions) = entry.pax_extensions().map_err(FilesetError::MalformedTar)? {
        for ext in extensions {
            let ext = ext.map_err(FilesetError::MalformedTar)?;
            let key = ext.key().map_err(|_| FilesetError::entry(raw_path, EntryProblem::NotUtf8))?;
            if key != "comment" {
                return Err(FilesetError::entry(raw_path, EntryProblem::UnsupportedExtension { key: key.to_string() }));
            }
        }
    }
    Ok(())
}

fn parse_pax_number(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}
