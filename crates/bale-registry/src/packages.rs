//! bale packages as artifacts of their own on a registry, so a lock keeps
//! working after the archive that first gave its packages moved on
//! (docs/registry.md#packages): each package at `PREFIX/ORIGIN/NAME`,
//! tagged by its content digest (`c-HEX`) and readably
//! (`ARCH-VERSION`), its signatures as referrers.

use bale_fileset::Digest;
use bale_store::oci::Manifest;
use bale_store::{Descriptor, PACKAGE_ARTIFACT_TYPE, PackageRecord, Store, StoreError};

use crate::client::{Registry, RegistryError};
use crate::reference::Reference;

/// The repository a package is kept in under `prefix` (`host/packages`):
/// `debian:bookworm/libssl3` → `PREFIX/debian/bookworm/libssl3`.
pub fn repository_of(prefix: &str, id: &bale_store::PackageId) -> String {
    let mut path = prefix.trim_end_matches('/').to_string();
    let parts = id.origin.iter().flat_map(|o| o.split([':', '/'])).chain(id.name.split('/'));
    for part in parts {
        path.push('/');
        path.push_str(&component(part));
    }
    path
}

/// A name part as a repository path component, which holds only
/// `[a-z0-9._-]`: any other byte becomes `-xHHx` (`libstdc++6` →
/// `libstdc-x2bx-x2bx6`), so the mapping stays one to one.
fn component(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for b in part.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("-x{b:02x}x"));
        }
    }
    out
}

/// The tag a package's content is found by.
pub fn content_tag(content: &Digest) -> String {
    format!("c-{}", content.hex())
}

/// A readable tag: `amd64-3.0.22-1_deb12u2` (characters a tag cannot hold
/// become `_`).
pub fn readable_tag(id: &bale_store::PackageId) -> String {
    let text = format!("{}-{}", id.architecture, id.version);
    let tag: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    tag.chars().take(128).collect()
}

/// What pushing a package did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackagePush {
    pub id: String,
    pub reference: String,
    pub manifest: Digest,
    pub content: Digest,
    pub blobs_sent: u64,
    pub bytes_sent: u64,
    pub referrers: u64,
}

/// Pushes the package `record` (its manifest, metadata, layer, file index
/// and signatures) under `prefix` (`host[:port]/path`).
pub fn push_package(store: &Store, record: &PackageRecord, prefix: &str) -> Result<PackagePush, RegistryError> {
    let id: bale_store::PackageId = record.id.parse()?;
    let content = record.content_digest.ok_or_else(|| RegistryError::Unsupported(record.id.clone()))?;
    let repository = repository_of(prefix, &id);
    let target: Reference = format!("{repository}:{}", content_tag(&content))
        .parse()
        .map_err(|e: crate::ReferenceError| RegistryError::Unsupported(e.to_string()))?;
    let mut registry = Registry::new(&target);
    let mut report = PackagePush {
        id: record.id.clone(),
        reference: target.to_string(),
        manifest: record.manifest.digest,
        content,
        blobs_sent: 0,
        bytes_sent: 0,
        referrers: 0,
    };
    let _session = store.lock_shared()?;
    let mut manifests = vec![(record.manifest.clone(), true)];
    manifests.extend(store.package_referrers(record)?.into_iter().map(|d| (d, false)));
    for (descriptor, is_package) in &manifests {
        let bytes = store.read_blob(&descriptor.digest)?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|source| StoreError::BadJson {
            what: format!("the manifest of {}", record.id),
            path: store.blob_path(&descriptor.digest),
            source,
        })?;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if registry.has_blob(&blob.digest)? {
                continue;
            }
            let path = store.blob_path(&blob.digest);
            let open = || std::fs::File::open(&path).map_err(|source| StoreError::Io { path: path.clone(), source });
            registry.put_blob(&blob.digest, &open, blob.size, None)?;
            report.blobs_sent += 1;
            report.bytes_sent += blob.size;
        }
        let media_type = bale_store::MANIFEST_MEDIA_TYPE;
        if *is_package {
            registry.put_manifest(&content_tag(&content), media_type, &bytes)?;
            registry.put_manifest(&readable_tag(&id), media_type, &bytes)?;
        } else {
            registry.put_manifest(&descriptor.digest.to_string(), media_type, &bytes)?;
            report.referrers += 1;
        }
        report.bytes_sent += bytes.len() as u64;
    }
    Ok(report)
}

/// Fetches the package `id` with content `content` from under `prefix`
/// into the store, every blob held to its digest and the layer to the
/// content digest, before the store lists it.
pub fn pull_package(store: &Store, prefix: &str, id: &str, content: &Digest) -> Result<String, RegistryError> {
    let parsed: bale_store::PackageId = id.parse()?;
    let reference = format!("{}:{}", repository_of(prefix, &parsed), content_tag(content));
    let source: Reference =
        reference.parse().map_err(|e: crate::ReferenceError| RegistryError::Unsupported(e.to_string()))?;
    let mut registry = Registry::new(&source);
    let Some((bytes, digest, _)) = registry.try_get_manifest(&source.reference)? else {
        return Err(RegistryError::Refused { reference, reason: "the registry does not have it".into() });
    };
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| RegistryError::Refused { reference: reference.clone(), reason: e.to_string() })?;
    if manifest.artifact_type.as_deref() != Some(PACKAGE_ARTIFACT_TYPE) {
        return Err(RegistryError::Refused { reference, reason: "it is not a bale package".into() });
    }
    let _session = store.lock_shared()?;
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        registry.get_blob(&blob.digest, blob.size, store)?;
    }
    let stored = store.put_bytes(&bytes)?;
    let metadata = store.read_metadata(&manifest.config.digest, "package metadata")?;
    let refuse = |reason: String| RegistryError::Refused { reference: reference.clone(), reason };
    if metadata.id() != id {
        return Err(refuse(format!("it is {}, not {id}", metadata.id())));
    }
    if metadata.content.digest != *content {
        return Err(refuse(format!("its metadata names content {}, not {content}", metadata.content.digest)));
    }
    // The layer itself must unpack to the pinned content, whatever the
    // metadata claims.
    let layer = manifest.layers.first().ok_or_else(|| refuse("it has no layer".into()))?;
    let (actual, _) =
        bale_fileset::sha256_reader(store.open_layer(layer)?).map_err(|e| refuse(format!("its layer: {e}")))?;
    if actual != *content {
        return Err(refuse(format!("its layer unpacks to {actual}, not {content}")));
    }
    let mut descriptor = Descriptor::new(bale_store::MANIFEST_MEDIA_TYPE, stored, bytes.len() as u64);
    descriptor.artifact_type = Some(PACKAGE_ARTIFACT_TYPE.to_string());
    debug_assert_eq!(stored, digest);
    store.add_package(id, descriptor, *content, false)?;
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_and_tags_hold_only_what_registries_take() {
        let id: bale_store::PackageId = "debian:bookworm/libstdc++6:amd64@12.2.0-14+deb12u1".parse().unwrap();
        assert_eq!(repository_of("host/packages/", &id), "host/packages/debian/bookworm/libstdc-x2bx-x2bx6");
        assert_eq!(readable_tag(&id), "amd64-12.2.0-14_deb12u1");
        let scoped: bale_store::PackageId = "npm:registry/scope/util:all@1.0.1".parse().unwrap();
        assert_eq!(repository_of("h/p", &scoped), "h/p/npm/registry/scope/util");
        let local: bale_store::PackageId = "example.com/busybox-root:all@1".parse().unwrap();
        assert_eq!(repository_of("h/p", &local), "h/p/example.com/busybox-root");
    }
}
