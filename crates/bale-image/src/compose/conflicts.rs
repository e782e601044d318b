//! Two packages may share a path only if they agree on everything about it.

use bale_fileset::FileIndexEntry;

/// Two packages may both ship a path only if they agree on everything
/// about it.
pub(super) fn same(a: &FileIndexEntry, b: &FileIndexEntry) -> bool {
    a.kind == b.kind
        && a.mode == b.mode
        && a.uid == b.uid
        && a.gid == b.gid
        && a.size == b.size
        && a.sha256 == b.sha256
        && a.target == b.target
        && a.xattrs == b.xattrs
}

pub(super) fn describe(e: &FileIndexEntry) -> String {
    match (e.kind.as_str(), &e.sha256, &e.target) {
        ("file", Some(sha), _) => {
            format!("a file (mode {}, {}:{}, {} bytes, {})", e.mode, e.uid, e.gid, e.size.unwrap_or(0), sha.short())
        }
        ("symlink", _, Some(t)) => format!("a symlink to {t:?}"),
        ("hardlink", _, Some(t)) => format!("a hard link to {t:?}"),
        (kind, _, _) => format!("a {kind} (mode {}, {}:{})", e.mode, e.uid, e.gid),
    }
}
