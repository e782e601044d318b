//! Images: an unordered, conflict-free set of packages plus frozen runtime
//! config, composed into an OCI image whose layers are the packages.

mod accounts;
mod compose;
mod inspect;
mod layout;
mod lock;
mod package_trust;
mod platform;
mod roots;
mod sbom;
mod signatures;
mod spec;

pub use accounts::{
    Account, AccountError, Accounts, Group, IdRef, SpecGroup, SpecUser, UserRef,
    valid_field_path as valid_account_path, valid_name as valid_account_name,
};
pub use compose::{
    CONFIG_MEDIA_TYPE, ComposeError, ComposeOptions, GENERATED_LAYER, Image, ImageLayer, PACKAGE_ANNOTATION,
    SpecContent, SpecFileContent, add_top_layer, compose,
};
pub use inspect::{
    ImageDetail, ImageSummary, LayerDetail, UnpackImageError, inspect_layout, inspect_pulled, unpack_image,
    unpack_layers,
};
pub use layout::{
    ImageIndex, LayoutContent, LayoutError, read_referrer, write_archive, write_layout, write_pulled_layout,
};
pub use lock::{LOCK_VERSION, Lock, LockError, lock_path};
pub use package_trust::{
    MAX_PACKAGE_TRUST, PACKAGE_TRUST_MEDIA_TYPE, PackageVerdict, Tie, attach_package_trust, judge_packages,
};
pub use platform::{DebianPlatform, KNOWN_ARCHITECTURES, Platform};
pub use roots::{resolves_to_file, unpack_root, unpacked_root};
pub use sbom::{
    CYCLONEDX_MEDIA_TYPE, SPDX_MEDIA_TYPE, SbomFormat, SbomInput, attach as attach_sboms, attach_referrer,
    render as render_sbom,
};
pub use signatures::{
    ImageDecision, ImageVerdict, NAME_ANNOTATION, SignError, SignatureVerdict, attach_package_bundle, sign_image,
    sign_layout, sign_package, verdict_from_bundles, verify_layout, verify_package, verify_pulled,
};
pub use spec::{
    DebianSource, LocalPackage, MAX_SPEC_FILE_SIZE, MAX_SPEC_SIZE, NpmSource, PypiSource, ResolvedDir, RunStep,
    RuntimeConfig, Spec, SpecDir, SpecError, SpecFile, TrustSpec, bounded_message,
};
