//! Where the archive is: read from the host's apt configuration (the
//! one-line `sources.list` format and the deb822 `.sources` format) unless
//! the user says otherwise.

use std::fs;
use std::path::{Path, PathBuf};

use crate::control;

/// One `deb` source: a mirror, its suites and components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub uri: String,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    pub signed_by: Option<PathBuf>,
    /// The file it came from, for messages.
    pub origin: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}: {reason}", path.display())]
    Syntax { path: PathBuf, line: usize, reason: String },
}

/// Reads `/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.{list,sources}`
/// under `root` (normally `/`). Only `deb` entries are returned (not
/// `deb-src`), in file order.
pub fn host_sources(root: &Path) -> Result<Vec<AptSource>, SourcesError> {
    let mut files = Vec::new();
    let main = root.join("etc/apt/sources.list");
    if main.is_file() {
        files.push(main);
    }
    let dir = root.join("etc/apt/sources.list.d");
    if let Ok(listing) = fs::read_dir(&dir) {
        let mut extra: Vec<PathBuf> = listing
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"))
            .collect();
        extra.sort();
        files.extend(extra);
    }
    let mut out = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).map_err(|source| SourcesError::Io { path: path.clone(), source })?;
        if path.extension().is_some_and(|e| e == "sources") {
            out.extend(parse_deb822(&text, &path)?);
        } else {
            out.extend(parse_one_line(&text, &path)?);
        }
    }
    Ok(out)
}

/// `deb [opt=val ...] uri suite [component...]`
pub fn parse_one_line(text: &str, path: &Path) -> Result<Vec<AptSource>, SourcesError> {
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let syntax =
            |reason: &str| SourcesError::Syntax { path: path.to_path_buf(), line: index + 1, reason: reason.into() };
        let (kind, rest) =
            line.split_once(char::is_whitespace).ok_or_else(|| syntax("expected `deb URI SUITE [COMPONENT...]`"))?;
        if kind != "deb" && kind != "deb-src" {
            return Err(syntax("a line must start with `deb` or `deb-src`"));
        }
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(options) = rest.strip_prefix('[') {
            let close = options.find(']').ok_or_else(|| syntax("an option list `[` without `]`"))?;
            for option in options[..close].split_whitespace() {
                if let Some(value) = option.strip_prefix("signed-by=") {
                    signed_by = Some(PathBuf::from(value));
                }
            }
            rest = options[close + 1..].trim_start();
        }
        let mut words = rest.split_whitespace();
        let uri = words.next().ok_or_else(|| syntax("the URI is missing"))?;
        let suite = words.next().ok_or_else(|| syntax("the suite is missing"))?;
        if kind == "deb" {
            out.push(AptSource {
                uri: uri.to_string(),
                suites: vec![suite.to_string()],
                components: words.map(str::to_string).collect(),
                signed_by,
                origin: path.to_path_buf(),
            });
        }
    }
    Ok(out)
}

/// The deb822 `.sources` format: `Types`, `URIs`, `Suites`, `Components`,
/// `Signed-By`, `Enabled`.
pub fn parse_deb822(text: &str, path: &Path) -> Result<Vec<AptSource>, SourcesError> {
    let paragraphs = control::parse(text).map_err(|e| SourcesError::Syntax {
        path: path.to_path_buf(),
        line: e.line,
        reason: e.reason.into(),
    })?;
    let mut out = Vec::new();
    for p in paragraphs {
        let syntax =
            |reason: &str| SourcesError::Syntax { path: path.to_path_buf(), line: p.line, reason: reason.into() };
        if p.get("Enabled").is_some_and(|v| v.eq_ignore_ascii_case("no")) {
            continue;
        }
        let types = p.get("Types").ok_or_else(|| syntax("the `Types` field is missing"))?;
        if !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        let uris = p.get("URIs").ok_or_else(|| syntax("the `URIs` field is missing"))?;
        let suites: Vec<String> = p
            .get("Suites")
            .ok_or_else(|| syntax("the `Suites` field is missing"))?
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let components: Vec<String> =
            p.get("Components").unwrap_or("").split_whitespace().map(str::to_string).collect();
        // Signed-By is a path, or an inline key block (then it has newlines).
        let signed_by = p.get("Signed-By").filter(|v| !v.contains('\n')).map(PathBuf::from);
        for uri in uris.split_whitespace() {
            out.push(AptSource {
                uri: uri.to_string(),
                suites: suites.clone(),
                components: components.clone(),
                signed_by: signed_by.clone(),
                origin: path.to_path_buf(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_format() {
        let text = "# comment\ndeb http://mirror.example/debian bookworm main contrib\ndeb [arch=amd64 signed-by=/k.gpg] http://m2.example/d bookworm-updates main # trailing\ndeb-src http://x.example/d bookworm main\n";
        let s = parse_one_line(text, Path::new("sources.list")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].uri, "http://mirror.example/debian");
        assert_eq!(s[0].components, ["main", "contrib"]);
        assert_eq!(s[1].signed_by.as_deref(), Some(Path::new("/k.gpg")));
        assert_eq!(s[1].suites, ["bookworm-updates"]);
        let err = parse_one_line("deb http://x\n", Path::new("f.list")).unwrap_err().to_string();
        assert!(err.contains("f.list:1") && err.contains("suite"), "{err}");
    }

    #[test]
    fn deb822_format() {
        let text = "Types: deb deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://off.example\nSuites: x\nEnabled: no\n";
        let s = parse_deb822(text, Path::new("debian.sources")).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(s[0].signed_by.as_deref(), Some(Path::new("/usr/share/keyrings/debian-archive-keyring.gpg")));
    }
}
