//! A `.deb` becomes a plain package: its `data.tar` turned into a canonical
//! tar with every path under merged `/usr`, documentation dropped unless
//! asked for, maintainer scripts recorded but never run, and the
//! alternatives their `update-alternatives --install` lines would create
//! read statically.

use std::io::{self, BufReader, Read};
use std::path::Path;

use bale_fileset::{Entry, EntryKind, FilesetError, Limits, ModePolicy, Normalize, OwnerPolicy, Plan};
use bale_store::AlternativeLink;

use crate::control;

/// Top-level directories that merged `/usr` moves under `usr/`.
pub const MERGED_DIRS: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];
const SCRIPTS: [&str; 6] = ["preinst", "postinst", "prerm", "postrm", "config", "triggers"];

#[derive(Debug, Clone, Copy, Default)]
pub struct DebOptions {
    /// Keep documentation, man pages, info pages and locales.
    pub keep_docs: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("{deb}: not a .deb ({reason})")]
    NotADeb { deb: String, reason: String },
    #[error("{deb}: reading it failed: {error}")]
    Io { deb: String, error: io::Error },
    #[error("{deb}: member {member} is compressed with {format}, which bale does not read")]
    Compression { deb: String, member: String, format: String },
    #[error("{deb}: its control file: {reason}")]
    Control { deb: String, reason: String },
    #[error("{deb}: its data.tar: {error}")]
    Data { deb: String, error: FilesetError },
    #[error("{deb}: {path:?} and {other:?} both land on {target:?} once /bin, /sbin and /lib* move under /usr")]
    MergedUsrClash { deb: String, path: String, other: String, target: String },
}

/// What a .deb holds, converted.
#[derive(Debug)]
pub struct ConvertedDeb {
    pub plan: Plan,
    /// Fields of the package's own `control` file.
    pub control: Vec<(String, String)>,
    /// Names of the maintainer scripts it carried (never run).
    pub maintainer_scripts: Vec<String>,
    pub alternatives: Vec<AlternativeLink>,
    /// Paths left out (documentation and the like), as they would have
    /// been installed.
    pub dropped: Vec<String>,
    /// SPDX expression from a machine-readable copyright file, or
    /// `NOASSERTION`.
    pub license: String,
}

/// Converts the .deb read from `reader`. `name` labels errors; `spool_dir`
/// holds the temporary spool of file contents.
pub fn convert(reader: impl Read, name: &str, spool_dir: &Path, options: DebOptions) -> Result<ConvertedDeb, DebError> {
    let mut ar = ArReader::new(BufReader::with_capacity(256 * 1024, reader), name)?;
    let mut control_fields = None;
    let mut scripts = Vec::new();
    let mut alternatives = Vec::new();
    let mut converted = None;
    while let Some((member, _size)) = ar.next_member()? {
        let data = ar.member();
        if member == "debian-binary" {
            let mut text = String::new();
            data.take(64)
                .read_to_string(&mut text)
                .map_err(|source| DebError::Io { deb: name.into(), error: source })?;
            if !text.starts_with("2.") {
                return Err(DebError::NotADeb {
                    deb: name.into(),
                    reason: format!("format version {:?}", text.trim()),
                });
            }
        } else if let Some(compression) = member.strip_prefix("control.tar") {
            let tar = decompress(data, compression, name, &member)?;
            let control = read_control(tar, name)?;
            control_fields = Some(control.fields);
            scripts = control.scripts;
            alternatives = control.alternatives;
        } else if let Some(compression) = member.strip_prefix("data.tar") {
            let tar = decompress(data, compression, name, &member)?;
            converted = Some(convert_data(tar, name, spool_dir, options)?);
        }
        ar.finish_member()?;
    }
    let control =
        control_fields.ok_or_else(|| DebError::NotADeb { deb: name.into(), reason: "no control.tar".into() })?;
    let (plan, dropped) =
        converted.ok_or_else(|| DebError::NotADeb { deb: name.into(), reason: "no data.tar".into() })?;
    let package = control.iter().find(|(k, _)| k == "Package").map(|(_, v)| v.clone()).unwrap_or_default();
    let license = plan
        .read_file(&format!("usr/share/doc/{package}/copyright"), 4 << 20)
        .and_then(Result::ok)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map_or_else(|| "NOASSERTION".to_string(), |text| crate::copyright::spdx_from_copyright(&text));
    Ok(ConvertedDeb { plan, control, maintainer_scripts: scripts, alternatives, dropped, license })
}

fn decompress<'a>(data: impl Read + 'a, suffix: &str, deb: &str, member: &str) -> Result<Box<dyn Read + 'a>, DebError> {
    Ok(match suffix {
        "" => Box::new(data),
        ".gz" => Box::new(flate2::read::GzDecoder::new(data)),
        ".xz" => Box::new(liblzma::read::XzDecoder::new(data)),
        ".zst" => Box::new(
            zstd::stream::read::Decoder::new(data).map_err(|source| DebError::Io { deb: deb.into(), error: source })?,
        ),
        other => {
            return Err(DebError::Compression {
                deb: deb.into(),
                member: member.into(),
                format: other.trim_start_matches('.').into(),
            });
        }
    })
}

struct ControlInfo {
    fields: Vec<(String, String)>,
    scripts: Vec<String>,
    alternatives: Vec<AlternativeLink>,
}

fn read_control(tar: impl Read, deb: &str) -> Result<ControlInfo, DebError> {
    let bad = |reason: String| DebError::Control { deb: deb.into(), reason };
    let mut fields = None;
    let mut scripts = Vec::new();
    let mut alternatives = Vec::new();
    // control.tar is small, and read with the same strict reader as data.
    let limits = Limits { max_total_size: 64 << 20, max_entry_size: 64 << 20, max_entries: 10_000 };
    bale_fileset::read_entries(tar, &limits, |entry, data| {
        if !matches!(entry.kind, EntryKind::File { .. }) {
            return Ok(());
        }
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes).map_err(|source| FilesetError::Io { path: entry.path.clone().into(), source })?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if entry.path == "control" {
            fields = Some(text);
        } else if SCRIPTS.contains(&entry.path.as_str()) {
            scripts.push(entry.path.clone());
            if entry.path == "postinst" {
                alternatives = parse_alternatives(&text);
            }
        }
        Ok(())
    })
    .map_err(|e| bad(e.to_string()))?;
    let text = fields.ok_or_else(|| bad("control.tar holds no `control` file".into()))?;
    let paragraphs = control::parse(&text).map_err(|e| bad(e.to_string()))?;
    let first = paragraphs.first().ok_or_else(|| bad("the control file is empty".into()))?;
    scripts.sort();
    Ok(ControlInfo {
        fields: first.fields().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        scripts,
        alternatives,
    })
}

/// Where a path lands under merged `/usr`.
pub fn merged_usr(path: &str) -> std::borrow::Cow<'_, str> {
    for top in MERGED_DIRS {
        if path == top || path.strip_prefix(top).is_some_and(|rest| rest.starts_with('/')) {
            return format!("usr/{path}").into();
        }
    }
    path.into()
}

fn is_dropped(path: &str) -> bool {
    const DROPPED_TREES: [&str; 5] =
        ["usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/doc-base", "usr/share/lintian"];
    if DROPPED_TREES.iter().any(|t| path == *t || path.strip_prefix(t).is_some_and(|r| r.starts_with('/'))) {
        return true;
    }
    // usr/share/doc/<package>/... except the copyright file.
    if let Some(rest) = path.strip_prefix("usr/share/doc/") {
        let mut parts = rest.splitn(2, '/');
        let _package = parts.next();
        return match parts.next() {
            None => false,
            Some("copyright") => false,
            Some(_) => true,
        };
    }
    false
}

fn convert_data(
    tar: impl Read,
    deb: &str,
    spool_dir: &Path,
    options: DebOptions,
) -> Result<(Plan, Vec<String>), DebError> {
    let normalize = Normalize {
        modes: ModePolicy::Preserve { special_bits: true },
        owners: OwnerPolicy::Preserve,
        keep_xattrs: false,
    };
    let mut dropped = Vec::new();
    let mut origins: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut clash = None;
    let result = Plan::from_tar_with(tar, normalize, Limits::default(), spool_dir, |mut entry: Entry| {
        let original = entry.path.clone();
        // Newer base-files ship the `bin -> usr/bin` links themselves; in
        // bale they belong to the one base package, so they are left out.
        if let EntryKind::Symlink { target } = &entry.kind
            && MERGED_DIRS.contains(&original.as_str())
            && target.trim_start_matches('/') == format!("usr/{original}")
        {
            return Ok(None);
        }
        let moved = merged_usr(&original).into_owned();
        if !options.keep_docs && is_dropped(&moved) {
            if entry.kind != EntryKind::Directory {
                dropped.push(format!("/{moved}"));
            }
            return Ok(None);
        }
        match &mut entry.kind {
            EntryKind::Symlink { target } => {
                if let Some(new_target) = relink(&original, &moved, target) {
                    *target = new_target;
                }
            }
            EntryKind::Hardlink { target } => *target = merged_usr(target).into_owned(),
            _ => {}
        }
        if entry.kind != EntryKind::Directory
            && let Some(other) = origins.insert(moved.clone(), original.clone())
        {
            clash.get_or_insert((original.clone(), other, moved.clone()));
        }
        entry.path = moved;
        Ok(Some(entry))
    });
    if let Some((path, other, target)) = clash {
        return Err(DebError::MergedUsrClash { deb: deb.into(), path, other, target });
    }
    let plan = result.map_err(|error| DebError::Data { deb: deb.into(), error })?;
    dropped.sort();
    Ok((plan, dropped))
}

/// A relative symlink keeps pointing at the same file after merged /usr
/// moves it or its target. Returns the new target when it must change.
fn relink(original: &str, moved: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let resolved = resolve_lexically(parent(original), target)?;
    let resolved_moved = merged_usr(&resolved).into_owned();
    if original == moved && resolved == resolved_moved {
        return None;
    }
    Some(relative_path(parent(moved), &resolved_moved))
}

fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// `dir/target` with `.` and `..` folded; `None` if it climbs above the root.
fn resolve_lexically(dir: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// The relative path from directory `from` to `to` (both root-relative).
fn relative_path(from: &str, to: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|p| !p.is_empty()).collect();
    let to_parts: Vec<&str> = to.split('/').filter(|p| !p.is_empty()).collect();
    let common = from.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    let mut out: Vec<&str> = vec![".."; from.len() - common];
    out.extend(&to_parts[common..]);
    if out.is_empty() { ".".to_string() } else { out.join("/") }
}

/// Reads `update-alternatives --install LINK NAME PATH PRIORITY` (and its
/// `--slave LINK NAME PATH` groups) from a maintainer script without running
/// it. Lines using shell variables are skipped: their values are unknown.
pub fn parse_alternatives(script: &str) -> Vec<AlternativeLink> {
    let joined = script.replace("\\\n", " ");
    let usable = |args: &[&str]| args.iter().all(|w| !w.contains('$') && !w.contains('`'));
    let mut out = Vec::new();
    for line in joined.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some(at) = line.find("update-alternatives") else { continue };
        let words: Vec<&str> = line[at..]
            .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|'))
            .filter(|w| !w.is_empty())
            .collect();
        let mut i = 0;
        while i < words.len() {
            if words[i] != "--install" {
                i += 1;
                continue;
            }
            let group = words.get(i + 1..i + 5);
            i += 5;
            let Some(args) = group else { break };
            let master = match (usable(args), args[3].parse::<i64>()) {
                (true, Ok(priority)) => Some(AlternativeLink {
                    link: args[0].to_string(),
                    name: args[1].to_string(),
                    path: args[2].to_string(),
                    priority,
                }),
                _ => None,
            };
            // Followers share the master's priority, so they switch with it.
            while words.get(i) == Some(&"--slave") {
                if let (Some(args), Some(m)) = (words.get(i + 1..i + 4), &master)
                    && usable(args)
                {
                    out.push(AlternativeLink {
                        link: args[0].to_string(),
                        name: args[1].to_string(),
                        path: args[2].to_string(),
                        priority: m.priority,
                    });
                }
                i += 4;
            }
            out.extend(master);
        }
    }
    out.sort_by(|a, b| (&a.name, &a.link).cmp(&(&b.name, &b.link)));
    out
}

/// A minimal reader of the `ar` archives .deb files are.
struct ArReader<R> {
    inner: R,
    deb: String,
    /// Unread bytes of the current member, and whether a padding byte follows.
    remaining: u64,
    pad: bool,
}

impl<R: Read> ArReader<R> {
    fn new(mut inner: R, deb: &str) -> Result<Self, DebError> {
        let mut magic = [0u8; 8];
        inner.read_exact(&mut magic).map_err(|_| DebError::NotADeb { deb: deb.into(), reason: "too short".into() })?;
        if &magic != b"!<arch>\n" {
            return Err(DebError::NotADeb { deb: deb.into(), reason: "no ar signature".into() });
        }
        Ok(Self { inner, deb: deb.to_string(), remaining: 0, pad: false })
    }

    fn next_member(&mut self) -> Result<Option<(String, u64)>, DebError> {
        let mut header = [0u8; 60];
        let mut filled = 0;
        while filled < 60 {
            match self.inner.read(&mut header[filled..]) {
                Ok(0) if filled == 0 => return Ok(None),
                Ok(0) => return Err(self.bad("truncated member header")),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(DebError::Io { deb: self.deb.clone(), error: source }),
            }
        }
        if &header[58..60] != b"`\n" {
            return Err(self.bad("corrupt member header"));
        }
        let name = String::from_utf8_lossy(&header[..16]).trim_end().trim_end_matches('/').to_string();
        let size: u64 = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| self.bad("member size is not a number"))?;
        self.remaining = size;
        self.pad = size % 2 == 1;
        Ok(Some((name, size)))
    }

    /// Reads the current member's data, and no further.
    fn member(&mut self) -> Member<'_, R> {
        Member { ar: self }
    }

    /// Skips what was not read of the member, and the padding byte.
    fn finish_member(&mut self) -> Result<(), DebError> {
        io::copy(&mut self.member(), &mut io::sink())
            .map_err(|source| DebError::Io { deb: self.deb.clone(), error: source })?;
        if self.remaining > 0 {
            return Err(self.bad("truncated member"));
        }
        if std::mem::take(&mut self.pad) {
            let mut byte = [0u8; 1];
            // The last member's padding may be missing; that is harmless.
            let _ = self.inner.read(&mut byte);
        }
        Ok(())
    }

    fn bad(&self, reason: &str) -> DebError {
        DebError::NotADeb { deb: self.deb.clone(), reason: reason.into() }
    }
}

struct Member<'a, R> {
    ar: &'a mut ArReader<R>,
}

impl<R: Read> Read for Member<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let max = buf.len().min(usize::try_from(self.ar.remaining).unwrap_or(usize::MAX));
        if max == 0 {
            return Ok(0);
        }
        let n = self.ar.inner.read(&mut buf[..max])?;
        self.ar.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_usr_paths() {
        assert_eq!(merged_usr("bin/ls"), "usr/bin/ls");
        assert_eq!(merged_usr("lib64"), "usr/lib64");
        assert_eq!(merged_usr("lib64/ld-linux-x86-64.so.2"), "usr/lib64/ld-linux-x86-64.so.2");
        assert_eq!(merged_usr("library/x"), "library/x");
        assert_eq!(merged_usr("usr/bin/ls"), "usr/bin/ls");
        assert_eq!(merged_usr("etc/passwd"), "etc/passwd");
    }

    #[test]
    fn symlinks_keep_their_targets_after_the_move() {
        // lib/x86_64-linux-gnu/libfoo.so.1 -> libfoo.so.1.2 stays as is.
        assert_eq!(relink("lib/a/libfoo.so.1", "usr/lib/a/libfoo.so.1", "libfoo.so.1.2"), Some("libfoo.so.1.2".into()));
        // usr/bin/foo -> ../../bin/bar now lives next to its target.
        assert_eq!(relink("usr/bin/foo", "usr/bin/foo", "../../bin/bar"), Some("bar".into()));
        // bin/sh -> dash: unchanged by the move.
        assert_eq!(relink("bin/sh", "usr/bin/sh", "dash"), Some("dash".into()));
        // usr/lib/x -> ../share/y: nothing moved.
        assert_eq!(relink("usr/lib/x", "usr/lib/x", "../share/y"), None);
        // sbin/x -> ../usr/sbin/y
        assert_eq!(relink("sbin/x", "usr/sbin/x", "../usr/sbin/y"), Some("y".into()));
        assert_eq!(relink("a", "a", "/abs"), None);
    }

    #[test]
    fn documentation_is_dropped_but_copyright_kept() {
        assert!(is_dropped("usr/share/doc/bash/changelog.Debian.gz"));
        assert!(!is_dropped("usr/share/doc/bash/copyright"));
        assert!(!is_dropped("usr/share/doc/bash"));
        assert!(is_dropped("usr/share/man/man1/bash.1.gz"));
        assert!(is_dropped("usr/share/locale/de/LC_MESSAGES/bash.mo"));
        assert!(!is_dropped("usr/share/localepurge"));
        assert!(!is_dropped("usr/bin/bash"));
    }

    #[test]
    fn alternatives_are_read_without_running_anything() {
        let script = "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \\\n    --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz\n  update-alternatives --install /usr/bin/x x $DIR/x 10\nfi\n";
        let found = parse_alternatives(script);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].link, "/usr/bin/awk");
        assert_eq!(found[0].path, "/usr/bin/mawk");
        assert_eq!(found[0].priority, 5);
        assert_eq!(found[1].name, "awk.1.gz");
    }
}
