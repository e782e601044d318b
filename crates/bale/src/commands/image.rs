//! `bale build`, `lock`, `update` and `sbom`: printing what the pipeline
//! (`bale-build`) did.

use std::path::Path;

use anyhow::Context;
use std::process::ExitCode;
use std::time::Instant;

use bale_build::{BuildRequest, OutputFormat};
use bale_fileset::Compression;
use bale_progress::Progress;
use bale_store::Store;
use serde_json::json;

use crate::cli::{BuildArgs, CompressionArg, ImageFormat, SbomFormatArg};
use crate::output::{human_bytes, out, outln, print_json};

pub(crate) fn compression_of(arg: CompressionArg) -> Compression {
    match arg {
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Zstd => Compression::Zstd,
    }
}

/// `bale lock` (`update` None) and `bale update PKG`.
pub fn lock(
    store: &Store,
    spec_path: &Path,
    update: Option<&str>,
    json: bool,
    progress: &dyn Progress,
) -> anyhow::Result<ExitCode> {
    let report = match update {
        Some(package) => bale_build::update(store, spec_path, package, progress)?,
        None => bale_build::lock(store, spec_path, progress)?,
    };
    if json {
        print_json(&json!({ "lock": report.path, "packages": report.packages, "changes": report.changes }))?;
    } else {
        outln!("{}: {} packages pinned", report.path.display(), report.packages);
        for change in &report.changes {
            outln!("  {change}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `bale lock --check`: exit 1 when re-locking would change anything.
pub fn check_lock(store: &Store, spec_path: &Path, json: bool, progress: &dyn Progress) -> anyhow::Result<ExitCode> {
    let report = bale_build::check_lock(store, spec_path, progress)?;
    let current = report.changes.is_empty() && report.path.exists();
    if json {
        print_json(&json!({ "lock": report.path, "current": current, "changes": report.changes }))?;
    } else if current {
        outln!("{}: current ({} packages pinned)", report.path.display(), report.packages);
    } else {
        outln!("{}: behind the archive; `bale lock` would make these changes:", report.path.display());
        for change in &report.changes {
            outln!("  {change}");
        }
    }
    Ok(if current { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub fn build(
    store: &Store,
    args: BuildArgs,
    json: bool,
    quiet: bool,
    progress: &dyn Progress,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let request = BuildRequest {
        spec: args.spec.clone(),
        output: args.output.clone(),
        format: match args.format {
            ImageFormat::Oci => OutputFormat::Layout,
            ImageFormat::OciArchive => OutputFormat::Archive,
        },
        locked: args.locked,
        compression: compression_of(args.compression),
        helper: std::env::current_exe()?,
        sign: args.sign.clone(),
        policy: args.policy.clone(),
    };
    let report = bale_build::build(store, &request, progress)?;
    let layers_json = |image: &bale_image::Image| {
        image
            .layers
            .iter()
            .map(|l| {
                json!({
                    "package": l.package,
                    "merged": l.merged,
                    "digest": l.descriptor.digest,
                    "size": l.descriptor.size,
                    "diffId": l.diff_id,
                })
            })
            .collect::<Vec<_>>()
    };
    if json {
        let mut doc = json!({
            "name": report.name,
            "tag": report.tag,
            "output": args.output,
            "sboms": report.sboms,
            "recommendsLeftOut": report.left_out,
            "addedForWheels": report.added_for_wheels,
            "fromRegistry": report.from_registry,
        });
        match (&report.index, report.images.as_slice()) {
            (None, [image]) => {
                doc["architecture"] = json!(image.architecture);
                doc["manifest"] = json!(image.manifest);
                doc["config"] = json!(image.config);
                doc["layers"] = json!(layers_json(image));
            }
            _ => {
                doc["index"] = json!(report.index);
                doc["images"] = report
                    .images
                    .iter()
                    .map(|image| {
                        json!({
                            "architecture": image.architecture,
                            "platform": image.platform,
                            "manifest": image.manifest,
                            "config": image.config,
                            "layers": layers_json(image),
                        })
                    })
                    .collect();
            }
        }
        print_json(&doc)?;
        return Ok(ExitCode::SUCCESS);
    }
    match &report.index {
        Some(index) => outln!("{}:{} {} (image index)", report.name, report.tag, index.digest),
        None => outln!("{}:{} {}", report.name, report.tag, report.images[0].manifest.digest),
    }
    for image in &report.images {
        let total: u64 = image.layers.iter().map(|l| l.descriptor.size).sum();
        let packages: usize = image.layers.iter().map(|l| usize::from(l.package.is_some()) + l.merged.len()).sum();
        let prefix = if report.index.is_some() {
            format!("  {} {}\n", image.architecture, image.manifest.digest)
        } else {
            String::new()
        };
        out!("{prefix}");
        outln!(
            "  {}{} layers ({} packages + generated), {} compressed",
            if report.index.is_some() { "  " } else { "" },
            image.layers.len(),
            packages,
            human_bytes(total),
        );
    }
    let format = match args.format {
        ImageFormat::Oci => "OCI layout",
        ImageFormat::OciArchive => "oci-archive",
    };
    if !report.added_for_wheels.is_empty() && !quiet {
        eprintln!(
            "notice: the wheels' libraries come from Debian: {} (added to the image where missing)",
            report.added_for_wheels.join(", ")
        );
    }
    if !report.left_out.is_empty() && !quiet {
        // On stderr: a notice, not the result; --quiet leaves it out.
        eprintln!(
            "notice: left out what {} packages recommend (`recommends = true` in [debian] takes it, or list the \
             packages wanted):",
            report.left_out.len()
        );
        for left in &report.left_out {
            eprintln!("  {} recommends {}", left.package, left.recommends.join(", "));
        }
    }
    outln!(
        "  written to {} ({format}, tag {}) in {:.1} s",
        args.output.display(),
        report.tag,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// `bale sbom DIR[:TAG]`: the SBOM attached to the image, as written.
pub fn sbom(image: &str, format: SbomFormatArg, architecture: Option<&str>) -> anyhow::Result<ExitCode> {
    let (dir, tag) = super::split_image(image);
    let media_type = match format {
        SbomFormatArg::Spdx => bale_image::SPDX_MEDIA_TYPE,
        SbomFormatArg::Cyclonedx => bale_image::CYCLONEDX_MEDIA_TYPE,
    };
    let bytes = bale_image::read_referrer(Path::new(&dir), &tag, architecture, media_type)?;
    crate::output::write_bytes(&bytes);
    Ok(ExitCode::SUCCESS)
}

/// The image `reference` names: an OCI layout `DIR[:TAG]`, or an image the
/// store pulled under that reference; `None` when it names neither (it is
/// then a package reference).
pub fn find_image(store: &Store, reference: &str) -> anyhow::Result<Option<FoundImage>> {
    let (dir, tag) = super::split_image(reference);
    let layout = Path::new(&dir);
    if layout.join("oci-layout").is_file() {
        let summary = bale_image::inspect_layout(layout, &tag)?;
        return Ok(Some(FoundImage { summary, layout: Some(layout.to_path_buf()) }));
    }
    // Pulled images are recorded as bale printed them, tag filled in.
    let normal = reference.parse::<bale_registry::Reference>().map(|r| r.to_string()).ok();
    for candidate in std::iter::once(reference.to_string()).chain(normal) {
        if let Some(summary) = bale_image::inspect_pulled(store, &candidate)? {
            return Ok(Some(FoundImage { summary, layout: None }));
        }
    }
    Ok(None)
}

/// An image a reference names, and the layout holding it (none when the
/// store pulled it).
pub struct FoundImage {
    pub summary: bale_image::ImageSummary,
    pub layout: Option<std::path::PathBuf>,
}

/// `bale unpack IMAGE DIR`: the image's root filesystem.
pub fn unpack(
    store: &Store,
    reference: &str,
    found: &FoundImage,
    architecture: Option<&str>,
    dest: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let options = bale_fileset::UnpackOptions { owners: super::package::is_root() };
    let entries = bale_image::unpack_image(store, found.layout.as_deref(), &found.summary, architecture, dest, options)
        .with_context(|| format!("unpacking the image {reference} into {}", dest.display()))?;
    if json {
        print_json(&json!({ "image": reference, "dest": dest, "entries": entries }))?;
    } else {
        outln!("unpacked the image {reference} ({entries} entries) into {}", dest.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `bale inspect IMAGE`: platform, layers with the package each is, the
/// config and the referrers.
pub fn inspect(reference: &str, summary: &bale_image::ImageSummary, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(summary)?;
        return Ok(ExitCode::SUCCESS);
    }
    let what = if summary.images.len() > 1 { "image index" } else { "image" };
    outln!("{reference}: {what} {}", summary.top.digest);
    for image in &summary.images {
        let platform = image.platform.name();
        let total: u64 = image.layers.iter().map(|l| l.size).sum();
        outln!("  {platform}  manifest {}", image.manifest.digest);
        outln!("    {} layers, {} compressed", image.layers.len(), human_bytes(total));
        for layer in &image.layers {
            outln!(
                "    {:>10}  {}  {}",
                human_bytes(layer.size),
                layer.digest.short(),
                layer.package.as_deref().unwrap_or("(not a bale package)")
            );
        }
        let config = &image.config;
        let list = |key: &str| {
            config[key]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        outln!(
            "    user {}, workdir {}",
            config["User"].as_str().unwrap_or("0"),
            config["WorkingDir"].as_str().unwrap_or("/")
        );
        outln!("    entrypoint [{}], cmd [{}]", list("Entrypoint"), list("Cmd"));
    }
    if summary.referrers.is_empty() {
        outln!("  no referrers (SBOMs)");
    }
    for referrer in &summary.referrers {
        outln!("  referrer {} {}", referrer.artifact_type.as_deref().unwrap_or("?"), referrer.digest);
    }
    Ok(ExitCode::SUCCESS)
}
