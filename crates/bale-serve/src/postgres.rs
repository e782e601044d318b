//! The registry's records in PostgreSQL, for several `bale serve` nodes
//! sharing one database (docs/serve.md#many-machines): the same tables as
//! the SQLite index, plus the state of unfinished uploads, whose bytes
//! wait in object storage. Every change is one statement or one
//! transaction, so nodes racing on one repository leave consistent rows.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::rustls;

use crate::index::{ClaimMatch, ClaimRow, Findings, ImageMatch, IndexError, ManifestRow, PackageKey, PackageRow};

/// What only a deployment on shared storage keeps: unfinished uploads;
/// every blob stored (gc's list: nothing lists the bucket), `deleting`
/// while gc removes its object; and the commits in flight, each of which
/// keeps its blob from gc until what names it is recorded.
const SHARED_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS blobs (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    deleting BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS blob_commits (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    started TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS blob_commits_by_digest ON blob_commits (digest);
CREATE INDEX IF NOT EXISTS blob_links_by_digest ON blob_links (digest);
CREATE INDEX IF NOT EXISTS manifests_by_digest ON manifests (digest);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    size INTEGER NOT NULL,
    started TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS upload_parts (
    id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    length INTEGER NOT NULL,
    object TEXT NOT NULL,
    PRIMARY KEY (id, start)
);
";

/// The SQLite index's tables, and the uploads', in PostgreSQL's words:
/// sizes are 64-bit, and text compares as bytes (`COLLATE "C"`), the order
/// SQLite and the spec use for tags and repositories, whatever locale the
/// cluster was made with.
fn schema() -> String {
    format!("{}{SHARED_SCHEMA}", crate::index::SCHEMA)
        .replace(" TEXT", " TEXT COLLATE \"C\"")
        .replace(" INTEGER", " BIGINT")
}

/// Any key: nodes starting together take it before creating the tables,
/// since concurrent `CREATE TABLE IF NOT EXISTS` can still collide.
const SCHEMA_LOCK: i64 = 0x6261_6c65_7365_7276;

/// The key of the advisory lock one gc at a time holds.
const GC_LOCK: i64 = 0x6261_6c65_6763_0001;

/// How long an unfinished upload is kept before a starting node drops it.
const UPLOAD_LIFETIME: &str = "24 hours";

/// One part of an unfinished upload: its bytes are the object `object`.
#[derive(Debug, Clone)]
pub(crate) struct UploadPart {
    pub start: u64,
    pub length: u64,
    pub object: String,
}

#[derive(Clone)]
pub struct PgIndex {
    pool: Pool,
    /// The database as the operator named it, without a password.
    shown: String,
}

impl std::fmt::Debug for PgIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgIndex").field("database", &self.shown).finish()
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl PgIndex {
    /// Connects to `url` (`postgres://USER@HOST:PORT/DATABASE`; a password
    /// from `PGPASSWORD` when the URL has none) and makes the tables.
    pub async fn connect(url: &str) -> Result<Self, IndexError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|source| IndexError::Postgres { database: without_password(url), source })?;
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        config.application_name("bale serve");
        let shown = shown_url(&config);
        let tls = tls_connector(&shown)?;
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| IndexError::Pool { database: shown.clone(), message: e.to_string() })?;
        let index = Self { pool, shown };
        let mut client = index.client().await?;
        let tx = client.transaction().await.map_err(|e| index.fail(e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).await.map_err(|e| index.fail(e))?;
        tx.batch_execute(&schema()).await.map_err(|e| index.fail(e))?;
        tx.commit().await.map_err(|e| index.fail(e))?;
        Ok(index)
    }

    pub fn database(&self) -> &str {
        &self.shown
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, IndexError> {
        self.pool.get().await.map_err(|e| IndexError::Pool { database: self.shown.clone(), message: chain(&e) })
    }

    fn fail(&self, source: tokio_postgres::Error) -> IndexError {
        IndexError::Postgres { database: self.shown.clone(), source }
    }

    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, IndexError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(|e| self.fail(e))?;
        client.execute(&statement, params).await.map_err(|e| self.fail(e))
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, IndexError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(|e| self.fail(e))?;
        client.query(&statement, params).await.map_err(|e| self.fail(e))
    }

    async fn strings(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<String>, IndexError> {
        let rows = self.query(sql, params).await?;
        rows.iter().map(|r| r.try_get(0).map_err(|e| self.fail(e))).collect()
    }

    pub async fn link_blob(&self, repository: &str, digest: &str) -> Result<(), IndexError> {
        self.execute(
            "INSERT INTO blob_links (repository, digest) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&repository, &digest],
        )
        .await
        .map(|_| ())
    }

    pub async fn unlink_blob(&self, repository: &str, digest: &str) -> Result<bool, IndexError> {
        self.execute("DELETE FROM blob_links WHERE repository = $1 AND digest = $2", &[&repository, &digest])
            .await
            .map(|n| n > 0)
    }

    pub async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool, IndexError> {
        let rows = self
            .query("SELECT 1 FROM blob_links WHERE repository = $1 AND digest = $2", &[&repository, &digest])
            .await?;
        Ok(!rows.is_empty())
    }

    pub async fn put_manifest(
        &self,
        repository: &str,
        row: &ManifestRow,
        subject: Option<&str>,
        tag: Option<&str>,
        findings: &Findings,
    ) -> Result<(), IndexError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.fail(e))?;
        tx.execute(
            "INSERT INTO manifests (repository, digest, media_type, size, artifact_type, subject, annotations)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (repository, digest) DO UPDATE SET media_type = EXCLUDED.media_type, size = EXCLUDED.size,
               artifact_type = EXCLUDED.artifact_type, subject = EXCLUDED.subject, annotations = EXCLUDED.annotations",
            &[
                &repository,
                &row.digest,
                &row.media_type,
                &to_i64(row.size),
                &row.artifact_type,
                &subject,
                &row.annotations,
            ],
        )
        .await
        .map_err(|e| self.fail(e))?;
        if let Some(tag) = tag {
            tx.execute(
                "INSERT INTO tags (repository, tag, digest) VALUES ($1, $2, $3)
                 ON CONFLICT (repository, tag) DO UPDATE SET digest = EXCLUDED.digest",
                &[&repository, &tag, &row.digest],
            )
            .await
            .map_err(|e| self.fail(e))?;
        }
        if let Some(subject) = subject {
            if let Some(packages) = &findings.packages {
                self.write_packages(&tx, repository, subject, packages).await?;
            }
            if let Some(claim) = &findings.claim {
                tx.execute(
                    "INSERT INTO image_claims (repository, image, referrer, kind, predicate_type, key_hint)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (repository, image, referrer) DO UPDATE SET kind = EXCLUDED.kind,
                       predicate_type = EXCLUDED.predicate_type, key_hint = EXCLUDED.key_hint",
                    &[&repository, &subject, &claim.referrer, &claim.kind, &claim.predicate_type, &claim.key],
                )
                .await
                .map_err(|e| self.fail(e))?;
            }
        }
        tx.commit().await.map_err(|e| self.fail(e))
    }

    pub async fn manifest(&self, repository: &str, digest: &str) -> Result<Option<ManifestRow>, IndexError> {
        let rows = self
            .query(
                "SELECT digest, media_type, size, artifact_type, annotations FROM manifests
                 WHERE repository = $1 AND digest = $2",
                &[&repository, &digest],
            )
            .await?;
        rows.first().map(|r| self.manifest_of(r)).transpose()
    }

    fn manifest_of(&self, r: &tokio_postgres::Row) -> Result<ManifestRow, IndexError> {
        let get = |e| self.fail(e);
        Ok(ManifestRow {
            digest: r.try_get(0).map_err(get)?,
            media_type: r.try_get(1).map_err(get)?,
            size: to_u64(r.try_get(2).map_err(get)?),
            artifact_type: r.try_get(3).map_err(get)?,
            annotations: r.try_get(4).map_err(get)?,
        })
    }

    pub async fn tag(&self, repository: &str, tag: &str) -> Result<Option<String>, IndexError> {
        let found =
            self.strings("SELECT digest FROM tags WHERE repository = $1 AND tag = $2", &[&repository, &tag]).await?;
        Ok(found.into_iter().next())
    }

    pub async fn delete_manifest(&self, repository: &str, digest: &str) -> Result<bool, IndexError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.fail(e))?;
        let removed = tx
            .execute("DELETE FROM manifests WHERE repository = $1 AND digest = $2", &[&repository, &digest])
            .await
            .map_err(|e| self.fail(e))?;
        for sql in [
            "DELETE FROM tags WHERE repository = $1 AND digest = $2",
            "DELETE FROM image_packages WHERE repository = $1 AND image = $2",
            "DELETE FROM image_claims WHERE repository = $1 AND (image = $2 OR referrer = $2)",
        ] {
            tx.execute(sql, &[&repository, &digest]).await.map_err(|e| self.fail(e))?;
        }
        tx.commit().await.map_err(|e| self.fail(e))?;
        Ok(removed > 0)
    }

    pub async fn delete_tag(&self, repository: &str, tag: &str) -> Result<bool, IndexError> {
        self.execute("DELETE FROM tags WHERE repository = $1 AND tag = $2", &[&repository, &tag]).await.map(|n| n > 0)
    }

    pub async fn tags(&self, repository: &str, last: Option<&str>, n: u64) -> Result<Vec<String>, IndexError> {
        self.strings(
            "SELECT tag FROM tags WHERE repository = $1 AND tag > $2
             ORDER BY tag LIMIT $3",
            &[&repository, &last.unwrap_or(""), &to_i64(n)],
        )
        .await
    }

    pub async fn has_repository(&self, repository: &str) -> Result<bool, IndexError> {
        let rows = self
            .query(
                "SELECT 1 WHERE EXISTS (SELECT 1 FROM manifests WHERE repository = $1)
                 OR EXISTS (SELECT 1 FROM blob_links WHERE repository = $1)",
                &[&repository],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    pub async fn repositories(&self, last: Option<&str>, n: u64) -> Result<Vec<String>, IndexError> {
        self.strings(
            "SELECT DISTINCT repository FROM manifests WHERE repository > $1
             ORDER BY repository LIMIT $2",
            &[&last.unwrap_or(""), &to_i64(n)],
        )
        .await
    }

    pub async fn referrers(&self, repository: &str, digest: &str) -> Result<Vec<ManifestRow>, IndexError> {
        let rows = self
            .query(
                "SELECT digest, media_type, size, artifact_type, annotations FROM manifests
                 WHERE repository = $1 AND subject = $2 ORDER BY digest",
                &[&repository, &digest],
            )
            .await?;
        rows.iter().map(|r| self.manifest_of(r)).collect()
    }

    /// Replaces what the index says `image` of `repository` holds.
    async fn write_packages(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        repository: &str,
        image: &str,
        packages: &[PackageRow],
    ) -> Result<(), IndexError> {
        tx.execute("DELETE FROM image_packages WHERE repository = $1 AND image = $2", &[&repository, &image])
            .await
            .map_err(|e| self.fail(e))?;
        let insert = tx
            .prepare(
                "INSERT INTO image_packages
                 (repository, image, id, name, version, purl, source, source_version, content)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (repository, image, id) DO NOTHING",
            )
            .await
            .map_err(|e| self.fail(e))?;
        for p in packages {
            tx.execute(
                &insert,
                &[&repository, &image, &p.id, &p.name, &p.version, &p.purl, &p.source, &p.source_version, &p.content],
            )
            .await
            .map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    pub async fn images_with(&self, key: PackageKey<'_>) -> Result<Vec<ImageMatch>, IndexError> {
        let (column, value) = key.column();
        let sql = format!(
            "SELECT p.repository, p.image, p.id, p.name, p.version, p.purl, p.source, p.source_version, p.content,
                    (SELECT string_agg(t.tag, E'\\t' ORDER BY t.tag) FROM tags AS t
                     WHERE t.repository = p.repository AND t.digest = p.image)
             FROM image_packages AS p WHERE p.{column} = $1
             ORDER BY p.repository, p.image, p.id"
        );
        let rows = self.query(&sql, &[&value]).await?;
        rows.iter()
            .map(|r| {
                let tags: Option<String> = r.try_get(9).map_err(|e| self.fail(e))?;
                Ok(ImageMatch {
                    repository: r.try_get(0).map_err(|e| self.fail(e))?,
                    image: r.try_get(1).map_err(|e| self.fail(e))?,
                    package: self.package_of(r, 2)?,
                    tags: tags.map(|t| t.split('\t').map(String::from).collect()).unwrap_or_default(),
                })
            })
            .collect()
    }

    fn package_of(&self, r: &tokio_postgres::Row, at: usize) -> Result<PackageRow, IndexError> {
        let get = |e| self.fail(e);
        Ok(PackageRow {
            id: r.try_get(at).map_err(get)?,
            name: r.try_get(at + 1).map_err(get)?,
            version: r.try_get(at + 2).map_err(get)?,
            purl: r.try_get(at + 3).map_err(get)?,
            source: r.try_get(at + 4).map_err(get)?,
            source_version: r.try_get(at + 5).map_err(get)?,
            content: r.try_get(at + 6).map_err(get)?,
        })
    }

    pub async fn packages_of(&self, repository: &str, image: &str) -> Result<Vec<PackageRow>, IndexError> {
        let rows = self
            .query(
                "SELECT id, name, version, purl, source, source_version, content FROM image_packages
                 WHERE repository = $1 AND image = $2 ORDER BY id",
                &[&repository, &image],
            )
            .await?;
        rows.iter().map(|r| self.package_of(r, 0)).collect()
    }

    pub async fn tags_of(&self, repository: &str, digest: &str) -> Result<Vec<String>, IndexError> {
        self.strings("SELECT tag FROM tags WHERE repository = $1 AND digest = $2 ORDER BY tag", &[&repository, &digest])
            .await
    }

    pub async fn sources(&self) -> Result<Vec<String>, IndexError> {
        self.strings("SELECT DISTINCT source FROM image_packages WHERE source IS NOT NULL ORDER BY source", &[]).await
    }
}

impl PgIndex {
    fn claim_of(&self, r: &tokio_postgres::Row, at: usize) -> Result<ClaimRow, IndexError> {
        let get = |e| self.fail(e);
        Ok(ClaimRow {
            referrer: r.try_get(at).map_err(get)?,
            kind: r.try_get(at + 1).map_err(get)?,
            predicate_type: r.try_get(at + 2).map_err(get)?,
            key: r.try_get(at + 3).map_err(get)?,
        })
    }

    pub async fn claims_of(&self, repository: &str, image: &str) -> Result<Vec<ClaimRow>, IndexError> {
        let rows = self
            .query(
                "SELECT referrer, kind, predicate_type, key_hint FROM image_claims
                 WHERE repository = $1 AND image = $2 ORDER BY referrer",
                &[&repository, &image],
            )
            .await?;
        rows.iter().map(|r| self.claim_of(r, 0)).collect()
    }

    pub async fn images_claimed_by(&self, key: &str) -> Result<Vec<ClaimMatch>, IndexError> {
        let rows = self
            .query(
                "SELECT c.repository, c.image, c.referrer, c.kind, c.predicate_type, c.key_hint,
                        (SELECT string_agg(t.tag, E'\\t' ORDER BY t.tag) FROM tags AS t
                         WHERE t.repository = c.repository AND t.digest = c.image)
                 FROM image_claims AS c WHERE c.key_hint = $1 ORDER BY c.repository, c.image, c.referrer",
                &[&key],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let tags: Option<String> = r.try_get(6).map_err(|e| self.fail(e))?;
                Ok(ClaimMatch {
                    repository: r.try_get(0).map_err(|e| self.fail(e))?,
                    image: r.try_get(1).map_err(|e| self.fail(e))?,
                    claim: self.claim_of(r, 2)?,
                    tags: tags.map(|t| t.split('\t').map(String::from).collect()).unwrap_or_default(),
                })
            })
            .collect()
    }
}

/// How a commit finds its blob when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Stored and safe from gc while the commit lasts: only checked.
    Live,
    /// Not stored (or being removed, and now gone): written.
    Absent,
}

/// The blobs of a shared deployment and their gc. A blob's object is
/// removed only by gc, only after gc marked its row `deleting` while no
/// link, manifest or commit in flight named it; a commit that finds the
/// row `deleting` waits until the object is gone and writes it again.
impl PgIndex {
    /// Starts committing `digest` (an upload finishing, a manifest being
    /// stored): from now until [`PgIndex::end_commit`], gc keeps it.
    pub(crate) async fn begin_commit(&self, id: &str, digest: &str) -> Result<Stored, IndexError> {
        self.execute("INSERT INTO blob_commits (id, digest) VALUES ($1, $2)", &[&id, &digest]).await?;
        // gc marks a row `deleting` under its row lock having seen no
        // commit: once the row is read here (after the commit above is
        // visible), a live row stays live.
        for _ in 0..600 {
            let rows = self.query("SELECT deleting FROM blobs WHERE digest = $1 FOR SHARE", &[&digest]).await?;
            match rows.first().map(|r| r.try_get::<_, bool>(0)) {
                None => {
                    // The row before the object: a node dying while it
                    // writes leaves a row gc can see (and a missing object
                    // it passes over), never an object nothing lists.
                    self.execute("INSERT INTO blobs (digest, size) VALUES ($1, 0) ON CONFLICT DO NOTHING", &[&digest])
                        .await?;
                    return Ok(Stored::Absent);
                }
                Some(Ok(false)) => return Ok(Stored::Live),
                Some(Ok(true)) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                Some(Err(e)) => return Err(self.fail(e)),
            }
        }
        Err(IndexError::Pool {
            database: self.shown.clone(),
            message: format!("{digest} has been being removed by gc for a minute"),
        })
    }

    /// Records that the blob `digest` is stored, `size` bytes. Fails if
    /// gc marked it meanwhile (only once a commit outlived its expiry).
    pub(crate) async fn blob_stored(&self, digest: &str, size: u64) -> Result<(), IndexError> {
        let updated = self
            .execute("UPDATE blobs SET size = $2 WHERE digest = $1 AND NOT deleting", &[&digest, &to_i64(size)])
            .await?;
        if updated == 0 {
            return Err(IndexError::Pool {
                database: self.shown.clone(),
                message: format!("{digest} was taken by gc while it was committed; push it again"),
            });
        }
        Ok(())
    }

    /// Holds the deployment's gc lock on a connection of its own for as
    /// long as the returned client lives; none: another gc holds it.
    pub(crate) async fn gc_lock(&self) -> Result<Option<deadpool_postgres::Object>, IndexError> {
        let client = self.client().await?;
        let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&GC_LOCK]).await.map_err(|e| self.fail(e))?;
        let held: bool = row.try_get(0).map_err(|e| self.fail(e))?;
        Ok(held.then_some(client))
    }

    /// Ends a commit: what names its blob is recorded (or it failed).
    pub(crate) async fn end_commit(&self, id: &str) -> Result<(), IndexError> {
        self.execute("DELETE FROM blob_commits WHERE id = $1", &[&id]).await.map(|_| ())
    }

    /// Links `digest` into `repository` if `from` links it and gc is not
    /// removing it, in one transaction; false: the client uploads it.
    pub(crate) async fn mount(&self, from: &str, repository: &str, digest: &str) -> Result<bool, IndexError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.fail(e))?;
        let live = tx
            .query("SELECT 1 FROM blobs WHERE digest = $1 AND NOT deleting FOR SHARE", &[&digest])
            .await
            .map_err(|e| self.fail(e))?;
        let linked = tx
            .query("SELECT 1 FROM blob_links WHERE repository = $1 AND digest = $2", &[&from, &digest])
            .await
            .map_err(|e| self.fail(e))?;
        if live.is_empty() || linked.is_empty() {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO blob_links (repository, digest) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&repository, &digest],
        )
        .await
        .map_err(|e| self.fail(e))?;
        tx.commit().await.map_err(|e| self.fail(e))?;
        Ok(true)
    }

    /// Blobs nothing names: no link, no manifest, no commit in flight; and
    /// those a killed gc left `deleting`. With their sizes.
    pub(crate) async fn garbage(&self) -> Result<Vec<(String, u64)>, IndexError> {
        let rows = self
            .query(
                "SELECT b.digest, b.size FROM blobs AS b WHERE b.deleting OR (
                   NOT EXISTS (SELECT 1 FROM blob_links AS l WHERE l.digest = b.digest)
                   AND NOT EXISTS (SELECT 1 FROM manifests AS m WHERE m.digest = b.digest)
                   AND NOT EXISTS (SELECT 1 FROM blob_commits AS c WHERE c.digest = b.digest))
                 ORDER BY b.digest",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(|e| self.fail(e))?, to_u64(r.try_get(1).map_err(|e| self.fail(e))?))))
            .collect()
    }

    /// Marks `digest` `deleting` if still nothing names it; false: it was
    /// named meanwhile, and is kept.
    pub(crate) async fn doom(&self, digest: &str) -> Result<bool, IndexError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.fail(e))?;
        let row = tx
            .query("SELECT deleting FROM blobs WHERE digest = $1 FOR UPDATE", &[&digest])
            .await
            .map_err(|e| self.fail(e))?;
        let Some(row) = row.first() else { return Ok(false) };
        if row.try_get::<_, bool>(0).map_err(|e| self.fail(e))? {
            return Ok(true);
        }
        let named = tx
            .query(
                "SELECT 1 WHERE EXISTS (SELECT 1 FROM blob_links WHERE digest = $1)
                 OR EXISTS (SELECT 1 FROM manifests WHERE digest = $1)
                 OR EXISTS (SELECT 1 FROM blob_commits WHERE digest = $1)",
                &[&digest],
            )
            .await
            .map_err(|e| self.fail(e))?;
        if !named.is_empty() {
            return Ok(false);
        }
        tx.execute("UPDATE blobs SET deleting = true WHERE digest = $1", &[&digest]).await.map_err(|e| self.fail(e))?;
        tx.commit().await.map_err(|e| self.fail(e))?;
        Ok(true)
    }

    /// Forgets a blob whose object gc removed.
    pub(crate) async fn forget_blob(&self, digest: &str) -> Result<(), IndexError> {
        self.execute("DELETE FROM blobs WHERE digest = $1 AND deleting", &[&digest]).await.map(|_| ())
    }
}

/// Unfinished uploads: their size and parts, so any node may take the
/// next chunk or finish them.
impl PgIndex {
    pub(crate) async fn start_upload(&self, id: &str, repository: &str) -> Result<(), IndexError> {
        self.execute("INSERT INTO uploads (id, repository, size) VALUES ($1, $2, 0)", &[&id, &repository])
            .await
            .map(|_| ())
    }

    /// The bytes `id` holds so far; none: no such upload (for `repository`).
    pub(crate) async fn upload_size(&self, id: &str, repository: &str) -> Result<Option<u64>, IndexError> {
        let rows =
            self.query("SELECT size FROM uploads WHERE id = $1 AND repository = $2", &[&id, &repository]).await?;
        rows.first().map(|r| r.try_get::<_, i64>(0).map(to_u64).map_err(|e| self.fail(e))).transpose()
    }

    /// Records `part` as the next bytes of `id`, if the upload still holds
    /// exactly `part.start` bytes (another node may have added a chunk
    /// meanwhile); false: it did not.
    pub(crate) async fn add_upload_part(&self, id: &str, part: &UploadPart) -> Result<bool, IndexError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.fail(e))?;
        let moved = tx
            .execute(
                "UPDATE uploads SET size = size + $2 WHERE id = $1 AND size = $3",
                &[&id, &to_i64(part.length), &to_i64(part.start)],
            )
            .await
            .map_err(|e| self.fail(e))?;
        if moved == 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO upload_parts (id, start, length, object) VALUES ($1, $2, $3, $4)",
            &[&id, &to_i64(part.start), &to_i64(part.length), &part.object],
        )
        .await
        .map_err(|e| self.fail(e))?;
        tx.commit().await.map_err(|e| self.fail(e))?;
        Ok(true)
    }

    /// The size of `id` (for `repository`) and its parts, as of one
    /// moment; none: no such upload.
    pub(crate) async fn upload_state(
        &self,
        id: &str,
        repository: &str,
    ) -> Result<Option<(u64, Vec<UploadPart>)>, IndexError> {
        let rows = self
            .query(
                "SELECT u.size, p.start, p.length, p.object FROM uploads AS u
                 LEFT JOIN upload_parts AS p ON p.id = u.id
                 WHERE u.id = $1 AND u.repository = $2 ORDER BY p.start",
                &[&id, &repository],
            )
            .await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let size = to_u64(first.try_get(0).map_err(|e| self.fail(e))?);
        let mut parts = Vec::new();
        for r in &rows {
            let Some(start) = r.try_get::<_, Option<i64>>(1).map_err(|e| self.fail(e))? else { continue };
            parts.push(UploadPart {
                start: to_u64(start),
                length: to_u64(r.try_get(2).map_err(|e| self.fail(e))?),
                object: r.try_get(3).map_err(|e| self.fail(e))?,
            });
        }
        Ok(Some((size, parts)))
    }

    /// Forgets `id`; returns the objects its parts were, for deleting
    /// (none: it was not there, finished or cancelled by another request).
    pub(crate) async fn end_upload(&self, id: &str) -> Result<Option<Vec<String>>, IndexError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.fail(e))?;
        // The upload's row first: a chunk being recorded now (which holds
        // it) lands before, and its part is among those returned.
        let held =
            tx.query("SELECT 1 FROM uploads WHERE id = $1 FOR UPDATE", &[&id]).await.map_err(|e| self.fail(e))?;
        if held.is_empty() {
            return Ok(None);
        }
        let rows = tx
            .query("DELETE FROM upload_parts WHERE id = $1 RETURNING object", &[&id])
            .await
            .map_err(|e| self.fail(e))?;
        let objects =
            rows.iter().map(|r| r.try_get(0).map_err(|e| self.fail(e))).collect::<Result<Vec<String>, _>>()?;
        let ended = tx.execute("DELETE FROM uploads WHERE id = $1", &[&id]).await.map_err(|e| self.fail(e))?;
        tx.commit().await.map_err(|e| self.fail(e))?;
        Ok((ended > 0).then_some(objects))
    }

    /// Drops uploads older than a day; returns the objects their parts
    /// were, for deleting.
    pub(crate) async fn expire_uploads(&self) -> Result<Vec<String>, IndexError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.fail(e))?;
        let sql = format!(
            "DELETE FROM upload_parts WHERE id IN
             (SELECT id FROM uploads WHERE started < now() - interval '{UPLOAD_LIFETIME}') RETURNING object"
        );
        let rows = tx.query(&sql, &[]).await.map_err(|e| self.fail(e))?;
        let objects =
            rows.iter().map(|r| r.try_get(0).map_err(|e| self.fail(e))).collect::<Result<Vec<String>, _>>()?;
        // A commit a killed node never ended keeps its blob only so long.
        tx.execute(&format!("DELETE FROM blob_commits WHERE started < now() - interval '{UPLOAD_LIFETIME}'"), &[])
            .await
            .map_err(|e| self.fail(e))?;
        tx.execute(&format!("DELETE FROM uploads WHERE started < now() - interval '{UPLOAD_LIFETIME}'"), &[])
            .await
            .map_err(|e| self.fail(e))?;
        tx.commit().await.map_err(|e| self.fail(e))?;
        Ok(objects)
    }
}

/// Where the CAs a database's certificate is checked against are:
/// `PGSSLROOTCERT` (libpq's name for it), else `SSL_CERT_FILE`, else
/// Debian's system bundle.
fn root_file() -> std::path::PathBuf {
    ["PGSSLROOTCERT", "SSL_CERT_FILE"]
        .iter()
        .find_map(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into())
}

/// TLS to the database, used as the URL's `sslmode` says (`prefer`, the
/// default: when the server offers it; `require`: always; `disable`:
/// never); the server's certificate is always checked.
fn tls_connector(database: &str) -> Result<tokio_postgres_rustls::MakeRustlsConnect, IndexError> {
    let mut roots = rustls::RootCertStore::empty();
    let file = root_file();
    if let Ok(iter) = CertificateDer::pem_file_iter(&file) {
        for certificate in iter.flatten() {
            let _ = roots.add(certificate);
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| IndexError::Pool { database: database.to_string(), message: e.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// An error and its causes, as one line: the pool's own message says
/// only that a connection failed, its causes why.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// `url` with any password in it left out, for messages.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "the --index URL".into() };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

/// `postgres://USER@HOST:PORT/DATABASE`, never the password.
fn shown_url(config: &tokio_postgres::Config) -> String {
    let user = config.get_user().unwrap_or("");
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{database}")
}
