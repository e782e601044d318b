//! PyPI as a [`Source`]: the spec's `[pypi]` table, resolved per
//! architecture for the Python and C library the image's Debian packages
//! give it, each wheel pinned in the lock by file name, sha256 and the
//! content it unpacks to (no index URL: the lock is committed, the index
//! is the user's).

use std::collections::BTreeMap;

use bale_fileset::{Compression, Digest, sha256_bytes};
use bale_image::{PypiSource as PypiRequest, Spec};
use bale_progress::Progress;
use bale_pypi::{Environment, Index};
use bale_store::Store;
use serde::{Deserialize, Serialize};

use crate::BuildError;
use crate::source::{LeftOut, Source};

pub const SOURCE_NAME: &str = "pypi";

/// One architecture's pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPypi {
    pub architecture: String,
    /// Digest of the request (sorted requirements) and the image's Python.
    pub inputs: Digest,
    /// The image's Python, as Debian ships it (`3.11.2`).
    pub python: String,
    /// Debian packages added to the image for libraries the wheels need.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub debian: Vec<String>,
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedWheel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedWheel {
    /// The normalised distribution name.
    pub name: String,
    pub version: String,
    pub filename: String,
    pub sha256: Digest,
    pub id: String,
    /// The content the wheel unpacks to.
    pub content: Digest,
    /// The distributions it needs in this image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Libraries its shared objects need from the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<String>,
}

/// The spec's `[pypi]` table, for images whose Python is known.
#[derive(Debug)]
pub struct PypiSource<'a> {
    request: &'a PypiRequest,
    /// By architecture: what the image's Debian packages give wheels.
    environments: BTreeMap<String, Environment>,
    /// By architecture: the ids of the image's other packages.
    image: BTreeMap<String, Vec<String>>,
}

impl<'a> PypiSource<'a> {
    /// The spec's PyPI source, if it has a `[pypi]` table; `pins` are what
    /// the image holds besides (as (id without version, version)) per
    /// architecture, from which its Python and C library are read.
    pub fn of(spec: &'a Spec, pins: &BTreeMap<String, Vec<(String, String)>>) -> Option<Self> {
        let request = spec.pypi.as_ref()?;
        let environments =
            pins.iter().filter_map(|(arch, pins)| Some((arch.clone(), environment(arch, pins)?))).collect();
        let image = pins
            .iter()
            .map(|(arch, pins)| (arch.clone(), pins.iter().map(|(id, version)| format!("{id}@{version}")).collect()))
            .collect();
        Some(Self { request, environments, image })
    }

    fn environment(&self, architecture: &str) -> Result<&Environment, BuildError> {
        self.environments
            .get(architecture)
            .ok_or_else(|| BuildError::NoPython { architecture: architecture.to_string() })
    }

    fn inputs(&self, env: &Environment) -> Digest {
        let mut requirements = self.request.packages.clone();
        requirements.sort();
        sha256_bytes(
            serde_json::json!({
                "pypi": requirements,
                "python": env.python_full,
                "glibc": env.glibc,
                "machine": env.machine,
            })
            .to_string()
            .as_bytes(),
        )
    }

    /// The index, downloading into `scratch`.
    fn index(&self, scratch: &bale_store::WorkDir) -> Result<Index, BuildError> {
        let location = bale_pypi::locate(self.request.index.as_deref()).map_err(|e| BuildError::Pypi(e.into()))?;
        Ok(Index::new(location).with_scratch(scratch.path.clone()))
    }
}

/// The image's Python and glibc, from its Debian packages: `python3.X`
/// (or its `-minimal`) and `libc6`.
pub fn environment(architecture: &str, pins: &[(String, String)]) -> Option<Environment> {
    let machine = Environment::machine_of(architecture)?;
    let upstream = |version: &str| {
        let version = version.split_once(':').map_or(version, |(_, v)| v);
        version.split(['-', '+', '~']).next().unwrap_or_default().to_string()
    };
    let name_of = |id: &str| -> String {
        let bare = id.rsplit_once(':').map_or(id, |(name, _)| name);
        bare.rsplit('/').next().unwrap_or_default().to_string()
    };
    let mut python = None;
    let mut glibc = None;
    for (id, version) in pins {
        let name = name_of(id);
        if let Some(minor) = name
            .strip_prefix("libpython3.")
            .or_else(|| name.strip_prefix("python3."))
            .map(|rest| rest.trim_end_matches("-minimal"))
            .and_then(|m| m.parse::<u32>().ok())
        {
            let full = upstream(version);
            if full.starts_with(&format!("3.{minor}")) {
                python = Some(((3, minor), full));
            }
        } else if name == "libc6" {
            let full = upstream(version);
            let mut parts = full.split('.');
            if let (Some(Ok(major)), Some(Ok(minor))) =
                (parts.next().map(str::parse::<u32>), parts.next().map(str::parse::<u32>))
            {
                glibc = Some((major, minor));
            }
        }
    }
    let (python, python_full) = python?;
    Some(Environment { python, python_full, glibc, machine: machine.to_string() })
}

impl Source for PypiSource<'_> {
    type Section = LockedPypi;
    /// Versions to prefer, by distribution name.
    type Keep = BTreeMap<String, String>;

    fn name(&self) -> &'static str {
        SOURCE_NAME
    }

    fn section_architecture(section: &LockedPypi) -> &str {
        &section.architecture
    }

    fn is_current(&self, section: &LockedPypi) -> bool {
        self.environments.get(&section.architecture).is_some_and(|env| section.inputs == self.inputs(env))
    }

    fn lock(
        &self,
        store: &Store,
        architecture: &str,
        keep: Self::Keep,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<LockedPypi, BuildError> {
        let env = self.environment(architecture)?;
        let scratch = bale_store::WorkDir::new(store, "pypi-")?;
        let index = self.index(&scratch)?;
        let requirements =
            bale_pypi::parse_requirements(&self.request.packages).map_err(|e| BuildError::Pypi(e.into()))?;
        progress.phase("resolving PyPI requirements", None);
        let resolved = bale_pypi::resolve(&index, env, &requirements, &keep).map_err(|e| BuildError::Pypi(e.into()))?;
        progress.finish_phase();
        let total: u64 = resolved.iter().map(|r| r.file.size.unwrap_or(0)).sum();
        progress.phase("importing wheels", Some(total));
        let mut packages = Vec::new();
        for wheel in resolved {
            let imported = bale_pypi::import_wheel(
                store,
                &index,
                &wheel.file,
                &wheel.name,
                &wheel.version,
                env,
                architecture,
                compression,
            )
            .map_err(BuildError::Pypi)?;
            progress.advance(wheel.file.size.unwrap_or(0));
            packages.push(LockedWheel {
                name: wheel.name,
                version: wheel.version,
                filename: wheel.file.filename,
                sha256: wheel.file.sha256,
                id: imported.id,
                content: imported.content,
                requires: wheel.requires,
                libraries: imported.needs,
            });
        }
        progress.finish_phase();
        let image = self.image.get(architecture).map_or(&[][..], Vec::as_slice);
        let needs: Vec<(String, Vec<String>)> = packages.iter().map(|p| (p.id.clone(), p.libraries.clone())).collect();
        let debian = crate::python::debian_packages_for(store, image, &needs)?;
        Ok(LockedPypi {
            architecture: architecture.to_string(),
            inputs: self.inputs(env),
            python: env.python_full.clone(),
            debian,
            packages,
        })
    }

    fn install(
        &self,
        store: &Store,
        section: &LockedPypi,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<Vec<String>, BuildError> {
        let env = self.environment(&section.architecture)?;
        let records = store.packages_by_id()?;
        let scratch = bale_store::WorkDir::new(store, "pypi-")?;
        let mut index = None;
        let mut ids = Vec::new();
        for pinned in &section.packages {
            if records.get(&pinned.id).and_then(|r| r.content_digest) == Some(pinned.content) {
                ids.push(pinned.id.clone());
                continue;
            }
            // Fetched again by its file name, held to the lock's sha256.
            if index.is_none() {
                index = Some(self.index(&scratch)?);
            }
            let index = index.as_ref().ok_or(BuildError::NoPython { architecture: section.architecture.clone() })?;
            let files = index.project(&pinned.name).map_err(|e| BuildError::Pypi(e.into()))?;
            let file = files.into_iter().find(|f| f.filename == pinned.filename).ok_or_else(|| {
                BuildError::PypiGone { filename: pinned.filename.clone(), index: index.location.origin.clone() }
            })?;
            if file.sha256 != pinned.sha256 {
                return Err(BuildError::PypiChanged {
                    filename: pinned.filename.clone(),
                    want: pinned.sha256,
                    got: file.sha256,
                });
            }
            progress.phase("importing wheels", file.size);
            let imported = bale_pypi::import_wheel(
                store,
                index,
                &file,
                &pinned.name,
                &pinned.version,
                env,
                &section.architecture,
                compression,
            )
            .map_err(BuildError::Pypi)?;
            progress.finish_phase();
            if imported.content != pinned.content {
                return Err(BuildError::WheelUnpackedDifferently {
                    id: imported.id,
                    want: pinned.content,
                    got: imported.content,
                });
            }
            ids.push(imported.id);
        }
        Ok(ids)
    }

    fn pins(section: &LockedPypi) -> Vec<(String, String)> {
        crate::source::pins_of_ids(section.packages.iter().map(|p| p.id.as_str()))
    }

    fn left_out(&self, _section: &LockedPypi) -> Result<Vec<LeftOut>, BuildError> {
        Ok(Vec::new())
    }

    fn keep_all_but(section: &LockedPypi, name: &str) -> Result<Option<Self::Keep>, BuildError> {
        let name = bale_pypi::metadata::normalize(name);
        if !section.packages.iter().any(|p| p.name == name) {
            return Ok(None);
        }
        Ok(Some(
            section.packages.iter().filter(|p| p.name != name).map(|p| (p.name.clone(), p.version.clone())).collect(),
        ))
    }
}

/// The Debian packages `lock`'s PyPI sections add for the wheels'
/// libraries, over all architectures.
pub fn added_debian_packages(lock: &bale_image::Lock, path: &std::path::Path) -> Result<Vec<String>, BuildError> {
    let sections: Vec<LockedPypi> = lock.sections(SOURCE_NAME, path)?;
    let mut all: Vec<String> = sections.into_iter().flat_map(|s| s.debian).collect();
    all.sort();
    all.dedup();
    Ok(all)
}
