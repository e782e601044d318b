//! The sources the pipeline knows, by the spec tables that ask for them.

pub mod debian;
pub mod pypi;
pub mod store;

/// The names of every source's spec table and lock sections.
pub const NAMES: [&str; 3] = [bale_debian::lock::SOURCE_NAME, store::SOURCE_NAME, pypi::SOURCE_NAME];
