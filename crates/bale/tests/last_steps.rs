//! `[[run]]` in image specs: commands run last, in the sandbox over the
//! composed image, whose writes become the image's top layer. Offline,
//! over a root of the host's static BusyBox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use bale_testkit::give_to_other_user;
use common::{Env, busybox_root};

/// The spec `bale.toml` in `dir`: `top` among its top-level keys, `extra`
/// at the end.
fn write_spec(dir: &Path, top: &str, extra: &str) -> std::path::PathBuf {
    fs::create_dir_all(dir).unwrap();
    let spec = dir.join("bale.toml");
    fs::write(
        &spec,
        format!(
            r#"name = "example.com/finished"
packages = ["example.com/busybox-root@1"]
{top}

[config]
cmd = ["/bin/cat", "/etc/motd"]

[users.app]
uid = 1000
create_home = false

[dirs."/srv/app"]
uid = "app"
mode = "0750"

{extra}
"#
        ),
    )
    .unwrap();
    spec
}

const RUNS: &str = r#"[[run]]
run = """
echo "hello from run" > /etc/motd
mkdir -p /usr/share/finished
echo "uid $(id -u) epoch $SOURCE_DATE_EPOCH" > /usr/share/finished/info
touch /srv/app/data /tmp/scratch
date -r /usr/bin/busybox +%s > /usr/share/finished/mtime
"""

[[run]]
command = ["/bin/cp", "/etc/motd", "/usr/share/finished/motd"]
"#;

#[test]
fn run_commands_become_the_top_layer_of_an_image_that_runs() {
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let spec = write_spec(&env.path().join("app"), "", RUNS);
    let output = env.path().join("image");
    let built = env.json(&["build", spec.to_str().unwrap(), "--output", output.to_str().unwrap()]);
    let layers = built["layers"].as_array().unwrap();
    let run_id = format!("example.com/finished/run:{}@latest", bale_build::host_architecture());
    assert_eq!(layers.last().unwrap()["package"], run_id.as_str(), "the commands' layer is on top: {built}");

    // What they wrote, with the owners the image gives the paths it had;
    // /tmp was a tmpfs and is not in the layer.
    let rootfs = env.path().join("rootfs");
    env.ok(&["unpack", output.to_str().unwrap(), rootfs.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(rootfs.join("etc/motd")).unwrap(), "hello from run\n");
    assert_eq!(fs::read_to_string(rootfs.join("usr/share/finished/info")).unwrap(), "uid 0 epoch 0\n");
    assert_eq!(fs::read_to_string(rootfs.join("usr/share/finished/motd")).unwrap(), "hello from run\n");
    // The commands see the image's times (its tars say 0), not when the
    // copy they ran over was unpacked.
    assert_eq!(fs::read_to_string(rootfs.join("usr/share/finished/mtime")).unwrap(), "0\n");
    let inspect = env.json(&["inspect", &run_id, "--json"]);
    let files = env.ok(&["inspect", &run_id, "--files"]);
    assert!(files.contains(" srv/app/data\n") && !files.contains(" tmp/"), "{files}");
    assert_eq!(inspect["metadata"]["provenance"]["type"], "run", "{inspect}");
    if bale_testkit::is_root() {
        let app = fs::metadata(rootfs.join("srv/app")).unwrap();
        assert_eq!((app.uid(), app.mode() & 0o7777), (1000, 0o750), "the spec's directory keeps its owner");
        assert_eq!(fs::metadata(rootfs.join("srv/app/data")).unwrap().uid(), 0, "what the commands make is root's");
    }

    // The SBOM lists the layer as a package, with the commands.
    let spdx = fs::read_to_string(env.path().join("image.spdx.json")).unwrap();
    assert!(spdx.contains("example.com/finished/run") && spdx.contains("/bin/cp /etc/motd"), "{spdx}");

    // Built again, nothing runs and nothing changes.
    let again = env.json(&["build", spec.to_str().unwrap(), "--output", output.to_str().unwrap()]);
    assert_eq!(again["manifest"]["digest"], built["manifest"]["digest"]);

    // It runs under runc.
    let bundle = env.path().join("bundle");
    let Some(umoci) = bale_testkit::require_tool("umoci") else { return };
    common::oci::umoci_unpack(&umoci, &output, &bundle, false);
    let config: serde_json::Value = serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let Some(out) = common::oci::runc_run(&bundle, config, "last-steps") else { return };
    assert!(out.status.success(), "runc: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from run\n");

    // Another user, another store: the same image, byte for byte.
    if !bale_testkit::require_root("building as another user") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(env.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let other = env.path().join("other");
    fs::create_dir(&other).unwrap();
    let other_spec = write_spec(&other.join("app"), "", RUNS);
    give_to_other_user(&other);
    let other_bale = |args: &[&str]| common::bale_as_other_user(&other, args);
    fs::remove_dir_all(env.path().join("busybox-root")).unwrap();
    let other_env = Env { dir: tempfile::tempdir_in(&other).unwrap() };
    give_to_other_user(other_env.path());
    assert!(busybox_root(&other_env, &other_bale));
    let image = other.join("image");
    let made = other_bale(&["--json", "build", other_spec.to_str().unwrap(), "--output", image.to_str().unwrap()]);
    let made: serde_json::Value = serde_json::from_str(&made).unwrap();
    assert_eq!(made["manifest"]["digest"], built["manifest"]["digest"], "root and uid 65534 built different images");
    // Nothing of the sandbox's overlay is left behind, though the kernel
    // makes its work directory unreadable.
    let left: Vec<_> = fs::read_dir(other.join("store/tmp")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "left in the store's tmp/: {left:?}");
}

#[test]
fn run_commands_may_not_remove_and_a_failure_shows_its_output() {
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let output = env.path().join("image");
    let build_with = |top: &str, extra: &str| {
        let spec = write_spec(&env.path().join("app"), top, extra);
        let out = env.run(&["build", spec.to_str().unwrap(), "--output", output.to_str().unwrap()]);
        assert!(!out.status.success(), "{extra}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let build = |extra: &str| build_with("", extra);
    let stderr = build("[[run]]\nrun = \"rm /usr/bin/wc\"\n");
    assert!(stderr.contains("removed /usr/bin/wc") && stderr.contains("help:"), "{stderr}");
    let stderr = build("[[run]]\nrun = \"rm -r /etc; mkdir /etc\"\n");
    assert!(stderr.contains("removed /etc"), "{stderr}");
    // A file where the image has a directory hides the directory: refused.
    let stderr = build("[[run]]\nrun = \"rm -r /srv/app; echo x > /srv/app\"\n");
    assert!(stderr.contains("removed /srv/app"), "{stderr}");
    let stderr = build("[[run]]\nrun = \"echo step one\"\n\n[[run]]\nrun = \"echo about to fail; exit 3\"\n");
    assert!(stderr.contains("[[run]] 2") && stderr.contains("exit status 3"), "{stderr}");
    assert!(stderr.contains("| step one") && stderr.contains("| about to fail"), "the log is shown: {stderr}");
    // A server on the host's loopback is out of reach: the sandbox has its own.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stderr = build(&format!("[[run]]\nrun = \"nc -w 2 127.0.0.1 {port} < /dev/null && echo reached\"\n"));
    assert!(!stderr.contains("| reached") && stderr.contains("Connection refused"), "no network: {stderr}");
    let stderr = build("[[run]]\ncommand = [\"sh\", \"-c\", \"true\"]\n");
    assert!(stderr.contains("run[0]") && stderr.contains("absolute"), "{stderr}");
    let foreign = if bale_build::host_architecture() == "arm64" { "amd64" } else { "arm64" };
    let stderr = build_with(&format!("architecture = \"{foreign}\""), "[[run]]\nrun = \"true\"\n");
    assert!(stderr.contains("must be for this machine"), "{stderr}");
    assert!(!output.exists(), "nothing was written");
}
