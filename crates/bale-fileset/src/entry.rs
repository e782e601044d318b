use std::collections::BTreeMap;

/// What an entry is. Only these four exist in a file set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File {
        size: u64,
    },
    /// `target` is kept verbatim (relative or absolute, as the package wants).
    Symlink {
        target: String,
    },
    /// `target` is the normalised path of a regular file earlier in the set.
    Hardlink {
        target: String,
    },
}

impl EntryKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Directory => "directory",
            Self::File { .. } => "file",
            Self::Symlink { .. } => "symlink",
            Self::Hardlink { .. } => "hardlink",
        }
    }
}

/// One entry of a file set, with its path already normalised: relative,
/// UTF-8, no `.`/`..`/empty components, no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits including setuid/setgid/sticky (`0o7777` at most).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Extended attributes the package declares (PAX `SCHILY.xattr.*`).
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Entry {
    pub fn directory(path: impl Into<String>) -> Self {
        Self { path: path.into(), kind: EntryKind::Directory, mode: 0o755, uid: 0, gid: 0, xattrs: BTreeMap::new() }
    }
}

/// How modes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModePolicy {
    /// 0755 for directories and for files with any execute bit, 0644 for
    /// other files, 0777 for symlinks. Setuid, setgid and sticky are dropped.
    #[default]
    Canonical,
    /// Keep the permission bits the source declares (a .deb, a tar).
    /// Setuid/setgid/sticky survive only if `special_bits` is set.
    Preserve { special_bits: bool },
}

/// How owners are written. Names are never written, only numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OwnerPolicy {
    /// Everything is owned by 0:0.
    #[default]
    Root,
    /// Keep the numeric owners the source declares.
    Preserve,
}

/// The normalisation applied when a source becomes a canonical file set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Normalize {
    pub modes: ModePolicy,
    pub owners: OwnerPolicy,
    /// Keep extended attributes a source tar carries (file capabilities,
    /// say). Off by default: a package has only the xattrs it declares.
    pub keep_xattrs: bool,
}

impl Normalize {
    pub(crate) fn mode(&self, kind: &EntryKind, source_mode: u32) -> u32 {
        match kind {
            EntryKind::Symlink { .. } => 0o777,
            _ => match self.modes {
                ModePolicy::Canonical => match kind {
                    EntryKind::Directory => 0o755,
                    _ if source_mode & 0o111 != 0 => 0o755,
                    _ => 0o644,
                },
                ModePolicy::Preserve { special_bits: true } => source_mode & 0o7777,
                ModePolicy::Preserve { special_bits: false } => source_mode & 0o777,
            },
        }
    }

    pub(crate) fn owner(&self, source: u64) -> u64 {
        match self.owners {
            OwnerPolicy::Root => 0,
            OwnerPolicy::Preserve => source,
        }
    }
}
