//! The pipeline as a library, with no CLI: typed reports and errors.
#![allow(clippy::unwrap_used)]

use std::fs;

use bale_build::{BuildError, BuildRequest, OutputFormat, build, lock};
use bale_fileset::Compression;
use bale_progress::NoProgress;
use bale_store::Store;

fn project(extra: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("app")).unwrap();
    fs::write(dir.path().join("app/hello"), "hi\n").unwrap();
    fs::write(
        dir.path().join("bale.toml"),
        format!("name = \"example.com/h\"\n\n[[local]]\npath = \"app\"\nname = \"example.com/h/app\"\nversion = \"1\"\n{extra}"),
    )
    .unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

fn request(dir: &tempfile::TempDir, format: OutputFormat) -> BuildRequest {
    BuildRequest {
        spec: dir.path().join("bale.toml"),
        output: dir.path().join("out"),
        format,
        locked: false,
        compression: Compression::Gzip,
        // Specs here have no [[run]]; nothing runs a sandbox.
        helper: std::env::current_exe().unwrap(),
        sign: None,
        policy: None,
    }
}

#[test]
fn a_build_reports_its_image_and_sboms_and_is_the_same_as_a_layout_or_an_archive() {
    let (dir, store) = project("");
    let layout = build(&store, &request(&dir, OutputFormat::Layout), &NoProgress).unwrap();
    assert_eq!((layout.name.as_str(), layout.tag.as_str()), ("example.com/h", "latest"));
    assert_eq!(layout.images[0].layers.len(), 2, "the app and the generated layer");
    assert_eq!(layout.images[0].layers[0].package.as_deref(), Some("example.com/h/app:all@1"));
    for sbom in &layout.sboms {
        assert!(sbom.is_file(), "{}", sbom.display());
    }
    assert!(dir.path().join("out/oci-layout").is_file());
    fs::remove_dir_all(dir.path().join("out")).unwrap();
    let archive = build(&store, &request(&dir, OutputFormat::Archive), &NoProgress).unwrap();
    assert_eq!(archive.images[0].manifest.digest, layout.images[0].manifest.digest);
    assert!(dir.path().join("out").is_file());
}

#[test]
fn errors_are_typed_and_name_what_failed() {
    let (dir, store) = project("\n[config]\nports = [\"http\"]\n");
    let err = build(&store, &request(&dir, OutputFormat::Layout), &NoProgress).unwrap_err();
    assert!(matches!(err, BuildError::Spec(_)), "{err:?}");
    assert!(err.to_string().contains("config.ports"), "{err}");

    let (dir, store) = project("");
    let err = lock(&store, &dir.path().join("bale.toml"), &NoProgress).unwrap_err();
    assert!(matches!(err, BuildError::NothingToLock { .. }), "{err:?}");

    let (dir, store) = project("\n[[local]]\npath = \"missing\"\nname = \"example.com/h/m\"\nversion = \"1\"\n");
    let err = build(&store, &request(&dir, OutputFormat::Layout), &NoProgress).unwrap_err();
    assert!(matches!(&err, BuildError::Pack { local, .. } if local == "example.com/h/m"), "{err:?}");
    assert!(!dir.path().join("out").exists());
}
