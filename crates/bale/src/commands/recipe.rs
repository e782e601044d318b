//! `bale make`: packages built from recipes.

use std::process::ExitCode;

use bale_fileset::Compression;
use bale_recipe::{MakeRequest, RebuildRequest, make as make_package};
use bale_store::Store;
use serde_json::json;

use crate::cli::{CompressionArg, MakeArgs};
use crate::output::{human_bytes, outln, print_json};

pub fn make(
    store: &Store,
    args: MakeArgs,
    json: bool,
    progress: &dyn bale_progress::Progress,
) -> anyhow::Result<ExitCode> {
    let request = MakeRequest {
        recipe: args.recipe.clone(),
        locked: args.locked,
        helper: std::env::current_exe()?,
        compression: match args.compression {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        },
    };
    // Read before building: a key that cannot sign would waste the build.
    let key = args.sign.as_deref().map(bale_trust::SigningKey::load).transpose()?;
    let report = make_package(store, &request, progress)?;
    if let Some(key) = &key {
        for id in std::iter::once(&report.id).chain(report.splits.iter().map(|s| &s.id)) {
            bale_image::sign_package(store, &store.resolve(id)?, key)?;
        }
    }
    let content = report.metadata.content;
    if json {
        print_json(&json!({
            "id": report.id,
            "name": report.metadata.name,
            "version": report.metadata.version,
            "new": report.new,
            "content": content,
            "manifest": report.manifest,
            "lock": report.lock,
            "relocked": report.relocked,
            "splits": report.splits,
            "provenance": report.metadata.provenance,
        }))?;
    } else {
        outln!("{} {}", report.id, content.digest);
        outln!(
            "  {} files, {} entries, {}{}",
            content.files,
            content.entries,
            human_bytes(content.size),
            if report.new { "" } else { ", already in the store" }
        );
        for split in &report.splits {
            outln!("{} {}{}", split.id, split.content, if split.new { "" } else { " (already in the store)" });
        }
        if report.relocked {
            outln!("  pinned its inputs in {}", report.lock.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rebuild(
    store: &Store,
    reference: &str,
    attest: Option<&std::path::Path>,
    json: bool,
    progress: &dyn bale_progress::Progress,
) -> anyhow::Result<ExitCode> {
    let key = attest.map(bale_trust::SigningKey::load).transpose()?;
    let request = RebuildRequest {
        reference: reference.to_string(),
        helper: std::env::current_exe()?,
        compression: Compression::Gzip,
    };
    let report = bale_recipe::rebuild(store, &request, progress)?;
    let attested = match &key {
        Some(key) if report.reproducible => Some(bale_recipe::attest(store, &report, key)?),
        _ => None,
    };
    if json {
        let mut doc = serde_json::to_value(&report)?;
        if let Some(key_id) = &attested {
            doc["attestedBy"] = json!(key_id);
        }
        print_json(&doc)?;
    } else if report.reproducible {
        outln!("{} is reproducible: the rebuild gave {}", report.id, report.actual);
        if let Some(key_id) = &attested {
            outln!("  attested by {key_id}");
        }
    } else {
        outln!("{} is NOT reproducible", report.id);
        outln!("  stored   {}", report.expected);
        outln!("  rebuilt  {}", report.actual);
        for path in &report.only_in_stored {
            outln!("  only in the stored package: {path}");
        }
        for path in &report.only_in_rebuild {
            outln!("  only in the rebuild: {path}");
        }
        for difference in &report.differences {
            match difference.first_offset {
                Some(offset) => outln!(
                    "  {}: {} differs from byte {offset} ({} stored, {} rebuilt)",
                    difference.path,
                    difference.aspect,
                    difference.stored,
                    difference.rebuilt
                ),
                None => outln!(
                    "  {}: {} differs ({} stored, {} rebuilt)",
                    difference.path,
                    difference.aspect,
                    difference.stored,
                    difference.rebuilt
                ),
            }
            if !difference.elf_sections.is_empty() {
                outln!("    ELF sections: {}", difference.elf_sections.join(", "));
            }
            for line in &difference.text_diff {
                outln!("    {line}");
            }
            if let Some(cause) = &difference.likely_cause {
                outln!("    likely cause: {cause}");
            }
        }
    }
    Ok(if report.reproducible { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
