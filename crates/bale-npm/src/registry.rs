//! The npm registry: where it is (the spec, `npm_config_registry`, else
//! what the host's npm says — never a host written into bale), a
//! package's document (the abbreviated form npm installs from) and its
//! tarballs, each held to its `dist.integrity` (sha512).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use bale_http::NetLimits;
use base64::Engine;
use serde::Deserialize;
use url::Url;

/// The largest package document read (the biggest are tens of MB).
const MAX_DOCUMENT: u64 = 128 << 20;

const ABBREVIATED: &str = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no npm registry is configured for [npm] packages")]
    NotConfigured,
    #[error("the registry URL {url:?} ({origin}) is not an http or https URL")]
    BadUrl { url: String, origin: String },
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the registry has no package {name:?}")]
    NoPackage { name: String },
    #[error("{name}: the registry's document is not what npm reads: {reason}")]
    BadDocument { name: String, reason: String },
    #[error("{name}@{version}: its tarball's sha512 is not the {integrity} the registry lists")]
    Integrity { name: String, version: String, integrity: String },
    #[error("{name}@{version}: the registry gives no sha512 integrity for its tarball ({given})")]
    NoIntegrity { name: String, version: String, given: String },
}

impl RegistryError {
    pub fn help(&self) -> Option<&'static str> {
        Some(match self {
            Self::NotConfigured => {
                "set `registry = \"URL\"` in the spec's [npm] table or npm_config_registry, or install npm \
                 (bale asks `npm config get registry`)"
            }
            Self::BadUrl { .. } => "give the registry's URL, such as https://HOST/",
            Self::Fetch { .. } => "check the registry URL and the network, then retry",
            Self::NoPackage { .. } => "check the package's name, or whether this registry serves it",
            Self::BadDocument { .. } => "the registry must answer as npm's does",
            Self::Integrity { .. } => "the registry or a proxy served other bytes than it listed; nothing was stored",
            Self::NoIntegrity { .. } => "bale checks tarballs by sha512 only; pin a version published with one",
        })
    }
}

/// Where the registry came from, for messages and provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryLocation {
    pub url: Url,
    pub origin: String,
}

/// The registry: the spec's, else `npm_config_registry`, else what the
/// host's `npm config get registry` answers.
pub fn locate(spec_registry: Option<&str>) -> Result<RegistryLocation, RegistryError> {
    let found = spec_registry
        .map(|url| (url.to_string(), "the spec".to_string()))
        .or_else(|| {
            ["npm_config_registry", "NPM_CONFIG_REGISTRY"]
                .iter()
                .find_map(|key| std::env::var(key).ok().filter(|u| !u.is_empty()).map(|u| (u, key.to_string())))
        })
        .or_else(|| {
            let out = std::process::Command::new("npm").args(["config", "get", "registry"]).output().ok()?;
            let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !url.is_empty() && url != "undefined")
                .then(|| (url, "npm config get registry".to_string()))
        });
    let (text, origin) = found.ok_or(RegistryError::NotConfigured)?;
    let mut url =
        Url::parse(text.trim()).map_err(|_| RegistryError::BadUrl { url: text.clone(), origin: origin.clone() })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(RegistryError::BadUrl { url: text, origin });
    }
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(RegistryLocation { url, origin })
}

/// One version of a package, as the registry lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub version: String,
    #[serde(default, deserialize_with = "lenient_map")]
    pub dependencies: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient_map")]
    pub optional_dependencies: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient_map")]
    pub peer_dependencies: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient_list")]
    pub os: Vec<String>,
    #[serde(default, deserialize_with = "lenient_list")]
    pub cpu: Vec<String>,
    #[serde(default, deserialize_with = "lenient_list")]
    pub libc: Vec<String>,
    pub dist: Dist,
    /// The abbreviated document says so; the full one lists the scripts.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub has_install_script: bool,
    #[serde(default, deserialize_with = "lenient_map")]
    pub scripts: BTreeMap<String, String>,
    #[serde(default)]
    pub bin: Option<serde_json::Value>,
    #[serde(default)]
    pub deprecated: Option<serde_json::Value>,
}

// Published documents are decades old and not all well formed
// (`"dependencies": []`, `"os": "linux"`): what npm itself reads past is
// read as the nearest sensible value, never a failure of the package.
fn lenient_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::Object(map) => {
            map.into_iter().filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string()))).collect()
        }
        _ => BTreeMap::new(),
    })
}

fn lenient_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        serde_json::Value::String(one) => vec![one],
        _ => Vec::new(),
    })
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(serde_json::Value::deserialize(d)?.as_bool().unwrap_or(false))
}

impl VersionInfo {
    /// Whether installing it runs a script npm would run.
    pub fn installs_with_script(&self) -> bool {
        self.has_install_script
            || ["preinstall", "install", "postinstall"].iter().any(|s| self.scripts.contains_key(*s))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dist {
    pub tarball: String,
    #[serde(default)]
    pub integrity: Option<String>,
    #[serde(default)]
    pub shasum: Option<String>,
}

/// A package's document: its versions and dist-tags.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Document {
    pub name: String,
    #[serde(default)]
    pub dist_tags: BTreeMap<String, String>,
    /// Versions bale cannot read (no `dist`, say) are left out: they
    /// cannot be installed, and the others still can.
    #[serde(default, deserialize_with = "readable_versions")]
    pub versions: BTreeMap<String, VersionInfo>,
}

fn readable_versions<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, VersionInfo>, D::Error> {
    let all = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
    Ok(all.into_iter().filter_map(|(version, info)| Some((version, serde_json::from_value(info).ok()?))).collect())
}

/// A registry client.
#[derive(Debug)]
pub struct Registry {
    pub location: RegistryLocation,
    agent: ureq::Agent,
    limits: NetLimits,
}

impl Registry {
    pub fn new(location: RegistryLocation) -> Self {
        let limits = NetLimits::from_env();
        Self { location, agent: bale_http::agent(&limits), limits }
    }

    /// The document of the package `name` (`express`, `@types/node`).
    pub fn document(&self, name: &str) -> Result<Document, RegistryError> {
        // A scoped name keeps its `@` and has its `/` escaped, as npm asks.
        let path = name.replace('/', "%2f");
        let url = self
            .location
            .url
            .join(&path)
            .map_err(|e| RegistryError::Fetch { url: self.location.url.to_string(), reason: e.to_string() })?;
        let fail = |reason: String| RegistryError::Fetch { url: url.to_string(), reason };
        let response = self
            .agent
            .get(url.as_str())
            .header("Accept", ABBREVIATED)
            .call()
            .map_err(|e| fail(bale_http::describe(&e, &self.limits)))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Err(RegistryError::NoPackage { name: name.to_string() }),
            other => return Err(fail(format!("HTTP {other}"))),
        }
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut body)
            .map_err(|e| fail(e.to_string()))?;
        if body.len() as u64 > MAX_DOCUMENT {
            return Err(fail(format!("the document is larger than the {MAX_DOCUMENT} bytes bale reads")));
        }
        let document: Document = serde_json::from_slice(&body)
            .map_err(|e| RegistryError::BadDocument { name: name.to_string(), reason: e.to_string() })?;
        if document.name != name {
            return Err(RegistryError::BadDocument {
                name: name.to_string(),
                reason: format!("it is the document of {:?}", document.name),
            });
        }
        Ok(document)
    }

    /// Downloads the tarball of `info` (of the package `name`) into `out`,
    /// held to its sha512 integrity.
    pub fn tarball(&self, name: &str, info: &VersionInfo, out: &mut impl Write) -> Result<u64, RegistryError> {
        let expected = sha512_of(name, info)?;
        let url = self
            .location
            .url
            .join(&info.dist.tarball)
            .map_err(|e| RegistryError::Fetch { url: info.dist.tarball.clone(), reason: e.to_string() })?;
        let fail = |reason: String| RegistryError::Fetch { url: url.to_string(), reason };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail("not an http URL".into()));
        }
        let response = self.agent.get(url.as_str()).call().map_err(|e| fail(bale_http::describe(&e, &self.limits)))?;
        if response.status() != 200 {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let declared = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(self.limits.max_blob);
        let mut hashing = Sha512Writer { inner: out, digest: ring::digest::Context::new(&ring::digest::SHA512) };
        let received =
            bale_http::copy_declared(response.into_body().into_reader(), declared, &mut hashing, &self.limits)
                .map_err(|e| fail(e.to_string()))?;
        if hashing.digest.finish().as_ref() != expected.as_slice() {
            return Err(RegistryError::Integrity {
                name: name.to_string(),
                version: info.version.clone(),
                integrity: info.dist.integrity.clone().unwrap_or_default(),
            });
        }
        Ok(received)
    }
}

/// The sha512 `info`'s integrity names (SRI, `sha512-BASE64`).
pub fn sha512_of(name: &str, info: &VersionInfo) -> Result<Vec<u8>, RegistryError> {
    let given = info.dist.integrity.clone().unwrap_or_default();
    let missing =
        || RegistryError::NoIntegrity { name: name.to_string(), version: info.version.clone(), given: given.clone() };
    let encoded = given.split_whitespace().find_map(|h| h.strip_prefix("sha512-")).ok_or_else(missing)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| missing())?;
    if bytes.len() != 64 {
        return Err(missing());
    }
    Ok(bytes)
}

struct Sha512Writer<'a, W> {
    inner: &'a mut W,
    digest: ring::digest::Context,
}

impl<W: Write> Write for Sha512Writer<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_documents_read_as_npm_reads_them() {
        let document: Document = serde_json::from_str(
            r#"{"name": "old", "versions": {
                "1.0.0": {"version": "1.0.0", "dependencies": [], "os": "linux", "scripts": {"test": 1},
                          "hasInstallScript": "yes", "dist": {"tarball": "old-1.0.0.tgz"}},
                "0.0.1": {"version": "0.0.1"}
            }}"#,
        )
        .unwrap();
        assert_eq!(document.versions.keys().collect::<Vec<_>>(), ["1.0.0"], "0.0.1 has no dist");
        let info = &document.versions["1.0.0"];
        assert!(info.dependencies.is_empty() && info.scripts.is_empty() && !info.has_install_script);
        assert_eq!(info.os, ["linux"]);
    }
}
