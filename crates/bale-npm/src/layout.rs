//! Where npm content goes in an image. Each package at a path that does
//! not depend on the rest of the tree, so its layer is the same in every
//! image that holds it:
//! `/usr/local/lib/node_modules/.bale/NAME@VERSION/node_modules/NAME`
//! (`@scope+name@VERSION/node_modules/@scope/name` for scoped names, as
//! pnpm lays them out). What depends on the tree, each package's links to
//! the versions of its dependencies and the app's `node_modules`, is one
//! generated package per image. Node resolves a symlink to its real path
//! and looks for `node_modules` from there, so a package finds its own
//! dependencies beside itself.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use bale_fileset::{Content, Entry, EntryKind, FilesetError, Limits, Normalize, Plan};

use crate::resolve::Resolution;

/// Where every npm package of an image is.
pub const STORE_DIR: &str = "usr/local/lib/node_modules/.bale";

/// The directory of `name@version`, relative to the root.
pub fn package_dir(name: &str, version: &str) -> String {
    format!("{STORE_DIR}/{}@{version}/node_modules/{name}", name.replace('/', "+"))
}

/// The files of the package tarball `tgz` (gzip; every path under one top
/// directory, `package/` as npm packs it), at [`package_dir`]; the files
/// its `bin` names are made executable, as npm does when it installs.
pub fn package_files(
    tgz: impl Read,
    name: &str,
    version: &str,
    bin: Option<&serde_json::Value>,
    spool_dir: &Path,
) -> Result<Plan, FilesetError> {
    let dir = package_dir(name, version);
    let executables: Vec<String> = bins(name, bin).into_values().collect();
    let gz = flate2::read::GzDecoder::new(tgz);
    Plan::from_tar_with(gz, Normalize::default(), Limits::default(), spool_dir, |mut entry| {
        // npm drops the first component, whatever it is called.
        let Some((_, rest)) = entry.path.split_once('/') else { return Ok(None) };
        if rest.is_empty() {
            return Ok(None);
        }
        // Links and devices are not what npm installs from a tarball.
        if !matches!(entry.kind, EntryKind::File { .. } | EntryKind::Directory) {
            return Ok(None);
        }
        let executable = executables.iter().any(|e| e == rest);
        entry.path = format!("{dir}/{rest}");
        entry.mode = match entry.kind {
            EntryKind::Directory => 0o755,
            _ if executable || entry.mode & 0o111 != 0 => 0o755,
            _ => 0o644,
        };
        Ok(Some(entry))
    })
}

/// A package's `bin`: command name → path inside the package.
pub fn bins(name: &str, bin: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    let clean = |p: &str| bale_fileset::normalize_path(p.as_bytes()).ok().flatten();
    let plain = |c: &str| !c.is_empty() && !c.contains('/') && !c.starts_with('.') && c.len() <= 128;
    let mut out = BTreeMap::new();
    match bin {
        Some(serde_json::Value::String(path)) => {
            let command = name.rsplit('/').next().unwrap_or(name);
            if let Some(path) = clean(path) {
                out.insert(command.to_string(), path);
            }
        }
        Some(serde_json::Value::Object(map)) => {
            for (command, path) in map {
                if let (true, Some(path)) = (plain(command), path.as_str().and_then(clean)) {
                    out.insert(command.clone(), path);
                }
            }
        }
        _ => {}
    }
    out
}

/// `path` relative to the directory `from` (both relative to the root).
fn relative(from: &str, path: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|p| !p.is_empty()).collect();
    let to: Vec<&str> = path.split('/').collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

fn link(plan: &mut Plan, at: &str, target: &str) -> Result<(), FilesetError> {
    let parent = at.rsplit_once('/').map_or("", |(p, _)| p);
    let mut entry = Entry::directory(at);
    entry.kind = EntryKind::Symlink { target: relative(parent, target) };
    entry.mode = 0o777;
    plan.insert(entry, Content::None)
}

/// One package of a tree, as the links need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreePackage {
    pub name: String,
    pub version: String,
    /// Each dependency, by name: the version it gets.
    pub dependencies: BTreeMap<String, String>,
    /// Its commands: name → path inside the package.
    pub bins: BTreeMap<String, String>,
}

impl TreePackage {
    /// The resolution's packages, as the links need them.
    pub fn of(resolution: &Resolution) -> Vec<Self> {
        resolution
            .nodes
            .values()
            .map(|n| Self {
                name: n.name.clone(),
                version: n.version.clone(),
                dependencies: n.dependencies.clone(),
                bins: bins(&n.name, n.info.bin.as_ref()),
            })
            .collect()
    }
}

/// The links one image needs: each package's `node_modules/DEP` to the
/// version of DEP it gets, the app's `node_modules/NAME` for each
/// requested package (`roots`: name → version), and
/// `node_modules/.bin/COMMAND` for their commands. `app`: the app's
/// directory (`srv/app`).
pub fn links(packages: &[TreePackage], roots: &BTreeMap<String, String>, app: &str) -> Result<Plan, FilesetError> {
    let mut plan = Plan::new(Normalize::default(), Limits::default());
    for package in packages {
        let own = package_dir(&package.name, &package.version);
        // The package's own node_modules: the directory holding it.
        let modules = own.strip_suffix(&format!("/{}", package.name)).unwrap_or(&own).to_string();
        for (dep, version) in &package.dependencies {
            if dep == &package.name {
                continue;
            }
            link(&mut plan, &format!("{modules}/{dep}"), &package_dir(dep, version))?;
        }
    }
    let app = app.trim_matches('/');
    for (name, version) in roots {
        let target = package_dir(name, version);
        link(&mut plan, &format!("{app}/node_modules/{name}"), &target)?;
        if let Some(package) = packages.iter().find(|p| p.name == *name && p.version == *version) {
            for (command, path) in &package.bins {
                link(&mut plan, &format!("{app}/node_modules/.bin/{command}"), &format!("{target}/{path}"))?;
            }
        }
    }
    plan.seal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_packages_own_and_links_relative() {
        assert_eq!(package_dir("ms", "2.0.0"), "usr/local/lib/node_modules/.bale/ms@2.0.0/node_modules/ms");
        assert_eq!(
            package_dir("@types/node", "20.1.0"),
            "usr/local/lib/node_modules/.bale/@types+node@20.1.0/node_modules/@types/node"
        );
        assert_eq!(
            relative("usr/local/lib/node_modules/.bale/debug@2.6.9/node_modules", &package_dir("ms", "2.0.0")),
            "../../ms@2.0.0/node_modules/ms"
        );
        let bins = bins("@scope/tool", Some(&serde_json::json!("./bin/tool.js")));
        assert_eq!(bins["tool"], "bin/tool.js");
        let map = super::bins("x", Some(&serde_json::json!({"a": "a.js", "../evil": "b.js", "c": "../../etc/passwd"})));
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a"]);
    }
}
