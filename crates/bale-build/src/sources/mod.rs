//! The sources the pipeline knows, by the spec tables that ask for them.

pub mod debian;
pub mod npm;
pub mod pypi;
pub mod store;

/// The names of every source's spec table and lock sections.
pub const NAMES: [&str; 4] = [bale_debian::lock::SOURCE_NAME, store::SOURCE_NAME, pypi::SOURCE_NAME, npm::SOURCE_NAME];
