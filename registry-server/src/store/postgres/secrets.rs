//! The keys and secrets every instance must share (the operator key, the OCI publisher key,
//! the secret that signs `/v2/token` tokens), in the database they already share. The first
//! instance to need one makes it; every other reads the same value.

use super::Pg;
use crate::store::{SecretStore, StoreResult};
use std::sync::Arc;

pub(crate) struct PgSecretStore(pub(super) Arc<Pg>);

impl SecretStore for PgSecretStore {
    fn get(&self, name: &str) -> StoreResult<Option<String>> {
        let name = name.to_string();
        self.0.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt("SELECT value FROM secrets WHERE name = $1", &[&name])
                    .await?;
                Ok(row.map(|r| r.try_get(0)).transpose()?)
            })
        })
    }

    fn get_or_insert(&self, name: &str, value: String) -> StoreResult<String> {
        let name = name.to_string();
        self.0.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                    &[&name, &value],
                )
                .await?;
                let row = c
                    .query_one("SELECT value FROM secrets WHERE name = $1", &[&name])
                    .await?;
                Ok(row.try_get(0)?)
            })
        })
    }
}
