//! A distribution's core metadata (the `METADATA` file of a wheel, served
//! beside it by the index as `FILE.metadata`, PEP 658): what resolution
//! needs of it.

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, Requirement};

/// The largest core metadata read.
pub const MAX_METADATA: u64 = 4 << 20;

#[derive(Debug, Clone)]
pub struct CoreMetadata {
    pub name: String,
    pub version: Version,
    pub requires_python: Option<VersionSpecifiers>,
    pub requires_dist: Vec<Requirement>,
    pub provides_extra: Vec<ExtraName>,
}

impl CoreMetadata {
    /// Reads the header fields of `text` (an email-style message; the body
    /// is the description and is not read). `Err`: which field is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                // A folded header continues the one before.
                if let Some((_, value)) = fields.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(format!("the line {line:?} is not a header"));
            };
            fields.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        let one = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let all = |key: &str| fields.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        let name = one("name").ok_or("it has no Name")?.to_string();
        let version_text = one("version").ok_or("it has no Version")?;
        let version = Version::from_str(version_text).map_err(|e| format!("Version {version_text:?}: {e}"))?;
        let requires_python = one("requires-python")
            .map(|text| VersionSpecifiers::from_str(text).map_err(|e| format!("Requires-Python {text:?}: {e}")))
            .transpose()?;
        let requires_dist = all("requires-dist")
            .into_iter()
            .map(|text| Requirement::from_str(text).map_err(|e| format!("Requires-Dist {text:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let provides_extra = all("provides-extra")
            .into_iter()
            .map(|text| ExtraName::from_str(text).map_err(|e| format!("Provides-Extra {text:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { name, version, requires_python, requires_dist, provides_extra })
    }

    /// What installing it (with `extras`) needs in `env`: its
    /// requirements whose markers hold.
    pub fn requirements(&self, env: &MarkerEnvironment, extras: &[ExtraName]) -> Vec<&Requirement> {
        self.requires_dist.iter().filter(|r| r.evaluate_markers(env, extras)).collect()
    }
}

/// A project name as the index and comparisons use it (PEP 503): lower
/// case, runs of `-`, `_` and `.` as one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::Environment;

    const FLASK: &str = "Metadata-Version: 2.1\nName: Flask\nVersion: 3.0.3\nSummary: A simple framework\n\
        Requires-Python: >=3.8\nRequires-Dist: Werkzeug>=3.0.0\nRequires-Dist: Jinja2>=3.1.2\n\
        Requires-Dist: importlib-metadata>=3.6.0; python_version < '3.10'\n\
        Requires-Dist: asgiref>=3.2 ; extra == 'async'\nProvides-Extra: async\n\nLong description: not a header\n";

    #[test]
    fn markers_and_extras_select_requirements() {
        let metadata = CoreMetadata::parse(FLASK).unwrap();
        assert_eq!(metadata.name, "Flask");
        assert_eq!(metadata.version.to_string(), "3.0.3");
        let env = Environment {
            python: (3, 11),
            python_full: "3.11.2".into(),
            glibc: Some((2, 36)),
            machine: "x86_64".into(),
        }
        .markers()
        .unwrap();
        let names = |extras: &[ExtraName]| {
            metadata.requirements(&env, extras).iter().map(|r| r.name.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(names(&[]), ["werkzeug", "jinja2"]);
        assert_eq!(names(&[ExtraName::from_str("async").unwrap()]), ["werkzeug", "jinja2", "asgiref"]);
        let old = Environment { python: (3, 9), python_full: "3.9.2".into(), glibc: None, machine: "x86_64".into() }
            .markers()
            .unwrap();
        assert_eq!(metadata.requirements(&old, &[]).len(), 3);
    }

    #[test]
    fn mistakes_name_their_field() {
        assert!(CoreMetadata::parse("Name: x\n").unwrap_err().contains("no Version"));
        assert!(CoreMetadata::parse("Name: x\nVersion: 1\nRequires-Dist: ((\n").unwrap_err().contains("Requires-Dist"));
    }

    #[test]
    fn names_normalize_as_the_index_does() {
        assert_eq!(normalize("Flask"), "flask");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("typing__extensions"), "typing-extensions");
    }
}
