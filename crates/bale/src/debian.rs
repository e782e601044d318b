//! `bale import debian` and `bale debian show`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use bale_debian::archive::{self, ArchiveConfig, OpenedArchive, UpdateSource};
use bale_debian::deb::DebOptions;
use bale_debian::import::{ImportOptions, import_closure, parse_request};
use bale_fileset::Compression;
use bale_progress::Progress;
use bale_store::Store;
use serde_json::json;

use crate::cli::{ArchiveArgs, CompressionArg, DebianImportArgs};
use crate::output::print_json;

const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Fills in what the user did not say from the host's apt configuration.
pub(crate) fn archive_config(args: &ArchiveArgs) -> anyhow::Result<ArchiveConfig> {
    // Tests point this at a fake root; everyone else reads the real one.
    let apt_root = std::env::var_os("BALE_APT_ROOT").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let needs_host = args.mirror.is_none() || args.suite.is_none() || args.components.is_empty();
    let host = if needs_host {
        bale_debian::sources::host_sources(&apt_root).context("reading the host's apt sources")?
    } else {
        Vec::new()
    };
    let chosen = match &args.suite {
        Some(suite) => host.iter().find(|s| s.suites.iter().any(|x| x == suite)).or(host.first()),
        None => host.first(),
    };
    let Some(mirror) = args.mirror.clone().or_else(|| chosen.map(|s| s.uri.clone())) else {
        bail!(
            "no mirror: the host's apt sources ({}) list no `deb` source; pass --mirror URL",
            apt_root.join("etc/apt").display()
        );
    };
    let suite = match (&args.suite, chosen) {
        (Some(s), _) => s.clone(),
        (None, Some(source)) => source.suites.first().cloned().context("the host's apt source names no suite")?,
        (None, None) => bail!("no suite: pass --suite, for example --suite bookworm"),
    };
    let components = if !args.components.is_empty() {
        args.components.clone()
    } else {
        chosen.filter(|s| !s.components.is_empty()).map_or_else(|| vec!["main".to_string()], |s| s.components.clone())
    };
    let keyring = args
        .keyring
        .clone()
        .or_else(|| chosen.and_then(|s| s.signed_by.clone()))
        .unwrap_or_else(|| PathBuf::from(DEBIAN_KEYRING));
    if !keyring.exists() {
        bail!("the keyring {} does not exist; pass --keyring FILE", keyring.display());
    }
    // As apt does, the host's SUITE-updates and SUITE-security sources are
    // layered over the main suite (backports are not: apt never prefers
    // them). A mirror given explicitly means that mirror alone.
    let mut updates: Vec<UpdateSource> = Vec::new();
    if !args.no_updates && args.mirror.is_none() {
        for source in &host {
            for name in &source.suites {
                let is_update = [format!("{suite}-updates"), format!("{suite}-security"), format!("{suite}/updates")]
                    .contains(name);
                let update = UpdateSource {
                    mirror: source.uri.clone(),
                    suite: name.clone(),
                    keyring: source.signed_by.clone().unwrap_or_else(|| keyring.clone()),
                };
                // One source per suite name: packages are traced back to
                // their suite by name.
                if is_update && !updates.iter().any(|u| u.suite == update.suite) {
                    updates.push(update);
                }
            }
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    Ok(ArchiveConfig {
        mirror,
        suite,
        components,
        architecture: args.architecture.clone().unwrap_or_else(host_architecture),
        keyring,
        allow_expired: args.allow_expired,
        now,
        updates,
    })
}

/// Debian's name for this machine's architecture.
pub(crate) fn host_architecture() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "armhf",
        "powerpc64" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
    .to_string()
}

fn open(store: &Store, args: &ArchiveArgs, progress: &dyn Progress) -> anyhow::Result<OpenedArchive> {
    let config = archive_config(args)?;
    archive::open(&config, store, progress)
        .with_context(|| format!("opening {} {} ({})", config.mirror, config.suite, config.components.join(", ")))
}

pub fn import_debian(
    store: &Store,
    args: DebianImportArgs,
    json: bool,
    progress: &dyn Progress,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let config = archive_config(&args.archive)?;
    let roots = args
        .packages
        .iter()
        .map(|text| parse_request(text).with_context(|| format!("reading the package request {text:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = ImportOptions {
        deb: DebOptions { keep_docs: args.keep_docs },
        compression: match args.compression {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        },
    };
    let report = import_closure(store, &config, roots, "", options, progress, |index, roots| {
        let request = bale_resolve::Request {
            index,
            architecture: config.architecture.clone(),
            roots,
            locked: Default::default(),
        };
        bale_resolve::resolve(&request).map(|r| r.packages)
    })?;
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
    println!(
        "{} {} verified (signed by {}){}",
        suite.origin(),
        suite.release_sha256.short(),
        suite.signers.join(", "),
        index_size.map_or_else(|| ", resolution cached".to_string(), |n| format!(", {n} packages in the index"))
    );
    for update in &suite.updates {
        println!(
            "  with {} {} verified (signed by {})",
            update.config.suite,
            update.release_sha256.short(),
            update.signers.join(", ")
        );
    }
    let width = imported.iter().chain([&base]).map(|p| p.id.len()).max().unwrap_or(0);
    for package in imported.iter().chain([&base]) {
        println!(
            "  {:<width$}  {}{}",
            package.id,
            package.content_digest,
            if package.new { "" } else { "  (already stored)" }
        );
    }
    let new = imported.iter().filter(|p| p.new).count();
    println!("imported {} packages ({new} new) in {:.1} s", imported.len(), started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

pub fn show(
    store: &Store,
    name: &str,
    args: &ArchiveArgs,
    json: bool,
    progress: &dyn Progress,
) -> anyhow::Result<ExitCode> {
    let archive = open(store, args, progress)?;
    let versions = archive.index.versions(name)?;
    let providers: Vec<String> = archive
        .index
        .providers(name)?
        .iter()
        .map(|&i| {
            let p = archive.index.get(i);
            format!("{} {}", p.name, p.version)
        })
        .collect();
    if versions.is_empty() && providers.is_empty() {
        bail!("{name}: no package of that name in {} ({})", archive.codename(), archive.config.components.join(", "));
    }
    let describe = |i: usize| {
        let p = archive.index.get(i);
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
    let docs: Vec<serde_json::Value> = versions.iter().map(|&i| describe(i)).collect();
    if json {
        print_json(&json!({ "suite": archive.codename(), "versions": docs, "providedBy": providers }))?;
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
            println!("{key:>16}: {text}");
        }
        println!();
    }
    if !providers.is_empty() {
        println!("provided by: {}", providers.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
