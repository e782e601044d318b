use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use bale_fileset::{Compression, FileIndex, Limits, ModePolicy, Normalize, OwnerPolicy, UnpackOptions};
use bale_store::{PackRequest, PackSource, Provenance, Store, VerifyProblem};
use serde_json::json;

use crate::cli::{Cli, Command, CompressionArg, DebianCommand, ImportCommand, PackArgs, StoreCommand};
use crate::output::{human_bytes, mode_string, print_json};
use crate::progress;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    let root = match global.store {
        Some(dir) => dir,
        None => Store::default_root()?,
    };
    let progress = progress::for_terminal(global.json, global.quiet);
    let open = || Store::open(&root).with_context(|| format!("opening the store at {}", root.display()));
    match cli.command {
        Command::Pack(args) => pack(&open()?, args, global.json, progress.as_ref()),
        Command::Inspect { reference, files } => inspect(&open()?, &reference, files, global.json),
        Command::List => list(&open()?, global.json),
        Command::Unpack { reference, dest } => unpack(&open()?, &reference, &dest, global.json),
        Command::Remove { reference } => {
            let store = open()?;
            let record = store.resolve(&reference)?;
            store.remove_package(&record.id)?;
            if global.json {
                print_json(&json!({ "removed": record.id }))?;
            } else {
                println!("removed {} (run `bale store gc` to free its blobs)", record.id);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sbom { image, format } => {
            let (dir, tag) = split_image(&image);
            let media_type = match format {
                crate::cli::SbomFormatArg::Spdx => bale_image::SPDX_MEDIA_TYPE,
                crate::cli::SbomFormatArg::Cyclonedx => bale_image::CYCLONEDX_MEDIA_TYPE,
            };
            let bytes = bale_image::read_referrer(Path::new(&dir), &tag, media_type)?;
            use std::io::Write;
            std::io::stdout().lock().write_all(&bytes)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Push { image, reference } => {
            let (dir, tag) = split_image(&image);
            let target: bale_registry::Reference = reference.parse()?;
            let report = bale_registry::push_layout(Path::new(&dir), &tag, &target, progress.as_ref())
                .with_context(|| format!("pushing {dir}:{tag} to {target}"))?;
            if global.json {
                print_json(&report)?;
            } else {
                println!("pushed {} {}", report.reference, report.manifest);
                println!(
                    "  {} blobs sent ({} bytes in all, manifests included), {} already there; {} referrers (SBOMs)",
                    report.blobs_sent, report.bytes_sent, report.blobs_present, report.referrers
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Pull { reference, output } => {
            let store = open()?;
            let source: bale_registry::Reference = reference.parse()?;
            let report =
                bale_registry::pull(&source, &store, progress.as_ref()).with_context(|| format!("pulling {source}"))?;
            if let Some(dir) = &output {
                let tag = if source.reference.starts_with("sha256:") { "latest" } else { source.reference.as_str() };
                bale_image::write_pulled_layout(&store, &report.manifest, report.manifest_size, dir, tag)?;
            }
            if global.json {
                print_json(&report)?;
            } else {
                println!("pulled {} {}", report.reference, report.manifest);
                println!("  {} layers, {} bytes received", report.layers.len(), report.bytes_received);
                if let Some(dir) = output {
                    println!("  written to {} (OCI layout)", dir.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Lock { spec } => crate::build::lock(&open()?, &spec, None, global.json, progress.as_ref()),
        Command::Update { package, spec } => {
            crate::build::lock(&open()?, &spec, Some(&package), global.json, progress.as_ref())
        }
        Command::Build(args) => crate::build::build(&open()?, args, global.json, progress.as_ref()),
        Command::Import(ImportCommand::Debian(args)) => {
            crate::debian::import_debian(&open()?, args, global.json, progress.as_ref())
        }
        Command::Debian(DebianCommand::Show { name, archive }) => {
            crate::debian::show(&open()?, &name, &archive, global.json, progress.as_ref())
        }
        Command::Store(StoreCommand::Verify { deep }) => verify(&open()?, deep, global.json, progress.as_ref()),
        Command::Store(StoreCommand::Gc { dry_run }) => {
            let report = open()?.gc(dry_run)?;
            if global.json {
                print_json(&report)?;
            } else {
                let verb = if dry_run { "would remove" } else { "removed" };
                println!(
                    "{verb} {} blobs ({}) and {} temporary files; kept {} blobs",
                    report.blobs_removed,
                    human_bytes(report.bytes_removed),
                    report.temp_files_removed,
                    report.blobs_kept
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Store(StoreCommand::Path) => {
            if global.json {
                print_json(&json!({ "path": root }))?;
            } else {
                println!("{}", root.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `DIR[:TAG]`, the tag defaulting to `latest`.
fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => (dir.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

fn pack(store: &Store, args: PackArgs, json: bool, progress: &dyn bale_progress::Progress) -> anyhow::Result<ExitCode> {
    let metadata = std::fs::metadata(&args.path)
        .with_context(|| format!("cannot read {}: give a directory or a tar file", args.path.display()))?;
    let source =
        if metadata.is_dir() { PackSource::Directory(args.path.clone()) } else { PackSource::Tar(args.path.clone()) };
    let request = PackRequest {
        name: args.name,
        version: args.version,
        license: args.license,
        compression: match args.compression {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        },
        normalize: Normalize {
            modes: if args.preserve_modes {
                ModePolicy::Preserve { special_bits: args.preserve_special_bits }
            } else {
                ModePolicy::Canonical
            },
            owners: if args.preserve_owners { OwnerPolicy::Preserve } else { OwnerPolicy::Root },
            keep_xattrs: args.keep_xattrs,
        },
        limits: Limits { max_total_size: args.max_size, max_entry_size: args.max_size, max_entries: args.max_entries },
        replace: args.replace,
    };
    let outcome = bale_store::pack(store, &source, &request, progress)
        .with_context(|| format!("packing {}", args.path.display()))?;
    let content = outcome.metadata.content;
    if json {
        print_json(&json!({
            "id": outcome.id,
            "name": outcome.metadata.name,
            "version": outcome.metadata.version,
            "new": outcome.new,
            "content": content,
            "layer": outcome.layer,
            "fileIndex": outcome.file_index,
            "manifest": outcome.manifest,
        }))?;
    } else {
        println!("{} {}", outcome.id, content.digest);
        println!(
            "  {} files, {} entries, {} ({} {}){}",
            content.files,
            content.entries,
            human_bytes(content.size),
            human_bytes(outcome.layer.size),
            request.compression.name(),
            if outcome.new { "" } else { ", already in the store" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(store: &Store, reference: &str, files: bool, json: bool) -> anyhow::Result<ExitCode> {
    let record = store.resolve(reference)?;
    let (manifest, metadata) = store.load_package(&record)?;
    let layer = manifest.layers.first().context("the package manifest lists no layer")?;
    let index: Option<FileIndex> = if files {
        Some(store.read_json(&metadata.file_index.digest, &format!("the file index of {}", record.id))?)
    } else {
        None
    };
    if json {
        let mut doc = json!({
            "id": record.id,
            "manifest": record.manifest,
            "layer": layer,
            "metadata": metadata,
        });
        if let Some(index) = &index {
            doc["files"] = serde_json::to_value(&index.entries)?;
        }
        print_json(&doc)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", record.id);
    println!("  content   {}", metadata.content.digest);
    println!(
        "  size      {} ({} bytes), {} files, {} entries",
        human_bytes(metadata.content.size),
        metadata.content.size,
        metadata.content.files,
        metadata.content.entries
    );
    println!("  layer     {} ({}, {})", layer.digest, layer.media_type, human_bytes(layer.size));
    println!("  manifest  {}", record.manifest.digest);
    println!("  licence   {}", metadata.license);
    println!("  purl      {}", metadata.purl);
    match &metadata.provenance {
        Provenance::Directory => println!("  source    a directory"),
        Provenance::Generated { generator } => println!("  source    generated by {generator}"),
        Provenance::Tar { sha256 } => println!("  source    a tar file, {sha256}"),
        Provenance::Debian { archive, suite, component, filename, deb_sha256, .. } => {
            println!("  source    {archive} {suite}/{component}, {filename}");
            println!("  deb       {deb_sha256}");
        }
    }
    for dep in &metadata.dependencies {
        let alternatives: Vec<String> = dep
            .any_of
            .iter()
            .map(|a| match &a.version {
                Some(v) => format!("{} ({v})", a.name),
                None => a.name.clone(),
            })
            .collect();
        println!("  depends   {}", alternatives.join(" | "));
    }
    if let Some(index) = index {
        println!();
        for entry in &index.entries {
            let size = entry.size.map(|s| s.to_string()).unwrap_or_else(|| "0".into());
            let suffix = match (entry.kind.as_str(), &entry.target) {
                ("symlink", Some(t)) => format!(" -> {t}"),
                ("hardlink", Some(t)) => format!(" link to {t}"),
                ("directory", _) => "/".to_string(),
                _ => String::new(),
            };
            println!(
                "{} {:>9} {:>10} {}{}",
                mode_string(&entry.kind, &entry.mode),
                format!("{}/{}", entry.uid, entry.gid),
                size,
                entry.path,
                suffix
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(store: &Store, json: bool) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for record in store.packages()? {
        let (_, metadata) = store.load_package(&record)?;
        rows.push((record, metadata));
    }
    if json {
        let packages: Vec<_> = rows
            .iter()
            .map(|(record, metadata)| {
                json!({
                    "id": record.id,
                    "content": metadata.content,
                    "manifest": record.manifest.digest,
                    "license": metadata.license,
                })
            })
            .collect();
        print_json(&json!({ "packages": packages }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no packages in {}", store.root().display());
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows.iter().map(|(r, _)| r.id.len()).max().unwrap_or(0).max(7);
    println!("{:<width$}  {:<12}  {:>10}  {:>7}", "PACKAGE", "CONTENT", "SIZE", "FILES");
    for (record, metadata) in &rows {
        println!(
            "{:<width$}  {:<12}  {:>10}  {:>7}",
            record.id,
            metadata.content.digest.short(),
            human_bytes(metadata.content.size),
            metadata.content.files
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn unpack(store: &Store, reference: &str, dest: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let record = store.resolve(reference)?;
    let (manifest, metadata) = store.load_package(&record)?;
    let layer = manifest.layers.first().context("the package manifest lists no layer")?;
    // Check the blob before writing anything: a damaged layer must not
    // leave half a tree behind.
    store.check_blob(&layer.digest).with_context(|| format!("reading the layer of {}", record.id))?;
    let reader = store.open_layer(layer)?;
    // The package says exactly how big it is; anything more is damage.
    let limits = Limits {
        max_total_size: metadata.content.size,
        max_entry_size: metadata.content.size,
        max_entries: metadata.content.entries,
    };
    let options = UnpackOptions { owners: is_root() };
    let entries = bale_fileset::unpack(reader, dest, &limits, options)
        .with_context(|| format!("unpacking {} into {}", record.id, dest.display()))?;
    if json {
        print_json(&json!({ "id": record.id, "dest": dest, "entries": entries }))?;
    } else {
        println!("unpacked {} ({entries} entries) into {}", record.id, dest.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn is_root() -> bool {
    // /proc/self is owned by the process's effective uid.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn verify(store: &Store, deep: bool, json: bool, progress: &dyn bale_progress::Progress) -> anyhow::Result<ExitCode> {
    let report = store.verify(deep, progress)?;
    if json {
        print_json(&report)?;
    } else {
        for problem in &report.problems {
            match problem {
                VerifyProblem::Corrupt { digest, actual, path } => {
                    println!("corrupt: {digest} ({path}) hashes to {actual}");
                }
                VerifyProblem::StrayFile { path } => println!("stray file: {path} is not named by a digest"),
                VerifyProblem::Missing { digest, referenced_by } => {
                    println!("missing: {digest}, referenced by {referenced_by}");
                }
                VerifyProblem::Unreadable { digest, referenced_by, error } => {
                    println!("unreadable: {digest}, referenced by {referenced_by}: {error}");
                }
                VerifyProblem::ContentMismatch { layer, expected, actual, package } => {
                    println!("wrong content: layer {layer} of {package} unpacks to {actual}, not {expected}");
                }
            }
        }
        println!(
            "{} blobs ({}) and {} packages checked: {}",
            report.blobs_checked,
            human_bytes(report.bytes_checked),
            report.packages_checked,
            if report.is_clean() { "all good".to_string() } else { format!("{} problems", report.problems.len()) }
        );
        if report.stale_temp_files > 0 {
            println!(
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
