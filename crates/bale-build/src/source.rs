//! The one interface every content source implements for the pipeline.
//!
//! A source reads its own table of the spec, resolves it per architecture
//! into lock sections of its own shape (the lock keeps each source's
//! sections under its name), and installs a section: the package ids it
//! pins, fetched, verified and converted where the store lacks them, each
//! to the content the section pins. Opening (verifying indexes), solving
//! (through `bale-resolve` with a universe of the source's own) and
//! converting are the source crate's; this trait is what the pipeline
//! needs of them. Debian is the first implementation
//! ([`crate::sources::debian`]); adding one is a crate plus an entry in
//! [`crate::sources`].

use bale_fileset::Compression;
use bale_progress::Progress;
use bale_store::Store;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::BuildError;

pub trait Source {
    /// One lock section: what one architecture's request resolved to.
    type Section: Serialize + DeserializeOwned + Clone;
    /// What a re-resolution keeps at its locked version.
    type Keep: Default;

    /// The name of its spec table and lock sections (`debian`).
    fn name(&self) -> &'static str;
    fn section_architecture(section: &Self::Section) -> &str;
    /// Whether `section` still answers what the spec asks for its
    /// architecture.
    fn is_current(&self, section: &Self::Section) -> bool;
    /// Resolves the request for `architecture` afresh (preferring `keep`),
    /// fetches and converts what it needs, and pins it.
    fn lock(
        &self,
        store: &Store,
        architecture: &str,
        keep: Self::Keep,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<Self::Section, BuildError>;
    /// The ids `section` pins, every one in the store with its pinned
    /// content afterwards.
    fn install(
        &self,
        store: &Store,
        section: &Self::Section,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<Vec<String>, BuildError>;
    /// What `section` pins, as (id without version, version).
    fn pins(section: &Self::Section) -> Vec<(String, String)>;
    /// What `section` left out that its packages suggest (Debian's
    /// Recommends), for a notice.
    fn left_out(&self, section: &Self::Section) -> Result<Vec<LeftOut>, BuildError>;
    /// To update the package `name`: everything else `section` pins, to
    /// keep; `None` when it does not pin `name`.
    fn keep_all_but(section: &Self::Section, name: &str) -> Result<Option<Self::Keep>, BuildError>;
}

/// Packages a package suggests that the image does not hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeftOut {
    /// The id of the package that suggests them.
    pub package: String,
    /// What it suggests, as the source writes it (`ca-certificates`, `a | b`).
    pub recommends: Vec<String>,
}

/// What a lock pins of packages with these ids, as (id without version,
/// version).
pub(crate) fn pins_of_ids<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    ids.map(|id| {
        let (name, version) = id.rsplit_once('@').unwrap_or((id, ""));
        (name.to_string(), version.to_string())
    })
    .collect()
}
