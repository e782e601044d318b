//! Which repository of a registry holds a blob, as far as this store saw
//! (its pushes and pulls), so a push to another repository of the same
//! registry asks for a cross-repository mount instead of uploading. Only
//! a hint: a wrong entry costs one refused mount and an ordinary upload.

use std::collections::BTreeMap;

use bale_fileset::{Digest, sha256_bytes};
use bale_store::Store;

const NAMESPACE: &str = "registry-blobs";
/// Entries kept per registry; the oldest-named go first beyond it.
const MAX_ENTRIES: usize = 100_000;

fn key(registry: &str) -> Digest {
    sha256_bytes(registry.as_bytes())
}

/// What the store knows of `registry`: blob → a repository holding it.
pub fn known(store: &Store, registry: &str) -> BTreeMap<Digest, String> {
    store
        .read_cache(NAMESPACE, &key(registry))
        .and_then(|bytes| serde_json::from_slice::<BTreeMap<Digest, String>>(&bytes).ok())
        .unwrap_or_default()
}

/// Notes that `repository` of `registry` holds `blobs`.
pub fn record(store: &Store, registry: &str, repository: &str, blobs: &[Digest]) {
    let mut map = known(store, registry);
    for blob in blobs {
        map.insert(*blob, repository.to_string());
    }
    while map.len() > MAX_ENTRIES {
        map.pop_first();
    }
    if let Ok(bytes) = serde_json::to_vec(&map) {
        // A hint that is not written only costs a later upload.
        let _ = store.write_cache(NAMESPACE, &key(registry), &bytes);
    }
}
