//! Versioned schema migrations for both metadata databases (refinery, SQL files under
//! `migrations/`). A database made before migrations existed counts as version 0: its tables
//! are the first migration's, which creates only what is missing. A database whose version is
//! newer than this build knows is refused, never touched.

use super::{postgres::Pg, StoreError, StoreResult};
use std::{path::Path, sync::Arc};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}
mod shared {
    refinery::embed_migrations!("migrations/postgres");
}

const TABLE: &str = "wtool_registry_schema";
/// Held while one instance migrates a shared database (`wtool-mig` in ASCII).
const MIGRATE_LOCK: i64 = 0x7774_6f6f_6c2d_6d69;

/// Where a schema stood and where it stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Migrated {
    pub from: u32,
    pub to: u32,
}

fn runner(r: refinery::Runner) -> refinery::Runner {
    let mut r = r.set_abort_divergent(true).set_abort_missing(true);
    r.set_migration_table_name(TABLE);
    r
}

fn latest(r: &refinery::Runner) -> u32 {
    r.get_migrations()
        .iter()
        .map(|m| m.version() as u32)
        .max()
        .unwrap_or(0)
}

fn failed(e: refinery::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn check(found: u32, known: u32, what: &str) -> StoreResult<()> {
    if found > known {
        return Err(StoreError::Corrupt(format!(
            "{what} has schema version {found}, but this wtool-registry knows versions up to \
             {known}; run a wtool-registry at least as new as the one that migrated it"
        )));
    }
    Ok(())
}

/// The embedded database's version, after migrating it when `apply` (and when it is behind).
pub(crate) fn sqlite(path: &Path, apply: bool) -> StoreResult<Migrated> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let runner = runner(embedded::migrations::runner());
    let known = latest(&runner);
    let has_history = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [TABLE],
            |_| Ok(()),
        )
        .is_ok();
    let found = if has_history {
        runner
            .get_last_applied_migration(&mut conn)
            .map_err(failed)?
            .map(|m| m.version() as u32)
            .unwrap_or(0)
    } else {
        0
    };
    check(found, known, &format!("the database `{}`", path.display()))?;
    if !apply || found == known {
        return Ok(Migrated {
            from: found,
            to: found,
        });
    }
    runner.run(&mut conn).map_err(failed)?;
    Ok(Migrated {
        from: found,
        to: known,
    })
}

/// The shared database's version, after migrating it when `apply`. Instances starting at once
/// take turns: the first migrates, the others find it done.
pub(crate) fn postgres(pg: &Arc<Pg>, apply: bool, what: String) -> StoreResult<Migrated> {
    pg.run(move |c| {
        Box::pin(async move {
            let runner = runner(shared::migrations::runner());
            let known = latest(&runner);
            c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])
                .await?;
            let outcome = async {
                let client: &mut tokio_postgres::Client = c;
                let has_history: bool = client
                    .query_one("SELECT to_regclass($1) IS NOT NULL", &[&TABLE])
                    .await?
                    .try_get(0)?;
                let found = if has_history {
                    runner
                        .get_last_applied_migration_async(client)
                        .await
                        .map_err(failed)?
                        .map(|m| m.version() as u32)
                        .unwrap_or(0)
                } else {
                    0
                };
                check(found, known, &format!("the database {what}"))?;
                if !apply || found == known {
                    return Ok(Migrated {
                        from: found,
                        to: found,
                    });
                }
                runner.run_async(client).await.map_err(failed)?;
                Ok(Migrated {
                    from: found,
                    to: known,
                })
            }
            .await;
            c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK])
                .await?;
            outcome
        })
    })
}

/// The newest versions this build knows: (embedded, shared).
pub(crate) fn known() -> (u32, u32) {
    (
        latest(&embedded::migrations::runner()),
        latest(&shared::migrations::runner()),
    )
}
