//! One Python distribution, one source: a distribution that the image
//! holds from Debian (a `python3-*` package's `.dist-info` or `.egg-info`
//! in `/usr/lib/python3/dist-packages`) and from PyPI would be two copies
//! on `sys.path`, the PyPI one silently shadowing Debian's. Refused,
//! naming both.

use std::collections::BTreeMap;

use bale_fileset::FileIndex;
use bale_store::Store;

use crate::BuildError;

/// Where Debian's python3 packages install distributions.
const DEBIAN_SITE: &str = "usr/lib/python3/dist-packages/";

pub(crate) fn check(store: &Store, ids: &[String]) -> Result<(), BuildError> {
    let from_pypi: BTreeMap<String, &String> = ids
        .iter()
        .filter(|id| id.starts_with("pypi:"))
        .filter_map(|id| {
            let parsed: bale_store::PackageId = id.parse().ok()?;
            Some((parsed.name, id))
        })
        .collect();
    if from_pypi.is_empty() {
        return Ok(());
    }
    for id in ids.iter().filter(|id| id.starts_with("debian:")) {
        let record = store.resolve(id)?;
        let (_, metadata) = store.load_package(&record)?;
        let index: FileIndex = store.read_json(&metadata.file_index.digest, &format!("the file index of {id}"))?;
        for entry in &index.entries {
            let Some(rest) = entry.path.strip_prefix(DEBIAN_SITE) else { continue };
            let Some(stem) = rest.strip_suffix(".dist-info").or_else(|| rest.strip_suffix(".egg-info")) else {
                continue;
            };
            if stem.contains('/') {
                continue;
            }
            let name = stem.split_once('-').map_or(stem, |(name, _)| name);
            let name = bale_pypi::metadata::normalize(name);
            if let Some(pypi) = from_pypi.get(&name) {
                return Err(BuildError::PythonTwice { distribution: name, debian: id.clone(), pypi: (*pypi).clone() });
            }
        }
    }
    Ok(())
}
