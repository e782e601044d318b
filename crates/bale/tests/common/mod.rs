//! Helpers shared by the integration tests: a throwaway store, the real
//! `bale` binary, and a raw tar writer that can produce hostile archives.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod archive;
pub mod hosting;
pub mod oci;
pub mod registry;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.path().join("store")
    }

    /// `bale` with this environment's store and no terminal.
    pub fn bale(&self) -> Command {
        // BALE_TEST_BINARY runs the tests against another build, such as an
        // older one, to show a regression test fails there.
        let binary = std::env::var_os("BALE_TEST_BINARY").unwrap_or_else(|| env!("CARGO_BIN_EXE_bale").into());
        let mut cmd = Command::new(binary);
        cmd.env("BALE_HOME", self.store()).env_remove("XDG_DATA_HOME").env_remove("COLUMNS").current_dir(self.path());
        cmd
    }

    /// Writes `file` of this environment's fake host apt sources
    /// (`sources.list.d/`), replacing it.
    pub fn host_sources(&self, file: &str, text: &str) {
        let dir = self.path().join("apt-root/etc/apt/sources.list.d");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(file), text).unwrap();
    }

    /// [`Env::bale`] reading its apt sources from [`Env::host_sources`].
    pub fn bale_on_host(&self) -> Command {
        let mut cmd = self.bale();
        cmd.env("BALE_APT_ROOT", self.path().join("apt-root"));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.bale().args(args).output().unwrap()
    }

    /// Runs and insists on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "bale {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Everything in the store that matters: the index and each blob's name
    /// and size. Equal snapshots mean the store is unchanged.
    pub fn store_state(&self) -> BTreeMap<String, u64> {
        let mut state = BTreeMap::new();
        let blobs = self.store().join("blobs/sha256");
        if let Ok(listing) = fs::read_dir(&blobs) {
            for item in listing {
                let item = item.unwrap();
                state.insert(item.file_name().to_string_lossy().into_owned(), item.metadata().unwrap().len());
            }
        }
        if let Ok(index) = fs::read_to_string(self.store().join("index.json")) {
            state.insert(format!("index.json:{index}"), 0);
        }
        state
    }

    pub fn blob_count(&self) -> usize {
        fs::read_dir(self.store().join("blobs/sha256")).map(|d| d.count()).unwrap_or(0)
    }
}

/// A small tree with every entry type.
pub fn sample_tree(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("usr/share/empty")).unwrap();
    fs::write(root.join("usr/bin/hello"), "#!/bin/sh\necho hello from bale\n").unwrap();
    fs::set_permissions(root.join("usr/bin/hello"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("hello", root.join("usr/bin/hi")).unwrap();
    fs::write(root.join("etc/greeting"), "hello\n").unwrap();
    fs::hard_link(root.join("etc/greeting"), root.join("etc/greeting.bak")).unwrap();
}

/// One raw tar entry, written byte by byte so tests can express archives
/// no well-behaved library would produce.
pub struct RawEntry {
    pub name: Vec<u8>,
    pub flag: u8,
    pub link: Vec<u8>,
    pub size: u64,
    pub data: Vec<u8>,
    pub mode: u32,
}

impl RawEntry {
    pub fn file(name: &[u8], data: &[u8]) -> Self {
        Self {
            name: name.to_vec(),
            flag: b'0',
            link: Vec::new(),
            size: data.len() as u64,
            data: data.to_vec(),
            mode: 0o644,
        }
    }

    pub fn dir(name: &[u8]) -> Self {
        Self { name: name.to_vec(), flag: b'5', link: Vec::new(), size: 0, data: Vec::new(), mode: 0o755 }
    }

    pub fn link(name: &[u8], flag: u8, target: &[u8]) -> Self {
        Self { name: name.to_vec(), flag, link: target.to_vec(), size: 0, data: Vec::new(), mode: 0o777 }
    }

    pub fn special(name: &[u8], flag: u8) -> Self {
        Self { name: name.to_vec(), flag, link: Vec::new(), size: 0, data: Vec::new(), mode: 0o644 }
    }

    /// Header claims `size` bytes but only `data` follows.
    pub fn lying(name: &[u8], size: u64, data: &[u8]) -> Self {
        Self { name: name.to_vec(), flag: b'0', link: Vec::new(), size, data: data.to_vec(), mode: 0o644 }
    }
}

pub fn raw_tar(entries: &[RawEntry]) -> Vec<u8> {
    raw_tar_with_end(entries, true)
}

pub fn raw_tar_with_end(entries: &[RawEntry], end: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = [0u8; 512];
        let n = e.name.len().min(100);
        h[..n].copy_from_slice(&e.name[..n]);
        octal(&mut h[100..108], u64::from(e.mode));
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        if e.size < 0o77_777_777_777 {
            octal(&mut h[124..136], e.size);
        } else {
            // GNU base-256 for sizes that do not fit in octal.
            h[124] = 0x80;
            h[128..136].copy_from_slice(&e.size.to_be_bytes());
        }
        octal(&mut h[136..148], 0);
        h[156] = e.flag;
        let l = e.link.len().min(100);
        h[157..157 + l].copy_from_slice(&e.link[..l]);
        if e.flag == b'S' {
            // Sparse files exist only in the GNU format.
            h[257..265].copy_from_slice(b"ustar  \0");
            octal(&mut h[483..495], e.size);
        } else {
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
        }
        h[148..156].fill(b' ');
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        octal(&mut h[148..155], sum);
        out.extend_from_slice(&h);
        out.extend_from_slice(&e.data);
        let pad = (512 - e.data.len() % 512) % 512;
        out.resize(out.len() + pad, 0);
    }
    if end {
        out.resize(out.len() + 1024, 0);
    }
    out
}

/// A PAX extended header setting `key` for the next entry.
pub fn pax(key: &str, value: &[u8]) -> RawEntry {
    let mut record = Vec::new();
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    record.extend_from_slice(format!("{len} {key}=").as_bytes());
    record.extend_from_slice(value);
    record.push(b'\n');
    RawEntry {
        name: b"././@PaxHeader".to_vec(),
        flag: b'x',
        link: Vec::new(),
        size: record.len() as u64,
        data: record,
        mode: 0o644,
    }
}

/// A GNU long-name header for the next entry.
pub fn gnu_long_name(name: &[u8]) -> RawEntry {
    let mut data = name.to_vec();
    data.push(0);
    RawEntry {
        name: b"././@LongLink".to_vec(),
        flag: b'L',
        link: Vec::new(),
        size: data.len() as u64,
        data,
        mode: 0o644,
    }
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

const BUSYBOX: &str = "/usr/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "mkdir", "date", "sleep", "ls", "cp", "id", "hostname", "nc", "touch", "chmod", "ip", "grep",
    "wc", "rm",
];

/// The host's static BusyBox as the package `example.com/busybox-root@1`,
/// with `/bin/sh` and a few applets; false (a failure when strict) when
/// the host has none.
pub fn busybox_root(env: &Env, bale: &dyn Fn(&[&str]) -> String) -> bool {
    if !bale_testkit::require_file(Path::new(BUSYBOX), "a static BusyBox (busybox-static)") {
        return false;
    }
    let root = env.path().join("busybox-root");
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::copy(BUSYBOX, root.join("usr/bin/busybox")).unwrap();
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("usr/bin").join(applet)).unwrap();
    }
    std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
    bale(&["pack", root.to_str().unwrap(), "--name", "example.com/busybox-root", "--version", "1"]);
    true
}

/// `bale ARGS` as another user (uid 65534) with the store `dir/store`,
/// run in `dir`; its standard output, the run asserted to succeed.
pub fn bale_as_other_user(dir: &Path, args: &[&str]) -> String {
    let out = bale_testkit::as_other_user(env!("CARGO_BIN_EXE_bale"))
        .args(args)
        .env("BALE_HOME", dir.join("store"))
        .env_remove("XDG_DATA_HOME")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "bale {args:?} as uid 65534:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
