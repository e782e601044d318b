//! InRelease verification against keys made by gpg at test time, and
//! against the host's real Debian archive keyring when it is installed.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use bale_debian::trust::{Keyring, TrustError, verify_clearsigned};

struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new(name: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        let g = Self { home };
        g.run(&["--quick-gen-key", &format!("{name} <{name}@example.invalid>"), "rsa2048", "sign", "never"]);
        g
    }

    fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    fn export(&self, dir: &Path, armor: bool) -> PathBuf {
        let path = dir.join(if armor { "keyring.asc" } else { "keyring.gpg" });
        let mut args = vec!["--export"];
        if armor {
            args.insert(0, "--armor");
        }
        std::fs::write(&path, self.run(&args)).unwrap();
        path
    }

    fn clearsign(&self, text: &str, dir: &Path) -> String {
        let input = dir.join("Release");
        std::fs::write(&input, text).unwrap();
        let output = dir.join("InRelease");
        let _ = std::fs::remove_file(&output);
        self.run(&[
            "--digest-algo",
            "SHA512",
            "--clearsign",
            "--output",
            output.to_str().unwrap(),
            input.to_str().unwrap(),
        ]);
        std::fs::read_to_string(output).unwrap()
    }
}

const RELEASE: &str = "Origin: Test\nCodename: testing\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 0 main/binary-amd64/Packages\n";

fn have_gpg() -> bool {
    bale_testkit::require_tool("gpg").is_some()
}

#[test]
fn good_bad_unknown_and_unsigned() {
    if !have_gpg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = Gpg::new("archive");
    let stranger = Gpg::new("stranger");
    for armor in [false, true] {
        let keyring = Keyring::load(&archive.export(dir.path(), armor)).unwrap();
        assert_eq!(keyring.len(), 1);

        let signed = archive.clearsign(RELEASE, dir.path());
        let verified = verify_clearsigned(&signed, &keyring, "InRelease").unwrap();
        assert_eq!(verified.text.trim_end(), RELEASE.trim_end());
        assert_eq!(verified.signers, keyring.fingerprints());

        // One byte changed after signing.
        let tampered = signed.replace("Codename: testing", "Codename: tasting");
        match verify_clearsigned(&tampered, &keyring, "InRelease") {
            Err(TrustError::BadSignature { key, .. }) => assert_eq!(key, keyring.fingerprints()[0]),
            other => panic!("tampered InRelease: {other:?}"),
        }

        let foreign = stranger.clearsign(RELEASE, dir.path());
        let err = verify_clearsigned(&foreign, &keyring, "InRelease").unwrap_err();
        assert!(matches!(err, TrustError::UnknownSigner { .. }), "{err}");

        let err = verify_clearsigned(RELEASE, &keyring, "InRelease").unwrap_err();
        assert!(matches!(err, TrustError::NotSigned { .. }), "{err}");
        assert!(err.to_string().contains("not signed"));
    }
}

#[test]
fn the_host_debian_keyring_loads() {
    let path = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
    if !bale_testkit::require_file(path, "Debian's archive keyring (debian-archive-keyring)") {
        return;
    }
    let keyring = Keyring::load(path).unwrap();
    assert!(keyring.len() >= 3, "only {} keys", keyring.len());
}
