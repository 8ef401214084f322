//! Command-line interface of the `wtool-registry` binary.

use crate::{
    config::{self, Config, Overrides},
    server::{self, RunningServer},
    service::{self, Core},
    store::{SqliteLogStore, TokenStore},
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
        } => init(&data_dir, &namespaces, listen, public_url),
        Command::Serve(args) => serve(args),
        Command::Namespace { command } => match command {
            NamespaceCommand::Add {
                namespace,
                location,
            } => {
                valid_namespaces(&namespace)?;
                let config = location.resolve(Overrides::default())?;
                let _lock = server::lock_data_dir(&config.data_dir)
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
                let issued = service::issue_token(&server::open_tokens(&config)?, &namespaces)?;
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
) -> anyhow::Result<()> {
    valid_namespaces(namespaces)?;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create `{}`", data_dir.display()))?;
    let config_path = data_dir.join(config::CONFIG_FILE);
    let key_path = data_dir.join(config::KEY_FILE);
    let db_path = data_dir.join(config::DB_FILE);
    for p in [&config_path, &key_path, &db_path] {
        if p.exists() {
            bail!(
                "`{}` already exists; refusing to overwrite a registry",
                p.display()
            );
        }
    }
    let (_, key) = warg_crypto::signing::generate_p256_pair();
    write_secret(&key_path, key.encode().as_bytes())?;

    let mut config = Config::default();
    if let Some(l) = listen {
        config.listen = l;
    }
    if let Some(u) = public_url {
        config::normalize_public_url(&u)?;
        config.public_url = Some(u);
    }
    std::fs::write(&config_path, toml::to_string_pretty(&config)?)?;

    Core::initialize(&SqliteLogStore::open(&db_path)?, &key, namespaces)?;
    eprintln!(
        "initialised registry in {} (operator key id {}, namespaces: {})",
        data_dir.display(),
        key.public_key().fingerprint(),
        namespaces.join(", ")
    );
    Ok(())
}

/// Writes a secret with mode 0600 from the start, with no trailing newline (the reference
/// server and many tools choke on one).
pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts
        .open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.location.resolve(Overrides {
        listen: args.listen,
        data_dir: None,
        public_url: args.public_url,
        allow_anonymous_publish: args.allow_anonymous_publish,
        max_content_bytes: args.max_content_bytes,
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
