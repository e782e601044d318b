//! npm as a source of bale packages: package documents and tarballs from
//! the registry the host's npm uses, ranges resolved per dependency
//! (several versions of a name side by side), each package one bale
//! package at a path of its own, and the links an app needs as one
//! generated package per image (docs/npm.md).

pub mod layout;
pub mod registry;
pub mod resolve;

use bale_fileset::{Compression, Digest};
use bale_store::{PackageMetadata, Provenance, Store, StoreError};

pub use registry::{Registry, RegistryError, RegistryLocation, VersionInfo, locate};
pub use resolve::{Node, Platform, Resolution, ResolveError, parse_request, resolve};

/// The origin of npm packages in the store.
pub const ORIGIN: &str = "npm:registry";

#[derive(Debug, thiserror::Error)]
pub enum NpmError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("{name}@{version}: its tarball: {source}")]
    Tarball { name: String, version: String, source: bale_fileset::FilesetError },
    #[error("storing {name}@{version}")]
    Store { name: String, version: String, source: Box<StoreError> },
}

impl NpmError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Registry(e) => e.help(),
            Self::Resolve(e) => e.help(),
            Self::Tarball { .. } => Some("the tarball is damaged or holds what bale refuses; pin another version"),
            Self::Store { source, .. } => source.help(),
        }
    }
}

/// The store name of an npm package: `@scope/name` as `scope/name`.
pub fn store_name(name: &str) -> String {
    name.strip_prefix('@').unwrap_or(name).to_string()
}

/// The id `name@version` has in the store.
pub fn package_id(name: &str, version: &str) -> Result<bale_store::PackageId, StoreError> {
    bale_store::PackageId::new(Some(ORIGIN.into()), &store_name(name), bale_store::ARCH_ALL, version)
}

/// A package as stored.
#[derive(Debug, Clone)]
pub struct Imported {
    pub id: String,
    pub content: Digest,
    pub new: bool,
}

/// Downloads `node`'s tarball (held to its sha512), lays it out at its own
/// path and stores it.
pub fn import_package(
    store: &Store,
    registry: &Registry,
    node: &Node,
    compression: Compression,
) -> Result<Imported, NpmError> {
    let stored =
        |source| NpmError::Store { name: node.name.clone(), version: node.version.clone(), source: Box::new(source) };
    let id = package_id(&node.name, &node.version).map_err(stored)?;
    let work = bale_store::WorkDir::new(store, "npm-").map_err(stored)?;
    let path = work.path.join("package.tgz");
    let mut out =
        std::fs::File::create_new(&path).map_err(|source| stored(StoreError::Io { path: path.clone(), source }))?;
    registry.tarball(&node.name, &node.info, &mut out)?;
    drop(out);
    let tgz = std::fs::File::open(&path).map_err(|source| stored(StoreError::Io { path: path.clone(), source }))?;
    let plan = layout::package_files(tgz, &node.name, &node.version, node.info.bin.as_ref(), &work.path)
        .map_err(|source| NpmError::Tarball { name: node.name.clone(), version: node.version.clone(), source })?;
    let mut metadata = PackageMetadata::new(&id.name, &node.version);
    metadata.origin = id.origin.clone();
    metadata.architecture = Some(bale_store::ARCH_ALL.into());
    metadata.license = "NOASSERTION".into();
    metadata.purl = purl(&node.name, &node.version);
    let mut registry_url = registry.location.url.clone();
    let _ = registry_url.set_username("");
    let _ = registry_url.set_password(None);
    metadata.provenance = Provenance::Npm {
        registry: registry_url.to_string(),
        tarball: node.info.dist.tarball.rsplit('/').next().unwrap_or_default().to_string(),
        integrity: node.info.dist.integrity.clone().unwrap_or_default(),
    };
    let _session = store.lock_shared().map_err(stored)?;
    let outcome = bale_store::store_plan(store, &plan, metadata, compression, true, &bale_progress::NoProgress)
        .map_err(stored)?;
    Ok(Imported { id: outcome.id, content: outcome.metadata.content.digest, new: outcome.new })
}

/// `pkg:npm/NAME@VERSION`, a scope as `%40scope/name`.
pub fn purl(name: &str, version: &str) -> String {
    let name = match name.strip_prefix('@') {
        Some(scoped) => format!("%40{scoped}"),
        None => name.to_string(),
    };
    format!("pkg:npm/{name}@{}", bale_store::purl_version(version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bale_testkit::npm::{PackageSpec, Registry as Fixture};
    use std::collections::BTreeMap;

    #[test]
    fn a_package_is_stored_at_its_own_path_and_links_make_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut fixture = Fixture::new();
        fixture.publish(
            &PackageSpec::new("cli", "1.0.0")
                .depends("ms", "^2")
                .file("bin/cli.js", b"#!/usr/bin/env node\n")
                .field("bin", serde_json::json!({"cli": "bin/cli.js"})),
        );
        let tampered = fixture.publish(&PackageSpec::new("ms", "2.1.3"));
        let registry =
            Registry::new(RegistryLocation { url: url::Url::parse(&fixture.url).unwrap(), origin: "the test".into() });
        let platform = Platform::of_debian("amd64").unwrap();
        let resolution = resolve(&registry, &["cli@1".into()], &platform, &BTreeMap::new(), &[]).unwrap();
        let cli = &resolution.nodes[&("cli".to_string(), "1.0.0".to_string())];
        let imported = import_package(&store, &registry, cli, Compression::Gzip).unwrap();
        assert_eq!(imported.id, "npm:registry/cli:all@1.0.0");
        let record = store.resolve(&imported.id).unwrap();
        let (_, metadata) = store.load_package(&record).unwrap();
        assert_eq!(metadata.purl, "pkg:npm/cli@1.0.0");
        let index: bale_fileset::FileIndex = store.read_json(&metadata.file_index.digest, "the index").unwrap();
        let bin = index
            .entries
            .iter()
            .find(|e| e.path == "usr/local/lib/node_modules/.bale/cli@1.0.0/node_modules/cli/bin/cli.js")
            .unwrap();
        assert_eq!(bin.mode, "0755", "bin targets are executable");

        // Another tarball than the registry listed: refused, nothing stored.
        std::fs::write(&tampered, b"other bytes").unwrap();
        let ms = &resolution.nodes[&("ms".to_string(), "2.1.3".to_string())];
        let err = import_package(&store, &registry, ms, Compression::Gzip).unwrap_err();
        assert!(err.to_string().contains("ms@2.1.3: its tarball's sha512 is not"), "{err}");
        assert!(store.resolve("npm:registry/ms").is_err());

        let links = layout::links(&resolution, "/srv/app").unwrap();
        let target = |path: &str| match &links.get(path).unwrap().kind {
            bale_fileset::EntryKind::Symlink { target } => target.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            target("srv/app/node_modules/cli"),
            "../../../usr/local/lib/node_modules/.bale/cli@1.0.0/node_modules/cli"
        );
        assert_eq!(
            target("usr/local/lib/node_modules/.bale/cli@1.0.0/node_modules/ms"),
            "../../ms@2.1.3/node_modules/ms"
        );
        assert_eq!(
            target("srv/app/node_modules/.bin/cli"),
            "../../../../usr/local/lib/node_modules/.bale/cli@1.0.0/node_modules/cli/bin/cli.js"
        );
    }
}
