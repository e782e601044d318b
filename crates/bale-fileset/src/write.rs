//! The one function that writes canonical tars.

use std::io::{self, Read, Write};

use crate::digest::Sha256;
use bale_progress::Progress;

use crate::digest::Digest;
use crate::entry::EntryKind;
use crate::error::{EntryProblem, FilesetError};
use crate::index::{FileIndex, FileIndexEntry};
use crate::plan::{Content, Plan};
use crate::tarfmt::{self, HeaderFields, TypeFlag};

/// What writing a plan produced, besides the bytes.
#[derive(Debug)]
pub struct WriteSummary {
    pub entries: u64,
    pub file_index: FileIndex,
}

/// Writes `plan` to `out` as a canonical tar (see `docs/fileset.md`):
/// entries bytewise-sorted by path, ustar headers with PAX only where needed,
/// mtime 0, numeric owners, no names, two zero blocks at the end.
///
/// Hashes every regular file on the way for the file index. Progress is
/// reported in content bytes.
pub fn write_canonical(
    plan: &Plan,
    out: &mut impl Write,
    progress: &dyn Progress,
) -> Result<WriteSummary, FilesetError> {
    let mut index = FileIndex::default();
    let mut header = Vec::with_capacity(4 * tarfmt::BLOCK);
    let mut buf = vec![0u8; 256 * 1024];
    let mut entries = 0u64;
    progress.phase("packing", Some(plan.content_size()));
    for (entry, content) in plan.entries_with_content() {
        entries += 1;
        let (flag, link, size) = match &entry.kind {
            EntryKind::Directory => (TypeFlag::Directory, "", 0),
            EntryKind::File { size } => (TypeFlag::File, "", *size),
            EntryKind::Symlink { target } => (TypeFlag::Symlink, target.as_str(), 0),
            EntryKind::Hardlink { target } => (TypeFlag::Hardlink, target.as_str(), 0),
        };
        // A hard link shares its target's inode, so it carries its metadata.
        let meta = match &entry.kind {
            EntryKind::Hardlink { target } => plan.get(target).unwrap_or(entry),
            _ => entry,
        };
        let mut name = entry.path.clone();
        if flag_is_dir(&entry.kind) {
            name.push('/');
        }
        header.clear();
        tarfmt::encode_header(
            &HeaderFields {
                name: name.as_bytes(),
                link: link.as_bytes(),
                flag,
                mode: meta.mode,
                uid: meta.uid,
                gid: meta.gid,
                size,
                xattrs: &meta.xattrs,
            },
            &mut header,
        );
        out.write_all(&header).map_err(FilesetError::Write)?;
        let mut record = FileIndexEntry {
            path: entry.path.clone(),
            kind: entry.kind.name().to_string(),
            mode: format!("{:04o}", meta.mode),
            uid: meta.uid,
            gid: meta.gid,
            size: None,
            sha256: None,
            target: match &entry.kind {
                EntryKind::Symlink { target } | EntryKind::Hardlink { target } => Some(target.clone()),
                _ => None,
            },
            xattrs: meta.xattrs.iter().map(|(k, v)| (k.clone(), hex::encode(v))).collect(),
        };
        if let EntryKind::File { size } = entry.kind {
            let reader = plan.open_content(entry, content)?;
            let digest = copy_exact(reader, size, out, &mut buf, progress)
                .map_err(|e| e.with_entry(&entry.path, matches!(content, Content::Path(_) | Content::Tree { .. })))?;
            let pad = tarfmt::padding(size);
            out.write_all(&[0u8; tarfmt::BLOCK][..pad]).map_err(FilesetError::Write)?;
            record.size = Some(size);
            record.sha256 = Some(digest);
        }
        index.entries.push(record);
    }
    out.write_all(&[0u8; 2 * tarfmt::BLOCK]).map_err(FilesetError::Write)?;
    progress.finish_phase();
    Ok(WriteSummary { entries, file_index: index })
}

fn flag_is_dir(kind: &EntryKind) -> bool {
    matches!(kind, EntryKind::Directory)
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
    Size { expected: u64, actual: u64 },
}

impl CopyError {
    fn with_entry(self, path: &str, from_disk: bool) -> FilesetError {
        match self {
            Self::Read(e) => FilesetError::io(path, e),
            Self::Write(e) => FilesetError::Write(e),
            Self::Size { expected, actual } => FilesetError::entry(
                path.as_bytes(),
                if from_disk { EntryProblem::Changed { expected, actual } } else { EntryProblem::Truncated },
            ),
        }
    }
}

/// Copies exactly `size` bytes, hashing them; a source that is shorter or
/// longer than planned means the file changed under us.
fn copy_exact(
    mut reader: impl Read,
    size: u64,
    out: &mut impl Write,
    buf: &mut [u8],
    progress: &dyn Progress,
) -> Result<Digest, CopyError> {
    let mut hasher = Sha256::new();
    let mut remaining = size;
    while remaining > 0 {
        let want = buf.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => return Err(CopyError::Size { expected: size, actual: size - remaining }),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        remaining -= n as u64;
        progress.advance(n as u64);
    }
    // One more byte means the file grew.
    let mut probe = [0u8; 1];
    match reader.read(&mut probe) {
        Ok(0) => {}
        Ok(_) => return Err(CopyError::Size { expected: size, actual: size + 1 }),
        Err(e) => return Err(CopyError::Read(e)),
    }
    Ok(hasher.finalize())
}
