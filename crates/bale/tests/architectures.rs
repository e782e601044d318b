//! Several architectures in one store, and images for several at once:
//! ids name their architecture, each image and SBOM sees only its own
//! packages, a spec with `architectures` becomes an OCI image index that
//! skopeo, umoci and a real registry accept, and stores and locks of the
//! previous format are migrated or read, never misread.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Env;
use common::archive::{Archive, DebSpec, FUTURE};
use common::registry::Registry;
use serde_json::Value;

const SUITE: &str = "archsuite";

/// libfoo and app for amd64 and arm64 (different content), and tzdata for
/// all architectures.
fn archive() -> Option<Archive> {
    for tool in ["gpg", "dpkg-deb"] {
        bale_testkit::require_tool(tool)?;
    }
    let mut a = Archive::new();
    for arch in ["amd64", "arm64"] {
        a.add(&DebSpec::new("libfoo", "1.0").arch(arch).file("usr/lib/libfoo.so", &format!("libfoo for {arch}\n")));
        a.add(
            &DebSpec::new("app", "2.0")
                .arch(arch)
                .field("Depends", "libfoo, tzdata")
                .file("usr/bin/app", &format!("app for {arch}\n")),
        );
    }
    a.add(&DebSpec::new("tzdata", "2024a").arch("all").file("usr/share/zoneinfo/UTC", "UTC\n"));
    a.publish(SUITE, FUTURE);
    Some(a)
}

fn spec(dir: &Path, a: &Archive, architecture_line: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let text = format!(
        "name = \"example.com/arch\"\n{architecture_line}\n\n[debian]\nsuite = \"{SUITE}\"\nmirror = \"{}\"\nkeyring = \"{}\"\npackages = [\"app\"]\n\n[config]\ncmd = [\"/usr/bin/app\"]\n",
        a.url,
        a.keyring.display()
    );
    let path = dir.join("bale.toml");
    fs::write(&path, text).unwrap();
    path
}

fn build(env: &Env, spec: &Path, out: &Path, locked: bool) -> Value {
    let mut args = vec!["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()];
    if locked {
        args.push("--locked");
    }
    env.json(&args)
}

/// The package ids an SPDX SBOM lists (from each package's comment).
fn sbom_ids(path: &Path) -> Vec<String> {
    let doc: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["comment"].as_str())
        .map(|c| c.trim_start_matches("bale package ").split(' ').next().unwrap().to_string())
        .collect()
}

#[test]
fn two_architectures_share_one_store_and_each_image_sees_only_its_own() {
    let Some(a) = archive() else { return };
    let env = Env::new();
    let (arm_dir, amd_dir) = (env.path().join("arm"), env.path().join("amd"));
    let arm_spec = spec(&arm_dir, &a, "architecture = \"arm64\"");
    let amd_spec = spec(&amd_dir, &a, "architecture = \"amd64\"");
    // arm64 first, then amd64: the order that used to hand the amd64
    // image the arm64 packages.
    let arm = build(&env, &arm_spec, &arm_dir.join("image"), false);
    let amd = build(&env, &amd_spec, &amd_dir.join("image"), false);
    assert_eq!(arm["architecture"], "arm64");
    assert_eq!(amd["architecture"], "amd64");

    let list = env.json(&["list"]);
    let ids: Vec<&str> = list["packages"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    for wanted in [
        "debian:archsuite/libfoo:amd64@1.0",
        "debian:archsuite/libfoo:arm64@1.0",
        "debian:archsuite/app:amd64@2.0",
        "debian:archsuite/app:arm64@2.0",
        "debian:archsuite/tzdata:all@2024a",
        "debian:archsuite/bale-merged-usr:amd64@1",
        "debian:archsuite/bale-merged-usr:arm64@1",
    ] {
        assert!(ids.contains(&wanted), "{wanted} missing from {ids:?}");
    }
    assert_eq!(ids.iter().filter(|i| i.contains("tzdata")).count(), 1, "one tzdata for both: {ids:?}");

    // Each image's layers and SBOMs name only its own architecture (and all).
    for (doc, dir, own, other) in [(&arm, &arm_dir, "arm64", "amd64"), (&amd, &amd_dir, "amd64", "arm64")] {
        let layers: Vec<&str> =
            doc["layers"].as_array().unwrap().iter().filter_map(|l| l["package"].as_str()).collect();
        assert!(layers.iter().all(|l| l.contains(&format!(":{own}@")) || l.contains(":all@")), "{layers:?}");
        let sbom = sbom_ids(&dir.join("image.spdx.json"));
        assert_eq!(sbom.len(), 4, "{sbom:?}");
        assert!(sbom.iter().all(|id| !id.contains(&format!(":{other}@"))), "{own} SBOM lists {other}: {sbom:?}");
        let cdx: Value = serde_json::from_slice(&fs::read(dir.join("image.cdx.json")).unwrap()).unwrap();
        let purls: Vec<&str> =
            cdx["components"].as_array().unwrap().iter().filter_map(|c| c["purl"].as_str()).collect();
        assert!(purls.iter().all(|p| !p.contains(&format!("arch={other}"))), "{purls:?}");
        let config = image_config(&dir.join("image"));
        assert_eq!(config["architecture"], own);
    }
    // A lock names its architecture's ids.
    let arm_lock = fs::read_to_string(arm_dir.join("bale.lock")).unwrap();
    assert!(arm_lock.contains("debian:archsuite/libfoo:arm64@1.0") && !arm_lock.contains(":amd64@"), "{arm_lock}");

    // Offline (the mirror gone), each rebuilds from its lock to the same
    // image: nothing was overwritten by the other architecture.
    fs::rename(a.root(), a.dir.path().join("gone")).unwrap();
    let arm_again = build(&env, &arm_spec, &arm_dir.join("again"), true);
    let amd_again = build(&env, &amd_spec, &amd_dir.join("again"), true);
    assert_eq!(arm_again["manifest"], arm["manifest"]);
    assert_eq!(amd_again["manifest"], amd["manifest"]);

    // A name that two architectures share is ambiguous and says so; with
    // the architecture it is found.
    let out = env.run(&["inspect", "libfoo"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("libfoo:amd64@1.0") && stderr.contains("libfoo:arm64@1.0"), "{stderr}");
    let inspected = env.json(&["inspect", "libfoo:arm64"]);
    assert_eq!(inspected["metadata"]["architecture"], "arm64");
}

/// The OCI config of the single image a layout's `latest` names.
fn image_config(layout: &Path) -> Value {
    let blob = |digest: &str| -> Value {
        let hex = digest.trim_start_matches("sha256:");
        serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
    };
    let index: Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = blob(index["manifests"][0]["digest"].as_str().unwrap());
    blob(manifest["config"]["digest"].as_str().unwrap())
}

#[test]
fn a_local_package_for_another_architecture_is_refused() {
    let Some(a) = archive() else { return };
    let env = Env::new();
    let dir = env.path().join("p");
    let spec_path = spec(&dir, &a, "architecture = \"amd64\"");
    fs::create_dir_all(dir.join("tool/usr/bin")).unwrap();
    fs::write(dir.join("tool/usr/bin/tool"), "arm64 code\n").unwrap();
    let mut text = fs::read_to_string(&spec_path).unwrap();
    text.push_str(
        "\n[[local]]\npath = \"tool\"\nname = \"example.com/tool\"\nversion = \"1\"\narchitecture = \"arm64\"\n",
    );
    fs::write(&spec_path, text).unwrap();
    let out = env.run(&["build", spec_path.to_str().unwrap(), "--output", dir.join("image").to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("example.com/tool:arm64@1 is built for arm64, and this image is for amd64")
            && stderr.contains("help:"),
        "{stderr}"
    );
    assert!(!dir.join("image").exists());
}

#[test]
fn a_spec_with_architectures_writes_an_image_index() {
    let Some(a) = archive() else { return };
    let Some(skopeo) = bale_testkit::require_tool("skopeo") else { return };
    let Some(umoci) = bale_testkit::require_tool("umoci") else { return };
    let (one, two) = (Env::new(), Env::new());
    let dir = one.path().join("multi");
    let spec_path = spec(&dir, &a, "architectures = [\"amd64\", \"arm64\"]");
    let out = dir.join("image");
    let built = build(&one, &spec_path, &out, false);
    let images = built["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["platform"], serde_json::json!({"architecture": "amd64", "os": "linux"}));
    assert_eq!(images[1]["platform"], serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"}));

    // The layout's tag names an image index with one manifest per platform.
    let index: Value = serde_json::from_slice(&fs::read(out.join("index.json")).unwrap()).unwrap();
    let top = index["manifests"].as_array().unwrap().iter().find(|d| d["annotations"].is_object()).unwrap();
    assert_eq!(top["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(top["digest"], built["index"]["digest"]);

    // One lock, one section per architecture.
    let lock = fs::read_to_string(dir.join("bale.lock")).unwrap();
    assert_eq!(lock.matches("[[debian]]").count(), 2, "{lock}");
    assert!(lock.contains("debian:archsuite/app:amd64@2.0") && lock.contains("debian:archsuite/app:arm64@2.0"));

    // SBOMs per image, beside the output and inside the layout.
    for (arch, other) in [("amd64", "arm64"), ("arm64", "amd64")] {
        let ids = sbom_ids(&dir.join(format!("image.{arch}.spdx.json")));
        assert!(ids.iter().any(|i| i.contains(&format!("app:{arch}@"))) && !ids.iter().any(|i| i.contains(other)));
        let sbom = one.ok(&["sbom", out.to_str().unwrap(), "--arch", arch]);
        assert!(sbom.contains(&format!("app:{arch}@2.0")) && !sbom.contains(&format!("app:{other}@")), "{arch}");
    }
    let out_of_index = one.run(&["sbom", out.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out_of_index.stderr).contains("--arch"));

    // skopeo copies the whole index; each platform's image unpacks with
    // umoci and holds its own architecture's files.
    common::oci::skopeo_copy_all(&skopeo, &out, &one.path().join("copy"));
    for arch in ["amd64", "arm64"] {
        let single = one.path().join(format!("only-{arch}"));
        common::oci::skopeo_copy_platform(&skopeo, &out, arch, &single);
        let bundle = one.path().join(format!("bundle-{arch}"));
        common::oci::umoci_unpack(&umoci, &single, &bundle, true);
        assert_eq!(fs::read_to_string(bundle.join("rootfs/usr/bin/app")).unwrap(), format!("app for {arch}\n"));
        assert!(bundle.join("rootfs/usr/share/zoneinfo/UTC").exists());
    }

    // bale unpacks one platform's root filesystem, layers stacked.
    let rootfs = one.path().join("rootfs-arm64");
    one.ok(&["unpack", out.to_str().unwrap(), rootfs.to_str().unwrap(), "--arch", "arm64"]);
    assert_eq!(fs::read_to_string(rootfs.join("usr/bin/app")).unwrap(), "app for arm64\n");
    assert!(fs::read_to_string(rootfs.join("etc/passwd")).unwrap().starts_with("root:x:0:0:"));
    let which = one.run(&["unpack", out.to_str().unwrap(), one.path().join("which").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&which.stderr).contains("--arch"));
    assert!(!one.path().join("which").exists());

    // The same index from another empty store.
    let dir_two = two.path().join("multi");
    let spec_two = spec(&dir_two, &a, "architectures = [\"amd64\", \"arm64\"]");
    let again = build(&two, &spec_two, &dir_two.join("image"), false);
    assert_eq!(again["index"], built["index"]);

    // A registry takes the index and gives it back whole.
    let Some(registry) = Registry::start() else { return };
    let reference = format!("{}/tests/multi:v1", registry.address);
    let pushed = one.json(&["push", out.to_str().unwrap(), &reference]);
    assert_eq!(pushed["manifest"], built["index"]["digest"]);
    assert_eq!(pushed["referrers"], 4, "two SBOMs per image: {pushed}");
    let raw = Command::new(&skopeo)
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    let raw: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    let pulled_env = Env::new();
    let pulled_dir = pulled_env.path().join("pulled");
    let pulled = pulled_env.json(&["pull", &reference, "--output", pulled_dir.to_str().unwrap()]);
    assert_eq!(pulled["manifest"], built["index"]["digest"]);
    assert_eq!(pulled["images"].as_array().unwrap().len(), 2);
    let status = Command::new(&skopeo)
        .args(["copy", "--all"])
        .arg(format!("oci:{}:v1", pulled_dir.display()))
        .arg(format!("oci:{}:latest", pulled_env.path().join("recopy").display()))
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    pulled_env.ok(&["store", "verify"]);
}

#[test]
fn a_store_of_the_previous_format_is_refused_then_migrated() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "hello", "--version", "1"]);
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "tool", "--version", "2", "--arch", "arm64"]);
    // What the previous bale wrote: no format marker, ids without
    // architecture.
    let index_path = env.store().join("index.json");
    let mut index: Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    index.as_object_mut().unwrap().remove("annotations");
    for entry in index["manifests"].as_array_mut().unwrap() {
        let name = &mut entry["annotations"]["org.opencontainers.image.ref.name"];
        *name = Value::String(name.as_str().unwrap().replace(":all@", "@").replace(":arm64@", "@"));
    }
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let out = env.run(&["list"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("written by an older bale") && stderr.contains("bale store migrate"), "{stderr}");
    let before = fs::read(&index_path).unwrap();
    assert!(!env.run(&["inspect", "hello"]).status.success());
    assert_eq!(fs::read(&index_path).unwrap(), before, "refusing changed nothing");

    let migrated = env.json(&["store", "migrate"]);
    assert_eq!(migrated["migrated"].as_array().unwrap().len(), 2, "{migrated}");
    let list = env.json(&["list"]);
    let ids: Vec<&str> = list["packages"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["hello:all@1", "tool:arm64@2"]);
    env.ok(&["store", "verify"]);
    // Twice is harmless.
    assert_eq!(env.json(&["store", "migrate"])["migrated"].as_array().unwrap().len(), 0);
}

#[test]
fn a_lock_of_the_previous_version_is_read_as_it_was_meant() {
    let Some(a) = archive() else { return };
    let env = Env::new();
    let dir = env.path().join("v1");
    let spec_path = spec(&dir, &a, "");
    let spec_text =
        fs::read_to_string(&spec_path).unwrap().replace("[debian]\n", "[debian]\narchitecture = \"amd64\"\n");
    fs::write(&spec_path, spec_text).unwrap();
    let first = build(&env, &spec_path, &dir.join("image"), false);

    // Rewrite the lock as version 1: top-level inputs, one [debian] table,
    // ids without architecture.
    let lock_path = dir.join("bale.lock");
    let lock: toml::Table = toml::from_str(&fs::read_to_string(&lock_path).unwrap()).unwrap();
    let mut section = lock["debian"].as_array().unwrap()[0].as_table().unwrap().clone();
    let inputs = section.remove("inputs").unwrap();
    let strip = |id: &str| id.replace(":amd64@", "@").replace(":all@", "@");
    let base = section.get_mut("base").unwrap().as_table_mut().unwrap();
    let base_id = strip(base["id"].as_str().unwrap());
    base.insert("id".into(), base_id.into());
    for package in section.get_mut("package").unwrap().as_array_mut().unwrap() {
        let table = package.as_table_mut().unwrap();
        let id = strip(table["id"].as_str().unwrap());
        table.insert("id".into(), id.into());
    }
    let mut v1 = toml::Table::new();
    v1.insert("version".into(), 1.into());
    v1.insert("inputs".into(), inputs);
    v1.insert("debian".into(), section.into());
    let v1_text = toml::to_string(&v1).unwrap();
    assert!(v1_text.contains("debian:archsuite/tzdata@2024a"), "{v1_text}");
    fs::write(&lock_path, &v1_text).unwrap();

    // Read as it was meant: the same image, offline, without re-locking.
    fs::rename(a.root(), a.dir.path().join("gone")).unwrap();
    let again = build(&env, &spec_path, &dir.join("again"), true);
    assert_eq!(again["manifest"], first["manifest"]);
    assert_eq!(fs::read_to_string(&lock_path).unwrap(), v1_text, "a current lock is left as it is");
}

#[test]
fn a_lock_with_sections_of_a_source_this_bale_lacks_is_refused() {
    let Some(a) = archive() else { return };
    let env = Env::new();
    let dir = env.path().join("newer");
    let spec_path = spec(&dir, &a, "architecture = \"amd64\"");
    build(&env, &spec_path, &dir.join("image"), false);
    let lock_path = dir.join("bale.lock");
    let mut text = fs::read_to_string(&lock_path).unwrap();
    text.push_str("\n[[futuresource]]\narchitecture = \"amd64\"\n");
    fs::write(&lock_path, &text).unwrap();
    let out = env.run(&["build", spec_path.to_str().unwrap(), "--output", dir.join("again").to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has sections for the source \"futuresource\", which this bale does not have"), "{stderr}");
    assert_eq!(fs::read_to_string(&lock_path).unwrap(), text, "the lock is left alone");
}
