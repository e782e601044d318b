//! The signatures and rebuild attestations of an image's packages, carried
//! with the image: one referrer of the image holding, for each package of
//! it that has any, the package's artifact manifest byte for byte and its
//! bundles. So `bale verify` and `bale pull --policy` judge every package
//! of an image on a machine that never saw the packages, by the same rules
//! `bale build --policy` applies where they are.
//!
//! A package's signature is about its artifact manifest; the manifest's
//! layer digest is what ties it to the image's layer. A package the layer
//! cap merged with others has no layer of its own: only a signature on the
//! image ties it (its signer vouches for the merge), and so does only that
//! signature, or this store's own record, vouch that a Debian package came
//! through its archive's chain.

use std::collections::BTreeMap;

use bale_fileset::Digest;
use bale_store::oci::Manifest;
use bale_store::{Provenance, Store, StoreError};
use bale_trust::PublicKey;
use serde::{Deserialize, Serialize};

use crate::compose::{GENERATED_LAYER, PACKAGE_ANNOTATION};
use crate::inspect::ImageSource;
use crate::sbom::attach_referrer;
use crate::signatures::{FoundBundle, ImageVerdict, SignError, bundle_bytes, judge_bundle};
use crate::{Image, ImageLayer};

/// The artifact type of the referrer carrying an image's package bundles.
pub const PACKAGE_TRUST_MEDIA_TYPE: &str = "application/vnd.bale.package-trust.v1+json";

/// The largest package-trust document read (about 3,000 bundles).
pub const MAX_PACKAGE_TRUST: u64 = 8 << 20;

/// The largest package manifest taken from a document.
const MAX_PACKAGE_MANIFEST: usize = 64 << 10;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Document {
    packages: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    id: String,
    /// The package's artifact manifest, exactly the bytes its digest is of.
    manifest: String,
    /// Its signature bundles (Sigstore bundle JSON), each exactly as signed.
    bundles: Vec<String>,
}

/// Attaches to `image` the bundles the store holds for its packages, if
/// any package has one; an image of unsigned packages gets no referrer.
pub fn attach_package_trust(store: &Store, image: &mut Image) -> Result<(), SignError> {
    let mut packages = Vec::new();
    for id in image.layers.iter().flat_map(|l: &ImageLayer| l.package.iter().chain(&l.merged)) {
        let record = store.resolve(id)?;
        let referrers = store.package_referrers(&record)?;
        let bundles: Vec<String> = bundle_bytes(&ImageSource::Store(store), &referrers, &record.manifest.digest)?
            .into_iter()
            .filter_map(|(_, bytes)| bytes.ok().and_then(|b| String::from_utf8(b).ok()))
            .collect();
        if bundles.is_empty() {
            continue;
        }
        let manifest =
            String::from_utf8(store.read_blob(&record.manifest.digest)?).map_err(|_| StoreError::BadJson {
                what: format!("the manifest of {}", record.id),
                path: store.blob_path(&record.manifest.digest),
                source: serde::de::Error::custom("not UTF-8"),
            })?;
        packages.push(Entry { id: record.id, manifest, bundles });
    }
    if packages.is_empty() {
        return Ok(());
    }
    packages.sort_by(|a, b| a.id.cmp(&b.id));
    let document = serde_json::to_vec(&Document { packages }).unwrap_or_default();
    attach_referrer(store, image, PACKAGE_TRUST_MEDIA_TYPE, &document)?;
    Ok(())
}

/// How a package's manifest is tied to the image's layer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "problem")]
pub enum Tie {
    /// The package's own layer is the image's layer.
    OwnLayer,
    /// The layer cap merged it with other packages into one layer.
    Merged,
    /// Nothing ties it: why.
    Broken(String),
}

/// What vouches for one package of an image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageVerdict {
    /// The package's signatures, about its artifact manifest (`manifest`;
    /// the image's layer digest when no manifest is known).
    #[serde(flatten)]
    pub verdict: ImageVerdict,
    /// The image's layer that holds it.
    pub layer: Digest,
    pub tie: Tie,
    /// A Debian package, as its id says.
    pub debian: bool,
    /// This store imported it through its archive's chain, as this layer.
    pub archive_checked_here: bool,
}

impl PackageVerdict {
    pub fn id(&self) -> &str {
        self.verdict.name.as_deref().unwrap_or_default()
    }

    /// The decision of `policy` on `today`. `image_vouched`: a key the
    /// policy counts signed the image, so its builder's claims (merged
    /// layers, Debian chains checked where it was built) stand.
    pub fn decide(&self, policy: &bale_trust::Policy, image_vouched: bool, today: i64) -> bale_trust::Decision {
        let tied = match &self.tie {
            Tie::OwnLayer => true,
            Tie::Merged => image_vouched,
            Tie::Broken(_) => false,
        };
        let archive = self.debian && tied && (self.archive_checked_here || image_vouched);
        let mut decision = if tied {
            self.verdict.decide(policy, self.id(), archive, today)
        } else {
            policy.decide(self.id(), &[], false, today)
        };
        if !decision.allowed {
            let why = match &self.tie {
                Tie::Broken(problem) => Some(problem.clone()),
                Tie::Merged if !image_vouched => Some(
                    "it shares a layer merged from several packages, which only an accepted signature on the \
                     image ties to it"
                        .to_string(),
                ),
                _ if self.debian && !archive => Some(
                    "its archive chain was checked where the image was built, which only an accepted signature \
                     on the image vouches for"
                        .to_string(),
                ),
                _ => None,
            };
            if let Some(why) = why {
                decision.reason = format!("{}; {why}", decision.reason);
            }
        }
        decision
    }
}

/// Every package of the image `manifest` judged against `keys`, from the
/// package-trust documents carried with it (`documents`, as read) and,
/// when given, this store's own records and bundles.
pub fn judge_packages(
    manifest: &Manifest,
    documents: &[Vec<u8>],
    store: Option<&Store>,
    keys: &[PublicKey],
) -> Vec<PackageVerdict> {
    // A document that is not one vouches for nothing.
    let mut carried: BTreeMap<String, Entry> = BTreeMap::new();
    for document in documents {
        if let Ok(document) = serde_json::from_slice::<Document>(document) {
            for entry in document.packages {
                carried.entry(entry.id.clone()).or_insert(entry);
            }
        }
    }
    let mut verdicts = Vec::new();
    for layer in &manifest.layers {
        let Some(names) = layer.annotations.get(PACKAGE_ANNOTATION) else { continue };
        if names == GENERATED_LAYER {
            continue;
        }
        let ids: Vec<&str> = names.split(',').collect();
        let merged = ids.len() > 1;
        for id in ids {
            verdicts.push(judge_package(id, &layer.digest, merged, carried.get(id), store, keys));
        }
    }
    verdicts
}

fn judge_package(
    id: &str,
    layer: &Digest,
    merged: bool,
    entry: Option<&Entry>,
    store: Option<&Store>,
    keys: &[PublicKey],
) -> PackageVerdict {
    let local = store.and_then(|s| s.resolve(id).ok().filter(|r| r.id == id).map(|r| (s, r)));
    // The package's manifest: as carried, else as this store has it.
    let from_store = || local.as_ref().and_then(|(s, r)| s.read_blob(&r.manifest.digest).ok());
    let bytes = match entry {
        Some(entry) if entry.manifest.len() <= MAX_PACKAGE_MANIFEST => Some(entry.manifest.clone().into_bytes()),
        Some(_) => None,
        None => from_store(),
    };
    let digest = bytes.as_deref().map(bale_fileset::sha256_bytes);
    let parsed = bytes.as_deref().and_then(|b| serde_json::from_slice::<Manifest>(b).ok());
    let tie = match &parsed {
        None if bytes.is_some() => Tie::Broken("the manifest carried for it is not an OCI manifest".into()),
        None => Tie::Broken("neither the image nor this store says which package its layer is".into()),
        Some(_) if merged => Tie::Merged,
        Some(package) => match package.layers.first() {
            Some(own) if own.digest == *layer => Tie::OwnLayer,
            Some(own) => Tie::Broken(format!("the image's layer {layer} is not this package's layer {}", own.digest)),
            None => Tie::Broken("its manifest holds no layer".into()),
        },
    };
    let subject = digest.unwrap_or(*layer);
    let same_here = local.as_ref().filter(|(_, r)| Some(r.manifest.digest) == digest);
    let mut bundles: Vec<FoundBundle> = entry
        .map(|e| {
            e.bundles.iter().map(|b| (bale_fileset::sha256_bytes(b.as_bytes()), Ok(b.clone().into_bytes()))).collect()
        })
        .unwrap_or_default();
    let mut archive_checked_here = false;
    if let Some((store, record)) = same_here {
        let source = ImageSource::Store(store);
        if let Ok(found) = store.package_referrers(record).and_then(|r| bundle_bytes(&source, &r, &subject)) {
            bundles.extend(found);
        }
        archive_checked_here =
            !merged && store.load_package(record).is_ok_and(|(_, m)| matches!(m.provenance, Provenance::Debian { .. }));
    }
    let mut seen = std::collections::BTreeSet::new();
    bundles.retain(|(_, bytes)| bytes.as_ref().map_or(true, |b| seen.insert(bale_fileset::sha256_bytes(b))));
    let signatures = bundles
        .into_iter()
        .map(|(referrer, bytes)| judge_bundle(referrer, bytes, Some(id), &subject, "package", keys))
        .collect();
    PackageVerdict {
        verdict: ImageVerdict::new(subject, "package".into(), Some(id.to_string()), signatures),
        layer: *layer,
        tie,
        debian: id.starts_with("debian:"),
        archive_checked_here,
    }
}

/// The package-trust documents among `referrers` about `subject`, read
/// from `source`.
pub(crate) fn documents_of(
    source: &ImageSource<'_>,
    referrers: &[bale_store::Descriptor],
    subject: &Digest,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut documents = Vec::new();
    for referrer in referrers.iter().filter(|r| r.artifact_type.as_deref() == Some(PACKAGE_TRUST_MEDIA_TYPE)) {
        let artifact: Manifest = source.json(&referrer.digest, "a package-trust manifest")?;
        if artifact.subject.as_ref().map(|s| s.digest) != Some(*subject) {
            continue;
        }
        if let Some(layer) = artifact.layers.first().filter(|l| l.size <= MAX_PACKAGE_TRUST) {
            documents.push(source.read(&layer.digest)?);
        }
    }
    Ok(documents)
}
