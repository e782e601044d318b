//! Debian version numbers and their ordering, as dpkg defines them
//! (deb-version(7)): `[epoch:]upstream[-revision]`, compared part by part,
//! with `~` sorting before everything, even the end of the string.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a Debian version: {reason}")]
pub struct VersionError {
    pub input: String,
    pub reason: &'static str,
}

/// A parsed Debian version. Equality is dpkg's: `1.0` equals `0:1.0-0`.
#[derive(Clone)]
pub struct Version {
    text: String,
    epoch: u64,
    /// Byte ranges of upstream and revision inside `text`.
    upstream: (usize, usize),
    revision: (usize, usize),
}

impl Version {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0..self.upstream.1]
    }

    pub fn revision(&self) -> &str {
        &self.text[self.revision.0..self.revision.1]
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bad = |reason| VersionError { input: input.to_string(), reason };
        let text = input.trim();
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(bad("it contains whitespace"));
        }
        let (epoch, rest_start) = match text.find(':') {
            Some(i) => {
                let digits = &text[..i];
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("the epoch is not a number"));
                }
                (digits.parse().map_err(|_| bad("the epoch is too large"))?, i + 1)
            }
            None => (0, 0),
        };
        let rest = &text[rest_start..];
        let (upstream, revision) = match rest.rfind('-') {
            Some(i) => ((rest_start, rest_start + i), (rest_start + i + 1, text.len())),
            None => ((rest_start, text.len()), (text.len(), text.len())),
        };
        let up = &text[upstream.0..upstream.1];
        if up.is_empty() {
            return Err(bad("the upstream version is empty"));
        }
        if !up.as_bytes()[0].is_ascii_digit() {
            // dpkg warns but accepts; real archives contain none, so refuse.
            return Err(bad("the upstream version must start with a digit"));
        }
        let allowed_up = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '~' | ':');
        if !up.chars().all(allowed_up) {
            return Err(bad("the upstream version has a character outside [A-Za-z0-9.+~:-]"));
        }
        let rev = &text[revision.0..revision.1];
        if rest.contains('-') && rev.is_empty() {
            return Err(bad("the revision after `-` is empty"));
        }
        if !rev.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~')) {
            return Err(bad("the revision has a character outside [A-Za-z0-9.+~]"));
        }
        Ok(Self { text: text.to_string(), epoch, upstream, revision })
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({})", self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream(), other.upstream()))
            .then_with(|| compare_part(self.revision(), other.revision()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal versions may be spelled differently (`1.0` and `1.0-0`), so
        // only the epoch is hashed; the rest is left to `Eq`.
        self.epoch.hash(state);
    }
}

/// Weight of one non-digit character: `~` before the end of the string,
/// the end before letters, letters before everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternate runs of non-digits (compared by `order`)
/// and digits (compared numerically).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn orders_like_dpkg() {
        let ascending =
            ["1.0~rc1", "1.0", "1.0-0.1", "1.0-1", "1.0a", "1.0+b1", "1.1", "1.10", "2:0.1", "2:0.1-1~bpo1", "2:0.1-1"];
        for pair in ascending.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.0"), v("0:1.0"));
        assert_eq!(v("1.0"), v("1.0-0"));
        assert_eq!(v("1.01"), v("1.1"));
        assert!(v("1.0~") < v("1.0"));
        assert!(v("1.0~~") < v("1.0~"));
        assert!(v("2.36-9+deb12u9") > v("2.36-9+deb12u4"));
        assert_eq!(v("1:2.3-4").epoch(), 1);
        assert_eq!(v("1:2.3-4-5").upstream(), "2.3-4");
        assert_eq!(v("1:2.3-4-5").revision(), "5");
    }

    #[test]
    fn refuses_garbage() {
        for bad in ["", "a1.0", "1.0-", ":1.0", "x:1.0", "1 0", "1.0_1"] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }
}
