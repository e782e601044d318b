//! Security advisories matched against what a registry's images hold
//! (`bale audit`): OSV documents (one, or an array of them) and the Debian
//! security tracker's JSON, both keyed by source package, compared in
//! Debian version order.

use bale_debian::Version;

#[derive(Debug, thiserror::Error)]
pub enum AdvisoryError {
    #[error("{file}: neither an OSV document (or an array of them) nor the Debian security tracker's JSON: {reason}")]
    Format { file: String, reason: String },
}

impl AdvisoryError {
    pub fn help(&self) -> Option<&'static str> {
        Some("give OSV JSON (with \"affected\" entries) or the tracker's JSON (source package → CVE → releases)")
    }
}

/// One advisory about one source package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Advisory {
    /// `CVE-2024-0727`, `DSA-5678-1`.
    pub id: String,
    pub source: String,
    /// The Debian release it is about (`bookworm`); none: every release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Affected while `introduced <= version < fixed` for any range; a
    /// range without `fixed` is open.
    pub ranges: Vec<AffectedRange>,
    /// Versions listed as affected one by one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AffectedRange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
}

impl Advisory {
    /// Whether a package built from this advisory's source at
    /// `source_version`, from the Debian release `release`, is affected.
    pub fn affects(&self, release: Option<&str>, source_version: &str) -> bool {
        if let (Some(wanted), Some(release)) = (&self.release, release)
            && wanted != release
        {
            return false;
        }
        let Ok(version) = source_version.parse::<Version>() else { return false };
        let at_least = |bound: &Option<String>| match bound.as_deref() {
            None | Some("0") | Some("") => true,
            Some(b) => b.parse::<Version>().is_ok_and(|b| version >= b),
        };
        let below = |bound: &Option<String>| match bound.as_deref() {
            None => true,
            Some(b) => b.parse::<Version>().is_ok_and(|b| version < b),
        };
        self.versions.iter().any(|v| v.parse::<Version>().is_ok_and(|v| v == version))
            || self.ranges.iter().any(|r| at_least(&r.introduced) && below(&r.fixed))
    }
}

/// Debian's release numbers, as OSV's `Debian:12` names them.
fn codename_of(number: &str) -> Option<&'static str> {
    Some(match number {
        "9" => "stretch",
        "10" => "buster",
        "11" => "bullseye",
        "12" => "bookworm",
        "13" => "trixie",
        "14" => "forky",
        _ => return None,
    })
}

/// The advisories in `text` (the file `file`), whichever of the two
/// formats it is.
pub fn parse(file: &str, text: &str) -> Result<Vec<Advisory>, AdvisoryError> {
    let bad = |reason: String| AdvisoryError::Format { file: file.to_string(), reason };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let documents: Vec<&serde_json::Value> = match &value {
        serde_json::Value::Array(all) => all.iter().collect(),
        one if one.get("affected").is_some() => vec![one],
        serde_json::Value::Object(_) => return Ok(tracker(&value)),
        _ => return Err(bad("not a JSON object or array".into())),
    };
    let mut advisories = Vec::new();
    for document in documents {
        let id = document["id"].as_str().ok_or_else(|| bad("an OSV document without \"id\"".into()))?;
        for affected in document["affected"].as_array().into_iter().flatten() {
            let ecosystem = affected["package"]["ecosystem"].as_str().unwrap_or_default();
            let Some(rest) = ecosystem.strip_prefix("Debian") else { continue };
            let release = rest.strip_prefix(':').map(|number| codename_of(number).unwrap_or(number).to_string());
            let Some(source) = affected["package"]["name"].as_str() else { continue };
            let mut ranges = Vec::new();
            for range in affected["ranges"].as_array().into_iter().flatten() {
                if range["type"] != "ECOSYSTEM" {
                    continue;
                }
                // Events in order: each `introduced` opens a range, the
                // next `fixed` closes it.
                let mut open: Option<AffectedRange> = None;
                for event in range["events"].as_array().into_iter().flatten() {
                    if let Some(introduced) = event["introduced"].as_str() {
                        if let Some(range) = open.take() {
                            ranges.push(range);
                        }
                        open = Some(AffectedRange { introduced: Some(introduced.to_string()), fixed: None });
                    } else if let Some(fixed) = event["fixed"].as_str() {
                        let mut range = open.take().unwrap_or(AffectedRange { introduced: None, fixed: None });
                        range.fixed = Some(fixed.to_string());
                        ranges.push(range);
                    }
                }
                ranges.extend(open);
            }
            let versions: Vec<String> = affected["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            if !ranges.is_empty() || !versions.is_empty() {
                advisories.push(Advisory { id: id.to_string(), source: source.to_string(), release, ranges, versions });
            }
        }
    }
    Ok(advisories)
}

/// The tracker's JSON: source package → CVE → `releases` → codename →
/// `status` (`open`, `resolved`, `undetermined`) and `fixed_version`.
fn tracker(value: &serde_json::Value) -> Vec<Advisory> {
    let mut advisories = Vec::new();
    for (source, issues) in value.as_object().into_iter().flatten() {
        for (id, issue) in issues.as_object().into_iter().flatten() {
            for (release, state) in issue["releases"].as_object().into_iter().flatten() {
                let fixed = match (state["status"].as_str(), state["fixed_version"].as_str()) {
                    (Some("resolved"), Some("0")) => continue,
                    (Some("resolved"), Some(fixed)) => Some(fixed.to_string()),
                    (Some("open"), _) => None,
                    _ => continue,
                };
                advisories.push(Advisory {
                    id: id.clone(),
                    source: source.clone(),
                    release: Some(release.clone()),
                    ranges: vec![AffectedRange { introduced: None, fixed }],
                    versions: Vec::new(),
                });
            }
        }
    }
    advisories
}

/// The Debian release a package id comes from: `debian:bookworm/…` →
/// `bookworm` (`bookworm-security` counts as `bookworm`).
pub fn release_of(id: &str) -> Option<&str> {
    let origin = id.strip_prefix("debian:")?.split('/').next()?;
    Some(origin.split('-').next().unwrap_or(origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osv_and_tracker_advisories_in_debian_order() {
        let osv = serde_json::json!([{
            "id": "DSA-0001-1",
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]}]
        }]);
        let advisories = parse("osv.json", &osv.to_string()).unwrap();
        assert_eq!(advisories.len(), 1);
        let a = &advisories[0];
        assert_eq!(a.release.as_deref(), Some("bookworm"));
        assert!(a.affects(Some("bookworm"), "3.0.11-1~deb12u2"));
        assert!(!a.affects(Some("bookworm"), "3.0.13-1~deb12u1"));
        assert!(!a.affects(Some("bullseye"), "1.1.1"));

        let tracker = serde_json::json!({"openssl": {
            "CVE-2024-0001": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.13-1"}}},
            "CVE-2024-0002": {"releases": {"bookworm": {"status": "open"}}},
            "CVE-2024-0003": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "0"}}}
        }});
        let advisories = parse("tracker.json", &tracker.to_string()).unwrap();
        assert_eq!(advisories.len(), 2, "{advisories:?}");
        assert!(advisories.iter().all(|a| a.affects(Some("bookworm"), "3.0.11-1")));
        assert!(parse("x.json", "[1]").is_err());
        assert_eq!(release_of("debian:bookworm-security/libssl3:amd64@3"), Some("bookworm"));
    }
}
