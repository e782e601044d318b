//! `bale store verify`: re-hash every blob and check every reference.

use std::fs;
use std::io;

use bale_fileset::{Digest, sha256_reader};
use bale_progress::Progress;
use serde::Serialize;

use crate::error::StoreError;
use crate::oci::Manifest;
use crate::package::PackageMetadata;
use crate::store::Store;

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub blobs_checked: u64,
    pub bytes_checked: u64,
    pub packages_checked: u64,
    pub problems: Vec<VerifyProblem>,
    /// Leftovers of interrupted writes: harmless, removed by `gc`.
    pub stale_temp_files: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum VerifyProblem {
    /// The blob's bytes do not hash to its name.
    Corrupt { digest: Digest, actual: Digest, path: String },
    /// A file in `blobs/sha256` whose name is not a digest.
    StrayFile { path: String },
    /// Something references a blob the store lacks.
    Missing { digest: Digest, referenced_by: String },
    /// A manifest or metadata document that cannot be read as what it should be.
    Unreadable { digest: Digest, referenced_by: String, error: String },
    /// (deep) The layer does not decompress to the package's content digest.
    ContentMismatch { package: String, layer: Digest, expected: Digest, actual: Digest },
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Re-hashes every blob and checks that every package's manifest,
    /// metadata, layer and file index are present, and that its manifest
    /// and metadata parse.
    ///
    /// With `deep`, every package layer is also decompressed and its
    /// canonical tar hashed against the metadata's content digest.
    pub fn verify(&self, deep: bool, progress: &dyn Progress) -> Result<VerifyReport, StoreError> {
        // Shared: writers may go on, but gc may not delete under us.
        let _session = self.lock_shared()?;
        let mut report = VerifyReport::default();
        let blobs_dir = self.blobs_dir();
        let mut files = Vec::new();
        for item in fs::read_dir(&blobs_dir).map_err(|e| StoreError::io(&blobs_dir, e))? {
            let item = item.map_err(|e| StoreError::io(&blobs_dir, e))?;
            let size = item.metadata().map(|m| m.len()).unwrap_or(0);
            files.push((item.path(), size));
        }
        files.sort();
        progress.phase("verifying", Some(files.iter().map(|(_, s)| s).sum()));
        let mut corrupt = std::collections::HashSet::new();
        for (path, size) in &files {
            let shown = path.display().to_string();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let Ok(expected) = format!("sha256:{name}").parse::<Digest>() else {
                report.problems.push(VerifyProblem::StrayFile { path: shown });
                continue;
            };
            let file = match fs::File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io(path, e)),
            };
            let (actual, bytes) = sha256_reader(file).map_err(|e| StoreError::io(path, e))?;
            report.blobs_checked += 1;
            report.bytes_checked += bytes;
            if actual != expected {
                corrupt.insert(expected);
                report.problems.push(VerifyProblem::Corrupt { digest: expected, actual, path: shown });
            }
            progress.advance(*size);
        }
        progress.finish_phase();
        for record in self.packages()? {
            report.packages_checked += 1;
            let check = |digest: Digest, report: &mut VerifyReport| {
                if !self.has_blob(&digest) {
                    report.problems.push(VerifyProblem::Missing { digest, referenced_by: record.id.clone() });
                    false
                } else {
                    !corrupt.contains(&digest)
                }
            };
            if !check(record.manifest.digest, &mut report) {
                continue;
            }
            let manifest: Manifest = match self.read_json(&record.manifest.digest, "manifest") {
                Ok(m) => m,
                Err(e) => {
                    report.problems.push(VerifyProblem::Unreadable {
                        digest: record.manifest.digest,
                        referenced_by: record.id.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            let config_ok = check(manifest.config.digest, &mut report);
            let mut layers_ok = true;
            for layer in &manifest.layers {
                layers_ok &= check(layer.digest, &mut report);
            }
            if !config_ok {
                continue;
            }
            let metadata: PackageMetadata = match self.read_metadata(&manifest.config.digest, "package metadata") {
                Ok(m) => m,
                Err(e) => {
                    report.problems.push(VerifyProblem::Unreadable {
                        digest: manifest.config.digest,
                        referenced_by: record.id.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            if deep
                && layers_ok
                && let Some(layer) = manifest.layers.first()
            {
                let hashed = self.open_layer(layer).and_then(|reader| {
                    sha256_reader(reader).map_err(|e| StoreError::io(self.blob_path(&layer.digest), e))
                });
                let actual = match hashed {
                    Ok((actual, _)) => actual,
                    Err(e) => {
                        report.problems.push(VerifyProblem::Unreadable {
                            digest: layer.digest,
                            referenced_by: record.id.clone(),
                            error: e.to_string(),
                        });
                        continue;
                    }
                };
                if actual != metadata.content.digest {
                    report.problems.push(VerifyProblem::ContentMismatch {
                        package: record.id.clone(),
                        layer: layer.digest,
                        expected: metadata.content.digest,
                        actual,
                    });
                }
            }
        }
        report.stale_temp_files = fs::read_dir(self.tmp_dir()).map(|d| d.count() as u64).unwrap_or(0);
        Ok(report)
    }
}
