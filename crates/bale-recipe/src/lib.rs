//! Recipes: packages built from source. A recipe (`*.recipe.toml`) names
//! its sources by digest, its build root as packages, and the shell steps
//! that write the package into `$OUT`; [`make`] runs them in bale's
//! sandbox (no network, read-only root, uid 1000, fixed environment) over
//! a root composed from the locked packages, and stores the output with
//! provenance in the shape of SLSA v1. `recipe.lock` pins every input.

// RecipeError wraps the pipeline's error; errors end a build, so their
// size on the stack does not matter.
#![allow(clippy::result_large_err)]

mod debian_source;
mod error;
mod fetch;
pub mod lock;
mod make;
mod rebuild;
pub mod recipe;

pub use error::RecipeError;
pub use lock::{RecipeLock, recipe_lock_path};
pub use make::{
    BUILD_DIR, BUILD_HOSTNAME, BUILD_UID, MakeReport, MakeRequest, OUT_DIR, RECIPE_LOCK_MEDIA_TYPE, RECIPE_MEDIA_TYPE,
    RECIPE_SOURCE_MEDIA_TYPE, SplitReport, make,
};
pub use rebuild::{Difference, RebuildReport, RebuildRequest, attest, rebuild};
pub use recipe::Recipe;
