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
use crate::package_trust::{PackageVerdict, documents_of, judge_packages};
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

/// Signs each image of the one tagged `tag` in the OCI layout at `dir`
/// (every image of an image index) with `key`, as the name its manifest
/// gives, else `name`; the bundles are added to the layout as referrers.
/// Returns each image's manifest digest and the name signed.
pub fn sign_layout(
    dir: &std::path::Path,
    tag: &str,
    name: Option<&str>,
    key: &SigningKey,
) -> Result<Vec<(Digest, String)>, SignError> {
    let summary = crate::inspect_layout(dir, tag)?;
    let layout = bale_store::LayoutReader::open(dir)?;
    let source = ImageSource::Layout(bale_store::LayoutReader::open(dir)?);
    let mut signed = Vec::new();
    for image in &summary.images {
        let manifest: Manifest = source.json(&image.manifest.digest, "an image manifest")?;
        let own = manifest.annotations.get(NAME_ANNOTATION).map(String::as_str);
        let name = match (own, name) {
            (Some(own), Some(given)) if own != given => {
                return Err(SignError::Name { manifest: image.manifest.digest, own: own.into(), given: given.into() });
            }
            (Some(own), _) | (None, Some(own)) => own.to_string(),
            (None, None) => return Err(SignError::Unnamed { manifest: image.manifest.digest }),
        };
        let bundle = bale_trust::sign_subject(&name, &image.manifest.digest.hex(), "image", key)?.to_json();
        let subject = Descriptor::new(bale_store::MANIFEST_MEDIA_TYPE, image.manifest.digest, image.manifest.size);
        let (manifest_bytes, descriptor) = crate::sbom::referrer_manifest_bytes(subject, BUNDLE_MEDIA_TYPE, &bundle);
        layout.add_artifact(&[crate::sbom::EMPTY_CONFIG, &bundle, &manifest_bytes], &descriptor)?;
        signed.push((image.manifest.digest, name));
    }
    Ok(signed)
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
    Ok(bundle_bytes(source, referrers, &subject.digest)?
        .into_iter()
        .map(|(referrer, bytes)| judge_bundle(referrer, bytes, name, &subject.digest, subject_kind, keys))
        .collect())
}

/// A bundle's referrer and its bytes, or why they cannot be read.
pub(crate) type FoundBundle = (Digest, Result<Vec<u8>, String>);

/// The bytes of every signature bundle among `referrers` whose subject is
/// `subject`, by the referrer that carries it (or why it cannot be read).
pub(crate) fn bundle_bytes(
    source: &ImageSource<'_>,
    referrers: &[Descriptor],
    subject: &Digest,
) -> Result<Vec<FoundBundle>, StoreError> {
    let mut found = Vec::new();
    for referrer in referrers.iter().filter(|r| r.artifact_type.as_deref() == Some(BUNDLE_MEDIA_TYPE)) {
        let artifact: Manifest = source.json(&referrer.digest, "a signature's manifest")?;
        if artifact.subject.as_ref().map(|s| s.digest) != Some(*subject) {
            continue;
        }
        let bytes = match artifact.layers.first() {
            Some(layer) if layer.size > bale_trust::bundle::MAX_BUNDLE as u64 => {
                Err(format!("its bundle is {} bytes, more than bale reads", layer.size))
            }
            Some(layer) => source.read(&layer.digest).map_err(|e| format!("its bundle cannot be read: {e}")),
            None => Err("its manifest holds no bundle".into()),
        };
        found.push((referrer.digest, bytes));
    }
    Ok(found)
}

impl ImageVerdict {
    pub(crate) fn new(
        manifest: Digest,
        platform: String,
        name: Option<String>,
        signatures: Vec<SignatureVerdict>,
    ) -> Self {
        let verified = signatures.iter().any(|s| s.problem.is_none() && !s.signed_by.is_empty());
        Self { manifest, platform, name, signatures, verified, packages: Vec::new() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the image {manifest} names itself {own:?}, not {given:?}")]
    Name { manifest: Digest, own: String, given: String },
    #[error("the image {manifest} does not name itself (bale did not build it)")]
    Unnamed { manifest: Digest },
}

impl SignError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Trust(e) => e.help(),
            Self::Store(e) => e.help(),
            Self::Name { .. } => Some(
                "a signature names the image as its manifest does, so a verifier can hold it to that name: \
                 leave --name out",
            ),
            Self::Unnamed { .. } => Some("give the name to sign it as with --name (e.g. example.com/app)"),
        }
    }
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
    /// What vouches for each package of the image, layer by layer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageVerdict>,
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

/// The signatures of the image tagged `tag` in the OCI layout at `dir`
/// and of its packages, checked against `keys`; `store`'s own records of
/// the packages count beside what the layout carries.
pub fn verify_layout(
    dir: &std::path::Path,
    tag: &str,
    store: Option<&Store>,
    keys: &[PublicKey],
) -> Result<Vec<ImageVerdict>, StoreError> {
    let summary = crate::inspect_layout(dir, tag)?;
    verify_images(&ImageSource::Layout(bale_store::LayoutReader::open(dir)?), &summary, store, keys)
}

/// The signatures of the image the store pulled as `reference`, checked
/// against `keys`; `None` when the store pulled no such image.
pub fn verify_pulled(
    store: &Store,
    reference: &str,
    keys: &[PublicKey],
) -> Result<Option<Vec<ImageVerdict>>, StoreError> {
    let Some(summary) = crate::inspect_pulled(store, reference)? else { return Ok(None) };
    verify_images(&ImageSource::Store(store), &summary, Some(store), keys).map(Some)
}

/// Checks every signature bundle of each image of `summary`, and of each
/// of its packages, against `keys`.
fn verify_images(
    source: &ImageSource<'_>,
    summary: &ImageSummary,
    store: Option<&Store>,
    keys: &[PublicKey],
) -> Result<Vec<ImageVerdict>, StoreError> {
    let mut verdicts = Vec::new();
    for image in &summary.images {
        let manifest: Manifest = source.json(&image.manifest.digest, "an image manifest")?;
        let name = manifest.annotations.get(NAME_ANNOTATION).cloned();
        let signatures = signatures_of(source, &summary.referrers, &image.manifest, name.as_deref(), "image", keys)?;
        let mut verdict = ImageVerdict::new(image.manifest.digest, platform_name(&image.platform), name, signatures);
        let documents = documents_of(source, &summary.referrers, &image.manifest.digest)?;
        verdict.packages = judge_packages(&manifest, &documents, store, keys);
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

fn platform_name(platform: &Platform) -> String {
    match &platform.variant {
        Some(variant) => format!("{}/{}/{variant}", platform.os, platform.architecture),
        None => format!("{}/{}", platform.os, platform.architecture),
    }
}

/// One bundle's bytes (or why there are none) judged for the subject with
/// digest `digest` of kind `subject_kind` (`image`, `package`). `name`:
/// the name the subject gives itself, which a statement must match; when
/// it gives none, the statement's own name stands, and only a trusted
/// key's signature makes it count.
pub(crate) fn judge_bundle(
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

/// The verdict on an image a registry holds, from its manifest (and that
/// manifest's digest), its signature bundles' bytes and its package-trust
/// documents (read by a guarded pull before anything is stored); `store`'s
/// own records of the packages count beside them.
pub fn verdict_from_bundles(
    digest: &Digest,
    manifest: &Manifest,
    bundles: &[Vec<u8>],
    documents: &[Vec<u8>],
    store: Option<&Store>,
    keys: &[PublicKey],
) -> ImageVerdict {
    let name = manifest.annotations.get(NAME_ANNOTATION).map(String::as_str);
    let signatures: Vec<SignatureVerdict> = bundles
        .iter()
        .map(|bytes| judge_bundle(bale_fileset::sha256_bytes(bytes), Ok(bytes.clone()), name, digest, "image", keys))
        .collect();
    let mut verdict = ImageVerdict::new(*digest, String::new(), name.map(str::to_string), signatures);
    verdict.packages = judge_packages(manifest, documents, store, keys);
    verdict
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

/// A policy's decisions on an image and on each of its packages.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDecision {
    pub image: bale_trust::Decision,
    /// By package id, in the image's layer order.
    pub packages: Vec<(String, bale_trust::Decision)>,
    /// The image and every package of it are allowed.
    pub allowed: bool,
}

impl ImageDecision {
    /// The first refusal, as `what does not meet …: why`.
    pub fn refusal(&self) -> Option<(String, &str)> {
        if !self.image.allowed {
            return Some((String::new(), &self.image.reason));
        }
        self.packages.iter().find(|(_, d)| !d.allowed).map(|(id, d)| (format!("package {id}"), d.reason.as_str()))
    }
}

impl ImageVerdict {
    /// [`ImageVerdict::decide`] for the image, then each package judged
    /// with the image's claims counting only if a key the policy counts
    /// signed it.
    pub fn decide_all(&self, policy: &bale_trust::Policy, unvouched: &str, today: i64) -> ImageDecision {
        let image = self.decide(policy, unvouched, false, today);
        let image_vouched = image.allowed && !image.counted.is_empty();
        let packages: Vec<(String, bale_trust::Decision)> =
            self.packages.iter().map(|p| (p.id().to_string(), p.decide(policy, image_vouched, today))).collect();
        let allowed = image.allowed && packages.iter().all(|(_, d)| d.allowed);
        ImageDecision { image, packages, allowed }
    }
}
