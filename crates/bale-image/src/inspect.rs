//! What an image is, read back: from an OCI layout (`DIR[:TAG]`, as
//! `bale build` writes one) or from an image the store pulled. For
//! `bale inspect IMAGE`.

use bale_fileset::Digest;
use bale_store::oci::{Index, Manifest, Platform};
use bale_store::{Descriptor, LayoutReader, REF_NAME_ANNOTATION, Store, StoreError};
use serde::Serialize;

use crate::compose::PACKAGE_ANNOTATION;

/// The largest manifest or config read back.
const MAX_JSON: u64 = 16 << 20;

/// Where an image's blobs are.
pub enum ImageSource<'a> {
    Layout(LayoutReader),
    Store(&'a Store),
}

impl ImageSource<'_> {
    pub(crate) fn read(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        match self {
            Self::Layout(layout) => layout.read_blob(digest, MAX_JSON),
            Self::Store(store) => store.read_blob(digest),
        }
    }

    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, digest: &Digest, what: &str) -> Result<T, StoreError> {
        let bytes = self.read(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::BadJson {
            what: what.to_string(),
            path: digest.to_string().into(),
            source,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSummary {
    /// The manifest or image index the reference names.
    pub top: Descriptor,
    pub images: Vec<ImageDetail>,
    /// Artifacts that refer to the images (SBOMs).
    pub referrers: Vec<Descriptor>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDetail {
    pub manifest: Descriptor,
    pub platform: Platform,
    pub layers: Vec<LayerDetail>,
    /// The image config's `config` (entrypoint, cmd, env, user, …).
    pub config: serde_json::Value,
    pub created: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerDetail {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    /// The package the layer is, as bale annotated it (`bale: generated`
    /// for its own layer); none for layers of other tools' images.
    pub package: Option<String>,
}

/// The image tagged `tag` in the OCI layout at `dir`.
pub fn inspect_layout(dir: &std::path::Path, tag: &str) -> Result<ImageSummary, StoreError> {
    let layout = LayoutReader::open(dir)?;
    let index: Index = layout.index()?;
    let top = index
        .manifests
        .iter()
        .find(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some(tag))
        .cloned()
        .ok_or_else(|| StoreError::NotFound { reference: format!("{}:{tag}", dir.display()) })?;
    let referrers: Vec<Descriptor> = index.manifests.iter().filter(|d| d.artifact_type.is_some()).cloned().collect();
    summarize(&ImageSource::Layout(layout), top, referrers)
}

/// An image the store pulled as `reference`.
pub fn inspect_pulled(store: &Store, reference: &str) -> Result<Option<ImageSummary>, StoreError> {
    let Some((top, referrers)) = store.pulled_image(reference)? else { return Ok(None) };
    summarize(&ImageSource::Store(store), top, referrers).map(Some)
}

fn summarize(
    source: &ImageSource<'_>,
    top: Descriptor,
    referrers: Vec<Descriptor>,
) -> Result<ImageSummary, StoreError> {
    let manifests = if top.media_type == bale_store::INDEX_MEDIA_TYPE {
        source.json::<Index>(&top.digest, "the image index")?.manifests
    } else {
        vec![top.clone()]
    };
    let mut images = Vec::new();
    for descriptor in manifests {
        let manifest: Manifest = source.json(&descriptor.digest, "an image manifest")?;
        let config: serde_json::Value = source.json(&manifest.config.digest, "an image config")?;
        let text = |key: &str| config[key].as_str().map(str::to_string);
        let platform = Platform {
            architecture: text("architecture").unwrap_or_default(),
            os: text("os").unwrap_or_default(),
            variant: text("variant"),
        };
        let layers = manifest
            .layers
            .iter()
            .map(|l| LayerDetail {
                digest: l.digest,
                size: l.size,
                media_type: l.media_type.clone(),
                package: l.annotations.get(PACKAGE_ANNOTATION).cloned(),
            })
            .collect();
        images.push(ImageDetail {
            manifest: descriptor,
            platform,
            layers,
            created: text("created"),
            config: config["config"].clone(),
        });
    }
    // Only the referrers of these images.
    let ids: Vec<Digest> = images.iter().map(|i| i.manifest.digest).collect();
    let mut own = Vec::new();
    for referrer in referrers {
        let manifest: Manifest = source.json(&referrer.digest, "a referrer manifest")?;
        if manifest.subject.as_ref().is_some_and(|s| ids.contains(&s.digest)) {
            let mut referrer = referrer;
            referrer.annotations.retain(|key, _| !key.starts_with("vnd.bale.image."));
            own.push(referrer);
        }
    }
    Ok(ImageSummary { top, images, referrers: own })
}

/// Why an image could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackImageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fileset(#[from] bale_fileset::FilesetError),
    #[error("the image is an index of {platforms}; name one with --arch")]
    WhichPlatform { platforms: String },
    #[error("the image index has no image for {architecture} (it has {platforms})")]
    NoSuchPlatform { architecture: String, platforms: String },
    #[error("writing the image's root filesystem: {0}")]
    Spool(std::io::Error),
    #[error("{}: {source}", path.display())]
    Cache { path: std::path::PathBuf, source: std::io::Error },
}

impl UnpackImageError {
    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Store(e) => e.help(),
            Self::Fileset(e) => e.help(),
            Self::WhichPlatform { .. } | Self::NoSuchPlatform { .. } => {
                Some("`bale inspect IMAGE` lists the platforms; `--arch` takes a Debian name such as arm64")
            }
            Self::Spool(_) => None,
            Self::Cache { .. } => Some("`bale store gc` clears the store's caches"),
        }
    }
}

/// Writes the root filesystem of `summary`'s image (for an index, the one
/// for `architecture`) into `dest`, which must not exist or be empty:
/// its layers stacked as a runtime stacks them, upper layers winning.
/// Blobs of a layout come into the store first, each checked by digest,
/// and are read from there. Layers with whiteouts (deletions, which bale
/// images never have) are refused by the strict reader.
pub fn unpack_image(
    store: &Store,
    layout: Option<&std::path::Path>,
    summary: &ImageSummary,
    architecture: Option<&str>,
    dest: &std::path::Path,
    options: bale_fileset::UnpackOptions,
) -> Result<u64, UnpackImageError> {
    use crate::platform::DebianPlatform;
    let platforms = || summary.images.iter().map(|i| i.platform.short_name()).collect::<Vec<_>>().join(", ");
    let image = match (summary.images.as_slice(), architecture) {
        ([one], None) => one,
        (_, None) => return Err(UnpackImageError::WhichPlatform { platforms: platforms() }),
        (images, Some(architecture)) => {
            let wanted = Platform::of_debian(architecture);
            images
                .iter()
                .find(|i| Some(&i.platform) == wanted.as_ref() || i.platform.architecture == architecture)
                .ok_or_else(|| UnpackImageError::NoSuchPlatform {
                    architecture: architecture.to_string(),
                    platforms: platforms(),
                })?
        }
    };
    store.refuse_inside(dest)?;
    let _session = store.lock_shared()?;
    if let Some(dir) = layout {
        let reader = LayoutReader::open(dir)?;
        for layer in &image.layers {
            if !store.has_blob(&layer.digest) {
                let mut blob = reader.open_blob(&layer.digest, layer.size)?;
                let mut writer = store.blob_writer()?;
                std::io::copy(&mut std::io::Read::take(&mut blob, layer.size), &mut writer)
                    .map_err(|e| StoreError::Io { path: reader.blob_path(&layer.digest), source: e })?;
                writer.commit(Some(layer.digest))?;
            }
        }
    }
    let layers: Vec<Descriptor> =
        image.layers.iter().map(|l| Descriptor::new(l.media_type.clone(), l.digest, l.size)).collect();
    unpack_layers(store, &layers, dest, options)
}

/// Writes the union of `layers` (bottom first, upper layers winning, as a
/// runtime stacks them), all in the store, into `dest`, which must not
/// exist or be empty. The caller holds the store lock shared, and has
/// made sure `dest` is not a place of the store's own.
pub fn unpack_layers(
    store: &Store,
    layers: &[Descriptor],
    dest: &std::path::Path,
    options: bale_fileset::UnpackOptions,
) -> Result<u64, UnpackImageError> {
    let mut readers = Vec::new();
    for descriptor in layers.iter().rev() {
        readers.push(store.open_layer(descriptor)?);
    }
    let keep = bale_fileset::Normalize {
        modes: bale_fileset::ModePolicy::Preserve { special_bits: true },
        owners: bale_fileset::OwnerPolicy::Preserve,
        keep_xattrs: true,
    };
    let plan = bale_fileset::Plan::union_of_tars(readers, keep, bale_fileset::Limits::default(), &store.tmp_dir())?;
    // Spooled to a private file in the store's tmp/ (gc removes what a
    // crash leaves), then unpacked from it.
    let tmp = bale_fileset::safe_fs::Dir::open(&store.tmp_dir()).map_err(UnpackImageError::Spool)?;
    let (name, file) = tmp.create_temp("unpack.tar", 0o600).map_err(UnpackImageError::Spool)?;
    let result = (|| {
        let mut out = std::io::BufWriter::new(file);
        bale_fileset::write_canonical(&plan, &mut out, &bale_progress::NoProgress)?;
        std::io::Write::flush(&mut out).map_err(UnpackImageError::Spool)?;
        drop(out);
        let (spool, _) = tmp.open_file(&name).map_err(UnpackImageError::Spool)?;
        Ok(bale_fileset::unpack(std::io::BufReader::new(spool), dest, &bale_fileset::Limits::default(), options)?)
    })();
    let _ = tmp.remove_file(&name);
    result
}
