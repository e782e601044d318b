//! Composition as a library, on temporary stores, with no external tool:
//! conflicts, dependency order, cycles, the layer cap, the generated layer,
//! and the merged-layer cache.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use bale_fileset::{Compression, Content, Entry, EntryKind, Limits, Normalize, Plan};
use bale_image::{ComposeError, ComposeOptions, Image, SpecFileContent, compose};
use bale_progress::Progress;
use bale_store::{Dependency, DependencyAlternative, PackageMetadata, Store, store_plan};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        Self { _dir: dir, store }
    }

    /// Stores a package from `origin` holding `files` (path, content) and
    /// depending on `needs` by name; returns its id.
    fn package(&self, origin: Option<&str>, name: &str, needs: &[&str], files: &[(&str, &str)]) -> String {
        let mut plan = Plan::new(Normalize::default(), Limits::default());
        for (path, text) in files {
            let mut entry = Entry::directory(*path);
            entry.kind = EntryKind::File { size: text.len() as u64 };
            entry.mode = 0o644;
            plan.insert(entry, Content::Bytes(text.as_bytes().to_vec())).unwrap();
        }
        let plan = plan.seal().unwrap();
        let mut metadata = PackageMetadata::new(name, "1");
        metadata.origin = origin.map(str::to_string);
        metadata.dependencies = needs
            .iter()
            .map(|n| Dependency { any_of: vec![DependencyAlternative { name: n.to_string(), version: None }] })
            .collect();
        let progress = bale_progress::NoProgress;
        store_plan(&self.store, &plan, metadata, Compression::Gzip, false, &progress).unwrap().id
    }

    fn compose(&self, ids: &[String], files: &[SpecFileContent], cap: usize) -> Result<Image, ComposeError> {
        self.compose_with(ids, files, cap, &bale_progress::NoProgress)
    }

    fn compose_with(
        &self,
        ids: &[String],
        files: &[SpecFileContent],
        cap: usize,
        progress: &dyn Progress,
    ) -> Result<Image, ComposeError> {
        let options =
            ComposeOptions { architecture: "amd64".into(), created: 0, layer_cap: cap, compression: Compression::Gzip };
        let spec = bale_image::SpecContent {
            files: files.to_vec(),
            accounts: bale_image::Accounts::default(),
            user: "0:0".into(),
            ..Default::default()
        };
        compose(&self.store, ids, &spec, &bale_image::RuntimeConfig::default(), &options, progress)
    }
}

fn order(image: &Image) -> Vec<String> {
    image.layers.iter().map(|l| l.package.clone().unwrap_or_else(|| format!("merged:{}", l.merged.join("+")))).collect()
}

#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);

impl Progress for Warnings {
    fn phase(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish_phase(&self) {}
    fn warn(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

#[test]
fn a_conflict_names_the_path_and_both_packages_and_writes_no_image() {
    let f = Fixture::new();
    let a = f.package(None, "a", &[], &[("etc/app.conf", "one\n")]);
    let b = f.package(None, "b", &[], &[("etc/app.conf", "two\n")]);
    let same = f.package(None, "c", &[], &[("etc/app.conf", "one\n")]);
    let manifests_before = f.store.packages().unwrap().len();
    let err = f.compose(&[a.clone(), b.clone()], &[], 100).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/etc/app.conf") && text.contains(&a) && text.contains(&b), "{text}");
    assert_eq!(f.store.packages().unwrap().len(), manifests_before);
    // Identical files at one path are fine.
    f.compose(&[a, same], &[], 100).unwrap();
}

#[test]
fn dependencies_go_first_cycles_together_and_local_packages_on_top() {
    let f = Fixture::new();
    let origin = Some("debian:test");
    let libc = f.package(origin, "libc", &["libgcc"], &[("usr/lib/libc", "c")]);
    let libgcc = f.package(origin, "libgcc", &["libc"], &[("usr/lib/libgcc", "g")]);
    let tool = f.package(origin, "tool", &["libc"], &[("usr/bin/tool", "t")]);
    let app = f.package(None, "app", &[], &[("srv/app", "a")]);
    let shuffled = [app.clone(), tool.clone(), libgcc.clone(), libc.clone()];
    let image = f.compose(&shuffled, &[], 100).unwrap();
    let mut expected = vec![libc.clone(), libgcc.clone(), tool.clone(), app.clone()];
    expected.push("merged:".into());
    assert_eq!(order(&image), expected);
    // The same set in any order is the same image.
    let again = f.compose(&[libc, app, libgcc, tool], &[], 100).unwrap();
    assert_eq!(again.manifest.digest, image.manifest.digest);
}

#[test]
fn above_the_cap_the_lowest_packages_share_a_layer_and_the_cache_cannot_lie() {
    let f = Fixture::new();
    let origin = Some("debian:test");
    let base = f.package(origin, "base", &[], &[("usr/lib/base", "b")]);
    let mid = f.package(origin, "mid", &["base"], &[("usr/lib/mid", "m")]);
    let top = f.package(origin, "top", &["mid"], &[("usr/bin/top", "t")]);
    let ids = [top.clone(), mid.clone(), base.clone()];
    let image = f.compose(&ids, &[], 3).unwrap();
    assert_eq!(order(&image), [format!("merged:{base}+{mid}"), top.clone(), "merged:".into()]);

    // A cache entry, even one sealed correctly, that names a layer whose
    // content is not the recorded diff_id is noticed and rebuilt.
    let cache = f.store.root().join("cache/merged-layers");
    let entry = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
    let key: bale_fileset::Digest = format!("sha256:{}", entry.file_name().unwrap().to_str().unwrap()).parse().unwrap();
    let other = &image.layers[1];
    let forged = serde_json::json!({
        "blob": other.descriptor.digest,
        "size": other.descriptor.size,
        "diffId": image.layers[0].diff_id,
    });
    f.store.write_sealed_cache("merged-layers", &key, forged.to_string().as_bytes()).unwrap();
    let warnings = Warnings::default();
    let again = f.compose_with(&ids, &[], 3, &warnings).unwrap();
    assert_eq!(again.manifest.digest, image.manifest.digest, "the forged layer was used");
    assert!(warnings.0.lock().unwrap().iter().any(|w| w.contains("does not match its recorded diff_id")));

    // An entry changed behind bale's back fails its seal.
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&entry, bytes).unwrap();
    let warnings = Warnings::default();
    let again = f.compose_with(&ids, &[], 3, &warnings).unwrap();
    assert_eq!(again.manifest.digest, image.manifest.digest);
    assert!(warnings.0.lock().unwrap().iter().any(|w| w.contains("failed its integrity check")), "{:?}", warnings.0);
    // And once rebuilt it is used again, silently.
    let warnings = Warnings::default();
    f.compose_with(&ids, &[], 3, &warnings).unwrap();
    assert!(warnings.0.lock().unwrap().is_empty());
}

#[test]
fn the_generated_layer_holds_users_and_spec_files_and_refuses_packages_that_ship_them() {
    let f = Fixture::new();
    let app = f.package(None, "app", &[], &[("srv/app", "a")]);
    let file = SpecFileContent { path: "etc/app.conf".into(), mode: 0o600, content: b"x=1\n".to_vec() };
    let image = f.compose(std::slice::from_ref(&app), std::slice::from_ref(&file), 100).unwrap();
    let generated = image.layers.last().unwrap();
    assert!(generated.package.is_none() && generated.merged.is_empty());
    let mut paths = Vec::new();
    bale_fileset::read_entries(f.store.open_layer(&generated.descriptor).unwrap(), &Limits::default(), |entry, _| {
        paths.push((entry.path, entry.mode));
        Ok(())
    })
    .unwrap();
    for expected in [("etc/passwd", 0o644), ("etc/group", 0o644), ("etc/app.conf", 0o600)] {
        assert!(paths.iter().any(|(p, m)| p == expected.0 && *m == expected.1), "{expected:?} in {paths:?}");
    }
    let sneaky = f.package(None, "sneaky", &[], &[("etc/passwd", "root::0:0::/:/bin/sh\n")]);
    let err = f.compose(&[app.clone(), sneaky], &[], 100).unwrap_err().to_string();
    assert!(err.contains("/etc/passwd") && err.contains("sneaky"), "{err}");
    let clash = f.package(None, "clash", &[], &[("etc/app.conf", "other")]);
    let err = f.compose(&[app, clash], &[file], 100).unwrap_err().to_string();
    assert!(err.contains("/etc/app.conf") && err.contains("clash"), "{err}");
}

#[test]
fn spec_directories_stand_over_package_directories_but_never_over_files() {
    let f = Fixture::new();
    let options =
        ComposeOptions { architecture: "amd64".into(), created: 0, layer_cap: 100, compression: Compression::Gzip };
    let spec = |dirs: Vec<bale_image::ResolvedDir>| bale_image::SpecContent {
        dirs,
        accounts: bale_image::Accounts::default(),
        user: "0:0".into(),
        ..Default::default()
    };
    let tmp = bale_image::ResolvedDir { path: "tmp".into(), mode: 0o1777, uid: 0, gid: 0 };
    // A package with a file under /tmp ships /tmp as a directory: fine.
    let base = f.package(None, "base", &[], &[("tmp/.keep", "")]);
    let image = compose(
        &f.store,
        std::slice::from_ref(&base),
        &spec(vec![tmp.clone()]),
        &bale_image::RuntimeConfig::default(),
        &options,
        &bale_progress::NoProgress,
    )
    .unwrap();
    let generated = image.layers.last().unwrap();
    let mut seen = None;
    bale_fileset::read_entries(f.store.open_layer(&generated.descriptor).unwrap(), &Limits::default(), |entry, _| {
        if entry.path == "tmp" {
            seen = Some(entry.mode);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, Some(0o1777), "the sticky bit survives");
    // A package with a file at the directory's path is refused.
    let odd = f.package(None, "odd", &[], &[("tmp", "not a directory")]);
    let err = compose(
        &f.store,
        &[odd],
        &spec(vec![tmp]),
        &bale_image::RuntimeConfig::default(),
        &options,
        &bale_progress::NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("odd:all@1 ships \"/tmp\" as a file"), "{err}");
}
