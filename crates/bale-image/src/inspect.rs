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
    fn read(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        match self {
            Self::Layout(layout) => layout.read_blob(digest, MAX_JSON),
            Self::Store(store) => store.read_blob(digest),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&self, digest: &Digest, what: &str) -> Result<T, StoreError> {
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
