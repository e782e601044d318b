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
/// and pushes carry them.
pub fn attach(store: &Store, image: &mut Image, input: &SbomInput) -> Result<(), StoreError> {
    use bale_store::oci::{self, Descriptor, EMPTY_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, Manifest};
    let empty = store.put_bytes(b"{}")?;
    for format in [SbomFormat::Spdx, SbomFormat::CycloneDx] {
        let bytes = render(input, format);
        let digest = store.put_bytes(&bytes)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: MANIFEST_MEDIA_TYPE.into(),
            artifact_type: Some(format.media_type().into()),
            config: Descriptor::new(EMPTY_MEDIA_TYPE, empty, 2),
            layers: vec![Descriptor::new(format.media_type(), digest, bytes.len() as u64)],
            subject: Some(Descriptor::new(MANIFEST_MEDIA_TYPE, image.manifest.digest, image.manifest.size)),
            annotations: Default::default(),
        };
        let manifest_bytes = oci::to_json(&manifest);
        let manifest_digest = store.put_bytes(&manifest_bytes)?;
        let mut descriptor = Descriptor::new(MANIFEST_MEDIA_TYPE, manifest_digest, manifest_bytes.len() as u64);
        descriptor.artifact_type = Some(format.media_type().into());
        image.referrers.push(descriptor);
        image.referrer_blobs.extend([manifest_digest, digest, empty]);
    }
    image.referrer_blobs.sort();
    image.referrer_blobs.dedup();
    Ok(())
}

pub fn render(input: &SbomInput, format: SbomFormat) -> Vec<u8> {
    let doc = match format {
        SbomFormat::Spdx => spdx(input),
        SbomFormat::CycloneDx => cyclonedx(input),
    };
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn provenance_text(p: &Provenance) -> String {
    match p {
        Provenance::Directory => "packed from a directory".into(),
        Provenance::Tar { sha256 } => format!("packed from a tar file with {sha256}"),
        Provenance::Debian {
            archive,
            suite,
            component,
            filename,
            deb_sha256,
            packages_sha256,
            release_sha256,
            signers,
        } => {
            format!(
                "{archive} {suite}/{component} {filename} (.deb {deb_sha256}; Packages {packages_sha256}; InRelease {release_sha256} signed by {})",
                signers.join(", ")
            )
        }
    }
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
            "referenceLocator": format!("pkg:oci/{}@sha256%3A{image_hex}", input.name.rsplit('/').next().unwrap_or(&input.name)),
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
            "comment": format!("bale package {} (content {})", p.id(), p.content.digest),
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
                "extractedText": "A licence named in the package's copyright file without an SPDX identifier; see /usr/share/doc/<package>/copyright in the image.",
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
                    { "name": "bale:content-digest", "value": p.content.digest.to_string() },
                    { "name": "bale:provenance", "value": provenance_text(&p.provenance) },
                ],
            });
            if p.license != "NOASSERTION" {
                c["licenses"] = json!([{ "expression": p.license }]);
            }
            if matches!(p.provenance, Provenance::Debian { .. }) {
                c["supplier"] = json!({ "name": "Debian" });
            }
            c
        })
        .collect();
    let refs: Vec<Value> = (1..=input.packages.len()).map(|i| json!(format!("package-{i}"))).collect();
    json!({
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
    })
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
