//! Publish tokens on PostgreSQL: only the hash of each secret.

use super::Pg;
use crate::store::{sqlite::split_namespaces, StoreResult, StoredToken, TokenRow, TokenStore};
use std::sync::Arc;

pub(crate) struct PgTokenStore(pub(super) Arc<Pg>);

fn token_of(row: &tokio_postgres::Row) -> StoreResult<StoredToken> {
    let id: String = row.try_get(0)?;
    let namespaces: String = row.try_get(1)?;
    Ok(StoredToken {
        id,
        namespaces: split_namespaces(&namespaces),
    })
}

impl PgTokenStore {
    fn live(&self, query: &'static str, value: &str) -> StoreResult<Option<StoredToken>> {
        let value = value.to_string();
        self.0.run(move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached(query).await?;
                c.query_opt(&stmt, &[&value])
                    .await?
                    .as_ref()
                    .map(token_of)
                    .transpose()
            })
        })
    }
}

impl TokenStore for PgTokenStore {
    fn all(&self) -> StoreResult<Vec<TokenRow>> {
        self.0.run(|c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT id, secret_hash, namespaces, created_at, revoked FROM tokens
                         ORDER BY id",
                        &[],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(TokenRow {
                            id: r.try_get(0)?,
                            secret_hash: r.try_get(1)?,
                            namespaces: split_namespaces(&r.try_get::<_, String>(2)?),
                            created_at: r.try_get(3)?,
                            revoked: r.try_get(4)?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn restore(&self, row: &TokenRow) -> StoreResult<()> {
        let row = row.clone();
        self.0.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO tokens (id, secret_hash, namespaces, created_at, revoked)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[
                        &row.id,
                        &row.secret_hash,
                        &row.namespaces.join(","),
                        &row.created_at,
                        &row.revoked,
                    ],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn insert(&self, id: &str, secret_hash: &str, namespaces: &[String]) -> StoreResult<()> {
        let (id, hash, namespaces) = (
            id.to_string(),
            secret_hash.to_string(),
            namespaces.join(","),
        );
        let now = crate::store::unix_now();
        self.0.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO tokens (id, secret_hash, namespaces, created_at)
                     VALUES ($1, $2, $3, $4)",
                    &[&id, &hash, &namespaces, &now],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn find(&self, secret_hash: &str) -> StoreResult<Option<StoredToken>> {
        self.live(
            "SELECT id, namespaces FROM tokens WHERE secret_hash = $1 AND NOT revoked",
            secret_hash,
        )
    }

    fn find_by_id(&self, id: &str) -> StoreResult<Option<StoredToken>> {
        self.live(
            "SELECT id, namespaces FROM tokens WHERE id = $1 AND NOT revoked",
            id,
        )
    }

    fn revoke(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.0.run(move |c| {
            Box::pin(async move {
                let n = c
                    .execute("UPDATE tokens SET revoked = TRUE WHERE id = $1", &[&id])
                    .await?;
                Ok(n > 0)
            })
        })
    }
}
