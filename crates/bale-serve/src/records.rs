//! The registry's records wherever they are kept: the SQLite index beside
//! a store (one node), or PostgreSQL (many nodes). Requests see one
//! interface; SQLite's calls block, so they run where the runtime expects
//! blocking work, never stalling the other requests on that worker.

use std::sync::Mutex;

use crate::index::{
    ClaimMatch, ClaimRow, Findings, ImageMatch, Index, IndexError, ManifestRow, PackageKey, PackageRow,
};
use crate::postgres::PgIndex;

#[derive(Debug)]
pub(crate) enum Records {
    Sqlite(Mutex<Index>),
    Postgres(PgIndex),
}

fn sqlite<T>(index: &Mutex<Index>, f: impl FnOnce(&mut Index) -> Result<T, IndexError>) -> Result<T, IndexError> {
    tokio::task::block_in_place(|| {
        let mut index = index.lock().map_err(|_| IndexError::Poisoned)?;
        f(&mut index)
    })
}

/// The same call on whichever index this is.
macro_rules! either {
    ($records:expr, $method:ident ( $($arg:expr),* )) => {
        match $records {
            Records::Sqlite(index) => sqlite(index, |index| index.$method($($arg),*)),
            Records::Postgres(index) => index.$method($($arg),*).await,
        }
    };
}

impl Records {
    pub async fn link_blob(&self, repository: &str, digest: &str) -> Result<(), IndexError> {
        either!(self, link_blob(repository, digest))
    }

    pub async fn unlink_blob(&self, repository: &str, digest: &str) -> Result<bool, IndexError> {
        either!(self, unlink_blob(repository, digest))
    }

    pub async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool, IndexError> {
        either!(self, has_blob(repository, digest))
    }

    pub async fn put_manifest(
        &self,
        repository: &str,
        row: &ManifestRow,
        subject: Option<&str>,
        tag: Option<&str>,
        findings: &Findings,
    ) -> Result<(), IndexError> {
        either!(self, put_manifest(repository, row, subject, tag, findings))
    }

    pub async fn manifest(&self, repository: &str, digest: &str) -> Result<Option<ManifestRow>, IndexError> {
        either!(self, manifest(repository, digest))
    }

    pub async fn tag(&self, repository: &str, tag: &str) -> Result<Option<String>, IndexError> {
        either!(self, tag(repository, tag))
    }

    pub async fn delete_manifest(&self, repository: &str, digest: &str) -> Result<bool, IndexError> {
        either!(self, delete_manifest(repository, digest))
    }

    pub async fn delete_tag(&self, repository: &str, tag: &str) -> Result<bool, IndexError> {
        either!(self, delete_tag(repository, tag))
    }

    pub async fn tags(&self, repository: &str, last: Option<&str>, n: u64) -> Result<Vec<String>, IndexError> {
        either!(self, tags(repository, last, n))
    }

    pub async fn has_repository(&self, repository: &str) -> Result<bool, IndexError> {
        either!(self, has_repository(repository))
    }

    pub async fn repositories(&self, last: Option<&str>, n: u64) -> Result<Vec<String>, IndexError> {
        either!(self, repositories(last, n))
    }

    pub async fn referrers(&self, repository: &str, digest: &str) -> Result<Vec<ManifestRow>, IndexError> {
        either!(self, referrers(repository, digest))
    }

    pub async fn images_with(&self, key: PackageKey<'_>) -> Result<Vec<ImageMatch>, IndexError> {
        either!(self, images_with(key))
    }

    pub async fn packages_of(&self, repository: &str, image: &str) -> Result<Vec<PackageRow>, IndexError> {
        either!(self, packages_of(repository, image))
    }

    pub async fn tags_of(&self, repository: &str, digest: &str) -> Result<Vec<String>, IndexError> {
        either!(self, tags_of(repository, digest))
    }

    pub async fn sources(&self) -> Result<Vec<String>, IndexError> {
        either!(self, sources())
    }

    pub async fn claims_of(&self, repository: &str, image: &str) -> Result<Vec<ClaimRow>, IndexError> {
        either!(self, claims_of(repository, image))
    }

    pub async fn images_claimed_by(&self, key: &str) -> Result<Vec<ClaimMatch>, IndexError> {
        either!(self, images_claimed_by(key))
    }
}
