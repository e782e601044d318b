//! The store as a [`Source`]: the spec's `packages`, bale packages already
//! in the store (made by `bale make` or `bale pack`, or pulled), each
//! pinned in the lock by id and content digest. Nothing is solved: a
//! reference names one package.

use bale_fileset::{Compression, Digest, sha256_bytes};
use bale_image::Spec;
use bale_progress::Progress;
use bale_store::Store;
use serde::{Deserialize, Serialize};

use crate::BuildError;
use crate::source::{LeftOut, Source};

pub const SOURCE_NAME: &str = "store";

/// The spec's `packages`, as a source.
#[derive(Debug)]
pub struct StoreSource<'a> {
    references: &'a [String],
    multi: bool,
}

/// One architecture's pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedStore {
    pub architecture: String,
    /// Digest of the request (the sorted references).
    pub inputs: Digest,
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedStorePackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedStorePackage {
    pub reference: String,
    pub id: String,
    pub content: Digest,
}

impl<'a> StoreSource<'a> {
    /// The spec's store packages, if it lists any.
    pub fn of(spec: &'a Spec) -> Option<Self> {
        (!spec.packages.is_empty()).then_some(Self { references: &spec.packages, multi: spec.is_multi_architecture() })
    }

    fn inputs(&self, architecture: &str) -> Digest {
        let mut references = self.references.to_vec();
        references.sort();
        let architecture = self.multi.then_some(architecture);
        sha256_bytes(serde_json::json!({ "store": references, "architecture": architecture }).to_string().as_bytes())
    }
}

impl Source for StoreSource<'_> {
    type Section = LockedStore;
    type Keep = ();

    fn name(&self) -> &'static str {
        SOURCE_NAME
    }

    fn section_architecture(section: &LockedStore) -> &str {
        &section.architecture
    }

    fn is_current(&self, section: &LockedStore) -> bool {
        section.inputs == self.inputs(&section.architecture)
    }

    fn lock(
        &self,
        store: &Store,
        architecture: &str,
        _keep: (),
        _compression: Compression,
        _progress: &dyn Progress,
    ) -> Result<LockedStore, BuildError> {
        let mut packages = Vec::new();
        for reference in self.references {
            let record = store
                .resolve(reference)
                .map_err(|source| BuildError::StorePackage { reference: reference.clone(), source })?;
            let id: bale_store::PackageId = record
                .id
                .parse()
                .map_err(|source| BuildError::StorePackage { reference: reference.clone(), source })?;
            if !bale_store::runs_on(&id.architecture, architecture) {
                return Err(BuildError::StorePackageArchitecture {
                    reference: reference.clone(),
                    id: record.id.clone(),
                    architecture: architecture.to_string(),
                });
            }
            let content = record.content_digest.ok_or_else(|| BuildError::StorePackage {
                reference: reference.clone(),
                source: bale_store::StoreError::NotFound { reference: reference.clone() },
            })?;
            packages.push(LockedStorePackage { reference: reference.clone(), id: record.id, content });
        }
        packages.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(LockedStore { architecture: architecture.to_string(), inputs: self.inputs(architecture), packages })
    }

    fn install(
        &self,
        store: &Store,
        section: &LockedStore,
        _compression: Compression,
        _progress: &dyn Progress,
    ) -> Result<Vec<String>, BuildError> {
        let records = store.packages_by_id()?;
        section
            .packages
            .iter()
            .map(|pinned| match records.get(&pinned.id).and_then(|r| r.content_digest) {
                Some(content) if content == pinned.content => Ok(pinned.id.clone()),
                found => Err(BuildError::StorePackageChanged {
                    id: pinned.id.clone(),
                    want: pinned.content,
                    got: found.map_or_else(|| "nothing".into(), |d| d.to_string()),
                }),
            })
            .collect()
    }

    fn pins(section: &LockedStore) -> Vec<(String, String)> {
        crate::source::pins_of_ids(section.packages.iter().map(|p| p.id.as_str()))
    }

    fn left_out(&self, _section: &LockedStore) -> Result<Vec<LeftOut>, BuildError> {
        Ok(Vec::new())
    }

    fn keep_all_but(section: &LockedStore, name: &str) -> Result<Option<()>, BuildError> {
        // `bale update example.com/hello` names hello, not hello-extra.
        let names = |text: &str| {
            text == name || text.strip_prefix(name).is_some_and(|rest| rest.starts_with(':') || rest.starts_with('@'))
        };
        Ok(section.packages.iter().any(|p| names(&p.reference) || names(&p.id)).then_some(()))
    }
}
