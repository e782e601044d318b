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

/// `bale verify REF (--key FILE.pub... | --policy FILE)`.
pub fn verify(
    store: &Store,
    reference: &str,
    key_files: &[std::path::PathBuf],
    policy: Option<&Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let policy_path = match (key_files.is_empty(), policy) {
        (_, Some(path)) => Some(path.to_path_buf()),
        (true, None) => Some(bale_trust::policy::default_path().ok_or_else(|| {
            anyhow::anyhow!("give --key FILE.pub or --policy FILE (no policy at ~/.config/bale/policy.toml either)")
        })?),
        (false, None) => None,
    };
    let policy = policy_path.as_deref().map(bale_trust::Policy::load).transpose()?;
    let keys = match &policy {
        // Every key the policy names is tried, so a revoked or expired
        // one is reported as such rather than as unknown.
        Some(policy) => policy.keys.iter().map(|k| k.key.clone()).collect(),
        None => key_files.iter().map(|path| PublicKey::load(path)).collect::<Result<Vec<_>, _>>()?,
    };
    let (dir, tag) = super::split_image(reference);
    let layout = Path::new(&dir);
    let mut package = None;
    // What a subject no trusted key vouched for is judged as: where it
    // was found, or a package's id in the store.
    let mut unvouched = reference.to_string();
    let verdicts = if layout.join("oci-layout").is_file() {
        bale_image::verify_layout(layout, &tag, Some(store), &keys)?
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
            None => {
                let record = store.resolve(reference)?;
                let (_, metadata) = store.load_package(&record)?;
                package = Some(metadata);
                unvouched = record.id.clone();
                vec![bale_image::verify_package(store, &record, &keys)?]
            }
        }
    };
    let today = bale_trust::policy::today();
    let from_archive = package.as_ref().is_some_and(|m| matches!(m.provenance, bale_store::Provenance::Debian { .. }));
    // A package judged alone, an image with each of its packages.
    let decisions: Vec<Option<bale_image::ImageDecision>> = verdicts
        .iter()
        .map(|verdict| {
            policy.as_ref().map(|policy| match package {
                Some(_) => {
                    let image = verdict.decide(policy, &unvouched, from_archive, today);
                    bale_image::ImageDecision { allowed: image.allowed, image, packages: Vec::new() }
                }
                None => verdict.decide_all(policy, &unvouched, today),
            })
        })
        .collect();
    let allowed = |i: usize| match &decisions[i] {
        Some(decision) => decision.allowed,
        None => verdicts[i].verified,
    };
    let verified = !verdicts.is_empty() && (0..verdicts.len()).all(allowed);
    if json {
        let images: Vec<serde_json::Value> = verdicts
            .iter()
            .zip(&decisions)
            .map(|(verdict, decision)| {
                let mut doc = serde_json::to_value(verdict).unwrap_or_default();
                if let Some(decision) = decision {
                    doc["policy"] = json!(decision.image);
                    doc["allowed"] = json!(decision.allowed);
                    for (i, (_, package)) in decision.packages.iter().enumerate() {
                        doc["packages"][i]["policy"] = json!(package);
                    }
                }
                doc
            })
            .collect();
        print_json(&json!({ "reference": reference, "verified": verified, "images": images }))?;
    } else {
        for (i, verdict) in verdicts.iter().enumerate() {
            // Names and reasons quote what an image says of itself: no
            // control character of theirs reaches the terminal.
            let name = printable(verdict.name.as_deref().unwrap_or("(unnamed)"));
            let state = if allowed(i) { "verified" } else { "NOT verified" };
            outln!("{name} {} ({}): {state}", verdict.manifest, verdict.platform);
            let decision = decisions[i].as_ref();
            if let Some(decision) = decision {
                print_decision("  ", &decision.image);
            }
            print_signatures("  ", verdict);
            for (j, package) in verdict.packages.iter().enumerate() {
                let package_decision = decision.and_then(|d| d.packages.get(j)).map(|(_, d)| d);
                let state = match package_decision {
                    Some(d) if d.allowed => "allowed",
                    Some(_) => "NOT allowed",
                    None if package.verdict.verified => "signed",
                    None => "not signed by these keys",
                };
                outln!("  package {}: {state}", printable(package.id()));
                if let Some(d) = package_decision {
                    print_decision("    ", d);
                } else if let bale_image::Tie::Broken(problem) = &package.tie {
                    outln!("    {}", printable(problem));
                }
                if !package.verdict.signatures.is_empty() {
                    print_signatures("    ", &package.verdict);
                }
            }
        }
    }
    Ok(if verified { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `bale sign (PKG | DIR[:TAG]) --key KEY [--name NAME]`.
pub fn sign(
    open: &dyn Fn() -> anyhow::Result<Store>,
    reference: &str,
    key: &Path,
    name: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let key = bale_trust::SigningKey::load(key)?;
    let key_id = key.public().id();
    let (dir, tag) = super::split_image(reference);
    if Path::new(&dir).join("oci-layout").is_file() {
        let signed = bale_image::sign_layout(Path::new(&dir), &tag, name, &key)?;
        if json {
            let images: Vec<_> = signed.iter().map(|(d, n)| json!({ "manifest": d, "name": n })).collect();
            print_json(&json!({ "layout": dir, "tag": tag, "images": images, "keyId": key_id }))?;
        } else {
            for (digest, name) in &signed {
                outln!("{} {digest} signed by {key_id}", printable(name));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if name.is_some() {
        anyhow::bail!("--name is for images of an OCI layout; a package is signed as its id");
    }
    let store = open()?;
    let store = &store;
    let record = store.resolve(reference)?;
    bale_image::sign_package(store, &record, &key)?;
    if json {
        print_json(&json!({ "id": record.id, "manifest": record.manifest.digest, "keyId": key_id }))?;
    } else {
        outln!("{} {} signed by {key_id}", record.id, record.manifest.digest);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_decision(indent: &str, decision: &bale_trust::Decision) {
    let rule = decision.rule.as_deref().map_or_else(|| "no rule".to_string(), |r| format!("rule {r:?}"));
    outln!("{indent}policy    {rule}: {}", printable(&decision.reason));
}

fn print_signatures(indent: &str, verdict: &bale_image::ImageVerdict) {
    if verdict.signatures.is_empty() {
        outln!("{indent}no signature is attached");
    }
    for signature in &verdict.signatures {
        let kind = signature.kind.as_deref().unwrap_or("bundle");
        match &signature.problem {
            None => {
                let keys: Vec<String> = signature.signed_by.iter().map(|k| k.to_string()).collect();
                outln!("{indent}{} by {}", printable(kind), keys.join(", "));
            }
            Some(problem) => outln!("{indent}a {} does not count: {}", printable(kind), printable(problem)),
        }
    }
}

/// `text` with every control character escaped.
fn printable(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}
