//! `[npm]`: packages from a registry (a fixture served on loopback,
//! tarballs packed at test time), resolved per dependency with several
//! versions of a name side by side, each package at a path of its own,
//! the app's node_modules as one generated package of links, pinned in
//! bale.lock without the registry's address.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use bale_testkit::npm::{PackageSpec, Registry};
use common::Env;
use common::archive::{Archive, DebSpec, FUTURE};

const SUITE: &str = "nodesuite";

fn archive() -> Option<Archive> {
    for tool in ["gpg", "dpkg-deb"] {
        bale_testkit::require_tool(tool)?;
    }
    let mut a = Archive::new();
    a.add(&DebSpec::new("libc6", "2.36-9+deb12u9"));
    a.add(
        &DebSpec::new("nodejs", "18.19.0+dfsg-6~deb12u2")
            .field("Depends", "libc6")
            .file("usr/bin/node", "#!/bin/false\n"),
    );
    a.publish(SUITE, FUTURE);
    Some(a)
}

/// `web` needs `ms` 2.0.0 itself and, through `debug`, `ms` ^2.1: both
/// versions side by side, as with express.
fn registry() -> Registry {
    let mut r = Registry::new();
    r.publish(
        &PackageSpec::new("web", "1.2.0")
            .depends("ms", "2.0.0")
            .depends("debug", "^2")
            .depends("@scope/util", "^1")
            .file("bin/web.js", b"#!/usr/bin/env node\nrequire('ms');\n")
            .field("bin", serde_json::json!({"web": "bin/web.js"})),
    );
    r.publish(&PackageSpec::new("web", "2.0.0"));
    r.publish(&PackageSpec::new("debug", "2.6.9").depends("ms", "^2.1"));
    r.publish(&PackageSpec::new("ms", "2.0.0"));
    r.publish(&PackageSpec::new("ms", "2.1.3"));
    r.publish(&PackageSpec::new("@scope/util", "1.0.1"));
    r.publish(
        &PackageSpec::new("native", "1.0.0")
            .field("scripts", serde_json::json!({"install": "node-gyp rebuild"}))
            .field("hasInstallScript", true.into()),
    );
    r
}

fn spec(env: &Env, a: &Archive, r: &Registry, packages: &str, extra: &str) -> PathBuf {
    let path = env.path().join("app/bale.toml");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        &path,
        format!(
            "name = \"example.com/nodeapp\"\n\n[debian]\nsuite = \"{SUITE}\"\nmirror = \"{}\"\nkeyring = \"{}\"\n\
             architecture = \"amd64\"\npackages = [\"nodejs\"]\n\n[npm]\nregistry = \"{}\"\npackages = [{packages}]\n{extra}\n\
             [config]\ncmd = [\"/usr/bin/node\", \"/srv/app/node_modules/.bin/web\"]\n",
            a.url,
            a.keyring.display(),
            r.url
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

fn npm_ids(env: &Env) -> Vec<String> {
    let list = env.json(&["list"]);
    list["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .filter(|id| id.starts_with("npm:"))
        .map(String::from)
        .collect()
}

#[test]
fn npm_packages_sit_side_by_side_at_their_own_paths_and_links_make_the_app_tree() {
    let Some(a) = archive() else { return };
    let r = registry();
    let env = Env::new();
    let spec = spec(&env, &a, &r, "\"web@1\"", "");
    let out = env.path().join("image");
    let built = build(&env, &spec, &out, &[]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let built: serde_json::Value = serde_json::from_slice(&built.stdout).unwrap();

    // The lock pins each package by integrity and the versions its
    // dependencies get, and names no registry.
    let lock = fs::read_to_string(spec.with_file_name("bale.lock")).unwrap();
    assert!(lock.contains("[[npm]]"), "{lock}");
    assert!(lock.contains("tarball = \"web-1.2.0.tgz\""), "the highest in ^1, not 2.0.0: {lock}");
    assert!(lock.contains("integrity = \"sha512-"), "{lock}");
    assert!(lock.contains("ms = \"2.0.0\"") && lock.contains("ms = \"2.1.3\""), "{lock}");
    assert!(!lock.contains("127.0.0.1"), "the registry's address stays out of the lock: {lock}");

    let mut ids = npm_ids(&env);
    ids.sort();
    assert_eq!(
        ids,
        [
            "npm:registry/debug:all@2.6.9",
            "npm:registry/ms:all@2.0.0",
            "npm:registry/ms:all@2.1.3",
            "npm:registry/scope/util:all@1.0.1",
            "npm:registry/web:all@1.2.0",
        ]
    );
    let package = env.json(&["inspect", "npm:registry/scope/util:all@1.0.1"]);
    assert_eq!(package["metadata"]["purl"], "pkg:npm/%40scope/util@1.0.1", "{package}");
    assert_eq!(package["metadata"]["provenance"]["type"], "npm", "{package}");
    assert_eq!(package["metadata"]["provenance"]["tarball"], "scope-util-1.0.1.tgz", "{package}");

    // In the image: each package at its own path, node_modules links that
    // resolve inside the root, and the command linked into .bin.
    let root = env.path().join("root");
    env.ok(&["unpack", out.to_str().unwrap(), root.to_str().unwrap()]);
    let store = root.join("usr/local/lib/node_modules/.bale");
    assert!(store.join("ms@2.0.0/node_modules/ms/index.js").is_file());
    assert!(store.join("@scope+util@1.0.1/node_modules/@scope/util/package.json").is_file());
    let app = root.join("srv/app/node_modules");
    let link = fs::read_link(app.join("web")).unwrap();
    assert!(link.is_relative(), "{link:?}");
    assert!(fs::read_to_string(app.join("web/index.js")).unwrap().contains("web@1.2.0"));
    // Node resolves from a package's real path: its dependencies are the
    // links beside it, in the node_modules of its own directory.
    let beside = |package: &str, dep: &str| {
        fs::read_to_string(store.join(package).join("node_modules").join(dep).join("index.js")).unwrap()
    };
    assert_eq!(beside("web@1.2.0", "ms"), "module.exports = \"ms@2.0.0\";\n", "web gets the ms it asked for");
    assert_eq!(beside("debug@2.6.9", "ms"), "module.exports = \"ms@2.1.3\";\n", "debug gets its own");
    assert!(beside("web@1.2.0", "@scope/util").contains("1.0.1"));
    let bin = app.join(".bin/web");
    assert!(fs::read_to_string(&bin).unwrap().starts_with("#!/usr/bin/env node"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&bin).unwrap().permissions().mode() & 0o777, 0o755);

    // SBOMs name the npm packages by purl.
    let spdx = fs::read_to_string(env.path().join("image.spdx.json")).unwrap();
    assert!(spdx.contains("pkg:npm/ms@2.0.0") && spdx.contains("pkg:npm/ms@2.1.3"), "{spdx}");
    let cdx = fs::read_to_string(env.path().join("image.cdx.json")).unwrap();
    assert!(cdx.contains("pkg:npm/%40scope/util@1.0.1"), "{cdx}");

    // The same spec and lock from another, empty store: the same image.
    let other = Env::new();
    let again = other.path().join("image");
    let rebuilt = build(&other, &spec, &again, &["--locked"]);
    assert!(rebuilt.status.success(), "{}", String::from_utf8_lossy(&rebuilt.stderr));
    let rebuilt: serde_json::Value = serde_json::from_slice(&rebuilt.stdout).unwrap();
    assert_eq!(rebuilt["manifest"], built["manifest"]);
}

#[test]
fn a_tarball_that_is_not_what_the_registry_listed_is_refused_with_nothing_stored() {
    let Some(a) = archive() else { return };
    let mut r = registry();
    let tarball = r.publish(&PackageSpec::new("ms", "2.1.3"));
    fs::write(tarball, b"not the listed bytes").unwrap();
    let env = Env::new();
    let spec = spec(&env, &a, &r, "\"web@1\"", "");
    let out = env.path().join("image");
    let failed = build(&env, &spec, &out, &[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(stderr.contains("ms@2.1.3: its tarball's sha512 is not"), "{stderr}");
    assert!(!out.exists());
    assert!(!npm_ids(&env).iter().any(|id| id.contains("ms:all@2.1.3")), "{:?}", npm_ids(&env));
}

#[test]
fn a_package_with_an_install_script_is_refused_unless_allowed_without_it() {
    let Some(a) = archive() else { return };
    let r = registry();
    let env = Env::new();
    let spec_path = spec(&env, &a, &r, "\"native\"", "");
    let out = env.path().join("image");
    let failed = build(&env, &spec_path, &out, &[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(stderr.contains("native@1.0.0 runs an install script, which bale never runs"), "{stderr}");
    assert!(stderr.contains("allow_without_scripts"), "{stderr}");
    assert!(!out.exists());

    let spec_path = spec(&env, &a, &r, "\"native\"", "allow_without_scripts = [\"native\"]\n");
    let built = build(&env, &spec_path, &out, &[]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    assert!(npm_ids(&env).contains(&"npm:registry/native:all@1.0.0".to_string()));
}

#[test]
fn a_locked_build_refuses_a_version_the_registry_republished() {
    let Some(a) = archive() else { return };
    let mut r = registry();
    let env = Env::new();
    let spec = spec(&env, &a, &r, "\"web@1\"", "");
    let out = env.path().join("image");
    assert!(build(&env, &spec, &out, &[]).status.success());
    // The same version, other bytes: a registry must never do this.
    r.publish(&PackageSpec::new("ms", "2.0.0").file("extra.js", b"changed\n"));
    let other = Env::new();
    let failed = build(&other, &spec, &other.path().join("image"), &["--locked"]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(stderr.contains("bale.lock pins ms@2.0.0 with integrity sha512-"), "{stderr}");
    assert!(npm_ids(&other).iter().all(|id| !id.contains("ms:all@2.0.0")), "{:?}", npm_ids(&other));
}

/// The layers of the layout `out`: (annotation naming the packages, digest).
fn layers(env: &Env, out: &Path) -> Vec<(String, String)> {
    let inspected = env.json(&["inspect", out.to_str().unwrap()]);
    inspected["images"][0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["package"].as_str().unwrap_or_default().to_string(), l["digest"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn npm_packages_share_layers_by_group_and_an_update_changes_one_group() {
    let Some(a) = archive() else { return };
    let mut r = Registry::new();
    // Enough packages that groups hold several.
    let mut app = PackageSpec::new("app", "1.0.0");
    for n in 0..40 {
        let name = format!("dep{n}");
        r.publish(&PackageSpec::new(&name, "1.0.0"));
        app = app.depends(&name, "^1");
    }
    r.publish(&app);
    let env = Env::new();
    let spec = spec(&env, &a, &r, "\"app\"", "");
    let out = env.path().join("image");
    let built = build(&env, &spec, &out, &[]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let before = layers(&env, &out);
    let npm_layers: Vec<&(String, String)> = before.iter().filter(|(p, _)| p.starts_with("npm:")).collect();
    assert!(npm_layers.len() <= 16, "41 npm packages in at most 16 layers: {npm_layers:?}");
    assert!(npm_layers.iter().any(|(p, _)| p.contains(',')), "groups hold several: {npm_layers:?}");
    let holding = |layers: &[(String, String)], id: &str| {
        layers.iter().find(|(p, _)| p.split(',').any(|one| one == id)).cloned().unwrap()
    };
    let old_group = holding(&before, "npm:registry/dep7:all@1.0.0");

    // One package moves on: its group's layer and the links change, and
    // every other layer is the same blob as before.
    r.publish(&PackageSpec::new("dep7", "1.0.1"));
    let updated = env.run(&["update", "dep7", spec.to_str().unwrap()]);
    assert!(updated.status.success(), "{}", String::from_utf8_lossy(&updated.stderr));
    let built = build(&env, &spec, &out, &[]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let after = layers(&env, &out);
    let new_group = holding(&after, "npm:registry/dep7:all@1.0.1");
    assert_eq!(
        new_group.0,
        old_group.0.replace("dep7:all@1.0.0", "dep7:all@1.0.1"),
        "every version of a name is in the same group"
    );
    let changed: Vec<&(String, String)> = after.iter().filter(|l| !before.iter().any(|b| b.1 == l.1)).collect();
    let names: Vec<&str> = changed.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names.len(), 2, "the group and the links: {names:?}");
    assert!(names.contains(&new_group.0.as_str()) && names.contains(&"example.com/nodeapp/node-modules:all@latest"));
}
