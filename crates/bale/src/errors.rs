//! Errors for people: what failed, where, and what to do about it.

use bale_fileset::FilesetError;
use bale_store::StoreError;
use serde_json::json;

pub fn render(error: &anyhow::Error, json: bool) {
    let causes: Vec<String> = error.chain().skip(1).map(ToString::to_string).collect();
    let help = help_for(error);
    if json {
        let doc = json!({ "error": { "message": error.to_string(), "causes": causes, "help": help } });
        eprintln!("{doc}");
        return;
    }
    eprintln!("error: {error}");
    for cause in &causes {
        eprintln!("  caused by: {cause}");
    }
    if let Some(help) = help {
        eprintln!("  help: {help}");
    }
}

/// The help of the first error in the chain that has one. Each error type
/// carries its own help next to its definition (wrapping errors delegate
/// to what they wrap); this only knows which types the commands return.
fn help_for(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(|cause| {
        let help = if let Some(e) = cause.downcast_ref::<bale_build::BuildError>() {
            e.help()
        } else if let Some(e) = cause.downcast_ref::<bale_recipe::RecipeError>() {
            e.help()
        } else if let Some(e) = cause.downcast_ref::<bale_trust::TrustError>() {
            e.help()
        } else if let Some(e) = cause.downcast_ref::<bale_image::SignError>() {
            e.help()
        } else if let Some(e) = cause.downcast_ref::<bale_sandbox::SandboxError>() {
            e.help()
        } else if let Some(e) = cause.downcast_ref::<bale_registry::RegistryError>() {
            e.help()
        } else if let Some(e) = cause.downcast_ref::<bale_image::UnpackImageError>() {
            e.help()
        } else if let Some(e) = cause.downcast_ref::<bale_serve::ServeError>() {
            e.help()
        } else if let Some(e) = cause.downcast_ref::<bale_serve::advisories::AdvisoryError>() {
            e.help()
        } else if let Some(e) = cause.downcast_ref::<StoreError>() {
            e.help()
        } else if let Some(e) = cause.downcast_ref::<FilesetError>() {
            e.help()
        } else {
            None
        };
        help.map(str::to_string)
    })
}
