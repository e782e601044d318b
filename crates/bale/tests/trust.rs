//! Signing keys, checked by a tool bale did not write (OpenSSL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::Env;

#[test]
fn generated_keys_are_standard_pem_and_never_replaced() {
    let Some(openssl) = bale_testkit::require_tool("openssl") else { return };
    let env = Env::new();
    for (algorithm, openssl_says) in [("ecdsa-p256", "prime256v1"), ("ed25519", "ED25519")] {
        let private = env.path().join(format!("{algorithm}.key"));
        let made = env.json(&["key", "generate", "--out", private.to_str().unwrap(), "--algorithm", algorithm]);
        let public = env.path().join(format!("{algorithm}.key.pub"));
        assert_eq!(made["public"], public.to_str().unwrap());
        assert_eq!(fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600, "the private key is private");

        let text =
            Command::new(&openssl).args(["pkey", "-pubin", "-noout", "-text", "-in"]).arg(&public).output().unwrap();
        assert!(text.status.success(), "{}", String::from_utf8_lossy(&text.stderr));
        let text = String::from_utf8_lossy(&text.stdout).into_owned();
        let private_text =
            Command::new(&openssl).args(["pkey", "-noout", "-text", "-in"]).arg(&private).output().unwrap();
        assert!(private_text.status.success(), "{}", String::from_utf8_lossy(&private_text.stderr));
        if algorithm == "ecdsa-p256" {
            assert!(text.contains(openssl_says) || text.contains("P-256"), "{text}");
        } else {
            assert!(text.contains(openssl_says), "{text}");
        }
        // The key id is the sha256 of the public key's DER.
        let der =
            Command::new(&openssl).args(["pkey", "-pubin", "-outform", "DER", "-in"]).arg(&public).output().unwrap();
        assert_eq!(made["keyId"], bale_fileset::sha256_bytes(&der.stdout).hex());

        let before = fs::read(&private).unwrap();
        let out = env.run(&["key", "generate", "--out", private.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("never replaces a key"), "{stderr}");
        assert_eq!(fs::read(&private).unwrap(), before);
    }
    // A link planted at the name is not written through.
    let target = env.path().join("elsewhere");
    std::os::unix::fs::symlink(&target, env.path().join("planted.key")).unwrap();
    let out = env.run(&["key", "generate", "--out", env.path().join("planted.key").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(!target.exists());
}

/// An image spec over the busybox root, named `name`.
fn image_spec(env: &Env, name: &str) -> std::path::PathBuf {
    let dir = env.path().join(name.replace('/', "_"));
    fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("bale.toml");
    fs::write(&spec, format!("name = \"{name}\"\npackages = [\"example.com/busybox-root@1\"]\n")).unwrap();
    spec
}

#[test]
fn signed_images_verify_only_with_their_key_and_for_themselves() {
    let env = Env::new();
    if !common::busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let key = env.path().join("release.key");
    let other_key = env.path().join("other.key");
    env.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    env.ok(&["key", "generate", "--out", other_key.to_str().unwrap(), "--algorithm", "ed25519"]);
    let public = format!("{}.pub", key.display());
    let other_public = format!("{}.pub", other_key.display());

    let a = env.path().join("a");
    let spec_a = image_spec(&env, "example.com/a");
    let built = env.json(&[
        "build",
        spec_a.to_str().unwrap(),
        "--output",
        a.to_str().unwrap(),
        "--sign",
        key.to_str().unwrap(),
    ]);
    let verified = env.json(&["verify", a.to_str().unwrap(), "--key", &public]);
    assert_eq!(verified["verified"], true, "{verified}");
    assert_eq!(verified["images"][0]["manifest"], built["manifest"]["digest"]);
    assert_eq!(verified["images"][0]["name"], "example.com/a");
    // Signing changed no digest of the image: built again unsigned, the
    // same manifest.
    let unsigned = env.path().join("unsigned");
    let plain = env.json(&["build", spec_a.to_str().unwrap(), "--output", unsigned.to_str().unwrap()]);
    assert_eq!(plain["manifest"], built["manifest"]);
    let refused = |layout: &Path, key: &str, needle: &str| {
        let out = env.run(&["verify", layout.to_str().unwrap(), "--key", key]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains(needle), "{needle:?} not in {stdout}");
    };
    refused(&unsigned, &public, "no signature is attached");
    refused(&a, &other_public, "does not verify with any trusted key");
    // Both keys trusted: the one that signed counts.
    let both = env.json(&["verify", a.to_str().unwrap(), "--key", &other_public, "--key", &public]);
    assert_eq!(both["verified"], true);

    // The bundle, as the layout holds it.
    let index_path = a.join("index.json");
    let index: serde_json::Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let referrer = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json")
        .unwrap()
        .clone();
    let blob = |digest: &str| a.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(blob(referrer["digest"].as_str().unwrap())).unwrap()).unwrap();
    let bundle_path = blob(manifest["layers"][0]["digest"].as_str().unwrap());
    let bundle: serde_json::Value = serde_json::from_slice(&fs::read(&bundle_path).unwrap()).unwrap();
    assert_eq!(
        bundle["verificationMaterial"]["publicKey"]["hint"],
        verified["images"][0]["signatures"][0]["signedBy"][0]
    );
    let statement = base64_decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap());
    let statement: serde_json::Value = serde_json::from_slice(&statement).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["subject"][0]["name"], "example.com/a");
    assert_eq!(
        format!("sha256:{}", statement["subject"][0]["digest"]["sha256"].as_str().unwrap()),
        built["manifest"]["digest"].as_str().unwrap()
    );

    // The signature of A put on image B (the referrer rewritten to name
    // B as its subject) is refused: its statement names A.
    let b = env.path().join("b");
    let spec_b = image_spec(&env, "example.com/b");
    fs::write(&spec_b, format!("{}\n[files.\"/etc/b\"]\ncontent = \"b\"\n", fs::read_to_string(&spec_b).unwrap()))
        .unwrap();
    let built_b = env.json(&["build", spec_b.to_str().unwrap(), "--output", b.to_str().unwrap()]);
    let mut moved = manifest.clone();
    moved["subject"]["digest"] = built_b["manifest"]["digest"].clone();
    moved["subject"]["size"] = built_b["manifest"]["size"].clone();
    let moved_bytes = serde_json::to_vec(&moved).unwrap();
    let moved_digest = bale_fileset::sha256_bytes(&moved_bytes).hex();
    let b_blob = |hex: &str| b.join("blobs/sha256").join(hex);
    fs::write(b_blob(&moved_digest), &moved_bytes).unwrap();
    fs::copy(&bundle_path, b_blob(manifest["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:")))
        .unwrap();
    let mut b_index: serde_json::Value = serde_json::from_slice(&fs::read(b.join("index.json")).unwrap()).unwrap();
    let mut entry = referrer.clone();
    entry["digest"] = format!("sha256:{moved_digest}").into();
    entry["size"] = moved_bytes.len().into();
    b_index["manifests"].as_array_mut().unwrap().push(entry);
    fs::write(b.join("index.json"), serde_json::to_vec(&b_index).unwrap()).unwrap();
    refused(&b, &public, "it was made for example.com/a");

    // Through a registry without the referrers API and back: the pulled
    // image verifies, in a store that never saw the key's signature made.
    if let Some(registry) = common::registry::Registry::start() {
        let reference = format!("{}/signed/a:v1", registry.address);
        let pushed = env.json(&["push", a.to_str().unwrap(), &reference]);
        assert_eq!(pushed["referrers"], 3, "two SBOMs and the signature: {pushed}");
        let other = Env::new();
        other.ok(&["pull", &reference, "--output", other.path().join("pulled").to_str().unwrap()]);
        let verified = other.json(&["verify", &reference, "--key", &public]);
        assert_eq!(verified["verified"], true, "{verified}");
        let out = other.run(&["verify", &reference, "--key", &other_public]);
        assert_eq!(out.status.code(), Some(1));

        // A pull guarded by a policy: the signed image passes.
        let policy = env.path().join("policy.toml");
        fs::write(
            &policy,
            format!(
                "[keys.release]\nfile = \"{public}\"\n\n[[rule]]\nmatch = \"example.com/\"\nsigned-by = [\"release\"]\n"
            ),
        )
        .unwrap();
        // Its package is not signed by release: refused, naming it, with
        // nothing stored.
        let guarded = Env::new();
        guarded.ok(&["list"]);
        let before = guarded.store_state();
        let out = guarded.run(&["pull", &reference, "--policy", policy.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains("its package example.com/busybox-root:all@1 does not meet the trust policy"),
            "{stderr}"
        );
        assert!(stderr.contains("a signature by 1 of release"), "{stderr}");
        assert_eq!(guarded.store_state(), before, "nothing entered the store");
        // Signed, the package's signature travels with the image built
        // next (the same image: the same manifest digest) and the pull
        // passes in a store that never held the package.
        env.ok(&["sign", "example.com/busybox-root@1", "--key", key.to_str().unwrap()]);
        let a2 = env.path().join("a2");
        let rebuilt = env.json(&[
            "build",
            spec_a.to_str().unwrap(),
            "--output",
            a2.to_str().unwrap(),
            "--sign",
            key.to_str().unwrap(),
        ]);
        assert_eq!(rebuilt["manifest"], built["manifest"]);
        let pushed = env.json(&["push", a2.to_str().unwrap(), &reference]);
        assert_eq!(pushed["referrers"], 4, "two SBOMs, the signature and the package trust: {pushed}");
        guarded.ok(&["pull", &reference, "--policy", policy.to_str().unwrap()]);
        let judged = guarded.json(&["verify", &reference, "--policy", policy.to_str().unwrap()]);
        assert_eq!(judged["verified"], true, "{judged}");
        let package = &judged["images"][0]["packages"][0];
        assert_eq!(package["name"], "example.com/busybox-root:all@1", "{judged}");
        assert_eq!(package["tie"]["kind"], "ownLayer", "{judged}");
        assert_eq!(package["policy"]["counted"], serde_json::json!(["release"]), "{judged}");
        // An unsigned image that names itself into a lax rule is judged by
        // where it was pulled from, not by the name it claims.
        let lax = env.path().join("lax.toml");
        fs::write(
            &lax,
            format!("{}\n[[rule]]\nmatch = \"debian:*\"\nany = true\n", fs::read_to_string(&policy).unwrap()),
        )
        .unwrap();
        let claimed = env.path().join("claimed");
        let spec_claimed = image_spec(&env, "debian:x");
        env.ok(&["build", spec_claimed.to_str().unwrap(), "--output", claimed.to_str().unwrap()]);
        let claimed_reference = format!("{}/signed/claimed:v1", registry.address);
        env.ok(&["push", claimed.to_str().unwrap(), &claimed_reference]);
        let out = Env::new().run(&["pull", &claimed_reference, "--policy", lax.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("no rule"), "{stderr}");
        // With its signature gone from the registry (the fallback tag
        // emptied), the same pull is refused and the store is unchanged.
        let Some(curl) = bale_testkit::require_tool("curl") else { return };
        let subject = built["manifest"]["digest"].as_str().unwrap().replace(':', "-");
        let emptied = Command::new(curl)
            .args(["-sf", "-X", "PUT", "-H", "Content-Type: application/vnd.oci.image.index.v1+json", "--data"])
            .arg(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#)
            .arg(format!("http://{}/v2/signed/a/manifests/{subject}", registry.address))
            .output()
            .unwrap();
        assert!(emptied.status.success(), "{}", String::from_utf8_lossy(&emptied.stderr));
        let fresh = Env::new();
        fresh.ok(&["list"]);
        let before = fresh.store_state();
        let out = fresh.run(&["pull", &reference, "--policy", policy.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("does not meet the trust policy"), "{stderr}");
        assert!(stderr.contains("nothing was pulled"), "{stderr}");
        assert_eq!(fresh.store_state(), before, "nothing entered the store");
    }

    // An implementation bale did not write (securesystemslib, from PyPI)
    // verifies the envelope with the exported public key, and refuses it
    // once a byte of the statement changed (below).
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/verify_dsse.py");
    let securesystemslib = Command::new("python3").args(["-c", "import securesystemslib.dsse, cryptography"]).status();
    let independent = if securesystemslib.is_ok_and(|s| s.success()) {
        let key_id = verified["images"][0]["signatures"][0]["signedBy"][0].as_str().unwrap().to_string();
        let public = public.clone();
        let run = move |bundle: &Path| {
            Command::new("python3").arg(&checker).arg(bundle).arg(&public).arg(&key_id).output().unwrap()
        };
        let out = run(&bundle_path);
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "verified example.com/a\n");
        Some(run)
    } else {
        bale_testkit::missing("securesystemslib and cryptography from PyPI (pip install 'securesystemslib[crypto]')");
        None
    };

    // One byte of the signed statement changed: refused.
    let mut tampered = bundle.clone();
    let mut payload = base64_decode(tampered["dsseEnvelope"]["payload"].as_str().unwrap());
    let at = payload.windows(13).position(|w| w == b"example.com/a").unwrap() + 12;
    payload[at] = b'z';
    tampered["dsseEnvelope"]["payload"] = base64_encode(&payload).into();
    fs::set_permissions(&bundle_path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&bundle_path, serde_json::to_vec(&tampered).unwrap()).unwrap();
    let out = env.run(&["verify", a.to_str().unwrap(), "--key", &public]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    if let Some(run) = independent {
        let out = run(&bundle_path);
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let out = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    out.stdin.as_ref().unwrap().write_all(text.as_bytes()).unwrap();
    out.wait_with_output().unwrap().stdout
}

fn base64_encode(bytes: &[u8]) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    out.stdin.as_ref().unwrap().write_all(bytes).unwrap();
    String::from_utf8(out.wait_with_output().unwrap().stdout).unwrap()
}

#[test]
fn packages_are_signed_beside_their_content() {
    let env = Env::new();
    let key = env.path().join("k.key");
    let other_key = env.path().join("o.key");
    env.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    env.ok(&["key", "generate", "--out", other_key.to_str().unwrap()]);
    let public = format!("{}.pub", key.display());
    let other_public = format!("{}.pub", other_key.display());
    let tree = env.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("hello"), "hello\n").unwrap();
    let packed = env.json(&["pack", tree.to_str().unwrap(), "--name", "example.com/hello", "--version", "1"]);
    let id = packed["id"].as_str().unwrap().to_string();
    let status = |args: &[&str]| env.run(args).status.code();

    assert_eq!(status(&["verify", &id, "--key", &public]), Some(1), "unsigned");
    let signed = env.json(&["sign", &id, "--key", key.to_str().unwrap()]);
    assert_eq!(signed["manifest"], packed["manifest"]["digest"]);
    let verified = env.json(&["verify", &id, "--key", &public]);
    assert_eq!(verified["verified"], true, "{verified}");
    assert_eq!(verified["images"][0]["name"], id.as_str());
    assert_eq!(status(&["verify", &id, "--key", &other_public]), Some(1), "another key");
    // The package itself did not change, and gc keeps the signature.
    assert_eq!(env.json(&["inspect", &id])["manifest"]["digest"], packed["manifest"]["digest"]);
    env.ok(&["store", "gc"]);
    assert_eq!(env.json(&["verify", &id, "--key", &public])["verified"], true);

    // Packed again with other content under the same id: the signature was
    // for what the id named before, and counts no more.
    fs::write(tree.join("hello"), "changed\n").unwrap();
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "example.com/hello", "--version", "1", "--replace"]);
    assert_eq!(status(&["verify", &id, "--key", &public]), Some(1), "signed content was replaced");
    // Removed, its signatures go with it.
    env.ok(&["sign", &id, "--key", key.to_str().unwrap()]);
    env.ok(&["remove", &id]);
    let index = fs::read_to_string(env.store().join("index.json")).unwrap();
    assert!(!index.contains("vnd.bale.package.referrer"), "{index}");
}

#[test]
fn a_policy_counts_rebuilders_and_guards_the_build() {
    let env = Env::new();
    if !common::busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let dir = env.path().join("policy");
    fs::create_dir_all(&dir).unwrap();
    for name in ["r1", "r2", "r3", "release"] {
        env.ok(&["key", "generate", "--out", dir.join(format!("{name}.key")).to_str().unwrap()]);
    }
    let write_policy = |extra: &str| {
        fs::write(
            dir.join("policy.toml"),
            format!(
                "[keys.r1]\nfile = \"r1.key.pub\"\n[keys.r2]\nfile = \"r2.key.pub\"\n{extra}\n\
                 [keys.r3]\nfile = \"r3.key.pub\"\n[keys.release]\nfile = \"release.key.pub\"\n\n\
                 [[rule]]\nmatch = \"example.com/tool\"\nattested-by = [\"r1\", \"r2\", \"r3\"]\nthreshold = 2\n\n\
                 [[rule]]\nmatch = \"example.com/\"\nsigned-by = [\"release\"]\n"
            ),
        )
        .unwrap();
    };
    write_policy("");
    let policy = dir.join("policy.toml");
    let recipe = env.path().join("tool/tool.recipe.toml");
    fs::create_dir_all(recipe.parent().unwrap()).unwrap();
    fs::write(
        &recipe,
        "[package]\nname = \"example.com/tool\"\nversion = \"1\"\n\n[build]\npackages = [\"example.com/busybox-root@1\"]\n\n\
         [[step]]\nrun = \"mkdir -p $OUT/usr/share/tool && echo tool > $OUT/usr/share/tool/x\"\n",
    )
    .unwrap();
    env.ok(&["make", recipe.to_str().unwrap()]);
    let id = "example.com/tool";
    // The report, whether verify passes (0) or not (1).
    let decide = |reference: &str| -> serde_json::Value {
        let out = env.run(&["--json", "verify", reference, "--policy", policy.to_str().unwrap()]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let attest = |key: &str| env.ok(&["rebuild", id, "--attest", dir.join(format!("{key}.key")).to_str().unwrap()]);

    // 1 of 3 rebuilders: refused, saying what is missing.
    attest("r1");
    let one = decide(id);
    assert_eq!(one["verified"], false, "{one}");
    assert!(
        one["images"][0]["policy"]["reason"].as_str().unwrap().contains("needs rebuild attestations by 2"),
        "{one}"
    );
    // The same rebuilder again still counts once.
    attest("r1");
    assert_eq!(decide(id)["verified"], false);
    // 2 of 3: passes.
    attest("r2");
    let two = decide(id);
    assert_eq!(two["verified"], true, "{two}");
    assert_eq!(two["images"][0]["policy"]["counted"], serde_json::json!(["r1", "r2"]));
    // r2 revoked: 1 of 3 again, and the reason says so.
    write_policy("revoked = true");
    let revoked = decide(id);
    assert_eq!(revoked["verified"], false);
    assert!(revoked["images"][0]["policy"]["reason"].as_str().unwrap().contains("r2 is revoked"), "{revoked}");
    write_policy("expires = \"2000-01-01\"");
    let expired = decide(id);
    assert!(expired["images"][0]["policy"]["reason"].as_str().unwrap().contains("r2 has expired"), "{expired}");
    write_policy("");

    // The build refuses an image whose package does not meet the policy:
    // busybox-root has no signature by release; nothing is written.
    let spec = env.path().join("image/bale.toml");
    fs::create_dir_all(spec.parent().unwrap()).unwrap();
    fs::write(
        &spec,
        "name = \"example.com/guarded\"\npackages = [\"example.com/tool\", \"example.com/busybox-root@1\"]\n",
    )
    .unwrap();
    let output = env.path().join("guarded");
    let out = env.run(&[
        "build",
        spec.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("example.com/busybox-root:all@1 does not meet the trust policy"), "{stderr}");
    assert!(stderr.contains("a signature by 1 of release"), "{stderr}");
    assert!(!output.exists(), "nothing was written");
    // Signed by release, it builds; the spec can name the policy itself.
    env.ok(&["sign", "example.com/busybox-root@1", "--key", dir.join("release.key").to_str().unwrap()]);
    fs::write(
        &spec,
        format!(
            "name = \"example.com/guarded\"\npackages = [\"example.com/tool\", \"example.com/busybox-root@1\"]\n\n[trust]\npolicy = \"{}\"\n",
            policy.display()
        ),
    )
    .unwrap();
    env.ok(&["build", spec.to_str().unwrap(), "--output", output.to_str().unwrap()]);

    // The image answers for each of its packages: verified with the
    // policy, here and, from a registry, in a store that holds none of
    // them (their bundles travel with the image).
    let judged = decide(output.to_str().unwrap());
    assert_eq!(judged["verified"], false, "the image itself is not signed: {judged}");
    let packages = judged["images"][0]["packages"].as_array().unwrap();
    let by_name = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"].as_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("{judged}"))
            .clone()
    };
    // The recipe's package is for the host's architecture.
    let tool_id = by_name("example.com/tool:")["name"].as_str().unwrap().to_string();
    assert_eq!(by_name("example.com/tool:")["policy"]["counted"], serde_json::json!(["r1", "r2"]), "{judged}");
    assert_eq!(by_name("example.com/busybox-root:all@1")["policy"]["allowed"], true, "{judged}");
    let signed = env.path().join("signed");
    let release = dir.join("release.key");
    env.ok(&["build", spec.to_str().unwrap(), "--output", signed.to_str().unwrap()]);
    env.ok(&["sign", signed.to_str().unwrap(), "--key", release.to_str().unwrap()]);
    assert_eq!(decide(signed.to_str().unwrap())["verified"], true);
    let out = env.run(&["verify", signed.to_str().unwrap(), "--policy", policy.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains(&format!("package {tool_id}: allowed")), "{report}");
    assert!(report.contains("rebuild attestations by r1, r2"), "{report}");

    // A layer relabelled as another package (the manifest rewritten) is
    // not that package, whatever signatures came with it.
    let relabelled = env.path().join("relabelled");
    copy_tree(&signed, &relabelled);
    let index_path = relabelled.join("index.json");
    let mut index: serde_json::Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let top = index["manifests"].as_array().unwrap().iter().position(|d| d.get("artifactType").is_none()).unwrap();
    let blob = |digest: &str| relabelled.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(blob(index["manifests"][top]["digest"].as_str().unwrap())).unwrap()).unwrap();
    for layer in manifest["layers"].as_array_mut().unwrap() {
        if layer["annotations"]["vnd.bale.package"] == "example.com/busybox-root:all@1" {
            layer["annotations"]["vnd.bale.package"] = tool_id.clone().into();
        } else if layer["annotations"]["vnd.bale.package"] == tool_id.as_str() {
            layer["annotations"]["vnd.bale.package"] = "example.com/busybox-root:all@1".into();
        }
    }
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = format!("sha256:{}", bale_fileset::sha256_bytes(&bytes).hex());
    fs::write(blob(&digest), &bytes).unwrap();
    index["manifests"][top]["digest"] = digest.into();
    index["manifests"][top]["size"] = bytes.len().into();
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let forged = decide(relabelled.to_str().unwrap());
    assert_eq!(forged["verified"], false, "{forged}");
    let tool = forged["images"][0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == tool_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(tool["tie"]["kind"], "broken", "{forged}");
    assert!(tool["policy"]["reason"].as_str().unwrap().contains("is not this package's layer"), "{forged}");

    let Some(registry) = common::registry::Registry::start() else { return };
    let reference = format!("{}/guarded/app:v1", registry.address);
    env.ok(&["push", signed.to_str().unwrap(), &reference]);
    let elsewhere = Env::new();
    elsewhere.ok(&["pull", &reference, "--policy", policy.to_str().unwrap()]);
    // A policy asking three rebuilders refuses the same pull, naming the
    // package, with nothing stored.
    let strict = dir.join("strict.toml");
    fs::write(&strict, fs::read_to_string(&policy).unwrap().replace("threshold = 2", "threshold = 3")).unwrap();
    let fresh = Env::new();
    fresh.ok(&["list"]);
    let before = fresh.store_state();
    let out = fresh.run(&["pull", &reference, "--policy", strict.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("its package {tool_id} does not meet the trust policy")), "{stderr}");
    assert!(stderr.contains("needs rebuild attestations by 3"), "{stderr}");
    assert_eq!(fresh.store_state(), before, "nothing entered the store");
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The bundle attached to the signed layout `dir`, and the manifest it is
/// about (its bytes).
fn bundle_and_subject(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let blob = |digest: &str| fs::read(dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    let referrer =
        manifests.iter().find(|d| d["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json").unwrap();
    let referrer: serde_json::Value = serde_json::from_slice(&blob(referrer["digest"].as_str().unwrap())).unwrap();
    let bundle = blob(referrer["layers"][0]["digest"].as_str().unwrap());
    let subject = blob(referrer["subject"]["digest"].as_str().unwrap());
    (bundle, subject)
}

/// sigstore-rust's verifier checks bale's bundles with bale's exported
/// public key. Its full path (`Verifier::verify` with a public-key policy
/// and no log) refuses any bundle without signing-time evidence (a log
/// entry or an RFC 3161 timestamp), which bale's key-only bundles do not
/// carry; so its own parts do the checks: the bundle parsed as v0.3, the
/// DSSE pre-authentication encoding, the signature by the key, and the
/// statement's subject held to the artifact's digest.
#[test]
fn sigstore_rust_accepts_bales_bundles_and_refuses_altered_ones() {
    use sigstore_verify::crypto::VerificationKey;
    use sigstore_verify::types::bundle::SignatureContent;
    use sigstore_verify::types::{Bundle, DerPublicKey};
    use sigstore_verify::{PublicKeyVerificationPolicy, Verifier, trust_root::TrustedRoot};

    let env = Env::new();
    if !common::busybox_root(&env, &|args| env.ok(args)) {
        return;
    }
    let key_of = |path: &Path| DerPublicKey::from_pem(&fs::read_to_string(path).unwrap()).unwrap();
    // (bundle JSON, artifact bytes, public key) → Ok(subject name) or why not.
    let check = |bundle: &str, artifact: &[u8], key: &DerPublicKey| -> Result<String, String> {
        let bundle = Bundle::from_json(bundle).map_err(|e| e.to_string())?;
        let SignatureContent::DsseEnvelope(envelope) = &bundle.content else { return Err("no DSSE envelope".into()) };
        let verifying = VerificationKey::from_spki(key).map_err(|e| e.to_string())?;
        verifying.verify(envelope.pae(), &envelope.signature.sig).map_err(|e| format!("signature: {e}"))?;
        let statement: serde_json::Value =
            serde_json::from_slice(envelope.payload.as_bytes()).map_err(|e| e.to_string())?;
        let digest = bale_fileset::sha256_bytes(artifact).hex();
        let subject = &statement["subject"][0];
        if subject["digest"]["sha256"] != digest.as_str() {
            return Err("the statement is about another artifact".into());
        }
        Ok(subject["name"].as_str().unwrap_or_default().to_string())
    };

    let mut signed = Vec::new();
    for (name, algorithm) in [("example.com/p256", "ecdsa-p256"), ("example.com/ed", "ed25519")] {
        let key = env.path().join(format!("{algorithm}.key"));
        env.ok(&["key", "generate", "--out", key.to_str().unwrap(), "--algorithm", algorithm]);
        let out = env.path().join(algorithm);
        let spec = image_spec(&env, name);
        env.ok(&["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap(), "--sign", key.to_str().unwrap()]);
        let (bundle, subject) = bundle_and_subject(&out);
        let bundle = String::from_utf8(bundle).unwrap();
        let public = key_of(&key.with_extension("key.pub"));
        assert_eq!(check(&bundle, &subject, &public), Ok(name.to_string()), "{algorithm}");
        signed.push((bundle, subject, public));
    }

    // The full verifier's refusal, as documented above: if a release
    // starts accepting key-only bundles, this says so.
    let root = TrustedRoot::from_json(r#"{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#)
        .unwrap();
    let verifier = Verifier::new(&root).unwrap();
    let (p256_bundle, p256_subject, p256_key) = &signed[0];
    let policy = PublicKeyVerificationPolicy::new(p256_key.clone()).skip_tlog_unsafe();
    let full = verifier.verify(p256_subject.as_slice(), &Bundle::from_json(p256_bundle).unwrap(), &policy);
    assert!(
        full.as_ref().is_err_and(|e| e.to_string().contains("at least one tlog entry or timestamp")),
        "{:?}",
        full.map(|_| ())
    );

    // Negative controls: another key, another image's manifest, one byte
    // of the statement changed.
    let (_, ed_subject, ed_key) = &signed[1];
    assert!(check(p256_bundle, p256_subject, ed_key).unwrap_err().starts_with("signature"), "another key");
    assert_eq!(
        check(p256_bundle, ed_subject, p256_key),
        Err("the statement is about another artifact".into()),
        "another image"
    );
    let mut tampered: serde_json::Value = serde_json::from_str(p256_bundle).unwrap();
    let mut payload = base64_decode(tampered["dsseEnvelope"]["payload"].as_str().unwrap());
    let at = payload.windows(16).position(|w| w == b"example.com/p256").unwrap() + 15;
    payload[at] = b'7';
    tampered["dsseEnvelope"]["payload"] = base64_encode(&payload).into();
    assert!(check(&tampered.to_string(), p256_subject, p256_key).unwrap_err().starts_with("signature"), "changed");
}
