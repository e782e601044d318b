//! Package metadata v1: the OCI config of a package artifact. Shape
//! documented in `docs/package-metadata.md`.

use bale_fileset::Digest;
use serde::{Deserialize, Serialize};

pub const PACKAGE_MEDIA_TYPE: &str = "application/vnd.bale.package.v1+json";
/// The `artifactType` of a package's manifest.
pub const PACKAGE_ARTIFACT_TYPE: &str = "application/vnd.bale.package.v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageMetadata {
    pub schema_version: u32,
    pub media_type: String,
    pub name: String,
    pub version: String,
    /// One line on what it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Where the package comes from (`debian:bookworm`); absent for
    /// bale-native packages, whose names are rooted in DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    pub content: ContentInfo,
    pub file_index: BlobRef,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    #[serde(default)]
    pub provides: Vec<Provide>,
    /// Packages this one cannot be installed with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<DependencyAlternative>,
    /// The source package it was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    /// What only a Debian package has; each source keeps its own fields in
    /// its own extension, so the shared ones above mean the same for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debian: Option<DebianFields>,
    /// Alternatives symlinks the package would register (from its
    /// maintainer scripts, read statically); the image layer creates them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<AlternativeLink>,
    /// System accounts the package's files or programs need; an image
    /// holding the package lists them in /etc/passwd and /etc/group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<SystemUser>,
    /// An SPDX licence expression, `NOASSERTION` when unknown.
    pub license: String,
    pub purl: String,
    pub provenance: Provenance,
    #[serde(default, skip_serializing_if = "Dropped::is_empty")]
    pub dropped: Dropped,
}

/// The canonical tar: its digest is the package's content id and OCI
/// `diff_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentInfo {
    pub digest: Digest,
    /// Bytes of the uncompressed canonical tar.
    pub size: u64,
    /// Regular files (hard links not counted).
    pub files: u64,
    /// All entries: files, directories, symlinks, hard links.
    pub entries: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
}

/// The fields of a Debian package that no other source has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebianFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// `Essential: yes`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub essential: bool,
    /// Packages this one breaks (a weaker conflict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaks: Vec<DependencyAlternative>,
}

impl DebianFields {
    fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// One requirement, satisfied by any of its alternatives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub any_of: Vec<DependencyAlternative>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyAlternative {
    pub name: String,
    /// A relation and version, such as `>= 2.36`; absent means any version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    pub name: String,
    pub version: String,
}

/// One `update-alternatives --install LINK NAME PATH PRIORITY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlternativeLink {
    /// The generic path, such as `/usr/bin/awk`.
    pub link: String,
    pub name: String,
    /// The implementation it points to, such as `/usr/bin/mawk`.
    pub path: String,
    pub priority: i64,
}

/// A system account a package declares: its user and the primary group
/// of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemUser {
    pub name: String,
    pub uid: u32,
    /// The primary group's id (the group is named after the user).
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provide {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// How the content came to be. Nothing machine-specific (no host paths, no
/// times) so that anyone packing the same input gets the same metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Provenance {
    /// `bale pack` of a directory.
    Directory,
    /// Made by `generator` itself from nothing but its own rules (the
    /// merged-/usr links), not from any input.
    Generated { generator: String },
    /// `bale pack` of a tar file, whose bytes hashed to `sha256`.
    Tar { sha256: Digest },
    /// A .deb from a Debian archive, verified along the signature chain:
    /// the `InRelease` signed by `signers`, the `Packages` index it lists,
    /// and the .deb that index lists.
    Debian {
        /// The archive's `Origin` (such as `Debian`).
        archive: String,
        suite: String,
        component: String,
        filename: String,
        deb_sha256: Digest,
        packages_sha256: Digest,
        release_sha256: Digest,
        signers: Vec<String>,
    },
    /// Built by `bale make` from a recipe, recorded in the shape of SLSA
    /// provenance v1's predicate, so an attestation can carry it as is.
    Recipe(Box<RecipeProvenance>),
    /// What an image spec's `[[run]]` commands wrote, in bale's sandbox
    /// without network, over the image composed from everything else (the
    /// manifest `image`).
    /// Each command as the sandbox ran it (a `run` line as `/bin/sh -e -c
    /// LINE`), so two commands that read alike are never taken for one.
    Run { image: Digest, commands: Vec<Vec<String>> },
    /// A wheel from a Python package index, unpacked as bale installs
    /// wheels: the file `filename` whose bytes hashed to `sha256`, as the
    /// index at `index` listed it.
    Pypi { index: String, filename: String, sha256: Digest },
    /// A package tarball from an npm registry: the file `tarball` whose
    /// bytes matched `integrity` (SRI, sha512), as the registry at
    /// `registry` listed it.
    Npm { registry: String, tarball: String, integrity: String },
    /// A kind this bale does not know, written by a newer one (a source
    /// added since): kept whole, shown by its kind, never taken for one of
    /// the kinds above.
    #[serde(untagged)]
    Unknown(UnknownProvenance),
}

/// The kinds of provenance this bale knows, by their `type`.
const KNOWN_PROVENANCE: [&str; 8] = ["directory", "generated", "tar", "debian", "recipe", "run", "pypi", "npm"];

/// The build type of a recipe build, as SLSA's `buildType` names it.
pub const RECIPE_BUILD_TYPE: &str = "urn:bale:build-type:recipe:v1";

/// How a recipe became a package: SLSA provenance v1's `buildDefinition`
/// and `runDetails`. Nothing in it varies between two builds of the same
/// locked recipe on one kind of machine (no times, no paths, no ids of the
/// run), so a rebuild gives the same metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipeProvenance {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// [`RECIPE_BUILD_TYPE`].
    pub build_type: String,
    /// What the user controls: the recipe and its lock.
    pub external_parameters: RecipeParameters,
    /// What bale fixed for the build.
    pub internal_parameters: BuildParameters,
    /// Every input by digest: sources, Debian indexes, build-root packages.
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipeParameters {
    /// The recipe's file name and the sha256 of its bytes.
    pub recipe: ResourceDescriptor,
    /// The sha256 of `recipe.lock`'s bytes.
    pub lock: ResourceDescriptor,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildParameters {
    pub source_date_epoch: i64,
    pub jobs: u32,
    pub uid: u32,
    pub hostname: String,
    /// The sandbox's network: always `loopback`.
    pub network: String,
}

/// SLSA's ResourceDescriptor, as far as bale fills it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Algorithm to lowercase hex, as SLSA's DigestSet (`sha256`).
    pub digest: std::collections::BTreeMap<String, String>,
}

impl ResourceDescriptor {
    pub fn sha256(name: impl Into<String>, uri: Option<String>, digest: &Digest) -> Self {
        Self { name: name.into(), uri, digest: [("sha256".to_string(), digest.hex())].into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    pub builder: Builder,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    /// `urn:bale:builder:sandbox`.
    pub id: String,
    /// `bale` and `kernel` (the release the sandbox ran on).
    pub version: std::collections::BTreeMap<String, String>,
}

/// A provenance of a kind this bale does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownProvenance {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl<'de> Deserialize<'de> for UnknownProvenance {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let kind = match fields.remove("type") {
            Some(serde_json::Value::String(kind)) => kind,
            _ => return Err(serde::de::Error::custom("a provenance names its `type`")),
        };
        // A known kind that did not parse as that kind is damage, not news.
        if KNOWN_PROVENANCE.contains(&kind.as_str()) {
            return Err(serde::de::Error::custom(format!("a provenance of type {kind:?} lacks a field it needs")));
        }
        Ok(Self { kind, fields })
    }
}

/// What was left out of the source on purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dropped {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintainer_scripts: Vec<String>,
}

impl Dropped {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.maintainer_scripts.is_empty()
    }
}

impl PackageMetadata {
    /// The bounds for reading this package's layer: exactly the size and
    /// entry count its content declares; anything more is damage.
    pub fn content_limits(&self) -> bale_fileset::Limits {
        bale_fileset::Limits {
            max_total_size: self.content.size,
            max_entry_size: self.content.size,
            max_entries: self.content.entries,
        }
    }

    /// Metadata with everything empty but the name and version, for a
    /// source to fill in; `content` and `fileIndex` are set when stored.
    pub fn new(name: &str, version: &str) -> Self {
        let zero = BlobRef { digest: Digest::from_bytes([0; 32]), size: 0 };
        Self {
            schema_version: 1,
            media_type: PACKAGE_MEDIA_TYPE.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            summary: None,
            origin: None,
            architecture: Some(crate::id::ARCH_ALL.to_string()),
            content: ContentInfo { digest: zero.digest, size: 0, files: 0, entries: 0 },
            file_index: zero,
            dependencies: Vec::new(),
            provides: Vec::new(),
            conflicts: Vec::new(),
            source: None,
            debian: None,
            alternatives: Vec::new(),
            users: Vec::new(),
            license: "NOASSERTION".to_string(),
            purl: generic_purl(name, version),
            provenance: Provenance::Directory,
            dropped: Dropped::default(),
        }
    }

    /// Reads a metadata document. Documents written before per-source
    /// extensions had Debian's `section`, `essential` and `breaks` at the
    /// top level; they are read into `debian`, so nothing is lost, and an
    /// unknown provenance kind is kept as [`Provenance::Unknown`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let mut document: serde_json::Value = serde_json::from_slice(bytes)?;
        if let Some(object) = document.as_object_mut() {
            let mut legacy = serde_json::Map::new();
            for key in ["section", "essential", "breaks"] {
                if let Some(value) = object.remove(key) {
                    legacy.insert(key.to_string(), value);
                }
            }
            if !legacy.is_empty() && !object.contains_key("debian") {
                object.insert("debian".into(), serde_json::Value::Object(legacy));
            }
        }
        let mut metadata: Self = serde_json::from_value(document)?;
        if metadata.debian.as_ref().is_some_and(DebianFields::is_empty) {
            metadata.debian = None;
        }
        Ok(metadata)
    }

    /// The id the store lists it under: `[origin/]name:architecture@version`.
    pub fn id(&self) -> String {
        let arch = self.architecture_or_all();
        match &self.origin {
            Some(origin) => format!("{origin}/{}:{arch}@{}", self.name, self.version),
            None => format!("{}:{arch}@{}", self.name, self.version),
        }
    }

    /// Metadata written before architectures were part of ids left it out
    /// for bale-native packages, which made no claim: they are `all`.
    pub fn architecture_or_all(&self) -> &str {
        self.architecture.as_deref().unwrap_or(crate::id::ARCH_ALL)
    }
}

/// A purl for a bale-native package: `pkg:generic/<name>@<version>`, with
/// the version percent-encoded as the purl spec asks.
pub fn generic_purl(name: &str, version: &str) -> String {
    format!("pkg:generic/{name}@{}", purl_version(version))
}

/// A version percent-encoded as purls want it (`1:2+b1` → `1%3A2%2Bb1`).
pub fn purl_version(version: &str) -> String {
    let mut encoded = String::new();
    for b in version.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    encoded
}

/// Date and time of a Unix timestamp in UTC: (year, month, day, hour,
/// minute, second), by Howard Hinnant's days-to-civil algorithm.
pub fn utc_time(seconds: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// [`utc_time`]'s date, by the same algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(extra: &str) -> String {
        let zero = format!("sha256:{}", "0".repeat(64));
        format!(
            r#"{{"schemaVersion":1,"mediaType":"{PACKAGE_MEDIA_TYPE}","name":"libfoo","version":"1","architecture":"amd64","content":{{"digest":"{zero}","size":0,"files":0,"entries":0}},"fileIndex":{{"digest":"{zero}","size":0}},"license":"MIT","purl":"pkg:generic/libfoo@1",{extra}}}"#
        )
    }

    #[test]
    fn debian_fields_of_the_previous_layout_are_read_into_the_extension() {
        let old = document(
            r#""section":"libs","essential":true,"breaks":[{"name":"old"}],"provenance":{"type":"directory"}"#,
        );
        let metadata = PackageMetadata::from_json(old.as_bytes()).unwrap();
        let debian = metadata.debian.unwrap();
        assert_eq!(debian.section.as_deref(), Some("libs"));
        assert!(debian.essential);
        assert_eq!(debian.breaks[0].name, "old");
        let plain = PackageMetadata::from_json(document(r#""provenance":{"type":"directory"}"#).as_bytes()).unwrap();
        assert_eq!(plain.debian, None);
    }

    #[test]
    fn an_unknown_provenance_kind_is_kept_whole_and_never_taken_for_a_known_one() {
        let newer =
            document(r#""provenance":{"type":"futurekind","index":"https://index.example/simple","wheelSha256":"ab"}"#);
        let metadata = PackageMetadata::from_json(newer.as_bytes()).unwrap();
        let Provenance::Unknown(unknown) = &metadata.provenance else { panic!("{:?}", metadata.provenance) };
        assert_eq!(unknown.kind, "futurekind");
        assert_eq!(unknown.fields["wheelSha256"], "ab");
        // Written back as it came.
        let again = serde_json::to_value(&metadata.provenance).unwrap();
        assert_eq!(
            again,
            serde_json::json!({"type":"futurekind","index":"https://index.example/simple","wheelSha256":"ab"})
        );
        // A known kind missing its fields is damage, not an unknown kind.
        let damaged = document(r#""provenance":{"type":"debian","suite":"bookworm"}"#);
        assert!(PackageMetadata::from_json(damaged.as_bytes()).is_err());
        let untyped = document(r#""provenance":{"suite":"bookworm"}"#);
        assert!(PackageMetadata::from_json(untyped.as_bytes()).is_err());
    }

    #[test]
    fn purls_encode_versions() {
        assert_eq!(generic_purl("hello", "1.0"), "pkg:generic/hello@1.0");
        assert_eq!(generic_purl("example.com/app", "1:2+b1"), "pkg:generic/example.com/app@1%3A2%2Bb1");
    }
}
