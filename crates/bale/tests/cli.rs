//! What users see: help, human output, JSON output and errors, snapshotted.
#![allow(clippy::unwrap_used)]

mod common;

use common::Env;

fn snapshot_settings(env: &Env) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&env.path().display().to_string()), "[TMP]");
    settings.set_prepend_module_to_snapshot(false);
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '/' { c.to_string() } else { format!("\\{c}") }).collect()
}

fn both(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn help_texts() {
    let env = Env::new();
    insta::assert_snapshot!("help", env.ok(&["--help"]));
    insta::assert_snapshot!("help_pack", env.ok(&["pack", "--help"]));
    insta::assert_snapshot!("help_store", env.ok(&["store", "--help"]));
}

#[test]
fn pack_inspect_list_for_people() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    snapshot_settings(&env).bind(|| {
        insta::assert_snapshot!(
            "pack",
            env.ok(&["pack", "tree", "--name", "example.com/hello", "--version", "1.0", "--license", "MIT"])
        );
        insta::assert_snapshot!(
            "pack_again",
            env.ok(&["pack", "tree", "--name", "example.com/hello", "--version", "1.0", "--license", "MIT"])
        );
        insta::assert_snapshot!("inspect_files", env.ok(&["inspect", "example.com/hello", "--files"]));
        insta::assert_snapshot!("list", env.ok(&["list"]));
    });
}

#[test]
fn json_output_is_stable() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    snapshot_settings(&env).bind(|| {
        insta::assert_json_snapshot!("pack_json", env.json(&["pack", "tree", "--name", "hello", "--version", "1.0"]));
        insta::assert_json_snapshot!("inspect_json", env.json(&["inspect", "hello@1.0", "--files"]));
        insta::assert_json_snapshot!("list_json", env.json(&["list"]));
        insta::assert_json_snapshot!("verify_json", env.json(&["store", "verify"]));
    });
}

#[test]
fn errors_say_what_where_and_what_to_do() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    std::os::unix::fs::symlink("../../../../etc/passwd", tree.join("usr/bin/sneaky")).unwrap();
    let tar = env.path().join("evil.tar");
    std::fs::write(&tar, common::raw_tar(&[common::RawEntry::file(b"../../etc/cron.d/x", b"x")])).unwrap();
    snapshot_settings(&env).bind(|| {
        insta::assert_snapshot!(
            "error_missing_input",
            both(&env.run(&["pack", "nowhere", "--name", "a", "--version", "1"]))
        );
        insta::assert_snapshot!(
            "error_escaping_symlink",
            both(&env.run(&["pack", "tree", "--name", "a", "--version", "1"]))
        );
        insta::assert_snapshot!(
            "error_traversal_in_tar",
            both(&env.run(&["pack", "evil.tar", "--name", "a", "--version", "1"]))
        );
        insta::assert_snapshot!(
            "error_bad_name",
            both(&env.run(&["pack", "evil.tar", "--name", "Bad Name", "--version", "1"]))
        );
        insta::assert_snapshot!("error_unknown_package", both(&env.run(&["inspect", "nothing@1"])));
        insta::assert_snapshot!("error_json", both(&env.run(&["--json", "inspect", "nothing@1"])));
    });
}

#[test]
fn packing_a_tar_and_its_directory_gives_the_same_content() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    let from_dir = env.json(&["pack", "tree", "--name", "d", "--version", "1"]);
    let tar = env.path().join("tree.tar.gz");
    let status =
        std::process::Command::new("tar").arg("-czf").arg(&tar).arg("-C").arg(&tree).arg(".").status().unwrap();
    assert!(status.success());
    let from_tar = env.json(&["pack", "tree.tar.gz", "--name", "t", "--version", "1"]);
    assert_eq!(from_dir["content"], from_tar["content"]);
    assert_eq!(from_dir["layer"]["digest"], from_tar["layer"]["digest"]);
    let inspect = env.json(&["inspect", "t"]);
    assert_eq!(inspect["metadata"]["provenance"]["type"], "tar");
    // zstd gives another blob for the same content.
    let zstd = env.json(&["pack", "tree", "--name", "z", "--version", "1", "--compression", "zstd"]);
    assert_eq!(zstd["content"], from_dir["content"]);
    assert_eq!(zstd["layer"]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
    assert_ne!(zstd["layer"]["digest"], from_dir["layer"]["digest"]);
}

/// `bale … | head -1`: output into a pipe nobody reads ends the process
/// quietly, with the status a SIGPIPE death gives, never a panic.
#[test]
fn a_closed_pipe_ends_output_quietly() {
    let env = Env::new();
    let tree = env.path().join("tree");
    common::sample_tree(&tree);
    for name in ["one", "two", "three"] {
        env.ok(&["pack", tree.to_str().unwrap(), "--name", name, "--version", "1"]);
    }
    for args in [&["list"][..], &["--json", "list"], &["inspect", "one", "--files"], &["store", "path"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env.bale().args(args).stdout(writer).stderr(std::process::Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked") && stderr.is_empty(), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(141), "{args:?}");
    }
}
