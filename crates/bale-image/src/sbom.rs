//! Software bills of materials for an image: SPDX 2.3 JSON and CycloneDX
//! 1.5 JSON, every package with its purl, version, licence, digests and
//! provenance. Deterministic: the same image gives the same bytes.

use std::collections::BTreeSet;

use bale_store::{PackageMetadata, Provenance, Store, StoreError};
use serde_json::{Value, json};

use crate::compose::Image;

pub const SPDX_MEDIA_TYPE: &str = "application/spdx+json";
pub const CYCLONEDX_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbomFormat {
    Spdx,
    CycloneDx,
}

impl SbomFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Spdx => SPDX_MEDIA_TYPE,
            Self::CycloneDx => CYCLONEDX_MEDIA_TYPE,
        }
    }

    /// File name suffix for the SBOM written beside an output.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Spdx => "spdx.json",
            Self::CycloneDx => "cdx.json",
        }
    }
}

/// What an SBOM describes: the image and the metadata of its packages.
#[derive(Debug)]
pub struct SbomInput {
    pub name: String,
    pub tag: String,
    /// `created` of the image, seconds since the epoch.
    pub created: i64,
    pub image: Image,
    pub packages: Vec<PackageMetadata>,
}

impl SbomInput {
    /// Loads the metadata of every package layer of `image` from the store.
    pub fn load(store: &Store, image: &Image, name: &str, tag: &str, created: i64) -> Result<Self, StoreError> {
        let records = store.packages_by_id()?;
        let mut packages = Vec::new();
        for layer in &image.layers {
            for id in layer.package.iter().chain(&layer.merged) {
                let record = match records.get(id) {
                    Some(record) => record.clone(),
                    None => store.resolve(id)?,
                };
                packages.push(store.load_package(&record)?.1);
            }
        }
        Ok(Self { name: name.into(), tag: tag.into(), created, image: image.clone(), packages })
    }
}

/// Stores both SBOMs of `input.image` and records them on `image` as OCI
/// referrers (artifact manifests whose subject is the image), so layouts
/// and pushes carry them. Returns each document as stored.
pub fn attach(store: &Store, image: &mut Image, input: &SbomInput) -> Result<Vec<(SbomFormat, Vec<u8>)>, StoreError> {
    let mut documents = Vec::new();
    for format in [SbomFormat::Spdx, SbomFormat::CycloneDx] {
        let bytes = render(input, format);
        attach_referrer(store, image, format.media_type(), &bytes)?;
        documents.push((format, bytes));
    }
    Ok(documents)
}

/// Stores `bytes` as the one layer of an artifact manifest of type
/// `artifact_type` whose subject is `image`, and records it on `image` as
/// a referrer, so layouts, pushes and pulls carry it.
pub fn attach_referrer(store: &Store, image: &mut Image, artifact_type: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let subject =
        bale_store::Descriptor::new(bale_store::MANIFEST_MEDIA_TYPE, image.manifest.digest, image.manifest.size);
    let (descriptor, blobs) = referrer_manifest(store, subject, artifact_type, bytes)?;
    image.referrers.push(descriptor);
    image.referrer_blobs.extend(blobs);
    image.referrer_blobs.sort();
    image.referrer_blobs.dedup();
    Ok(())
}

/// An artifact manifest of type `artifact_type` about `subject` whose one
/// layer is `bytes`, stored; its descriptor and every blob it needs.
pub fn referrer_manifest(
    store: &Store,
    subject: bale_store::Descriptor,
    artifact_type: &str,
    bytes: &[u8],
) -> Result<(bale_store::Descriptor, [bale_fileset::Digest; 3]), StoreError> {
    let (manifest, descriptor) = referrer_manifest_bytes(subject, artifact_type, bytes);
    let empty = store.put_bytes(EMPTY_CONFIG)?;
    let digest = store.put_bytes(bytes)?;
    let manifest_digest = store.put_bytes(&manifest)?;
    Ok((descriptor, [manifest_digest, digest, empty]))
}

/// The config of every artifact manifest bale makes.
pub(crate) const EMPTY_CONFIG: &[u8] = b"{}";

/// The bytes and descriptor of an artifact manifest of type
/// `artifact_type` about `subject` whose one layer is `bytes` (its config
/// is [`EMPTY_CONFIG`]).
pub(crate) fn referrer_manifest_bytes(
    subject: bale_store::Descriptor,
    artifact_type: &str,
    bytes: &[u8],
) -> (Vec<u8>, bale_store::Descriptor) {
    use bale_store::oci::{self, Descriptor, EMPTY_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, Manifest};
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        artifact_type: Some(artifact_type.into()),
        config: Descriptor::new(EMPTY_MEDIA_TYPE, bale_fileset::sha256_bytes(EMPTY_CONFIG), EMPTY_CONFIG.len() as u64),
        layers: vec![Descriptor::new(artifact_type, bale_fileset::sha256_bytes(bytes), bytes.len() as u64)],
        subject: Some(subject),
        annotations: Default::default(),
    };
    let manifest_bytes = oci::to_json(&manifest);
    let mut descriptor =
        Descriptor::new(MANIFEST_MEDIA_TYPE, bale_fileset::sha256_bytes(&manifest_bytes), manifest_bytes.len() as u64);
    descriptor.artifact_type = Some(artifact_type.into());
    (manifest_bytes, descriptor)
}

pub fn render(input: &SbomInput, format: SbomFormat) -> Vec<u8> {
    let doc = match format {
        SbomFormat::Spdx => spdx(input),
        SbomFormat::CycloneDx => cyclonedx(input),
    };
    // Compact: the SBOMs are pushed again with every change to the image,
    // and `jq` shows them readably.
    let mut bytes = serde_json::to_vec(&doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Where a package came from, in one line. For Debian packages the
/// archive-wide part (the signed InRelease, its signers, the Packages
/// index) is the same for every package of a suite and component: it is
/// said once per document ([`archive_sources`]), and each package names
/// only its own `.deb`.
fn provenance_text(p: &Provenance) -> String {
    match p {
        Provenance::Directory => "packed from a directory".into(),
        Provenance::Generated { generator } => format!("generated by {generator}"),
        Provenance::Tar { sha256 } => format!("packed from a tar file with {sha256}"),
        Provenance::Debian { archive, suite, component, filename, deb_sha256, .. } => {
            format!("{archive} {suite}/{component} {filename} (.deb {deb_sha256})")
        }
        Provenance::Recipe(recipe) => {
            let external = &recipe.build_definition.external_parameters;
            let digest = external.recipe.digest.get("sha256").map_or("", String::as_str);
            format!("built by bale from the recipe {} (sha256:{digest})", external.recipe.name)
        }
        Provenance::Run { image, commands } => format!(
            "written by the image spec's [[run]] commands over the image {image}: {}",
            commands.iter().map(|c| format!("`{}`", c.join(" ").replace('\n', "; "))).collect::<Vec<_>>().join(", ")
        ),
        Provenance::Npm { registry, tarball, integrity } => {
            format!("the npm tarball {tarball} ({integrity}) from the registry {registry}")
        }
        Provenance::Pypi { index, filename, sha256 } => {
            format!("the wheel {filename} ({sha256}) from the index {index}")
        }
        Provenance::Unknown(unknown) => format!("{} (a provenance kind this bale does not know)", unknown.kind),
    }
}

/// The signed archive indexes the image's Debian packages were verified
/// through, one line each, sorted and without repeats.
fn archive_sources(packages: &[PackageMetadata]) -> Vec<String> {
    let lines: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| match &p.provenance {
            Provenance::Debian { archive, suite, component, packages_sha256, release_sha256, signers, .. } => Some(format!(
                "{archive} {suite}/{component}: Packages {packages_sha256}, listed in InRelease {release_sha256} signed by {}",
                signers.join(", ")
            )),
            _ => None,
        })
        .collect();
    lines.into_iter().collect()
}

/// Every `LicenseRef-…` in the expressions, which SPDX documents must
/// declare.
fn license_refs(packages: &[PackageMetadata]) -> BTreeSet<String> {
    packages
        .iter()
        .flat_map(|p| {
            p.license
                .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
                .filter(|t| t.starts_with("LicenseRef-"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn rfc3339(seconds: i64) -> String {
    crate::compose::rfc3339(seconds)
}

fn spdx(input: &SbomInput) -> Value {
    let image_hex = input.image.manifest.digest.hex();
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": input.name,
        "versionInfo": input.tag,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "checksums": [{ "algorithm": "SHA256", "checksumValue": image_hex }],
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": format!("pkg:oci/{}@sha256%3A{image_hex}?arch={}", input.name.rsplit('/').next().unwrap_or(&input.name), input.image.platform.architecture),
        }],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    for (i, p) in input.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{}", i + 1);
        let mut package = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": p.license,
            "copyrightText": "NOASSERTION",
            "checksums": [{ "algorithm": "SHA256", "checksumValue": p.content.digest.hex() }],
            "externalRefs": [{ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl }],
            "sourceInfo": provenance_text(&p.provenance),
            "comment": format!("bale package {}", p.id()),
        });
        if let Some(source) = &p.source {
            package["summary"] = json!(format!("built from source package {} {}", source.name, source.version));
        }
        if matches!(p.provenance, Provenance::Debian { .. }) {
            package["supplier"] = json!("Organization: Debian");
        }
        packages.push(package);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let extracted: Vec<Value> = license_refs(&input.packages)
        .into_iter()
        .map(|id| {
            json!({
                "licenseId": id,
                "name": id.trim_start_matches("LicenseRef-"),
                "extractedText": "See the package's copyright file under /usr/share/doc.",
            })
        })
        .collect();
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}:{}", input.name, input.tag),
        "documentNamespace": format!("urn:bale:spdx:sha256:{image_hex}"),
        "creationInfo": {
            "created": rfc3339(input.created),
            "creators": [format!("Tool: bale-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = Value::Array(extracted);
    }
    let sources = archive_sources(&input.packages);
    if !sources.is_empty() {
        doc["creationInfo"]["comment"] = json!(format!("Debian packages verified through: {}", sources.join("; ")));
    }
    doc
}

/// A name-based UUID (version 5 layout) from the image digest, so the
/// serial number is stable for the same image.
fn uuid_from(digest: &bale_fileset::Digest) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_bytes()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex_lower(&b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn cyclonedx(input: &SbomInput) -> Value {
    let components: Vec<Value> = input
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut c = json!({
                "type": "library",
                "bom-ref": format!("package-{}", i + 1),
                "name": p.name,
                "version": p.version,
                "purl": p.purl,
                "hashes": [{ "alg": "SHA-256", "content": p.content.digest.hex() }],
                "properties": [
                    { "name": "bale:id", "value": p.id() },
                    { "name": "bale:provenance", "value": provenance_text(&p.provenance) },
                ],
            });
            if p.license != "NOASSERTION" {
                c["licenses"] = json!([{ "expression": p.license }]);
            }
            // The source package, which advisories name (a registry's
            // index reads it from here).
            if let (Some(source), Some(properties)) = (&p.source, c["properties"].as_array_mut()) {
                properties.push(json!({ "name": "bale:source", "value": source.name }));
                properties.push(json!({ "name": "bale:source-version", "value": source.version }));
            }
            if matches!(p.provenance, Provenance::Debian { .. }) {
                c["supplier"] = json!({ "name": "Debian" });
            }
            c
        })
        .collect();
    let refs: Vec<Value> = (1..=input.packages.len()).map(|i| json!(format!("package-{i}"))).collect();
    let sources: Vec<Value> = archive_sources(&input.packages)
        .into_iter()
        .map(|line| json!({ "name": "bale:debian-index", "value": line }))
        .collect();
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid_from(&input.image.manifest.digest)),
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(input.created),
            "tools": { "components": [{ "type": "application", "name": "bale", "version": env!("CARGO_PKG_VERSION") }] },
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": input.name,
                "version": input.tag,
                "hashes": [{ "alg": "SHA-256", "content": input.image.manifest.digest.hex() }],
            },
        },
        "components": components,
        "dependencies": [{ "ref": "image", "dependsOn": refs }],
    });
    if !sources.is_empty() {
        doc["metadata"]["properties"] = Value::Array(sources);
    }
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_have_the_v5_shape() {
        let d = bale_fileset::sha256_bytes(b"x");
        let u = super::uuid_from(&d);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "5");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
    }
}
