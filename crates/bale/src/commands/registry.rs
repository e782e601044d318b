//! `bale push` and `bale pull`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bale_progress::Progress;
use bale_store::Store;

use crate::output::{outln, print_json};

/// `store` (when there is one) remembers which repository holds which
/// blob, so pushing to another repository of a registry mounts them.
pub fn push(
    store: Option<&Store>,
    image: &str,
    reference: &str,
    json: bool,
    progress: &dyn Progress,
) -> anyhow::Result<ExitCode> {
    let (dir, tag) = super::split_image(image);
    // Not a layout but a package of the store: pushed as an artifact of
    // its own under REF, a repository prefix.
    if !Path::new(&dir).is_dir()
        && let Some(store) = store
        && let Ok(record) = store.resolve(image)
    {
        let report = bale_registry::packages::push_package(store, &record, reference)
            .with_context(|| format!("pushing {} under {reference}", record.id))?;
        if json {
            print_json(&report)?;
        } else {
            outln!("pushed {} as {} {}", report.id, report.reference, report.manifest);
            outln!("  {} blobs sent ({} bytes), {} signatures", report.blobs_sent, report.bytes_sent, report.referrers);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let target: bale_registry::Reference = reference.parse()?;
    let known = store.map(|s| bale_registry::mounts::known(s, &target.registry)).unwrap_or_default();
    let report = bale_registry::push_layout(Path::new(&dir), &tag, &target, &|d| known.get(d).cloned(), progress)
        .with_context(|| format!("pushing {dir}:{tag} to {target}"))?;
    if let Some(store) = store {
        bale_registry::mounts::record(store, &target.registry, &target.repository, &report.blobs);
    }
    if json {
        print_json(&report)?;
    } else {
        outln!("pushed {} {}", report.reference, report.manifest);
        outln!(
            "  {} blobs sent ({} bytes in all, manifests included), {} mounted from another repository, {} already \
             there; {} referrers (SBOMs){}",
            report.blobs_sent,
            report.bytes_sent,
            report.blobs_mounted,
            report.blobs_present,
            report.referrers,
            if report.referrer_tags > 0 { ", listed under the fallback tag (no referrers API here)" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn pull(
    store: &Store,
    reference: &str,
    output: Option<PathBuf>,
    policy: Option<PathBuf>,
    json: bool,
    progress: &dyn Progress,
) -> anyhow::Result<ExitCode> {
    let source: bale_registry::Reference = reference.parse()?;
    let policy = policy.or_else(bale_trust::policy::default_path).map(|p| bale_trust::Policy::load(&p)).transpose()?;
    let today = bale_trust::policy::today();
    // An image without a name of its own is judged by its reference.
    let fallback = format!("{}/{}", source.registry, source.repository);
    let check = |candidates: &[bale_registry::PullCandidate]| -> Result<(), String> {
        let Some(policy) = &policy else { return Ok(()) };
        let keys: Vec<bale_trust::PublicKey> = policy.keys.iter().map(|k| k.key.clone()).collect();
        for candidate in candidates {
            let verdict = bale_image::verdict_from_bundles(
                &candidate.digest,
                &candidate.manifest,
                &candidate.of_type(bale_trust::BUNDLE_MEDIA_TYPE),
                &candidate.of_type(bale_image::PACKAGE_TRUST_MEDIA_TYPE),
                Some(store),
                &keys,
            );
            let decision = verdict.decide_all(policy, &fallback, today);
            if let Some((what, reason)) = decision.refusal() {
                let name = verdict.name.as_deref().unwrap_or(&fallback);
                let what = if what.is_empty() { String::new() } else { format!(": its {what}") };
                return Err(format!(
                    "{name} {}{what} does not meet the trust policy {}: {reason}",
                    candidate.digest,
                    policy.path.display(),
                ));
            }
        }
        Ok(())
    };
    let guard = bale_registry::PullGuard {
        artifact_types: &[bale_trust::BUNDLE_MEDIA_TYPE, bale_image::PACKAGE_TRUST_MEDIA_TYPE],
        max_blob: bale_image::MAX_PACKAGE_TRUST,
        check: &check,
    };
    let report = bale_registry::pull_guarded(&source, store, policy.as_ref().map(|_| &guard), progress)
        .with_context(|| format!("pulling {source}"))?;
    if let Some(dir) = &output {
        let tag = if source.reference.starts_with("sha256:") { "latest" } else { source.reference.as_str() };
        let media_type =
            if report.images.is_empty() { bale_store::MANIFEST_MEDIA_TYPE } else { bale_store::INDEX_MEDIA_TYPE };
        let top = bale_store::Descriptor::new(media_type, report.manifest, report.manifest_size);
        bale_image::write_pulled_layout(store, &top, &report.referrers, dir, tag)?;
    }
    if json {
        print_json(&report)?;
    } else {
        outln!("pulled {} {}", report.reference, report.manifest);
        if !report.images.is_empty() {
            let platforms: Vec<String> =
                report.images.iter().filter_map(|d| d.platform.as_ref()).map(bale_store::oci::Platform::name).collect();
            outln!("  an image index of {} images: {}", report.images.len(), platforms.join(", "));
        }
        outln!(
            "  {} layers and {} referrers (SBOMs), {} bytes received",
            report.layers.len(),
            report.referrers.len(),
            report.bytes_received
        );
        if let Some(dir) = output {
            outln!("  written to {} (OCI layout)", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `bale serve`: prints where it listens (a line, or `{"listening": …}`),
/// then serves until SIGINT or SIGTERM.
pub fn serve(options: &bale_serve::ServeOptions<'_>, json: bool) -> anyhow::Result<ExitCode> {
    let what = match options.blobs {
        // The database URL may hold a password: not printed.
        Some(blobs) => format!("{blobs} (records in PostgreSQL)"),
        None => options.store.display().to_string(),
    };
    let scheme = if options.tls.is_some() { "https" } else { "http" };
    bale_serve::serve(options, |address| {
        if json {
            println!("{}", serde_json::json!({"listening": address.to_string()}));
        } else {
            println!("serving {what} on {scheme}://{address}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `bale query`: which images hold a package (`key`: name, source, id or
/// content, with its value), or what `image` holds.
pub fn query(
    registry: &str,
    key: Option<(&'static str, String)>,
    image: Option<String>,
    signed_by: Option<String>,
    version: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let answer = match (key, image) {
        _ if let Some(signer) = &signed_by => bale_registry::query(registry, "signed", &[("key", signer)])?,
        (_, Some(image)) => {
            let (repository, reference) = match image.split_once('@') {
                Some((repository, digest)) => (repository.to_string(), digest.to_string()),
                None => match image.rsplit_once(':') {
                    Some((repository, tag)) if !tag.contains('/') => (repository.to_string(), tag.to_string()),
                    _ => (image.clone(), "latest".to_string()),
                },
            };
            bale_registry::query(registry, "images", &[("repository", &repository), ("reference", &reference)])?
        }
        (Some((key, value)), None) => {
            let mut params = vec![(key, value.as_str())];
            if let Some(version) = &version {
                params.push(("version", version));
            }
            bale_registry::query(registry, "packages", &params)?
        }
        (None, None) => {
            anyhow::bail!("say what to look for: --package, --source, --id, --content, --image or --signed-by")
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    if let Some(packages) = answer["packages"].as_array() {
        println!("{}@{} holds {} packages", text(&answer["repository"]), text(&answer["digest"]), packages.len());
        for p in packages {
            let source = match (p["source"].as_str(), p["sourceVersion"].as_str()) {
                (Some(s), Some(v)) => format!("  (source {s} {v})"),
                _ => String::new(),
            };
            println!("  {}{source}", text(&p["id"]));
        }
        for kind in ["signatures", "attestations"] {
            for claim in answer[kind].as_array().into_iter().flatten() {
                println!(
                    "  {} by {} ({}, referrer {})",
                    kind.trim_end_matches('s'),
                    text(&claim["key"]),
                    text(&claim["predicateType"]),
                    text(&claim["referrer"])
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let images = answer["images"].as_array().cloned().unwrap_or_default();
    if images.is_empty() {
        println!("no image holds it");
    }
    for m in &images {
        let tags: Vec<String> = m["tags"].as_array().into_iter().flatten().map(text).collect();
        let tags = if tags.is_empty() { String::new() } else { format!(":{}", tags.join(",")) };
        let what = match m.get("claim") {
            Some(claim) => format!("{} {}", text(&claim["kind"]), text(&claim["predicateType"])),
            None => text(&m["package"]["id"]),
        };
        println!("{}{tags}  {}  {what}", text(&m["repository"]), text(&m["digest"]));
    }
    Ok(ExitCode::SUCCESS)
}

/// The largest advisory file read (Debian's whole tracker is about 80 MB).
const MAX_ADVISORIES: u64 = 1 << 30;

/// `bale audit`: every (advisory, image, package) where an image holds a
/// package built from an affected source version; exit 1 when any.
pub fn audit(registry: &str, file: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_ADVISORIES).read_to_string(&mut text))
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let advisories = bale_serve::advisories::parse(&file.display().to_string(), &text)?;
    let held = bale_registry::query(registry, "sources", &[])?;
    let held: std::collections::BTreeSet<&str> =
        held["sources"].as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect();
    let mut by_source: std::collections::BTreeMap<&str, Vec<&bale_serve::advisories::Advisory>> = Default::default();
    for advisory in advisories.iter().filter(|a| held.contains(a.source.as_str())) {
        by_source.entry(advisory.source.as_str()).or_default().push(advisory);
    }
    let mut findings = Vec::new();
    for (source, advisories) in by_source {
        let answer = bale_registry::query(registry, "packages", &[("source", source)])?;
        for image in answer["images"].as_array().into_iter().flatten() {
            let package = &image["package"];
            let id = package["id"].as_str().unwrap_or_default();
            let version = package["sourceVersion"].as_str().or(package["version"].as_str()).unwrap_or_default();
            for advisory in &advisories {
                if advisory.affects(bale_serve::advisories::release_of(id), version) {
                    findings.push(serde_json::json!({
                        "advisory": advisory.id,
                        "source": source,
                        "fixed": advisory.ranges.iter().find_map(|r| r.fixed.clone()),
                        "repository": image["repository"],
                        "digest": image["digest"],
                        "tags": image["tags"],
                        "package": package,
                    }));
                }
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"findings": findings}))?);
    } else {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        for f in &findings {
            let tags: Vec<String> = f["tags"].as_array().into_iter().flatten().map(text).collect();
            let tags = if tags.is_empty() { String::new() } else { format!(":{}", tags.join(",")) };
            let fixed =
                f["fixed"].as_str().map(|v| format!(" (fixed in {v})")).unwrap_or_else(|| " (not fixed)".into());
            println!(
                "{} {}{fixed}: {}{tags} {} holds {}",
                text(&f["advisory"]),
                text(&f["source"]),
                text(&f["repository"]),
                text(&f["digest"]),
                text(&f["package"]["id"])
            );
        }
        let images: std::collections::BTreeSet<String> = findings.iter().map(|f| text(&f["digest"])).collect();
        eprintln!("{} findings in {} images ({} advisories read)", findings.len(), images.len(), advisories.len());
    }
    Ok(if findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `bale key token`: a new user for an auth file.
pub fn token(name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (token, digest) = bale_serve::auth::new_token()?;
    if json {
        println!("{}", serde_json::json!({"name": name, "token": token, "tokenSha256": digest}));
    } else {
        println!("token: {token}");
        println!("add to the auth file (pull and push as needed):\n");
        println!("[[user]]\nname = {}\ntoken_sha256 = \"{digest}\"\npull = [\"*\"]\npush = []", toml_string(name));
    }
    Ok(ExitCode::SUCCESS)
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}
