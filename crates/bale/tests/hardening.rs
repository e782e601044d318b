//! Regression tests for the holes a red-team session found: each one drives
//! the real binary the way an attacker did (a second local user racing bale
//! at a pause point, a hostile registry, a hostile spec) and checks that bale
//! refuses with the entry named, leaves nothing half-written, and never reads
//! or writes outside its tree.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bale_testkit::{Pause, as_other_user, give_to_other_user, require_root};
use common::Env;

/// A scratch directory the other user can reach (tempdirs are 0700).
fn shared_env() -> Env {
    let env = Env::new();
    fs::set_permissions(env.path(), fs::Permissions::from_mode(0o755)).unwrap();
    env
}

/// Runs `script` with sh as the other user and insists it succeeds.
fn as_other(script: &str) {
    let out = as_other_user("sh").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs `cmd` to the end within `limit`: a hang is a failure, not a stuck CI.
fn run_with_deadline(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_with_deadline(&mut child, limit)
}

/// Waits for a child with a deadline: a hang is a failure, not a stuck CI.
fn wait_with_deadline(child: &mut std::process::Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bale did not finish within {limit:?}: it hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child.stdout.take().map(|mut s| s.read_to_end(&mut stdout));
    child.stderr.take().map(|mut s| s.read_to_end(&mut stderr));
    std::process::Output { status: child.try_wait().unwrap().unwrap(), stdout, stderr }
}

/// A root-only secret outside the packed tree, the size of `z/secret`.
const SECRET: &[u8] = b"root-only secret";

fn secret_file(env: &Env) -> std::path::PathBuf {
    let dir = env.path().join("root-only");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let secret = dir.join("secret");
    fs::write(&secret, SECRET).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    secret
}

/// Root packs a tree another user owns; at the moment between the scan and
/// the write, that user swaps something in. Each swap must be refused.
#[test]
fn pack_refuses_entries_swapped_after_the_scan() {
    if !require_root("racing bale pack as another user") {
        return;
    }
    let swaps: [(&str, &str); 4] = [
        ("a directory for a link", "mv z z.old && ln -s ../root-only z"),
        ("a file for a link", "mv z/secret z/old && ln -s ../../root-only/secret z/secret"),
        ("a file for a FIFO", "mv z/secret z/old && mkfifo z/secret"),
        ("a file for another of the same size", "cp z/secret z/new && mv z/new z/secret"),
    ];
    for (what, swap) in swaps {
        let env = shared_env();
        secret_file(&env);
        let tree = env.path().join("tree");
        fs::create_dir_all(tree.join("z")).unwrap();
        fs::write(tree.join("z/secret"), vec![b'x'; SECRET.len()]).unwrap();
        fs::write(tree.join("a"), "a\n").unwrap();
        give_to_other_user(&tree);
        env.ok(&["store", "verify"]);
        let before = env.store_state();
        let pause = Pause::at("pack-scanned", 1);
        let mut cmd = env.bale();
        cmd.args(["pack", tree.to_str().unwrap(), "--name", "victim", "--version", "1"]);
        pause.arm(&mut cmd);
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        pause.wait(&mut child);
        as_other(&format!("cd {} && {swap}", tree.display()));
        pause.resume();
        let out = wait_with_deadline(&mut child, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: pack succeeded:\n{stderr}");
        assert!(stderr.contains("z/secret") || stderr.contains("tree/z"), "{what}: the entry is not named:\n{stderr}");
        assert!(stderr.contains("replaced") || stderr.contains("symbolic link"), "{what}: no reason given:\n{stderr}");
        assert_eq!(env.store_state(), before, "{what}: the store changed");
    }
}

/// The owner of an (empty, valid) destination renames a directory bale
/// made mid-unpack and puts a link to another directory in its place:
/// nothing may be created there, and no mode may change.
#[test]
fn unpack_refuses_a_directory_swapped_for_a_link() {
    if !require_root("racing bale unpack as another user") {
        return;
    }
    let env = shared_env();
    let tree = env.path().join("tree");
    fs::create_dir_all(tree.join("d")).unwrap();
    for i in 0..20 {
        fs::write(tree.join(format!("d/f{i:02}")), format!("{i}\n")).unwrap();
    }
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "many", "--version", "1"]);
    let victim = env.path().join("victim");
    fs::create_dir(&victim).unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o700)).unwrap();
    let dest = env.path().join("dest");
    fs::create_dir(&dest).unwrap();
    give_to_other_user(&dest);
    // Entry 1 is d/, entry 2 is d/f00: pause before the second file.
    let pause = Pause::at("unpack-entry", 3);
    let mut cmd = env.bale();
    cmd.args(["unpack", "many", dest.to_str().unwrap()]);
    pause.arm(&mut cmd);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    pause.wait(&mut child);
    as_other(&format!("cd {} && mv d d.moved && ln -s {} d", dest.display(), victim.display()));
    pause.resume();
    let out = wait_with_deadline(&mut child, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "unpack succeeded through a swapped link");
    assert!(stderr.contains("\"d\"") || stderr.contains("d/f01"), "the entry is not named:\n{stderr}");
    assert_eq!(fs::read_dir(&victim).unwrap().count(), 0, "files were created outside the destination");
    assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o7777, 0o700, "the victim's mode changed");
}

/// Setuid and setgid bits a package records survive an unpack as root
/// (chown clears them, so it must come before chmod).
#[test]
fn unpack_as_root_keeps_setuid_and_setgid() {
    if !require_root("unpacking with owners") {
        return;
    }
    let env = Env::new();
    let tree = env.path().join("tree");
    fs::create_dir_all(tree.join("bin")).unwrap();
    fs::write(tree.join("bin/su"), "#!/bin/sh\n").unwrap();
    std::os::unix::fs::chown(tree.join("bin/su"), Some(1000), Some(1000)).unwrap();
    fs::set_permissions(tree.join("bin/su"), fs::Permissions::from_mode(0o6755)).unwrap();
    let args = ["--preserve-modes", "--preserve-special-bits", "--preserve-owners"];
    let mut pack = vec!["pack", tree.to_str().unwrap(), "--name", "suid", "--version", "1"];
    pack.extend(args);
    env.ok(&pack);
    let dest = env.path().join("dest");
    env.ok(&["unpack", "suid", dest.to_str().unwrap()]);
    let md = fs::metadata(dest.join("bin/su")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1000, 1000));
    assert_eq!(md.mode() & 0o7777, 0o6755, "setuid/setgid lost");
}

/// A registry on loopback that serves one image whose layer is `declared`
/// bytes long, and answers the blob with `blob` (which may never end).
struct HostileRegistry {
    port: u16,
}

impl HostileRegistry {
    fn start(declared: u64, blob: fn(&mut std::net::TcpStream)) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config_digest = bale_fileset::sha256_bytes(config);
        let layer_digest = bale_fileset::sha256_bytes(b"what the layer should be");
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer_digest}","size":{declared}}}]}}"#,
            config.len()
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    request.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&request).lines().next().unwrap_or("").to_string();
                let reply = |stream: &mut std::net::TcpStream, kind: &str, body: &[u8]| {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(body);
                };
                if line.contains("/manifests/") {
                    reply(&mut stream, "application/vnd.oci.image.manifest.v1+json", manifest.as_bytes());
                } else if line.contains(&config_digest.to_string()) {
                    reply(&mut stream, "application/octet-stream", config);
                } else {
                    std::thread::spawn(move || blob(&mut stream));
                }
            }
        });
        Self { port }
    }
}

fn endless(stream: &mut std::net::TcpStream) {
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n");
    let chunk = vec![0u8; 64 * 1024];
    while stream.write_all(&chunk).is_ok() {}
}

fn stalling(stream: &mut std::net::TcpStream) {
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn pull_stops_at_the_declared_size_and_removes_the_partial_blob() {
    let registry = HostileRegistry::start(1000, endless);
    let env = Env::new();
    let reference = format!("127.0.0.1:{}/hostile/image:latest", registry.port);
    let out = run_with_deadline(env.bale().args(["pull", &reference]), Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an endless blob was accepted");
    assert!(stderr.contains("more than the 1000 bytes"), "{stderr}");
    assert_eq!(fs::read_dir(env.store().join("tmp")).unwrap().count(), 0, "the partial blob was left in tmp/");
}

#[test]
fn a_stalled_pull_fails_after_the_stall_timeout() {
    let registry = HostileRegistry::start(1000, stalling);
    let env = Env::new();
    let reference = format!("127.0.0.1:{}/hostile/image:latest", registry.port);
    let out = run_with_deadline(
        env.bale().env("BALE_STALL_TIMEOUT", "2").args(["pull", &reference]),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a stalled pull succeeded");
    assert!(stderr.contains("no data arrived for 2 s"), "{stderr}");
    assert_eq!(fs::read_dir(env.store().join("tmp")).unwrap().count(), 0, "the partial blob was left in tmp/");
}

/// A spec with one local package and `extra` appended.
fn local_spec(env: &Env, extra: &str) -> std::path::PathBuf {
    fs::create_dir_all(env.path().join("app")).unwrap();
    fs::write(env.path().join("app/hello"), "hi\n").unwrap();
    let spec = env.path().join("bale.toml");
    fs::write(
        &spec,
        format!("name = \"example.com/h\"\n\n[[local]]\npath = \"app\"\nname = \"example.com/h/app\"\nversion = \"1\"\n{extra}"),
    )
    .unwrap();
    spec
}

#[test]
fn spec_file_keys_with_nul_or_overlong_paths_are_refused() {
    let long_component = "n".repeat(256);
    let long_path = vec!["d".repeat(200); 21].join("/");
    for (key, why) in [
        ("/etc/passwd\\u0000x", "NUL"),
        (&*format!("/etc/{long_component}"), "256 bytes long; the limit is 255"),
        (&*format!("/{long_path}"), "the limit is 4096"),
    ] {
        let env = Env::new();
        let spec = local_spec(&env, &format!("\n[files.\"{key}\"]\ncontent = \"root::0:0::/:/bin/sh\\n\"\n"));
        let out = env.run(&["build", spec.to_str().unwrap(), "--output", "out"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{why}: built");
        assert!(stderr.contains(why) && stderr.len() < 1500, "{why}: {stderr}");
        assert!(!env.path().join("out").exists());
    }
}

#[test]
fn spec_file_sources_must_be_small_regular_files_below_the_spec() {
    let env = Env::new();
    symlink("/dev/zero", env.path().join("zero")).unwrap();
    Command::new("mkfifo").arg(env.path().join("fifo")).status().unwrap();
    let big = fs::File::create(env.path().join("big")).unwrap();
    big.set_len(bale_image::MAX_SPEC_FILE_SIZE + 1).unwrap();
    for (source, why) in [("zero", "symbolic link"), ("fifo", "fifo"), ("big", "at most 67108864")] {
        let spec = local_spec(&env, &format!("\n[files.\"/etc/x\"]\nsource = \"{source}\"\n"));
        let build = ["build", spec.to_str().unwrap(), "--output", "out"];
        let out = run_with_deadline(env.bale().args(build), Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{source}: built");
        assert!(stderr.contains(source) && stderr.contains(why), "{source}: {stderr}");
    }
}

#[test]
fn sbom_links_planted_beside_the_output_are_replaced_not_followed() {
    let env = Env::new();
    let spec = local_spec(&env, "");
    let victim = env.path().join("victim");
    fs::write(&victim, "keep me").unwrap();
    for ext in ["spdx.json", "cdx.json"] {
        symlink(&victim, env.path().join(format!("out.{ext}"))).unwrap();
    }
    env.ok(&["build", spec.to_str().unwrap(), "--output", "out"]);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
    for ext in ["spdx.json", "cdx.json"] {
        let md = fs::symlink_metadata(env.path().join(format!("out.{ext}"))).unwrap();
        assert!(md.is_file(), "out.{ext} is still a link");
    }
}

#[test]
fn output_onto_a_file_or_a_link_gives_the_documented_message() {
    let env = Env::new();
    let spec = local_spec(&env, "");
    fs::write(env.path().join("taken"), "a file").unwrap();
    fs::create_dir(env.path().join("elsewhere")).unwrap();
    symlink(env.path().join("elsewhere"), env.path().join("linked")).unwrap();
    for output in ["taken", "linked"] {
        let out = env.run(&["build", spec.to_str().unwrap(), "--output", output]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("exists and is not an OCI layout bale may replace"), "{output}: {stderr}");
    }
    assert_eq!(fs::read_to_string(env.path().join("taken")).unwrap(), "a file");
    assert_eq!(fs::read_dir(env.path().join("elsewhere")).unwrap().count(), 0);
    // And nothing was left beside them.
    let stray: Vec<_> = fs::read_dir(env.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".bale-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn gc_removes_stray_directories() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "t", "--version", "1"]);
    for stray in ["tmp/stray/inner", "blobs/sha256/stray-dir/inner"] {
        fs::create_dir_all(env.store().join(stray)).unwrap();
        fs::write(env.store().join(stray).join("f"), "x").unwrap();
    }
    env.ok(&["store", "gc"]);
    assert!(!env.store().join("tmp/stray").exists() && !env.store().join("blobs/sha256/stray-dir").exists());
    env.ok(&["store", "verify"]);
}

/// Extended headers are refused by their declared size, before a byte of
/// them is buffered; the test tars claim 2 GiB but hold a few bytes, so a
/// reader that trusted the claim would fail differently (truncated) or
/// allocate 2 GiB.
#[test]
fn huge_pax_and_long_name_headers_are_refused_before_they_are_read() {
    use common::RawEntry;
    for (flag, name) in [(b'x', &b"././@PaxHeader"[..]), (b'L', b"././@LongLink")] {
        let env = Env::new();
        let mut header = RawEntry::lying(name, 2 << 30, b"30 path=aaaaaaaaaaaaaaaaaaaaa\n");
        header.flag = flag;
        let tar = common::raw_tar_with_end(&[header], false);
        let path = env.path().join("evil.tar");
        fs::write(&path, tar).unwrap();
        let out = env.run(&["pack", path.to_str().unwrap(), "--name", "evil", "--version", "1"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("2147483648 bytes; the limit is 65536"), "{stderr}");
        assert!(stderr.len() < 1000, "{} bytes of error", stderr.len());
    }
}

/// A long hostile name is quoted by its head and tail, not whole.
#[test]
fn error_messages_quote_a_bounded_part_of_hostile_names() {
    use common::{RawEntry, gnu_long_name};
    let env = Env::new();
    let name = format!("{}/../evil", "a".repeat(60_000));
    let tar = common::raw_tar(&[gnu_long_name(name.as_bytes()), RawEntry::file(b"x", b"x")]);
    let path = env.path().join("evil.tar");
    fs::write(&path, tar).unwrap();
    let out = env.run(&["pack", path.to_str().unwrap(), "--name", "evil", "--version", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.len() < 1000 && stderr.contains("(60008 bytes)"), "{} bytes: {}", stderr.len(), &stderr[..300]);
}

/// No output may land inside the store: a layout written over the store's
/// directory would replace its index (losing every package), and files
/// unpacked among its blobs are not the store's. Each is refused before
/// any work, by every command that writes, and the store is unchanged.
#[test]
fn no_output_lands_inside_the_store() {
    let env = Env::new();
    fs::create_dir_all(env.path().join("app/srv")).unwrap();
    fs::write(env.path().join("app/srv/data"), "data\n").unwrap();
    fs::write(
        env.path().join("bale.toml"),
        "name = \"example.com/inside\"\n\n[[local]]\npath = \"app\"\nname = \"example.com/app\"\nversion = \"1\"\n",
    )
    .unwrap();
    env.ok(&["build", "bale.toml", "--output", "image"]);
    let before = env.store_state();
    let store = env.store();
    let inside = [store.clone(), store.join("blobs"), store.join("blobs/sha256/new"), store.join("tmp/../new")];
    for target in &inside {
        let target = target.to_str().unwrap();
        for args in [
            vec!["build", "bale.toml", "--output", target],
            vec!["build", "bale.toml", "--format", "oci-archive", "--output", target],
            vec!["unpack", "image", target],
            vec!["unpack", "example.com/app", target],
        ] {
            let out = env.run(&args);
            assert!(!out.status.success(), "{args:?} succeeded");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("is inside the store at"), "{args:?}: {stderr}");
            assert!(
                stderr.contains("help: write the image or files to a directory outside the store"),
                "{args:?}: {stderr}"
            );
        }
    }
    // Through a link to the store, too.
    symlink(&store, env.path().join("alias")).unwrap();
    let out = env.run(&["build", "bale.toml", "--output", "alias/blobs"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is inside the store at"));
    assert_eq!(env.store_state(), before);
    env.ok(&["store", "verify"]);
    env.ok(&["build", "bale.toml", "--output", "image"]);
}
