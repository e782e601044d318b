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
    let mut signatures = Vec::new();
    for referrer in store.package_referrers(record)? {
        if referrer.artifact_type.as_deref() != Some(BUNDLE_MEDIA_TYPE) {
            continue;
        }
        let artifact: Manifest = source.json(&referrer.digest, "a signature's manifest")?;
        if artifact.subject.as_ref().map(|s| s.digest) != Some(record.manifest.digest) {
            continue;
        }
        signatures.push(check(&source, &artifact, &referrer, Some(&record.id), &record.manifest, keys));
    }
    let verified = signatures.iter().any(|s| s.problem.is_none() && !s.signed_by.is_empty());
    Ok(ImageVerdict {
        manifest: record.manifest.digest,
        platform: "package".into(),
        name: Some(record.id.clone()),
        signatures,
        verified,
    })
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
        let mut signatures = Vec::new();
        for referrer in summary.referrers.iter().filter(|r| r.artifact_type.as_deref() == Some(BUNDLE_MEDIA_TYPE)) {
            let artifact: Manifest = source.json(&referrer.digest, "a signature's manifest")?;
            if artifact.subject.as_ref().map(|s| s.digest) != Some(image.manifest.digest) {
                continue;
            }
            signatures.push(check(source, &artifact, referrer, name.as_deref(), &image.manifest, keys));
        }
        let verified = signatures.iter().any(|s| s.problem.is_none() && !s.signed_by.is_empty());
        verdicts.push(ImageVerdict {
            manifest: image.manifest.digest,
            platform: platform_name(&image.platform),
            name,
            signatures,
            verified,
        });
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
    image: &Descriptor,
    keys: &[PublicKey],
) -> SignatureVerdict {
    let mut verdict =
        SignatureVerdict { referrer: referrer.digest, name: None, kind: None, signed_by: Vec::new(), problem: None };
    let bundle = match artifact.layers.first().map(|layer| source.read(&layer.digest)) {
        Some(Ok(bytes)) => Bundle::from_json(&bytes),
        Some(Err(e)) => {
            verdict.problem = Some(format!("its bundle cannot be read: {e}"));
            return verdict;
        }
        None => {
            verdict.problem = Some("its manifest holds no bundle".into());
            return verdict;
        }
    };
    let bundle = match bundle {
        Ok(bundle) => bundle,
        Err(e) => {
            verdict.problem = Some(e.to_string());
            return verdict;
        }
    };
    // The statement's own name, for the report, before the checks.
    let statement = bale_trust::decode_statement(&bundle);
    let claimed = statement.as_ref().and_then(|s| s.subject.first().map(|s| s.name.clone()));
    verdict.name = claimed.clone();
    verdict.kind = statement.as_ref().map(|s| match s.predicate_type.as_str() {
        bale_trust::statement::SLSA_PROVENANCE_PREDICATE => "rebuild".to_string(),
        bale_trust::statement::SIGNATURE_PREDICATE => "signature".to_string(),
        other => other.to_string(),
    });
    let Some(expected) = name.map(str::to_string).or(claimed) else {
        verdict.problem = Some("its statement names no subject".into());
        return verdict;
    };
    match bale_trust::check_bundle(&bundle, &expected, &image.digest.hex(), keys) {
        Ok((_, signers)) => verdict.signed_by = signers,
        Err(refusal) => verdict.problem = Some(refusal.to_string()),
    }
    verdict
}

impl ImageVerdict {
    /// What vouches for the subject: each trusted key that signed a
    /// statement naming it, with the statement's kind.
    pub fn vouches(&self) -> Vec<bale_trust::Vouch> {
        let mut out: Vec<bale_trust::Vouch> = Vec::new();
        for signature in self.signatures.iter().filter(|s| s.problem.is_none()) {
            let kind = signature.kind.clone().unwrap_or_default();
            for key in &signature.signed_by {
                let vouch = bale_trust::Vouch { key: key.clone(), kind: kind.clone() };
                if !out.contains(&vouch) {
                    out.push(vouch);
                }
            }
        }
        out
    }
}

/// How the signature bundles `bundles` (bytes, as a registry holds them)
/// of the image `name` with manifest digest `manifest` fare under
/// `policy` on `today`.
pub fn decide_bundles(
    policy: &bale_trust::Policy,
    name: &str,
    manifest: &Digest,
    bundles: &[Vec<u8>],
    today: i64,
) -> bale_trust::Decision {
    let keys: Vec<PublicKey> = policy.keys.iter().map(|k| k.key.clone()).collect();
    let mut vouches: Vec<bale_trust::Vouch> = Vec::new();
    for bytes in bundles {
        let Ok(bundle) = Bundle::from_json(bytes) else { continue };
        let Ok((statement, signers)) = bale_trust::check_bundle(&bundle, name, &manifest.hex(), &keys) else {
            continue;
        };
        let kind = match statement.predicate_type.as_str() {
            bale_trust::statement::SLSA_PROVENANCE_PREDICATE => "rebuild",
            _ => "signature",
        };
        for key in signers {
            let vouch = bale_trust::Vouch { key, kind: kind.into() };
            if !vouches.contains(&vouch) {
                vouches.push(vouch);
            }
        }
    }
    policy.decide(name, &vouches, false, today)
}
