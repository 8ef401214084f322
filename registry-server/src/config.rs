//! Configuration: a TOML file written by `init`, overridden by environment variables and flags
//! (clap merges those two before they reach [`Config::apply`]).

use crate::policy::{AuthorizedKeys, ContentPolicy};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "wtool-registry.toml";
pub const KEY_FILE: &str = "operator.key";
pub const DB_FILE: &str = "registry.db";
pub const BLOB_DIR: &str = "blobs";
pub const LOCK_FILE: &str = "lock";
/// The key the registry signs warg records with for releases pushed over OCI.
pub const OCI_KEY_FILE: &str = "oci-publisher.key";
/// The secret that signs the short-lived tokens of `/v2/token`.
pub const OCI_TOKEN_SECRET_FILE: &str = "oci-token.secret";
pub const UPLOAD_DIR: &str = "uploads";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file `{path}`: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid public URL `{0}`: {1}")]
    PublicUrl(String, String),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Directory holding the key, database and blobs; relative paths are relative to the
    /// config file.
    pub data_dir: PathBuf,
    /// The URL clients use to reach this server (content URLs are built from it). Defaults to
    /// `http://<listen address>/`.
    pub public_url: Option<String>,
    pub operator_key_file: Option<PathBuf>,
    pub allow_anonymous_publish: bool,
    /// Require a valid token for API reads too (content downloads stay open: the client sends
    /// no credentials there, and digests are unguessable).
    pub require_read_token: bool,
    /// Largest accepted content blob, in bytes.
    pub max_content_bytes: u64,
    /// Largest accepted JSON request body, in bytes.
    pub max_json_bytes: usize,
    /// Validate content as WebAssembly components / WIT packages.
    pub validate_content: bool,
    pub allow_core_modules: bool,
    /// Time limit for ordinary requests, in seconds.
    pub request_timeout_secs: u64,
    /// Time limit for content uploads and downloads, in seconds.
    pub transfer_timeout_secs: u64,
    /// Most records committed under one checkpoint.
    pub batch_limit: usize,
    #[serde(skip_serializing_if = "AuthorizedKeys::is_empty")]
    pub authorized_keys: AuthorizedKeys,
    /// The OCI distribution front end (`/v2/`).
    pub oci: OciConfig,
    /// The package browser (`/`).
    pub web: WebConfig,
    /// Where metadata and content are kept.
    pub store: StoreConfig,
    /// What one client may hold or try: connections, slow requests, failed logins.
    pub limits: LimitsConfig,
}

/// `[limits]`: the bounds that keep slow and abusive clients from starving the others.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections served at once; a connection past it is closed as soon as it is accepted.
    /// Lowered at start to what the open-file limit allows.
    pub max_connections: usize,
    /// Time a connection has to send a request's headers, and the longest it may sit idle
    /// between requests.
    pub header_read_timeout_secs: u64,
    /// Time a response may wait for a client that reads nothing before the connection is cut.
    pub write_stall_timeout_secs: u64,
    /// Largest request head (request line and headers); a larger one gets 431.
    pub max_header_bytes: usize,
    /// Failed authentications one address may make in a minute; past it, requests from that
    /// address that carry credentials get 429 until the minute is over.
    pub auth_failures_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 16_384,
            header_read_timeout_secs: 20,
            write_stall_timeout_secs: 60,
            max_header_bytes: 64 * 1024,
            auth_failures_per_minute: 30,
        }
    }
}

/// `[store]`: the metadata and content backends.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite` (a file in the data directory) or a `postgres://` URL. A password is better
    /// given in `WTOOL_REGISTRY_DATABASE_PASSWORD` (or `PGPASSWORD`) than written here.
    pub metadata: String,
    /// `fs` (the data directory's `blobs/`) or an `s3://bucket/prefix` URL.
    pub content: String,
    /// Most connections to PostgreSQL this instance opens.
    pub pool_size: usize,
    /// How long a request waits for a free connection before it is answered 503.
    pub pool_wait_ms: u64,
    /// Object storage settings for an `s3://` content URL.
    pub s3: S3Config,
    /// How often an instance on a shared database looks for checkpoints another made.
    pub refresh_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            metadata: "sqlite".into(),
            content: "fs".into(),
            pool_size: 16,
            pool_wait_ms: 5000,
            s3: S3Config::default(),
            refresh_ms: 200,
        }
    }
}

/// `[store.s3]`. Credentials come from the environment, as the AWS tools read them
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, web identity, container or instance
/// metadata), never from this file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// The service's URL, for anything other than AWS (e.g. `http://127.0.0.1:8333`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Address buckets as `endpoint/bucket` rather than `bucket.endpoint`.
    pub path_style: bool,
    /// Answer downloads with a redirect to a presigned URL instead of streaming them.
    pub redirect_downloads: bool,
    /// Multipart uploads unfinished for this long (a crash cut them off) are aborted, which
    /// frees their parts; instances look at start and every hour.
    pub abandon_uploads_after_s: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: None,
            path_style: false,
            redirect_downloads: false,
            abandon_uploads_after_s: 24 * 3600,
        }
    }
}

/// `[web]`: the package browser, pages for people (and their JSON twins) at `/`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the pages; when off, `/` and the package pages answer 404.
    pub enabled: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[oci]`: how packages appear as OCI repositories, and what else the registry holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OciConfig {
    /// Put before `<namespace>/<name>` to form a package's repository name, e.g. `wasm/`.
    pub namespace_prefix: String,
    /// Namespaces (the first path segment after the prefix) that hold any OCI content:
    /// images, indexes, signatures. Their repositories get no warg records.
    pub generic_namespaces: Vec<String>,
    /// Generic namespaces whose tags may be moved to another manifest. Tags are immutable
    /// everywhere else; package versions always are.
    pub mutable_tag_namespaces: Vec<String>,
    /// Upload sessions untouched this long are dropped and their bytes reclaimed.
    pub upload_expiry_secs: u64,
    /// Lifetime of the tokens `/v2/token` issues.
    pub token_ttl_secs: u64,
}

impl Default for OciConfig {
    fn default() -> Self {
        Self {
            namespace_prefix: String::new(),
            generic_namespaces: Vec::new(),
            mutable_tag_namespaces: Vec::new(),
            upload_expiry_secs: 24 * 3600,
            token_ttl_secs: 300,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8090".into(),
            data_dir: PathBuf::from("."),
            public_url: None,
            operator_key_file: None,
            allow_anonymous_publish: false,
            require_read_token: false,
            max_content_bytes: 256 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
            validate_content: true,
            allow_core_modules: false,
            request_timeout_secs: 30,
            transfer_timeout_secs: 600,
            batch_limit: 256,
            authorized_keys: AuthorizedKeys::default(),
            oci: OciConfig::default(),
            web: WebConfig::default(),
            store: StoreConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

/// Values from flags and environment variables; `None` leaves the file's value.
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub public_url: Option<String>,
    pub allow_anonymous_publish: bool,
    pub max_content_bytes: Option<u64>,
    pub metadata: Option<String>,
    pub content: Option<String>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        if config.data_dir.is_relative() {
            let base = path.parent().unwrap_or(Path::new("."));
            config.data_dir = base.join(&config.data_dir);
        }
        Ok(config)
    }

    pub fn apply(&mut self, o: Overrides) {
        if let Some(v) = o.listen {
            self.listen = v;
        }
        if let Some(v) = o.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = o.public_url {
            self.public_url = Some(v);
        }
        if o.allow_anonymous_publish {
            self.allow_anonymous_publish = true;
        }
        if let Some(v) = o.max_content_bytes {
            self.max_content_bytes = v;
        }
        if let Some(v) = o.metadata {
            self.store.metadata = v;
        }
        if let Some(v) = o.content {
            self.store.content = v;
        }
    }

    pub fn key_path(&self) -> PathBuf {
        match &self.operator_key_file {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => self.data_dir.join(p),
            None => self.data_dir.join(KEY_FILE),
        }
    }

    pub(crate) fn content_policy(&self) -> ContentPolicy {
        ContentPolicy {
            max_bytes: self.max_content_bytes,
            validate_wasm: self.validate_content,
            allow_core_modules: self.allow_core_modules,
            known_bodies: Some(std::sync::Arc::new(
                wtool_compose::validate::KnownBodies::new(
                    crate::policy::content::KNOWN_BODIES_PER_GENERATION,
                ),
            )),
        }
    }
}

/// Normalises a public URL so relative joins work: it must be absolute and end in `/`.
pub fn normalize_public_url(raw: &str) -> Result<url::Url, ConfigError> {
    let with_slash = if raw.ends_with('/') {
        raw.to_string()
    } else {
        format!("{raw}/")
    };
    let url = url::Url::parse(&with_slash)
        .map_err(|e| ConfigError::PublicUrl(raw.to_string(), e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::PublicUrl(
            raw.to_string(),
            "scheme must be http or https".into(),
        ));
    }
    Ok(url)
}
