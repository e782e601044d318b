//! An npm registry for tests: package tarballs built at test time, served
//! from a directory on 127.0.0.1 the way a registry serves them (`/NAME`
//! answers the package's document, tarballs under `/-/`).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;

use base64::Engine;

/// One version of a package to publish.
#[derive(Debug, Clone)]
pub struct PackageSpec {
    pub name: String,
    pub version: String,
    pub dependencies: Vec<(String, String)>,
    pub optional: Vec<(String, String)>,
    pub files: Vec<(String, Vec<u8>)>,
    /// Extra fields of the version's entry (`os`, `cpu`, `scripts`, `bin`).
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl PackageSpec {
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            dependencies: Vec::new(),
            optional: Vec::new(),
            files: vec![(
                "index.js".into(),
                format!("module.exports = {:?};\n", format!("{name}@{version}")).into_bytes(),
            )],
            fields: serde_json::Map::new(),
        }
    }

    pub fn depends(mut self, name: &str, range: &str) -> Self {
        self.dependencies.push((name.into(), range.into()));
        self
    }

    pub fn optional(mut self, name: &str, range: &str) -> Self {
        self.optional.push((name.into(), range.into()));
        self
    }

    pub fn file(mut self, path: &str, content: &[u8]) -> Self {
        self.files.push((path.into(), content.to_vec()));
        self
    }

    pub fn field(mut self, key: &str, value: serde_json::Value) -> Self {
        self.fields.insert(key.into(), value);
        self
    }

    fn tarball_name(&self) -> String {
        format!("{}-{}.tgz", self.name.replace('/', "-").trim_start_matches('@'), self.version)
    }
}

/// The package's `.tgz`, as `npm pack` lays it out (`package/…`).
pub fn pack(spec: &PackageSpec) -> Vec<u8> {
    let mut manifest = serde_json::json!({"name": spec.name, "version": spec.version});
    let deps: serde_json::Map<String, serde_json::Value> =
        spec.dependencies.iter().map(|(n, r)| (n.clone(), r.clone().into())).collect();
    manifest["dependencies"] = deps.into();
    let mut files = spec.files.clone();
    files.push(("package.json".into(), serde_json::to_vec_pretty(&manifest).unwrap()));
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, content) in &files {
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(499162500);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("package/{path}"), content.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// A fixture registry under a temp directory, served on loopback.
#[derive(Debug)]
pub struct Registry {
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    documents: BTreeMap<String, serde_json::Value>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("-")).unwrap();
        let address = crate::pypi::serve_files(dir.path().to_path_buf(), "application/json");
        Self { dir, url: format!("http://{address}/"), documents: BTreeMap::new() }
    }

    /// Packs and publishes one version; returns its tarball's path.
    pub fn publish(&mut self, spec: &PackageSpec) -> PathBuf {
        let tgz = pack(spec);
        let path = self.dir.path().join("-").join(spec.tarball_name());
        fs::File::create(&path).unwrap().write_all(&tgz).unwrap();
        let integrity = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(ring::digest::digest(&ring::digest::SHA512, &tgz))
        );
        let mut entry = serde_json::json!({
            "name": spec.name,
            "version": spec.version,
            "dist": {"tarball": format!("{}-/{}", self.url, spec.tarball_name()), "integrity": integrity},
        });
        let deps: serde_json::Map<String, serde_json::Value> =
            spec.dependencies.iter().map(|(n, r)| (n.clone(), r.clone().into())).collect();
        entry["dependencies"] = deps.into();
        if !spec.optional.is_empty() {
            let optional: serde_json::Map<String, serde_json::Value> =
                spec.optional.iter().map(|(n, r)| (n.clone(), r.clone().into())).collect();
            entry["optionalDependencies"] = optional.into();
        }
        for (key, value) in &spec.fields {
            entry[key] = value.clone();
        }
        let document = self
            .documents
            .entry(spec.name.clone())
            .or_insert_with(|| serde_json::json!({"name": spec.name, "dist-tags": {}, "versions": {}}));
        document["versions"][&spec.version] = entry;
        document["dist-tags"]["latest"] = spec.version.clone().into();
        let file = self.dir.path().join(spec.name.replace('/', "%2f"));
        fs::write(file, serde_json::to_vec(document).unwrap()).unwrap();
        path
    }
}
