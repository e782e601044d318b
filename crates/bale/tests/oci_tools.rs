//! A layer written by `bale pack` is accepted by real OCI tools: it is
//! wrapped in a minimal image layout here and unpacked with umoci, which
//! checks the layer digest and the diff_id.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use bale_fileset::sha256_bytes;
use bale_testkit::require_tool;
use common::Env;
use serde_json::json;

/// Writes an OCI layout at `layout` holding one image whose single layer is
/// the package's layer blob, with `diff_id` in its config.
fn wrap_in_layout(env: &Env, package: &str, layout: &Path, diff_id: &str) {
    let inspect = env.json(&["inspect", package]);
    let layer = &inspect["layer"];
    let layer_hex = layer["digest"].as_str().unwrap().trim_start_matches("sha256:");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::copy(env.store().join("blobs/sha256").join(layer_hex), blobs.join(layer_hex)).unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
    }))
    .unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256_bytes(bytes);
        fs::write(blobs.join(digest.hex()), bytes).unwrap();
        (digest.to_string(), bytes.len())
    };
    let (config_digest, config_size) = put(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
        "layers": [layer],
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = put(&manifest);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": { "org.opencontainers.image.ref.name": "latest" },
        }],
    });
    fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

fn umoci_unpack(umoci: &Path, layout: &Path, bundle: &Path) -> std::process::Output {
    Command::new(umoci)
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .arg(bundle)
        .output()
        .unwrap()
}

#[test]
fn umoci_unpacks_a_packed_layer_and_checks_its_diff_id() {
    let Some(umoci) = require_tool("umoci") else { return };
    // Debian's umoci reads only gzip layers; zstd layers are checked by the
    // round trip through bale's own reader in the CLI tests.
    {
        let compression = "gzip";
        let env = Env::new();
        let tree = env.path().join("tree");
        common::sample_tree(&tree);
        let packed = env.json(&["pack", "tree", "--name", "hello", "--version", "1", "--compression", compression]);
        let diff_id = packed["content"]["digest"].as_str().unwrap();

        let layout = env.path().join("layout");
        wrap_in_layout(&env, "hello@1", &layout, diff_id);
        let bundle = env.path().join("bundle");
        let out = umoci_unpack(&umoci, &layout, &bundle);
        assert!(out.status.success(), "{compression}: umoci unpack failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let rootfs = bundle.join("rootfs");
        assert_eq!(fs::read_to_string(rootfs.join("etc/greeting")).unwrap(), "hello\n");
        assert_eq!(fs::read_link(rootfs.join("usr/bin/hi")).unwrap(), Path::new("hello"));
        use std::os::unix::fs::MetadataExt;
        let a = fs::metadata(rootfs.join("etc/greeting")).unwrap();
        let b = fs::metadata(rootfs.join("etc/greeting.bak")).unwrap();
        assert_eq!(a.ino(), b.ino(), "{compression}: the hard link was not kept");
        assert_eq!(fs::metadata(rootfs.join("usr/bin/hello")).unwrap().mode() & 0o7777, 0o755);

        // The control: a wrong diff_id must make umoci fail, or this test
        // would prove nothing.
        let wrong = env.path().join("wrong");
        wrap_in_layout(&env, "hello@1", &wrong, &sha256_bytes(b"not the layer").to_string());
        let out = umoci_unpack(&umoci, &wrong, &env.path().join("bundle-wrong"));
        assert!(!out.status.success(), "{compression}: umoci accepted a wrong diff_id");
    }
}

#[test]
fn skopeo_copies_the_layout_with_digests_intact() {
    let Some(skopeo) = require_tool("skopeo") else { return };
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    let packed = env.json(&["pack", "tree", "--name", "hello", "--version", "1"]);
    let layout = env.path().join("layout");
    wrap_in_layout(&env, "hello@1", &layout, packed["content"]["digest"].as_str().unwrap());
    let out = Command::new(skopeo)
        .args(["--insecure-policy", "copy"])
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("oci:{}:latest", env.path().join("copy").display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo copy failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let layer_hex = packed["layer"]["digest"].as_str().unwrap().trim_start_matches("sha256:");
    assert!(env.path().join("copy/blobs/sha256").join(layer_hex).is_file(), "the layer blob changed in the copy");
}
