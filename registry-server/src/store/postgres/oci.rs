//! OCI manifests and tags on PostgreSQL. Manifest bytes live in the content store; a row is
//! written only after they are durable, so no tag ever points at missing bytes.

use super::{corrupt, Pg};
use crate::digest::Digest;
use crate::store::{ManifestRow, OciStore, StoreResult, TagOutcome};
use std::sync::Arc;

pub(crate) struct PgOciStore(pub(super) Arc<Pg>);

const MANIFEST_COLUMNS: &str =
    "repo, digest, media_type, size, subject, artifact_type, annotations";

fn parse_digest(raw: String) -> StoreResult<Digest> {
    Digest::parse(&raw).map_err(corrupt)
}

fn manifest_of(row: &tokio_postgres::Row) -> StoreResult<ManifestRow> {
    let size: i64 = row.try_get(3)?;
    Ok(ManifestRow {
        repo: row.try_get(0)?,
        digest: parse_digest(row.try_get(1)?)?,
        media_type: row.try_get(2)?,
        size: u64::try_from(size).map_err(corrupt)?,
        subject: row
            .try_get::<_, Option<String>>(4)?
            .map(parse_digest)
            .transpose()?,
        artifact_type: row.try_get(5)?,
        annotations: row.try_get(6)?,
    })
}

impl OciStore for PgOciStore {
    fn manifest(&self, repo: &str, digest: &Digest) -> StoreResult<Option<ManifestRow>> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.0.run(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(&format!(
                        "SELECT {MANIFEST_COLUMNS} FROM oci_manifests WHERE repo = $1 AND digest = $2"
                    ))
                    .await?;
                c.query_opt(&stmt, &[&repo, &digest])
                    .await?
                    .as_ref()
                    .map(manifest_of)
                    .transpose()
            })
        })
    }

    fn tag(&self, repo: &str, tag: &str) -> StoreResult<Option<Digest>> {
        let (repo, tag) = (repo.to_string(), tag.to_string());
        self.0.run(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached("SELECT digest FROM oci_tags WHERE repo = $1 AND tag = $2")
                    .await?;
                c.query_opt(&stmt, &[&repo, &tag])
                    .await?
                    .map(|r| parse_digest(r.try_get(0)?))
                    .transpose()
            })
        })
    }

    fn put_manifest(
        &self,
        row: &ManifestRow,
        tag: Option<&str>,
        move_tag: bool,
    ) -> StoreResult<TagOutcome> {
        let row = row.clone();
        let tag = tag.map(str::to_string);
        self.0.run(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                if let Some(tag) = &tag {
                    // Serialises pushes of one tag across instances.
                    tx.execute(
                        "SELECT pg_advisory_xact_lock(hashtext($1)::bigint)",
                        &[&format!("{}:{tag}", row.repo)],
                    )
                    .await?;
                    if !move_tag {
                        let existing = tx
                            .query_opt(
                                "SELECT digest FROM oci_tags WHERE repo = $1 AND tag = $2",
                                &[&row.repo, tag],
                            )
                            .await?;
                        if let Some(existing) = existing {
                            return Ok(TagOutcome::TagExists(parse_digest(existing.try_get(0)?)?));
                        }
                    }
                }
                tx.execute(
                    "INSERT INTO oci_manifests
                     (repo, digest, media_type, size, subject, artifact_type, annotations)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                    &[
                        &row.repo,
                        &row.digest.to_string(),
                        &row.media_type,
                        &(row.size as i64),
                        &row.subject.as_ref().map(|d| d.to_string()),
                        &row.artifact_type,
                        &row.annotations,
                    ],
                )
                .await?;
                if let Some(tag) = &tag {
                    tx.execute(
                        "INSERT INTO oci_tags (repo, tag, digest) VALUES ($1, $2, $3)
                         ON CONFLICT (repo, tag) DO UPDATE SET digest = EXCLUDED.digest",
                        &[&row.repo, tag, &row.digest.to_string()],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(TagOutcome::Stored)
            })
        })
    }

    fn tags(&self, repo: &str) -> StoreResult<Vec<String>> {
        let repo = repo.to_string();
        self.0.run(move |c| {
            Box::pin(async move {
                let mut tags: Vec<String> = c
                    .query("SELECT tag FROM oci_tags WHERE repo = $1", &[&repo])
                    .await?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<_, _>>()?;
                // Byte order, as SQLite's side sorts: not the database's collation.
                tags.sort();
                Ok(tags)
            })
        })
    }

    fn referrers(&self, repo: &str, subject: &Digest) -> StoreResult<Vec<ManifestRow>> {
        let (repo, subject) = (repo.to_string(), subject.to_string());
        self.0.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        &format!(
                            "SELECT {MANIFEST_COLUMNS} FROM oci_manifests
                             WHERE repo = $1 AND subject = $2 ORDER BY digest COLLATE \"C\""
                        ),
                        &[&repo, &subject],
                    )
                    .await?;
                rows.iter().map(manifest_of).collect()
            })
        })
    }

    fn manifests(&self, repo: &str) -> StoreResult<Vec<ManifestRow>> {
        let repo = repo.to_string();
        self.0.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        &format!(
                            "SELECT {MANIFEST_COLUMNS} FROM oci_manifests WHERE repo = $1
                             ORDER BY digest COLLATE \"C\""
                        ),
                        &[&repo],
                    )
                    .await?;
                rows.iter().map(manifest_of).collect()
            })
        })
    }

    fn tag_targets(&self, repo: &str) -> StoreResult<Vec<(String, Digest)>> {
        let repo = repo.to_string();
        self.0.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT tag, digest FROM oci_tags WHERE repo = $1 ORDER BY tag COLLATE \"C\"",
                        &[&repo],
                    )
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get(0)?, parse_digest(r.try_get(1)?)?)))
                    .collect()
            })
        })
    }

    fn repositories(&self) -> StoreResult<Vec<String>> {
        self.0.run(move |c| {
            Box::pin(async move {
                let mut repos: Vec<String> = c
                    .query("SELECT DISTINCT repo FROM oci_manifests", &[])
                    .await?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<_, _>>()?;
                repos.sort();
                Ok(repos)
            })
        })
    }

    fn has_repository(&self, repo: &str) -> StoreResult<bool> {
        let repo = repo.to_string();
        self.0.run(move |c| {
            Box::pin(async move {
                Ok(c.query_opt(
                    "SELECT 1 FROM oci_manifests WHERE repo = $1 LIMIT 1",
                    &[&repo],
                )
                .await?
                .is_some())
            })
        })
    }
}
