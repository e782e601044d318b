//! `bale make`: packages built from recipes.

use std::process::ExitCode;

use bale_fileset::Compression;
use bale_recipe::{MakeRequest, make as make_package};
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
        recipe: args.recipe,
        locked: args.locked,
        helper: std::env::current_exe()?,
        compression: match args.compression {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        },
    };
    let report = make_package(store, &request, progress)?;
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
        if report.relocked {
            outln!("  pinned its inputs in {}", report.lock.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
