//! Writing an image out as an OCI image layout directory, blobs hard-linked
//! from the store where the filesystem allows (copied otherwise).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bale_store::oci::{self, Descriptor, Index};
use bale_store::{REF_NAME_ANNOTATION, Store};

use crate::compose::Image;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} exists and is not an OCI layout bale may replace; choose another --output", path.display())]
    Occupied { path: PathBuf },
    #[error("{} holds no {what}", path.display())]
    Missing { path: PathBuf, what: String },
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io { path: path.to_path_buf(), source }
}

/// Writes `image` to `dir` as an OCI layout tagged `tag`. The layout is
/// built next to `dir` and renamed into place, so `dir` is never half
/// written; an existing OCI layout there is replaced.
pub fn write_layout(store: &Store, image: &Image, dir: &Path, tag: &str) -> Result<(), LayoutError> {
    if dir.exists() {
        let is_layout = dir.join("oci-layout").is_file();
        let empty = fs::read_dir(dir).map_err(io_err(dir))?.next().is_none();
        if !is_layout && !empty {
            return Err(LayoutError::Occupied { path: dir.to_path_buf() });
        }
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    let staging = parent.join(format!(".{name}.bale-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let result = fill(store, image, &staging, tag).and_then(|()| {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(io_err(dir))?;
        }
        fs::rename(&staging, dir).map_err(io_err(dir))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

/// Writes `image` as an oci-archive: the same layout, as one tar file
/// (canonical, uncompressed, so the archive is byte-for-byte reproducible).
/// Written to a temp file beside `path` and renamed into place.
pub fn write_archive(store: &Store, image: &Image, path: &Path, tag: &str) -> Result<(), LayoutError> {
    use bale_fileset::{Content, Entry, EntryKind, Limits, Normalize, Plan};
    if path.is_dir() {
        return Err(LayoutError::Occupied { path: path.to_path_buf() });
    }
    let mut plan = Plan::new(Normalize::default(), Limits::default());
    let file = |name: &str, size: u64| {
        let mut entry = Entry::directory(name);
        entry.kind = EntryKind::File { size };
        entry.mode = 0o644;
        entry
    };
    let index = index_json(image, tag);
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec();
    let fileset_err =
        |e: bale_fileset::FilesetError| LayoutError::Io { path: path.to_path_buf(), source: io::Error::other(e) };
    plan.insert(file("oci-layout", layout.len() as u64), Content::Bytes(layout)).map_err(fileset_err)?;
    plan.insert(file("index.json", index.len() as u64), Content::Bytes(index)).map_err(fileset_err)?;
    for digest in blob_digests(image) {
        let blob = store.blob_path(&digest);
        let size = fs::metadata(&blob).map_err(io_err(&blob))?.len();
        let name = format!("blobs/sha256/{}", digest.hex());
        if plan.get(&name).is_none() {
            plan.insert(file(&name, size), Content::Path(blob)).map_err(fileset_err)?;
        }
    }
    let plan = plan.seal().map_err(fileset_err)?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "image.tar".into());
    let temp = parent.join(format!(".{name}.bale-{}", std::process::id()));
    let write = || -> Result<(), LayoutError> {
        let mut out = io::BufWriter::new(fs::File::create(&temp).map_err(io_err(&temp))?);
        bale_fileset::write_canonical(&plan, &mut out, &bale_progress::NoProgress).map_err(fileset_err)?;
        let file = out.into_inner().map_err(|e| LayoutError::Io { path: temp.clone(), source: e.into_error() })?;
        file.sync_all().map_err(io_err(&temp))?;
        fs::rename(&temp, path).map_err(io_err(path))
    };
    let result = write();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn blob_digests(image: &Image) -> Vec<bale_fileset::Digest> {
    let mut digests = vec![image.manifest.digest, image.config.digest];
    digests.extend(image.layers.iter().map(|l| l.descriptor.digest));
    digests.extend(image.referrer_blobs.iter().copied());
    digests
}

fn index_json(image: &Image, tag: &str) -> Vec<u8> {
    let mut descriptor: Descriptor = image.manifest.clone();
    descriptor.annotations.insert(REF_NAME_ANNOTATION.into(), tag.into());
    let mut manifests = vec![descriptor];
    manifests.extend(image.referrers.iter().cloned());
    oci::to_json(&Index { manifests, ..Index::default() })
}

/// Writes an image that is in the store (pulled) as an OCI layout: its
/// manifest, config and layers, hard-linked from the store.
pub fn write_pulled_layout(
    store: &Store,
    manifest_digest: &bale_fileset::Digest,
    manifest_size: u64,
    dir: &Path,
    tag: &str,
) -> Result<(), LayoutError> {
    use bale_store::oci::Manifest;
    let manifest: Manifest = store
        .read_json(manifest_digest, "the pulled manifest")
        .map_err(|e| LayoutError::Io { path: store.blob_path(manifest_digest), source: io::Error::other(e) })?;
    let image = Image {
        manifest: Descriptor::new(bale_store::MANIFEST_MEDIA_TYPE, *manifest_digest, manifest_size),
        config: manifest.config.clone(),
        layers: manifest
            .layers
            .iter()
            .map(|l| crate::compose::ImageLayer {
                package: None,
                merged: Vec::new(),
                descriptor: l.clone(),
                diff_id: l.digest,
            })
            .collect(),
        referrers: Vec::new(),
        referrer_blobs: Vec::new(),
    };
    write_layout(store, &image, dir, tag)
}

/// Reads, from an OCI layout, the referrer of the image tagged `tag` whose
/// artifact type is `artifact_type` (an SBOM written by `bale build`), and
/// returns its content.
pub fn read_referrer(dir: &Path, tag: &str, artifact_type: &str) -> Result<Vec<u8>, LayoutError> {
    use bale_store::oci::Manifest;
    let read_json = |path: PathBuf| -> Result<serde_json::Value, LayoutError> {
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| LayoutError::Io { path, source: io::Error::other(e) })
    };
    let blob = |digest: &bale_fileset::Digest| dir.join("blobs/sha256").join(digest.hex());
    let index: Index = serde_json::from_value(read_json(dir.join("index.json"))?)
        .map_err(|e| LayoutError::Io { path: dir.join("index.json"), source: io::Error::other(e) })?;
    let image = index
        .manifests
        .iter()
        .find(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some(tag))
        .ok_or_else(|| LayoutError::Missing { path: dir.to_path_buf(), what: format!("an image tagged {tag:?}") })?;
    for candidate in index.manifests.iter().filter(|d| d.artifact_type.as_deref() == Some(artifact_type)) {
        let manifest: Manifest = serde_json::from_value(read_json(blob(&candidate.digest))?)
            .map_err(|e| LayoutError::Io { path: blob(&candidate.digest), source: io::Error::other(e) })?;
        if manifest.subject.as_ref().is_some_and(|s| s.digest == image.digest)
            && let Some(layer) = manifest.layers.first()
        {
            let path = blob(&layer.digest);
            let bytes = fs::read(&path).map_err(io_err(&path))?;
            if bale_fileset::sha256_bytes(&bytes) != layer.digest {
                return Err(LayoutError::Missing { path, what: "an intact blob (its digest does not match)".into() });
            }
            return Ok(bytes);
        }
    }
    Err(LayoutError::Missing {
        path: dir.to_path_buf(),
        what: format!("a {artifact_type} referrer of the image tagged {tag:?}"),
    })
}

fn fill(store: &Store, image: &Image, dir: &Path, tag: &str) -> Result<(), LayoutError> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
    for digest in blob_digests(image) {
        let from = store.blob_path(&digest);
        let to = blobs.join(digest.hex());
        if to.exists() {
            continue;
        }
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(io_err(&from))?;
        }
    }
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err(dir))?;
    fs::write(dir.join("index.json"), index_json(image, tag)).map_err(io_err(dir))?;
    Ok(())
}
