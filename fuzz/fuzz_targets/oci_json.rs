//! OCI manifests, indexes and bale's package metadata as a registry or a
//! layout hands them over.
#![no_main]

use bale_store::oci::{Index, Manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = serde_json::from_slice::<Manifest>(data) {
        let _ = bale_store::oci::to_json(&manifest);
    }
    if let Ok(index) = serde_json::from_slice::<Index>(data) {
        let _ = bale_store::oci::to_json(&index);
    }
    let _ = serde_json::from_slice::<bale_store::PackageMetadata>(data);
    let _ = serde_json::from_slice::<bale_fileset::FileIndex>(data);
});
