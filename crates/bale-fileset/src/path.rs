//! Path rules shared by the writer, the reader and the unpacker.

use crate::error::EntryProblem;

/// Longest path accepted, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;
/// Longest path component accepted, in bytes (Linux `NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;

/// Normalises a path as an archive or a directory walk spells it.
///
/// Leading `./` and `.` components and a trailing slash are dropped; `..`,
/// absolute paths, empty components, NUL and non-UTF-8 bytes are refused.
/// Returns `Ok(None)` for the root itself (`.` or `./`), which a file set
/// never lists.
pub fn normalize(raw: &[u8]) -> Result<Option<String>, EntryProblem> {
    let text = std::str::from_utf8(raw).map_err(|_| EntryProblem::NotUtf8)?;
    if text.is_empty() {
        return Err(EntryProblem::EmptyPath);
    }
    if text.len() > MAX_PATH_LEN {
        return Err(EntryProblem::PathTooLong { len: text.len(), limit: MAX_PATH_LEN });
    }
    if text.contains('\0') {
        return Err(EntryProblem::MalformedPath);
    }
    if text.starts_with('/') {
        return Err(EntryProblem::Absolute);
    }
    let trimmed = text.strip_suffix('/').unwrap_or(text);
    let mut out = String::with_capacity(trimmed.len());
    for component in trimmed.split('/') {
        match component {
            "." => continue,
            ".." => return Err(EntryProblem::Traversal),
            "" => return Err(EntryProblem::MalformedPath),
            c if c.len() > MAX_NAME_LEN => {
                return Err(EntryProblem::ComponentTooLong { len: c.len(), limit: MAX_NAME_LEN });
            }
            c => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(c);
            }
        }
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}

/// Does a symlink at `link_path` whose target is `target` stay inside the
/// set? Absolute targets are resolved against the set's root, as a container
/// runtime does, so they always stay inside; relative targets are walked
/// lexically from the link's directory and must never climb above the root.
pub fn symlink_stays_inside(link_path: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return true;
    }
    let mut depth: usize = link_path.split('/').count() - 1;
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

/// The ancestors of a normalised path, shortest first: `a/b/c` gives `a`, `a/b`.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_accepts_and_cleans() {
        assert_eq!(normalize(b"./usr/bin/").unwrap().as_deref(), Some("usr/bin"));
        assert_eq!(normalize(b"usr/./bin").unwrap().as_deref(), Some("usr/bin"));
        assert_eq!(normalize(b"./").unwrap(), None);
        assert_eq!(normalize(b".").unwrap(), None);
    }

    #[test]
    fn normalize_refuses() {
        assert_eq!(normalize(b"../x"), Err(EntryProblem::Traversal));
        assert_eq!(normalize(b"a/../../x"), Err(EntryProblem::Traversal));
        assert_eq!(normalize(b"/etc/passwd"), Err(EntryProblem::Absolute));
        assert_eq!(normalize(b"a//b"), Err(EntryProblem::MalformedPath));
        assert_eq!(normalize(b"a\xff"), Err(EntryProblem::NotUtf8));
        assert_eq!(normalize(b""), Err(EntryProblem::EmptyPath));
        assert_eq!(normalize(b"a/\0b"), Err(EntryProblem::MalformedPath));
        let long_name = format!("a/{}", "n".repeat(256));
        assert_eq!(normalize(long_name.as_bytes()), Err(EntryProblem::ComponentTooLong { len: 256, limit: 255 }));
        assert!(normalize(format!("a/{}", "n".repeat(255)).as_bytes()).is_ok());
        let long_path = vec!["d".repeat(200); 21].join("/");
        assert!(matches!(normalize(long_path.as_bytes()), Err(EntryProblem::PathTooLong { .. })));
    }

    #[test]
    fn symlink_escape() {
        assert!(symlink_stays_inside("usr/lib/x", "../share/y"));
        assert!(symlink_stays_inside("usr/lib/x", "../../etc"));
        assert!(!symlink_stays_inside("usr/lib/x", "../../../etc"));
        assert!(!symlink_stays_inside("x", ".."));
        assert!(symlink_stays_inside("x", "/etc/passwd"));
        assert!(symlink_stays_inside("a/b", "c/../../d"));
        assert!(!symlink_stays_inside("a/b", "../../d"));
    }

    #[test]
    fn ancestors_are_prefixes() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
    }
}
