//! Package identifiers: `[origin/]name:architecture@version`.
//!
//! bale-native names are rooted in DNS (`example.com/tools/app`) or plain
//! (`hello`); packages from a source carry its origin
//! (`debian:bookworm/libc6:amd64@2.36-9+deb12u9`). Origins are the only
//! part before the first `/` with a `:`, which is how a reader tells them
//! from a name. The architecture follows the name as Debian writes it
//! (`libc6:amd64`); `all` means the content runs anywhere. Names never
//! contain `:`, versions may (epochs), so the architecture is the last
//! `:` before the `@`.

use std::fmt;
use std::str::FromStr;

use crate::error::StoreError;

/// The architecture of content that runs on every architecture.
pub const ARCH_ALL: &str = "all";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageId {
    pub origin: Option<String>,
    pub name: String,
    pub architecture: String,
    pub version: String,
}

impl PackageId {
    pub fn new(origin: Option<String>, name: &str, architecture: &str, version: &str) -> Result<Self, StoreError> {
        validate_name(name)?;
        validate_architecture(architecture)?;
        validate_version(version)?;
        Ok(Self {
            origin,
            name: name.to_string(),
            architecture: architecture.to_string(),
            version: version.to_string(),
        })
    }

    /// `origin/name` or `name`: the id without architecture and version.
    pub fn qualified_name(&self) -> String {
        match &self.origin {
            Some(origin) => format!("{origin}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Whether an image for `architecture` may hold this package.
    pub fn runs_on(&self, architecture: &str) -> bool {
        runs_on(&self.architecture, architecture)
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}@{}", self.qualified_name(), self.architecture, self.version)
    }
}

impl FromStr for PackageId {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = IdParts::parse(s);
        let invalid = |reason| StoreError::InvalidName { name: s.to_string(), reason };
        let version = parts.version.ok_or(invalid("a package id is `name:architecture@version`"))?;
        let architecture = parts.architecture.ok_or(invalid(
            "a package id names its architecture, as in `hello:all@1.0` or `debian:bookworm/libc6:amd64@2.36-9`",
        ))?;
        Self::new(parts.origin.map(str::to_string), parts.name, architecture, version)
    }
}

/// Whether content for `package` (an architecture or `all`) belongs in an
/// image for `image`.
pub fn runs_on(package: &str, image: &str) -> bool {
    package == ARCH_ALL || package == image
}

/// A package reference split into its parts, any of which but the name
/// may be left out (`libc6`, `libc6:arm64`, `hello@1.0`); nothing is
/// validated, so it serves lookups as well as parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdParts<'a> {
    pub origin: Option<&'a str>,
    pub name: &'a str,
    pub architecture: Option<&'a str>,
    pub version: Option<&'a str>,
}

impl<'a> IdParts<'a> {
    pub fn parse(text: &'a str) -> Self {
        let (origin, rest) = match text.split_once('/') {
            Some((first, rest)) if first.contains(':') => (Some(first), rest),
            _ => (None, text),
        };
        // The version may hold `:` (an epoch) and `@` nowhere else does.
        let (left, version) = match rest.split_once('@') {
            Some((left, version)) => (left, Some(version)),
            None => (rest, None),
        };
        let (name, architecture) = match left.rsplit_once(':') {
            Some((name, arch)) => (name, Some(arch)),
            None => (left, None),
        };
        Self { origin, name, architecture, version }
    }

    /// Whether `id` is what these parts name: every part given matches.
    pub fn matches(&self, id: &PackageId) -> bool {
        self.name == id.name
            && self.origin.is_none_or(|o| id.origin.as_deref() == Some(o))
            && self.architecture.is_none_or(|a| a == id.architecture)
            && self.version.is_none_or(|v| v == id.version)
    }
}

/// Debian's architecture names and `all`: lowercase letters, digits and
/// `-`, starting with a letter; at most 32 bytes.
pub fn validate_architecture(architecture: &str) -> Result<(), StoreError> {
    let bad = |reason| Err(StoreError::InvalidArchitecture { architecture: architecture.to_string(), reason });
    if architecture.is_empty() || architecture.len() > 32 {
        return bad("it must be 1 to 32 characters long");
    }
    if !architecture.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad("it must start with a lowercase letter");
    }
    if !architecture.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return bad("only lowercase letters, digits and `-` are allowed (such as `amd64`, `arm64`, `all`)");
    }
    Ok(())
}

/// Lowercase letters, digits and `.+-_`, in `/`-separated segments, each
/// starting with a letter or digit; at most 255 bytes.
pub fn validate_name(name: &str) -> Result<(), StoreError> {
    let bad = |reason| Err(StoreError::InvalidName { name: name.to_string(), reason });
    if name.is_empty() || name.len() > 255 {
        return bad("it must be 1 to 255 characters long");
    }
    for segment in name.split('/') {
        let mut chars = segment.chars();
        match chars.next() {
            None => return bad("it has an empty `/`-separated segment"),
            Some(c) if !(c.is_ascii_lowercase() || c.is_ascii_digit()) => {
                return bad("each segment must start with a lowercase letter or a digit");
            }
            _ => {}
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '+' | '-' | '_')) {
            return bad("only lowercase letters, digits, `.`, `+`, `-`, `_` and `/` are allowed");
        }
    }
    Ok(())
}

/// Letters, digits and `.+~:_-`, starting with a letter or digit (Debian
/// versions such as `1:2.36-9+deb12u9~bpo1` fit); at most 128 bytes.
pub fn validate_version(version: &str) -> Result<(), StoreError> {
    let bad = |reason| Err(StoreError::InvalidVersion { version: version.to_string(), reason });
    if version.is_empty() || version.len() > 128 {
        return bad("it must be 1 to 128 characters long");
    }
    if !version.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("it must start with a letter or a digit");
    }
    if !version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | ':' | '_' | '-')) {
        return bad("only letters, digits, `.`, `+`, `~`, `:`, `_` and `-` are allowed");
    }
    Ok(())
}

/// Checks the shape of an SPDX licence expression: identifiers (including
/// `LicenseRef-…`), `AND`/`OR`/`WITH`, balanced parentheses; or
/// `NOASSERTION`/`NONE`.
pub fn validate_license(license: &str) -> Result<(), StoreError> {
    let bad = |reason| Err(StoreError::InvalidLicense { license: license.to_string(), reason });
    let spaced = license.replace('(', " ( ").replace(')', " ) ");
    let mut depth = 0i32;
    let mut expect_operand = true;
    let mut seen = false;
    for token in spaced.split_whitespace() {
        seen = true;
        match token {
            "(" if expect_operand => depth += 1,
            ")" if !expect_operand => {
                depth -= 1;
                if depth < 0 {
                    return bad("unbalanced parentheses");
                }
            }
            "AND" | "OR" | "WITH" if !expect_operand => expect_operand = true,
            t if expect_operand
                && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | ':')) =>
            {
                expect_operand = false;
            }
            _ => return bad("expected an SPDX expression such as `MIT` or `Apache-2.0 OR MIT`"),
        }
    }
    if !seen || expect_operand || depth != 0 {
        return bad("expected an SPDX expression such as `MIT` or `Apache-2.0 OR MIT`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_print() {
        for text in [
            "hello:all@1.0",
            "example.com/tools/app:amd64@1.2.0",
            "debian:bookworm/libc6:arm64@2.36-9+deb12u9",
            "x:all@1:2.0~rc1",
        ] {
            let id: PackageId = text.parse().unwrap();
            assert_eq!(id.to_string(), text);
        }
        let id: PackageId = "debian:bookworm/libc6:amd64@1:2.36".parse().unwrap();
        assert_eq!(id.origin.as_deref(), Some("debian:bookworm"));
        assert_eq!((id.name.as_str(), id.architecture.as_str(), id.version.as_str()), ("libc6", "amd64", "1:2.36"));
        // An id of the previous format, without an architecture, is refused
        // rather than read as some architecture.
        assert!("debian:bookworm/libc6@2.36".parse::<PackageId>().is_err());
        assert!("hello:AMD64@1".parse::<PackageId>().is_err());
    }

    #[test]
    fn references_leave_out_parts() {
        let id: PackageId = "debian:bookworm/libc6:arm64@2.36".parse().unwrap();
        for reference in ["libc6", "libc6:arm64", "libc6@2.36", "debian:bookworm/libc6", "libc6:arm64@2.36"] {
            assert!(IdParts::parse(reference).matches(&id), "{reference}");
        }
        for reference in ["libc6:amd64", "libc6@2.37", "debian:trixie/libc6", "libc"] {
            assert!(!IdParts::parse(reference).matches(&id), "{reference}");
        }
        assert!(id.runs_on("arm64") && !id.runs_on("amd64"));
    }

    #[test]
    fn bad_names_and_versions() {
        for name in ["", "Hello", "a//b", "/a", "a b", "-a", "a@b"] {
            assert!(validate_name(name).is_err(), "{name}");
        }
        for version in ["", "-1", "1 0", "1/2", "1@2"] {
            assert!(validate_version(version).is_err(), "{version}");
        }
    }

    #[test]
    fn licences() {
        for ok in [
            "MIT",
            "Apache-2.0 OR MIT",
            "(MIT OR Apache-2.0) AND BSD-3-Clause",
            "GPL-2.0-or-later WITH Classpath-exception-2.0",
            "NOASSERTION",
            "LicenseRef-foo",
        ] {
            validate_license(ok).unwrap();
        }
        for bad in ["", "MIT OR", "(MIT", "MIT)", "MIT Apache", "M!T"] {
            assert!(validate_license(bad).is_err(), "{bad}");
        }
    }
}
