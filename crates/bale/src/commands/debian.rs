//! `bale import debian` and `bale debian show`.

use std::process::ExitCode;
use std::time::Instant;

use bale_build::ArchiveRequest;
use bale_debian::deb::DebOptions;
use bale_debian::import::ImportOptions;
use bale_progress::Progress;
use bale_store::Store;
use serde_json::json;

use crate::cli::{ArchiveArgs, DebianImportArgs};
use crate::output::{outln, print_json};

impl From<&ArchiveArgs> for ArchiveRequest {
    fn from(args: &ArchiveArgs) -> Self {
        Self {
            suite: args.suite.clone(),
            mirror: args.mirror.clone(),
            components: args.components.clone(),
            architecture: args.architecture.clone(),
            keyring: args.keyring.clone(),
            allow_expired: args.allow_expired,
            no_updates: args.no_updates,
        }
    }
}

pub fn import_debian(
    store: &Store,
    args: DebianImportArgs,
    json: bool,
    progress: &dyn Progress,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let config = bale_build::archive_config(&ArchiveRequest::from(&args.archive))?;
    let options = ImportOptions {
        deb: DebOptions { keep_docs: args.keep_docs },
        compression: super::image::compression_of(args.compression),
    };
    let report = bale_build::import_debian(store, &config, &args.packages, options, progress)?;
    let (suite, imported, base, index_size) = (report.suite, report.packages, report.base, report.index_size);
    if json {
        let updates: Vec<serde_json::Value> = suite
            .updates
            .iter()
            .map(|u| {
                json!({
                    "suite": u.config.suite,
                    "mirror": u.mirror.base(),
                    "release": u.release_sha256,
                    "signers": u.signers,
                })
            })
            .collect();
        print_json(&json!({
            "suite": suite.codename(),
            "mirror": suite.mirror.base(),
            "release": suite.release_sha256,
            "signers": suite.signers,
            "updates": updates,
            "packages": imported,
            "base": base,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{} {} verified (signed by {}){}",
        suite.origin(),
        suite.release_sha256.short(),
        suite.signers.join(", "),
        index_size.map_or_else(|| ", resolution cached".to_string(), |n| format!(", {n} packages in the index"))
    );
    for update in &suite.updates {
        outln!(
            "  with {} {} verified (signed by {})",
            update.config.suite,
            update.release_sha256.short(),
            update.signers.join(", ")
        );
    }
    let width = imported.iter().chain([&base]).map(|p| p.id.len()).max().unwrap_or(0);
    for package in imported.iter().chain([&base]) {
        outln!(
            "  {:<width$}  {}{}",
            package.id,
            package.content_digest,
            if package.new { "" } else { "  (already stored)" }
        );
    }
    let new = imported.iter().filter(|p| p.new).count();
    outln!("imported {} packages ({new} new) in {:.1} s", imported.len(), started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

pub fn show(
    store: &Store,
    name: &str,
    args: &ArchiveArgs,
    json: bool,
    progress: &dyn Progress,
) -> anyhow::Result<ExitCode> {
    let shown = bale_build::show_debian(store, &ArchiveRequest::from(args), name, progress)?;
    let describe = |p: &bale_debian::packages::BinaryPackage| {
        let relations = |groups: &[Vec<bale_debian::relation::Atom>]| {
            groups.iter().map(|g| g.iter().map(ToString::to_string).collect::<Vec<_>>().join(" | ")).collect::<Vec<_>>()
        };
        json!({
            "package": p.name,
            "version": p.version.to_string(),
            "architecture": p.architecture,
            "suite": p.suite,
            "component": p.component,
            "section": p.section,
            "priority": p.priority,
            "essential": p.essential,
            "source": format!("{} ({})", p.source, p.source_version),
            "preDepends": relations(&p.pre_depends),
            "depends": relations(&p.depends),
            "provides": p.provides.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "conflicts": p.conflicts.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "breaks": p.breaks.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "filename": p.filename,
            "size": p.size,
            "sha256": p.sha256,
            "installedSizeKiB": p.installed_size_kib,
            "summary": p.summary,
        })
    };
    let docs: Vec<serde_json::Value> = shown.versions.iter().map(describe).collect();
    let providers = &shown.provided_by;
    if json {
        print_json(&json!({ "suite": shown.suite, "versions": docs, "providedBy": providers }))?;
        return Ok(ExitCode::SUCCESS);
    }
    for doc in &docs {
        let Some(fields) = doc.as_object() else { continue };
        for (key, value) in fields {
            let text = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(items) if items.is_empty() => continue,
                serde_json::Value::Array(items) => {
                    items.iter().map(|i| i.as_str().unwrap_or_default().to_string()).collect::<Vec<_>>().join(", ")
                }
                other => other.to_string(),
            };
            outln!("{key:>16}: {text}");
        }
        outln!();
    }
    if !providers.is_empty() {
        outln!("provided by: {}", providers.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
