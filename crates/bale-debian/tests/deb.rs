//! Real .deb files, built by dpkg-deb at test time, converted to packages.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use bale_debian::deb::{DebOptions, convert};
use bale_fileset::{Compression, EntryKind, LayerSink, write_canonical};
use bale_progress::NoProgress;

const COPYRIGHT: &str =
    "Format: https://example.invalid/copyright-format/1.0/\n\nFiles: *\nCopyright: 2024 Someone\nLicense: Expat\n";

fn build_deb(dir: &Path, compression: &str) -> std::path::PathBuf {
    let root = dir.join(format!("root-{compression}"));
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::write(
        root.join("DEBIAN/control"),
        "Package: hello-bale\nVersion: 1:2.0-1~test1\nArchitecture: amd64\nMaintainer: Test <t@example.invalid>\nDepends: libc6 (>= 2.36)\nDescription: test package\n for bale\n",
    )
    .unwrap();
    fs::write(
        root.join("DEBIAN/postinst"),
        "#!/bin/sh\nset -e\nupdate-alternatives --install /usr/bin/hello hello /usr/bin/hello-bale 50 \\\n  --slave /usr/bin/hi hi /usr/bin/hi-bale\n",
    )
    .unwrap();
    fs::set_permissions(root.join("DEBIAN/postinst"), fs::Permissions::from_mode(0o755)).unwrap();
    for dir in
        ["bin", "sbin", "lib/x86_64-linux-gnu", "usr/bin", "usr/share/doc/hello-bale", "usr/share/man/man1", "etc"]
    {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::write(root.join("bin/hello-bale"), "#!/bin/sh\necho hello\n").unwrap();
    fs::set_permissions(root.join("bin/hello-bale"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.join("sbin/helper"), "x").unwrap();
    fs::set_permissions(root.join("sbin/helper"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(root.join("lib/x86_64-linux-gnu/libhello.so.1.0"), "ELF").unwrap();
    std::os::unix::fs::symlink("libhello.so.1.0", root.join("lib/x86_64-linux-gnu/libhello.so.1")).unwrap();
    std::os::unix::fs::symlink("../../bin/hello-bale", root.join("usr/bin/hello-link")).unwrap();
    fs::write(root.join("usr/share/doc/hello-bale/copyright"), COPYRIGHT).unwrap();
    fs::write(root.join("usr/share/doc/hello-bale/changelog.Debian.gz"), "log").unwrap();
    fs::write(root.join("usr/share/man/man1/hello-bale.1.gz"), "man").unwrap();
    fs::write(root.join("etc/hello.conf"), "greeting=hi\n").unwrap();
    let deb = dir.join(format!("hello-{compression}.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--root-owner-group", &format!("-Z{compression}"), "--build"])
        .arg(&root)
        .arg(&deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb: {}", String::from_utf8_lossy(&out.stderr));
    deb
}

fn have_dpkg_deb() -> bool {
    bale_testkit::require_tool("dpkg-deb").is_some()
}

#[test]
fn a_deb_becomes_a_merged_usr_package_without_docs() {
    if !have_dpkg_deb() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for compression in ["xz", "gzip", "zstd", "none"] {
        let deb = build_deb(dir.path(), compression);
        let converted = convert(fs::File::open(&deb).unwrap(), "hello.deb", dir.path(), DebOptions::default()).unwrap();
        let plan = &converted.plan;
        let paths: Vec<&str> = plan.entries().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"usr/bin/hello-bale"), "{paths:?}");
        assert!(paths.contains(&"usr/lib/x86_64-linux-gnu/libhello.so.1.0"), "{paths:?}");
        assert!(!paths.iter().any(|p| *p == "bin" || p.starts_with("bin/") || p.starts_with("lib/")), "{paths:?}");
        assert!(paths.contains(&"usr/share/doc/hello-bale/copyright"));
        assert!(!paths.iter().any(|p| p.contains("changelog") || p.contains("/man/")), "{paths:?}");
        assert_eq!(
            converted.dropped,
            ["/usr/share/doc/hello-bale/changelog.Debian.gz", "/usr/share/man/man1/hello-bale.1.gz"]
        );
        match &plan.get("usr/bin/hello-link").unwrap().kind {
            EntryKind::Symlink { target } => assert_eq!(target, "hello-bale"),
            other => panic!("{other:?}"),
        }
        match &plan.get("usr/lib/x86_64-linux-gnu/libhello.so.1").unwrap().kind {
            EntryKind::Symlink { target } => assert_eq!(target, "libhello.so.1.0"),
            other => panic!("{other:?}"),
        }
        assert_eq!(plan.get("usr/sbin/helper").unwrap().mode, 0o4755, "setuid is declared by the .deb and kept");
        assert_eq!(converted.maintainer_scripts, ["postinst"]);
        assert_eq!(converted.alternatives.len(), 2);
        assert_eq!(converted.alternatives[0].path, "/usr/bin/hello-bale");
        assert_eq!(converted.license, "MIT");
        assert!(converted.control.iter().any(|(k, v)| k == "Version" && v == "1:2.0-1~test1"));
        let mut sink = LayerSink::new(Vec::new(), Compression::Gzip).unwrap();
        write_canonical(plan, &mut sink, &NoProgress).unwrap();
        digests.push(sink.finish().unwrap().1.content_digest);
    }
    // The .deb's own compression does not change the package.
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");

    let deb = build_deb(&dir.path().join("keep"), "xz");
    let kept = convert(fs::File::open(&deb).unwrap(), "hello.deb", dir.path(), DebOptions { keep_docs: true }).unwrap();
    assert!(kept.plan.get("usr/share/man/man1/hello-bale.1.gz").is_some());
    assert!(kept.dropped.is_empty());
}

#[test]
fn broken_debs_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let err = convert(&b"not an archive at all"[..], "junk.deb", dir.path(), DebOptions::default()).unwrap_err();
    assert!(err.to_string().contains("junk.deb") && err.to_string().contains("not a .deb"), "{err}");
    if !have_dpkg_deb() {
        return;
    }
    let deb = build_deb(dir.path(), "xz");
    let bytes = fs::read(&deb).unwrap();
    let truncated = &bytes[..bytes.len() - 100];
    let err = convert(truncated, "short.deb", dir.path(), DebOptions::default()).unwrap_err();
    assert!(err.to_string().contains("short.deb"), "{err}");
}

#[test]
fn a_deb_shipping_its_own_merged_usr_links_converts() {
    if !have_dpkg_deb() {
        return;
    }
    // Newer base-files ship `bin -> usr/bin` themselves.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::write(
        root.join("DEBIAN/control"),
        "Package: base-files\nVersion: 13\nArchitecture: amd64\nMaintainer: T <t@example.invalid>\nDescription: base\n",
    )
    .unwrap();
    fs::write(root.join("usr/bin/tool"), "x").unwrap();
    std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
    let deb = dir.path().join("base.deb");
    let out = Command::new("dpkg-deb").args(["--root-owner-group", "--build"]).arg(&root).arg(&deb).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let converted = convert(fs::File::open(&deb).unwrap(), "base.deb", dir.path(), DebOptions::default()).unwrap();
    let paths: Vec<&str> = converted.plan.entries().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["usr", "usr/bin", "usr/bin/tool"]);
}
