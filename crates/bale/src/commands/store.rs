//! `bale store verify`, `gc` and `path`.

use std::path::Path;
use std::process::ExitCode;

use bale_store::{Store, VerifyProblem};
use serde_json::json;

use crate::output::{human_bytes, outln, print_json};

pub fn verify(
    store: &Store,
    deep: bool,
    json: bool,
    progress: &dyn bale_progress::Progress,
) -> anyhow::Result<ExitCode> {
    let report = store.verify(deep, progress)?;
    if json {
        print_json(&report)?;
    } else {
        for problem in &report.problems {
            match problem {
                VerifyProblem::Corrupt { digest, actual, path } => {
                    outln!("corrupt: {digest} ({path}) hashes to {actual}");
                }
                VerifyProblem::StrayFile { path } => outln!("stray file: {path} is not named by a digest"),
                VerifyProblem::Missing { digest, referenced_by } => {
                    outln!("missing: {digest}, referenced by {referenced_by}");
                }
                VerifyProblem::Unreadable { digest, referenced_by, error } => {
                    outln!("unreadable: {digest}, referenced by {referenced_by}: {error}");
                }
                VerifyProblem::ContentMismatch { layer, expected, actual, package } => {
                    outln!("wrong content: layer {layer} of {package} unpacks to {actual}, not {expected}");
                }
            }
        }
        outln!(
            "{} blobs ({}) and {} packages checked: {}",
            report.blobs_checked,
            human_bytes(report.bytes_checked),
            report.packages_checked,
            if report.is_clean() { "all good".to_string() } else { format!("{} problems", report.problems.len()) }
        );
        if report.stale_temp_files > 0 {
            outln!(
                "{} leftover temporary files from interrupted writes (`bale store gc` removes them)",
                report.stale_temp_files
            );
        }
    }
    if !report.is_clean() {
        if !json {
            eprintln!("error: the store has {} problems (listed above)", report.problems.len());
            eprintln!("  help: pack or import the affected packages again, then run `bale store gc`");
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `bale store gc --blobs --index`: the shared storage of `bale serve`
/// nodes.
pub fn gc_shared(blobs: &str, index: &str, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    let report = bale_serve::gc_shared(blobs, index, dry_run)?;
    if json {
        print_json(&report)?;
    } else {
        let verb = if dry_run { "would remove" } else { "removed" };
        outln!(
            "{verb} {} blobs ({}) from {blobs}; {} named again meanwhile, kept",
            report.blobs_removed,
            human_bytes(report.bytes_removed),
            report.blobs_kept
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn gc(store: &Store, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    let report = store.gc_keeping(dry_run, || bale_serve::live_blobs(store))?;
    if json {
        print_json(&report)?;
    } else {
        let verb = if dry_run { "would remove" } else { "removed" };
        outln!(
            "{verb} {} blobs ({}) and {} temporary files; kept {} blobs",
            report.blobs_removed,
            human_bytes(report.bytes_removed),
            report.temp_files_removed,
            report.blobs_kept
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn path(root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&json!({ "path": root }))?;
    } else {
        outln!("{}", root.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn migrate(root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let store = Store::open(root)?;
    let changed = store.migrate()?;
    if json {
        let ids: Vec<_> = changed.iter().map(|(old, new)| json!({ "old": old, "new": new })).collect();
        print_json(&json!({ "migrated": ids }))?;
    } else if changed.is_empty() {
        outln!("{} is already in this bale's format", root.display());
    } else {
        for (old, new) in &changed {
            outln!("  {old} -> {new}");
        }
        outln!("migrated {} packages in {}", changed.len(), root.display());
    }
    Ok(ExitCode::SUCCESS)
}
