//! The real OCI tools the tests check bale's layouts with.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn ok(what: &str, out: std::process::Output) {
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `skopeo copy --all` of `from:latest` to `to:latest`, both OCI layouts.
pub fn skopeo_copy_all(skopeo: &Path, from: &Path, to: &Path) {
    let out = Command::new(skopeo)
        .args(["copy", "--all"])
        .arg(format!("oci:{}:latest", from.display()))
        .arg(format!("oci:{}:latest", to.display()))
        .output()
        .unwrap();
    ok("skopeo copy --all", out);
}

/// The one image for `arch` of the index at `from:latest`, copied by
/// skopeo (which picks it by platform) to `to:latest`.
pub fn skopeo_copy_platform(skopeo: &Path, from: &Path, arch: &str, to: &Path) {
    let out = Command::new(skopeo)
        .args(["--override-arch", arch, "--override-os", "linux", "copy"])
        .arg(format!("oci:{}:latest", from.display()))
        .arg(format!("oci:{}:latest", to.display()))
        .output()
        .unwrap();
    ok(&format!("skopeo copy {arch}"), out);
}

/// `umoci unpack` of `layout:latest` into the bundle `bundle`.
pub fn umoci_unpack(umoci: &Path, layout: &Path, bundle: &Path, rootless: bool) {
    let mut command = Command::new(umoci);
    command.arg("unpack");
    if rootless {
        command.arg("--rootless");
    }
    let out = command.arg("--image").arg(format!("{}:latest", layout.display())).arg(bundle).output().unwrap();
    ok(&format!("umoci unpack {}", layout.display()), out);
}

/// `runc run` of an unpacked bundle whose config is `config` (written
/// back without a terminal); `None` when not root or without runc.
pub fn runc_run(bundle: &Path, mut config: serde_json::Value, label: &str) -> Option<std::process::Output> {
    if !bale_testkit::require_root("running the image with runc") {
        return None;
    }
    let runc = bale_testkit::require_tool("runc")?;
    config["process"]["terminal"] = false.into();
    std::fs::write(bundle.join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    let id = format!("bale-{label}-{}", std::process::id());
    Some(std::process::Command::new(runc).args(["run", "--bundle"]).arg(bundle).arg(&id).output().unwrap())
}

/// `podman run` of the layout's `latest`, with a throwaway store (so no
/// cached layer can hide a broken blob) and no network; `None` without
/// podman.
pub fn podman_run(scratch: &Path, layout: &Path, label: &str) -> Option<std::process::Output> {
    let podman = bale_testkit::require_tool("podman")?;
    let state = scratch.join(format!("podman-{label}"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("containers.conf"),
        "[containers]\ndefault_ulimits = [\"nofile=4096:4096\", \"nproc=4096:4096\"]\nnetns = \"none\"\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
    )
    .unwrap();
    // podman names the image after the layout's path, which must be lowercase.
    let lowercase = std::env::temp_dir().join(format!("bale-podman-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&lowercase);
    assert!(std::process::Command::new("cp").arg("-r").arg(layout).arg(&lowercase).status().unwrap().success());
    let out = std::process::Command::new(podman)
        .env("CONTAINERS_CONF", state.join("containers.conf"))
        .arg("--root")
        .arg(state.join("root"))
        .arg("--runroot")
        .arg(state.join("runroot"))
        .args(["--storage-driver", "vfs", "run", "--rm"])
        .arg(format!("oci:{}:latest", lowercase.display()))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&lowercase);
    Some(out)
}
