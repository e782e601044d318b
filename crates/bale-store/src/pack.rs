//! Turning a directory or a tar into a package in the store.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::PathBuf;

use bale_fileset::{
    Compression, FILE_INDEX_MEDIA_TYPE, LayerSink, LayerSummary, Limits, Normalize, Plan, WriteSummary, sha256_reader,
    write_canonical,
};
use bale_progress::Progress;

use crate::error::StoreError;
use crate::id::{PackageId, validate_license};
use crate::oci::{self, Descriptor, MANIFEST_MEDIA_TYPE, Manifest};
use crate::package::{BlobRef, ContentInfo, PACKAGE_ARTIFACT_TYPE, PACKAGE_MEDIA_TYPE, PackageMetadata, Provenance};
use crate::store::Store;

#[derive(Debug, Clone)]
pub enum PackSource {
    Directory(PathBuf),
    /// A tar file, plain or gzip- or zstd-compressed.
    Tar(PathBuf),
}

#[derive(Debug, Clone)]
pub struct PackRequest {
    pub name: String,
    pub version: String,
    /// What the content runs on: `all` unless it holds code for one
    /// architecture, when an image for another must not take it.
    pub architecture: String,
    pub license: String,
    pub compression: Compression,
    pub normalize: Normalize,
    pub limits: Limits,
    /// Allow a different content under an id that is already stored.
    pub replace: bool,
}

#[derive(Debug, Clone)]
pub struct PackOutcome {
    pub id: String,
    pub metadata: PackageMetadata,
    pub manifest: Descriptor,
    pub layer: Descriptor,
    pub file_index: Descriptor,
    /// False when exactly this package was already in the store.
    pub new: bool,
}

/// Packs `source` into a package and records it in `store`.
///
/// Every blob is written to a temp file and renamed into place only after
/// its digest checks; the index is updated last, so an error or a kill at
/// any point leaves the store as it was (plus, at most, unreferenced blobs
/// for `gc`).
pub fn pack(
    store: &Store,
    source: &PackSource,
    request: &PackRequest,
    progress: &dyn Progress,
) -> Result<PackOutcome, StoreError> {
    let id = PackageId::new(None, &request.name, &request.architecture, &request.version)?;
    validate_license(&request.license)?;
    let _session = store.lock_shared()?;

    let (plan, provenance) = match source {
        PackSource::Directory(dir) => {
            (Plan::from_dir(dir, request.normalize, request.limits, progress)?, Provenance::Directory)
        }
        PackSource::Tar(path) => {
            let open = || File::open(path).map_err(|e| StoreError::io(path, e));
            let (sha256, _) = sha256_reader(open()?).map_err(|e| StoreError::io(path, e))?;
            let reader = decompressed(open()?, path)?;
            let plan = Plan::from_tar(reader, request.normalize, request.limits, &store.tmp_dir())?;
            (plan, Provenance::Tar { sha256 })
        }
    };

    let mut metadata = PackageMetadata::new(&id.name, &id.version);
    metadata.architecture = Some(id.architecture.clone());
    metadata.license = request.license.clone();
    metadata.provenance = provenance;
    store_plan(store, &plan, metadata, request.compression, request.replace, progress)
}

/// Writes `plan` as a package described by `metadata` (whose `content` and
/// `fileIndex` are filled in here) and records it in the index. The caller
/// holds the store lock shared.
///
/// Every blob is written to a temp file and renamed into place only after
/// its digest checks; the index is updated last, so an error or a kill at
/// any point leaves the store as it was (plus, at most, unreferenced blobs
/// for `gc`).
pub fn store_plan(
    store: &Store,
    plan: &Plan,
    metadata: PackageMetadata,
    compression: Compression,
    replace: bool,
    progress: &dyn Progress,
) -> Result<PackOutcome, StoreError> {
    store_plan_with(store, plan, metadata, compression, replace, &[], progress)
}

/// [`store_plan`], with more blobs already in the store listed after the
/// content and the file index (a recipe's own files, so the package
/// carries what rebuilds it). They travel with the package wherever it is
/// pushed, and keep it from being collected apart from them.
pub fn store_plan_with(
    store: &Store,
    plan: &Plan,
    mut metadata: PackageMetadata,
    compression: Compression,
    replace: bool,
    attachments: &[Descriptor],
    progress: &dyn Progress,
) -> Result<PackOutcome, StoreError> {
    let id =
        PackageId::new(metadata.origin.clone(), &metadata.name, metadata.architecture_or_all(), &metadata.version)?;
    validate_license(&metadata.license)?;
    let (layer, written) = store_layer(store, plan, compression, progress)?;

    let index_bytes = written.file_index.to_json();
    let index_digest = store.put_bytes(&index_bytes)?;
    metadata.content = ContentInfo {
        digest: layer.content_digest,
        size: layer.content_size,
        files: written.file_index.file_count(),
        entries: written.entries,
    };
    metadata.file_index = BlobRef { digest: index_digest, size: index_bytes.len() as u64 };
    let config_bytes = oci::to_json(&metadata);
    let config_digest = store.put_bytes(&config_bytes)?;

    let layer_descriptor = Descriptor::new(compression.media_type(), layer.blob_digest, layer.blob_size);
    let index_descriptor = Descriptor::new(FILE_INDEX_MEDIA_TYPE, index_digest, index_bytes.len() as u64);
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.to_string(),
        artifact_type: Some(PACKAGE_ARTIFACT_TYPE.to_string()),
        config: Descriptor::new(PACKAGE_MEDIA_TYPE, config_digest, config_bytes.len() as u64),
        layers: [layer_descriptor.clone(), index_descriptor.clone()]
            .into_iter()
            .chain(attachments.iter().cloned())
            .collect(),
        subject: None,
        annotations: BTreeMap::from([
            ("org.opencontainers.image.title".to_string(), id.qualified_name()),
            ("org.opencontainers.image.version".to_string(), id.version.clone()),
        ]),
    };
    let manifest_bytes = oci::to_json(&manifest);
    let manifest_digest = store.put_bytes(&manifest_bytes)?;
    let mut manifest_descriptor = Descriptor::new(MANIFEST_MEDIA_TYPE, manifest_digest, manifest_bytes.len() as u64);
    manifest_descriptor.artifact_type = Some(PACKAGE_ARTIFACT_TYPE.to_string());
    let new = store.add_package(&id.to_string(), manifest_descriptor.clone(), layer.content_digest, replace)?;
    Ok(PackOutcome {
        id: id.to_string(),
        metadata,
        manifest: manifest_descriptor,
        layer: layer_descriptor,
        file_index: index_descriptor,
        new,
    })
}

/// Writes `plan` as a canonical tar into a layer blob of the store, and
/// returns its digests and what the writer saw (file index, entry count).
pub fn store_layer(
    store: &Store,
    plan: &Plan,
    compression: Compression,
    progress: &dyn Progress,
) -> Result<(LayerSummary, WriteSummary), StoreError> {
    // The sink hashes the compressed bytes on their way into the blob.
    let mut sink =
        LayerSink::new(store.prehashed_blob_writer()?, compression).map_err(|e| StoreError::io(store.tmp_dir(), e))?;
    let written = write_canonical(plan, &mut sink, progress)?;
    let (blob, layer) = sink.finish().map_err(|e| StoreError::io(store.tmp_dir(), e))?;
    blob.commit(Some(layer.blob_digest))?;
    Ok((layer, written))
}

/// Opens a tar file, undoing gzip or zstd compression (told by magic bytes).
fn decompressed(mut file: File, path: &std::path::Path) -> Result<Box<dyn Read>, StoreError> {
    let mut magic = [0u8; 6];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| StoreError::io(path, e))?;
    file.rewind().map_err(|e| StoreError::io(path, e))?;
    let magic = &magic[..n];
    let reader = BufReader::with_capacity(256 * 1024, file);
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(reader).map_err(|e| StoreError::io(path, e))?)
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(StoreError::UnsupportedCompression { path: path.to_path_buf(), format: "xz" });
    } else if magic.starts_with(b"BZh") {
        return Err(StoreError::UnsupportedCompression { path: path.to_path_buf(), format: "bzip2" });
    } else {
        Box::new(reader)
    })
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
