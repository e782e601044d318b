//! Images signed outside their content: a Sigstore bundle (bale-trust)
//! whose statement names the image and its manifest digest, attached as
//! an OCI referrer of the manifest, so layouts, pushes and pulls carry it
//! like the SBOMs; and checking those bundles against trusted keys.

use bale_fileset::Digest;
use bale_store::oci::Manifest;
use bale_store::{Descriptor, Store, StoreError};
use bale_trust::{BUNDLE_MEDIA_TYPE, Bundle, KeyId, PublicKey, SigningKey, TrustError};
use serde::Serialize;

use crate::inspect::{ImageSource, ImageSummary};
use crate::sbom::attach_referrer;
use crate::{Image, Platform};

/// The manifest annotation naming the image (the spec's `name`): signed
/// with the manifest, so a statement's name can be checked against it.
pub const NAME_ANNOTATION: &str = "vnd.bale.name";

/// Signs `image` as `name` with `key` and attaches the bundle.
pub fn sign_image(store: &Store, image: &mut Image, name: &str, key: &SigningKey) -> Result<(), SignError> {
    let bundle = bale_trust::sign_subject(name, &image.manifest.digest.hex(), "image", key)?;
    attach_referrer(store, image, BUNDLE_MEDIA_TYPE, &bundle.to_json())?;
    Ok(())
}

/// Signs the store's package `record` (its id and artifact digest) with
/// `key` and records the bundle as its referrer in the store.
pub fn sign_package(store: &Store, record: &bale_store::PackageRecord, key: &SigningKey) -> Result<(), SignError> {
    let bundle = bale_trust::sign_subject(&record.id, &record.manifest.digest.hex(), "package", key)?;
    attach_package_bundle(store, record, &bundle)
}

/// Records a rebuilder's attestation of the package `record` (made by
/// [`bale_trust::attest_rebuild`]) beside it in the store.
pub fn attach_package_bundle(
    store: &Store,
    record: &bale_store::PackageRecord,
    bundle: &Bundle,
) -> Result<(), SignError> {
    let subject = Descriptor::new(bale_store::MANIFEST_MEDIA_TYPE, record.manifest.digest, record.manifest.size);
    let (descriptor, _) = crate::sbom::referrer_manifest(store, subject, BUNDLE_MEDIA_TYPE, &bundle.to_json())?;
    store.add_package_referrer(record, descriptor)?;
    Ok(())
}

/// The signatures of the store's package `record`, checked against `keys`.
pub fn verify_package(
    store: &Store,
    record: &bale_store::PackageRecord,
    keys: &[PublicKey],
) -> Result<ImageVerdict, StoreError> {
    let source = ImageSource::Store(store);
    let referrers = store.package_referrers(record)?;
    let signatures = signatures_of(&source, &referrers, &record.manifest, Some(&record.id), "package", keys)?;
    Ok(ImageVerdict::new(record.manifest.digest, "package".into(), Some(record.id.clone()), signatures))
}

/// Every signature bundle among `referrers` whose subject is `subject`,
/// judged (see [`judge_bundle`]).
fn signatures_of(
    source: &ImageSource<'_>,
    referrers: &[Descriptor],
    subject: &Descriptor,
    name: Option<&str>,
    subject_kind: &str,
    keys: &[PublicKey],
) -> Result<Vec<SignatureVerdict>, StoreError> {
    let mut signatures = Vec::new();
    for referrer in referrers.iter().filter(|r| r.artifact_type.as_deref() == Some(BUNDLE_MEDIA_TYPE)) {
        let artifact: Manifest = source.json(&referrer.digest, "a signature's manifest")?;
        if artifact.subject.as_ref().map(|s| s.digest) == Some(subject.digest) {
            signatures.push(check(source, &artifact, referrer, name, subject, subject_kind, keys));
        }
    }
    Ok(signatures)
}

impl ImageVerdict {
    fn new(manifest: Digest, platform: String, name: Option<String>, signatures: Vec<SignatureVerdict>) -> Self {
        let verified = signatures.iter().any(|s| s.problem.is_none() && !s.signed_by.is_empty());
        Self { manifest, platform, name, signatures, verified }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the signatures of one image of a reference say.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageVerdict {
    pub manifest: Digest,
    pub platform: String,
    /// The name the image's manifest gives itself, when bale built it.
    pub name: Option<String>,
    pub signatures: Vec<SignatureVerdict>,
    /// Whether a trusted key signed a statement naming this image.
    pub verified: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureVerdict {
    /// The referrer manifest that carries the bundle.
    pub referrer: Digest,
    /// The name the signed statement gives.
    pub name: Option<String>,
    /// `signature` (a plain signature) or `rebuild` (a rebuilder's
    /// attestation, SLSA provenance), as the statement says.
    pub kind: Option<String>,
    /// Trusted keys whose signature verifies, each once.
    pub signed_by: Vec<KeyId>,
    /// Why the bundle counts for nothing, if it does not.
    pub problem: Option<String>,
}

/// The signatures of the image tagged `tag` in the OCI layout at `dir`,
/// checked against `keys`.
pub fn verify_layout(dir: &std::path::Path, tag: &str, keys: &[PublicKey]) -> Result<Vec<ImageVerdict>, StoreError> {
    let summary = crate::inspect_layout(dir, tag)?;
    verify_images(&ImageSource::Layout(bale_store::LayoutReader::open(dir)?), &summary, keys)
}

/// The signatures of the image the store pulled as `reference`, checked
/// against `keys`; `None` when the store pulled no such image.
pub fn verify_pulled(
    store: &Store,
    reference: &str,
    keys: &[PublicKey],
) -> Result<Option<Vec<ImageVerdict>>, StoreError> {
    let Some(summary) = crate::inspect_pulled(store, reference)? else { return Ok(None) };
    verify_images(&ImageSource::Store(store), &summary, keys).map(Some)
}

/// Checks every signature bundle of each image of `summary` against `keys`.
fn verify_images(
    source: &ImageSource<'_>,
    summary: &ImageSummary,
    keys: &[PublicKey],
) -> Result<Vec<ImageVerdict>, StoreError> {
    let mut verdicts = Vec::new();
    for image in &summary.images {
        let manifest: Manifest = source.json(&image.manifest.digest, "an image manifest")?;
        let name = manifest.annotations.get(NAME_ANNOTATION).cloned();
        let signatures = signatures_of(source, &summary.referrers, &image.manifest, name.as_deref(), "image", keys)?;
        verdicts.push(ImageVerdict::new(image.manifest.digest, platform_name(&image.platform), name, signatures));
    }
    Ok(verdicts)
}

fn platform_name(platform: &Platform) -> String {
    match &platform.variant {
        Some(variant) => format!("{}/{}/{variant}", platform.os, platform.architecture),
        None => format!("{}/{}", platform.os, platform.architecture),
    }
}

fn check(
    source: &ImageSource<'_>,
    artifact: &Manifest,
    referrer: &Descriptor,
    name: Option<&str>,
    subject: &Descriptor,
    subject_kind: &str,
    keys: &[PublicKey],
) -> SignatureVerdict {
    let bytes = match artifact.layers.first() {
        Some(layer) if layer.size > bale_trust::bundle::MAX_BUNDLE as u64 => {
            Err(format!("its bundle is {} bytes, more than bale reads", layer.size))
        }
        Some(layer) => source.read(&layer.digest).map_err(|e| format!("its bundle cannot be read: {e}")),
        None => Err("its manifest holds no bundle".into()),
    };
    judge_bundle(referrer.digest, bytes, name, &subject.digest, subject_kind, keys)
}

/// One bundle's bytes (or why there are none) judged for the subject with
/// digest `digest` of kind `subject_kind` (`image`, `package`). `name`:
/// the name the subject gives itself, which a statement must match; when
/// it gives none, the statement's own name stands, and only a trusted
/// key's signature makes it count.
fn judge_bundle(
    referrer: Digest,
    bytes: Result<Vec<u8>, String>,
    name: Option<&str>,
    digest: &Digest,
    subject_kind: &str,
    keys: &[PublicKey],
) -> SignatureVerdict {
    let mut verdict = SignatureVerdict { referrer, name: None, kind: None, signed_by: Vec::new(), problem: None };
    let bundle = match bytes.and_then(|b| Bundle::from_json(&b).map_err(|e| e.to_string())) {
        Ok(bundle) => bundle,
        Err(problem) => {
            verdict.problem = Some(problem);
            return verdict;
        }
    };
    let statement = bale_trust::decode_statement(&bundle);
    let claimed = statement.as_ref().and_then(|s| s.subject.first().map(|s| s.name.clone()));
    verdict.name = claimed.clone();
    let Some(expected) = name.map(str::to_string).or(claimed) else {
        verdict.problem = Some("its statement names no subject".into());
        return verdict;
    };
    match bale_trust::check_bundle(&bundle, &expected, &digest.hex(), keys) {
        Ok((statement, signers)) => {
            // Only the two claims bale makes count, each for its own kind
            // of subject: a key's other statements vouch for nothing here.
            let said = statement.predicate.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
            match statement.predicate_type.as_str() {
                bale_trust::statement::SIGNATURE_PREDICATE if said == subject_kind => {
                    verdict.kind = Some("signature".into());
                    verdict.signed_by = signers;
                }
                bale_trust::statement::SIGNATURE_PREDICATE => {
                    verdict.problem = Some(format!("it signs a {said}, not this {subject_kind}"));
                }
                bale_trust::statement::SLSA_PROVENANCE_PREDICATE if subject_kind == "package" => {
                    verdict.kind = Some("rebuild".into());
                    verdict.signed_by = signers;
                }
                other => {
                    verdict.problem =
                        Some(format!("it is a statement of type {other}, which vouches for nothing here"));
                }
            }
        }
        Err(refusal) => verdict.problem = Some(refusal.to_string()),
    }
    verdict
}

/// The verdict on an image a registry holds, from its manifest digest,
/// the name its manifest gives, and its bundles' bytes (read by a guarded
/// pull before anything is stored).
pub fn verdict_from_bundles(
    manifest: &Digest,
    name: Option<&str>,
    bundles: &[Vec<u8>],
    keys: &[PublicKey],
) -> ImageVerdict {
    let signatures: Vec<SignatureVerdict> = bundles
        .iter()
        .map(|bytes| judge_bundle(bale_fileset::sha256_bytes(bytes), Ok(bytes.clone()), name, manifest, "image", keys))
        .collect();
    ImageVerdict::new(*manifest, String::new(), name.map(str::to_string), signatures)
}

impl ImageVerdict {
    /// The decision of `policy` on `today` about the subject of this
    /// verdict. Rules see only names a trusted key vouched for (the
    /// statement's name, which must be the one the subject gives itself):
    /// a subject no trusted key vouched for is judged as `unvouched`
    /// (where it was found: a registry repository, a layout path; for a
    /// package, its id in the store), never by a name it merely claims. `archive_verified`: a Debian package
    /// that came through its archive's signature chain.
    pub fn decide(
        &self,
        policy: &bale_trust::Policy,
        unvouched: &str,
        archive_verified: bool,
        today: i64,
    ) -> bale_trust::Decision {
        let mut names: Vec<&str> = self
            .signatures
            .iter()
            .filter(|s| s.problem.is_none() && !s.signed_by.is_empty())
            .filter_map(|s| s.name.as_deref())
            .collect();
        names.sort_unstable();
        names.dedup();
        if names.is_empty() {
            return policy.decide(unvouched, &[], archive_verified, today);
        }
        let mut decisions = names.iter().map(|name| {
            let vouches: Vec<bale_trust::Vouch> = self
                .signatures
                .iter()
                .filter(|s| s.problem.is_none() && s.name.as_deref() == Some(*name))
                .flat_map(|s| {
                    s.signed_by
                        .iter()
                        .map(|key| bale_trust::Vouch { key: key.clone(), kind: s.kind.clone().unwrap_or_default() })
                })
                .collect();
            policy.decide(name, &vouches, archive_verified, today)
        });
        let first = decisions.next();
        first
            .clone()
            .filter(|d| d.allowed)
            .or_else(|| decisions.find(|d| d.allowed))
            .or(first)
            .unwrap_or_else(|| policy.decide(unvouched, &[], archive_verified, today))
    }
}
