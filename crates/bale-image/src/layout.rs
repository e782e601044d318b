//! Writing an image out as an OCI image layout directory, blobs hard-linked
//! from the store where the filesystem allows (copied otherwise).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bale_fileset::safe_fs;
use bale_store::oci::{self, Descriptor, Index};
use bale_store::{REF_NAME_ANNOTATION, Store};

use crate::compose::Image;
use crate::platform::Platform;

/// What a layout holds at its tag: one image, or an image index of one
/// image per platform; with every blob that needs and the referrers (SBOMs)
/// of each image.
#[derive(Debug, Clone)]
pub struct LayoutContent {
    /// The image manifest or the image index the tag names.
    pub top: Descriptor,
    pub blobs: Vec<bale_fileset::Digest>,
    pub referrers: Vec<Descriptor>,
}

impl From<&Image> for LayoutContent {
    fn from(image: &Image) -> Self {
        let mut blobs = vec![image.manifest.digest, image.config.digest];
        blobs.extend(image.layers.iter().map(|l| l.descriptor.digest));
        blobs.extend(image.referrer_blobs.iter().copied());
        Self { top: image.manifest.clone(), blobs, referrers: image.referrers.clone() }
    }
}

/// An OCI image index in the store over `images`, one per platform, in
/// the order given.
#[derive(Debug, Clone)]
pub struct ImageIndex {
    pub descriptor: Descriptor,
    pub images: Vec<Image>,
}

impl ImageIndex {
    pub fn new(store: &Store, images: Vec<Image>) -> Result<Self, bale_store::StoreError> {
        let manifests = images
            .iter()
            .map(|image| {
                let mut descriptor = image.manifest.clone();
                descriptor.platform = Some(image.platform.clone());
                descriptor
            })
            .collect();
        let bytes = oci::to_json(&Index { manifests, ..Index::default() });
        let digest = store.put_bytes(&bytes)?;
        let descriptor = Descriptor::new(bale_store::INDEX_MEDIA_TYPE, digest, bytes.len() as u64);
        Ok(Self { descriptor, images })
    }

    pub fn content(&self) -> LayoutContent {
        let mut content = LayoutContent { top: self.descriptor.clone(), blobs: Vec::new(), referrers: Vec::new() };
        content.blobs.push(self.descriptor.digest);
        for image in &self.images {
            let one = LayoutContent::from(image);
            content.blobs.extend(one.blobs);
            content.referrers.extend(one.referrers);
        }
        content
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} exists and is not an OCI layout bale may replace; choose another --output", path.display())]
    Occupied { path: PathBuf },
    #[error("{} does not hold {what}", path.display())]
    Missing { path: PathBuf, what: String },
    #[error(transparent)]
    Store(#[from] bale_store::StoreError),
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io { path: path.to_path_buf(), source }
}

/// Writes `image` to `dir` as an OCI layout tagged `tag`. The layout is
/// built in a new directory with an unguessable name beside `dir` and
/// swapped into place, so `dir` is never half written and nothing planted
/// beside it is written through; an existing OCI layout there is replaced.
pub fn write_layout(store: &Store, image: &LayoutContent, dir: &Path, tag: &str) -> Result<(), LayoutError> {
    store.refuse_inside(dir)?;
    let (parent, name) = safe_fs::open_parent(dir).map_err(io_err(dir))?;
    let replace = match parent.entry_meta(&name) {
        Ok(_) if parent.open_dir(&name).is_ok_and(|d| replaceable(&d)) => true,
        Ok(_) => return Err(LayoutError::Occupied { path: dir.to_path_buf() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(LayoutError::Io { path: dir.to_path_buf(), source: e }),
    };
    let (staging, stage) = parent.create_temp_dir(&name, 0o755).map_err(io_err(parent.path()))?;
    let stage_id = stage.meta().map_err(io_err(dir))?.identity;
    // Removes a directory bale wrote or checked, through its handle, and
    // then its name only if that still names the same directory: the
    // parent may be another user's, who can rename things into place.
    let discard = |handle: &safe_fs::Dir, identity| {
        let _ = handle.remove_contents();
        let _ = parent.remove_empty_dir(&staging, identity);
    };
    if let Err(e) = fill(store, image, &stage, tag) {
        discard(&stage, stage_id);
        return Err(e);
    }
    if !replace {
        return parent.rename_noreplace(&staging, &name).map_err(|e| {
            discard(&stage, stage_id);
            match e.kind() {
                io::ErrorKind::AlreadyExists => LayoutError::Occupied { path: dir.to_path_buf() },
                _ => LayoutError::Io { path: dir.to_path_buf(), source: e },
            }
        });
    }
    if let Err(e) = parent.exchange(&staging, &name) {
        // Filesystems without RENAME_EXCHANGE: move the old layout aside
        // first; `dir` is missing for a moment, never half written.
        let fallback = (|| {
            if e.kind() != io::ErrorKind::InvalidInput {
                return Err(e);
            }
            let (aside, _) = parent.create_temp_dir(&name, 0o700)?;
            parent.rename(&name, &aside)?;
            parent.rename_noreplace(&staging, &name)?;
            parent.rename(&aside, &staging)
        })();
        if let Err(e) = fallback {
            discard(&stage, stage_id);
            return Err(LayoutError::Io { path: dir.to_path_buf(), source: e });
        }
    }
    // What was swapped out must still be what was checked; if another
    // process put something else there meanwhile, put it back.
    let old = parent.open_dir(&staging).ok().filter(|d| d.meta().is_ok_and(|m| m.identity != stage_id));
    match old {
        Some(old) if replaceable(&old) => {
            if let Ok(meta) = old.meta() {
                discard(&old, meta.identity);
            }
            Ok(())
        }
        _ => {
            let _ = parent.exchange(&staging, &name);
            discard(&stage, stage_id);
            Err(LayoutError::Occupied { path: dir.to_path_buf() })
        }
    }
}

/// Is `dir` an empty directory or an OCI layout?
fn replaceable(dir: &safe_fs::Dir) -> bool {
    let Ok(names) = dir.names() else { return false };
    names.is_empty() || dir.entry_meta("oci-layout").is_ok_and(|m| m.kind == safe_fs::Kind::File)
}

/// Writes `image` as an oci-archive: the same layout, as one tar file
/// (canonical, uncompressed, so the archive is byte-for-byte reproducible).
/// Written to a new file with an unguessable name beside `path` and renamed
/// into place (a link at `path` is replaced, never written through).
pub fn write_archive(store: &Store, image: &LayoutContent, path: &Path, tag: &str) -> Result<(), LayoutError> {
    store.refuse_inside(path)?;
    use bale_fileset::{Content, Entry, EntryKind, Limits, Normalize, Plan};
    let (parent, name) = safe_fs::open_parent(path).map_err(io_err(path))?;
    if parent.entry_meta(&name).is_ok_and(|m| m.kind == safe_fs::Kind::Directory) {
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
    let layout = OCI_LAYOUT.to_vec();
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
    let (temp, file) = parent.create_temp(&name, 0o644).map_err(io_err(parent.path()))?;
    let write = || -> Result<(), LayoutError> {
        let mut out = io::BufWriter::new(file);
        bale_fileset::write_canonical(&plan, &mut out, &bale_progress::NoProgress).map_err(fileset_err)?;
        let file =
            out.into_inner().map_err(|e| LayoutError::Io { path: path.to_path_buf(), source: e.into_error() })?;
        file.sync_all().map_err(io_err(path))?;
        parent.rename(&temp, &name).map_err(io_err(path))
    };
    let result = write();
    if result.is_err() {
        let _ = parent.remove_file(&temp);
    }
    result
}

fn blob_digests(image: &LayoutContent) -> Vec<bale_fileset::Digest> {
    image.blobs.clone()
}

fn index_json(image: &LayoutContent, tag: &str) -> Vec<u8> {
    let mut descriptor: Descriptor = image.top.clone();
    descriptor.annotations.insert(REF_NAME_ANNOTATION.into(), tag.into());
    let mut manifests = vec![descriptor];
    manifests.extend(image.referrers.iter().cloned());
    oci::to_json(&Index { manifests, ..Index::default() })
}

/// Writes an image or image index that is in the store (pulled) as an
/// OCI layout: its manifests, configs and layers, hard-linked from the
/// store.
pub fn write_pulled_layout(
    store: &Store,
    top: &Descriptor,
    referrers: &[Descriptor],
    dir: &Path,
    tag: &str,
) -> Result<(), LayoutError> {
    use bale_store::oci::Manifest;
    let read_err = |digest: &bale_fileset::Digest| {
        let path = store.blob_path(digest);
        move |e: bale_store::StoreError| LayoutError::Io { path, source: io::Error::other(e) }
    };
    let manifests: Vec<Descriptor> = if top.media_type == bale_store::INDEX_MEDIA_TYPE {
        let index: Index = store.read_json(&top.digest, "the pulled image index").map_err(read_err(&top.digest))?;
        index.manifests
    } else {
        vec![top.clone()]
    };
    let mut content = LayoutContent { top: top.clone(), blobs: vec![top.digest], referrers: Vec::new() };
    for referrer in referrers {
        let mut entry = referrer.clone();
        entry.annotations.retain(|key, _| !key.starts_with("vnd.bale.image."));
        content.referrers.push(entry);
    }
    for descriptor in manifests.iter().chain(referrers) {
        let manifest: Manifest =
            store.read_json(&descriptor.digest, "a pulled manifest").map_err(read_err(&descriptor.digest))?;
        content.blobs.push(descriptor.digest);
        content.blobs.push(manifest.config.digest);
        content.blobs.extend(manifest.layers.iter().map(|l| l.digest));
    }
    content.blobs.sort();
    content.blobs.dedup();
    write_layout(store, &content, dir, tag)
}

/// Reads, from an OCI layout, the referrer of the image tagged `tag` whose
/// artifact type is `artifact_type` (an SBOM written by `bale build`), and
/// returns its content.
pub fn read_referrer(
    dir: &Path,
    tag: &str,
    architecture: Option<&str>,
    artifact_type: &str,
) -> Result<Vec<u8>, LayoutError> {
    use crate::platform::DebianPlatform;
    use bale_store::oci::Manifest;
    let store_err =
        |e: bale_store::StoreError| LayoutError::Io { path: dir.to_path_buf(), source: io::Error::other(e) };
    let layout = bale_store::LayoutReader::open(dir).map_err(store_err)?;
    let index: Index = layout.index().map_err(store_err)?;
    let tagged = index
        .manifests
        .iter()
        .find(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some(tag))
        .ok_or_else(|| {
            let tags: Vec<&str> = index
                .manifests
                .iter()
                .filter_map(|d| d.annotations.get(REF_NAME_ANNOTATION))
                .map(String::as_str)
                .collect();
            let held = if tags.is_empty() { "no tag".to_string() } else { format!("only {}", tags.join(", ")) };
            LayoutError::Missing {
                path: dir.to_path_buf(),
                what: format!("an image tagged {tag:?} (it holds {held}; name one as DIR:TAG)"),
            }
        })?;
    // An image index: the SBOMs belong to its images, one per platform.
    let chosen;
    let image = if tagged.media_type == bale_store::INDEX_MEDIA_TYPE {
        let (images, _): (Index, _) = layout.read_json(&tagged.digest).map_err(store_err)?;
        let names: Vec<String> =
            images.manifests.iter().filter_map(|d| d.platform.as_ref()).map(Platform::short_name).collect();
        let Some(architecture) = architecture else {
            return Err(LayoutError::Missing {
                path: dir.to_path_buf(),
                what: format!(
                    "a single image tagged {tag:?}: it is an index of {}; name one with --architecture",
                    names.join(", ")
                ),
            });
        };
        let wanted = Platform::of_debian(architecture);
        chosen =
            images.manifests.into_iter().find(|d| d.platform.is_some() && d.platform == wanted).ok_or_else(|| {
                LayoutError::Missing {
                    path: dir.to_path_buf(),
                    what: format!(
                        "an image for {architecture} in the index tagged {tag:?} (it has {})",
                        names.join(", ")
                    ),
                }
            })?;
        &chosen
    } else {
        tagged
    };
    for candidate in index.manifests.iter().filter(|d| d.artifact_type.as_deref() == Some(artifact_type)) {
        let (manifest, _): (Manifest, _) = layout.read_json(&candidate.digest).map_err(store_err)?;
        if manifest.subject.as_ref().is_some_and(|s| s.digest == image.digest)
            && let Some(layer) = manifest.layers.first()
        {
            return layout.read_blob(&layer.digest, MAX_SBOM_SIZE).map_err(store_err);
        }
    }
    Err(LayoutError::Missing {
        path: dir.to_path_buf(),
        what: format!("a referrer of type {artifact_type} for the image tagged {tag:?}"),
    })
}

fn fill(store: &Store, image: &LayoutContent, stage: &safe_fs::Dir, tag: &str) -> Result<(), LayoutError> {
    let err = |rel: &str| {
        let path = stage.display(rel);
        move |source| LayoutError::Io { path: path.clone(), source }
    };
    stage.create_dir("blobs", 0o755).map_err(err("blobs"))?;
    stage.create_dir("blobs/sha256", 0o755).map_err(err("blobs/sha256"))?;
    let blobs = stage.open_dir("blobs/sha256").map_err(err("blobs/sha256"))?;
    let mut done = std::collections::HashSet::new();
    for digest in blob_digests(image) {
        if !done.insert(digest) {
            continue;
        }
        let from = store.blob_path(&digest);
        let name = digest.hex();
        if blobs.link_from(&from, &name).is_err() {
            let (mut source, _) = safe_fs::open_regular(&from, u64::MAX).map_err(io_err(&from))?;
            let mut target = blobs.create_file(&name, 0o644).map_err(err(&format!("blobs/sha256/{name}")))?;
            io::copy(&mut source, &mut target).map_err(io_err(&from))?;
        }
    }
    stage.write_atomic("oci-layout", OCI_LAYOUT, 0o644).map_err(err("oci-layout"))?;
    stage.write_atomic("index.json", &index_json(image, tag), 0o644).map_err(err("index.json"))?;
    Ok(())
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The largest SBOM bale reads back from a layout.
const MAX_SBOM_SIZE: u64 = 256 << 20;
