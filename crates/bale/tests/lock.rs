//! bale.lock: `bale build` pins the closure, `--locked` rebuilds exactly it
//! (from empty stores too, and after the archive moves on), a changed spec
//! is refused, and `bale update PKG` moves one package and only its layer.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::Env;
use common::archive::{Archive, DebSpec, FUTURE};

const SUITE: &str = "locksuite";

fn archive() -> Option<Archive> {
    for tool in ["gpg", "dpkg-deb"] {
        bale_testkit::require_tool(tool)?;
    }
    let mut a = Archive::new();
    a.add(&DebSpec::new("libfoo", "1.0"));
    a.add(&DebSpec::new("app", "1.0").field("Depends", "libfoo (>= 1.0)"));
    a.add(&DebSpec::new("tool", "1.0"));
    a.publish(SUITE, FUTURE);
    Some(a)
}

fn spec(env: &Env, a: &Archive, packages: &str) -> std::path::PathBuf {
    let path = env.path().join("bale.toml");
    fs::write(
        &path,
        format!(
            "name = \"example.com/locked\"\n\n[debian]\nsuite = \"{SUITE}\"\nmirror = \"{}\"\nkeyring = \"{}\"\narchitecture = \"amd64\"\npackages = [{packages}]\n\n[config]\ncmd = [\"/bin/true\"]\n",
            a.url,
            a.keyring.display()
        ),
    )
    .unwrap();
    path
}

fn build(env: &Env, spec: &Path, out: &str, locked: bool) -> std::process::Output {
    let out = env.path().join(out);
    let mut args = vec!["--json", "build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()];
    if locked {
        args.push("--locked");
    }
    env.run(&args)
}

fn ok(out: std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn layers(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["package"].as_str().unwrap_or("generated").to_string(), l["digest"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn locked_builds_are_exact_and_update_moves_one_package() {
    let Some(mut a) = archive() else { return };
    let env = Env::new();
    let spec_path = spec(&env, &a, "\"app\", \"tool\"");
    let first = ok(build(&env, &spec_path, "v1", false));
    let lock_text = fs::read_to_string(env.path().join("bale.lock")).unwrap();
    assert!(lock_text.contains("debian:locksuite/libfoo:amd64@1.0") && lock_text.contains("SHA256: "), "{lock_text}");

    // The archive moves on: newer libfoo and tool.
    a.add(&DebSpec::new("libfoo", "1.1"));
    a.add(&DebSpec::new("tool", "1.1"));
    a.publish(SUITE, FUTURE);

    // --locked on an empty store rebuilds the very same image.
    let other = Env::new();
    let other_spec = spec(&other, &a, "\"tool\", \"app\"");
    fs::copy(env.path().join("bale.lock"), other.path().join("bale.lock")).unwrap();
    let again = ok(build(&other, &other_spec, "v1", true));
    assert_eq!(again["manifest"], first["manifest"]);

    // A lock for another architecture does not apply.
    let foreign = other.path().join("bale.lock");
    let saved = fs::read_to_string(&foreign).unwrap();
    fs::write(&foreign, saved.replace("architecture = \"amd64\"", "architecture = \"arm64\"")).unwrap();
    let refused = build(&other, &other_spec, "v1", true);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("another architecture"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    fs::write(&foreign, saved).unwrap();

    // A changed spec is refused under --locked.
    let drifted = spec(&other, &a, "\"app\"");
    let refused = build(&other, &drifted, "v2", true);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("bale.lock") && stderr.contains("bale lock"), "{stderr}");

    // --check says the lock is behind, and what would move, writing nothing.
    let lock_before = fs::read_to_string(env.path().join("bale.lock")).unwrap();
    let check = env.run(&["lock", "--check", spec_path.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        stdout.contains("behind the archive")
            && stdout.contains("~ debian:locksuite/libfoo:amd64@1.0 -> 1.1")
            && stdout.contains("~ debian:locksuite/tool:amd64@1.0 -> 1.1"),
        "{stdout}"
    );
    assert_eq!(fs::read_to_string(env.path().join("bale.lock")).unwrap(), lock_before);

    // Update libfoo only: tool stays at 1.0 although 1.1 exists.
    let blob_inodes = |dir: &str| -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = fs::read_dir(env.path().join(dir).join("blobs/sha256"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().ino())
            })
            .collect();
        v.sort();
        v
    };
    let before_inodes = blob_inodes("v1");
    let update = env.run(&["update", "libfoo", spec_path.to_str().unwrap()]);
    assert!(update.status.success(), "{}", String::from_utf8_lossy(&update.stderr));
    let stdout = String::from_utf8_lossy(&update.stdout);
    assert!(stdout.contains("~ debian:locksuite/libfoo:amd64@1.0 -> 1.1"), "{stdout}");
    assert!(!stdout.contains("tool"), "{stdout}");
    let second = ok(build(&env, &spec_path, "v1", true));
    let (old, new) = (layers(&first), layers(&second));
    assert_eq!(old.len(), new.len());
    let changed: Vec<&str> = old.iter().zip(&new).filter(|(o, n)| o.1 != n.1).map(|(o, _)| o.0.as_str()).collect();
    assert_eq!(changed, ["debian:locksuite/libfoo:amd64@1.0"], "{old:?}\n{new:?}");
    assert_ne!(first["config"]["digest"], second["config"]["digest"]);
    assert_ne!(first["manifest"]["digest"], second["manifest"]["digest"]);
    // Blob files of unchanged layers are the very same files as before.
    let after_inodes = blob_inodes("v1");
    let unchanged: Vec<&(String, String)> = old.iter().filter(|l| new.contains(l)).collect();
    assert!(unchanged.len() >= 3);
    for (_, digest) in unchanged {
        let hex = digest.trim_start_matches("sha256:");
        let inode = |list: &[(String, u64)]| list.iter().find(|(n, _)| n == hex).map(|(_, i)| *i);
        assert_eq!(inode(&before_inodes), inode(&after_inodes), "{digest} was rewritten");
    }

    // bale update of a name the lock does not have says so.
    let missing = env.run(&["update", "nope", spec_path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope is not in"));
}

/// A package from an update suite is locked with that suite, and a locked
/// build from an empty store fetches it from there.
#[test]
fn locks_remember_the_update_suite_of_a_package() {
    let Some(mut a) = archive() else { return };
    a.clear_index();
    let deb = a.add(&DebSpec::new("libfoo", "1.0+sec1"));
    let security = format!("{SUITE}-security");
    a.publish(&security, FUTURE);
    // The security suite and its .deb live under another mirror URL, as
    // Debian's do, so only that mirror can serve them.
    let elsewhere = a.root().join("security");
    let pool_path = deb.strip_prefix(a.root()).unwrap().to_path_buf();
    fs::create_dir_all(elsewhere.join("dists")).unwrap();
    fs::create_dir_all(elsewhere.join(&pool_path).parent().unwrap()).unwrap();
    fs::rename(a.dists(&security), elsewhere.join("dists").join(&security)).unwrap();
    fs::rename(&deb, elsewhere.join(&pool_path)).unwrap();
    let line = |url: &str, suite: &str| format!("deb [signed-by={}] {url} {suite} main\n", a.keyring.display());
    let host = |env: &Env| {
        env.host_sources("test.list", &(line(&a.url, SUITE) + &line(&format!("{}/security", a.url), &security)));
        let spec = env.path().join("bale.toml");
        let text = format!(
            "name = \"example.com/updated\"\n\n[debian]\nsuite = \"{SUITE}\"\narchitecture = \"amd64\"\npackages = [\"app\"]\n\n[config]\ncmd = [\"/bin/true\"]\n"
        );
        fs::write(&spec, text).unwrap();
        spec
    };
    let run = |env: &Env, spec: &Path, locked: bool| {
        let out = env.path().join("out");
        let mut cmd = env.bale_on_host();
        cmd.args(["--json", "build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()]);
        if locked {
            cmd.arg("--locked");
        }
        ok(cmd.output().unwrap())
    };
    let first = Env::new();
    let spec = host(&first);
    let built = run(&first, &spec, false);
    let lock = fs::read_to_string(first.path().join("bale.lock")).unwrap();
    assert!(lock.contains("libfoo:amd64@1.0+sec1"), "{lock}");
    assert!(lock.contains(&format!("suite = \"{SUITE}-security\"")), "{lock}");

    let second = Env::new();
    let spec = host(&second);
    fs::write(second.path().join("bale.lock"), &lock).unwrap();
    let rebuilt = run(&second, &spec, true);
    assert_eq!(rebuilt["manifest"]["digest"], built["manifest"]["digest"]);

    // Without the security suite, the locked build says so rather than
    // fetching from a mirror that never listed the package.
    let third = Env::new();
    let spec = host(&third);
    third.host_sources("test.list", &line(&a.url, SUITE));
    fs::write(third.path().join("bale.lock"), &lock).unwrap();
    let out =
        third.bale_on_host().args(["build", spec.to_str().unwrap(), "--output", "out", "--locked"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("libfoo:amd64@1.0+sec1 from the suite {security}, which is not read now")),
        "{stderr}"
    );
}
