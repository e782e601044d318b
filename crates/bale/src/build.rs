//! `bale build`, `bale lock`, `bale update`: spec → locked packages →
//! image → OCI layout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use bale_debian::Version;
use bale_debian::archive::ArchiveConfig;
use bale_debian::deb::DebOptions;
use bale_debian::import::{ImportOptions, import, import_closure, merged_usr_base, parse_request};
use bale_debian::packages::BinaryPackage;
use bale_fileset::{Compression, Limits, Normalize, safe_fs};
use bale_image::{
    ComposeOptions, Lock, LockedBase, LockedDebian, LockedPackage, SbomFormat, SbomInput, Spec, SpecFileContent,
    attach_sboms, compose, inputs_digest, lock_path, render_sbom, write_archive, write_layout,
};
use bale_progress::Progress;
use bale_store::{PackRequest, PackSource, Store};
use serde_json::json;

use crate::cli::{ArchiveArgs, BuildArgs, CompressionArg, ImageFormat};
use crate::output::{human_bytes, print_json};

fn compression_of(arg: CompressionArg) -> Compression {
    match arg {
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Zstd => Compression::Zstd,
    }
}

fn spec_dir(spec: &Path) -> &Path {
    spec.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// A `[files]` source: a regular file below the spec's directory, reached
/// without following links, of at most `MAX_SPEC_FILE_SIZE` bytes (a FIFO
/// or a device there is refused at once, never read or waited on).
fn read_spec_source(spec: &Path, source: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let rel = source.to_str().context("the path is not UTF-8")?;
    let dir = safe_fs::Dir::open(spec_dir(spec))?;
    let (file, meta) = dir.open_file(rel)?;
    anyhow::ensure!(
        meta.size <= bale_image::MAX_SPEC_FILE_SIZE,
        "it is {} bytes; a [files] source may be at most {} (use a [[local]] package for large content)",
        meta.size,
        bale_image::MAX_SPEC_FILE_SIZE
    );
    let mut out = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
    file.take(bale_image::MAX_SPEC_FILE_SIZE + 1).read_to_end(&mut out)?;
    anyhow::ensure!(out.len() as u64 <= bale_image::MAX_SPEC_FILE_SIZE, "it grew past the limit while being read");
    Ok(out)
}

fn archive_config(spec: &Spec, spec_path: &Path) -> anyhow::Result<Option<ArchiveConfig>> {
    let Some(debian) = &spec.debian else { return Ok(None) };
    let args = ArchiveArgs {
        suite: debian.suite.clone(),
        mirror: debian.mirror.clone(),
        components: debian.components.clone(),
        architecture: debian.architecture.clone(),
        keyring: debian.keyring.as_ref().map(|k| spec_dir(spec_path).join(k)),
        allow_expired: false,
        no_updates: !debian.updates,
    };
    crate::debian::archive_config(&args).map(Some)
}

/// Resolves the spec's Debian packages afresh (preferring `keep`'s versions),
/// imports them, and returns the lock that pins the result.
fn resolve_and_lock(
    store: &Store,
    spec: &Spec,
    config: &ArchiveConfig,
    keep: HashMap<String, Version>,
    compression: Compression,
    progress: &dyn Progress,
) -> anyhow::Result<Lock> {
    let Some(debian) = &spec.debian else { bail!("the spec has no [debian] section") };
    let roots = debian
        .packages
        .iter()
        .map(|text| parse_request(text).with_context(|| format!("debian.packages: {text:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut kept: Vec<String> = keep.iter().map(|(n, v)| format!("{n}={v}")).collect();
    kept.sort();
    let options = ImportOptions { deb: DebOptions { keep_docs: debian.keep_docs }, compression };
    let report = import_closure(store, config, roots, &kept.join(","), options, progress, |index, roots| {
        let request =
            bale_resolve::Request { index, architecture: config.architecture.clone(), roots, locked: keep.clone() };
        bale_resolve::resolve(&request).map(|r| r.packages)
    })?;
    let packages = report
        .packages
        .iter()
        .zip(&report.selected)
        .map(|(imported, package)| LockedPackage {
            id: imported.id.clone(),
            content: imported.content_digest,
            component: package.component.clone(),
            suite: package.suite.clone(),
            stanza: package.to_stanza(),
        })
        .collect();
    Ok(Lock {
        version: bale_image::LOCK_VERSION,
        inputs: inputs_digest(spec),
        debian: Some(LockedDebian {
            codename: report.suite.codename().to_string(),
            architecture: config.architecture.clone(),
            release: report.suite.release_sha256,
            base: LockedBase { id: report.base.id.clone(), content: report.base.content_digest },
            packages,
        }),
    })
}

/// The ids of exactly the locked packages, importing (by the locked .deb
/// sha256) any the store lacks; each must come out with its locked content.
fn ids_from_lock(
    store: &Store,
    lock: &LockedDebian,
    config: &ArchiveConfig,
    keep_docs: bool,
    compression: Compression,
    progress: &dyn Progress,
) -> anyhow::Result<Vec<String>> {
    let records = store.packages_by_id()?;
    let present = |id: &str, content| records.get(id).is_some_and(|r| r.content_digest == Some(content));
    let missing: Vec<&LockedPackage> = lock.packages.iter().filter(|p| !present(&p.id, p.content)).collect();
    let base_missing = !present(&lock.base.id, lock.base.content);
    if !missing.is_empty() || base_missing {
        // Only now is the archive needed: its InRelease is verified again,
        // and each .deb is fetched by the sha256 the lock pins.
        let suite = bale_debian::archive::open_release(config, progress)
            .with_context(|| format!("opening {} {}", config.mirror, config.suite))?;
        // A .deb is fetched from the suite that listed it; another suite's
        // mirror may not have it, and would not have vouched for it.
        if let Some(orphan) =
            missing.iter().find(|p| !p.suite.is_empty() && !suite.all().any(|s| s.config.suite == p.suite))
        {
            bail!(
                "bale.lock takes {} from the suite {}, which is not read now (the host's apt sources, --mirror or \
                 `updates = false` decide which suites are); read that suite again, or run `bale lock` to re-pin",
                orphan.id,
                orphan.suite
            );
        }
        let selected = missing
            .iter()
            .map(|locked| {
                BinaryPackage::from_stanza(&locked.stanza, &locked.component, "bale.lock")
                    .map(|package| BinaryPackage { suite: locked.suite.clone(), ..package })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let options = ImportOptions { deb: DebOptions { keep_docs }, compression };
        let imported = import(&suite, store, &selected, options, progress)?;
        for (got, want) in imported.iter().zip(&missing) {
            if got.content_digest != want.content {
                bail!(
                    "{} converted to {}, but bale.lock pins {}; this bale converts .debs differently from the one that \
                     wrote the lock (run `bale lock` to re-pin)",
                    want.id,
                    got.content_digest,
                    want.content
                );
            }
        }
        if base_missing {
            let base = merged_usr_base(&suite, store, options)?;
            if base.content_digest != lock.base.content {
                bail!("{} came out as {}, but bale.lock pins {}", base.id, base.content_digest, lock.base.content);
            }
        }
    }
    let mut ids: Vec<String> = lock.packages.iter().map(|p| p.id.clone()).collect();
    ids.push(lock.base.id.clone());
    Ok(ids)
}

/// `bale lock` (`update` None) and `bale update PKG`.
pub fn lock(
    store: &Store,
    spec_path: &Path,
    update: Option<&str>,
    json: bool,
    progress: &dyn Progress,
) -> anyhow::Result<ExitCode> {
    let spec = Spec::load(spec_path)?;
    let Some(config) = archive_config(&spec, spec_path)? else {
        bail!("{}: no [debian] section, so there is nothing to lock", spec_path.display());
    };
    let path = lock_path(spec_path);
    let old = Lock::load(&path)?;
    let mut keep = HashMap::new();
    if let Some(name) = update {
        let Some(old_debian) = old.as_ref().and_then(|l| l.debian.as_ref()) else {
            bail!("{} does not exist yet; run `bale lock` first", path.display());
        };
        let mut found = false;
        for package in &old_debian.packages {
            let p = BinaryPackage::from_stanza(&package.stanza, &package.component, "bale.lock")?;
            if p.name == name {
                found = true;
            } else {
                keep.insert(p.name, p.version);
            }
        }
        if !found {
            bail!("{name} is not in {}; `bale update` takes the name of a locked package", path.display());
        }
    }
    let new = resolve_and_lock(store, &spec, &config, keep, Compression::Gzip, progress)?;
    new.save(&path)?;
    let versions = |lock: Option<&Lock>| -> HashMap<String, String> {
        lock.and_then(|l| l.debian.as_ref())
            .map(|d| {
                d.packages
                    .iter()
                    .map(|p| {
                        let (name, version) = p.id.rsplit_once('@').unwrap_or((&p.id, ""));
                        (name.to_string(), version.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (before, after) = (versions(old.as_ref()), versions(Some(&new)));
    let mut changes: Vec<String> = Vec::new();
    for (name, version) in &after {
        match before.get(name) {
            None => changes.push(format!("+ {name}@{version}")),
            Some(old) if old != version => changes.push(format!("~ {name}@{old} -> {version}")),
            Some(_) => {}
        }
    }
    for (name, version) in &before {
        if !after.contains_key(name) {
            changes.push(format!("- {name}@{version}"));
        }
    }
    changes.sort_by(|a, b| a[2..].cmp(&b[2..]));
    if json {
        print_json(&json!({ "lock": path, "packages": after.len(), "changes": changes }))?;
    } else {
        println!("{}: {} packages pinned", path.display(), after.len());
        for change in &changes {
            println!("  {change}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn build(store: &Store, args: BuildArgs, json: bool, progress: &dyn Progress) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let spec = Spec::load(&args.spec)?;
    // Held to the end: the image's own blobs (config, manifest, generated
    // layer) are referenced by no package, and gc must not take them
    // before the layout links them.
    let _session = store.lock_shared()?;
    let compression = compression_of(args.compression);
    let mut ids: Vec<String> = Vec::new();
    let mut architecture = crate::debian::host_architecture();
    if let Some(config) = archive_config(&spec, &args.spec)? {
        architecture = config.architecture.clone();
        let path = lock_path(&args.spec);
        // A lock is for one architecture, which may have come from the host
        // rather than the spec: a lock made elsewhere does not apply here.
        let current = Lock::load(&path)?.filter(|l| {
            l.inputs == inputs_digest(&spec) && l.debian.as_ref().is_none_or(|d| d.architecture == config.architecture)
        });
        let lock = match current {
            Some(lock) => lock,
            None if args.locked => bail!(
                "{} is missing, or was written for a different spec (its [debian] section changed) or another \
                 architecture; run `bale lock`, or build without --locked",
                path.display()
            ),
            None => {
                let lock = resolve_and_lock(store, &spec, &config, HashMap::new(), compression, progress)?;
                lock.save(&path)?;
                lock
            }
        };
        if let Some(debian) = &lock.debian {
            let keep_docs = spec.debian.as_ref().is_some_and(|d| d.keep_docs);
            ids.extend(ids_from_lock(store, debian, &config, keep_docs, compression, progress)?);
        }
    }
    for local in &spec.locals {
        let dir = spec_dir(&args.spec).join(&local.path);
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
    let mut files = Vec::new();
    for (path, file) in &spec.files {
        let content = match (&file.content, &file.source) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, Some(source)) => read_spec_source(&args.spec, source)
                .with_context(|| format!("{}: files.{path:?}: reading {}", args.spec.display(), source.display()))?,
            (None, None) => Vec::new(),
        };
        files.push(SpecFileContent { path: path.trim_start_matches('/').to_string(), mode: file.mode_bits(), content });
    }
    let mut image = compose(store, &ids, &files, &spec.config, &options, progress).context("composing the image")?;
    let sbom = SbomInput::load(store, &image, &spec.name, &spec.tag, created)?;
    attach_sboms(store, &mut image, &sbom)?;
    match args.format {
        ImageFormat::Oci => write_layout(store, &image, &args.output, &spec.tag)?,
        ImageFormat::OciArchive => write_archive(store, &image, &args.output, &spec.tag)?,
    }
    // The SBOMs also beside the output, for people and scanners; replaced
    // atomically, so a link planted at either name is never written through.
    for format in [SbomFormat::Spdx, SbomFormat::CycloneDx] {
        let mut path = args.output.clone().into_os_string();
        path.push(format!(".{}", format.extension()));
        let path = PathBuf::from(path);
        let (dir, name) = safe_fs::open_parent(&path).with_context(|| format!("writing {}", path.display()))?;
        dir.write_atomic(&name, &render_sbom(&sbom, format), 0o644)
            .with_context(|| format!("writing {}", path.display()))?;
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
                "merged": l.merged,
                "digest": l.descriptor.digest,
                "size": l.descriptor.size,
                "diffId": l.diff_id,
            })).collect::<Vec<_>>(),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let total: u64 = image.layers.iter().map(|l| l.descriptor.size).sum();
    println!("{}:{} {}", spec.name, spec.tag, image.manifest.digest);
    let packages: usize = image.layers.iter().map(|l| usize::from(l.package.is_some()) + l.merged.len()).sum();
    println!(
        "  {} layers ({} packages + generated), {} compressed, in {:.1} s",
        image.layers.len(),
        packages,
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
