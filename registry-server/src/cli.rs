//! Command-line interface of the `wtool-registry` binary.

use crate::{
    config::{self, Config, Overrides},
    server::{self, RunningServer},
    service::{self, Core},
};
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use std::{
    io::Write,
    path::{Path, PathBuf},
};
use warg_protocol::registry::PackageName;

/// Self-hosted, warg-compatible registry for WebAssembly components and WIT packages.
#[derive(Parser)]
#[command(name = "wtool-registry", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a data directory: operator key, config file and store.
    Init {
        #[arg(long)]
        data_dir: PathBuf,
        /// Namespaces to define (repeatable).
        #[arg(long = "namespace", required = true)]
        namespaces: Vec<String>,
        /// Address written to the config file.
        #[arg(long)]
        listen: Option<String>,
        /// Public URL written to the config file.
        #[arg(long)]
        public_url: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Run the server.
    Serve(ServeArgs),
    /// Manage namespaces (the server must be stopped).
    Namespace {
        #[command(subcommand)]
        command: NamespaceCommand,
    },
    /// Manage publish tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Copy a whole registry to another store (embedded to PostgreSQL and S3, or back),
    /// verifying every log and checkpoint on arrival; a copy that was cut off resumes.
    Copy {
        /// The source: a data directory or its config file.
        #[arg(long)]
        from: PathBuf,
        /// The destination: a data directory or a config file (an empty directory gets an
        /// embedded store).
        #[arg(long)]
        to: PathBuf,
    },
    /// Copy the registry into a data directory of its own (an embedded store), resuming
    /// into an earlier backup of the same registry.
    Backup {
        #[command(flatten)]
        location: Location,
        /// Where the backup goes.
        #[arg(long)]
        to: PathBuf,
    },
    /// Copy a backup (or any registry) into the configured store.
    Restore {
        #[command(flatten)]
        location: Location,
        /// The backup's data directory.
        #[arg(long)]
        from: PathBuf,
    },
    /// Recompute every checkpoint from the stored records and check every blob's digest.
    Verify {
        #[command(flatten)]
        location: Location,
    },
    /// Bring the metadata database's schema up to this version (`serve` does it too).
    Migrate {
        #[command(flatten)]
        location: Location,
        /// Only report the schema version; change nothing (fails if it is behind).
        #[arg(long)]
        check: bool,
    },
}

/// Where `init` puts metadata and content; written to the config file's `[store]`.
#[derive(Args)]
pub struct StoreArgs {
    /// `sqlite`, or a `postgres://user@host/database` URL (the password from
    /// `WTOOL_REGISTRY_DATABASE_PASSWORD` or `PGPASSWORD`).
    #[arg(long, env = "WTOOL_REGISTRY_METADATA")]
    metadata: Option<String>,
    /// `fs`, or an `s3://bucket/prefix` URL (credentials from the AWS environment).
    #[arg(long, env = "WTOOL_REGISTRY_CONTENT")]
    content: Option<String>,
    /// The S3 service's URL, for anything other than AWS.
    #[arg(long, env = "WTOOL_REGISTRY_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    #[arg(long, env = "WTOOL_REGISTRY_S3_REGION")]
    s3_region: Option<String>,
    /// Address buckets as `endpoint/bucket` (MinIO, SeaweedFS and most self-hosted servers).
    #[arg(long)]
    s3_path_style: bool,
}

#[derive(Args)]
pub struct Location {
    /// Config file; defaults to `<data dir>/wtool-registry.toml`.
    #[arg(long, env = "WTOOL_REGISTRY_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long, env = "WTOOL_REGISTRY_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    location: Location,
    #[arg(long, env = "WTOOL_REGISTRY_LISTEN")]
    listen: Option<String>,
    /// URL clients use to reach this server (content URLs are built from it).
    #[arg(long, env = "WTOOL_REGISTRY_PUBLIC_URL")]
    public_url: Option<String>,
    /// Accept validly signed records without a token (local development only).
    #[arg(long, env = "WTOOL_REGISTRY_ALLOW_ANONYMOUS_PUBLISH")]
    allow_anonymous_publish: bool,
    #[arg(long, env = "WTOOL_REGISTRY_MAX_CONTENT_BYTES")]
    max_content_bytes: Option<u64>,
    /// Overrides `[store] metadata`.
    #[arg(long, env = "WTOOL_REGISTRY_METADATA")]
    metadata: Option<String>,
    /// Overrides `[store] content`.
    #[arg(long, env = "WTOOL_REGISTRY_CONTENT")]
    content: Option<String>,
}

#[derive(Subcommand)]
pub enum NamespaceCommand {
    /// Define a namespace through a new signed operator record.
    Add {
        namespace: Vec<String>,
        #[command(flatten)]
        location: Location,
    },
    /// List defined namespaces.
    List {
        #[command(flatten)]
        location: Location,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Issue a publish token; it is printed once and only its hash is stored.
    Create {
        #[arg(long = "namespace", required = true)]
        namespaces: Vec<String>,
        #[command(flatten)]
        location: Location,
    },
    /// Revoke a token by id.
    Revoke {
        id: String,
        #[command(flatten)]
        location: Location,
    },
}

impl Location {
    fn resolve(&self, overrides: Overrides) -> anyhow::Result<Config> {
        let config_path = self.config.clone().or_else(|| {
            self.data_dir
                .as_ref()
                .map(|d| d.join(config::CONFIG_FILE))
                .filter(|p| p.is_file())
        });
        let mut config = match config_path {
            Some(p) => Config::load(&p)?,
            None => Config::default(),
        };
        let mut overrides = overrides;
        overrides.data_dir = self.data_dir.clone();
        config.apply(overrides);
        Ok(config)
    }
}

fn valid_namespaces(namespaces: &[String]) -> anyhow::Result<()> {
    for ns in namespaces {
        if !PackageName::is_valid_namespace(ns) {
            bail!("`{ns}` is not a valid namespace: use lowercase kebab-case, e.g. `my-org`");
        }
    }
    Ok(())
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init {
            data_dir,
            namespaces,
            listen,
            public_url,
            store,
        } => init(&data_dir, &namespaces, listen, public_url, store),
        Command::Migrate { location, check } => migrate(&location, check),
        Command::Copy { from, to } => copy(&config_at(&from, false)?, &config_at(&to, true)?),
        Command::Backup { location, to } => copy(
            &location.resolve(Overrides::default())?,
            &config_at(&to, true)?,
        ),
        Command::Restore { location, from } => copy(
            &config_at(&from, false)?,
            &location.resolve(Overrides::default())?,
        ),
        Command::Verify { location } => verify(&location.resolve(Overrides::default())?),
        Command::Serve(args) => serve(args),
        Command::Namespace { command } => match command {
            NamespaceCommand::Add {
                namespace,
                location,
            } => {
                valid_namespaces(&namespace)?;
                let config = location.resolve(Overrides::default())?;
                let _lock = server::lock_if_embedded(&config)
                    .context("stop the server before adding a namespace")?;
                let core = server::open_core(&config)?;
                let len = core.define_namespaces(&namespace)?;
                eprintln!("defined {} (log length is now {len})", namespace.join(", "));
                Ok(())
            }
            NamespaceCommand::List { location } => {
                let config = location.resolve(Overrides::default())?;
                for ns in server::open_core(&config)?.namespaces() {
                    println!("{ns}");
                }
                Ok(())
            }
        },
        Command::Token { command } => match command {
            TokenCommand::Create {
                namespaces,
                location,
            } => {
                valid_namespaces(&namespaces)?;
                let config = location.resolve(Overrides::default())?;
                let defined = server::open_core(&config)?.namespaces();
                for ns in &namespaces {
                    if !defined.contains(ns) {
                        bail!("namespace `{ns}` is not defined; run `wtool-registry namespace add {ns}` first");
                    }
                }
                let issued =
                    service::issue_token(server::open_tokens(&config)?.as_ref(), &namespaces)?;
                eprintln!("token id {} for {}", issued.id, namespaces.join(", "));
                println!("{}", issued.token);
                Ok(())
            }
            TokenCommand::Revoke { id, location } => {
                let config = location.resolve(Overrides::default())?;
                if !server::open_tokens(&config)?.revoke(&id)? {
                    bail!("no token with id `{id}`");
                }
                eprintln!("revoked token {id}");
                Ok(())
            }
        },
    }
}

fn init(
    data_dir: &Path,
    namespaces: &[String],
    listen: Option<String>,
    public_url: Option<String>,
    store: StoreArgs,
) -> anyhow::Result<()> {
    valid_namespaces(namespaces)?;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create `{}`", data_dir.display()))?;
    let config_path = data_dir.join(config::CONFIG_FILE);
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    if let Some(l) = listen {
        config.listen = l;
    }
    if let Some(u) = public_url {
        config::normalize_public_url(&u)?;
        config.public_url = Some(u);
    }
    if let Some(m) = store.metadata {
        config.store.metadata = m;
    }
    if let Some(c) = store.content {
        config.store.content = c;
    }
    config.store.s3.endpoint = store.s3_endpoint;
    config.store.s3.region = store.s3_region;
    config.store.s3.path_style = store.s3_path_style;
    let backends = server::backends(&config)?;
    let mut exists = vec![config_path.clone()];
    if !backends.shared() {
        exists.extend([
            data_dir.join(config::KEY_FILE),
            data_dir.join(config::DB_FILE),
        ]);
    }
    if let Some(p) = exists.iter().find(|p| p.exists()) {
        bail!(
            "`{}` already exists; refusing to overwrite a registry",
            p.display()
        );
    }
    let stores = backends
        .open()
        .with_context(|| format!("cannot open the registry store {}", backends.describe()))?;
    if stores.log.length()? > 0 {
        bail!(
            "{} already holds a registry; refusing to initialise it again (point a config \
             file at it instead)",
            backends.describe()
        );
    }
    let (_, key) = warg_crypto::signing::generate_p256_pair();
    let encoded = key.encode().to_string();
    if stores
        .secrets
        .get_or_insert(config::KEY_FILE, encoded.clone())?
        != encoded
    {
        bail!(
            "{} already holds an operator key; refusing to initialise it again",
            backends.describe()
        );
    }
    // The data directory stays implicit in the file: it is wherever the file is.
    let mut written = config.clone();
    written.data_dir = PathBuf::from(".");
    write_atomically(&config_path, toml::to_string_pretty(&written)?.as_bytes())?;
    Core::initialize(stores.log.as_ref(), &key, namespaces)?;
    eprintln!(
        "initialised registry in {} (operator key id {}, namespaces: {})",
        data_dir.display(),
        key.public_key().fingerprint(),
        namespaces.join(", ")
    );
    Ok(())
}

/// Writes a file whole or not at all.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in `{}`", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

/// The config of a registry named by its data directory or its config file. A directory with
/// no config file is a new embedded store when `create`, and an error otherwise.
fn config_at(path: &Path, create: bool) -> anyhow::Result<Config> {
    if path.is_file() {
        return Ok(Config::load(path)?);
    }
    let file = path.join(config::CONFIG_FILE);
    if file.is_file() {
        return Ok(Config::load(&file)?);
    }
    if !create || path.extension().is_some_and(|e| e == "toml") {
        bail!(
            "`{}` holds no registry (no {} there)",
            path.display(),
            config::CONFIG_FILE
        );
    }
    std::fs::create_dir_all(path).with_context(|| format!("cannot create `{}`", path.display()))?;
    write_atomically(
        &file,
        toml::to_string_pretty(&Config::default())?.as_bytes(),
    )?;
    Config::load(&file).map_err(Into::into)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn copy(from: &Config, to: &Config) -> anyhow::Result<()> {
    let (source, dest) = (server::backends(from)?, server::backends(to)?);
    let _locks = (
        server::lock_if_embedded(from).context("stop the server of the source first")?,
        server::lock_if_embedded(to).context("stop the server of the destination first")?,
    );
    let from_stores = source
        .open()
        .with_context(|| format!("cannot open the source {}", source.describe()))?;
    let to_stores = dest
        .open()
        .with_context(|| format!("cannot open the destination {}", dest.describe()))?;
    let report = runtime()?
        .block_on(service::maintenance::copy(&from_stores, &to_stores))
        .with_context(|| format!("cannot copy {} to {}", source.describe(), dest.describe()))?;
    eprintln!(
        "copied {} to {}: {} records under {} checkpoints (log length {}), {} blobs ({} were \
         there already), {} tokens, {} OCI manifests; verified on arrival",
        source.describe(),
        dest.describe(),
        report.records,
        report.checkpoints,
        report.log_length,
        report.blobs_copied,
        report.blobs_present,
        report.tokens,
        report.manifests
    );
    Ok(())
}

fn verify(config: &Config) -> anyhow::Result<()> {
    let backends = server::backends(config)?;
    let stores = backends
        .open()
        .with_context(|| format!("cannot open {}", backends.describe()))?;
    let report = runtime()?
        .block_on(service::maintenance::verify(&stores))
        .with_context(|| format!("{} does not verify", backends.describe()))?;
    for digest in &report.corrupt {
        eprintln!("corrupt: blob {digest} does not have its digest");
    }
    for digest in &report.missing {
        eprintln!("missing: {digest} is referred to but not stored");
    }
    if !report.ok() {
        bail!(
            "{} does not verify: {} corrupt and {} missing blobs",
            backends.describe(),
            report.corrupt.len(),
            report.missing.len()
        );
    }
    eprintln!(
        "{} verifies: {} records, {} checkpoints recomputed, {} blobs checked",
        backends.describe(),
        report.log_length,
        report.checkpoints,
        report.blobs
    );
    Ok(())
}

fn migrate(location: &Location, check: bool) -> anyhow::Result<()> {
    let config = location.resolve(Overrides::default())?;
    let backends = server::backends(&config)?;
    let _lock = server::lock_if_embedded(&config)
        .context("stop the server before migrating its data directory")?;
    let migrated = backends
        .migrate(!check)
        .with_context(|| format!("cannot migrate {}", backends.describe()))?;
    let (embedded, shared) = crate::store::migrate::known();
    let known = if backends.shared() { shared } else { embedded };
    if check {
        eprintln!(
            "{} is at schema version {} (this wtool-registry knows up to {known})",
            backends.describe(),
            migrated.from
        );
        if migrated.from < known {
            bail!("the schema is behind; run `wtool-registry migrate`");
        }
    } else if migrated.from == migrated.to {
        eprintln!(
            "{} is at schema version {}; nothing to do",
            backends.describe(),
            migrated.to
        );
    } else {
        eprintln!(
            "migrated {} from schema version {} to {}",
            backends.describe(),
            migrated.from,
            migrated.to
        );
    }
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.location.resolve(Overrides {
        listen: args.listen,
        data_dir: None,
        public_url: args.public_url,
        allow_anonymous_publish: args.allow_anonymous_publish,
        max_content_bytes: args.max_content_bytes,
        metadata: args.metadata,
        content: args.content,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = RunningServer::start(config).await?;
        // Tests and scripts read the bound address from this line.
        println!("listening on {}", server.public_url);
        wait_for_signal().await;
        tracing::info!("shutting down");
        server.shutdown().await
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
