//! `bale import debian` against an archive made and signed at test time and
//! served on 127.0.0.1: resolution, conversion, determinism, defaults from
//! apt sources, and every break of the signature chain.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use common::Env;
use common::archive::{Archive, DebSpec, FUTURE, ar, gzip};

const SUITE: &str = "testsuite";

fn have_tools() -> bool {
    ["gpg", "dpkg-deb"].iter().all(|t| bale_testkit::require_tool(t).is_some())
}

/// app depends on libfoo (>= 1.0) | libbar; libfoo ships in /lib (merged
/// under /usr on import); a virtual mail-transport-agent has two
/// providers; an Essential package nobody depends on.
fn sample_archive() -> Archive {
    let mut a = Archive::new();
    a.add(
        &DebSpec::new("libfoo", "1.0-1")
            .field("Multi-Arch", "same")
            .file("lib/x86_64-linux-gnu/libfoo.so.1", "ELF libfoo"),
    );
    a.add(&DebSpec::new("libfoo", "0.9-1"));
    a.add(
        &DebSpec::new("app", "2:2.0-1")
            .field("Depends", "libfoo (>= 1.0) | libbar, mail-transport-agent")
            .file("usr/bin/app", "#!/bin/sh\necho app\n")
            .file("bin/app-compat", "->../usr/bin/app"),
    );
    a.add(
        &DebSpec::new("mta-a", "1.0")
            .field("Provides", "mail-transport-agent")
            .field("Conflicts", "mail-transport-agent"),
    );
    a.add(
        &DebSpec::new("mta-b", "1.0")
            .field("Provides", "mail-transport-agent")
            .field("Conflicts", "mail-transport-agent"),
    );
    a.add(&DebSpec::new("base-essential", "1").field("Essential", "yes"));
    a.add(&DebSpec::new("needs-missing", "1").field("Depends", "libfoo (>= 5)"));
    a.publish(SUITE, FUTURE);
    a
}

fn import_args<'a>(a: &'a Archive, packages: &[&'a str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["--json".into(), "import".into(), "debian".into()];
    args.extend(packages.iter().map(|p| p.to_string()));
    args.extend([
        "--mirror".into(),
        a.url.clone(),
        "--suite".into(),
        SUITE.into(),
        "--keyring".into(),
        a.keyring.display().to_string(),
        "--arch".into(),
        "amd64".into(),
    ]);
    args
}

/// `[--json] debian show NAME` with the archive flags of [`import_args`].
fn show_args(a: &Archive, name: &str, json: bool) -> Vec<String> {
    let mut args = import_args(a, &[]);
    args.splice(1..3, ["debian".to_string(), "show".to_string(), name.to_string()]);
    if !json {
        args.remove(0);
    }
    args
}

fn run(env: &Env, args: &[String]) -> std::process::Output {
    env.bale().args(args).output().unwrap()
}

fn ok_json(env: &Env, args: &[String]) -> serde_json::Value {
    let out = run(env, args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ids(doc: &serde_json::Value) -> Vec<String> {
    doc["packages"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn imports_the_closure_converted_and_verified() {
    if !have_tools() {
        return;
    }
    let a = sample_archive();
    let env = Env::new();
    let doc = ok_json(&env, &import_args(&a, &["app"]));
    let ids = ids(&doc);
    assert_eq!(
        ids,
        [
            "debian:testsuite/app:amd64@2:2.0-1",
            "debian:testsuite/libfoo:amd64@1.0-1",
            "debian:testsuite/mta-a:amd64@1.0"
        ]
    );
    assert_eq!(doc["base"]["id"], "debian:testsuite/bale-merged-usr:amd64@1");
    assert_eq!(doc["signers"].as_array().unwrap().len(), 1);

    // Provenance records the whole chain.
    let inspect = env.json(&["inspect", "debian:testsuite/app@2:2.0-1"]);
    let provenance = &inspect["metadata"]["provenance"];
    assert_eq!(provenance["type"], "debian");
    assert_eq!(provenance["suite"], SUITE);
    assert_eq!(provenance["releaseSha256"], doc["release"]);
    assert_eq!(inspect["metadata"]["purl"], "pkg:deb/debian/app@2%3A2.0-1?arch=amd64");
    assert_eq!(inspect["metadata"]["dependencies"][0]["anyOf"][1]["name"], "libbar");

    // Files moved under merged /usr, symlinks still right.
    let out = env.path().join("libfoo");
    env.ok(&["unpack", "debian:testsuite/libfoo", out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("usr/lib/x86_64-linux-gnu/libfoo.so.1")).unwrap(), "ELF libfoo");
    assert!(!out.join("lib").exists());
    let files = env.json(&["inspect", "debian:testsuite/app", "--files"]);
    let compat = files["files"].as_array().unwrap().iter().find(|f| f["path"] == "usr/bin/app-compat").unwrap().clone();
    assert_eq!(compat["target"], "app");
    let base = env.json(&["inspect", "debian:testsuite/bale-merged-usr", "--files"]);
    let bin = base["files"].as_array().unwrap().iter().find(|f| f["path"] == "bin").unwrap().clone();
    assert_eq!(bin["target"], "usr/bin");

    // A second import finds everything in place, without reading the index.
    let again = ok_json(&env, &import_args(&a, &["app"]));
    assert!(again["packages"].as_array().unwrap().iter().all(|p| p["new"] == false));
    let out = run(&env, &import_args(&a, &["app"])[1..]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("resolution cached") && stdout.contains("(already stored)"), "{stdout}");
    env.ok(&["store", "verify", "--deep"]);

    // The generated base package says so, and invents no .deb.
    let base = env.json(&["inspect", "debian:testsuite/bale-merged-usr"]);
    assert_eq!(base["metadata"]["provenance"], serde_json::json!({"type": "generated", "generator": "bale"}));
    assert!(doc["base"].get("debSha256").is_none(), "{}", doc["base"]);
    assert_eq!(provenance["packagesSha256"].as_str().unwrap().len(), 71);
    assert_ne!(provenance["packagesSha256"], provenance["debSha256"]);
}

/// A cached resolution decides which .debs (and which sha256s) an import
/// trusts: an entry edited behind bale's back is detected, reported,
/// dropped and computed again, and the import is the same.
#[test]
fn a_tampered_resolution_cache_entry_is_detected_and_rebuilt() {
    if !have_tools() {
        return;
    }
    let a = sample_archive();
    let env = Env::new();
    let first = ok_json(&env, &import_args(&a, &["app"]));
    let cache = env.store().join("cache/debian-resolutions");
    let entry = fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
    // Point libfoo at another .deb digest, as an attacker would.
    let text = fs::read_to_string(&entry).unwrap();
    let forged = text.replacen(&first["packages"][1]["debSha256"].as_str().unwrap()[7..], &"0".repeat(64), 1);
    assert_ne!(forged, text, "the entry does not hold the .deb digest");
    fs::write(&entry, forged).unwrap();
    let out = run(&env, &import_args(&a, &["app"])[1..]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("failed its integrity check"), "not reported:\n{stderr}");
    assert!(!stdout.contains("resolution cached"), "the forged entry was used:\n{stdout}");
    // Rebuilt: the next import uses the cache again, silently.
    let out = run(&env, &import_args(&a, &["app"])[1..]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("resolution cached"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    let digests = |doc: &serde_json::Value| {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].clone(), p["debSha256"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(digests(&ok_json(&env, &import_args(&a, &["app"]))), digests(&first));
}

#[test]
fn two_empty_stores_get_identical_digests() {
    if !have_tools() {
        return;
    }
    let a = sample_archive();
    let (one, two) = (Env::new(), Env::new());
    let first = ok_json(&one, &import_args(&a, &["app", "libfoo"]));
    let second = ok_json(&two, &import_args(&a, &["libfoo", "app"]));
    assert_eq!(first["packages"], second["packages"]);
    assert_eq!(one.json(&["list"]), two.json(&["list"]));
}

#[test]
fn unsatisfiable_requests_explain_the_chain() {
    if !have_tools() {
        return;
    }
    let a = sample_archive();
    let env = Env::new();
    let out = run(&env, &import_args(&a, &["needs-missing"])[1..]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs-missing") && stderr.contains("libfoo (>= 5)") && stderr.contains("1.0-1"),
        "{stderr}"
    );
    let out = run(&env, &import_args(&a, &["no-such-package"])[1..]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-package"));
    assert!(env.store_state().keys().all(|k| !k.starts_with("index.json") || k.contains("\"manifests\":[]")));
}

#[test]
fn mirror_suite_and_keyring_default_to_the_hosts_apt_sources() {
    if !have_tools() {
        return;
    }
    let a = sample_archive();
    for (file, text) in [
        (
            "test.sources",
            format!(
                "Types: deb\nURIs: {}\nSuites: {SUITE}\nComponents: main\nSigned-By: {}\n",
                a.url,
                a.keyring.display()
            ),
        ),
        ("test.list", format!("deb [signed-by={}] {} {SUITE} main\n", a.keyring.display(), a.url)),
    ] {
        let env = Env::new();
        env.host_sources(file, &text);
        let out =
            env.bale_on_host().args(["--json", "import", "debian", "libfoo", "--arch", "amd64"]).output().unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(ids(&doc), ["debian:testsuite/libfoo:amd64@1.0-1"], "{file}");
    }
}

/// As apt does, the host's SUITE-security (and -updates) suites are layered
/// over the main suite, each verified on its own; backports are not.
#[test]
fn update_suites_of_the_host_are_layered_over_the_main_suite() {
    if !have_tools() {
        return;
    }
    let mut a = sample_archive();
    a.clear_index();
    let fixed = DebSpec::new("libfoo", "1.0-1+deb1u1")
        .field("Multi-Arch", "same")
        .file("lib/x86_64-linux-gnu/libfoo.so.1", "ELF libfoo, fixed");
    a.add(&fixed);
    a.publish(&format!("{SUITE}-security"), FUTURE);
    a.clear_index();
    a.add(&DebSpec::new("libfoo", "9.0-1~bpo1"));
    a.publish(&format!("{SUITE}-backports"), FUTURE);
    let env = Env::new();
    let sources = |suites: &str| {
        format!("Types: deb\nURIs: {}\nSuites: {suites}\nComponents: main\nSigned-By: {}\n", a.url, a.keyring.display())
    };
    env.host_sources("test.sources", &sources(&format!("{SUITE} {SUITE}-security {SUITE}-backports")));
    let bale = |args: &[&str]| {
        let out = env.bale_on_host().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let doc = bale(&["--json", "import", "debian", "app", "--arch", "amd64"]);
    assert!(ids(&doc).contains(&"debian:testsuite/libfoo:amd64@1.0-1+deb1u1".to_string()), "{doc}");
    let updates = doc["updates"].as_array().unwrap();
    assert_eq!(updates.len(), 1, "{doc}");
    assert_eq!(updates[0]["suite"], format!("{SUITE}-security"));
    // The package records the suite that vouched for it.
    let inspected = bale(&["--json", "inspect", "libfoo@1.0-1+deb1u1"]);
    let provenance = &inspected["metadata"]["provenance"];
    assert_eq!(provenance["suite"], format!("{SUITE}-security"), "{inspected}");
    assert_eq!(provenance["releaseSha256"], updates[0]["release"], "{inspected}");
    let shown = bale(&["--json", "debian", "show", "libfoo", "--arch", "amd64"]);
    assert_eq!(shown["versions"][0]["suite"], format!("{SUITE}-security"));
    assert_eq!(shown["versions"].as_array().unwrap().len(), 3, "{shown}");
    // --no-updates reads the main suite alone.
    let main_only = bale(&["--json", "import", "debian", "libfoo", "--arch", "amd64", "--no-updates"]);
    assert_eq!(ids(&main_only), ["debian:testsuite/libfoo:amd64@1.0-1"]);
    assert!(main_only["updates"].as_array().unwrap().is_empty());
    // An update suite the mirror lacks is named, with the way out.
    env.host_sources("test.sources", &sources(&format!("{SUITE} {SUITE}-updates")));
    let out = env.bale_on_host().args(["import", "debian", "libfoo", "--arch", "amd64"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("the update suite {SUITE}-updates (--no-updates")), "{stderr}");
}

#[test]
fn debian_show_prints_the_index_entry() {
    if !have_tools() {
        return;
    }
    let a = sample_archive();
    let env = Env::new();
    let doc = ok_json(&env, &show_args(&a, "libfoo", true));
    let versions = doc["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], "1.0-1");
    assert_eq!(versions[0]["component"], "main");
    let out = run(&env, &show_args(&a, "mail-transport-agent", false));
    assert!(String::from_utf8_lossy(&out.stdout).contains("provided by: mta-a 1.0, mta-b 1.0"));
}

/// The decompressed index is cached; a cache cut short (which could hide
/// packages) is noticed by its length and rebuilt.
#[test]
fn a_truncated_index_cache_is_rebuilt() {
    if !have_tools() {
        return;
    }
    let a = sample_archive();
    let env = Env::new();
    let args = show_args(&a, "libfoo", true);
    ok_json(&env, &args);
    let cache_dir = env.store().join("cache/debian-index-text");
    let entries: Vec<_> = fs::read_dir(&cache_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1);
    let full = fs::read(&entries[0]).unwrap();
    // Cut just before the last stanza, which a parser could not tell.
    let cut = full.windows(2).rposition(|w| w == b"\n\n").unwrap() + 2;
    fs::write(&entries[0], &full[..cut]).unwrap();
    let doc = ok_json(&env, &args);
    assert_eq!(doc["versions"].as_array().unwrap().len(), 2);
    assert_eq!(fs::read(&entries[0]).unwrap(), full);
}

/// Every break of the chain stops the import with an error naming the file
/// and what was expected, and leaves the store as it was.
#[test]
fn every_break_in_the_signature_chain_is_refused() {
    if !have_tools() {
        return;
    }
    type Tamper = fn(&Archive);
    let cases: Vec<(&str, Tamper, Vec<&str>)> = vec![
        (
            "bad signature",
            |a| {
                let path = a.dists(SUITE).join("InRelease");
                let text = fs::read_to_string(&path).unwrap().replace("Label: Test", "Label: Evil");
                fs::write(path, text).unwrap();
            },
            vec!["InRelease", "BAD signature"],
        ),
        (
            "unknown key",
            |a| {
                let stranger = common::archive::Gpg::new("stranger");
                stranger.clearsign(&a.dists(SUITE).join("Release"), &a.dists(SUITE).join("InRelease"));
            },
            vec!["InRelease", "not in the keyring"],
        ),
        (
            "unsigned Release",
            |a| fs::copy(a.dists(SUITE).join("Release"), a.dists(SUITE).join("InRelease")).map(drop).unwrap(),
            vec!["InRelease", "not signed"],
        ),
        (
            "Packages hash mismatch",
            |a| {
                let path = a.dists(SUITE).join("main/binary-amd64/Packages.gz");
                let mut text = fs::read(a.dists(SUITE).join("main/binary-amd64/Packages")).unwrap();
                text.extend_from_slice(b"\nPackage: injected\nVersion: 1\nArchitecture: amd64\nFilename: x\nSize: 1\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n");
                fs::write(path, gzip(&text)).unwrap();
            },
            // Longer than the Release says: cut off at the listed size.
            vec!["Packages.gz", "expected sha256", "the server sent more"],
        ),
        (
            "a Release of another suite",
            |a| {
                // Genuinely signed, but for another suite.
                a.publish("othersuite", FUTURE);
                fs::copy(a.dists("othersuite").join("InRelease"), a.dists(SUITE).join("InRelease")).unwrap();
            },
            vec!["InRelease is a genuine Release, but of the suite othersuite", "not of \"testsuite\""],
        ),
        (
            "decompressed Packages mismatch",
            |a| {
                // A Release whose compressed index is genuine but whose
                // listed digest for the decompressed text is not.
                let release = fs::read_to_string(a.dists(SUITE).join("Release")).unwrap();
                let line = release.lines().find(|l| l.ends_with(" main/binary-amd64/Packages")).unwrap();
                let digest = line.split_whitespace().next().unwrap();
                let forged = release.replace(digest, &"0".repeat(64));
                fs::write(a.dists(SUITE).join("Release"), forged).unwrap();
                a.gpg.clearsign(&a.dists(SUITE).join("Release"), &a.dists(SUITE).join("InRelease"));
            },
            vec!["Packages.gz", "decompressed index has sha256", "nothing from that index"],
        ),
        (
            ".deb hash mismatch",
            |a| {
                let deb = a.root().join("pool/main/libfoo/libfoo_1.0-1_amd64.deb");
                let mut bytes = fs::read(&deb).unwrap();
                let at = bytes.len() - 10;
                bytes[at] ^= 0xff;
                fs::write(deb, bytes).unwrap();
            },
            vec!["libfoo_1.0-1_amd64.deb", "expected sha256", "got sha256"],
        ),
    ];
    for (name, tamper, needles) in cases {
        let a = sample_archive();
        let env = Env::new();
        env.ok(&["list"]);
        let before = env.store_state();
        tamper(&a);
        let out = run(&env, &import_args(&a, &["libfoo"])[1..]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: the import succeeded");
        for needle in needles.iter().chain(&["help: nothing"]) {
            assert!(stderr.contains(needle), "{name}: the error does not mention {needle:?}:\n{stderr}");
        }
        assert!(stderr.matches("expected sha256").count() <= 1, "{name}: said twice:\n{stderr}");
        let after = env.store_state();
        let packages = |s: &std::collections::BTreeMap<String, u64>| {
            s.keys().filter(|k| k.starts_with("index.json")).cloned().collect::<Vec<_>>()
        };
        assert_eq!(packages(&after), packages(&before), "{name}: packages changed");
        if name != ".deb hash mismatch" {
            assert_eq!(after, before, "{name}: the store changed");
        }
        assert_eq!(fs::read_dir(env.store().join("tmp")).unwrap().count(), 0, "{name}: temp files left");
    }
}

#[test]
fn an_expired_release_is_refused_unless_allowed() {
    if !have_tools() {
        return;
    }
    let mut a = Archive::new();
    a.add(&DebSpec::new("libfoo", "1.0-1"));
    a.publish(SUITE, "Mon, 01 Jan 2024 00:00:00 UTC");
    let env = Env::new();
    let out = run(&env, &import_args(&a, &["libfoo"])[1..]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("expired on 2024-01-01 00:00:00 UTC") && stderr.contains("--allow-expired"), "{stderr}");
    let mut args = import_args(&a, &["libfoo"]);
    args.push("--allow-expired".into());
    ok_json(&env, &args);
}

#[test]
fn a_deb_whose_data_tries_traversal_is_refused() {
    if !have_tools() {
        return;
    }
    let mut a = Archive::new();
    let control =
        "Package: evil\nVersion: 1\nArchitecture: amd64\nMaintainer: x <x@example.invalid>\nDescription: evil\n";
    let control_tar = common::raw_tar(&[common::RawEntry::file(b"./control", control.as_bytes())]);
    let data_tar =
        common::raw_tar(&[common::RawEntry::dir(b"./usr/"), common::RawEntry::file(b"./usr/../../../etc/evil", b"x")]);
    let deb =
        ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &gzip(&control_tar)), ("data.tar.gz", &gzip(&data_tar))]);
    fs::create_dir_all(a.root().join("pool/main/evil")).unwrap();
    fs::write(a.root().join("pool/main/evil/evil_1_amd64.deb"), deb).unwrap();
    a.list(control, "pool/main/evil/evil_1_amd64.deb");
    a.publish(SUITE, FUTURE);
    let env = Env::new();
    env.ok(&["list"]);
    let out = run(&env, &import_args(&a, &["evil"])[1..]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("evil_1_amd64.deb") && stderr.contains("../../../etc/evil") && stderr.contains("escape"),
        "{stderr}"
    );
    assert!(stderr.contains("help: nothing from this .deb was stored"), "{stderr}");
    let state = env.store_state();
    assert!(
        state.keys().any(|k| k.starts_with("index.json") && k.contains("\"manifests\":[]")),
        "a package was recorded"
    );
    // Only the verified Packages index is cached; the refused .deb is not kept.
    assert!(state.len() <= 2, "{state:?}");
    assert!(!env.path().join("etc/evil").exists());
}
