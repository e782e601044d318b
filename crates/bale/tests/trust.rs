//! Signing keys, checked by a tool bale did not write (OpenSSL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
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
