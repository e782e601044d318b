//! `bale key generate` and `bale verify`.

use std::path::Path;
use std::process::ExitCode;

use bale_store::Store;
use bale_trust::{Algorithm, PublicKey, public_key_path, write_key_pair};
use serde_json::json;

use crate::cli::KeyAlgorithm;
use crate::output::{outln, print_json};

pub fn generate(out: &Path, algorithm: KeyAlgorithm, json: bool) -> anyhow::Result<ExitCode> {
    let algorithm = match algorithm {
        KeyAlgorithm::EcdsaP256 => Algorithm::EcdsaP256,
        KeyAlgorithm::Ed25519 => Algorithm::Ed25519,
    };
    let public = write_key_pair(out, algorithm)?;
    let public_path = public_key_path(out);
    if json {
        print_json(&json!({
            "keyId": public.id(),
            "algorithm": algorithm,
            "private": out,
            "public": public_path,
        }))?;
    } else {
        outln!("{} {}", public.id(), algorithm);
        outln!("  private key  {} (keep it secret)", out.display());
        outln!("  public key   {}", public_path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `bale verify REF --key FILE.pub...`.
pub fn verify(
    store: &Store,
    reference: &str,
    key_files: &[std::path::PathBuf],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let keys = key_files.iter().map(|path| PublicKey::load(path)).collect::<Result<Vec<_>, _>>()?;
    let (dir, tag) = super::split_image(reference);
    let layout = Path::new(&dir);
    let verdicts = if layout.join("oci-layout").is_file() {
        bale_image::verify_layout(layout, &tag, &keys)?
    } else {
        let normal = reference.parse::<bale_registry::Reference>().map(|r| r.to_string()).ok();
        let mut found = None;
        for candidate in std::iter::once(reference.to_string()).chain(normal) {
            if let Some(verdicts) = bale_image::verify_pulled(store, &candidate, &keys)? {
                found = Some(verdicts);
                break;
            }
        }
        match found {
            Some(verdicts) => verdicts,
            // Not an image: a package of the store (whose error, if it is
            // none either, says what it looked for).
            None => vec![bale_image::verify_package(store, &store.resolve(reference)?, &keys)?],
        }
    };
    let verified = !verdicts.is_empty() && verdicts.iter().all(|v| v.verified);
    if json {
        print_json(&json!({ "reference": reference, "verified": verified, "images": verdicts }))?;
    } else {
        for verdict in &verdicts {
            let name = verdict.name.as_deref().unwrap_or("(unnamed)");
            let state = if verdict.verified { "verified" } else { "NOT verified" };
            outln!("{name} {} ({}): {state}", verdict.manifest, verdict.platform);
            if verdict.signatures.is_empty() {
                outln!("  no signature is attached");
            }
            for signature in &verdict.signatures {
                match &signature.problem {
                    None => {
                        let keys: Vec<String> = signature.signed_by.iter().map(|k| k.to_string()).collect();
                        outln!("  signed by {}", keys.join(", "));
                    }
                    Some(problem) => outln!("  a signature does not count: {problem}"),
                }
            }
        }
    }
    Ok(if verified { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `bale sign PKG --key KEY`.
pub fn sign(store: &Store, reference: &str, key: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let key = bale_trust::SigningKey::load(key)?;
    let record = store.resolve(reference)?;
    bale_image::sign_package(store, &record, &key)?;
    let key_id = key.public().id();
    if json {
        print_json(&json!({ "id": record.id, "manifest": record.manifest.digest, "keyId": key_id }))?;
    } else {
        outln!("{} {} signed by {key_id}", record.id, record.manifest.digest);
    }
    Ok(ExitCode::SUCCESS)
}
