//! Package identifiers: `[origin/]name@version`.
//!
//! bale-native names are rooted in DNS (`example.com/tools/app`) or plain
//! (`hello`); packages from a source carry its origin
//! (`debian:bookworm/libc6@2.36-9+deb12u9`). Origins are the only part with
//! a `:`, which is how a reader tells them from a name.

use std::fmt;
use std::str::FromStr;

use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageId {
    pub origin: Option<String>,
    pub name: String,
    pub version: String,
}

impl PackageId {
    pub fn new(origin: Option<String>, name: &str, version: &str) -> Result<Self, StoreError> {
        validate_name(name)?;
        validate_version(version)?;
        Ok(Self { origin, name: name.to_string(), version: version.to_string() })
    }

    /// `origin/name` or `name`: the id without the version.
    pub fn qualified_name(&self) -> String {
        match &self.origin {
            Some(origin) => format!("{origin}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.qualified_name(), self.version)
    }
}

impl FromStr for PackageId {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (left, version) = s
            .rsplit_once('@')
            .ok_or(StoreError::InvalidName { name: s.to_string(), reason: "a package id is `name@version`" })?;
        let (origin, name) = match left.split_once('/') {
            Some((first, rest)) if first.contains(':') => (Some(first.to_string()), rest),
            _ => (None, left),
        };
        Self::new(origin, name, version)
    }
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
        for text in ["hello@1.0", "example.com/tools/app@1.2.0", "debian:bookworm/libc6@2.36-9+deb12u9", "x@1:2.0~rc1"]
        {
            let id: PackageId = text.parse().unwrap();
            assert_eq!(id.to_string(), text);
        }
        let id: PackageId = "debian:bookworm/libc6@2.36".parse().unwrap();
        assert_eq!(id.origin.as_deref(), Some("debian:bookworm"));
        assert_eq!(id.name, "libc6");
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
