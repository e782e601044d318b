//! npm's dependencies resolved as npm needs them: several versions of one
//! name are normal (express 4 needs `ms` 2.0.0 and 2.1.3), so no
//! one-version solver applies. A deterministic pass instead, breadth
//! first from the requests, dependencies in name order: for each range,
//! a version of that name already chosen that fits, else the lock's, else
//! the highest in range. Optional dependencies that do not run on the
//! image's platform are left out; a package that would run an install
//! script is refused unless the spec allows it without its script.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use nodejs_semver::{Range, Version};

use crate::registry::{Document, Registry, RegistryError, VersionInfo};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the request {text:?}: {reason}")]
    Request { text: String, reason: String },
    #[error("{name}: no version satisfies {range:?}{}", required_by.as_ref().map(|r| format!(" (required by {r})")).unwrap_or_default())]
    NoVersion { name: String, range: String, required_by: Option<String> },
    #[error("{name}@{version} runs an install script, which bale never runs")]
    InstallScript { name: String, version: String },
    #[error("{name}@{version} does not run on {platform} (it is for {wants}){}", required_by.as_ref().map(|r| format!(", and {r} requires it")).unwrap_or_default())]
    Platform { name: String, version: String, platform: String, wants: String, required_by: Option<String> },
    #[error("the dependencies reach more than {limit} packages")]
    TooMany { limit: usize },
}

impl ResolveError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Registry(e) => e.help(),
            Self::Request { .. } => Some("write requests as npm does: \"express@4\", \"@types/node@^20\", \"lodash\""),
            Self::NoVersion { .. } => Some("loosen the range, or check the registry"),
            Self::InstallScript { .. } => Some(
                "if it works without its script, list it in the spec's [npm] allow_without_scripts; else build it \
                 with a recipe",
            ),
            Self::Platform { .. } => Some("pick another package or version, or build the image for its platform"),
            Self::TooMany { .. } => None,
        }
    }
}

/// The platform packages' `os`, `cpu` and `libc` fields are matched with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Node's `process.arch`: `x64`, `arm64`, …
    pub cpu: String,
    /// `glibc` or `musl`.
    pub libc: String,
}

impl Platform {
    /// Node's name for a Debian architecture.
    pub fn of_debian(architecture: &str) -> Option<Self> {
        let cpu = match architecture {
            "amd64" => "x64",
            "arm64" => "arm64",
            "armhf" => "arm",
            "i386" => "ia32",
            "ppc64el" => "ppc64",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            _ => return None,
        };
        Some(Self { cpu: cpu.into(), libc: "glibc".into() })
    }

    /// Why `info` does not run here, if it does not.
    fn refuses(&self, info: &VersionInfo) -> Option<String> {
        // `["!win32"]` excludes, `["linux"]` includes; an empty list allows all.
        let allowed = |list: &[String], value: &str| {
            if list.is_empty() {
                return true;
            }
            let excluded = list.iter().any(|v| v.strip_prefix('!') == Some(value));
            let positive: Vec<&String> = list.iter().filter(|v| !v.starts_with('!')).collect();
            !excluded && (positive.is_empty() || positive.iter().any(|v| *v == value))
        };
        let mut wants = Vec::new();
        if !allowed(&info.os, "linux") {
            wants.push(format!("os {}", info.os.join(", ")));
        }
        if !allowed(&info.cpu, &self.cpu) {
            wants.push(format!("cpu {}", info.cpu.join(", ")));
        }
        if !allowed(&info.libc, &self.libc) {
            wants.push(format!("libc {}", info.libc.join(", ")));
        }
        (!wants.is_empty()).then(|| wants.join("; "))
    }

    fn text(&self) -> String {
        format!("linux {} {}", self.cpu, self.libc)
    }
}

/// One package of the resolution.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub version: String,
    pub info: VersionInfo,
    /// Each dependency it gets, by name: the version chosen for it.
    pub dependencies: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// The requests' packages, by name: their versions.
    pub roots: BTreeMap<String, String>,
    /// Every package, by (name, version).
    pub nodes: BTreeMap<(String, String), Node>,
}

/// A dependency to resolve: name, range, the package that needs it
/// (name, version; none for a request), and whether it is optional.
type Wanted = (String, String, Option<(String, String)>, bool);

/// The most packages one resolution may reach.
const MAX_NODES: usize = 20_000;

/// `express@4`, `@types/node@^20`, `lodash` (any version: `latest`).
pub fn parse_request(text: &str) -> Result<(String, String), ResolveError> {
    let bad = |reason: &str| ResolveError::Request { text: text.to_string(), reason: reason.to_string() };
    let (name, range) = match text.strip_prefix('@') {
        Some(rest) => match rest.split_once('@') {
            Some((name, range)) => (format!("@{name}"), range.to_string()),
            None => (text.to_string(), "latest".to_string()),
        },
        None => match text.split_once('@') {
            Some((name, range)) => (name.to_string(), range.to_string()),
            None => (text.to_string(), "latest".to_string()),
        },
    };
    if !valid_name(&name) {
        return Err(bad("that is not an npm package name"));
    }
    if range.contains(':') || range.contains('/') {
        return Err(bad("only registry versions, ranges and tags are resolved (no URLs, git or files)"));
    }
    Ok((name, range))
}

/// An npm package name bale takes: lowercase, `@scope/name` or `name`.
pub fn valid_name(name: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 214
            && !p.starts_with(['.', '_'])
            && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_' | '~'))
    };
    match name.strip_prefix('@') {
        Some(scoped) => scoped.split_once('/').is_some_and(|(scope, rest)| part(scope) && part(rest)),
        None => part(name),
    }
}

/// Resolves `requests` (`name@range`) against `registry` for `platform`,
/// preferring `locked` versions (name → versions), refusing install
/// scripts except for the packages `allowed_without_scripts` names.
pub fn resolve(
    registry: &Registry,
    requests: &[String],
    platform: &Platform,
    locked: &BTreeMap<String, BTreeSet<String>>,
    allowed_without_scripts: &[String],
) -> Result<Resolution, ResolveError> {
    let mut documents: BTreeMap<String, Document> = BTreeMap::new();
    let mut chosen: BTreeMap<String, BTreeSet<Version>> = BTreeMap::new();
    let mut resolution = Resolution::default();
    // (name, range, who needs it, whether it may be left out)
    let mut queue: VecDeque<Wanted> = VecDeque::new();
    let mut requests: Vec<(String, String)> = requests.iter().map(|r| parse_request(r)).collect::<Result<_, _>>()?;
    requests.sort();
    for (name, range) in requests {
        queue.push_back((name, range, None, false));
    }
    while let Some((name, range, parent, optional)) = queue.pop_front() {
        if resolution.nodes.len() > MAX_NODES {
            return Err(ResolveError::TooMany { limit: MAX_NODES });
        }
        if !documents.contains_key(&name) {
            let document = match registry.document(&name) {
                Ok(document) => document,
                Err(RegistryError::NoPackage { .. }) if optional => continue,
                Err(e) => return Err(e.into()),
            };
            documents.insert(name.clone(), document);
        }
        let document = &documents[&name];
        let required_by = parent.as_ref().map(|(n, v)| format!("{n}@{v}"));
        let Some(version) = pick(document, &range, chosen.get(&name), locked.get(&name)) else {
            if optional {
                continue;
            }
            return Err(ResolveError::NoVersion { name, range, required_by });
        };
        let text = version.to_string();
        let info = document.versions.get(&text).cloned().ok_or_else(|| ResolveError::NoVersion {
            name: name.clone(),
            range: range.clone(),
            required_by: required_by.clone(),
        })?;
        if let Some(wants) = platform.refuses(&info) {
            if optional {
                continue;
            }
            return Err(ResolveError::Platform { name, version: text, platform: platform.text(), wants, required_by });
        }
        match &parent {
            Some(parent) => {
                if let Some(node) = resolution.nodes.get_mut(parent) {
                    node.dependencies.insert(name.clone(), text.clone());
                }
            }
            None => {
                resolution.roots.insert(name.clone(), text.clone());
            }
        }
        let key = (name.clone(), text.clone());
        if resolution.nodes.contains_key(&key) {
            continue;
        }
        if info.installs_with_script() && !allowed_without_scripts.contains(&name) {
            return Err(ResolveError::InstallScript { name, version: text });
        }
        chosen.entry(name.clone()).or_default().insert(version);
        let mut needs: Vec<(String, String, bool)> = Vec::new();
        for (dep, range) in info.dependencies.iter().chain(&info.peer_dependencies) {
            if !info.optional_dependencies.contains_key(dep) {
                needs.push((dep.clone(), range.clone(), false));
            }
        }
        for (dep, range) in &info.optional_dependencies {
            needs.push((dep.clone(), range.clone(), true));
        }
        needs.sort();
        needs.dedup_by(|a, b| a.0 == b.0);
        for (dep, range, optional) in needs {
            queue.push_back((dep, range, Some(key.clone()), optional));
        }
        resolution.nodes.insert(key, Node { name, version: text, info, dependencies: BTreeMap::new() });
    }
    Ok(resolution)
}

/// The version of `document` for `range`: a chosen one that fits (the
/// highest), else a locked one that fits, else the highest that fits; a
/// dist-tag names its version.
fn pick(
    document: &Document,
    range: &str,
    chosen: Option<&BTreeSet<Version>>,
    locked: Option<&BTreeSet<String>>,
) -> Option<Version> {
    let range = range.trim();
    if let Some(tagged) = document.dist_tags.get(range) {
        return Version::parse(tagged).ok();
    }
    let range = if range.is_empty() { Range::any() } else { Range::parse(range).ok()? };
    if let Some(found) = chosen.and_then(|c| c.iter().rev().find(|v| range.satisfies(v))) {
        return Some(found.clone());
    }
    let available: Vec<Version> = document.versions.keys().filter_map(|v| Version::parse(v).ok()).collect();
    if let Some(found) = locked.and_then(|l| {
        l.iter().filter_map(|v| Version::parse(v).ok()).filter(|v| range.satisfies(v) && available.contains(v)).max()
    }) {
        return Some(found);
    }
    available.into_iter().filter(|v| range.satisfies(v)).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Registry, RegistryLocation};
    use bale_testkit::npm::{PackageSpec, Registry as Fixture};

    fn client(fixture: &Fixture) -> Registry {
        Registry::new(RegistryLocation { url: url::Url::parse(&fixture.url).unwrap(), origin: "the test".into() })
    }

    fn platform() -> Platform {
        Platform::of_debian("amd64").unwrap()
    }

    fn fixture() -> Fixture {
        let mut registry = Fixture::new();
        registry.publish(&PackageSpec::new("web", "4.1.0").depends("debug", "2.6.9").depends("send", "^0.19.0"));
        registry.publish(&PackageSpec::new("web", "5.0.0"));
        registry.publish(&PackageSpec::new("debug", "2.6.9").depends("ms", "2.0.0"));
        registry.publish(&PackageSpec::new("send", "0.19.0").depends("ms", "2.1.3").depends("debug", "2.6.9"));
        for version in ["2.0.0", "2.1.2", "2.1.3"] {
            registry.publish(&PackageSpec::new("ms", version));
        }
        registry.publish(&PackageSpec::new("fsevents", "2.3.3").field("os", serde_json::json!(["darwin"])));
        registry.publish(&PackageSpec::new("@esbuild/linux-x64", "0.20.0").field("cpu", serde_json::json!(["x64"])));
        registry
            .publish(&PackageSpec::new("@esbuild/linux-arm64", "0.20.0").field("cpu", serde_json::json!(["arm64"])));
        registry.publish(
            &PackageSpec::new("tool", "1.0.0")
                .optional("fsevents", "^2")
                .optional("@esbuild/linux-x64", "0.20.0")
                .optional("@esbuild/linux-arm64", "0.20.0"),
        );
        registry.publish(
            &PackageSpec::new("native", "1.0.0").field("scripts", serde_json::json!({"install": "node-gyp rebuild"})),
        );
        registry
    }

    fn versions(resolution: &Resolution) -> Vec<String> {
        resolution.nodes.keys().map(|(n, v)| format!("{n}@{v}")).collect()
    }

    #[test]
    fn several_versions_of_a_name_side_by_side_chosen_per_dependency() {
        let registry = fixture();
        let resolved = resolve(&client(&registry), &["web@4".into()], &platform(), &BTreeMap::new(), &[]).unwrap();
        assert_eq!(versions(&resolved), ["debug@2.6.9", "ms@2.0.0", "ms@2.1.3", "send@0.19.0", "web@4.1.0"]);
        assert_eq!(resolved.roots["web"], "4.1.0");
        let debug = &resolved.nodes[&("debug".to_string(), "2.6.9".to_string())];
        assert_eq!(debug.dependencies["ms"], "2.0.0");
        let send = &resolved.nodes[&("send".to_string(), "0.19.0".to_string())];
        assert_eq!(send.dependencies["ms"], "2.1.3", "the highest in its range");
        // Without a range: the latest tag.
        let latest = resolve(&client(&registry), &["web".into()], &platform(), &BTreeMap::new(), &[]).unwrap();
        assert_eq!(latest.roots["web"], "5.0.0");
        // The lock's version is kept while it fits.
        let locked = BTreeMap::from([("ms".to_string(), BTreeSet::from(["2.1.2".to_string()]))]);
        let kept = resolve(&client(&registry), &["ms@^2.1".into()], &platform(), &locked, &[]).unwrap();
        assert_eq!(kept.roots["ms"], "2.1.2");
    }

    #[test]
    fn optional_dependencies_follow_the_platform_and_install_scripts_are_refused() {
        let registry = fixture();
        let resolved = resolve(&client(&registry), &["tool".into()], &platform(), &BTreeMap::new(), &[]).unwrap();
        assert_eq!(versions(&resolved), ["@esbuild/linux-x64@0.20.0", "tool@1.0.0"]);
        let err = resolve(&client(&registry), &["fsevents".into()], &platform(), &BTreeMap::new(), &[]).unwrap_err();
        assert!(err.to_string().contains("does not run on linux x64 glibc (it is for os darwin)"), "{err}");
        let err = resolve(&client(&registry), &["native".into()], &platform(), &BTreeMap::new(), &[]).unwrap_err();
        assert!(err.to_string().contains("native@1.0.0 runs an install script"), "{err}");
        assert!(err.help().unwrap().contains("allow_without_scripts"));
        let allowed =
            resolve(&client(&registry), &["native".into()], &platform(), &BTreeMap::new(), &["native".into()]);
        assert!(allowed.is_ok());
        let err = resolve(&client(&registry), &["web@6".into()], &platform(), &BTreeMap::new(), &[]).unwrap_err();
        assert!(err.to_string().contains("web: no version satisfies \"6\""), "{err}");
        assert!(parse_request("git+https://example.invalid/x.git").is_err());
        assert_eq!(parse_request("@types/node@^20").unwrap(), ("@types/node".to_string(), "^20".to_string()));
    }
}
