//! Composing an image from packages in the store: one layer per package,
//! dependencies first ([`order`]), a conflict check over every path
//! ([`conflicts`]), the lowest packages merged above the layer cap
//! ([`merge`]), one generated layer on top ([`generated`]) and the image
//! config ([`config`]). Order in the request never matters.

mod config;
mod conflicts;
mod generated;
mod groups;
mod ldcache;
mod merge;
mod order;

use std::collections::{BTreeSet, HashMap};

use bale_fileset::{Compression, Digest, FileIndex, FileIndexEntry};
use bale_progress::Progress;
use bale_store::oci::{self, Descriptor, MANIFEST_MEDIA_TYPE, Manifest};
use bale_store::{PackageMetadata, PackageRecord, Store, StoreError, store_layer};

use crate::platform::{DebianPlatform, Platform};
use crate::spec::RuntimeConfig;
pub(crate) use config::rfc3339;
use config::{ContainerConfig, History, ImageConfig, RootFs};
use conflicts::{describe, same};
use generated::{GENERATED, ca_bundle, generated_layer};
pub use generated::{SpecContent, SpecFileContent};
use merge::merged_layer;
use order::dependency_order;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Annotation on each layer descriptor naming the package it is.
pub const PACKAGE_ANNOTATION: &str = "vnd.bale.package";

/// The [`PACKAGE_ANNOTATION`] of the layer bale generates for an image
/// (accounts, alternatives, CA bundle, ld.so.cache, spec files).
pub const GENERATED_LAYER: &str = "bale: generated";

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{path:?} is {first_says} in {first} but {second_says} in {second}; packages in one image may not disagree about a path"
    )]
    Conflict { path: String, first: String, first_says: String, second: String, second_says: String },
    #[error(
        "{package} ships {path:?}, which bale writes itself (for every image, or from the spec's [files]); \
         drop that package, its file, or the spec's file"
    )]
    Generated { package: String, path: String },
    #[error("building the generated layer: {0}")]
    Layer(#[from] bale_fileset::FilesetError),
    #[error(
        "{package} ships {path:?} as a {kind}, and the spec makes a directory there ([dirs], a user's home or /tmp); \
         drop one of them"
    )]
    NotADirectory { package: String, path: String, kind: String },
    #[error(
        "the spec says init = true, and no package in the image ships {path}; \
         keep Debian's tini in the set (init adds it to [debian] packages)"
    )]
    NoInit { path: String },
    #[error("{package}: {reason}")]
    User { package: String, reason: String },
    #[error("no packages to compose")]
    Empty,
    #[error("{package} is built for {package_architecture}, and this image is for {architecture}")]
    WrongArchitecture { package: String, package_architecture: String, architecture: String },
    #[error("bale cannot build images for the architecture {architecture:?}")]
    UnknownArchitecture { architecture: String },
}

#[derive(Debug, Clone)]
pub struct ComposeOptions {
    pub architecture: String,
    /// Seconds since the epoch for `created` (SOURCE_DATE_EPOCH, else 0).
    pub created: i64,
    pub layer_cap: usize,
    pub compression: Compression,
}

/// A composed image, all of whose blobs are in the store.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Image {
    /// The Debian name of the architecture it is for (`arm64`).
    pub architecture: String,
    pub platform: Platform,
    pub manifest: Descriptor,
    pub config: Descriptor,
    /// Package layers in order, then the generated layer (`package` None).
    pub layers: Vec<ImageLayer>,
    /// Artifacts that refer to the image (its SBOMs): their manifests, and
    /// every blob they need.
    pub referrers: Vec<Descriptor>,
    pub referrer_blobs: Vec<Digest>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImageLayer {
    /// The package this layer is, or None for the generated layer and a
    /// merged one.
    pub package: Option<String>,
    /// The packages sharing this layer, when the layer cap merged them.
    pub merged: Vec<String>,
    pub descriptor: Descriptor,
    pub diff_id: Digest,
}

struct Member {
    record: PackageRecord,
    manifest: Manifest,
    metadata: PackageMetadata,
}

impl Member {
    /// Streams the package's layer through the strict reader, within the
    /// bounds its metadata declares, handing each entry to `visit`.
    fn read_layer(
        &self,
        store: &Store,
        visit: impl FnMut(bale_fileset::Entry, &mut dyn std::io::Read) -> Result<(), bale_fileset::FilesetError>,
    ) -> Result<(), ComposeError> {
        let Some(layer) = self.manifest.layers.first() else { return Ok(()) };
        let reader = store.open_layer(layer)?;
        bale_fileset::read_entries(reader, &self.metadata.content_limits(), visit)?;
        Ok(())
    }
}

/// Composes the packages `ids` (an unordered set) with `config`.
pub fn compose(
    store: &Store,
    ids: &[String],
    spec: &SpecContent,
    config: &RuntimeConfig,
    options: &ComposeOptions,
    progress: &dyn Progress,
) -> Result<Image, ComposeError> {
    let platform = Platform::of_debian(&options.architecture)
        .ok_or_else(|| ComposeError::UnknownArchitecture { architecture: options.architecture.clone() })?;
    let _session = store.lock_shared()?;
    let mut unique: Vec<&String> = ids.iter().collect();
    unique.sort();
    unique.dedup();
    if unique.is_empty() {
        return Err(ComposeError::Empty);
    }
    let records = store.packages_by_id()?;
    let mut members = Vec::new();
    for id in unique {
        let record = match records.get(id.as_str()) {
            Some(record) => record.clone(),
            // Not an exact id: let resolve explain (or accept a name).
            None => store.resolve(id)?,
        };
        let (manifest, metadata) = store.load_package(&record)?;
        let package_architecture = metadata.architecture_or_all();
        if !bale_store::runs_on(package_architecture, &options.architecture) {
            return Err(ComposeError::WrongArchitecture {
                package: record.id,
                package_architecture: package_architecture.to_string(),
                architecture: options.architecture.clone(),
            });
        }
        members.push(Member { record, manifest, metadata });
    }
    let order = dependency_order(&members);
    // The accounts packages declare join the spec's.
    let with_users;
    let spec = if members.iter().any(|m| !m.metadata.users.is_empty()) {
        let mut content = spec.clone();
        for &i in &order {
            for user in &members[i].metadata.users {
                content
                    .accounts
                    .add_system_user(user)
                    .map_err(|reason| ComposeError::User { package: members[i].record.id.clone(), reason })?;
            }
        }
        with_users = content;
        &with_users
    } else {
        spec
    };

    // Every path, and which package put it there.
    let mut owners: HashMap<String, (usize, FileIndexEntry)> = HashMap::new();
    let mut all_paths: BTreeSet<String> = BTreeSet::new();
    for &i in &order {
        let member = &members[i];
        let index: FileIndex =
            store.read_json(&member.metadata.file_index.digest, &format!("the file index of {}", member.record.id))?;
        for entry in index.entries {
            if GENERATED.contains(&entry.path.as_str()) || spec.has_file(&entry.path) {
                return Err(ComposeError::Generated {
                    package: member.record.id.clone(),
                    path: format!("/{}", entry.path),
                });
            }
            // A directory of the spec may stand where a package has one
            // (the spec's mode and owner win); over anything else it would
            // hide what the package ships.
            if spec.dir(&entry.path).is_some() && entry.kind != "directory" {
                return Err(ComposeError::NotADirectory {
                    package: member.record.id.clone(),
                    path: format!("/{}", entry.path),
                    kind: entry.kind.clone(),
                });
            }
            match owners.get(&entry.path) {
                Some((other, seen)) if !same(seen, &entry) => {
                    return Err(ComposeError::Conflict {
                        path: format!("/{}", entry.path),
                        first: members[*other].record.id.clone(),
                        first_says: describe(seen),
                        second: member.record.id.clone(),
                        second_says: describe(&entry),
                    });
                }
                Some(_) => {}
                None => {
                    all_paths.insert(entry.path.clone());
                    owners.insert(entry.path.clone(), (i, entry));
                }
            }
        }
    }

    if config.init {
        let init = crate::spec::INIT_ENTRYPOINT[0];
        if !all_paths.contains(init.trim_start_matches('/')) {
            return Err(ComposeError::NoInit { path: init.into() });
        }
    }
    let bundle = ca_bundle(store, &members, &all_paths, &owners)?;
    let ld_cache = ldcache::ld_so_cache(store, &members, &all_paths, &owners, spec, &options.architecture, progress)?;
    let generated = generated_layer(&members, &all_paths, bundle, ld_cache, spec)?;
    let (generated_summary, _) = store_layer(store, &generated, options.compression, progress)?;

    // Many small packages of one ecosystem share a layer per group; above
    // the cap, the lowest layers of the stack (the most stable: libraries
    // everything else needs) share one, so that those above keep theirs.
    let units = groups::layer_units(&members, &order);
    let own_layers = options.layer_cap.saturating_sub(1).max(1);
    let merge_count = if units.len() > own_layers { units.len() - own_layers + 1 } else { 0 };
    let mut layers: Vec<ImageLayer> = Vec::new();
    if merge_count > 0 {
        let lowest: Vec<usize> = units[..merge_count].iter().flatten().copied().collect();
        layers.push(merged_layer(store, &members, &lowest, options.compression, progress)?);
    }
    for unit in &units[merge_count..] {
        if let [i] = unit[..] {
            layers.push(package_layer(store, &members[i])?);
        } else {
            layers.push(merged_layer(store, &members, unit, options.compression, progress)?);
        }
    }
    let mut generated_descriptor =
        Descriptor::new(options.compression.media_type(), generated_summary.blob_digest, generated_summary.blob_size);
    generated_descriptor.annotations.insert(PACKAGE_ANNOTATION.into(), GENERATED_LAYER.into());
    layers.push(ImageLayer {
        package: None,
        merged: Vec::new(),
        descriptor: generated_descriptor,
        diff_id: generated_summary.content_digest,
    });

    write_image(store, platform, layers, spec, config, options)
}

/// A package's own layer, annotated with its id.
fn package_layer(store: &Store, member: &Member) -> Result<ImageLayer, ComposeError> {
    let Some(layer) = member.manifest.layers.first() else {
        return Err(StoreError::MissingBlob {
            digest: member.record.manifest.digest,
            path: store.blob_path(&member.record.manifest.digest),
        }
        .into());
    };
    let mut descriptor = layer.clone();
    descriptor.annotations.insert(PACKAGE_ANNOTATION.into(), member.record.id.clone());
    Ok(ImageLayer {
        package: Some(member.record.id.clone()),
        merged: Vec::new(),
        descriptor,
        diff_id: member.metadata.content.digest,
    })
}

/// `base` with the package `id` as one more layer on top, where it may
/// replace what any layer below has (what `[[run]]` commands wrote over
/// the image). The config and manifest are made afresh, as compose makes
/// them.
pub fn add_top_layer(
    store: &Store,
    base: &Image,
    id: &str,
    spec: &SpecContent,
    config: &RuntimeConfig,
    options: &ComposeOptions,
) -> Result<Image, ComposeError> {
    let record = store.resolve(id)?;
    let (manifest, metadata) = store.load_package(&record)?;
    let Some(layer) = manifest.layers.first() else {
        return Err(StoreError::MissingBlob {
            digest: record.manifest.digest,
            path: store.blob_path(&record.manifest.digest),
        }
        .into());
    };
    let mut descriptor = layer.clone();
    descriptor.annotations.insert(PACKAGE_ANNOTATION.into(), record.id.clone());
    let mut layers = base.layers.clone();
    layers.push(ImageLayer {
        package: Some(record.id.clone()),
        merged: Vec::new(),
        descriptor,
        diff_id: metadata.content.digest,
    });
    write_image(store, base.platform.clone(), layers, spec, config, options)
}

/// The config and manifest over `layers`, stored.
fn write_image(
    store: &Store,
    platform: Platform,
    layers: Vec<ImageLayer>,
    spec: &SpecContent,
    config: &RuntimeConfig,
    options: &ComposeOptions,
) -> Result<Image, ComposeError> {
    let created = rfc3339(options.created);
    let image_config = ImageConfig {
        created: created.clone(),
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        config: ContainerConfig::new(config, &spec.user),
        rootfs: RootFs { kind: "layers".into(), diff_ids: layers.iter().map(|l| l.diff_id).collect() },
        history: layers
            .iter()
            .map(|l| History {
                created: created.clone(),
                created_by: match &l.package {
                    Some(id) => format!("bale: package {id}"),
                    None if !l.merged.is_empty() => format!("bale: packages {}", l.merged.join(", ")),
                    None => "bale: generated layer (/etc/passwd, /etc/group; alternatives, CA bundle, ld.so.cache and spec files when any)".into(),
                },
            })
            .collect(),
    };
    let config_bytes = oci::to_json(&image_config);
    let config_digest = store.put_bytes(&config_bytes)?;
    let config_descriptor = Descriptor::new(CONFIG_MEDIA_TYPE, config_digest, config_bytes.len() as u64);
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        artifact_type: None,
        config: config_descriptor.clone(),
        layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
        subject: None,
        annotations: {
            let mut a = config.annotations.clone();
            a.insert("org.opencontainers.image.created".into(), created);
            a
        },
    };
    let manifest_bytes = oci::to_json(&manifest);
    let manifest_digest = store.put_bytes(&manifest_bytes)?;
    Ok(Image {
        architecture: options.architecture.clone(),
        platform,
        manifest: Descriptor::new(MANIFEST_MEDIA_TYPE, manifest_digest, manifest_bytes.len() as u64),
        config: config_descriptor,
        layers,
        referrers: Vec::new(),
        referrer_blobs: Vec::new(),
    })
}
