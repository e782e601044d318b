//! `bale build`: spec → packages → OCI layout, checked with real tools
//! (umoci for diff_ids, runc to run it, skopeo to copy it), with packages
//! from an archive signed at test time and from a local directory.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Env;
use common::archive::{Archive, DebSpec, FUTURE};

const SUITE: &str = "imagesuite";

/// An archive with a .deb holding this machine's static busybox, as
/// Debian's busybox-static ships it (in /bin, moved under /usr on import).
fn archive() -> Option<Archive> {
    for tool in ["gpg", "dpkg-deb"] {
        bale_testkit::require_tool(tool)?;
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().map(PathBuf::from).find(|p| p.is_file());
    let Some(busybox) = busybox else {
        bale_testkit::missing("a static busybox (Debian's busybox-static) is not on this machine");
        return None;
    };
    let mut a = Archive::new();
    let mut spec = DebSpec::new("busybox-static", "1:1.35.0-4").field("Depends", "libbale-motd");
    spec.files.push(("bin/busybox".into(), String::new()));
    a.add_with_binary(&spec, "bin/busybox", &busybox);
    a.add(&DebSpec::new("libbale-motd", "1.0").file("usr/share/motd/hello", "hello from a bale image\n"));
    a.add(&DebSpec::new("clash", "1.0").file("usr/share/motd/hello", "a different greeting\n"));
    a.publish(SUITE, FUTURE);
    Some(a)
}

fn write_spec(env: &Env, a: &Archive, packages: &[&str], extra: &str) -> PathBuf {
    let list = packages.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ");
    let text = format!(
        r#"name = "example.com/test/hello"

[debian]
suite = "{SUITE}"
mirror = "{}"
keyring = "{}"
architecture = "amd64"
packages = [{list}]

[config]
entrypoint = ["/usr/bin/busybox", "cat"]
cmd = ["/usr/share/motd/hello"]
user = 1
env = {{ GREETING = "hi" }}
{extra}"#,
        a.url,
        a.keyring.display()
    );
    let path = env.path().join("bale.toml");
    fs::write(&path, text).unwrap();
    path
}

/// busybox-static from the archive, plus an app directory as a local
/// package holding /usr/share/app/message.
fn spec_with_app(env: &Env, a: &Archive) -> PathBuf {
    let app = env.path().join("app/usr/share/app");
    fs::create_dir_all(&app).unwrap();
    fs::write(app.join("message"), "from the app\n").unwrap();
    write_spec(
        env,
        a,
        &["busybox-static"],
        "\n[[local]]\npath = \"app\"\nname = \"example.com/test/app\"\nversion = \"1.0\"\n",
    )
}

fn build(env: &Env, spec: &Path, out: &str) -> serde_json::Value {
    let out = env.path().join(out);
    env.json(&["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()])
}

#[test]
fn an_image_runs_under_runc_with_the_right_layers() {
    let Some(a) = archive() else { return };
    let env = Env::new();
    let spec = spec_with_app(&env, &a);
    let built = build(&env, &spec, "image");
    let layers = built["layers"].as_array().unwrap();
    let packages: Vec<&str> = layers.iter().map(|l| l["package"].as_str().unwrap_or("generated")).collect();
    // Dependencies first, the project's own packages above the archive's,
    // and the generated layer last.
    assert_eq!(
        packages,
        [
            "debian:imagesuite/bale-merged-usr:amd64@1",
            "debian:imagesuite/libbale-motd:amd64@1.0",
            "debian:imagesuite/busybox-static:amd64@1:1.35.0-4",
            "example.com/test/app:all@1.0",
            "generated"
        ]
    );
    let layout = env.path().join("image");
    // umoci checks every layer digest and diff_id.
    let bundle = env.path().join("bundle");
    if !umoci_unpack(&layout, &bundle) {
        return;
    }
    let rootfs = bundle.join("rootfs");
    assert_eq!(fs::read_link(rootfs.join("bin")).unwrap(), Path::new("usr/bin"));
    assert!(rootfs.join("usr/bin/busybox").is_file());
    assert_eq!(fs::read_to_string(rootfs.join("usr/share/app/message")).unwrap(), "from the app\n");
    assert!(fs::read_to_string(rootfs.join("etc/passwd")).unwrap().starts_with("root:x:0:0:"));
    assert!(!rootfs.join("var/lib/dpkg").exists(), "no package manager database in the image");
    let config: serde_json::Value = serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["user"]["uid"], 1);
    assert!(config["process"]["env"].as_array().unwrap().iter().any(|e| e == "GREETING=hi"));

    // And it runs.
    let Some(out) = runc_run(&bundle, config, "test") else { return };
    assert!(out.status.success(), "runc: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from a bale image\n");

    // And a real engine pulls it from the layout and runs it.
    let Some(out) = podman_run(&env, &layout, "main") else { return };
    assert!(out.status.success(), "podman: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from a bale image\n");
}

fn runc_run(bundle: &Path, config: serde_json::Value, label: &str) -> Option<std::process::Output> {
    common::oci::runc_run(bundle, config, label)
}

fn podman_run(env: &Env, layout: &Path, label: &str) -> Option<std::process::Output> {
    common::oci::podman_run(env.path(), layout, label)
}

#[test]
fn order_in_the_spec_never_changes_the_image_and_two_stores_agree() {
    let Some(a) = archive() else { return };
    let (one, two) = (Env::new(), Env::new());
    let first = build(&one, &write_spec(&one, &a, &["busybox-static", "libbale-motd"], ""), "image");
    let second = build(&two, &write_spec(&two, &a, &["libbale-motd", "busybox-static"], ""), "image");
    assert_eq!(first["manifest"], second["manifest"]);
    // Building again in the same store writes the identical layout.
    let again = build(&one, &write_spec(&one, &a, &["libbale-motd", "busybox-static"], ""), "image2");
    assert_eq!(first["manifest"], again["manifest"]);
    let index = |env: &Env, dir: &str| fs::read(env.path().join(dir).join("index.json")).unwrap();
    assert_eq!(index(&one, "image"), index(&two, "image"));
    // The oci-archive form is the same image in one reproducible tar.
    let archive_path = |env: &Env| env.path().join("image.tar");
    for env in [&one, &two] {
        let spec = env.path().join("bale.toml");
        env.ok(&[
            "build",
            spec.to_str().unwrap(),
            "--output",
            archive_path(env).to_str().unwrap(),
            "--format",
            "oci-archive",
        ]);
    }
    assert_eq!(fs::read(archive_path(&one)).unwrap(), fs::read(archive_path(&two)).unwrap());
    if let Some(skopeo) = bale_testkit::require_tool("skopeo") {
        let out = Command::new(&skopeo)
            .args(["--insecure-policy", "copy"])
            .arg(format!("oci-archive:{}:latest", archive_path(&one).display()))
            .arg(format!("oci:{}:latest", one.path().join("from-archive").display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new(&skopeo)
            .args(["--insecure-policy", "copy"])
            .arg(format!("oci:{}:latest", one.path().join("image").display()))
            .arg(format!("oci:{}:latest", one.path().join("copy").display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_conflict_names_the_path_and_both_packages_and_writes_nothing() {
    let Some(a) = archive() else { return };
    let env = Env::new();
    let spec = write_spec(&env, &a, &["busybox-static", "clash"], "");
    let out = env.path().join("image");
    let result = env.run(&["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("/usr/share/motd/hello")
            && stderr.contains("debian:imagesuite/clash:amd64@1.0")
            && stderr.contains("debian:imagesuite/libbale-motd:amd64@1.0"),
        "{stderr}"
    );
    assert!(!out.exists(), "output written despite the conflict");
    let leftovers: Vec<_> = fs::read_dir(env.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".image"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn spec_errors_point_at_the_line() {
    let env = Env::new();
    let spec = env.path().join("bale.toml");
    fs::write(&spec, "name = \"x\"\n\n[config]\nentrypoint = [\"/a\"]\nuser = 1\nwrkdir = \"/srv\"\n").unwrap();
    let out = env.run(&["build", spec.to_str().unwrap(), "--output", "out"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bale.toml") && stderr.contains("line 6") && stderr.contains("wrkdir"), "{stderr}");
}

/// Unpacks the layout's `latest` image with umoci, which checks every
/// layer digest and diff_id; false when umoci is not installed.
fn umoci_unpack(layout: &Path, bundle: &Path) -> bool {
    let Some(umoci) = bale_testkit::require_tool("umoci") else { return false };
    let mut unpack = Command::new(umoci);
    unpack.arg("unpack");
    if !bale_testkit::is_root() {
        unpack.arg("--rootless");
    }
    let out = unpack.arg("--image").arg(format!("{}:latest", layout.display())).arg(bundle).output().unwrap();
    assert!(out.status.success(), "umoci: {}", String::from_utf8_lossy(&out.stderr));
    true
}

/// SBOMs beside the output and inside the layout (as OCI referrers) pass
/// the reference validators: spdx-tools and cyclonedx-python-lib.
#[test]
fn sboms_pass_the_reference_validators() {
    let Some(a) = archive() else { return };
    let env = Env::new();
    let built = build(&env, &write_spec(&env, &a, &["busybox-static"], ""), "image");
    let spdx_path = env.path().join("image.spdx.json");
    let cdx_path = env.path().join("image.cdx.json");
    let spdx: serde_json::Value = serde_json::from_slice(&fs::read(&spdx_path).unwrap()).unwrap();
    let names: Vec<&str> = spdx["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["example.com/test/hello", "bale-merged-usr", "libbale-motd", "busybox-static"]);
    let busybox = &spdx["packages"][3];
    assert_eq!(busybox["externalRefs"][0]["referenceLocator"], "pkg:deb/debian/busybox-static@1%3A1.35.0-4?arch=amd64");
    assert!(busybox["sourceInfo"].as_str().unwrap().contains(".deb sha256:"), "{busybox}");
    // The signed indexes are named once for the document, not per package.
    let verified = spdx["creationInfo"]["comment"].as_str().unwrap();
    assert!(verified.contains("Packages sha256:") && verified.contains("InRelease sha256:"), "{verified}");
    assert!(!busybox["sourceInfo"].as_str().unwrap().contains("InRelease"), "{busybox}");
    let cdx: serde_json::Value = serde_json::from_slice(&fs::read(&cdx_path).unwrap()).unwrap();
    assert_eq!(cdx["metadata"]["properties"][0]["name"], "bale:debian-index");
    assert_eq!(
        spdx["packages"][0]["checksums"][0]["checksumValue"],
        built["manifest"]["digest"].as_str().unwrap().trim_start_matches("sha256:")
    );
    // The same bytes come back out of the layout.
    let layout = env.path().join("image");
    for (format, path) in [("spdx", &spdx_path), ("cyclonedx", &cdx_path)] {
        let out = env.ok(&["sbom", layout.to_str().unwrap(), "--format", format]);
        assert_eq!(out.as_bytes(), fs::read(path).unwrap(), "{format}");
    }

    let Some(pyspdxtools) = bale_testkit::require_tool("pyspdxtools") else { return };
    let validate_spdx = |path: &Path| {
        let out = Command::new(&pyspdxtools).arg("-i").arg(path).output().unwrap();
        (
            out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("invalid"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, why) = validate_spdx(&spdx_path);
    assert!(ok, "spdx-tools rejects the SPDX document: {why}");
    // The control: a broken document must be rejected, or this proves nothing.
    let mut broken = spdx.clone();
    broken["packages"][1]["licenseDeclared"] = "LicenseRef-Never-Declared".into();
    let broken_path = env.path().join("broken.spdx.json");
    fs::write(&broken_path, serde_json::to_vec(&broken).unwrap()).unwrap();
    assert!(!validate_spdx(&broken_path).0, "spdx-tools accepted a broken document");

    let script = "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\nerr = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\nprint(err or '')\nsys.exit(1 if err else 0)\n";
    let validate_cdx = |path: &Path| Command::new("python3").arg("-c").arg(script).arg(path).output().unwrap();
    let out = validate_cdx(&cdx_path);
    assert!(
        out.status.success(),
        "cyclonedx-python-lib rejects the CycloneDX document: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut broken: serde_json::Value = serde_json::from_slice(&fs::read(&cdx_path).unwrap()).unwrap();
    broken["serialNumber"] = "not-a-urn".into();
    fs::write(&broken_path, serde_json::to_vec(&broken).unwrap()).unwrap();
    assert!(!validate_cdx(&broken_path).status.success(), "the CycloneDX validator accepted a broken document");
}

/// With CA certificates in the set, the generated layer holds the bundle
/// update-ca-certificates would have made; alternatives become symlinks.
#[test]
fn the_generated_layer_holds_the_ca_bundle_and_alternatives() {
    for tool in ["gpg", "dpkg-deb"] {
        if bale_testkit::require_tool(tool).is_none() {
            return;
        }
    }
    let mut a = Archive::new();
    a.add(
        &DebSpec::new("ca-certificates", "20230311")
            .file(
                "usr/share/ca-certificates/mozilla/B.crt",
                "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----",
            )
            .file(
                "usr/share/ca-certificates/mozilla/A.crt",
                "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n",
            )
            .file("etc/ssl/certs/.keep", ""),
    );
    let mut mawk = DebSpec::new("mawk", "1.3.4").file("usr/bin/mawk", "#!/bin/sh\n");
    mawk.postinst = Some("#!/bin/sh\nupdate-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5\n".into());
    a.add(&mawk);
    let mut gawk = DebSpec::new("gawk", "5.2").file("usr/bin/gawk", "#!/bin/sh\n");
    gawk.postinst = Some("#!/bin/sh\nupdate-alternatives --install /usr/bin/awk awk /usr/bin/gawk 10\n".into());
    a.add(&gawk);
    a.publish(SUITE, FUTURE);
    let env = Env::new();
    let built = build(&env, &write_spec(&env, &a, &["ca-certificates", "mawk", "gawk"], ""), "image");
    let generated = built["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let blob = env.path().join("image/blobs/sha256").join(generated);
    let read = |member: &str| {
        let out = Command::new("tar").arg("-xzOf").arg(&blob).arg(member).output().unwrap();
        assert!(out.status.success(), "{member}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        read("etc/ssl/certs/ca-certificates.crt"),
        "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n"
    );
    let listing = Command::new("tar").arg("-tvzf").arg(&blob).output().unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.contains("usr/bin/awk -> /usr/bin/gawk"), "the higher priority wins:\n{listing}");
}

/// Above the layer cap the lowest packages share one layer; the image is
/// the same file tree, and the SBOM still lists every package.
#[test]
fn the_layer_cap_merges_the_lowest_packages() {
    let Some(a) = archive() else { return };
    let env = Env::new();
    let spec = spec_with_app(&env, &a);
    let text = fs::read_to_string(&spec)
        .unwrap()
        .replace("name = \"example.com/test/hello\"\n", "name = \"example.com/test/hello\"\nlayer_cap = 3\n");
    fs::write(&spec, text).unwrap();
    let built = build(&env, &spec, "image");
    let layers = built["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{built}");
    assert_eq!(
        layers[0]["merged"],
        serde_json::json!([
            "debian:imagesuite/bale-merged-usr:amd64@1",
            "debian:imagesuite/libbale-motd:amd64@1.0",
            "debian:imagesuite/busybox-static:amd64@1:1.35.0-4"
        ])
    );
    assert_eq!(layers[1]["package"], "example.com/test/app:all@1.0");
    // A second build finds the merged layer in the store's cache.
    let again = build(&env, &spec, "image");
    assert_eq!(again["manifest"], built["manifest"]);
    assert!(env.store().join("cache/merged-layers").read_dir().unwrap().count() == 1);
    let spdx: serde_json::Value =
        serde_json::from_slice(&fs::read(env.path().join("image.spdx.json")).unwrap()).unwrap();
    assert_eq!(spdx["packages"].as_array().unwrap().len(), 5);
    let bundle = env.path().join("bundle");
    if !umoci_unpack(&env.path().join("image"), &bundle) {
        return;
    }
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("usr/bin/busybox").is_file());
    assert_eq!(fs::read_link(rootfs.join("bin")).unwrap(), Path::new("usr/bin"));
    assert_eq!(fs::read_to_string(rootfs.join("usr/share/motd/hello")).unwrap(), "hello from a bale image\n");
    assert_eq!(fs::read_to_string(rootfs.join("usr/share/app/message")).unwrap(), "from the app\n");
}

/// The whole build runs as an unprivileged user: no root, no daemon, no
/// setuid helper.
#[test]
fn an_unprivileged_user_can_build() {
    let Some(a) = archive() else { return };
    // Dropping to another user takes root.
    if !bale_testkit::require_root("building as another user") {
        return;
    }
    let Some(setpriv) = bale_testkit::require_tool("setpriv") else { return };
    let env = Env::new();
    let work = env.path().join("nobody");
    fs::create_dir_all(work.join("app/srv")).unwrap();
    fs::write(work.join("app/srv/data"), "x\n").unwrap();
    let spec = write_spec(
        &env,
        &a,
        &["busybox-static"],
        "\n[[local]]\npath = \"app\"\nname = \"example.com/test/app\"\nversion = \"1\"\n",
    );
    fs::copy(&spec, work.join("bale.toml")).unwrap();
    let keyring = work.join("keyring.gpg");
    fs::copy(&a.keyring, &keyring).unwrap();
    let text = fs::read_to_string(work.join("bale.toml"))
        .unwrap()
        .replace(&a.keyring.display().to_string(), keyring.to_str().unwrap());
    fs::write(work.join("bale.toml"), text).unwrap();
    let status = Command::new("chown").args(["-R", "65534:65534"]).arg(&work).status().unwrap();
    assert!(status.success());
    // The temp dir above it must be traversable.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(env.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_bale"))
        .args(["--json", "build"])
        .arg(work.join("bale.toml"))
        .arg("--output")
        .arg(work.join("image"))
        .env("BALE_HOME", work.join("store"))
        .env("HOME", &work)
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap();
    assert!(out.status.success(), "as uid 65534: {}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["manifest"]["digest"].as_str().unwrap().starts_with("sha256:"));
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(work.join("image/index.json")).unwrap().uid(), 65534);
}

/// Files named in the spec land in the generated layer with their modes;
/// a package shipping the same path is refused.
#[test]
fn spec_files_go_into_the_generated_layer() {
    let env = Env::new();
    fs::create_dir_all(env.path().join("app/srv")).unwrap();
    fs::write(env.path().join("app/srv/data"), "data\n").unwrap();
    fs::write(env.path().join("start.sh"), "#!/bin/sh\nexec /srv/data\n").unwrap();
    let spec = env.path().join("bale.toml");
    fs::write(
        &spec,
        "name = \"example.com/files\"\n\n[[local]]\npath = \"app\"\nname = \"example.com/app\"\nversion = \"1\"\n\n[files.\"/etc/app.conf\"]\ncontent = \"greeting=hi\\n\"\n\n[files.\"/usr/local/bin/start\"]\nsource = \"start.sh\"\nmode = \"0755\"\n",
    )
    .unwrap();
    let built = build(&env, &spec, "image");
    let generated = built["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let blob = env.path().join("image/blobs/sha256").join(generated);
    let listing = Command::new("tar").arg("-tvzf").arg(&blob).output().unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.contains("-rw-r--r-- 0/0              12 1970-01-01 00:00 etc/app.conf"), "{listing}");
    assert!(listing.contains("-rwxr-xr-x 0/0              25 1970-01-01 00:00 usr/local/bin/start"), "{listing}");

    // The same path from a package is a clash with the spec.
    fs::create_dir_all(env.path().join("app/etc")).unwrap();
    fs::write(env.path().join("app/etc/app.conf"), "mine\n").unwrap();
    let out = env.run(&["build", spec.to_str().unwrap(), "--output", env.path().join("image2").to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("example.com/app:all@1 ships \"/etc/app.conf\""), "{stderr}");

    // A spec file needs exactly one of content or source.
    fs::write(&spec, "name = \"x\"\n[files.\"/etc/a\"]\nmode = \"0644\"\n").unwrap();
    let out = env.run(&["build", spec.to_str().unwrap(), "--output", "o"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("exactly one of `content` or `source`"));
}

/// A user of the spec, a directory it owns and the default /tmp: under
/// runc and podman the process is that user and group, and can write to
/// both.
#[test]
fn spec_users_dirs_and_tmp_work_under_runc_and_podman() {
    let Some(a) = archive() else { return };
    let env = Env::new();
    let text = format!(
        r#"name = "example.com/test/users"

[debian]
suite = "{SUITE}"
mirror = "{}"
keyring = "{}"
architecture = "amd64"
packages = ["busybox-static"]

[users.app]
uid = 1000

[groups.staff]
gid = 50
members = ["app"]

[dirs."/var/lib/app"]
uid = "app"
mode = "0750"

[config]
entrypoint = ["/usr/bin/busybox", "sh", "-c", "id && touch /tmp/t /var/lib/app/x /home/app/y && echo wrote"]
user = "app"
"#,
        a.url,
        a.keyring.display()
    );
    let spec = env.path().join("bale.toml");
    fs::write(&spec, text).unwrap();
    build(&env, &spec, "image");
    let layout = env.path().join("image");
    let bundle = env.path().join("bundle");
    if !umoci_unpack(&layout, &bundle) {
        return;
    }
    let rootfs = bundle.join("rootfs");
    assert!(
        fs::read_to_string(rootfs.join("etc/passwd"))
            .unwrap()
            .contains("app:x:1000:1000:app:/home/app:/usr/sbin/nologin\n")
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/group")).unwrap(),
        "root:x:0:\ndaemon:x:1:\nstaff:x:50:app\napp:x:1000:\n"
    );
    use std::os::unix::fs::MetadataExt;
    let tmp = fs::metadata(rootfs.join("tmp")).unwrap();
    assert_eq!(tmp.mode() & 0o7777, 0o1777);
    let lib = fs::metadata(rootfs.join("var/lib/app")).unwrap();
    assert_eq!((lib.mode() & 0o7777, lib.uid(), lib.gid()), (0o750, 1000, 1000));
    let home = fs::metadata(rootfs.join("home/app")).unwrap();
    assert_eq!((home.mode() & 0o7777, home.uid(), home.gid()), (0o750, 1000, 1000));
    let config: serde_json::Value = serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        (config["process"]["user"]["uid"].as_u64(), config["process"]["user"]["gid"].as_u64()),
        (Some(1000), Some(1000))
    );

    let Some(out) = runc_run(&bundle, config, "users") else { return };
    assert!(out.status.success(), "runc: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("uid=1000(app) gid=1000(app)") && stdout.ends_with("wrote\n"), "{stdout}");

    let Some(out) = podman_run(&env, &layout, "users") else { return };
    assert!(out.status.success(), "podman: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("uid=1000(app) gid=1000(app)") && stdout.ends_with("wrote\n"), "{stdout}");
}

/// Recommends are a decision: left out and listed by default, taken (those
/// the archive can meet) with `recommends = true`.
#[test]
fn recommends_are_listed_when_left_out_and_taken_on_request() {
    for tool in ["gpg", "dpkg-deb"] {
        if bale_testkit::require_tool(tool).is_none() {
            return;
        }
    }
    let mut a = Archive::new();
    a.add(&DebSpec::new("fetcher", "1.0").field("Recommends", "certs, no-such-package | other-missing"));
    a.add(&DebSpec::new("certs", "1.0").field("Recommends", "fetcher"));
    a.publish(SUITE, FUTURE);
    let env = Env::new();
    let spec_text = |extra: &str| {
        format!(
            "name = \"example.com/rec\"\n\n[debian]\nsuite = \"{SUITE}\"\nmirror = \"{}\"\nkeyring = \"{}\"\narchitecture = \"amd64\"\npackages = [\"fetcher\"]\n{extra}",
            a.url,
            a.keyring.display()
        )
    };
    let spec = env.path().join("bale.toml");
    fs::write(&spec, spec_text("")).unwrap();
    let out = env.run(&["build", spec.to_str().unwrap(), "--output", env.path().join("plain").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notice: left out what 1 packages recommend")
            && stderr.contains("debian:imagesuite/fetcher:amd64@1.0 recommends certs, no-such-package | other-missing"),
        "{stderr}"
    );
    let json = env.json(&["build", spec.to_str().unwrap(), "--output", env.path().join("plain").to_str().unwrap()]);
    assert_eq!(
        json["recommendsLeftOut"][0]["recommends"],
        serde_json::json!(["certs", "no-such-package | other-missing"])
    );

    fs::write(&spec, spec_text("recommends = true\n")).unwrap();
    let taken = env.json(&["build", spec.to_str().unwrap(), "--output", env.path().join("taken").to_str().unwrap()]);
    let layers: Vec<&str> = taken["layers"].as_array().unwrap().iter().filter_map(|l| l["package"].as_str()).collect();
    assert!(layers.contains(&"debian:imagesuite/certs:amd64@1.0"), "{layers:?}");
    assert_eq!(
        taken["recommendsLeftOut"],
        serde_json::json!([{"package": "debian:imagesuite/fetcher:amd64@1.0", "recommends": ["no-such-package | other-missing"]}])
    );
}

/// A build that changes nothing recalls the composed image instead of
/// composing again; the recalled image is the one composing gives, and the
/// entry is never trusted blindly: a damaged one is reported and rebuilt,
/// one whose blobs gc took is composed again, and any change to what the
/// image is made of (a spec file here) misses it.
#[test]
fn an_unchanged_build_recalls_the_image_and_never_a_stale_one() {
    let env = Env::new();
    fs::create_dir_all(env.path().join("app/srv")).unwrap();
    fs::write(env.path().join("app/srv/data"), "data\n").unwrap();
    let spec = env.path().join("bale.toml");
    let write_spec = |greeting: &str| {
        fs::write(
            &spec,
            format!(
                "name = \"example.com/recall\"\n\n[[local]]\npath = \"app\"\nname = \"example.com/app\"\nversion = \"1\"\n\n[files.\"/etc/greeting\"]\ncontent = \"{greeting}\"\n"
            ),
        )
        .unwrap();
    };
    write_spec("hi");
    let digest = |built: &serde_json::Value| built["manifest"]["digest"].as_str().unwrap().to_string();
    let first = build(&env, &spec, "image");
    let entries = env.store().join("cache/image-v1");
    assert_eq!(fs::read_dir(&entries).unwrap().count(), 1, "the build remembered its image");
    let again = build(&env, &spec, "image");
    assert_eq!(digest(&again), digest(&first));
    assert!(!fs::read(env.path().join("image.spdx.json")).unwrap().is_empty(), "the SBOM beside the output");

    // Damaged: a warning, then composed again to the same image.
    let entry = fs::read_dir(&entries).unwrap().next().unwrap().unwrap().path();
    let mut bytes = fs::read(&entry).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    fs::write(&entry, bytes).unwrap();
    let out = env.run(&["build", spec.to_str().unwrap(), "--output", env.path().join("image").to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed its integrity check; composing again"));
    assert_eq!(digest(&build(&env, &spec, "image")), digest(&first));

    // The image's own blobs gone (gc takes what no package references).
    fs::remove_dir_all(env.path().join("image")).unwrap();
    env.ok(&["store", "gc"]);
    let rebuilt = build(&env, &spec, "image");
    assert_eq!(digest(&rebuilt), digest(&first));
    env.ok(&["store", "verify"]);
    if let Some(skopeo) = bale_testkit::require_tool("skopeo") {
        common::oci::skopeo_copy_all(&skopeo, &env.path().join("image"), &env.path().join("copy"));
    }

    // Anything the image is made of changes the key.
    write_spec("hello");
    assert_ne!(digest(&build(&env, &spec, "image")), digest(&first));
}
