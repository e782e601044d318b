//! One file per command group; each prints what a library did.

mod debian;
mod image;
mod package;
mod recipe;
mod registry;
mod store;
mod trust;

use std::process::ExitCode;

use anyhow::Context;
use bale_store::Store;

use crate::cli::{Cli, Command, DebianCommand, ImportCommand, KeyCommand, StoreCommand};
use crate::progress;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    let json = global.json;
    let root = match global.store {
        Some(dir) => dir,
        None => Store::default_root()?,
    };
    let progress = progress::for_terminal(json, global.quiet);
    let progress = progress.as_ref();
    let open = || Store::open(&root).with_context(|| format!("opening the store at {}", root.display()));
    match cli.command {
        Command::Pack(args) => package::pack(&open()?, args, json, progress),
        Command::Make(args) => recipe::make(&open()?, args, json, progress),
        Command::Rebuild { reference, attest } => {
            recipe::rebuild(&open()?, &reference, attest.as_deref(), json, progress)
        }
        Command::Inspect { reference, files } => {
            let store = open()?;
            match image::find_image(&store, &reference)? {
                Some(found) => image::inspect(&reference, &found.summary, json),
                None => package::inspect(&store, &reference, files, json),
            }
        }
        Command::List => package::list(&open()?, json),
        Command::Unpack { reference, dest, architecture } => {
            let store = open()?;
            match image::find_image(&store, &reference)? {
                Some(found) => image::unpack(&store, &reference, &found, architecture.as_deref(), &dest, json),
                None => package::unpack(&store, &reference, &dest, json),
            }
        }
        Command::Remove { reference } => package::remove(&open()?, &reference, json),
        Command::Build(args) => image::build(&open()?, args, json, global.quiet, progress),
        Command::Lock { spec, check: false } => image::lock(&open()?, &spec, None, json, progress),
        Command::Lock { spec, check: true } => image::check_lock(&open()?, &spec, json, progress),
        Command::Update { package, spec } => image::lock(&open()?, &spec, Some(&package), json, progress),
        Command::Sbom { image, format, architecture } => image::sbom(&image, format, architecture.as_deref()),
        Command::Push { image, reference } => {
            // The store only lends its memory of the registry; a push needs
            // none, and makes none where there is no store yet.
            let store = if root.join("index.json").exists() { Some(open()?) } else { None };
            registry::push(store.as_ref(), &image, &reference, json, progress)
        }
        Command::Pull { reference, output, policy } => {
            registry::pull(&open()?, &reference, output, policy, json, progress)
        }
        Command::Serve { listen, auth, reindex, blobs, index, tls_cert, tls_key } => {
            let options = bale_serve::ServeOptions {
                store: &root,
                blobs: blobs.as_deref(),
                index: index.as_deref(),
                listen,
                auth: auth.as_deref(),
                reindex,
                tls: tls_cert.as_deref().zip(tls_key.as_deref()),
            };
            registry::serve(&options, json)
        }
        Command::Audit { registry, advisories } => registry::audit(&registry, &advisories, json),
        Command::Query { registry, package, source, id, content, image, version, signed_by } => {
            let key = [("name", package), ("source", source), ("id", id), ("content", content)]
                .into_iter()
                .find_map(|(k, v)| v.map(|v| (k, v)));
            registry::query(&registry, key, image, signed_by, version, json)
        }
        Command::Import(ImportCommand::Debian(args)) => debian::import_debian(&open()?, args, json, progress),
        Command::Debian(DebianCommand::Show { name, archive }) => {
            debian::show(&open()?, &name, &archive, json, progress)
        }
        Command::Store(StoreCommand::Verify { deep }) => store::verify(&open()?, deep, json, progress),
        Command::Store(StoreCommand::Gc { dry_run, blobs: Some(blobs), index: Some(index) }) => {
            store::gc_shared(&blobs, &index, dry_run, json)
        }
        Command::Store(StoreCommand::Gc { dry_run, .. }) => store::gc(&open()?, dry_run, json),
        Command::Store(StoreCommand::Path) => store::path(&root, json),
        Command::Store(StoreCommand::Migrate) => store::migrate(&root, json),
        Command::Key(KeyCommand::Generate { out, algorithm }) => trust::generate(&out, algorithm, json),
        Command::Key(KeyCommand::Token { name }) => registry::token(&name, json),
        Command::Verify { reference, keys, policy } => {
            trust::verify(&open()?, &reference, &keys, policy.as_deref(), json)
        }
        Command::Sign { reference, key, name } => trust::sign(&open, &reference, &key, name.as_deref(), json),
    }
}

/// `DIR[:TAG]`, the tag defaulting to `latest`.
fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => (dir.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}
