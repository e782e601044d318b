//! The store under concurrency, kills, corruption and garbage collection.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::Write;
use std::time::Duration;

use common::Env;

/// A tree big enough that packing takes a while: pseudo-random data that
/// compresses a little, as real binaries do.
fn big_tree(root: &std::path::Path, files: usize, size: usize) {
    fs::create_dir_all(root).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut buf = vec![0u8; size];
    for i in 0..files {
        for chunk in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = (state & 0x0f0f_0f0f_0f0f_0f0f).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let mut f = fs::File::create(root.join(format!("file-{i:04}"))).unwrap();
        f.write_all(&buf).unwrap();
    }
}

#[test]
fn two_processes_packing_the_same_tree_store_one_blob() {
    let env = Env::new();
    let tree = env.path().join("tree");
    big_tree(&tree, 40, 256 * 1024);
    let spawn = || {
        env.bale()
            .args(["--json", "pack", tree.to_str().unwrap(), "--name", "same", "--version", "1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let a: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(a["layer"]["digest"], b["layer"]["digest"]);
    assert_eq!(a["manifest"]["digest"], b["manifest"]["digest"]);
    // layer, file index, metadata, manifest: four blobs, each once.
    assert_eq!(env.blob_count(), 4);
    let list = env.json(&["list"]);
    assert_eq!(list["packages"].as_array().unwrap().len(), 1);
    env.ok(&["store", "verify"]);
}

/// Four writers packing different packages while three gcs wait on them
/// (one writer paused mid-way, its blob stored and not yet indexed): no
/// index entry and no blob may be lost.
#[test]
fn concurrent_packs_of_different_packages_and_gc_lose_nothing() {
    let env = Env::new();
    let trees: Vec<_> = (0..4)
        .map(|i| {
            let tree = env.path().join(format!("tree{i}"));
            big_tree(&tree, 40, 256 * 1024 + i);
            tree
        })
        .collect();
    let pack = |i: usize| {
        let mut cmd = env.bale();
        cmd.args(["--json", "pack", trees[i].to_str().unwrap(), "--name", &format!("p{i}"), "--version", "1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    // p0 stops with its layer blob stored but not yet in the index: the
    // moment a gc that did not wait for writers would delete it.
    let pause = bale_testkit::Pause::at("store-blob-committed", 1);
    let mut first = pack(0);
    pause.arm(&mut first);
    let mut first = first.spawn().unwrap();
    pause.wait(&mut first);
    let mut children: Vec<_> = (1..4).map(|i| pack(i).spawn().unwrap()).collect();
    let mut gcs: Vec<_> = (0..3)
        .map(|_| env.bale().args(["store", "gc"]).stderr(std::process::Stdio::piped()).spawn().unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    for gc in &mut gcs {
        assert!(gc.try_wait().unwrap().is_none(), "gc ran while a writer was mid-way");
    }
    pause.resume();
    children.insert(0, first);
    for child in children.into_iter().chain(gcs) {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    env.ok(&["store", "gc"]);
    env.ok(&["store", "verify", "--deep"]);
    let list = env.json(&["list"]);
    let ids: Vec<_> = list["packages"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect();
    assert_eq!(ids, ["p0:all@1", "p1:all@1", "p2:all@1", "p3:all@1"], "{list}");
    for i in 0..4 {
        let dest = env.path().join(format!("out{i}"));
        env.ok(&["unpack", &format!("p{i}"), dest.to_str().unwrap()]);
    }
}

#[test]
fn a_pack_killed_midway_leaves_a_valid_store() {
    let env = Env::new();
    let small = env.path().join("small");
    common::sample_tree(&small);
    env.ok(&["pack", small.to_str().unwrap(), "--name", "small", "--version", "1"]);
    let before = env.store_state();
    let tree = env.path().join("tree");
    big_tree(&tree, 100, 1 << 20);
    // Killed while paused at each phase: after the scan, after the layer
    // blob is stored, and after the file index too (the index is not yet
    // written). A child paused there cannot have finished.
    for (point, nth) in [("pack-scanned", 1), ("store-blob-committed", 1), ("store-blob-committed", 2)] {
        let at = format!("{point}@{nth}");
        let pause = bale_testkit::Pause::at(point, nth);
        let mut cmd = env.bale();
        cmd.args(["pack", tree.to_str().unwrap(), "--name", "big", "--version", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        pause.arm(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        pause.wait(&mut child);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the pack killed at {at} finished anyway");
        let out = env.run(&["store", "verify"]);
        assert!(out.status.success(), "verify after kill at {at}:\n{}", String::from_utf8_lossy(&out.stdout));
        // Only blobs and temp files of the killed pack may differ.
        let after = env.store_state();
        for (key, value) in &before {
            assert_eq!(after.get(key), Some(value), "kill at {at} changed {key}");
        }
        assert!(!env.json(&["list"]).to_string().contains("\"big\""), "a killed pack is listed");
    }
    let gc = env.json(&["store", "gc"]);
    assert!(gc["blobsKept"].as_u64().unwrap() >= 4, "{gc}");
    assert_eq!(env.store_state(), before, "gc did not restore the store to its state before the killed packs");
    env.ok(&["inspect", "small@1"]);
}

#[test]
fn verify_names_each_corrupt_blob_and_gc_frees_what_is_unreferenced() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    let packed = env.json(&["pack", tree.to_str().unwrap(), "--name", "victim", "--version", "1"]);
    let layer = packed["layer"]["digest"].as_str().unwrap().to_string();
    let index = packed["fileIndex"]["digest"].as_str().unwrap().to_string();
    let verify = env.json(&["store", "verify"]);
    assert_eq!(verify["problems"].as_array().unwrap().len(), 0);

    // Flip one byte in two blobs.
    for digest in [&layer, &index] {
        let path = env.store().join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
        let mut bytes = fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x20;
        fs::write(&path, bytes).unwrap();
    }
    let out = env.run(&["store", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("corrupt: {layer}")), "{stdout}");
    assert!(stdout.contains(&format!("corrupt: {index}")), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 problems"));

    // Reading the corrupt layer fails instead of producing bad files.
    let out = env.run(&["unpack", "victim@1", env.path().join("out").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt"), "{}", String::from_utf8_lossy(&out.stderr));

    // Removing the package and collecting garbage leaves an empty, clean store.
    env.ok(&["remove", "victim"]);
    let gc = env.json(&["store", "gc", "--dry-run"]);
    assert_eq!(gc["blobsRemoved"], 4);
    assert_eq!(env.blob_count(), 4, "dry run removed something");
    let gc = env.json(&["store", "gc"]);
    assert_eq!(gc["blobsRemoved"], 4);
    assert_eq!(env.blob_count(), 0);
    env.ok(&["store", "verify"]);
}

#[test]
fn gc_refuses_to_guess_when_a_manifest_is_damaged() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    let packed = env.json(&["pack", tree.to_str().unwrap(), "--name", "fragile", "--version", "1"]);
    let manifest = packed["manifest"]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let path = env.store().join("blobs/sha256").join(&manifest);
    let mut bytes = fs::read(&path).unwrap();
    bytes[10] ^= 0x01;
    fs::write(&path, bytes).unwrap();
    let before = env.store_state();
    let out = env.run(&["store", "gc"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gc removed nothing") && stderr.contains(&manifest), "{stderr}");
    assert_eq!(env.store_state(), before);
}

#[test]
fn packing_again_repairs_damaged_blobs() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    let packed = env.json(&["pack", tree.to_str().unwrap(), "--name", "p", "--version", "1"]);
    for key in ["layer", "fileIndex", "manifest"] {
        let hex = packed[key]["digest"].as_str().unwrap().trim_start_matches("sha256:");
        let path = env.store().join("blobs/sha256").join(hex);
        let mut bytes = fs::read(&path).unwrap();
        bytes[0] ^= 0x80;
        fs::write(&path, bytes).unwrap();
    }
    assert!(!env.run(&["store", "verify"]).status.success());
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "p", "--version", "1"]);
    env.ok(&["store", "verify", "--deep"]);
}

#[test]
fn deep_verify_decompresses_every_layer() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "g", "--version", "1"]);
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "z", "--version", "1", "--compression", "zstd"]);
    let report = env.json(&["store", "verify", "--deep"]);
    assert_eq!(report["packagesChecked"], 2, "{report}");
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");
}

#[test]
fn hard_links_count_once_toward_the_size_limit() {
    let env = Env::new();
    let tree = env.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("a"), vec![1u8; 600]).unwrap();
    for name in ["b", "c", "d"] {
        fs::hard_link(tree.join("a"), tree.join(name)).unwrap();
    }
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "links", "--version", "1", "--max-size", "1000"]);
    let files = env.json(&["inspect", "links", "--files"]);
    let kinds: Vec<&str> = files["files"].as_array().unwrap().iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["file", "hardlink", "hardlink", "hardlink"]);
}

#[test]
fn gc_keeps_blobs_shared_with_a_live_package() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "one", "--version", "1"]);
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "two", "--version", "1"]);
    // Same content: the layer and file index blobs are shared.
    assert_eq!(env.blob_count(), 6);
    env.ok(&["remove", "one@1"]);
    let gc = env.json(&["store", "gc"]);
    assert_eq!(gc["blobsRemoved"], 2, "{gc}");
    env.ok(&["store", "verify"]);
    let out = env.path().join("out");
    env.ok(&["unpack", "two", out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("etc/greeting")).unwrap(), "hello\n");
}

#[test]
fn the_same_id_cannot_silently_name_new_content() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "app", "--version", "1"]);
    fs::write(tree.join("etc/greeting"), "changed\n").unwrap();
    let before = env.store_state();
    let out = env.run(&["pack", tree.to_str().unwrap(), "--name", "app", "--version", "1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("app:all@1 is already in the store") && stderr.contains("--replace"), "{stderr}");
    let after = env.store_state();
    assert_eq!(after.keys().find(|k| k.starts_with("index.json")), before.keys().find(|k| k.starts_with("index.json")));
    env.ok(&["pack", tree.to_str().unwrap(), "--name", "app", "--version", "1", "--replace"]);
    let out = env.path().join("out");
    env.ok(&["unpack", "app@1", out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("etc/greeting")).unwrap(), "changed\n");
}

#[test]
fn packages_are_found_without_their_origin_when_that_is_unambiguous() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    let tree = tree.to_str().unwrap();
    for name in ["a.example/tool", "b.example/tool", "a.example/other"] {
        env.ok(&["pack", tree, "--name", name, "--version", "1"]);
    }
    for reference in ["other", "other@1", "a.example/other", "a.example/tool@1"] {
        env.ok(&["inspect", reference]);
    }
    for reference in ["tool", "tool@1"] {
        let out = env.run(&["inspect", reference]);
        assert!(!out.status.success(), "{reference}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("a.example/tool:all@1") && stderr.contains("b.example/tool:all@1"), "{stderr}");
    }
    // An origin given is never dropped.
    assert!(!env.run(&["inspect", "c.example/other"]).status.success());
}

/// A package a newer bale wrote, from a source this one does not know:
/// it is listed, inspected (its provenance shown by kind and, in JSON,
/// whole), verified and unpacked, not refused and not misread.
#[test]
fn a_package_with_a_provenance_kind_this_bale_does_not_know_is_read() {
    use bale_fileset::{Content, Entry, EntryKind, Limits, Normalize, Plan};
    let env = Env::new();
    let store = bale_store::Store::open(&env.store()).unwrap();
    let mut plan = Plan::new(Normalize::default(), Limits::default());
    let mut file = Entry::directory("usr/lib/python3/dist-packages/six.py");
    file.kind = EntryKind::File { size: 6 };
    file.mode = 0o644;
    plan.insert(file, Content::Bytes(b"six=1\n".to_vec())).unwrap();
    let plan = plan.seal().unwrap();
    let mut metadata = bale_store::PackageMetadata::new("six", "1.16.0");
    metadata.origin = Some("futurekind:default".into());
    let fields = serde_json::json!({ "index": "https://index.example/simple", "wheelSha256": "ab" });
    metadata.provenance = bale_store::Provenance::Unknown(bale_store::UnknownProvenance {
        kind: "futurekind".into(),
        fields: fields.as_object().unwrap().clone(),
    });
    {
        let _session = store.lock_shared().unwrap();
        bale_store::store_plan(
            &store,
            &plan,
            metadata,
            bale_fileset::Compression::Gzip,
            false,
            &bale_progress::NoProgress,
        )
        .unwrap();
    }
    let shown = env.ok(&["inspect", "six"]);
    assert!(
        shown.contains("futurekind:default/six:all@1.16.0")
            && shown.contains("futurekind (a kind this bale does not know")
    );
    let json = env.json(&["inspect", "six"]);
    assert_eq!(json["metadata"]["provenance"]["type"], "futurekind");
    assert_eq!(json["metadata"]["provenance"]["wheelSha256"], "ab");
    env.ok(&["store", "verify", "--deep"]);
    let out = env.path().join("six");
    env.ok(&["unpack", "six", out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("usr/lib/python3/dist-packages/six.py")).unwrap(), "six=1\n");
}
