use std::io;
use std::path::PathBuf;

/// Why one entry of a file set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("the path is not valid UTF-8")]
    NotUtf8,
    #[error("the path is empty")]
    EmptyPath,
    #[error("the path is absolute; file sets hold only relative paths")]
    Absolute,
    #[error("the path contains `..` and would escape the destination")]
    Traversal,
    #[error("the path contains a NUL byte or an empty component")]
    MalformedPath,
    #[error("the path is {len} bytes long; the limit is {limit}")]
    PathTooLong { len: usize, limit: usize },
    #[error("it is a {kind}; file sets hold only files, directories, symlinks and hard links")]
    UnsupportedType { kind: String },
    #[error("it is a whiteout; a package only adds files, it never deletes them")]
    Whiteout,
    #[error("the symlink target {target:?} points outside the file set")]
    SymlinkEscapes { target: String },
    #[error("the link target is empty or not valid UTF-8")]
    BadLinkTarget,
    #[error("the hard link points to {target:?}, which is not a regular file earlier in the set")]
    HardlinkTarget { target: String },
    #[error("it would be written through {ancestor:?}, which is not a directory")]
    ThroughNonDirectory { ancestor: String },
    #[error("the path appears more than once")]
    Duplicate,
    #[error("it is a hard link to {target}, which goes into another split of the package")]
    SplitHardlink { target: String },
    #[error("it is {size} bytes; the limit for one entry is {limit}")]
    EntryTooLarge { size: u64, limit: u64 },
    #[error("the set would exceed {limit} bytes in total")]
    TotalTooLarge { limit: u64 },
    #[error("the set would exceed {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("the archive ends inside this entry's data")]
    Truncated,
    #[error("it carries the extended header {key:?}, which bale does not accept")]
    UnsupportedExtension { key: String },
    #[error("its extended header {key:?} is not a number")]
    BadNumber { key: String },
    #[error("it changed while being read (size was {expected} bytes, now {actual})")]
    Changed { expected: u64, actual: u64 },
    #[error("it was replaced while bale worked on it ({detail}); nothing was read or written through it")]
    Replaced { detail: String },
    #[error("a path component is {len} bytes long; the limit is {limit}")]
    ComponentTooLong { len: usize, limit: usize },
    #[error("its extended header holds {size} bytes; the limit is {limit}")]
    ExtensionTooLarge { size: u64, limit: u64 },
    #[error("the tar header is damaged: {reason}")]
    BadHeader { reason: String },
}

/// Everything that can go wrong writing, reading or unpacking a file set.
#[derive(Debug, thiserror::Error)]
pub enum FilesetError {
    /// One entry broke the rules; `entry` is its path as the input spelled it.
    #[error("entry {entry}: {problem}")]
    Entry { entry: String, problem: EntryProblem },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("the tar stream is malformed: {0}")]
    MalformedTar(io::Error),
    #[error("writing the canonical tar: {0}")]
    Write(io::Error),
    #[error("unpacking into {}: the destination exists and is not an empty directory", path.display())]
    DestinationNotEmpty { path: PathBuf },
}

impl FilesetError {
    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        Some(match self {
            Self::Entry { problem, .. } => match problem {
                EntryProblem::EntryTooLarge { .. }
                | EntryProblem::TotalTooLarge { .. }
                | EntryProblem::TooManyEntries { .. } => {
                    "when packing a trusted input this large, raise `bale pack --max-size` or `--max-entries`; \
                     when unpacking, the package is damaged"
                }
                EntryProblem::Changed { .. } => {
                    "something modified the file during packing; pack again when it is stable"
                }
                EntryProblem::Replaced { .. } => {
                    "another process changed the tree while bale worked on it; nothing was read or written outside \
                     it. Make sure no one else can write there, then run bale again"
                }
                EntryProblem::SplitHardlink { .. } => {
                    "put the hard link and the file it links to in the same split, or copy the file instead"
                }
                EntryProblem::UnsupportedType { .. } => {
                    "remove that entry from the source: packages hold only files, directories, symlinks and hard links"
                }
                _ => "nothing was stored; fix or remove that entry in the source and try again",
            },
            Self::DestinationNotEmpty { .. } => "unpack into a new or empty directory",
            _ => return None,
        })
    }

    pub(crate) fn entry(raw_path: &[u8], problem: EntryProblem) -> Self {
        Self::Entry { entry: display_path(raw_path), problem }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}

/// Inputs longer than this are quoted by their head and tail only.
const QUOTE_LIMIT: usize = 256;

/// Renders a raw path for an error message: quoted, with bytes that are not
/// printable UTF-8 escaped, so a hostile name cannot forge terminal output,
/// and at most a few hundred bytes of it, so it cannot flood one either.
pub fn display_path(raw: &[u8]) -> String {
    if raw.len() > QUOTE_LIMIT {
        let head = &raw[..floor_char(raw, 160)];
        let tail = &raw[ceil_char(raw, raw.len() - 64)..];
        let (head, tail) = (quote(head), quote(tail));
        return format!("{}…{} ({} bytes)", &head[..head.len() - 1], &tail[1..], raw.len());
    }
    quote(raw)
}

/// The largest index at most `at` that does not split a UTF-8 sequence.
fn floor_char(raw: &[u8], mut at: usize) -> usize {
    while at > 0 && at < raw.len() && (raw[at] & 0xc0) == 0x80 {
        at -= 1;
    }
    at
}

fn ceil_char(raw: &[u8], mut at: usize) -> usize {
    while at < raw.len() && (raw[at] & 0xc0) == 0x80 {
        at += 1;
    }
    at
}

fn quote(raw: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.extend(c.escape_default()),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_path_escapes_hostile_bytes() {
        assert_eq!(display_path(b"usr/bin/x"), "\"usr/bin/x\"");
        assert_eq!(display_path(b"a\xffb"), "\"a\\xffb\"");
        assert_eq!(display_path(b"a\nb\x1b[31m"), "\"a\\nb\\u{1b}[31m\"");
    }

    #[test]
    fn display_path_quotes_long_input_by_head_and_tail() {
        let mut long = "é".repeat(1000).into_bytes();
        long.extend_from_slice(b"/end");
        let shown = display_path(&long);
        assert!(shown.len() < 300, "{}", shown.len());
        assert!(shown.starts_with("\"é") && shown.ends_with("/end\" (2004 bytes)"), "{shown}");
    }
}
