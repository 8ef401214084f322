//! Chooses and opens the backends the config names: `[store] metadata` (SQLite in the data
//! directory, or PostgreSQL) and `[store] content` (files in the data directory, or object
//! storage). The URLs are parsed here, once.

use super::{
    migrate::{self, Migrated},
    object::ObjectContentStore,
    postgres::{Pg, PgSettings, PgStores},
    FileSecretStore, FsContentStore, SqliteLogStore, SqliteOciStore, SqlitePendingStore,
    SqliteTokenStore, StoreError, StoreResult, Stores, TokenStore,
};
use crate::config::{self, Config, S3Config};
use std::{path::PathBuf, sync::Arc, time::Duration};

/// Where metadata lives.
pub(crate) enum Metadata {
    /// `registry.db` in the data directory.
    Sqlite(PathBuf),
    Postgres(Box<PgSettings>),
}

/// Where content lives.
pub(crate) enum ContentAt {
    /// `blobs/` in the data directory.
    Fs(PathBuf),
    S3 {
        bucket: String,
        prefix: String,
        settings: S3Config,
    },
}

/// The backends a config names, parsed.
pub(crate) struct Backends {
    pub metadata: Metadata,
    pub content: ContentAt,
    data_dir: PathBuf,
    key_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("`[store] metadata = \"{0}\"` is not a backend: write `sqlite`, or a `postgres://user@host/database` URL")]
    Metadata(String),
    #[error("`[store] metadata` is not a usable PostgreSQL URL: {0}")]
    Postgres(String),
    #[error(
        "`[store] content = \"{0}\"` is not a backend: write `fs`, or an `s3://bucket/prefix` URL"
    )]
    Content(String),
}

/// The database password, from the environment: never only from the config file.
fn database_password() -> Option<String> {
    ["WTOOL_REGISTRY_DATABASE_PASSWORD", "PGPASSWORD"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|p| !p.is_empty()))
}

impl Backends {
    pub(crate) fn of(config: &Config) -> Result<Self, BackendError> {
        let store = &config.store;
        let metadata = match store.metadata.as_str() {
            "sqlite" | "" => Metadata::Sqlite(config.data_dir.join(config::DB_FILE)),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Metadata::Postgres(Box::new(
                    PgSettings::parse(
                        url,
                        database_password(),
                        store.pool_size,
                        Duration::from_millis(store.pool_wait_ms.max(1)),
                    )
                    .map_err(BackendError::Postgres)?,
                ))
            }
            other => return Err(BackendError::Metadata(other.to_string())),
        };
        let content = match store.content.as_str() {
            "fs" | "" => ContentAt::Fs(config.data_dir.join(config::BLOB_DIR)),
            url => {
                let rest = url
                    .strip_prefix("s3://")
                    .ok_or_else(|| BackendError::Content(url.to_string()))?;
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(BackendError::Content(url.to_string()));
                }
                ContentAt::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.trim_matches('/').to_string(),
                    settings: store.s3.clone(),
                }
            }
        };
        Ok(Self {
            metadata,
            content,
            data_dir: config.data_dir.clone(),
            key_file: config.key_path(),
        })
    }

    /// Whether several instances may share these backends.
    pub(crate) fn shared(&self) -> bool {
        matches!(self.metadata, Metadata::Postgres(_))
    }

    /// The metadata database as people name it.
    pub(crate) fn describe(&self) -> String {
        match &self.metadata {
            Metadata::Sqlite(p) => format!("`{}`", p.display()),
            Metadata::Postgres(s) => s.describe(),
        }
    }

    /// Brings the metadata schema up to date (when `apply`) and returns its versions; refuses
    /// a schema newer than this build.
    pub(crate) fn migrate(&self, apply: bool) -> StoreResult<Migrated> {
        match &self.metadata {
            Metadata::Sqlite(path) => migrate::sqlite(path, apply),
            Metadata::Postgres(settings) => {
                migrate::postgres(&Pg::connect(settings)?, apply, settings.describe())
            }
        }
    }

    /// Opens every store, migrating the schema first if it is behind.
    pub(crate) fn open(&self) -> StoreResult<Stores> {
        std::fs::create_dir_all(&self.data_dir)?;
        let content: Arc<dyn super::ContentStore> = match &self.content {
            ContentAt::Fs(dir) => Arc::new(FsContentStore::open(dir)?),
            ContentAt::S3 {
                bucket,
                prefix,
                settings,
            } => Arc::new(object_store(bucket, prefix, settings)?),
        };
        let uploads_dir = self.data_dir.join(config::UPLOAD_DIR);
        std::fs::create_dir_all(&uploads_dir)?;
        match &self.metadata {
            Metadata::Sqlite(db) => {
                migrate::sqlite(db, true)?;
                let oci = Arc::new(SqliteOciStore::open(db, &uploads_dir)?);
                Ok(Stores {
                    log: Arc::new(SqliteLogStore::open(db)?),
                    content,
                    tokens: Arc::new(SqliteTokenStore::open(db)?),
                    pending: Arc::new(SqlitePendingStore::open(db)?),
                    oci: oci.clone(),
                    uploads: oci,
                    secrets: Arc::new(self.file_secrets()),
                    shared: false,
                })
            }
            Metadata::Postgres(settings) => {
                let pg = Pg::connect(settings)?;
                migrate::postgres(&pg, true, settings.describe())?;
                let stores = PgStores { pg };
                Ok(Stores {
                    log: Arc::new(stores.log()),
                    content,
                    tokens: Arc::new(stores.tokens()),
                    pending: Arc::new(stores.pending()),
                    oci: Arc::new(stores.oci()),
                    uploads: Arc::new(stores.uploads(uploads_dir)),
                    secrets: Arc::new(stores.secrets()),
                    shared: true,
                })
            }
        }
    }

    /// The token store alone, for managing tokens without loading the log.
    pub(crate) fn tokens(&self) -> StoreResult<Arc<dyn TokenStore>> {
        match &self.metadata {
            Metadata::Sqlite(db) => {
                migrate::sqlite(db, true)?;
                Ok(Arc::new(SqliteTokenStore::open(db)?))
            }
            Metadata::Postgres(settings) => {
                let pg = Pg::connect(settings)?;
                migrate::postgres(&pg, true, settings.describe())?;
                Ok(Arc::new(PgStores { pg }.tokens()))
            }
        }
    }

    fn file_secrets(&self) -> FileSecretStore {
        FileSecretStore::new(
            &self.data_dir,
            vec![(config::KEY_FILE.to_string(), self.key_file.clone())],
        )
    }
}

/// An S3 client from the settings and what the AWS tools read from the environment.
fn object_store(bucket: &str, prefix: &str, s: &S3Config) -> StoreResult<ObjectContentStore> {
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(endpoint) = &s.endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if let Some(region) = &s.region {
        builder = builder.with_region(region);
    }
    builder = builder.with_virtual_hosted_style_request(!s.path_style);
    let s3 = Arc::new(builder.build().map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot set up object storage for bucket `{bucket}`: {e}"
        ))
    })?);
    let signer: Option<Arc<dyn object_store::signer::Signer>> = if s.redirect_downloads {
        Some(s3.clone())
    } else {
        None
    };
    Ok(ObjectContentStore::new(
        s3,
        prefix,
        signer,
        Duration::from_secs(s.abandon_uploads_after_s),
    ))
}
