//! The content-addressed store.
//!
//! `$BALE_HOME` is an OCI image layout: `oci-layout`, `index.json` and
//! `blobs/sha256/<hex>`. Packages are OCI artifact manifests listed in
//! `index.json` under their package id. Blobs are written to `tmp/` and
//! renamed into place only after their digest checks, so a reader never sees
//! a partial blob and a killed writer leaves only a temp file behind.
//! See `docs/store.md`.

mod blob;
mod error;
mod gc;
mod id;
mod layout;
mod lock;
pub mod oci;
mod pack;
mod package;
mod store;
mod verify;
mod work;

pub use blob::BlobWriter;
pub use error::StoreError;
pub use gc::GcReport;
pub use id::{
    ARCH_ALL, IdParts, PackageId, runs_on, validate_architecture, validate_license, validate_name, validate_version,
};
pub use layout::{LayoutReader, MAX_LAYOUT_JSON};
pub use lock::StoreLock;
pub use oci::{Descriptor, INDEX_MEDIA_TYPE, Index, MANIFEST_MEDIA_TYPE, Manifest, REF_NAME_ANNOTATION};
pub use pack::{PackOutcome, PackRequest, PackSource, pack, store_layer, store_plan, store_plan_with};
pub use package::{
    AlternativeLink, BlobRef, BuildDefinition, BuildParameters, Builder, ContentInfo, DebianFields, Dependency,
    DependencyAlternative, Dropped, PACKAGE_ARTIFACT_TYPE, PACKAGE_MEDIA_TYPE, PackageMetadata, Provenance, Provide,
    RECIPE_BUILD_TYPE, RecipeParameters, RecipeProvenance, ResourceDescriptor, RunDetails, SourceRef, SystemUser,
    UnknownProvenance, days_from_civil, generic_purl, purl_version, utc_time,
};
pub use store::{CacheRead, PackageRecord, STORE_FORMAT, STORE_FORMAT_ANNOTATION, Store};
pub use verify::{VerifyProblem, VerifyReport};
pub use work::WorkDir;
