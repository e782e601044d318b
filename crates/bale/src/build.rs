//! `bale build`: spec → packages → image → OCI layout.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use bale_debian::deb::DebOptions;
use bale_debian::import::{ImportOptions, import_closure, parse_request};
use bale_fileset::{Compression, Limits, Normalize};
use bale_image::{
    ComposeOptions, SbomFormat, SbomInput, Spec, attach_sboms, compose, render_sbom, write_archive, write_layout,
};
use bale_progress::Progress;
use bale_store::{PackRequest, PackSource, Store};
use serde_json::json;

use crate::cli::{ArchiveArgs, BuildArgs, CompressionArg, ImageFormat};
use crate::output::{human_bytes, print_json};

pub fn build(store: &Store, args: BuildArgs, json: bool, progress: &dyn Progress) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let spec = Spec::load(&args.spec)?;
    let spec_dir = args.spec.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let compression = match args.compression {
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Zstd => Compression::Zstd,
    };
    let mut ids: Vec<String> = Vec::new();
    let mut architecture = crate::debian::host_architecture();
    if let Some(debian) = &spec.debian {
        let archive_args = ArchiveArgs {
            suite: debian.suite.clone(),
            mirror: debian.mirror.clone(),
            components: debian.components.clone(),
            architecture: debian.architecture.clone(),
            keyring: debian.keyring.as_ref().map(|k| spec_dir.join(k)),
            allow_expired: false,
        };
        let config = crate::debian::archive_config(&archive_args)?;
        architecture = config.architecture.clone();
        let roots = debian
            .packages
            .iter()
            .map(|text| {
                parse_request(text).with_context(|| format!("{}: debian.packages: {text:?}", args.spec.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let options = ImportOptions { deb: DebOptions { keep_docs: debian.keep_docs }, compression };
        let report = import_closure(store, &config, roots, options, progress, |index, roots| {
            let request = bale_resolve::Request {
                index,
                architecture: config.architecture.clone(),
                roots,
                locked: Default::default(),
            };
            bale_resolve::resolve(&request).map(|r| r.packages)
        })?;
        ids.extend(report.packages.into_iter().map(|p| p.id));
        ids.push(report.base.id);
    }
    for local in &spec.locals {
        let dir = spec_dir.join(&local.path);
        let request = PackRequest {
            name: local.name.clone(),
            version: local.version.clone(),
            license: local.license.clone(),
            compression,
            normalize: Normalize::default(),
            limits: Limits::default(),
            // The directory is this project's own: a rebuild after an edit
            // replaces the package.
            replace: true,
        };
        let outcome =
            bale_store::pack(store, &PackSource::Directory(dir.clone()), &request, progress).with_context(|| {
                format!("packing {} (local {:?} of {})", dir.display(), local.name, args.spec.display())
            })?;
        ids.push(outcome.id);
    }
    let created = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let options = ComposeOptions { architecture, created, layer_cap: spec.layer_cap, compression };
    let mut image = compose(store, &ids, &spec.config, &options, progress).context("composing the image")?;
    let sbom = SbomInput::load(store, &image, &spec.name, &spec.tag, created)?;
    attach_sboms(store, &mut image, &sbom)?;
    match args.format {
        ImageFormat::Oci => write_layout(store, &image, &args.output, &spec.tag)?,
        ImageFormat::OciArchive => write_archive(store, &image, &args.output, &spec.tag)?,
    }
    // The SBOMs also beside the output, for people and scanners.
    for format in [SbomFormat::Spdx, SbomFormat::CycloneDx] {
        let mut path = args.output.clone().into_os_string();
        path.push(format!(".{}", format.extension()));
        std::fs::write(&path, render_sbom(&sbom, format)).with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        print_json(&json!({
            "name": spec.name,
            "tag": spec.tag,
            "output": args.output,
            "manifest": image.manifest,
            "config": image.config,
            "layers": image.layers.iter().map(|l| json!({
                "package": l.package,
                "digest": l.descriptor.digest,
                "size": l.descriptor.size,
                "diffId": l.diff_id,
            })).collect::<Vec<_>>(),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let total: u64 = image.layers.iter().map(|l| l.descriptor.size).sum();
    println!("{}:{} {}", spec.name, spec.tag, image.manifest.digest);
    println!(
        "  {} layers ({} packages + generated), {} compressed, in {:.1} s",
        image.layers.len(),
        image.layers.len() - 1,
        human_bytes(total),
        started.elapsed().as_secs_f64()
    );
    let format = match args.format {
        ImageFormat::Oci => "OCI layout",
        ImageFormat::OciArchive => "oci-archive",
    };
    println!("  written to {} ({format}, tag {})", args.output.display(), spec.tag);
    Ok(ExitCode::SUCCESS)
}
