//! A Debian archive made at test time: .deb files built with dpkg-deb (or
//! by hand, for hostile ones), a Packages index, a Release signed by a key
//! gpg generates for the test, all served over HTTP on 127.0.0.1 by a
//! thread of the test process.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use bale_fileset::sha256_bytes;

pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Gpg {
    pub fn new(name: &str) -> Self {
        let g = Self { home: tempfile::tempdir().unwrap() };
        g.run(&["--quick-gen-key", &format!("{name} <{name}@example.invalid>"), "rsa2048", "sign", "never"]);
        g
    }

    pub fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    pub fn export(&self, path: &Path) {
        fs::write(path, self.run(&["--export"])).unwrap();
    }

    pub fn clearsign(&self, input: &Path, output: &Path) {
        let _ = fs::remove_file(output);
        self.run(&[
            "--digest-algo",
            "SHA512",
            "--clearsign",
            "--output",
            output.to_str().unwrap(),
            input.to_str().unwrap(),
        ]);
    }
}

/// A binary package to put in the archive.
#[derive(Clone)]
pub struct DebSpec {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// Extra control fields, such as `("Depends", "libfoo (>= 1)")`.
    pub fields: Vec<(String, String)>,
    /// Files: path (relative, may start with bin/ or lib/) and content;
    /// a content starting with `->` makes a symlink.
    pub files: Vec<(String, String)>,
    pub postinst: Option<String>,
}

impl DebSpec {
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            fields: Vec::new(),
            files: vec![(format!("usr/share/{name}/data"), format!("{name} {version}\n"))],
            postinst: None,
        }
    }

    pub fn field(mut self, key: &str, value: &str) -> Self {
        self.fields.push((key.into(), value.into()));
        self
    }

    pub fn arch(mut self, arch: &str) -> Self {
        self.arch = arch.into();
        self
    }

    pub fn file(mut self, path: &str, content: &str) -> Self {
        self.files.push((path.into(), content.into()));
        self
    }
}

pub struct Archive {
    pub dir: tempfile::TempDir,
    pub gpg: Gpg,
    pub keyring: PathBuf,
    pub url: String,
    /// Packages stanzas, in order added.
    stanzas: Vec<String>,
    /// Sources stanzas, in order added.
    sources: Vec<String>,
}

impl Archive {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let gpg = Gpg::new("archive");
        let keyring = dir.path().join("keyring.gpg");
        gpg.export(&keyring);
        let root = dir.path().join("mirror");
        fs::create_dir_all(&root).unwrap();
        let url = serve(root);
        Self { dir, gpg, keyring, url, stanzas: Vec::new(), sources: Vec::new() }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("mirror")
    }

    /// Builds the .deb with dpkg-deb and lists it in the index.
    pub fn add(&mut self, spec: &DebSpec) -> PathBuf {
        let build =
            self.dir.path().join(format!("build-{}-{}-{}", spec.name, spec.version.replace(':', "_"), spec.arch));
        fs::create_dir_all(build.join("DEBIAN")).unwrap();
        let mut control = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Test <t@example.invalid>\n",
            spec.name, spec.version, spec.arch
        );
        for (k, v) in &spec.fields {
            control.push_str(&format!("{k}: {v}\n"));
        }
        control.push_str(&format!("Description: {} for tests\n", spec.name));
        fs::write(build.join("DEBIAN/control"), &control).unwrap();
        if let Some(script) = &spec.postinst {
            fs::write(build.join("DEBIAN/postinst"), script).unwrap();
            fs::set_permissions(build.join("DEBIAN/postinst"), fs::Permissions::from_mode(0o755)).unwrap();
        }
        for (path, content) in &spec.files {
            let full = build.join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            if let Some(source) = content.strip_prefix("@copy:") {
                fs::copy(source, &full).unwrap();
                fs::set_permissions(&full, fs::Permissions::from_mode(0o755)).unwrap();
                continue;
            }
            match content.strip_prefix("->") {
                Some(target) => std::os::unix::fs::symlink(target, &full).unwrap(),
                None => {
                    fs::write(&full, content).unwrap();
                    let mode = if path.contains("bin/") { 0o755 } else { 0o644 };
                    fs::set_permissions(&full, fs::Permissions::from_mode(mode)).unwrap();
                }
            }
        }
        let filename =
            format!("pool/main/{}/{}_{}_{}.deb", spec.name, spec.name, bare_version(&spec.version), spec.arch);
        let deb = self.root().join(&filename);
        fs::create_dir_all(deb.parent().unwrap()).unwrap();
        let out = Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&build)
            .arg(&deb)
            .output()
            .unwrap();
        assert!(out.status.success(), "dpkg-deb: {}", String::from_utf8_lossy(&out.stderr));
        self.list(&control, &filename);
        deb
    }

    /// Like [`Archive::add`], with the file at `path` in the package copied
    /// from `binary` (a real executable) and made executable.
    pub fn add_with_binary(&mut self, spec: &DebSpec, path: &str, binary: &Path) -> PathBuf {
        let mut spec = spec.clone();
        spec.files.retain(|(p, _)| p != path);
        let build = self.dir.path().join(format!("binary-{}", spec.name));
        let target = build.join(path);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(binary, &target).unwrap();
        spec.files.push((path.to_string(), format!("@copy:{}", target.display())));
        self.add(&spec)
    }

    /// Lists an existing file of the mirror as a package with `control`.
    pub fn list(&mut self, control: &str, filename: &str) {
        let bytes = fs::read(self.root().join(filename)).unwrap();
        let mut stanza = control.trim_end().to_string();
        stanza.push_str(&format!(
            "\nFilename: {filename}\nSize: {}\nSHA256: {}\n",
            bytes.len(),
            sha256_bytes(&bytes).hex()
        ));
        self.stanzas.push(stanza);
    }

    /// Puts the files of a source package into the pool and lists them
    /// in the Sources index (`.dsc` first, as `files` gives them).
    pub fn add_source(&mut self, name: &str, version: &str, files: &[(&str, &[u8])]) {
        let directory = format!("pool/main/{}/{name}", &name[..1]);
        fs::create_dir_all(self.root().join(&directory)).unwrap();
        let mut stanza = format!(
            "Package: {name}\nBinary: {name}\nVersion: {version}\nMaintainer: Test <t@example.invalid>\n\
             Architecture: any\nFormat: 3.0 (quilt)\nDirectory: {directory}\nChecksums-Sha256:\n"
        );
        for (file, bytes) in files {
            fs::write(self.root().join(&directory).join(file), bytes).unwrap();
            stanza.push_str(&format!(" {} {} {file}\n", sha256_bytes(bytes).hex(), bytes.len()));
        }
        self.sources.push(stanza);
    }

    /// Writes Packages(.gz) for every architecture the packages are for
    /// (each index also lists the `Architecture: all` ones), Release and
    /// InRelease for `suite`.
    pub fn publish(&self, suite: &str, valid_until: &str) {
        let dists = self.root().join("dists").join(suite);
        let arch_of =
            |stanza: &str| stanza.lines().find_map(|l| l.strip_prefix("Architecture: ")).unwrap_or("amd64").to_string();
        let mut architectures: Vec<String> = self.stanzas.iter().map(|s| arch_of(s)).filter(|a| a != "all").collect();
        architectures.sort();
        architectures.dedup();
        if architectures.is_empty() {
            architectures.push("amd64".into());
        }
        let mut names = Vec::new();
        for architecture in &architectures {
            let bin = dists.join(format!("main/binary-{architecture}"));
            fs::create_dir_all(&bin).unwrap();
            let stanzas: Vec<&str> = self
                .stanzas
                .iter()
                .filter(|s| {
                    let a = arch_of(s);
                    a == "all" || &a == architecture
                })
                .map(String::as_str)
                .collect();
            let packages = stanzas.join("\n");
            fs::write(bin.join("Packages"), &packages).unwrap();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(packages.as_bytes()).unwrap();
            fs::write(bin.join("Packages.gz"), gz.finish().unwrap()).unwrap();
            names.push(format!("main/binary-{architecture}/Packages"));
            names.push(format!("main/binary-{architecture}/Packages.gz"));
        }
        if !self.sources.is_empty() {
            let dir = dists.join("main/source");
            fs::create_dir_all(&dir).unwrap();
            let text = self.sources.join("\n");
            fs::write(dir.join("Sources"), &text).unwrap();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(text.as_bytes()).unwrap();
            fs::write(dir.join("Sources.gz"), gz.finish().unwrap()).unwrap();
            names.push("main/source/Sources".into());
            names.push("main/source/Sources.gz".into());
        }
        let mut release = format!(
            "Origin: Test\nLabel: Test\nSuite: {suite}\nCodename: {suite}\nDate: Sat, 10 May 2025 08:58:00 UTC\nValid-Until: {valid_until}\nArchitectures: {}\nComponents: main\nSHA256:\n",
            architectures.join(" ")
        );
        for name in &names {
            let bytes = fs::read(dists.join(name)).unwrap();
            release.push_str(&format!(" {} {} {name}\n", sha256_bytes(&bytes).hex(), bytes.len()));
        }
        fs::write(dists.join("Release"), &release).unwrap();
        self.gpg.clearsign(&dists.join("Release"), &dists.join("InRelease"));
    }

    /// Starts an empty index, for the next suite to publish; the pool keeps
    /// every .deb.
    pub fn clear_index(&mut self) {
        self.stanzas.clear();
    }

    pub fn dists(&self, suite: &str) -> PathBuf {
        self.root().join("dists").join(suite)
    }
}

/// Pool file names leave out the epoch, as Debian's do.
fn bare_version(version: &str) -> &str {
    version.split_once(':').map_or(version, |(_, v)| v)
}

/// A far-future Valid-Until.
pub const FUTURE: &str = "Fri, 01 Jan 2100 00:00:00 UTC";

/// Serves `root` over HTTP on 127.0.0.1 from a thread of this process.
fn serve(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let decoded = path.replace("%3a", ":").replace("%3A", ":");
                let file = root.join(decoded.trim_start_matches('/'));
                let response = match (path.contains(".."), fs::read(&file)) {
                    (false, Ok(body)) => {
                        let mut r =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                                .into_bytes();
                        r.extend_from_slice(&body);
                        r
                    }
                    _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = stream.write_all(&response);
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// An ar archive, as .deb files are, written by hand.
pub fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        out.extend_from_slice(
            format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", 0, 0, 0, "100644", data.len()).as_bytes(),
        );
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}
