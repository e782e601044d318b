//! The `Release` file of a suite: what it is, until when it is valid, and
//! the sha256 of every index file it covers.

use std::collections::HashMap;

use bale_fileset::Digest;

use crate::control;

#[derive(Debug, Clone)]
pub struct Release {
    pub origin: Option<String>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    /// Seconds since the epoch.
    pub date: Option<i64>,
    pub valid_until: Option<i64>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    pub acquire_by_hash: bool,
    /// Index path (relative to the suite directory) → (sha256, size).
    pub sha256: HashMap<String, (Digest, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("the Release file is not valid deb822: {0}")]
    Syntax(#[from] control::ControlError),
    #[error("the Release file is empty")]
    Empty,
    #[error("the Release file has no SHA256 list; bale verifies only by sha256")]
    NoSha256,
    #[error("the Release file's {field} line {line:?} is malformed")]
    BadLine { field: &'static str, line: String },
    #[error("the Release file's {field} {value:?} is not an RFC 2822 date")]
    BadDate { field: &'static str, value: String },
}

impl Release {
    pub fn parse(text: &str) -> Result<Self, ReleaseError> {
        let paragraphs = control::parse(text)?;
        let p = paragraphs.first().ok_or(ReleaseError::Empty)?;
        let date = |field: &'static str| -> Result<Option<i64>, ReleaseError> {
            p.get(field)
                .map(|v| parse_rfc2822(v).ok_or_else(|| ReleaseError::BadDate { field, value: v.to_string() }))
                .transpose()
        };
        let list = |field: &str| p.get(field).unwrap_or("").split_whitespace().map(str::to_string).collect();
        let mut sha256 = HashMap::new();
        for line in p.get("SHA256").ok_or(ReleaseError::NoSha256)?.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = || ReleaseError::BadLine { field: "SHA256", line: line.to_string() };
            let mut words = line.split_whitespace();
            let (Some(hex), Some(size), Some(path), None) = (words.next(), words.next(), words.next(), words.next())
            else {
                return Err(bad());
            };
            let digest: Digest = format!("sha256:{hex}").parse().map_err(|_| bad())?;
            let size: u64 = size.parse().map_err(|_| bad())?;
            sha256.insert(path.to_string(), (digest, size));
        }
        Ok(Self {
            origin: p.get("Origin").map(str::to_string),
            suite: p.get("Suite").map(str::to_string),
            codename: p.get("Codename").map(str::to_string),
            date: date("Date")?,
            valid_until: date("Valid-Until")?,
            architectures: list("Architectures"),
            components: list("Components"),
            acquire_by_hash: p.get("Acquire-By-Hash").is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            sha256,
        })
    }
}

/// Parses dates as Release files write them: `Sat, 10 May 2025 08:58:00 UTC`
/// (the weekday is optional; the zone is `UTC`, `GMT`, `Z` or `±hhmm`).
pub fn parse_rfc2822(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = match text.split_once(',') {
        Some((_, rest)) => rest.trim(),
        None => text,
    };
    let mut words = text.split_whitespace();
    let day: i64 = words.next()?.parse().ok()?;
    let month = match words.next()?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let year: i64 = words.next()?.parse().ok()?;
    let mut hms = words.next()?.split(':');
    let hour: i64 = hms.next()?.parse().ok()?;
    let minute: i64 = hms.next()?.parse().ok()?;
    let second: i64 = hms.next().map_or(Some(0), |s| s.parse().ok())?;
    let offset = match words.next().unwrap_or("UTC") {
        "UTC" | "GMT" | "Z" | "UT" => 0,
        zone => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: i64 = zone.get(1..5)?.parse().ok()?;
            sign * ((digits / 100) * 3600 + (digits % 100) * 60)
        }
    };
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(bale_store::days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00:00 UTC"), Some(0));
        assert_eq!(parse_rfc2822("Sat, 10 May 2025 08:58:00 UTC"), Some(1_746_867_480));
        assert_eq!(parse_rfc2822("10 May 2025 10:58:00 +0200"), Some(1_746_867_480));
        assert_eq!(parse_rfc2822("Sat, 10 Foo 2025 08:58:00 UTC"), None);
    }

    #[test]
    fn parses_a_release() {
        let text = "Origin: Debian\nSuite: oldstable\nCodename: bookworm\nDate: Sat, 10 May 2025 08:58:00 UTC\nValid-Until: Sat, 17 May 2025 08:58:00 UTC\nArchitectures: amd64 arm64\nComponents: main contrib\nSHA256:\n 2f0b1d2a9a7a4e9b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d 1234 main/binary-amd64/Packages.xz\n";
        let r = Release::parse(text).unwrap();
        assert_eq!(r.codename.as_deref(), Some("bookworm"));
        assert_eq!(r.valid_until, Some(1_746_867_480 + 7 * 86_400));
        assert_eq!(r.sha256["main/binary-amd64/Packages.xz"].1, 1234);
        assert!(Release::parse("Origin: x\n").is_err());
    }
}
