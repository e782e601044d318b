//! `bale serve` against real clients: bale push/pull, skopeo (its chunked
//! uploads), umoci on what was pulled, the referrers API, error codes, and
//! a server killed in the middle of an upload.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::Env;

/// `bale serve` on a free loopback port, over its own store; stopped by its
/// own process id when dropped.
struct Server {
    child: Child,
    address: String,
    store: PathBuf,
}

impl Server {
    fn start(store: &Path) -> Self {
        Self::start_with(store, &[])
    }

    fn start_with(store: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bale"))
            .args(["--json", "--store", store.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let told: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        Self { child, address: told["listening"].as_str().unwrap().to_string(), store: store.to_path_buf() }
    }

    /// A node of a deployment on shared storage: blobs in `storage` under
    /// `prefix`, records in `database`. `unused` is given as its store, to
    /// show it keeps nothing there.
    fn start_shared(
        unused: &Path,
        storage: &common::hosting::ObjectStorage,
        database: &common::hosting::Postgres,
        prefix: &str,
    ) -> Self {
        Self::start_shared_with(unused, storage, &database.url, &[], prefix)
    }

    /// As [`Server::start_shared`], reaching the database at `index` with
    /// `env` set.
    fn start_shared_with(
        unused: &Path,
        storage: &common::hosting::ObjectStorage,
        index: &str,
        env: &[(&str, &Path)],
        prefix: &str,
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bale"));
        command
            .args(["--json", "--store", unused.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"])
            .args(["--blobs", &format!("s3://{}/{prefix}", storage.bucket), "--index", index])
            .envs(storage.env())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let told: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        Self { child, address: told["listening"].as_str().unwrap().to_string(), store: unused.to_path_buf() }
    }

    fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM: the graceful stop users get.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// `curl` with `args`: (status, headers, body).
fn curl(args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl").args(["-s", "-D", "-", "-o", "/dev/stdout"]).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    // Header names in lowercase (HTTP's are case-insensitive), values as sent.
    let head: Vec<String> = head
        .lines()
        .map(|l| match l.split_once(':') {
            Some((name, value)) => format!("{}:{}", name.to_lowercase(), value),
            None => l.to_string(),
        })
        .collect();
    (status, head.join("\n"), body.to_string())
}

/// A signed-free two-package image layout, built from the busybox root.
fn image(env: &Env, name: &str) -> Option<PathBuf> {
    if !env.path().join("busybox-root").exists() && !common::busybox_root(env, &|args| env.ok(args)) {
        return None;
    }
    let dir = env.path().join(name.replace('/', "_"));
    fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("bale.toml");
    fs::write(
        &spec,
        format!("name = \"{name}\"\npackages = [\"example.com/busybox-root@1\"]\n\n[files.\"/etc/motd\"]\ncontent = \"{name}\\n\"\n"),
    )
    .unwrap();
    let out = dir.join("out");
    env.ok(&["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    Some(out)
}

#[test]
fn bale_push_and_pull_through_bale_serve_with_referrers_and_mounts() {
    if bale_testkit::require_tool("curl").is_none() {
        return;
    }
    let env = Env::new();
    let Some(layout) = image(&env, "example.com/served") else { return };
    let server = Server::start(&env.path().join("served"));
    let reference = format!("{}/app/served:v1", server.address);
    let pushed = env.json(&["push", layout.to_str().unwrap(), &reference]);
    assert_eq!(pushed["referrerTags"], 0, "the referrers API, no fallback tags: {pushed}");
    assert!(pushed["blobsSent"].as_u64().unwrap() >= 3, "{pushed}");
    let manifest = pushed["manifest"].as_str().unwrap().to_string();

    // A second repository: every blob mounted, none sent.
    let again = env.json(&["push", layout.to_str().unwrap(), &format!("{}/other/served:v1", server.address)]);
    assert_eq!(again["blobsSent"], 0, "{again}");
    assert_eq!(again["blobsMounted"], pushed["blobsSent"], "{again}");

    // Pulled into an empty store: the same image, SBOMs with it.
    let fresh = Env::new();
    let pulled = fresh.json(&["pull", &reference, "--output", fresh.path().join("pulled").to_str().unwrap()]);
    assert_eq!(pulled["manifest"], manifest.as_str(), "{pulled}");
    let sbom = fresh.run(&["sbom", &format!("{}:v1", fresh.path().join("pulled").display())]);
    assert!(String::from_utf8_lossy(&sbom.stdout).contains("SPDX"), "{}", String::from_utf8_lossy(&sbom.stderr));

    // The referrers API, whole and filtered.
    let base = format!("http://{}/v2/app/served", server.address);
    let (status, head, body) = curl(&[&format!("{base}/referrers/{manifest}")]);
    assert_eq!(status, 200, "{head}{body}");
    assert!(head.contains("content-type: application/vnd.oci.image.index.v1+json"), "{head}");
    let all: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(all["manifests"].as_array().unwrap().len(), 2, "two SBOMs: {all}");
    let (_, head, body) = curl(&[&format!("{base}/referrers/{manifest}?artifactType=application/spdx%2Bjson")]);
    assert!(head.contains("oci-filters-applied: artifactType"), "{head}");
    let filtered: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(filtered["manifests"].as_array().unwrap().len(), 1, "{filtered}");
    assert_eq!(filtered["manifests"][0]["artifactType"], "application/spdx+json");

    // Tags, catalog, pagination.
    let (_, _, body) = curl(&[&format!("{base}/tags/list")]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["tags"], serde_json::json!(["v1"]));
    let (_, head, body) = curl(&[&format!("http://{}/v2/_catalog?n=1", server.address)]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["repositories"],
        serde_json::json!(["app/served"])
    );
    assert!(head.contains("link: </v2/_catalog?n=1&last=app/served>; rel=\"next\""), "{head}");

    // One blob per digest in the store, whatever the repositories.
    let blobs = fs::read_dir(server.store.join("blobs/sha256")).unwrap().count();
    let (_, _, body) =
        curl(&[&format!("{base}/manifests/v1"), "-H", "Accept: application/vnd.oci.image.manifest.v1+json"]);
    let layers = serde_json::from_str::<serde_json::Value>(&body).unwrap()["layers"].as_array().unwrap().len();
    assert!(blobs <= layers + 1 + 1 + 2 * 2 + 2 + 2, "{blobs} blobs for {layers} layers, both repositories");

    // gc of the served store, beside the running server, keeps what the
    // repositories link: the image still pulls whole.
    let gc = env.json(&["--store", server.store.to_str().unwrap(), "store", "gc"]);
    assert_eq!(gc["blobsRemoved"], 0, "{gc}");
    let later = Env::new();
    let pulled = later.json(&["pull", &reference]);
    assert_eq!(pulled["manifest"], manifest.as_str(), "{pulled}");
}

#[test]
fn skopeo_pushes_into_and_pulls_from_bale_serve_and_umoci_unpacks_it() {
    let (Some(_), Some(umoci)) = (bale_testkit::require_tool("skopeo"), bale_testkit::require_tool("umoci")) else {
        return;
    };
    let env = Env::new();
    let Some(layout) = image(&env, "example.com/skopeo") else { return };
    let server = Server::start(&env.path().join("served"));
    let target = format!("docker://{}/skopeo/app:v1", server.address);
    let copy = |from: &str, to: &str| {
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false", from, to])
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo copy {from} {to}: {}", String::from_utf8_lossy(&out.stderr));
    };
    copy(&format!("oci:{}:latest", layout.display()), &target);
    let back = env.path().join("back");
    copy(&target, &format!("oci:{}:latest", back.display()));
    let bundle = env.path().join("bundle");
    common::oci::umoci_unpack(&umoci, &back, &bundle, false);
    assert_eq!(fs::read_to_string(bundle.join("rootfs/etc/motd")).unwrap(), "example.com/skopeo\n");
    assert!(bundle.join("rootfs/usr/bin/busybox").is_file());
}

#[test]
fn bad_requests_get_the_specs_error_codes_and_store_nothing() {
    if bale_testkit::require_tool("curl").is_none() {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env.path().join("served"));
    let base = format!("http://{}/v2/bad/repo", server.address);
    let code = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap()["errors"][0]["code"].clone();

    let (status, _, body) = curl(&[&format!("{base}/manifests/v1")]);
    assert_eq!((status, code(&body)), (404, "MANIFEST_UNKNOWN".into()));
    let zeros = format!("sha256:{}", "0".repeat(64));
    let (status, _, body) = curl(&[&format!("{base}/blobs/{zeros}")]);
    assert_eq!((status, code(&body)), (404, "BLOB_UNKNOWN".into()));
    let (status, _, body) = curl(&[&format!("http://{}/v2/Bad/Name/tags/list", server.address)]);
    assert_eq!((status, code(&body)), (400, "NAME_INVALID".into()));

    // A blob whose bytes are not its digest: refused, nothing kept.
    let blobs = || fs::read_dir(server.store.join("blobs/sha256")).map(|d| d.count()).unwrap_or(0);
    let before = blobs();
    let (status, _, body) =
        curl(&["-X", "POST", "--data-binary", "not these bytes", &format!("{base}/blobs/uploads/?digest={zeros}")]);
    assert_eq!((status, code(&body)), (400, "DIGEST_INVALID".into()));
    assert_eq!(blobs(), before);

    // A manifest naming a blob the repository lacks.
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": zeros, "size": 2},
        "layers": []
    });
    let (status, _, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.manifest.v1+json",
        "--data-binary",
        &manifest.to_string(),
        &format!("{base}/manifests/v1"),
    ]);
    assert_eq!((status, code(&body)), (400, "MANIFEST_BLOB_UNKNOWN".into()));
    let (status, _, _) = curl(&[&format!("{base}/manifests/v1")]);
    assert_eq!(status, 404);

    // Ranges of a blob that is there.
    let data = "0123456789";
    let digest = format!("sha256:{}", bale_fileset::sha256_bytes(data.as_bytes()).hex());
    let (status, _, _) =
        curl(&["-X", "POST", "--data-binary", data, &format!("{base}/blobs/uploads/?digest={digest}")]);
    assert_eq!(status, 201);
    let (status, head, body) = curl(&["-H", "Range: bytes=2-4", &format!("{base}/blobs/{digest}")]);
    assert_eq!((status, body.as_str()), (206, "234"));
    assert!(head.contains("content-range: bytes 2-4/10"), "{head}");
    let (status, _, _) = curl(&["-H", "Range: bytes=20-", &format!("{base}/blobs/{digest}")]);
    assert_eq!(status, 416);
}

#[test]
fn a_server_killed_during_an_upload_serves_no_partial_blob() {
    if bale_testkit::require_tool("curl").is_none() {
        return;
    }
    let env = Env::new();
    let store = env.path().join("served");
    let server = Server::start(&store);
    let base = format!("http://{}/v2/crash/repo", server.address);
    let (status, head, _) = curl(&["-X", "POST", &format!("{base}/blobs/uploads/")]);
    assert_eq!(status, 202, "{head}");
    let location = head.lines().find_map(|l| l.strip_prefix("location: ")).unwrap().trim().to_string();
    let (status, _, _) =
        curl(&["-X", "PATCH", "--data-binary", "half of a blob", &format!("http://{}{location}", server.address)]);
    assert_eq!(status, 202);
    server.kill_hard();

    let server = Server::start(&store);
    let digest = format!("sha256:{}", bale_fileset::sha256_bytes(b"half of a blob").hex());
    let (status, _, _) = curl(&[&format!("http://{}/v2/crash/repo/blobs/{digest}", server.address)]);
    assert_eq!(status, 404, "the unfinished blob is not served");
    let (status, _, _) = curl(&[&format!("http://{}{location}", server.address)]);
    assert_eq!(status, 404, "the upload is gone: its client starts again");
    assert_eq!(fs::read_dir(store.join("registry/uploads")).unwrap().count(), 0);
}

/// An image of one fixture archive: libc6 and libssl3 (from the source
/// package openssl) at `version`.
fn debian_image(env: &Env, name: &str, version: &str) -> Option<(PathBuf, common::archive::Archive)> {
    use common::archive::{Archive, DebSpec, FUTURE};
    for tool in ["gpg", "dpkg-deb"] {
        bale_testkit::require_tool(tool)?;
    }
    let mut a = Archive::new();
    a.add(&DebSpec::new("libc6", "2.36-9").file("usr/lib/x86_64-linux-gnu/libc.so.6", "libc\n"));
    a.add(
        &DebSpec::new("libssl3", version)
            .field("Source", &format!("openssl ({version})"))
            .field("Depends", "libc6")
            .file("usr/lib/x86_64-linux-gnu/libssl.so.3", &format!("ssl {version}\n")),
    );
    a.publish("querysuite", FUTURE);
    let dir = env.path().join(name.replace('/', "_"));
    fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("bale.toml");
    fs::write(
        &spec,
        format!(
            "name = \"{name}\"\n\n[debian]\nsuite = \"querysuite\"\nmirror = \"{}\"\nkeyring = \"{}\"\narchitecture = \"amd64\"\npackages = [\"libssl3\"]\n",
            a.url,
            a.keyring.display()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    env.ok(&["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    Some((out, a))
}

#[test]
fn the_index_built_at_push_answers_which_images_hold_a_package() {
    if bale_testkit::require_tool("curl").is_none() {
        return;
    }
    let env = Env::new();
    let Some((old, _a)) = debian_image(&env, "example.com/old", "3.0.11-1~deb12u2") else { return };
    let Some((new, _b)) = debian_image(&env, "example.com/new", "3.0.13-1") else { return };
    let server = Server::start(&env.path().join("served"));
    env.json(&["push", old.to_str().unwrap(), &format!("{}/app/old:v1", server.address)]);
    env.json(&["push", new.to_str().unwrap(), &format!("{}/app/new:v1", server.address)]);
    let query = |args: &[&str]| {
        let mut all = vec!["query", "--registry", server.address.as_str()];
        all.extend(args);
        env.json(&all)
    };
    let repositories = |answer: &serde_json::Value| -> Vec<String> {
        answer["images"].as_array().unwrap().iter().map(|m| m["repository"].as_str().unwrap().to_string()).collect()
    };

    // By source package and Debian version order: only the old image is
    // below the fixed version.
    let vulnerable = query(&["--source", "openssl", "--version", "<< 3.0.13-1"]);
    assert_eq!(repositories(&vulnerable), ["app/old"], "{vulnerable}");
    assert_eq!(vulnerable["images"][0]["tags"], serde_json::json!(["v1"]));
    assert_eq!(vulnerable["images"][0]["package"]["sourceVersion"], "3.0.11-1~deb12u2");
    let both = query(&["--package", "libssl3"]);
    assert_eq!(repositories(&both), ["app/new", "app/old"], "{both}");

    // What one image holds; which images share one package's content.
    let contents = query(&["--image", "app/new:v1"]);
    let ids: Vec<&str> = contents["packages"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"debian:querysuite/libssl3:amd64@3.0.13-1"), "{ids:?}");
    let libc = contents["packages"].as_array().unwrap().iter().find(|p| p["name"] == "libc6").unwrap();
    let shared = query(&["--content", libc["content"].as_str().unwrap()]);
    assert_eq!(repositories(&shared), ["app/new", "app/old"], "{shared}");

    // For people: one line per image.
    let out = env.run(&["query", "--registry", &server.address, "--source", "openssl", "--version", "<< 3.0.13-1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("app/old:v1  sha256:") && text.contains("libssl3:amd64@3.0.11-1~deb12u2"), "{text}");

    // Deleting an image takes it out of the answers.
    let digest = vulnerable["images"][0]["digest"].as_str().unwrap();
    let status = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE"])
        .arg(format!("http://{}/v2/app/old/manifests/{digest}", server.address))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "202");
    assert_eq!(repositories(&query(&["--package", "libssl3"])), ["app/new"]);
}

#[test]
fn audit_matches_osv_and_tracker_advisories_on_source_packages() {
    let env = Env::new();
    let Some((old, _a)) = debian_image(&env, "example.com/old", "3.0.11-1~deb12u2") else { return };
    let Some((new, _b)) = debian_image(&env, "example.com/new", "3.0.13-1") else { return };
    let server = Server::start(&env.path().join("served"));
    env.json(&["push", old.to_str().unwrap(), &format!("{}/app/old:v1", server.address)]);
    env.json(&["push", new.to_str().unwrap(), &format!("{}/app/new:v1", server.address)]);
    let audit = |advisories: &serde_json::Value| {
        let file = env.path().join("advisories.json");
        fs::write(&file, advisories.to_string()).unwrap();
        let out = env.run(&["--json", "audit", "--registry", &server.address, "--advisories", file.to_str().unwrap()]);
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), answer)
    };
    let hits = |answer: &serde_json::Value| -> Vec<(String, String)> {
        answer["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["advisory"].as_str().unwrap().to_string(), f["repository"].as_str().unwrap().to_string()))
            .collect()
    };

    // OSV: fixed in 3.0.13-1 for Debian 12; the fixture's suite is not
    // bookworm, so an advisory for "Debian" (every release) is used, and
    // one for Debian 11 must match nothing.
    let osv = serde_json::json!([
        {"id": "DSA-9999-1", "affected": [{"package": {"ecosystem": "Debian", "name": "openssl"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1"}]}]}]},
        {"id": "DSA-9998-1", "affected": [{"package": {"ecosystem": "Debian:11", "name": "openssl"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9"}]}]}]},
        {"id": "DSA-9997-1", "affected": [{"package": {"ecosystem": "Debian", "name": "not-held"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}
    ]);
    let (code, answer) = audit(&osv);
    assert_eq!(code, Some(1), "{answer}");
    assert_eq!(hits(&answer), [("DSA-9999-1".to_string(), "app/old".to_string())], "{answer}");
    assert_eq!(answer["findings"][0]["package"]["id"], "debian:querysuite/libssl3:amd64@3.0.11-1~deb12u2");

    // The tracker's JSON, keyed by the release the packages came from.
    let tracker = serde_json::json!({"openssl": {
        "CVE-2099-0001": {"releases": {"querysuite": {"status": "resolved", "fixed_version": "3.0.12-1"}}},
        "CVE-2099-0002": {"releases": {"querysuite": {"status": "open"}}},
        "CVE-2099-0003": {"releases": {"otherrelease": {"status": "open"}}}
    }});
    let (code, answer) = audit(&tracker);
    assert_eq!(code, Some(1));
    let mut found = hits(&answer);
    found.sort();
    assert_eq!(
        found,
        [
            ("CVE-2099-0001".to_string(), "app/old".to_string()),
            ("CVE-2099-0002".to_string(), "app/new".to_string()),
            ("CVE-2099-0002".to_string(), "app/old".to_string()),
        ],
        "{answer}"
    );

    // Nothing affected: exit 0; a file that is neither format: its name and what to give.
    let (code, answer) = audit(&serde_json::json!([]));
    assert_eq!((code, answer["findings"].as_array().unwrap().len()), (Some(0), 0));
    let file = env.path().join("odd.json");
    fs::write(&file, "[1, 2]").unwrap();
    let out = env.run(&["audit", "--registry", &server.address, "--advisories", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("odd.json") && stderr.contains("OSV"), "{stderr}");
}

#[test]
fn only_users_with_the_right_may_push_and_pull() {
    let Some(skopeo) = bale_testkit::require_tool("skopeo") else { return };
    let env = Env::new();
    let Some(layout) = image(&env, "example.com/guarded") else { return };
    let token = |name: &str| env.json(&["key", "token", "--name", name]);
    let (ci, reader) = (token("ci"), token("reader"));
    let auth = env.path().join("auth.toml");
    fs::write(
        &auth,
        format!(
            "[[user]]\nname = \"ci\"\ntoken_sha256 = \"{}\"\npush = [\"team/*\"]\n\n\
             [[user]]\nname = \"reader\"\ntoken_sha256 = \"{}\"\npull = [\"team/app\"]\n",
            ci["tokenSha256"].as_str().unwrap(),
            reader["tokenSha256"].as_str().unwrap()
        ),
    )
    .unwrap();
    let store = env.path().join("served");
    let server = Server::start_with(&store, &["--auth", auth.to_str().unwrap()]);
    let blobs = || fs::read_dir(store.join("blobs/sha256")).map(|d| d.count()).unwrap_or(0);
    let before = blobs();
    let credentials = |user: &serde_json::Value| {
        let file = env.path().join(format!("{}.json", user["name"].as_str().unwrap()));
        let basic = base64(&format!("{}:{}", user["name"].as_str().unwrap(), user["token"].as_str().unwrap()));
        fs::write(&file, serde_json::json!({"auths": {server.address.as_str(): {"auth": basic}}}).to_string()).unwrap();
        file
    };
    let push = |auth_file: Option<&Path>, repository: &str| {
        let mut command = env.bale();
        command.args(["push", layout.to_str().unwrap(), &format!("{}/{repository}:v1", server.address)]);
        command.env("REGISTRY_AUTH_FILE", auth_file.unwrap_or(Path::new("/nonexistent")));
        command.env("HOME", env.path());
        command.output().unwrap()
    };

    // No credentials, or a reader's: refused, and nothing enters the store.
    let anonymous = push(None, "team/app");
    assert!(!anonymous.status.success());
    assert!(
        String::from_utf8_lossy(&anonymous.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&anonymous.stderr)
    );
    let as_reader = push(Some(&credentials(&reader)), "team/app");
    let stderr = String::from_utf8_lossy(&as_reader.stderr);
    assert!(!as_reader.status.success() && stderr.contains("reader may not push to team/app"), "{stderr}");
    assert_eq!(blobs(), before, "refused pushes store nothing");

    // ci may push to team/*, not elsewhere.
    let as_ci = push(Some(&credentials(&ci)), "team/app");
    assert!(as_ci.status.success(), "{}", String::from_utf8_lossy(&as_ci.stderr));
    let elsewhere = push(Some(&credentials(&ci)), "other/app");
    let stderr = String::from_utf8_lossy(&elsewhere.stderr);
    // (Its first request is a HEAD, whose answer has no body to explain.)
    assert!(!elsewhere.status.success() && stderr.contains("403") && stderr.contains("other/app"), "{stderr}");

    // The reader pulls with skopeo; a wrong token does not.
    let pull = |creds: &str| {
        Command::new(&skopeo)
            .args(["copy", "--quiet", "--src-tls-verify=false", "--src-creds", creds])
            .arg(format!("docker://{}/team/app:v1", server.address))
            .arg(format!("oci:{}:latest", env.path().join("copy").display()))
            .output()
            .unwrap()
    };
    let ok = pull(&format!("reader:{}", reader["token"].as_str().unwrap()));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let wrong = pull(&format!("reader:{}", "0".repeat(64)));
    assert!(!wrong.status.success());

    // Without --auth, only loopback is served.
    let out = env.run(&["--store", store.to_str().unwrap(), "serve", "--listen", "0.0.0.0:0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("only on loopback"), "{stderr}");
}

fn base64(text: &str) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// The distribution spec's endpoints, walked with the same assertions
/// against any registry at `address` (pull, push monolithic and chunked,
/// content discovery, content management, the spec's error codes).
/// `strict`: the registry must also do what the spec says it SHOULD (the
/// referrers API, paginated tags); CNCF distribution 2.8 does neither,
/// and the walk says so where it falls short.
fn conformance(address: &str, strict: bool) {
    let base = format!("http://{address}/v2");
    let repo = format!("{base}/conformance/walk");
    let code = |body: &str| {
        serde_json::from_str::<serde_json::Value>(body).map(|v| v["errors"][0]["code"].clone()).unwrap_or_default()
    };
    let header = |head: &str, name: &str| {
        head.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).map(|v| v.trim().to_string())
    };
    let digest_of = |bytes: &[u8]| format!("sha256:{}", bale_fileset::sha256_bytes(bytes).hex());

    let (status, _, _) = curl(&[&format!("{base}/")]);
    assert_eq!(status, 200, "{address}: ping");

    // Push: a monolithic blob, and a chunked one in two PATCHes.
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = digest_of(config);
    let config_text = String::from_utf8_lossy(config).into_owned();
    let absolute = |location: String| {
        if location.starts_with("http") { location } else { format!("http://{address}{location}") }
    };
    // One POST with the digest (which a registry may answer with 202:
    // then the bytes go in the PUT to where it points).
    let monolithic = |bytes: &str, digest: &str| {
        let (status, head, body) =
            curl(&["-X", "POST", "--data-binary", bytes, &format!("{repo}/blobs/uploads/?digest={digest}")]);
        if status != 202 {
            return (status, head, body);
        }
        let location = absolute(header(&head, "location").unwrap());
        let separator = if location.contains('?') { '&' } else { '?' };
        curl(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            bytes,
            &format!("{location}{separator}digest={digest}"),
        ])
    };
    let (status, head, _) = monolithic(&config_text, &config_digest);
    assert_eq!(status, 201, "{address}: monolithic upload {head}");
    assert!(header(&head, "location").is_some(), "{address}: Location {head}");
    let layer = "layer bytes, in two chunks".repeat(100);
    let layer_digest = digest_of(layer.as_bytes());
    let (status, head, _) = curl(&["-X", "POST", &format!("{repo}/blobs/uploads/")]);
    assert_eq!(status, 202, "{address}: start an upload");
    let mut location = absolute(header(&head, "location").unwrap());
    let (first, second) = layer.split_at(1000);
    for (offset, chunk) in [(0, first), (1000, second)] {
        let range = format!("Content-Range: {offset}-{}", offset + chunk.len() - 1);
        let (status, head, body) = curl(&[
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/octet-stream",
            "-H",
            &range,
            "--data-binary",
            chunk,
            &location,
        ]);
        assert_eq!(status, 202, "{address}: chunk at {offset}: {head}{body}");
        assert_eq!(header(&head, "range").as_deref(), Some(format!("0-{}", offset + chunk.len() - 1).as_str()));
        location = absolute(header(&head, "location").unwrap());
    }
    let separator = if location.contains('?') { '&' } else { '?' };
    let (status, head, _) = curl(&["-X", "PUT", &format!("{location}{separator}digest={layer_digest}")]);
    assert_eq!(status, 201, "{address}: finish the upload {head}");
    assert_eq!(header(&head, "docker-content-digest").as_deref(), Some(layer_digest.as_str()));

    // Pull the blobs back, whole and by range.
    let (status, head, body) = curl(&[&format!("{repo}/blobs/{layer_digest}")]);
    assert_eq!((status, body.len()), (200, layer.len()), "{address}: {head}");
    let (status, _, body) = curl(&["-H", "Range: bytes=0-4", &format!("{repo}/blobs/{layer_digest}")]);
    assert_eq!((status, body.as_str()), (206, "layer"), "{address}: range");
    let (status, head, _) = curl(&["-I", &format!("{repo}/blobs/{config_digest}")]);
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-length").as_deref(), Some(config.len().to_string().as_str()));

    // A manifest by tag; read back by tag and by digest.
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}]
    })
    .to_string();
    let manifest_digest = digest_of(manifest.as_bytes());
    let put_manifest = |reference: &str, body: &str| {
        curl(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.manifest.v1+json",
            "--data-binary",
            body,
            &format!("{repo}/manifests/{reference}"),
        ])
    };
    let (status, head, body) = put_manifest("v1", &manifest);
    assert_eq!(status, 201, "{address}: manifest {head}{body}");
    assert_eq!(header(&head, "docker-content-digest").as_deref(), Some(manifest_digest.as_str()));
    for reference in ["v1", manifest_digest.as_str()] {
        let (status, head, body) = curl(&[
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            &format!("{repo}/manifests/{reference}"),
        ]);
        assert_eq!((status, body.as_str()), (200, manifest.as_str()), "{address}: GET manifest {reference}");
        assert_eq!(header(&head, "content-type").as_deref(), Some("application/vnd.oci.image.manifest.v1+json"));
    }

    // Content discovery: tags with pagination, the catalog, referrers.
    put_manifest("v2", &manifest);
    let (_, head, body) = curl(&[&format!("{repo}/tags/list?n=1")]);
    let tags = serde_json::from_str::<serde_json::Value>(&body).unwrap()["tags"].clone();
    if tags == serde_json::json!(["v1"]) {
        assert!(header(&head, "link").is_some_and(|l| l.contains("rel=\"next\"")), "{address}: Link {head}");
    } else {
        // The spec's SHOULD: bale serve must, others may not.
        assert!(!strict, "{address}: tags are not paginated: {tags}");
        assert_eq!(tags, serde_json::json!(["v1", "v2"]), "{address}");
        eprintln!("{address} ignores ?n= on tags/list");
    }
    let (_, _, body) = curl(&[&format!("{base}/_catalog")]);
    assert!(body.contains("conformance/walk"), "{address}: catalog {body}");
    let artifact = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.note",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "text/plain", "digest": layer_digest, "size": layer.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len()}
    })
    .to_string();
    let artifact_digest = digest_of(artifact.as_bytes());
    let (status, head, _) = put_manifest(&artifact_digest, &artifact);
    assert_eq!(status, 201, "{address}: a manifest with a subject");
    let (status, _, body) = curl(&[&format!("{repo}/referrers/{manifest_digest}")]);
    if strict {
        assert_eq!(header(&head, "oci-subject").as_deref(), Some(manifest_digest.as_str()));
        assert_eq!(status, 200);
        let index: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(index["manifests"][0]["digest"], artifact_digest.as_str());
        assert_eq!(index["manifests"][0]["artifactType"], "application/vnd.example.note");
    } else {
        eprintln!("{address} has no referrers API (HTTP {status}): its clients fall back to the sha256-<hex> tag");
        assert_eq!(status, 404, "{address}: no referrers API means 404");
    }

    // Cross-repository mount.
    let (status, _, _) = curl(&[
        "-X",
        "POST",
        &format!("{base}/conformance/other/blobs/uploads/?mount={layer_digest}&from=conformance/walk"),
    ]);
    assert_eq!(status, 201, "{address}: mount");

    // Errors, with the spec's codes.
    let zeros = format!("sha256:{}", "0".repeat(64));
    let (status, _, body) = curl(&[&format!("{repo}/manifests/nope")]);
    assert_eq!((status, code(&body)), (404, "MANIFEST_UNKNOWN".into()), "{address}");
    let (status, _, body) = curl(&[&format!("{repo}/blobs/{zeros}")]);
    assert_eq!(status, 404, "{address}: {body}");
    let (status, _, body) = monolithic("other bytes", &zeros);
    assert_eq!((status, code(&body)), (400, "DIGEST_INVALID".into()), "{address}");

    // Content management: a tag's manifest deleted by digest.
    let (status, _, _) = curl(&["-X", "DELETE", &format!("{repo}/manifests/{manifest_digest}")]);
    assert_eq!(status, 202, "{address}: delete");
    let (status, _, _) = curl(&[&format!("{repo}/manifests/{manifest_digest}")]);
    assert_eq!(status, 404, "{address}: deleted");
}

#[test]
fn bale_serve_and_cncf_distribution_pass_the_same_conformance_walk() {
    if bale_testkit::require_tool("curl").is_none() {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env.path().join("served"));
    conformance(&server.address, true);
    let Some(distribution) = common::registry::Registry::start() else { return };
    conformance(&distribution.address, false);
}

/// `rounds` rounds of pushes all at once: each layout (its index `n`) to
/// the two references `targets(n, round)` names, each by a client of its own.
fn race_pushes(env: &Env, layouts: &[PathBuf], rounds: usize, targets: impl Fn(usize, usize) -> [String; 2]) {
    for round in 0..rounds {
        let pushes: Vec<_> = layouts
            .iter()
            .enumerate()
            .flat_map(|(n, layout)| {
                targets(n, round).map(|target| {
                    env.bale()
                        .args(["--quiet", "push", layout.to_str().unwrap(), &target])
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
            })
            .collect();
        for push in pushes {
            let out = push.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

#[test]
fn concurrent_pushes_of_overlapping_images_lose_nothing() {
    let env = Env::new();
    let mut layouts = Vec::new();
    for n in 0..3 {
        let Some(layout) = image(&env, &format!("example.com/overlap{n}")) else { return };
        layouts.push(layout);
    }
    let server = Server::start(&env.path().join("served"));
    // Three clients at once, three rounds: the same shared layer raced in
    // every round, each image to a repository of its own and to a shared one.
    race_pushes(&env, &layouts, 3, |n, round| {
        [format!("{}/app/overlap{n}:r{round}", server.address), format!("{}/shared/all:i{n}r{round}", server.address)]
    });
    // Every image pulls whole into an empty store, and the index says
    // what each holds.
    for n in 0..3 {
        for reference in [format!("app/overlap{n}:r2"), format!("shared/all:i{n}r0")] {
            let fresh = Env::new();
            fresh.json(&["pull", &format!("{}/{reference}", server.address)]);
            let held = env.json(&["query", "--registry", &server.address, "--image", &reference]);
            let ids: Vec<&str> = held["packages"].as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
            assert!(ids.contains(&"example.com/busybox-root:all@1"), "{reference}: {ids:?}");
        }
    }
    let shared = env.json(&["query", "--registry", &server.address, "--id", "example.com/busybox-root:all@1"]);
    assert_eq!(shared["images"].as_array().unwrap().len(), 6, "3 repositories of one image each, 3 in shared/all");
}

#[test]
fn a_lost_index_is_rebuilt_from_the_journal() {
    if bale_testkit::require_tool("curl").is_none() {
        return;
    }
    let env = Env::new();
    let Some(layout) = image(&env, "example.com/journaled") else { return };
    // Signed, so the rebuilt index must know the signature again too.
    let key = env.path().join("release.key");
    env.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    let spec = env.path().join("example.com_journaled/bale.toml");
    env.ok(&["build", spec.to_str().unwrap(), "--output", layout.to_str().unwrap(), "--sign", key.to_str().unwrap()]);
    let store = env.path().join("served");
    let server = Server::start(&store);
    let pushed = env.json(&["push", layout.to_str().unwrap(), &format!("{}/app/j:v1", server.address)]);
    env.json(&["push", layout.to_str().unwrap(), &format!("{}/app/j:v2", server.address)]);
    let (status, _, _) = curl(&["-X", "DELETE", &format!("http://{}/v2/app/j/manifests/v2", server.address)]);
    assert_eq!(status, 202);
    let before = env.json(&["query", "--registry", &server.address, "--image", "app/j:v1"]);
    assert_eq!(before["signatures"].as_array().unwrap().len(), 1, "{before}");
    drop(server);

    // The index is lost; the journal is not.
    fs::remove_file(store.join("registry/index.sqlite")).unwrap();
    let _ = fs::remove_file(store.join("registry/index.sqlite-wal"));
    let server = Server::start_with(&store, &["--reindex"]);
    let fresh = Env::new();
    let pulled = fresh.json(&["pull", &format!("{}/app/j:v1", server.address)]);
    assert_eq!(pulled["manifest"], pushed["manifest"]);
    let (_, _, body) = curl(&[&format!("http://{}/v2/app/j/tags/list", server.address)]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["tags"],
        serde_json::json!(["v1"]),
        "v2 was deleted"
    );
    let after = env.json(&["query", "--registry", &server.address, "--image", "app/j:v1"]);
    assert_eq!(after, before, "what the image holds and who signed it, read again from its referrers");
}

/// podman with a throwaway store and runc, as the other podman tests run it.
fn podman(scratch: &Path) -> Option<Command> {
    let binary = bale_testkit::require_tool("podman")?;
    let state = scratch.join("podman");
    fs::create_dir_all(&state).unwrap();
    fs::write(
        state.join("containers.conf"),
        "[containers]\ndefault_ulimits = [\"nofile=4096:4096\", \"nproc=4096:4096\"]\nnetns = \"none\"\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
    )
    .unwrap();
    let mut command = Command::new(binary);
    command
        .env("CONTAINERS_CONF", state.join("containers.conf"))
        .arg("--root")
        .arg(state.join("root"))
        .arg("--runroot")
        .arg(state.join("runroot"))
        .args(["--storage-driver", "vfs"]);
    Some(command)
}

#[test]
fn podman_pulls_runs_and_pushes_through_bale_serve() {
    let env = Env::new();
    let Some(layout) = image(&env, "example.com/podman") else { return };
    if podman(env.path()).is_none() {
        return;
    }
    let server = Server::start(&env.path().join("served"));
    let reference = format!("{}/app/podman:v1", server.address);
    env.json(&["push", layout.to_str().unwrap(), &reference]);
    let run = |args: &[&str]| {
        let out = podman(env.path()).unwrap().args(args).output().unwrap();
        assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["pull", "--quiet", "--tls-verify=false", &reference]);
    let motd = run(&["run", "--rm", &reference, "/usr/bin/cat", "/etc/motd"]);
    assert_eq!(motd, "example.com/podman\n");
    let copy = format!("{}/podman/copy:v1", server.address);
    run(&["tag", &reference, &copy]);
    run(&["push", "--quiet", "--tls-verify=false", &copy]);
    let fresh = Env::new();
    let pulled = fresh.json(&["pull", &copy, "--output", fresh.path().join("copy").to_str().unwrap()]);
    assert!(pulled["manifest"].as_str().unwrap().starts_with("sha256:"), "{pulled}");
}

#[test]
fn a_signed_image_through_the_referrers_api_passes_a_policy_until_its_signature_is_removed() {
    if bale_testkit::require_tool("curl").is_none() {
        return;
    }
    let env = Env::new();
    if !common::busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let key = env.path().join("release.key");
    let generated = env.json(&["key", "generate", "--out", key.to_str().unwrap()]);
    let key_id = generated["keyId"].as_str().unwrap().to_string();
    env.ok(&["sign", "example.com/busybox-root@1", "--key", key.to_str().unwrap()]);
    let Some(layout) = image(&env, "example.com/trusted") else { return };
    // Signed after the build: the image's own signature, and the
    // package's, which travels with it.
    let dir = env.path().join("example.com_trusted");
    env.ok(&[
        "build",
        dir.join("bale.toml").to_str().unwrap(),
        "--output",
        layout.to_str().unwrap(),
        "--sign",
        key.to_str().unwrap(),
    ]);
    let policy = env.path().join("policy.toml");
    fs::write(
        &policy,
        format!(
            "[keys.release]\nfile = \"{}.pub\"\n\n[[rule]]\nmatch = \"example.com/\"\nsigned-by = [\"release\"]\n",
            key.display()
        ),
    )
    .unwrap();
    let server = Server::start(&env.path().join("served"));
    let reference = format!("{}/app/trusted:v1", server.address);
    let pushed = env.json(&["push", layout.to_str().unwrap(), &reference]);
    assert_eq!(pushed["referrerTags"], 0, "the referrers API: {pushed}");
    let guarded = Env::new();
    guarded.ok(&["pull", &reference, "--policy", policy.to_str().unwrap()]);
    let judged = guarded.json(&["verify", &reference, "--policy", policy.to_str().unwrap()]);
    assert_eq!(judged["verified"], true, "{judged}");

    // The index knows who signed what: the image's signature, and the
    // images a key signed.
    let held = env.json(&["query", "--registry", &server.address, "--image", "app/trusted:v1"]);
    let signatures = held["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1, "{held}");
    assert_eq!(signatures[0]["key"], key_id.as_str(), "{held}");
    assert_eq!(signatures[0]["predicateType"], "urn:bale:predicate:signature:v1", "{held}");
    let signed = env.json(&["query", "--registry", &server.address, "--signed-by", &key_id]);
    let images = signed["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{signed}");
    assert_eq!((&images[0]["repository"], &images[0]["tags"]), (&"app/trusted".into(), &serde_json::json!(["v1"])));
    let text = env.run(&["query", "--registry", &server.address, "--signed-by", &key_id]);
    assert!(String::from_utf8_lossy(&text.stdout).starts_with("app/trusted:v1  sha256:"), "{text:?}");

    // The image's signature removed from the registry: the same pull is
    // refused, and an empty store stays empty.
    let manifest = pushed["manifest"].as_str().unwrap();
    let (_, _, body) = curl(&[&format!(
        "http://{}/v2/app/trusted/referrers/{manifest}?artifactType=application/vnd.dev.sigstore.bundle.v0.3%2Bjson",
        server.address
    )]);
    let bundles: serde_json::Value = serde_json::from_str(&body).unwrap();
    for bundle in bundles["manifests"].as_array().unwrap() {
        let digest = bundle["digest"].as_str().unwrap();
        let (status, _, _) =
            curl(&["-X", "DELETE", &format!("http://{}/v2/app/trusted/manifests/{digest}", server.address)]);
        assert_eq!(status, 202);
    }
    let unsigned = env.json(&["query", "--registry", &server.address, "--signed-by", &key_id]);
    assert_eq!(unsigned["images"], serde_json::json!([]), "a deleted signature leaves the index: {unsigned}");
    let refused = Env::new();
    refused.ok(&["list"]);
    let before = refused.store_state();
    let out = refused.run(&["pull", &reference, "--policy", policy.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("does not meet the trust policy"), "{stderr}");
    assert_eq!(refused.store_state(), before, "nothing entered the store");
}

#[test]
fn a_locked_build_takes_pinned_packages_from_the_registry_after_the_archive_moved_on() {
    let env = Env::new();
    let Some((out, archive)) = debian_image(&env, "example.com/lasting", "3.0.11-1") else { return };
    let spec = env.path().join("example.com_lasting/bale.toml");
    let built = env.json(&["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    let server = Server::start(&env.path().join("served"));
    let prefix = format!("{}/packages", server.address);

    // Every package of the image pushed as an artifact of its own.
    let list = env.json(&["list"]);
    for package in list["packages"].as_array().unwrap() {
        let id = package["id"].as_str().unwrap();
        let pushed = env.json(&["push", id, &prefix]);
        assert!(pushed["reference"].as_str().unwrap().contains(":c-"), "{pushed}");
    }
    let (status, _, body) =
        curl(&[&format!("http://{}/v2/packages/debian/querysuite/libssl3/tags/list", server.address)]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("amd64-3.0.11-1"), "{body}");

    // The archive moves on: its pool is gone.
    fs::remove_dir_all(archive.root().join("pool")).unwrap();
    let other = Env::new();
    let failed =
        other.run(&["build", spec.to_str().unwrap(), "--output", other.path().join("a").to_str().unwrap(), "--locked"]);
    assert!(!failed.status.success(), "without the registry the archive is needed");

    // Named in the spec, the registry gives every pinned package, held to
    // the lock's content: the same image.
    let text = fs::read_to_string(&spec).unwrap();
    fs::write(&spec, format!("package_registry = \"{prefix}\"\n{text}")).unwrap();
    let rebuilt = other.json(&[
        "build",
        spec.to_str().unwrap(),
        "--output",
        other.path().join("b").to_str().unwrap(),
        "--locked",
    ]);
    assert_eq!(rebuilt["manifest"], built["manifest"], "{rebuilt}");
    assert_eq!(rebuilt["fromRegistry"].as_array().unwrap().len(), list["packages"].as_array().unwrap().len());
}

#[test]
fn two_stateless_nodes_on_s3_and_postgresql_serve_what_either_took() {
    let (Some(_), Some(umoci)) = (bale_testkit::require_tool("skopeo"), bale_testkit::require_tool("umoci")) else {
        return;
    };
    let Some(storage) = common::hosting::ObjectStorage::start() else { return };
    let Some(database) = common::hosting::Postgres::start() else { return };
    let env = Env::new();
    let Some(layout) = image(&env, "example.com/shared") else { return };
    let key = env.path().join("release.key");
    let key_id = env.json(&["key", "generate", "--out", key.to_str().unwrap()])["keyId"].as_str().unwrap().to_string();
    let spec = env.path().join("example.com_shared/bale.toml");
    env.ok(&["build", spec.to_str().unwrap(), "--output", layout.to_str().unwrap(), "--sign", key.to_str().unwrap()]);
    let unused = env.path().join("no-store");
    // A over TLS to the database, checking its certificate; B without.
    let a = Server::start_shared_with(
        &unused,
        &storage,
        &database.tls_url,
        &[("PGSSLROOTCERT", database.ca.as_path())],
        "registry",
    );
    let b = Server::start_shared(&unused, &storage, &database, "registry");
    // A database whose certificate is not trusted is refused at start.
    let untrusted = env
        .bale()
        .args(["serve", "--listen", "127.0.0.1:0", "--blobs", "s3://bale/registry", "--index", &database.tls_url])
        .envs(storage.env())
        .env("PGSSLROOTCERT", &key)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(!untrusted.status.success() && stderr.contains("registry database"), "{stderr}");

    // The whole conformance walk through one node.
    conformance(&a.address, true);

    // Pushed through A; pulled, its SBOM read and its packages asked
    // about through B.
    let pushed = env.json(&["push", layout.to_str().unwrap(), &format!("{}/app/shared:v1", a.address)]);
    assert_eq!(pushed["referrerTags"], 0, "the referrers API: {pushed}");
    let manifest = pushed["manifest"].as_str().unwrap().to_string();
    let fresh = Env::new();
    let pulled_dir = fresh.path().join("pulled");
    let pulled =
        fresh.json(&["pull", &format!("{}/app/shared:v1", b.address), "--output", pulled_dir.to_str().unwrap()]);
    assert_eq!(pulled["manifest"], manifest.as_str(), "{pulled}");
    let sbom = fresh.run(&["sbom", &format!("{}:v1", pulled_dir.display())]);
    assert!(String::from_utf8_lossy(&sbom.stdout).contains("SPDX"), "{}", String::from_utf8_lossy(&sbom.stderr));
    let held = env.json(&["query", "--registry", &b.address, "--image", "app/shared:v1"]);
    let ids: Vec<&str> = held["packages"].as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
    assert!(ids.contains(&"example.com/busybox-root:all@1"), "{held}");
    // Another repository: every blob mounted, none sent; a mount through
    // B of what went in through A.
    let again = env.json(&["push", layout.to_str().unwrap(), &format!("{}/other/shared:v1", a.address)]);
    assert_eq!(again["blobsSent"], 0, "{again}");
    let (_, _, body) = curl(&[
        &format!("http://{}/v2/app/shared/manifests/v1", b.address),
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
    ]);
    let layer =
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["layers"][0]["digest"].as_str().unwrap().to_string();
    let (status, head, _) = curl(&[
        "-X",
        "POST",
        &format!("http://{}/v2/third/shared/blobs/uploads/?mount={layer}&from=app/shared", b.address),
    ]);
    assert_eq!(status, 201, "{head}");
    let sharing = env.json(&["query", "--registry", &a.address, "--id", "example.com/busybox-root:all@1"]);
    assert_eq!(sharing["images"].as_array().unwrap().len(), 2, "{sharing}");
    let signed = env.json(&["query", "--registry", &b.address, "--signed-by", &key_id]);
    assert_eq!(signed["images"].as_array().unwrap().len(), 2, "both repositories hold the signed image: {signed}");

    // Clients racing through both nodes: three overlapping images, each to
    // a repository of its own through A and to a shared one through B, in
    // two rounds. Every image pulls whole through the other node, and the
    // index agrees.
    let mut layouts = Vec::new();
    for n in 0..3 {
        let Some(layout) = image(&env, &format!("example.com/race{n}")) else { return };
        layouts.push(layout);
    }
    race_pushes(&env, &layouts, 2, |n, round| {
        [format!("{}/race/own{n}:r{round}", a.address), format!("{}/race/all:i{n}r{round}", b.address)]
    });
    for n in 0..3 {
        for (node, reference) in [(&b, format!("race/own{n}:r1")), (&a, format!("race/all:i{n}r0"))] {
            let fresh = Env::new();
            fresh.json(&["pull", &format!("{}/{reference}", node.address)]);
            let held = env.json(&["query", "--registry", &node.address, "--image", &reference]);
            assert!(held["packages"].as_array().is_some_and(|p| !p.is_empty()), "{reference}: {held}");
        }
    }
    let everywhere = env.json(&["query", "--registry", &b.address, "--id", "example.com/busybox-root:all@1"]);
    assert_eq!(everywhere["images"].as_array().unwrap().len(), 2 + 3 + 3, "{everywhere}");

    // A chunked upload moving between nodes: started on A, a chunk on B,
    // a stale chunk on A refused, finished on B.
    let location_of = |head: &str| head.lines().find_map(|l| l.strip_prefix("location: ")).unwrap().trim().to_string();
    let (status, head, _) = curl(&["-X", "POST", &format!("http://{}/v2/moving/blob/blobs/uploads/", a.address)]);
    assert_eq!(status, 202, "{head}");
    let location = location_of(&head);
    let at = |server: &Server| format!("http://{}{location}", server.address);
    let (status, head, _) = curl(&[
        "-X",
        "PATCH",
        "-H",
        "Content-Range: 0-9",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        "first part",
        &at(&b),
    ]);
    assert_eq!(status, 202, "{head}");
    assert!(head.contains("range: 0-9"), "{head}");
    let (status, _, _) = curl(&["-X", "PATCH", "-H", "Content-Range: 0-4", "--data-binary", "stale", &at(&a)]);
    assert_eq!(status, 416, "a chunk at an offset the upload has passed");
    let whole = b"first part, second part";
    let digest = format!("sha256:{}", bale_fileset::sha256_bytes(whole).hex());
    let (status, head, _) =
        curl(&["-X", "PUT", "--data-binary", ", second part", &format!("{}?digest={digest}", at(&b))]);
    assert_eq!(status, 201, "{head}");
    let (status, _, body) = curl(&[&format!("http://{}/v2/moving/blob/blobs/{digest}", a.address)]);
    assert_eq!((status, body.as_bytes()), (200, &whole[..]));

    // A node killed in the middle of an upload: nothing partial is ever
    // served, and the upload lives on in the shared state, so another
    // node finishes it.
    let c = Server::start_shared(&unused, &storage, &database, "registry");
    let (_, head, _) = curl(&["-X", "POST", &format!("http://{}/v2/crash/repo/blobs/uploads/", c.address)]);
    let location = location_of(&head);
    let (status, _, _) =
        curl(&["-X", "PATCH", "--data-binary", "half of a blob", &format!("http://{}{location}", c.address)]);
    assert_eq!(status, 202);
    c.kill_hard();
    let whole = b"half of a blob, and the rest";
    let digest = format!("sha256:{}", bale_fileset::sha256_bytes(whole).hex());
    let half = format!("sha256:{}", bale_fileset::sha256_bytes(b"half of a blob").hex());
    for unfinished in [&half, &digest] {
        let (status, _, _) = curl(&[&format!("http://{}/v2/crash/repo/blobs/{unfinished}", a.address)]);
        assert_eq!(status, 404, "an unfinished blob is not served");
    }
    let (status, head, _) = curl(&[&format!("http://{}{location}", a.address)]);
    assert_eq!(status, 204, "{head}");
    assert!(head.contains("range: 0-13"), "{head}");
    let (status, head, _) = curl(&[
        "-X",
        "PUT",
        "--data-binary",
        ", and the rest",
        &format!("http://{}{location}?digest={digest}", b.address),
    ]);
    assert_eq!(status, 201, "{head}");
    let (status, _, body) = curl(&[&format!("http://{}/v2/crash/repo/blobs/{digest}", a.address)]);
    assert_eq!((status, body.as_bytes()), (200, &whole[..]));

    // A wrong digest ends the upload and stores nothing.
    let (_, head, _) = curl(&["-X", "POST", &format!("http://{}/v2/crash/repo/blobs/uploads/", a.address)]);
    let location = location_of(&head);
    let claimed = format!("sha256:{}", bale_fileset::sha256_bytes(b"what was claimed").hex());
    let (status, _, body) = curl(&[
        "-X",
        "PUT",
        "--data-binary",
        "what was sent",
        &format!("http://{}{location}?digest={claimed}", b.address),
    ]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("DIGEST_INVALID"), "{body}");
    let (status, _, _) = curl(&[&format!("http://{}/v2/crash/repo/blobs/{claimed}", a.address)]);
    assert_eq!(status, 404);

    // A real client through B: skopeo copies the image out, umoci unpacks it.
    let back = env.path().join("back");
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{}/app/shared:v1", b.address))
        .arg(format!("oci:{}:latest", back.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
    let bundle = env.path().join("bundle");
    common::oci::umoci_unpack(&umoci, &back, &bundle, false);
    assert_eq!(fs::read_to_string(bundle.join("rootfs/etc/motd")).unwrap(), "example.com/shared\n");

    // gc beside the running nodes: a blob no repository links any more is
    // removed from the bucket; everything named stays, and still pulls.
    let monolithic = |repository: &str, bytes: &str| {
        let digest = format!("sha256:{}", bale_fileset::sha256_bytes(bytes.as_bytes()).hex());
        let url = format!("http://{}/v2/{repository}/blobs/uploads/?digest={digest}", a.address);
        let (status, head, _) = curl(&["-X", "POST", "--data-binary", bytes, &url]);
        assert_eq!(status, 201, "{head}");
        digest
    };
    let dropped = monolithic("gc/dropped", "a blob nobody will name");
    let kept = monolithic("gc/kept", "a blob a repository names");
    let (status, _, _) = curl(&["-X", "DELETE", &format!("http://{}/v2/gc/dropped/blobs/{dropped}", b.address)]);
    assert_eq!(status, 202);
    let object = |digest: &str| {
        let url = format!(
            "{}/{}/registry/blobs/sha256/{}",
            storage.endpoint,
            storage.bucket,
            digest.trim_start_matches("sha256:")
        );
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-I", "--aws-sigv4", "aws:amz:us-east-1:s3"])
            .arg("--user")
            .arg(format!("{}:{}", storage.access_key, storage.secret_key))
            .arg(url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!((object(&dropped).as_str(), object(&kept).as_str()), ("200", "200"));
    let gc = |dry_run: bool| {
        let mut args = vec!["store", "gc", "--blobs", "s3://bale/registry", "--index", database.url.as_str()];
        if dry_run {
            args.push("--dry-run");
        }
        let out = env.bale().arg("--json").args(&args).envs(storage.env()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let planned = gc(true);
    assert!(planned["blobsRemoved"].as_u64().unwrap() >= 1, "{planned}");
    assert_eq!(object(&dropped), "200", "a dry run removes nothing");
    let collected = gc(false);
    assert_eq!(collected["blobsRemoved"], planned["blobsRemoved"], "{collected}");
    assert_eq!((object(&dropped).as_str(), object(&kept).as_str()), ("404", "200"));
    assert_eq!(gc(false)["blobsRemoved"], 0, "nothing left to collect");
    let after_gc = Env::new();
    let pulled = after_gc.json(&["pull", &format!("{}/app/shared:v1", b.address)]);
    assert_eq!(pulled["manifest"], manifest.as_str(), "{pulled}");
    // A blob collected can be pushed again.
    assert_eq!(monolithic("gc/again", "a blob nobody will name"), dropped);
    assert_eq!(object(&dropped), "200");

    // Neither node kept anything of its own.
    assert!(!unused.exists(), "a shared node made {}", unused.display());
}

#[test]
fn bale_serve_over_tls_answers_clients_that_trust_its_certificate() {
    let (Some(openssl), Some(_), Some(_)) = (
        bale_testkit::require_tool("openssl"),
        bale_testkit::require_tool("skopeo"),
        bale_testkit::require_tool("curl"),
    ) else {
        return;
    };
    let env = Env::new();
    let Some(layout) = image(&env, "example.com/tls") else { return };
    // A certificate for 127.0.0.1, made now; the clients trust it as a CA.
    let certs = env.path().join("certs");
    fs::create_dir_all(&certs).unwrap();
    let (cert, key) = (certs.join("ca.crt"), env.path().join("key.pem"));
    common::hosting::loopback_certificate(&openssl, &cert, &key);
    let server = Server::start_with(
        &env.path().join("served"),
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    let url = format!("https://{}/v2/", server.address);
    let (status, _, body) = curl(&["--cacert", cert.to_str().unwrap(), &url]);
    assert_eq!((status, body.as_str()), (200, "{}"));
    // A client that does not trust it, and one speaking plain HTTP, get
    // nothing from the registry.
    let (status, _, _) = curl(&[&url]);
    assert_eq!(status, 0, "an untrusted certificate is refused by curl");
    let (status, _, _) = curl(&[&format!("http://{}/v2/", server.address)]);
    assert_ne!(status, 200, "plain HTTP to the TLS port");

    // skopeo pushes in and pulls out over TLS, checking the certificate.
    let target = format!("docker://{}/tls/app:v1", server.address);
    let copy = |from: &str, to: &str, flag: &str| {
        let out =
            Command::new("skopeo").args(["copy", "--quiet", flag, certs.to_str().unwrap(), from, to]).output().unwrap();
        assert!(out.status.success(), "skopeo copy {from} {to}: {}", String::from_utf8_lossy(&out.stderr));
    };
    copy(&format!("oci:{}:latest", layout.display()), &target, "--dest-cert-dir");
    let back = env.path().join("back");
    copy(&target, &format!("oci:{}:latest", back.display()), "--src-cert-dir");
    let index: serde_json::Value = serde_json::from_slice(&fs::read(back.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
}

/// One HTTP/1.1 request over a fresh connection: its status. For loops
/// of many small requests, where a curl process each would dominate.
fn request(address: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn a_journal_of_churn_is_compacted_at_start_and_replays_to_the_same_index() {
    if bale_testkit::require_tool("curl").is_none() {
        return;
    }
    let env = Env::new();
    let Some(layout) = image(&env, "example.com/churn") else { return };
    let store = env.path().join("served");
    let server = Server::start(&store);
    env.json(&["push", layout.to_str().unwrap(), &format!("{}/app/churn:v1", server.address)]);

    // One server per store: a second is refused, saying why.
    let second = env.run(&["--store", store.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success() && stderr.contains("another bale serve"), "{stderr}");

    // Tag churn: 300 tags pointed at the image and deleted again.
    let media_type = "application/vnd.oci.image.manifest.v1+json";
    let (_, _, manifest) = curl(&[
        &format!("http://{}/v2/app/churn/manifests/v1", server.address),
        "-H",
        &format!("Accept: {media_type}"),
    ]);
    for n in 0..300 {
        let path = format!("/v2/app/churn/manifests/t{n}");
        assert_eq!(request(&server.address, "PUT", &path, media_type, manifest.as_bytes()), 201);
        assert_eq!(request(&server.address, "DELETE", &path, "text/plain", b""), 202);
    }
    let state = |server: &Server| {
        let (_, _, tags) = curl(&[&format!("http://{}/v2/app/churn/tags/list", server.address)]);
        let held = env.json(&["query", "--registry", &server.address, "--image", "app/churn:v1"]);
        (tags, held)
    };
    let before = state(&server);
    drop(server);
    let journal = store.join("registry/journal.jsonl");
    let churned = fs::metadata(&journal).unwrap().len();

    // Restarted: the journal is the few records of what is there now.
    let server = Server::start(&store);
    let compacted = fs::metadata(&journal).unwrap().len();
    assert!(compacted * 10 < churned, "{churned} bytes of journal compacted to {compacted}");
    assert_eq!(state(&server), before);
    drop(server);

    // And the compacted journal alone rebuilds the same index.
    fs::remove_file(store.join("registry/index.sqlite")).unwrap();
    let _ = fs::remove_file(store.join("registry/index.sqlite-wal"));
    let server = Server::start_with(&store, &["--reindex"]);
    assert_eq!(state(&server), before);
    let fresh = Env::new();
    fresh.json(&["pull", &format!("{}/app/churn:v1", server.address)]);
}
