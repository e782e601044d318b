//! `bale key generate`.

use std::path::Path;
use std::process::ExitCode;

use bale_trust::{Algorithm, public_key_path, write_key_pair};
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
