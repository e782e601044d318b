//! Debian as a [`Source`]: the spec's `[debian]` table, one lock section
//! per architecture, resolved against the archive the host's apt sources
//! (or the spec) name, and installed from the pinned stanzas.

use std::collections::HashMap;
use std::path::Path;

use bale_debian::Version;
use bale_debian::archive::ArchiveConfig;
use bale_debian::deb::DebOptions;
use bale_debian::import::{ImportOptions, import, import_closure, merged_usr_base, parse_request};
use bale_debian::lock::{LockedBase, LockedDebian, LockedPackage, SOURCE_NAME};
use bale_debian::packages::BinaryPackage;
use bale_fileset::{Compression, Digest, sha256_bytes};
use bale_image::{DebianSource as DebianRequest, Spec};
use bale_progress::Progress;
use bale_store::Store;

use crate::source::{LeftOut, Source};
use crate::{ArchiveRequest, BuildError, archive_config};

/// A spec's `[debian]` table, as a source.
#[derive(Debug)]
pub struct DebianSource<'a> {
    /// The architecture the request's inputs name: the spec's own value,
    /// per image for a multi-architecture spec, `None` for the host's.
    declared: DeclaredArchitecture,
    request: &'a DebianRequest,
    /// Where relative paths of the table (the keyring) start.
    spec_dir: &'a Path,
}

impl<'a> DebianSource<'a> {
    /// The spec's Debian source, if it has a `[debian]` table.
    pub fn of(spec: &'a Spec, spec_dir: &'a Path) -> Option<Self> {
        spec.debian.as_ref().map(|request| Self::of_request(spec, request, spec_dir))
    }

    /// The spec's Debian source asking for `request` (its `[debian]` table
    /// with packages other sources need added).
    pub fn of_request(spec: &Spec, request: &'a DebianRequest, spec_dir: &'a Path) -> Self {
        let declared = if spec.is_multi_architecture() {
            DeclaredArchitecture::PerImage
        } else {
            DeclaredArchitecture::One(spec.declared_architectures().into_iter().next())
        };
        Self { declared, request, spec_dir }
    }

    /// A Debian request of something other than an image spec (a recipe's
    /// build root) for one architecture, `None` meaning the host's.
    pub fn for_request(request: &'a DebianRequest, spec_dir: &'a Path, architecture: Option<String>) -> Self {
        Self { declared: DeclaredArchitecture::One(architecture), request, spec_dir }
    }

    fn inputs(&self, architecture: &str) -> Digest {
        let declared = match &self.declared {
            DeclaredArchitecture::PerImage => Some(architecture.to_string()),
            DeclaredArchitecture::One(declared) => declared.clone(),
        };
        request_inputs(Some(self.request), declared)
    }

    /// The archive the table names for `architecture`, filled in from the
    /// host.
    fn archive(&self, architecture: &str) -> Result<ArchiveConfig, BuildError> {
        let debian = self.request;
        archive_config(&ArchiveRequest {
            suite: debian.suite.clone(),
            mirror: debian.mirror.clone(),
            components: debian.components.clone(),
            architecture: Some(architecture.to_string()),
            keyring: debian.keyring.as_ref().map(|k| self.spec_dir.join(k)),
            allow_expired: false,
            no_updates: !debian.updates,
        })
    }

    /// Resolves the spec's Debian packages for one architecture afresh
    /// (preferring `keep`'s versions), imports them, and returns the lock
    /// section that pins the result.
    fn resolve_and_lock(
        &self,
        store: &Store,
        config: &ArchiveConfig,
        keep: HashMap<String, Version>,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<LockedDebian, BuildError> {
        let debian = self.request;
        let roots = debian
            .packages
            .iter()
            .map(|text| parse_request(text).map_err(|source| BuildError::SpecRequest { text: text.clone(), source }))
            .collect::<Result<Vec<_>, _>>()?;
        let mut kept: Vec<String> = keep.iter().map(|(n, v)| format!("{n}={v}")).collect();
        kept.sort();
        let options = ImportOptions { deb: DebOptions { keep_docs: debian.keep_docs }, compression };
        let mut key = kept.join(",");
        if debian.recommends {
            key.push_str(";recommends");
        }
        let report = import_closure(store, config, roots, &key, options, progress, |index, roots| {
            let request = bale_debian::solve::Request {
                index,
                architecture: config.architecture.clone(),
                roots,
                locked: keep.clone(),
            };
            if debian.recommends {
                bale_debian::solve::resolve_with_recommends(&request).map(|r| r.packages)
            } else {
                bale_debian::solve::resolve(&request).map(|r| r.packages)
            }
        })?;
        let packages = report
            .packages
            .iter()
            .zip(&report.selected)
            .map(|(imported, package)| LockedPackage {
                id: imported.id.clone(),
                content: imported.content_digest,
                component: package.component.clone(),
                suite: package.suite.clone(),
                stanza: package.to_stanza(),
            })
            .collect();
        Ok(LockedDebian {
            architecture: config.architecture.clone(),
            inputs: self.inputs(&config.architecture),
            codename: report.suite.codename().to_string(),
            release: report.suite.release_sha256,
            base: LockedBase { id: report.base.id.clone(), content: report.base.content_digest },
            packages,
        })
    }
}

impl Source for DebianSource<'_> {
    type Section = LockedDebian;
    type Keep = HashMap<String, Version>;

    fn name(&self) -> &'static str {
        SOURCE_NAME
    }

    fn section_architecture(section: &LockedDebian) -> &str {
        &section.architecture
    }

    fn is_current(&self, section: &LockedDebian) -> bool {
        section.inputs == self.inputs(&section.architecture)
    }

    fn lock(
        &self,
        store: &Store,
        architecture: &str,
        keep: Self::Keep,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<LockedDebian, BuildError> {
        let config = self.archive(architecture)?;
        self.resolve_and_lock(store, &config, keep, compression, progress)
    }

    fn install(
        &self,
        store: &Store,
        section: &LockedDebian,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<Vec<String>, BuildError> {
        let config = self.archive(&section.architecture)?;
        ids_from_lock(store, section, &config, self.request.keep_docs, compression, progress)
    }

    fn pins(section: &LockedDebian) -> Vec<(String, String)> {
        crate::source::pins_of_ids(section.packages.iter().map(|p| p.id.as_str()))
    }

    fn left_out(&self, section: &LockedDebian) -> Result<Vec<LeftOut>, BuildError> {
        let packages = section
            .packages
            .iter()
            .map(|p| BinaryPackage::from_stanza(&p.stanza, &p.component, "bale.lock"))
            .collect::<Result<Vec<_>, _>>()?;
        let ids: std::collections::HashMap<&str, &str> = section
            .packages
            .iter()
            .zip(&packages)
            .map(|(locked, package)| (package.name.as_str(), locked.id.as_str()))
            .collect();
        Ok(bale_debian::solve::left_out_recommends(&packages)
            .into_iter()
            .map(|(name, recommends)| LeftOut {
                package: ids.get(name.as_str()).map_or(name.clone(), |id| id.to_string()),
                recommends,
            })
            .collect())
    }

    fn keep_all_but(section: &LockedDebian, name: &str) -> Result<Option<Self::Keep>, BuildError> {
        let mut keep = HashMap::new();
        let mut found = false;
        for package in &section.packages {
            let p = BinaryPackage::from_stanza(&package.stanza, &package.component, "bale.lock")?;
            if p.name == name {
                found = true;
            } else {
                keep.insert(p.name, p.version);
            }
        }
        Ok(found.then_some(keep))
    }
}

/// What of a spec one architecture's Debian closure depends on: the
/// request (not the mirror, which may change without changing content).
/// The architecture is the spec's own value (null when the host's is
/// meant, where the section's `architecture` tells which), so a lock
/// written before locks had sections keeps its digest.
pub fn debian_inputs(spec: &Spec, architecture: &str) -> Digest {
    let declared = if spec.is_multi_architecture() {
        Some(architecture.to_string())
    } else {
        spec.declared_architectures().into_iter().next()
    };
    request_inputs(spec.debian.as_ref(), declared)
}

#[derive(Debug, Clone)]
enum DeclaredArchitecture {
    PerImage,
    One(Option<String>),
}

fn request_inputs(request: Option<&DebianRequest>, declared: Option<String>) -> Digest {
    let debian = request.map(|d| {
        let mut packages = d.packages.clone();
        packages.sort();
        let mut inputs = serde_json::json!({
            "suite": d.suite,
            "components": d.components,
            "architecture": declared,
            "packages": packages,
            "keepDocs": d.keep_docs,
        });
        // Only a change from the default counts, so locks written before
        // the setting existed stay valid.
        if !d.updates {
            inputs["updates"] = false.into();
        }
        if d.recommends {
            inputs["recommends"] = true.into();
        }
        inputs
    });
    sha256_bytes(serde_json::json!({ "debian": debian }).to_string().as_bytes())
}

/// The ids of exactly the locked packages, importing (by the locked .deb
/// sha256) any the store lacks; each must come out with its locked content.
fn ids_from_lock(
    store: &Store,
    lock: &LockedDebian,
    config: &ArchiveConfig,
    keep_docs: bool,
    compression: Compression,
    progress: &dyn Progress,
) -> Result<Vec<String>, BuildError> {
    let records = store.packages_by_id()?;
    let present = |id: &str, content| records.get(id).is_some_and(|r| r.content_digest == Some(content));
    let missing: Vec<&LockedPackage> = lock.packages.iter().filter(|p| !present(&p.id, p.content)).collect();
    let base_missing = !present(&lock.base.id, lock.base.content);
    if !missing.is_empty() || base_missing {
        // Only now is the archive needed: its InRelease is verified again,
        // and each .deb is fetched by the sha256 the lock pins.
        let suite = bale_debian::archive::open_release(config, progress).map_err(|source| BuildError::OpenRelease {
            mirror: config.mirror.clone(),
            suite: config.suite.clone(),
            source: Box::new(source),
        })?;
        // A .deb is fetched from the suite that listed it; another suite's
        // mirror may not have it, and would not have vouched for it.
        if let Some(orphan) =
            missing.iter().find(|p| !p.suite.is_empty() && !suite.all().any(|s| s.config.suite == p.suite))
        {
            return Err(BuildError::LockedSuiteNotRead { id: orphan.id.clone(), suite: orphan.suite.clone() });
        }
        let selected = missing
            .iter()
            .map(|locked| {
                BinaryPackage::from_stanza(&locked.stanza, &locked.component, "bale.lock")
                    .map(|package| BinaryPackage { suite: locked.suite.clone(), ..package })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let options = ImportOptions { deb: DebOptions { keep_docs }, compression };
        let imported = import(&suite, store, &selected, options, progress)?;
        for (got, want) in imported.iter().zip(&missing) {
            if got.content_digest != want.content {
                return Err(BuildError::ConvertedDifferently {
                    id: want.id.clone(),
                    got: got.content_digest,
                    want: want.content,
                });
            }
        }
        if base_missing {
            let base = merged_usr_base(&suite, store, options)?;
            if base.content_digest != lock.base.content {
                return Err(BuildError::BaseDifferently {
                    id: base.id,
                    got: base.content_digest,
                    want: lock.base.content,
                });
            }
        }
    }
    let mut ids: Vec<String> = lock.packages.iter().map(|p| p.id.clone()).collect();
    ids.push(lock.base.id.clone());
    Ok(ids)
}
