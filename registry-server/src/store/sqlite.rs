//! The embedded metadata stores: one SQLite file in WAL mode with `synchronous=FULL`, so a
//! committed transaction survives `kill -9` and power loss. The log and the tokens are separate
//! stores with their own connections and tables; they share the file only for convenience.
//! Pending records sit in the same file too (`pending_sqlite.rs`). The tables are made by the
//! migrations (`migrations/sqlite/`), which run before any store opens.

use super::{
    unix_now, LogStore, LogTail, StoreError, StoreResult, StoredRecord, StoredToken, TokenRow,
    TokenStore,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::{path::Path, sync::Mutex};
use warg_protocol::{registry::TimestampedCheckpoint, SerdeEnvelope};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// A connection to the file, in WAL mode. Several connections share the file (the log, pending
/// records, OCI rows, upload sessions), so every write transaction begins `IMMEDIATE`: one that
/// read first and then wrote would get `SQLITE_BUSY` at once, without waiting, whenever another
/// connection wrote in between.
pub(super) fn connect(path: &Path, synchronous: &str) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    Ok(conn)
}

/// One connection, serialised.
pub(super) struct Db(Mutex<Connection>);

impl Db {
    fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, "FULL")
    }

    /// `synchronous` is per connection: each store chooses how durable its commits are.
    pub(super) fn open_with(path: &Path, synchronous: &str) -> StoreResult<Self> {
        Ok(Self(Mutex::new(connect(path, synchronous)?)))
    }

    pub(super) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back), so a poisoned lock is still safe to use.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The transparency log and its checkpoints.
pub(crate) struct SqliteLogStore(Db);

impl SqliteLogStore {
    pub(crate) fn open(path: &Path) -> StoreResult<Self> {
        Db::open(path).map(Self)
    }
}

/// Publish tokens.
pub(crate) struct SqliteTokenStore(Db);

impl SqliteTokenStore {
    pub(crate) fn open(path: &Path) -> StoreResult<Self> {
        Db::open(path).map(Self)
    }
}

pub(crate) fn split_namespaces(joined: &str) -> Vec<String> {
    joined
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

impl LogStore for SqliteLogStore {
    fn load_since(&self, from: usize) -> StoreResult<LogTail> {
        let mut conn = self.0.conn();
        // One snapshot, so the records and checkpoints agree.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut records = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT registry_index, log_id, record_id, package_name, envelope
                 FROM records WHERE registry_index >= ?1 ORDER BY registry_index",
            )?;
            let rows = stmt.query_map(params![from as i64], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Vec<u8>>(4)?,
                ))
            })?;
            for row in rows {
                let (index, log_id, record_id, name, envelope) = row?;
                records.push(StoredRecord::from_columns(
                    index, &log_id, &record_id, name, envelope,
                )?);
            }
        }
        let mut checkpoints = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT envelope FROM checkpoints WHERE log_length > ?1 ORDER BY log_length",
            )?;
            let rows = stmt.query_map(params![from as i64], |row| row.get::<_, String>(0))?;
            for row in rows {
                checkpoints.push(serde_json::from_str(&row?).map_err(corrupt)?);
            }
        }
        Ok((records, checkpoints))
    }

    fn length(&self) -> StoreResult<usize> {
        let len: i64 = self.0.conn().query_row(
            "SELECT COALESCE(MAX(log_length), 0) FROM checkpoints",
            [],
            |r| r.get(0),
        )?;
        usize::try_from(len).map_err(corrupt)
    }

    fn commit(
        &self,
        records: &[StoredRecord],
        checkpoint: &SerdeEnvelope<TimestampedCheckpoint>,
    ) -> StoreResult<()> {
        let mut conn = self.0.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let base = checkpoint.as_ref().checkpoint.log_length - records.len();
        let current: i64 = tx.query_row(
            "SELECT COALESCE(MAX(log_length), 0) FROM checkpoints",
            [],
            |r| r.get(0),
        )?;
        if current as usize != base {
            return Err(StoreError::Conflict(current as usize));
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO records (registry_index, log_id, record_id, package_name, envelope)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for r in records {
                insert.execute(params![
                    r.registry_index as i64,
                    r.log_id.to_string(),
                    r.record_id.to_string(),
                    r.package_name.as_ref().map(|n| n.to_string()),
                    r.envelope,
                ])?;
            }
            let json = serde_json::to_string(checkpoint).map_err(corrupt)?;
            tx.execute(
                "INSERT INTO checkpoints (log_length, envelope) VALUES (?1, ?2)",
                params![checkpoint.as_ref().checkpoint.log_length as i64, json],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl SqliteTokenStore {
    /// The unrevoked token whose `column` (`id` or `secret_hash`, both unique) is `value`.
    fn live_token(&self, column: &'static str, value: &str) -> StoreResult<Option<StoredToken>> {
        let row = self
            .0
            .conn()
            .query_row(
                &format!("SELECT id, namespaces FROM tokens WHERE {column} = ?1 AND revoked = 0"),
                params![value],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )
            .optional()?;
        Ok(row.map(|(id, namespaces)| StoredToken {
            id,
            namespaces: split_namespaces(&namespaces),
        }))
    }
}

impl TokenStore for SqliteTokenStore {
    fn all(&self) -> StoreResult<Vec<TokenRow>> {
        let conn = self.0.conn();
        let mut stmt = conn.prepare(
            "SELECT id, secret_hash, namespaces, created_at, revoked FROM tokens ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(TokenRow {
                    id: r.get(0)?,
                    secret_hash: r.get(1)?,
                    namespaces: split_namespaces(&r.get::<_, String>(2)?),
                    created_at: r.get(3)?,
                    revoked: r.get::<_, i64>(4)? != 0,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn restore(&self, row: &TokenRow) -> StoreResult<()> {
        self.0.conn().execute(
            "INSERT OR IGNORE INTO tokens (id, secret_hash, namespaces, created_at, revoked)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                row.id,
                row.secret_hash,
                row.namespaces.join(","),
                row.created_at,
                row.revoked as i64
            ],
        )?;
        Ok(())
    }

    fn insert(&self, id: &str, secret_hash: &str, namespaces: &[String]) -> StoreResult<()> {
        let now = unix_now();
        self.0.conn().execute(
            "INSERT INTO tokens (id, secret_hash, namespaces, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, secret_hash, namespaces.join(","), now],
        )?;
        Ok(())
    }

    fn find(&self, secret_hash: &str) -> StoreResult<Option<StoredToken>> {
        self.live_token("secret_hash", secret_hash)
    }

    fn find_by_id(&self, id: &str) -> StoreResult<Option<StoredToken>> {
        self.live_token("id", id)
    }

    fn revoke(&self, id: &str) -> StoreResult<bool> {
        let n = self
            .0
            .conn()
            .execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", params![id])?;
        Ok(n > 0)
    }
}
