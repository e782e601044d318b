//! `bale make`: recipes built in the sandbox over a root of store
//! packages, offline. The build root is a bale package made here from the
//! host's static BusyBox, so nothing needs the archive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::io::Read;
use std::path::Path;

use bale_testkit::{give_to_other_user, require_root, require_tool};
use common::Env;

use common::busybox_root;

fn sha256_hex(bytes: &[u8]) -> String {
    bale_fileset::sha256_bytes(bytes).hex()
}

/// A recipe `hello.recipe.toml` in `dir` with one source file and `steps`.
fn write_recipe(dir: &Path, source: &str, sha256: &str, steps: &str) -> std::path::PathBuf {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("hello.c"), source).unwrap();
    let recipe = dir.join("hello.recipe.toml");
    fs::write(
        &recipe,
        format!(
            r#"[package]
name = "example.com/hello"
version = "1.0"
license = "MIT"
summary = "A small test package"

[[source]]
path = "hello.c"
sha256 = "{sha256}"

[build]
packages = ["example.com/busybox-root@1"]
source_date_epoch = 1700000000

{steps}
"#
        ),
    )
    .unwrap();
    recipe
}

const SOURCE: &str = "int main(void) { return 0; }\n";
const STEPS: &str = r#"[[step]]
run = """
mkdir -p $OUT/usr/share/hello
cp hello.c $OUT/usr/share/hello/
echo "epoch $SOURCE_DATE_EPOCH uid $(id -u) host $(hostname) jobs $JOBS" > $OUT/usr/share/hello/info
"""

[[step]]
run = "chmod 0700 $OUT/usr/share/hello/info"
"#;

#[test]
fn a_recipe_gives_the_same_package_as_root_and_as_an_unprivileged_user() {
    if !require_root("building as root and as another user") || require_tool("setpriv").is_none() {
        return;
    }
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let recipe = write_recipe(&env.path().join("src"), SOURCE, &sha256_hex(SOURCE.as_bytes()), STEPS);
    let made = env.json(&["make", recipe.to_str().unwrap()]);
    let content = made["content"]["digest"].as_str().unwrap().to_string();
    assert_eq!(made["id"], format!("example.com/hello:{}@1.0", bale_build::host_architecture()));
    assert_eq!(made["relocked"], true);

    // What the steps saw: the fixed environment, uid 1000, hostname bale.
    let unpacked = env.path().join("unpacked");
    env.ok(&["unpack", "example.com/hello", unpacked.to_str().unwrap()]);
    let info = fs::read_to_string(unpacked.join("usr/share/hello/info")).unwrap();
    assert_eq!(info, "epoch 1700000000 uid 1000 host bale jobs 2\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(unpacked.join("usr/share/hello/info")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the modes a step sets are kept");

    // The lock pins the source and the build root.
    let lock = fs::read_to_string(env.path().join("src/hello.recipe.lock")).unwrap();
    assert!(lock.contains("name = \"hello.c\""), "{lock}");
    assert!(lock.contains("id = \"example.com/busybox-root:all@1\""), "{lock}");

    // The provenance records the recipe, the lock and every input.
    let provenance = &made["provenance"];
    assert_eq!(provenance["type"], "recipe");
    let definition = &provenance["buildDefinition"];
    assert_eq!(definition["externalParameters"]["recipe"]["digest"]["sha256"], sha256_hex(&fs::read(&recipe).unwrap()));
    assert_eq!(definition["externalParameters"]["lock"]["digest"]["sha256"], sha256_hex(lock.as_bytes()));
    let inputs: Vec<&str> =
        definition["resolvedDependencies"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(inputs, ["hello.c", "example.com/busybox-root:all@1"]);
    assert!(provenance["runDetails"]["builder"]["version"]["kernel"].as_str().is_some_and(|k| !k.is_empty()));

    // --locked with the lock just written makes the same package again.
    let again = env.json(&["make", recipe.to_str().unwrap(), "--locked"]);
    assert_eq!(again["content"]["digest"], content.as_str());
    assert_eq!(again["new"], false);
    assert_eq!(again["relocked"], false);

    // A lock edited by hand is refused with --locked, not silently used.
    let lock_path = env.path().join("src/hello.recipe.lock");
    let edited = lock.replace(&sha256_hex(SOURCE.as_bytes()), &"0".repeat(64));
    assert_ne!(edited, lock);
    fs::write(&lock_path, &edited).unwrap();
    let out = env.run(&["make", recipe.to_str().unwrap(), "--locked"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("hello.recipe.lock pins something other"), "{stderr}");
    fs::write(&lock_path, &lock).unwrap();

    // Rebuilt from what the package carries, in a fresh sandbox: identical.
    let rebuilt = env.json(&["rebuild", "example.com/hello"]);
    assert_eq!(rebuilt["reproducible"], true, "{rebuilt}");
    assert_eq!(rebuilt["actual"], content.as_str());
    let out = env.run(&["rebuild", "example.com/hello"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is reproducible"));

    // Another user, another store, another directory: the same content.
    let other = env.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::set_permissions(env.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let other_recipe = write_recipe(&other.join("src"), SOURCE, &sha256_hex(SOURCE.as_bytes()), STEPS);
    give_to_other_user(&other);
    let other_bale = |args: &[&str]| common::bale_as_other_user(&other, args);
    fs::remove_dir_all(env.path().join("busybox-root")).unwrap();
    let other_env = Env { dir: tempfile::tempdir_in(&other).unwrap() };
    give_to_other_user(other_env.path());
    assert!(busybox_root(&other_env, &other_bale));
    let made = other_bale(&["--json", "make", other_recipe.to_str().unwrap()]);
    let made: serde_json::Value = serde_json::from_str(&made).unwrap();
    assert_eq!(made["content"]["digest"], content.as_str(), "root and uid 65534 built different content");
}

#[test]
fn a_source_with_the_wrong_digest_is_refused_before_any_step_runs() {
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let marker = env.path().join("ran");
    let steps = format!("[[step]]\nrun = \"touch $OUT/x\"\n# {}\n", marker.display());
    let wrong = "0".repeat(64);
    let recipe = write_recipe(&env.path().join("src"), SOURCE, &wrong, &steps);
    let before = env.store_state();
    let out = env.run(&["make", recipe.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the source hello.c has"), "{stderr}");
    assert!(stderr.contains(&format!("sha256:{}", sha256_hex(SOURCE.as_bytes()))), "names the actual digest: {stderr}");
    assert!(stderr.contains(&format!("expects sha256:{wrong}")), "names the expected digest: {stderr}");
    assert!(stderr.contains("help:"), "{stderr}");
    assert_eq!(env.store_state(), before, "nothing entered the store");
    assert!(!env.path().join("src/hello.recipe.lock").exists(), "no lock was written");
}

#[test]
fn the_sandbox_has_no_network_and_no_host_paths_and_a_read_only_root() {
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    // A server outside on loopback, which the build must not reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let secret = env.path().join("host-secret");
    fs::write(&secret, "do not read\n").unwrap();
    let steps = format!(
        r#"[[step]]
run = """
mkdir -p $OUT/report
if echo hi | nc -w 2 127.0.0.1 {port} 2> $OUT/report/net-error; then echo reached > $OUT/report/net; else echo unreachable > $OUT/report/net; fi
if cat {secret} 2> $OUT/report/host-error; then echo visible > $OUT/report/host; else echo hidden > $OUT/report/host; fi
if touch /usr/bin/planted; then echo writable > $OUT/report/root; else echo read-only > $OUT/report/root; fi
if touch /etc/planted; then echo writable > $OUT/report/etc; else echo read-only > $OUT/report/etc; fi
touch /tmp/scratch /build/scratch
ip -o link | grep -c . > $OUT/report/links
"""
"#,
        secret = secret.display()
    );
    let recipe = write_recipe(&env.path().join("src"), SOURCE, &sha256_hex(SOURCE.as_bytes()), &steps);
    env.ok(&["make", recipe.to_str().unwrap()]);
    let mut accepted = Vec::new();
    while let Ok((mut stream, _)) = listener.accept() {
        let mut buf = String::new();
        let _ = stream.read_to_string(&mut buf);
        accepted.push(buf);
    }
    assert!(accepted.is_empty(), "the build reached a server outside: {accepted:?}");
    let unpacked = env.path().join("unpacked");
    env.ok(&["unpack", "example.com/hello", unpacked.to_str().unwrap()]);
    let read = |name: &str| fs::read_to_string(unpacked.join("report").join(name)).unwrap();
    assert_eq!(read("net"), "unreachable\n");
    // Refused by the sandbox's own loopback, where nothing listens.
    assert!(read("net-error").contains("refused"), "{}", read("net-error"));
    assert_eq!(read("host"), "hidden\n");
    assert!(read("host-error").contains("No such file"), "{}", read("host-error"));
    assert_eq!(read("root"), "read-only\n");
    assert_eq!(read("etc"), "read-only\n");
    assert_eq!(read("links"), "1\n", "only loopback");
}

#[test]
fn a_failing_step_shows_its_output_and_stores_nothing() {
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let steps =
        "[[step]]\nrun = \"touch $OUT/x\"\n\n[[step]]\nrun = \"echo compiling; echo 'hello.c:1: error' >&2; exit 3\"\n";
    let recipe = write_recipe(&env.path().join("src"), SOURCE, &sha256_hex(SOURCE.as_bytes()), steps);
    let out = env.run(&["make", recipe.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("step 2 (echo compiling;"), "{stderr}");
    assert!(stderr.contains("exit status 3"), "{stderr}");
    assert!(stderr.contains("| hello.c:1: error"), "{stderr}");
    let list = env.ok(&["list"]);
    assert!(!list.contains("example.com/hello"), "{list}");
    let tmp: Vec<_> = fs::read_dir(env.store().join("tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "the build's work directory is removed: {tmp:?}");
}

#[test]
fn recipe_mistakes_are_named_with_their_line_or_key() {
    let env = Env::new();
    let dir = env.path().join("src");
    let recipe =
        write_recipe(&dir, SOURCE, &sha256_hex(SOURCE.as_bytes()), "[[step]]\nrun = \"true\"\nshell = \"bash\"\n");
    let out = env.run(&["make", recipe.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("hello.recipe.toml") && stderr.contains("line 17"), "{stderr}");
    assert!(stderr.contains("unknown field `shell`"), "{stderr}");

    let recipe = write_recipe(&dir, SOURCE, "abc", "[[step]]\nrun = \"true\"\n");
    let stderr = String::from_utf8_lossy(&env.run(&["make", recipe.to_str().unwrap()]).stderr).into_owned();
    assert!(stderr.contains("source[0]") && stderr.contains("not 64 hex digits"), "{stderr}");

    let recipe = write_recipe(&dir, SOURCE, &sha256_hex(SOURCE.as_bytes()), "[[step]]\nrun = \"true\"\n");
    let text = fs::read_to_string(&recipe).unwrap().replace("path = \"hello.c\"", "path = \"../hello.c\"");
    fs::write(&recipe, text).unwrap();
    let stderr = String::from_utf8_lossy(&env.run(&["make", recipe.to_str().unwrap()]).stderr).into_owned();
    assert!(stderr.contains("must be relative to the recipe's directory"), "{stderr}");

    let recipe = write_recipe(&dir, SOURCE, &sha256_hex(SOURCE.as_bytes()), "[[step]]\nrun = \"true\"\n");
    let stderr = String::from_utf8_lossy(&env.run(&["make", recipe.to_str().unwrap(), "--locked"]).stderr).into_owned();
    assert!(stderr.contains("hello.recipe.lock does not exist"), "{stderr}");
}

#[test]
fn a_source_reached_through_a_link_is_refused() {
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let dir = env.path().join("src");
    let recipe = write_recipe(&dir, SOURCE, &sha256_hex(SOURCE.as_bytes()), "[[step]]\nrun = \"touch $OUT/x\"\n");
    let outside = env.path().join("outside.c");
    fs::write(&outside, SOURCE).unwrap();
    fs::remove_file(dir.join("hello.c")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("hello.c")).unwrap();
    let out = env.run(&["make", recipe.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the source hello.c"), "{stderr}");
}

#[test]
fn a_recipe_that_writes_the_clock_is_reported_as_not_reproducible() {
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let steps = "[[step]]\nrun = \"date +%s > $OUT/stamp; echo same > $OUT/same; sleep 1\"\n";
    let recipe = write_recipe(&env.path().join("src"), SOURCE, &sha256_hex(SOURCE.as_bytes()), steps);
    env.ok(&["make", recipe.to_str().unwrap()]);
    let out = env.run(&["rebuild", "example.com/hello"]);
    assert_eq!(out.status.code(), Some(1), "a difference exits 1");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("is NOT reproducible"), "{stdout}");
    assert!(stdout.contains("stamp: content differs from byte"), "names the file: {stdout}");
    assert!(stdout.contains("likely cause: the time of the build"), "names the cause: {stdout}");
    assert!(!stdout.contains("same:"), "identical files are not listed: {stdout}");

    let report: serde_json::Value =
        serde_json::from_slice(&env.run(&["--json", "rebuild", "example.com/hello"]).stdout).unwrap();
    assert_eq!(report["reproducible"], false);
    let differences = report["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{report}");
    assert_eq!(differences[0]["path"], "stamp");
    assert!(differences[0]["textDiff"].as_array().is_some_and(|d| d.len() == 2), "{report}");
    // The stored package is left as it was.
    let list = env.ok(&["inspect", "example.com/hello", "--json"]);
    assert!(list.contains(report["expected"].as_str().unwrap()), "{list}");
}

#[test]
fn only_packages_built_from_recipes_can_be_rebuilt() {
    let env = Env::new();
    let dir = env.path().join("plain");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("a"), "a").unwrap();
    env.ok(&["pack", dir.to_str().unwrap(), "--name", "plain", "--version", "1"]);
    let out = env.run(&["rebuild", "plain"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("was not built from a recipe"), "{stderr}");
}

/// A recipe over the busybox root taking the Debian source `hello` from
/// the fixture archive `archive`.
fn debian_source_recipe(env: &Env, archive: &common::archive::Archive, version: &str) -> std::path::PathBuf {
    let dir = env.path().join("debsrc");
    fs::create_dir_all(&dir).unwrap();
    let recipe = dir.join("hello.recipe.toml");
    fs::write(
        &recipe,
        format!(
            r#"[package]
name = "example.com/hello"
version = "1.0"

[[source]]
debian = "hello"
version = "{version}"

[build]
packages = ["example.com/busybox-root@1"]

[build.debian]
mirror = "{}"
suite = "testing"
keyring = "{}"
updates = false
packages = []

[[step]]
run = "touch $OUT/x"
"#,
            archive.url,
            archive.keyring.display()
        ),
    )
    .unwrap();
    recipe
}

#[test]
fn a_debian_source_comes_through_the_signature_chain_and_is_pinned() {
    if !bale_testkit::require_tools(&["gpg"]) {
        return;
    }
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let mut archive = common::archive::Archive::new();
    let files: [(&str, &[u8]); 3] = [
        ("hello_1.0-1.dsc", b"Format: 3.0 (quilt)\nSource: hello\n"),
        ("hello_1.0.orig.tar.gz", b"upstream"),
        ("hello_1.0-1.debian.tar.xz", b"debian"),
    ];
    archive.add_source("hello", "1.0-1", &files);
    archive.publish("testing", common::archive::FUTURE);

    // Found, fetched and checked; unpacking needs the root's dpkg-source,
    // which this root lacks, and says so before any step runs.
    let recipe = debian_source_recipe(&env, &archive, "1.0-1");
    let out = env.run(&["make", recipe.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dpkg-source, which the build root lacks") && stderr.contains("dpkg-dev"), "{stderr}");
    let lock = fs::read_to_string(recipe.with_file_name("hello.recipe.lock")).unwrap();
    for (name, bytes) in files {
        assert!(lock.contains(name), "{lock}");
        assert!(lock.contains(&sha256_hex(bytes)), "{lock}");
    }
    assert!(lock.contains("directory = \"pool/main/h/hello\""), "{lock}");

    // A version the archive does not have is named with those it has.
    let recipe = debian_source_recipe(&env, &archive, "2.0-1");
    let stderr = String::from_utf8_lossy(&env.run(&["make", recipe.to_str().unwrap()]).stderr).into_owned();
    assert!(stderr.contains("no source package hello 2.0-1") && stderr.contains("(it has 1.0-1)"), "{stderr}");

    // A file the mirror changed is refused, in a store that lacks it.
    fs::write(archive.root().join("pool/main/h/hello/hello_1.0.orig.tar.gz"), b"tampered").unwrap();
    let fresh = Env::new();
    assert!(busybox_root(&fresh, &|args| fresh.ok(args)));
    let recipe = debian_source_recipe(&fresh, &archive, "1.0-1");
    let before = fresh.store_state();
    let out = fresh.run(&["make", recipe.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("hello_1.0.orig.tar.gz"), "names the file: {stderr}");
    assert!(stderr.contains(&sha256_hex(b"upstream")), "names the expected digest: {stderr}");
    let after = fresh.store_state();
    assert!(
        !after.keys().any(|k| k == &sha256_hex(b"tampered")),
        "the tampered file did not enter the store ({} blobs before, {} after)",
        before.len(),
        after.len()
    );
}

#[test]
fn a_keyring_beside_the_recipe_travels_with_the_package() {
    if !bale_testkit::require_tools(&["gpg"]) {
        return;
    }
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let archive = common::archive::Archive::new();
    archive.publish("testing", common::archive::FUTURE);
    let dir = env.path().join("keyed");
    fs::create_dir_all(dir.join("keys")).unwrap();
    fs::copy(&archive.keyring, dir.join("keys/archive.gpg")).unwrap();
    let recipe = dir.join("keyed.recipe.toml");
    let write = |keyring: &str| {
        fs::write(
            &recipe,
            format!(
                "[package]\nname = \"example.com/keyed\"\nversion = \"1\"\n\n[build]\npackages = \
                 [\"example.com/busybox-root@1\"]\n\n[build.debian]\nmirror = \"{}\"\nsuite = \"testing\"\n\
                 keyring = \"{keyring}\"\nupdates = false\npackages = []\n\n[[step]]\nrun = \"touch $OUT/x\"\n",
                archive.url
            ),
        )
        .unwrap();
    };

    // A keyring outside the recipe's directory, by a relative path, is
    // refused before anything is read.
    write("../keyed/keys/archive.gpg");
    let out = env.run(&["make", recipe.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("build.debian.keyring"), "{stderr}");

    // So is one reached through a link.
    std::os::unix::fs::symlink(&archive.keyring, dir.join("keys/linked.gpg")).unwrap();
    write("keys/linked.gpg");
    let out = env.run(&["make", recipe.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("keys/linked.gpg"), "{stderr}");

    // One inside is attached, so a rebuild elsewhere finds it.
    write("keys/archive.gpg");
    env.ok(&["make", recipe.to_str().unwrap()]);
    let id = "example.com/keyed@1";
    let inspect = env.ok(&["inspect", id, "--json"]);
    assert!(inspect.contains("keyring keys/archive.gpg"), "the keyring is an input: {inspect}");
    fs::remove_dir_all(&dir).unwrap();
    let out = env.run(&["rebuild", id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn declared_users_and_alternatives_come_into_the_image() {
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let steps = format!(
        "{STEPS}\n[[runtime.user]]\nname = \"hello\"\nuid = 120\nhome = \"/var/lib/hello\"\n\n\
         [[runtime.alternative]]\nname = \"greeting\"\nlink = \"/usr/bin/greeting\"\n\
         path = \"/usr/share/hello/info\"\npriority = 10\n"
    );
    let recipe = write_recipe(&env.path().join("src"), SOURCE, &sha256_hex(SOURCE.as_bytes()), &steps);
    env.ok(&["make", recipe.to_str().unwrap()]);
    let spec = env.path().join("image/bale.toml");
    fs::create_dir_all(spec.parent().unwrap()).unwrap();
    let write_spec = |packages: &str, extra: &str| {
        fs::write(&spec, format!("name = \"example.com/made\"\npackages = [{packages}]\n{extra}")).unwrap();
    };
    let both = "\"example.com/hello\", \"example.com/busybox-root@1\"";
    write_spec(both, "");
    let output = env.path().join("out");
    env.ok(&["build", spec.to_str().unwrap(), "--output", output.to_str().unwrap()]);
    let rootfs = env.path().join("rootfs");
    env.ok(&["unpack", output.to_str().unwrap(), rootfs.to_str().unwrap()]);
    let passwd = fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains("hello:x:120:120:hello:/var/lib/hello:/usr/sbin/nologin"), "{passwd}");
    assert!(fs::read_to_string(rootfs.join("etc/group")).unwrap().contains("hello:x:120:"));
    assert_eq!(fs::read_link(rootfs.join("usr/bin/greeting")).unwrap(), Path::new("/usr/share/hello/info"));

    // The spec's own account may not disagree with the package's.
    write_spec(both, "\n[users.hello]\nuid = 121\n");
    let out = env.run(&["build", spec.to_str().unwrap(), "--output", env.path().join("out2").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("example.com/hello:") && stderr.contains("uid 121"), "{stderr}");

    // An alternative must point into the package.
    let bad = steps.replace("path = \"/usr/share/hello/info\"", "path = \"/usr/bin/none\"");
    assert_ne!(bad, steps);
    let recipe = write_recipe(&env.path().join("src"), SOURCE, &sha256_hex(SOURCE.as_bytes()), &bad);
    let out = env.run(&["make", recipe.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("runtime.alternative[0]"), "{stderr}");

    // What the package depends on must be in the image.
    let with_dependency = format!("{steps}\n[runtime]\ndependencies = [\"libgreet (>= 2.0)\"]\n");
    let recipe = write_recipe(&env.path().join("src"), SOURCE, &sha256_hex(SOURCE.as_bytes()), &with_dependency);
    env.ok(&["make", recipe.to_str().unwrap()]);
    let out = env.run(&["build", spec.to_str().unwrap(), "--output", output.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("depends on libgreet (>= 2.0)"), "{stderr}");
    let lib = env.path().join("libgreet");
    fs::create_dir_all(lib.join("usr/lib")).unwrap();
    fs::write(lib.join("usr/lib/libgreet.txt"), "greet").unwrap();
    for (version, met) in [("1.9", false), ("2.1-1", true)] {
        env.ok(&["pack", lib.to_str().unwrap(), "--name", "libgreet", "--version", version]);
        write_spec(&format!("\"example.com/hello\", \"example.com/busybox-root@1\", \"libgreet@{version}\""), "");
        let out = env.run(&["build", spec.to_str().unwrap(), "--output", output.to_str().unwrap()]);
        assert_eq!(out.status.success(), met, "libgreet {version}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn an_image_takes_packages_from_the_store_pinned_by_content() {
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let recipe = write_recipe(&env.path().join("src"), SOURCE, &sha256_hex(SOURCE.as_bytes()), STEPS);
    env.ok(&["make", recipe.to_str().unwrap()]);
    let spec = env.path().join("image/bale.toml");
    fs::create_dir_all(spec.parent().unwrap()).unwrap();
    fs::write(
        &spec,
        "name = \"example.com/made\"\npackages = [\"example.com/hello\", \"example.com/busybox-root@1\"]\n\n\
         [config]\nentrypoint = [\"/usr/bin/busybox\", \"cat\", \"/usr/share/hello/info\"]\n",
    )
    .unwrap();
    let output = env.path().join("out");
    let built = env.json(&["build", spec.to_str().unwrap(), "--output", output.to_str().unwrap()]);
    let layers = built["layers"].as_array().map_or(0, Vec::len);
    assert_eq!(layers, 3, "two packages and the generated layer: {built}");
    let lock = fs::read_to_string(spec.with_file_name("bale.lock")).unwrap();
    assert!(lock.contains("[[store]]") && lock.contains("id = \"example.com/hello:"), "{lock}");
    env.ok(&["build", spec.to_str().unwrap(), "--output", output.to_str().unwrap(), "--locked"]);

    // The recipe made again with other content: the pin no longer holds.
    let other = write_recipe(
        &env.path().join("src"),
        SOURCE,
        &sha256_hex(SOURCE.as_bytes()),
        "[[step]]\nrun = \"echo v2 > $OUT/v2\"\n",
    );
    env.ok(&["make", other.to_str().unwrap()]);
    let out = env.run(&["build", spec.to_str().unwrap(), "--output", output.to_str().unwrap(), "--locked"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bale.lock pins example.com/hello:") && stderr.contains("bale lock"), "{stderr}");
    env.ok(&["lock", spec.to_str().unwrap()]);
    env.ok(&["build", spec.to_str().unwrap(), "--output", output.to_str().unwrap(), "--locked"]);

    let missing = env.path().join("image/missing.toml");
    fs::write(&missing, "name = \"example.com/missing\"\npackages = [\"example.com/nothing\"]\n").unwrap();
    let out = env.run(&["build", missing.to_str().unwrap(), "--output", env.path().join("out2").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("packages: \"example.com/nothing\"") && stderr.contains("bale make"), "{stderr}");
}

#[test]
fn tests_run_over_the_built_package_alone() {
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    // The package carries its own busybox and /bin/sh, so a test can run.
    let steps = |test: &str| {
        format!(
            "[[step]]\nrun = \"\"\"\nmkdir -p $OUT/usr/bin\ncp /usr/bin/busybox $OUT/usr/bin/\nln -s busybox \
             $OUT/usr/bin/sh\nln -s busybox $OUT/usr/bin/test\nln -s usr/bin $OUT/bin\necho built > \
             $OUT/usr/bin/marker\n\"\"\"\n\n{test}"
        )
    };
    let passing = "[[test]]\nrun = \"test -f /usr/bin/marker; test ! -e /build; test ! -e /usr/bin/cat\"\n\n\
                   [[test]]\ncommand = [\"/usr/bin/busybox\", \"true\"]\n";
    let recipe = write_recipe(&env.path().join("src"), SOURCE, &sha256_hex(SOURCE.as_bytes()), &steps(passing));
    env.ok(&["make", recipe.to_str().unwrap()]);

    let failing = "[[test]]\nrun = \"echo checking; test -e /usr/bin/cat\"\n";
    let recipe = write_recipe(&env.path().join("src2"), SOURCE, &sha256_hex(SOURCE.as_bytes()), &steps(failing));
    let text = fs::read_to_string(&recipe).unwrap().replace("example.com/hello", "example.com/untested");
    fs::write(&recipe, text).unwrap();
    let out = env.run(&["make", recipe.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("test 1 (echo checking;") && stderr.contains("nothing was stored"), "{stderr}");
    assert!(stderr.contains("| checking"), "{stderr}");
    assert!(!env.ok(&["list"]).contains("example.com/untested"));
}

#[test]
fn splits_become_packages_of_their_own_and_rebuild() {
    let env = Env::new();
    if !busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let steps = "[[step]]\nrun = \"mkdir -p $OUT/usr/bin $OUT/usr/share/doc/hello; echo bin > $OUT/usr/bin/hello; \
                 echo doc > $OUT/usr/share/doc/hello/README\"\n\n[[split]]\nname = \"example.com/hello-doc\"\n\
                 paths = [\"usr/share/doc\"]\nlicense = \"CC0-1.0\"\n";
    let recipe = write_recipe(&env.path().join("src"), SOURCE, &sha256_hex(SOURCE.as_bytes()), steps);
    let made = env.json(&["make", recipe.to_str().unwrap()]);
    assert_eq!(made["splits"].as_array().map(Vec::len), Some(1), "{made}");
    let files = |reference: &str| -> Vec<String> {
        let inspect = env.json(&["inspect", reference, "--files"]);
        inspect["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect()
    };
    let main = files("example.com/hello");
    let doc = files("example.com/hello-doc");
    assert!(main.contains(&"usr/bin/hello".to_string()) && !main.iter().any(|p| p.contains("README")), "{main:?}");
    assert!(doc.contains(&"usr/share/doc/hello/README".to_string()) && !doc.contains(&"usr/bin/hello".to_string()));
    let inspect = env.json(&["inspect", "example.com/hello-doc"]);
    assert!(inspect.to_string().contains("CC0-1.0"), "{inspect}");
    let rebuilt = env.json(&["rebuild", "example.com/hello-doc"]);
    assert_eq!(rebuilt["reproducible"], true, "{rebuilt}");

    // Made again with --sign: the package and its split are signed.
    let key = env.path().join("release.key");
    env.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    env.ok(&["make", recipe.to_str().unwrap(), "--locked", "--sign", key.to_str().unwrap()]);
    for package in ["example.com/hello", "example.com/hello-doc"] {
        let verified = env.json(&["verify", package, "--key", &format!("{}.pub", key.display())]);
        assert_eq!(verified["verified"], true, "{package}: {verified}");
    }

    let empty = "[[step]]\nrun = \"touch $OUT/x\"\n\n[[split]]\nname = \"example.com/nothing\"\npaths = [\"usr/**\"]\n";
    let recipe = write_recipe(&env.path().join("src2"), SOURCE, &sha256_hex(SOURCE.as_bytes()), empty);
    let stderr = String::from_utf8_lossy(&env.run(&["make", recipe.to_str().unwrap()]).stderr).into_owned();
    assert!(stderr.contains("split[0] (example.com/nothing) takes no file"), "{stderr}");
}
