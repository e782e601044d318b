//! `[pypi]`: wheels from an index (a fixture served on loopback, wheels
//! built at test time) resolved for the Python and glibc the image's
//! Debian packages give it, each wheel a package of the image, pinned in
//! bale.lock without the index's address.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use bale_testkit::elf::SharedObject;
use bale_testkit::pypi::{Index, WheelSpec};
use common::Env;
use common::archive::{Archive, DebSpec, FUTURE};

const SUITE: &str = "pysuite";

fn archive() -> Option<Archive> {
    for tool in ["gpg", "dpkg-deb"] {
        bale_testkit::require_tool(tool)?;
    }
    let mut a = Archive::new();
    a.add(&DebSpec::new("libc6", "2.36-9+deb12u9"));
    a.add(
        &DebSpec::new("python3.11-minimal", "3.11.2-6+deb12u5")
            .field("Depends", "libc6 (>= 2.36)")
            .file("usr/bin/python3.11", "#!/bin/false\n"),
    );
    a.add(&DebSpec::new("python3", "3.11.2-1+b1").field("Depends", "python3.11-minimal"));
    // Not asked for by any spec: bale adds it for a wheel that needs it.
    a.add(&DebSpec::new("libstdc++6", "12.2.0-14").file("usr/lib/x86_64-linux-gnu/libstdc++.so.6", "not really\n"));
    a.publish(SUITE, FUTURE);
    Some(a)
}

fn index() -> Index {
    let mut index = Index::new();
    index.add(
        &WheelSpec::new("webapp", "1.0")
            .requires("helper>=1")
            .requires("winonly; sys_platform == 'win32'")
            .entry_points("[console_scripts]\nwebapp = webapp.cli:main\n")
            .file("webapp/cli.py", b"def main():\n    print('webapp')\n"),
    );
    index.add(&WheelSpec::new("helper", "1.0"));
    index.add(&WheelSpec::new("helper", "1.1"));
    index.add(
        &WheelSpec::new("native", "2.0")
            .tag("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64")
            .file(
                "native/_speed.cpython-311-x86_64-linux-gnu.so",
                &SharedObject {
                    needed: &["libstdc++.so.6", "libc.so.6", "libvendored.so.1"],
                    ..SharedObject::x86_64(None)
                }
                .bytes(),
            )
            .file("native.libs/libvendored.so.1", &SharedObject::x86_64(Some("libvendored.so.1")).bytes()),
    );
    index.add(&WheelSpec::new("native", "2.1").tag("cp311-cp311-manylinux_2_38_x86_64"));
    index
}

fn spec(env: &Env, a: &Archive, index: &Index, requirements: &str) -> PathBuf {
    let path = env.path().join("app/bale.toml");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        &path,
        format!(
            "name = \"example.com/pyapp\"\n\n[debian]\nsuite = \"{SUITE}\"\nmirror = \"{}\"\nkeyring = \"{}\"\n\
             architecture = \"amd64\"\npackages = [\"python3\"]\n\n[pypi]\nindex = \"{}\"\npackages = [{requirements}]\n\n\
             [config]\ncmd = [\"/usr/local/bin/webapp\"]\n",
            a.url,
            a.keyring.display(),
            index.url
        ),
    )
    .unwrap();
    path
}

fn build(env: &Env, spec: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--json", "build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()];
    args.extend(extra);
    env.run(&args)
}

#[test]
fn wheels_become_packages_of_the_image_pinned_without_the_index_address() {
    let Some(a) = archive() else { return };
    let index = index();
    let env = Env::new();
    let spec = spec(&env, &a, &index, "\"webapp\", \"native\"");
    let out = env.path().join("image");
    let built = build(&env, &spec, &out, &[]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let built: serde_json::Value = serde_json::from_slice(&built.stdout).unwrap();
    assert_eq!(built["addedForWheels"], serde_json::json!(["libc6", "libstdc++6"]), "{built}");

    // The lock pins each wheel by file and sha256, and names no index.
    let lock = fs::read_to_string(spec.with_file_name("bale.lock")).unwrap();
    assert!(lock.contains("[[pypi]]"), "{lock}");
    assert!(lock.contains("filename = \"webapp-1.0-py3-none-any.whl\""), "{lock}");
    assert!(lock.contains("helper-1.1-py3-none-any.whl"), "the newest helper: {lock}");
    assert!(lock.contains("native-2.0-cp311-cp311-manylinux_2_17"), "2.1 needs a newer glibc: {lock}");
    assert!(!lock.contains("winonly"), "its marker is false here: {lock}");
    assert!(!lock.contains("127.0.0.1"), "the index's address stays out of the lock: {lock}");
    // The platform wheel's library from the system is Debian's, added for it.
    assert!(
        lock.contains("debian = [\n    \"libc6\",\n    \"libstdc++6\",\n]")
            || lock.contains("debian = [\"libc6\", \"libstdc++6\"]"),
        "{lock}"
    );
    assert!(lock.contains("libstdc++6"), "{lock}");

    // In the image: the wheels where Debian's python3 looks, the entry
    // point as a script, platform wheels per architecture.
    let root = env.path().join("root");
    env.ok(&["unpack", out.to_str().unwrap(), root.to_str().unwrap()]);
    let site = root.join("usr/local/lib/python3.11/dist-packages");
    assert!(site.join("webapp/cli.py").is_file());
    assert!(site.join("helper/__init__.py").is_file());
    assert!(site.join("native/_speed.cpython-311-x86_64-linux-gnu.so").is_file());
    assert!(root.join("usr/lib/x86_64-linux-gnu/libstdc++.so.6").is_file(), "added for the wheel");
    assert_eq!(fs::read_to_string(site.join("webapp-1.0.dist-info/INSTALLER")).unwrap(), "bale\n");
    let script = fs::read_to_string(root.join("usr/local/bin/webapp")).unwrap();
    assert!(script.starts_with("#!/usr/bin/python3\n") && script.contains("from webapp.cli import main"), "{script}");
    let list = env.json(&["list"]);
    let ids: Vec<&str> = list["packages"].as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
    assert!(ids.contains(&"pypi:py3.11/webapp:all@1.0"), "{ids:?}");
    assert!(ids.contains(&"pypi:py3.11/native:amd64@2.0"), "{ids:?}");
    let package = env.json(&["inspect", "pypi:py3.11/webapp:all@1.0"]);
    assert_eq!(package["metadata"]["purl"], "pkg:pypi/webapp@1.0", "{package}");
    assert_eq!(package["metadata"]["provenance"]["type"], "pypi", "{package}");
    // Both SBOMs name the wheels by purl.
    for sbom in ["image.spdx.json", "image.cdx.json"] {
        let text = fs::read_to_string(env.path().join(sbom)).unwrap();
        assert!(text.contains("pkg:pypi/webapp@1.0") && text.contains("pkg:pypi/native@2.0"), "{sbom}: {text}");
    }

    // The same spec and lock from another, empty store: the same image.
    let other = Env::new();
    let again = other.path().join("image");
    let rebuilt = build(&other, &spec, &again, &["--locked"]);
    assert!(rebuilt.status.success(), "{}", String::from_utf8_lossy(&rebuilt.stderr));
    let rebuilt: serde_json::Value = serde_json::from_slice(&rebuilt.stdout).unwrap();
    assert_eq!(rebuilt["manifest"], built["manifest"]);
}

#[test]
fn a_wheel_that_is_not_what_the_index_listed_is_refused_with_nothing_stored() {
    let Some(a) = archive() else { return };
    let index = index();
    fs::write(index.file("helper-1.1-py3-none-any.whl"), b"not the listed bytes").unwrap();
    let env = Env::new();
    let spec = spec(&env, &a, &index, "\"webapp\"");
    let out = env.path().join("image");
    let failed = build(&env, &spec, &out, &[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(stderr.contains("helper-1.1-py3-none-any.whl: its sha256 is"), "{stderr}");
    assert!(!out.exists());
    let list = env.json(&["list"]);
    assert!(!list.to_string().contains("pypi:py3.11/helper"), "{list}");

    // A requirement only a source distribution meets points at recipes.
    let mut index = Index::new();
    index.list(
        "srconly",
        serde_json::json!({"filename": "srconly-1.0.tar.gz", "url": "../../files/srconly-1.0.tar.gz",
            "hashes": {"sha256": "00".repeat(32)}}),
    );
    let spec = self::spec(&env, &a, &index, "\"srconly\"");
    let failed = build(&env, &spec, &out, &[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("srconly has no wheel this image can install"), "{stderr}");
    assert!(stderr.contains("recipe"), "{stderr}");
}

#[test]
fn a_distribution_from_debian_and_from_pypi_is_refused_naming_both() {
    let Some(mut a) = archive() else { return };
    a.add(
        &DebSpec::new("python3-helper", "1.0-1")
            .field("Depends", "python3")
            .file("usr/lib/python3/dist-packages/helper/__init__.py", "")
            .file("usr/lib/python3/dist-packages/helper-1.0.egg-info/PKG-INFO", "Name: helper\n"),
    );
    a.publish(SUITE, FUTURE);
    let index = index();
    let env = Env::new();
    let spec = spec(&env, &a, &index, "\"webapp\"");
    fs::write(&spec, fs::read_to_string(&spec).unwrap().replace("[\"python3\"]", "[\"python3\", \"python3-helper\"]"))
        .unwrap();
    let out = env.path().join("image");
    let failed = build(&env, &spec, &out, &[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(
        stderr.contains("helper would be in the image twice: from Debian (debian:pysuite/python3-helper:amd64@1.0-1)")
            && stderr.contains("from PyPI (pypi:py3.11/helper:all@1.1)"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn a_library_no_package_ships_is_named_with_its_wheel() {
    let Some(a) = archive() else { return };
    let mut index = Index::new();
    index.add(&WheelSpec::new("odd", "1.0").tag("cp311-cp311-manylinux_2_17_x86_64").file(
        "odd/_c.cpython-311-x86_64-linux-gnu.so",
        &SharedObject { needed: &["libweird.so.3"], ..SharedObject::x86_64(None) }.bytes(),
    ));
    let env = Env::new();
    let spec = spec(&env, &a, &index, "\"odd\"");
    let failed = build(&env, &spec, &env.path().join("image"), &[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(stderr.contains("pypi:py3.11/odd:amd64@1.0 needs libweird.so.3"), "{stderr}");
    assert!(stderr.contains("[debian] packages"), "{stderr}");
}
