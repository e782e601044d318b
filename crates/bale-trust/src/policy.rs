//! The trust policy: which keys bale knows (with expiry and revocation)
//! and, per package or image name, what must vouch for it. TOML,
//! documented in docs/trust.md; every key is checked when it is read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::TrustError;
use crate::key::{KeyId, PublicKey};

/// The largest policy file read.
const MAX_POLICY: u64 = 1 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    keys: BTreeMap<String, KeyEntry>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    file: PathBuf,
    /// `YYYY-MM-DD` (UTC): the key counts through that day.
    expires: Option<String>,
    #[serde(default)]
    revoked: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RuleEntry {
    #[serde(rename = "match")]
    pattern: String,
    #[serde(default)]
    signed_by: Vec<String>,
    #[serde(default)]
    attested_by: Vec<String>,
    threshold: Option<usize>,
    #[serde(default)]
    any: bool,
}

/// A key the policy names.
#[derive(Debug, Clone)]
pub struct PolicyKey {
    pub name: String,
    pub key: PublicKey,
    /// Days since the epoch of the last day the key counts.
    pub expires: Option<i64>,
    pub revoked: bool,
}

/// What a rule asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Requirement {
    /// Anything, signed or not.
    Any,
    /// A plain signature by one of these keys.
    SignedBy { keys: Vec<String> },
    /// Rebuild attestations by at least `threshold` distinct keys of these.
    AttestedBy { keys: Vec<String>, threshold: usize },
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// As written: `example.com/` (a prefix), an exact name or id,
    /// `debian:*`, or `*`.
    pub pattern: String,
    pub requirement: Requirement,
}

impl Rule {
    /// Whether the rule is about `name` (an image's name or a package id).
    pub fn matches(&self, name: &str) -> bool {
        // A package id's name: without `:ARCH@VERSION` (image names and
        // registry paths have no `@`, and keep their `host:port`).
        let bare = match name.rsplit_once('@') {
            Some((left, _)) => left.rsplit_once(':').map_or(left, |(name, _)| name),
            None => name,
        };
        match self.pattern.as_str() {
            "*" => true,
            "debian:*" => name.starts_with("debian:"),
            prefix if prefix.ends_with('/') => name.starts_with(prefix),
            exact => name == exact || bare == exact,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub path: PathBuf,
    pub keys: Vec<PolicyKey>,
    pub rules: Vec<Rule>,
}

/// A vouch found for a subject: which key made it, and of which kind
/// (`signature` or `rebuild`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouch {
    pub key: KeyId,
    pub kind: String,
}

/// How a subject fared under the policy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The rule's `match`, or none when no rule is about the subject.
    pub rule: Option<String>,
    pub requirement: Option<Requirement>,
    /// The policy's key names that counted, each once.
    pub counted: Vec<String>,
    pub allowed: bool,
    /// Why not, or why it is allowed without a vouch.
    pub reason: String,
}

impl Policy {
    /// Reads a policy file; key files are relative to it.
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        let invalid = |reason: String| TrustError::Policy { path: path.to_path_buf(), reason };
        let bytes = bale_fileset::safe_fs::read_regular(path, MAX_POLICY)
            .map_err(|source| TrustError::Read { path: path.to_path_buf(), source })?;
        let text = String::from_utf8(bytes).map_err(|_| invalid("it is not UTF-8 text".into()))?;
        let file: PolicyFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut keys = Vec::new();
        for (name, entry) in &file.keys {
            let expires = match &entry.expires {
                Some(date) => Some(
                    days_of(date)
                        .ok_or_else(|| invalid(format!("keys.{name}.expires: {date:?} is not a date YYYY-MM-DD")))?,
                ),
                None => None,
            };
            let key = PublicKey::load(&dir.join(&entry.file))?;
            // One key under two names would escape a revocation by alias.
            if let Some(other) = keys.iter().find(|k: &&PolicyKey| k.key.id() == key.id()) {
                return Err(invalid(format!("keys.{name} and keys.{} are the same key", other.name)));
            }
            keys.push(PolicyKey { name: name.clone(), key, expires, revoked: entry.revoked });
        }
        let mut rules = Vec::new();
        for (i, rule) in file.rules.iter().enumerate() {
            let field = format!("rule[{i}]");
            let named = |names: &[String]| -> Result<(), TrustError> {
                match names.iter().find(|n| !file.keys.contains_key(*n)) {
                    Some(unknown) => Err(invalid(format!("{field}: no key is called {unknown:?} in [keys]"))),
                    None => Ok(()),
                }
            };
            let requirement = match (rule.any, rule.signed_by.is_empty(), rule.attested_by.is_empty()) {
                (true, true, true) if rule.threshold.is_none() => Requirement::Any,
                (false, false, true) if rule.threshold.is_none() => {
                    named(&rule.signed_by)?;
                    Requirement::SignedBy { keys: rule.signed_by.clone() }
                }
                (false, true, false) => {
                    named(&rule.attested_by)?;
                    let distinct: BTreeSet<&String> = rule.attested_by.iter().collect();
                    let threshold = rule.threshold.unwrap_or(1);
                    if threshold == 0 || threshold > distinct.len() {
                        return Err(invalid(format!(
                            "{field}: threshold {threshold} must be 1 to the {} distinct keys of attested-by",
                            distinct.len()
                        )));
                    }
                    Requirement::AttestedBy { keys: rule.attested_by.clone(), threshold }
                }
                _ => {
                    return Err(invalid(format!(
                        "{field}: give exactly one of `signed-by = [KEYS]`, `attested-by = [KEYS]` (with \
                         `threshold`), or `any = true`"
                    )));
                }
            };
            let pattern = rule.pattern.as_str();
            if pattern.is_empty() || (pattern.contains('*') && pattern != "*" && pattern != "debian:*") {
                return Err(invalid(format!(
                    "{field}: match {pattern:?} is not `*`, `debian:*`, a prefix ending in `/`, or an exact name"
                )));
            }
            rules.push(Rule { pattern: rule.pattern.clone(), requirement });
        }
        Ok(Self { path: path.to_path_buf(), keys, rules })
    }

    /// The keys that may count on `today` (days since the epoch): neither
    /// revoked nor expired.
    pub fn usable_keys(&self, today: i64) -> Vec<PublicKey> {
        self.keys.iter().filter(|k| !k.revoked && k.expires.is_none_or(|e| today <= e)).map(|k| k.key.clone()).collect()
    }

    /// The first rule about `name`, in the file's order.
    pub fn rule_for(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(name))
    }

    /// Whether what vouches for `name` meets its rule on `today`.
    /// `archive_verified`: a Debian package that came through its
    /// archive's signature chain, which is enough unless a rule asks more.
    pub fn decide(&self, name: &str, vouches: &[Vouch], archive_verified: bool, today: i64) -> Decision {
        let Some(rule) = self.rule_for(name) else {
            return if archive_verified {
                Decision {
                    rule: None,
                    requirement: None,
                    counted: Vec::new(),
                    allowed: true,
                    reason: "verified through its archive's signature chain".into(),
                }
            } else {
                Decision {
                    rule: None,
                    requirement: None,
                    counted: Vec::new(),
                    allowed: false,
                    reason: format!("no rule of {} is about it", self.path.display()),
                }
            };
        };
        let by_name = |name: &String| self.keys.iter().find(|k| k.name == *name);
        let (names, kind, needed) = match &rule.requirement {
            Requirement::Any => {
                return Decision {
                    rule: Some(rule.pattern.clone()),
                    requirement: Some(rule.requirement.clone()),
                    counted: Vec::new(),
                    allowed: true,
                    reason: "the rule takes anything".into(),
                };
            }
            Requirement::SignedBy { keys } => (keys, "signature", 1),
            Requirement::AttestedBy { keys, threshold } => (keys, "rebuild", *threshold),
        };
        let mut counted: Vec<String> = Vec::new();
        let mut refused: Vec<String> = Vec::new();
        for vouch in vouches.iter().filter(|v| v.kind == kind) {
            let Some(key) = names.iter().filter_map(by_name).find(|k| k.key.id() == vouch.key) else { continue };
            if key.revoked {
                refused.push(format!("{} is revoked", key.name));
            } else if key.expires.is_some_and(|e| today > e) {
                refused.push(format!("{} has expired", key.name));
            } else if !counted.contains(&key.name) {
                counted.push(key.name.clone());
            }
        }
        counted.sort();
        refused.sort();
        refused.dedup();
        let allowed = counted.len() >= needed;
        let what = if kind == "signature" { "a signature by" } else { "rebuild attestations by" };
        let reason = if allowed {
            format!("{what} {}", counted.join(", "))
        } else {
            let mut reason = format!(
                "it needs {what} {} of {} and has {}",
                needed,
                names.join(", "),
                if counted.is_empty() { "none".to_string() } else { counted.join(", ") }
            );
            if !refused.is_empty() {
                reason.push_str(&format!(" (not counted: {})", refused.join(", ")));
            }
            reason
        };
        Decision {
            rule: Some(rule.pattern.clone()),
            requirement: Some(rule.requirement.clone()),
            counted,
            allowed,
            reason,
        }
    }
}

/// Days since the epoch of a `YYYY-MM-DD` date that exists.
fn days_of(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let (y, m, d): (i64, i64, i64) =
        (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    if parts.next().is_some() || date.len() != 10 || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = bale_store::days_from_civil(y, m, d);
    // 2026-02-31 would land in March: a date that does not exist.
    let (year, month, day, ..) = bale_store::utc_time(days * 86_400);
    ((year, month, day) == (y, m, d)).then_some(days)
}

/// The user's own policy, `$XDG_CONFIG_HOME/bale/policy.toml` (else
/// `~/.config/bale/policy.toml`), when it exists.
pub fn default_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("bale/policy.toml")).filter(|p| p.is_file())
}

/// Today, in days since the epoch (UTC).
pub fn today() -> i64 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    seconds.div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{Algorithm, SigningKey, write_key_pair};

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(days_of("1970-01-01"), Some(0));
        assert_eq!(days_of("2000-03-01"), Some(11_017));
        assert_eq!(days_of("2026-13-01"), None);
        assert_eq!(days_of("2026-1-01"), None);
        assert_eq!(days_of("2026-02-29"), None);
        assert_eq!(days_of("2024-02-29"), Some(19_782));
    }

    fn policy(dir: &Path, rules: &str) -> Policy {
        for name in ["a", "b", "c"] {
            let private = dir.join(format!("{name}.key"));
            if !private.exists() {
                write_key_pair(&private, Algorithm::Ed25519).unwrap();
            }
        }
        let text = format!(
            "[keys.a]\nfile = \"a.key.pub\"\n[keys.b]\nfile = \"b.key.pub\"\nexpires = \"2000-01-01\"\n\
             [keys.c]\nfile = \"c.key.pub\"\nrevoked = true\n{rules}"
        );
        std::fs::write(dir.join("policy.toml"), text).unwrap();
        Policy::load(&dir.join("policy.toml")).unwrap()
    }

    fn vouch(dir: &Path, name: &str, kind: &str) -> Vouch {
        let key = SigningKey::load(&dir.join(format!("{name}.key"))).unwrap();
        Vouch { key: key.public().id(), kind: kind.into() }
    }

    #[test]
    fn thresholds_count_distinct_usable_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = policy(
            dir.path(),
            "[[rule]]\nmatch = \"example.com/\"\nattested-by = [\"a\", \"b\", \"c\"]\nthreshold = 2\n",
        );
        let today = days_of("2026-12-03").unwrap();
        let (a, b, c) =
            (vouch(dir.path(), "a", "rebuild"), vouch(dir.path(), "b", "rebuild"), vouch(dir.path(), "c", "rebuild"));
        let decide = |v: &[Vouch]| p.decide("example.com/hello:amd64@1", v, false, today);
        assert!(!decide(&[a.clone(), a.clone()]).allowed, "the same key twice counts once");
        let expired = decide(&[a.clone(), b.clone()]);
        assert!(!expired.allowed && expired.reason.contains("b has expired"), "{}", expired.reason);
        let revoked = decide(&[a.clone(), c.clone()]);
        assert!(!revoked.allowed && revoked.reason.contains("c is revoked"), "{}", revoked.reason);
        // b valid on an earlier day: 2 of 3.
        assert!(p.decide("example.com/hello", &[a.clone(), b.clone()], false, days_of("1999-12-31").unwrap()).allowed);
        // A plain signature is no rebuild attestation.
        assert!(!decide(&[vouch(dir.path(), "a", "signature"), b]).allowed);
        assert!(!decide(&[a]).allowed, "1 of 3");
    }

    #[test]
    fn rules_match_in_order_and_debian_needs_only_its_chain() {
        let dir = tempfile::tempdir().unwrap();
        let p = policy(
            dir.path(),
            "[[rule]]\nmatch = \"example.com/open\"\nany = true\n[[rule]]\nmatch = \"example.com/\"\nsigned-by = [\"a\"]\n",
        );
        let today = days_of("2026-12-03").unwrap();
        assert!(p.decide("example.com/open:all@1", &[], false, today).allowed);
        assert!(!p.decide("example.com/closed:all@1", &[], false, today).allowed);
        assert!(p.decide("example.com/closed:all@1", &[vouch(dir.path(), "a", "signature")], false, today).allowed);
        assert!(p.decide("debian:bookworm/libc6:amd64@2.36", &[], true, today).allowed);
        // An exact rule names a registry path with its port, and a
        // package by its name without architecture and version.
        let exact = Rule { pattern: "registry.internal:5000/prod/app".into(), requirement: Requirement::Any };
        assert!(exact.matches("registry.internal:5000/prod/app"));
        assert!(!exact.matches("registry.internal"));
        let debian = Rule { pattern: "debian".into(), requirement: Requirement::Any };
        assert!(!debian.matches("debian:bookworm/libc6:amd64@2.36"));
        let hello = Rule { pattern: "example.com/hello".into(), requirement: Requirement::Any };
        assert!(hello.matches("example.com/hello:amd64@1") && !hello.matches("example.com/hello-doc:all@1"));
        let other = p.decide("other.org/x:all@1", &[], false, today);
        assert!(!other.allowed && other.reason.contains("no rule"), "{}", other.reason);
        std::fs::write(dir.path().join("bad.toml"), "[[rule]]\nmatch = \"*\"\nsigned-by = [\"nobody\"]\n").unwrap();
        let error = Policy::load(&dir.path().join("bad.toml")).unwrap_err().to_string();
        assert!(error.contains("no key is called \"nobody\""), "{error}");
    }
}
