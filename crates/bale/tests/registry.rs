//! Push to and pull from a real CNCF distribution registry on 127.0.0.1:
//! the manifest digest survives the round trip, a second push sends no
//! blob, and a change to one package sends only what changed.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use common::Env;
use common::registry::Registry;

fn spec(env: &Env) -> std::path::PathBuf {
    for (dir, file, text) in [("base", "usr/share/base/data", "base layer\n"), ("app", "srv/app/main", "version 1\n")] {
        let path = env.path().join(dir).join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    let spec = env.path().join("bale.toml");
    fs::write(
        &spec,
        "name = \"example.com/pushed\"\n\n[[local]]\npath = \"base\"\nname = \"example.com/base\"\nversion = \"1\"\n\n[[local]]\npath = \"app\"\nname = \"example.com/app\"\nversion = \"1\"\n\n[config]\ncmd = [\"/srv/app/main\"]\n",
    )
    .unwrap();
    spec
}

#[test]
fn push_pull_round_trip_and_incremental_pushes() {
    let Some(registry) = Registry::start() else { return };
    let env = Env::new();
    let spec = spec(&env);
    let out = env.path().join("image");
    let built = env.json(&["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    let reference = format!("{}/tests/pushed:v1", registry.address);

    let first = env.json(&["push", out.to_str().unwrap(), &reference]);
    assert_eq!(first["manifest"], built["manifest"]["digest"]);
    // config, three layers (base, app, generated), and two SBOMs with their
    // shared empty config.
    assert_eq!(first["blobsSent"], 7, "{first}");
    assert_eq!(first["referrers"], 2);

    // Pulled into an empty store: the same manifest, every blob checked.
    let other = Env::new();
    let pulled_dir = other.path().join("pulled");
    let pulled = other.json(&["pull", &reference, "--output", pulled_dir.to_str().unwrap()]);
    assert_eq!(pulled["manifest"], built["manifest"]["digest"]);
    let index: serde_json::Value = serde_json::from_slice(&fs::read(pulled_dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], built["manifest"]["digest"]);
    // The SBOMs came along, through the fallback tag distribution 2.8
    // needs (it has no referrers API), and read back from the pulled layout
    // as bale build wrote them.
    assert_eq!(first["referrerTags"], 1, "{first}");
    assert_eq!(pulled["referrers"].as_array().unwrap().len(), 2, "{pulled}");
    let spdx = other.ok(&["sbom", &format!("{}:v1", pulled_dir.display())]);
    assert_eq!(spdx.as_bytes(), fs::read(env.path().join("image.spdx.json")).unwrap());
    let cdx = other.ok(&["sbom", &format!("{}:v1", pulled_dir.display()), "--format", "cyclonedx"]);
    assert_eq!(cdx.as_bytes(), fs::read(env.path().join("image.cdx.json")).unwrap());
    // The pulled image inspects by its reference, with its packages.
    let inspected = other.json(&["inspect", &reference]);
    let packages: Vec<&str> =
        inspected["images"][0]["layers"].as_array().unwrap().iter().filter_map(|l| l["package"].as_str()).collect();
    assert!(
        packages.contains(&"example.com/app:all@1") && packages.contains(&"example.com/base:all@1"),
        "{packages:?}"
    );
    assert_eq!(inspected["referrers"].as_array().unwrap().len(), 2);
    let shown = other.ok(&["inspect", &reference]);
    assert!(shown.contains("linux/amd64") && shown.contains("example.com/app:all@1"), "{shown}");
    let rootfs = other.path().join("rootfs");
    other.ok(&["unpack", &reference, rootfs.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(rootfs.join("srv/app/main")).unwrap(), "version 1\n");
    assert_eq!(fs::read_to_string(rootfs.join("usr/share/base/data")).unwrap(), "base layer\n");
    let from_layout = env.json(&["inspect", out.to_str().unwrap()]);
    assert_eq!(from_layout["top"]["digest"], built["manifest"]["digest"]);
    // The store records the pulled image, so gc keeps every blob of it.
    let gc = other.json(&["store", "gc"]);
    assert_eq!(gc["blobsRemoved"], 0, "{gc}");
    other.ok(&["store", "verify", "--deep"]);
    let again = other.path().join("pulled-again");
    let repeat = other.json(&["pull", &reference, "--output", again.to_str().unwrap()]);
    assert_eq!(repeat["manifest"], built["manifest"]["digest"]);
    if let Some(skopeo) = bale_testkit::require_tool("skopeo") {
        let copy = std::process::Command::new(skopeo)
            .args(["--insecure-policy", "copy"])
            .arg(format!("oci:{}:v1", pulled_dir.display()))
            .arg(format!("oci:{}:v1", other.path().join("copy").display()))
            .output()
            .unwrap();
        assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    }

    // Another repository of the same registry: every blob is mounted from
    // the first, only the manifests travel.
    let elsewhere = format!("{}/tests/elsewhere:v1", registry.address);
    let mounted = env.json(&["push", out.to_str().unwrap(), &elsewhere]);
    assert_eq!(mounted["blobsSent"], 0, "{mounted}");
    assert_eq!(mounted["blobsMounted"], first["blobsSent"], "{mounted}");
    assert!(mounted["bytesSent"].as_u64().unwrap() < 8192, "{mounted}");
    let back = Env::new();
    back.ok(&["pull", &elsewhere]);
    back.ok(&["store", "verify", "--deep"]);

    // Pushing again sends no blob at all.
    let again = env.json(&["push", out.to_str().unwrap(), &reference]);
    assert_eq!(again["blobsSent"], 0, "{again}");

    // Change the app: only its layer, the config and the SBOMs travel.
    let before = registry.storage_bytes();
    fs::write(env.path().join("app/srv/app/main"), "version 2\n").unwrap();
    let rebuilt = env.json(&["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    let changed = env.json(&["push", out.to_str().unwrap(), &format!("{}/tests/pushed:v2", registry.address)]);
    assert_eq!(changed["blobsSent"], 4, "{changed}");
    let app_layer =
        rebuilt["layers"].as_array().unwrap().iter().find(|l| l["package"] == "example.com/app:all@1").unwrap().clone();
    assert!(changed["bytesSent"].as_u64().unwrap() < first["bytesSent"].as_u64().unwrap());
    assert!(changed["bytesSent"].as_u64().unwrap() > app_layer["size"].as_u64().unwrap());
    let growth = registry.storage_bytes() - before;
    assert!(growth < first["bytesSent"].as_u64().unwrap() + 4096, "registry grew by {growth}");

    // A pull of something that is not there says so.
    let missing = other.run(&["pull", &format!("{}/tests/nothing:v1", registry.address)]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));
}
