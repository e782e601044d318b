//! A package index for tests: wheels built at test time, served from a
//! directory on 127.0.0.1 the way the JSON simple API (PEP 691) and PEP
//! 658 serve them (`/simple/NAME/` answers JSON, `FILE.metadata` beside
//! each wheel).

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use base64::Engine;

/// One wheel to build.
#[derive(Debug, Clone)]
pub struct WheelSpec {
    pub name: String,
    pub version: String,
    /// `py3-none-any`, `cp311-cp311-manylinux_2_17_x86_64`, …
    pub tag: String,
    /// `Requires-Dist` lines.
    pub requires: Vec<String>,
    pub extras: Vec<String>,
    pub files: Vec<(String, Vec<u8>)>,
    pub entry_points: Option<String>,
}

impl WheelSpec {
    pub fn new(name: &str, version: &str) -> Self {
        let module = name.replace('-', "_").to_lowercase();
        Self {
            name: name.into(),
            version: version.into(),
            tag: "py3-none-any".into(),
            requires: Vec::new(),
            extras: Vec::new(),
            files: vec![(format!("{module}/__init__.py"), format!("VERSION = {version:?}\n").into_bytes())],
            entry_points: None,
        }
    }

    pub fn requires(mut self, requirement: &str) -> Self {
        self.requires.push(requirement.into());
        self
    }

    pub fn extra(mut self, extra: &str) -> Self {
        self.extras.push(extra.into());
        self
    }

    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.into();
        self
    }

    pub fn file(mut self, path: &str, content: &[u8]) -> Self {
        self.files.push((path.into(), content.to_vec()));
        self
    }

    pub fn entry_points(mut self, text: &str) -> Self {
        self.entry_points = Some(text.into());
        self
    }

    pub fn filename(&self) -> String {
        format!("{}-{}-{}.whl", self.name.replace('-', "_"), self.version, self.tag)
    }

    pub fn metadata(&self) -> String {
        let mut text = format!("Metadata-Version: 2.1\nName: {}\nVersion: {}\n", self.name, self.version);
        for extra in &self.extras {
            text.push_str(&format!("Provides-Extra: {extra}\n"));
        }
        for requirement in &self.requires {
            text.push_str(&format!("Requires-Dist: {requirement}\n"));
        }
        text
    }
}

fn record_hash(bytes: &[u8]) -> String {
    let digest = sha256_of(bytes);
    format!("sha256={}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
}

fn sha256_of(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().to_vec()
}

fn hex_sha256(bytes: &[u8]) -> String {
    sha256_of(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the wheel `spec` describes into `dir`; returns its path.
pub fn build_wheel(dir: &Path, spec: &WheelSpec) -> PathBuf {
    let dist = format!("{}-{}", spec.name.replace('-', "_"), spec.version);
    let info = format!("{dist}.dist-info");
    let mut members: Vec<(String, Vec<u8>)> = spec.files.clone();
    members.push((format!("{info}/METADATA"), spec.metadata().into_bytes()));
    members.push((
        format!("{info}/WHEEL"),
        b"Wheel-Version: 1.0\nGenerator: bale-testkit\nRoot-Is-Purelib: true\n".to_vec(),
    ));
    if let Some(entry_points) = &spec.entry_points {
        members.push((format!("{info}/entry_points.txt"), entry_points.clone().into_bytes()));
    }
    let mut record = String::new();
    for (path, content) in &members {
        record.push_str(&format!("{path},{},{}\n", record_hash(content), content.len()));
    }
    record.push_str(&format!("{info}/RECORD,,\n"));
    members.push((format!("{info}/RECORD"), record.into_bytes()));
    let path = dir.join(spec.filename());
    let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (member, content) in &members {
        zip.start_file(member.as_str(), options).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// A fixture index under a temp directory, served on loopback.
#[derive(Debug)]
pub struct Index {
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT/simple/`
    pub url: String,
    projects: std::collections::BTreeMap<String, Vec<serde_json::Value>>,
}

impl Default for Index {
    fn default() -> Self {
        Self::new()
    }
}

impl Index {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("simple")).unwrap();
        fs::create_dir_all(dir.path().join("files")).unwrap();
        let address = serve(dir.path().to_path_buf());
        Self { dir, url: format!("http://{address}/simple/"), projects: Default::default() }
    }

    /// Builds and publishes a wheel; returns its path in the index.
    pub fn add(&mut self, spec: &WheelSpec) -> PathBuf {
        let files = self.dir.path().join("files");
        let path = build_wheel(&files, spec);
        let bytes = fs::read(&path).unwrap();
        let metadata = spec.metadata();
        fs::write(files.join(format!("{}.metadata", spec.filename())), &metadata).unwrap();
        self.list(
            &spec.name,
            serde_json::json!({
                "filename": spec.filename(),
                "url": format!("../../files/{}", spec.filename()),
                "hashes": {"sha256": hex_sha256(&bytes)},
                "requires-python": ">=3.8",
                "size": bytes.len(),
                "core-metadata": {"sha256": hex_sha256(metadata.as_bytes())},
            }),
        );
        path
    }

    /// Lists a file entry as is (a source distribution, a wrong hash).
    pub fn list(&mut self, name: &str, file: serde_json::Value) {
        let normal = normalize(name);
        let files = self.projects.entry(normal.clone()).or_default();
        files.push(file);
        let page = serde_json::json!({"meta": {"api-version": "1.1"}, "name": normal, "files": files});
        let dir = self.dir.path().join("simple").join(&normal);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("index.json"), serde_json::to_vec(&page).unwrap()).unwrap();
    }

    /// The path of a published file, to alter it.
    pub fn file(&self, filename: &str) -> PathBuf {
        self.dir.path().join("files").join(filename)
    }
}

fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn serve(root: PathBuf) -> String {
    serve_files(root, "application/vnd.pypi.simple.v1+json")
}

/// Serves `root` on 127.0.0.1 from a thread of this process: a path
/// ending in `/` answers its `index.json` as `json_type`; a file without
/// an extension is JSON too (an npm package document). `%2f` in a path
/// is a file name's `%2f`, as npm escapes scoped names.
pub(crate) fn serve_files(root: PathBuf, json_type: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                            break;
                        }
                    }
                    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let mut rel = path.trim_start_matches('/').to_string();
                    let json = rel.ends_with('/');
                    if json {
                        rel.push_str("index.json");
                    }
                    let rel = rel.replace("%2F", "%2f");
                    let json = json || !rel.rsplit('/').next().unwrap_or_default().contains('.');
                    let (status, body, kind) = if rel.split('/').any(|p| p == "..") {
                        ("403 Forbidden", Vec::new(), "text/plain")
                    } else {
                        match fs::read(root.join(&rel)) {
                            Ok(body) if json => ("200 OK", body, json_type),
                            Ok(body) => ("200 OK", body, "application/octet-stream"),
                            Err(_) => ("404 Not Found", b"not found".to_vec(), "text/plain"),
                        }
                    };
                    let head =
                        format!("HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n", body.len());
                    if stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}
