//! npm as a [`Source`]: the spec's `[npm]` table, resolved per
//! architecture (optional dependencies follow its cpu), each package
//! pinned in the lock by version, tarball, integrity, the content it
//! unpacks to and the versions its dependencies get, from which the
//! image's links are made again at every build (no registry address: the
//! lock is committed, the registry is the user's).

use std::collections::{BTreeMap, BTreeSet};

use bale_fileset::{Compression, Digest, sha256_bytes};
use bale_image::{NpmSource as NpmRequest, Spec};
use bale_npm::layout::TreePackage;
use bale_npm::{Node, Platform, Registry};
use bale_progress::Progress;
use bale_store::Store;
use serde::{Deserialize, Serialize};

use crate::BuildError;
use crate::source::{LeftOut, Source};

pub const SOURCE_NAME: &str = "npm";

/// One architecture's pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedNpm {
    pub architecture: String,
    /// Digest of the request (sorted requests, the packages allowed
    /// without scripts) and the platform.
    pub inputs: Digest,
    /// The requested packages, by name: the version each resolved to.
    pub roots: BTreeMap<String, String>,
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedNpmPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedNpmPackage {
    pub name: String,
    pub version: String,
    /// The tarball's file name.
    pub tarball: String,
    /// Its SRI integrity (`sha512-…`), as the registry gave it.
    pub integrity: String,
    pub id: String,
    /// The content the tarball unpacks to.
    pub content: Digest,
    /// Each dependency, by name: the version it gets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, String>,
    /// Its commands: name → path inside the package.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bins: BTreeMap<String, String>,
}

/// The spec's `[npm]` table, for one image.
#[derive(Debug)]
pub struct NpmSource<'a> {
    request: &'a NpmRequest,
    /// The image's name and tag: its links package is `NAME/node-modules@TAG`.
    image_name: &'a str,
    image_tag: &'a str,
}

impl<'a> NpmSource<'a> {
    pub fn of(spec: &'a Spec) -> Option<Self> {
        let request = spec.npm.as_ref()?;
        Some(Self { request, image_name: &spec.name, image_tag: &spec.tag })
    }

    fn platform(architecture: &str) -> Result<Platform, BuildError> {
        Platform::of_debian(architecture)
            .ok_or_else(|| BuildError::NpmArchitecture { architecture: architecture.to_string() })
    }

    fn inputs(&self, platform: &Platform) -> Digest {
        let mut requests = self.request.packages.clone();
        requests.sort();
        let mut allowed = self.request.allow_without_scripts.clone();
        allowed.sort();
        sha256_bytes(
            serde_json::json!({
                "npm": requests,
                "allowWithoutScripts": allowed,
                "cpu": platform.cpu,
                "libc": platform.libc,
            })
            .to_string()
            .as_bytes(),
        )
    }

    fn registry(&self) -> Result<Registry, BuildError> {
        let location = bale_npm::locate(self.request.registry.as_deref()).map_err(|e| BuildError::Npm(e.into()))?;
        Ok(Registry::new(location))
    }

    /// Stores the links `section`'s tree needs, returning their package id.
    fn links(&self, store: &Store, section: &LockedNpm, compression: Compression) -> Result<String, BuildError> {
        let tree: Vec<TreePackage> = section
            .packages
            .iter()
            .map(|p| TreePackage {
                name: p.name.clone(),
                version: p.version.clone(),
                dependencies: p.dependencies.clone(),
                bins: p.bins.clone(),
            })
            .collect();
        let stored = bale_npm::store_links(
            store,
            self.image_name,
            self.image_tag,
            &tree,
            &section.roots,
            &self.request.app,
            compression,
        )
        .map_err(BuildError::Npm)?;
        Ok(stored.id)
    }
}

impl Source for NpmSource<'_> {
    type Section = LockedNpm;
    /// Versions to prefer, by name.
    type Keep = BTreeMap<String, BTreeSet<String>>;

    fn name(&self) -> &'static str {
        SOURCE_NAME
    }

    fn section_architecture(section: &LockedNpm) -> &str {
        &section.architecture
    }

    fn is_current(&self, section: &LockedNpm) -> bool {
        Self::platform(&section.architecture).is_ok_and(|platform| section.inputs == self.inputs(&platform))
    }

    fn lock(
        &self,
        store: &Store,
        architecture: &str,
        keep: Self::Keep,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<LockedNpm, BuildError> {
        let platform = Self::platform(architecture)?;
        let registry = self.registry()?;
        progress.phase("resolving npm packages", None);
        let resolution =
            bale_npm::resolve(&registry, &self.request.packages, &platform, &keep, &self.request.allow_without_scripts)
                .map_err(|e| BuildError::Npm(e.into()))?;
        progress.finish_phase();
        progress.phase("importing npm packages", Some(resolution.nodes.len() as u64));
        let mut packages = Vec::new();
        for node in resolution.nodes.values() {
            let imported = bale_npm::import_package(store, &registry, node, compression).map_err(BuildError::Npm)?;
            progress.advance(1);
            packages.push(LockedNpmPackage {
                name: node.name.clone(),
                version: node.version.clone(),
                tarball: tarball_name(node),
                integrity: node.info.dist.integrity.clone().unwrap_or_default(),
                id: imported.id,
                content: imported.content,
                dependencies: node.dependencies.clone(),
                bins: bale_npm::layout::bins(&node.name, node.info.bin.as_ref()),
            });
        }
        progress.finish_phase();
        Ok(LockedNpm {
            architecture: architecture.to_string(),
            inputs: self.inputs(&platform),
            roots: resolution.roots,
            packages,
        })
    }

    fn install(
        &self,
        store: &Store,
        section: &LockedNpm,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<Vec<String>, BuildError> {
        let records = store.packages_by_id()?;
        let mut registry = None;
        let mut ids = Vec::new();
        let missing: Vec<&LockedNpmPackage> = section
            .packages
            .iter()
            .filter(|p| records.get(&p.id).and_then(|r| r.content_digest) != Some(p.content))
            .collect();
        if !missing.is_empty() {
            progress.phase("importing npm packages", Some(missing.len() as u64));
        }
        for pinned in &section.packages {
            if !missing.iter().any(|m| m.id == pinned.id) {
                ids.push(pinned.id.clone());
                continue;
            }
            // Fetched again by version, held to the lock's integrity.
            if registry.is_none() {
                registry = Some(self.registry()?);
            }
            let Some(registry) = registry.as_ref() else { continue };
            let document = registry.document(&pinned.name).map_err(|e| BuildError::Npm(e.into()))?;
            let info = document.versions.get(&pinned.version).cloned().ok_or_else(|| BuildError::NpmGone {
                package: format!("{}@{}", pinned.name, pinned.version),
                registry: registry.location.origin.clone(),
            })?;
            let listed = info.dist.integrity.clone().unwrap_or_default();
            if listed != pinned.integrity {
                return Err(BuildError::NpmChanged {
                    package: format!("{}@{}", pinned.name, pinned.version),
                    want: pinned.integrity.clone(),
                    got: listed,
                });
            }
            let node = Node {
                name: pinned.name.clone(),
                version: pinned.version.clone(),
                info,
                dependencies: pinned.dependencies.clone(),
            };
            let imported = bale_npm::import_package(store, registry, &node, compression).map_err(BuildError::Npm)?;
            progress.advance(1);
            if imported.content != pinned.content {
                return Err(BuildError::NpmUnpackedDifferently {
                    id: imported.id,
                    want: pinned.content,
                    got: imported.content,
                });
            }
            ids.push(imported.id);
        }
        if !missing.is_empty() {
            progress.finish_phase();
        }
        ids.push(self.links(store, section, compression)?);
        Ok(ids)
    }

    fn pins(section: &LockedNpm) -> Vec<(String, String)> {
        crate::source::pins_of_ids(section.packages.iter().map(|p| p.id.as_str()))
    }

    fn left_out(&self, _section: &LockedNpm) -> Result<Vec<LeftOut>, BuildError> {
        Ok(Vec::new())
    }

    fn keep_all_but(section: &LockedNpm, name: &str) -> Result<Option<Self::Keep>, BuildError> {
        if !section.packages.iter().any(|p| p.name == name) {
            return Ok(None);
        }
        let mut keep: Self::Keep = BTreeMap::new();
        for package in section.packages.iter().filter(|p| p.name != name) {
            keep.entry(package.name.clone()).or_default().insert(package.version.clone());
        }
        Ok(Some(keep))
    }
}

/// The last segment of a tarball URL: `express-4.21.2.tgz`.
fn tarball_name(node: &Node) -> String {
    node.info.dist.tarball.rsplit('/').next().unwrap_or_default().to_string()
}
