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
