//! The real `wtool-registry` binary: data directories set up with its own commands, and
//! servers on loopback ports, killed when their handle drops.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A data directory made by `wtool-registry init`, removed on drop.
pub struct DataDir {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl DataDir {
    /// `wtool-registry init` with these namespaces, using the binary from the target directory.
    pub fn init(namespaces: &[&str]) -> Self {
        Self::init_with(&crate::binary("wtool-registry"), namespaces)
    }

    /// `init` with a given binary (a test's `CARGO_BIN_EXE_wtool-registry`), on the store
    /// the test run asks for ([`crate::services::shared_store`]).
    pub fn init_with(bin: &Path, namespaces: &[&str]) -> Self {
        let store = if crate::services::shared_store() {
            crate::services::shared_store_args()
        } else {
            Vec::new()
        };
        Self::init_on(bin, namespaces, &store)
    }

    /// `init` with extra arguments choosing the store (`--metadata`, `--content`, …).
    pub fn init_on(bin: &Path, namespaces: &[&str], store: &[String]) -> Self {
        let data = Self {
            bin: bin.to_path_buf(),
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        let mut args = vec!["init".to_string()];
        for ns in namespaces {
            args.extend(["--namespace".to_string(), ns.to_string()]);
        }
        args.extend(store.iter().cloned());
        data.ok(&args);
        data
    }

    /// Another data directory whose config points at the same shared store (a second
    /// instance behind the same load balancer).
    pub fn second_instance(&self) -> Self {
        let data = Self {
            bin: self.bin.clone(),
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        std::fs::create_dir_all(data.path()).unwrap();
        std::fs::copy(
            self.path().join("wtool-registry.toml"),
            data.path().join("wtool-registry.toml"),
        )
        .expect("the config file copies");
        data
    }

    /// A copy of this embedded data directory, taken while no server runs on it: the same
    /// operator key and the same log so far, free to diverge (a registry that forks its log).
    pub fn fork(&self) -> Self {
        let data = Self {
            bin: self.bin.clone(),
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        let copied = Command::new("cp")
            .arg("-a")
            .arg(self.path())
            .arg(data.path())
            .status()
            .expect("cp runs");
        assert!(copied.success(), "copying {} failed", self.path().display());
        data
    }

    /// Replaces `from` with `to` in the data directory's config file (which `init` wrote with
    /// every setting), e.g. to set `generic_namespaces`.
    pub fn edit_config(&self, from: &str, to: &str) {
        let path = self.path().join("wtool-registry.toml");
        let text = std::fs::read_to_string(&path).expect("the config file exists");
        assert!(
            text.contains(from),
            "`{from}` is not in {}:\n{text}",
            path.display()
        );
        std::fs::write(&path, text.replace(from, to)).expect("the config file is writable");
    }

    /// The data directory itself.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The binary with this data directory (`--data-dir` after the given arguments).
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut command = Command::new(&self.bin);
        command.args(args).arg("--data-dir").arg(self.path());
        command.envs(crate::services::SHARED_STORE_ENV);
        command
    }

    /// Runs a command of the binary on this data directory.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        self.command(args).output().expect("wtool-registry runs")
    }

    /// Runs a command and returns its stdout, failing the test with its stderr otherwise.
    pub fn ok<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`wtool-registry {}` failed: {}",
            args.iter()
                .map(|a| a.as_ref().to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// A new publish token for these namespaces.
    pub fn token(&self, namespaces: &[&str]) -> String {
        let mut args = vec!["token", "create"];
        for ns in namespaces {
            args.extend(["--namespace", ns]);
        }
        self.ok(&args).trim().to_string()
    }

    /// `wtool-registry serve` on this data directory, not started yet.
    pub fn serve_command(&self) -> Command {
        let mut command = self.command(&["serve"]);
        command.env("RUST_LOG", "warn");
        command
    }

    /// Serves this data directory on `listen` (`127.0.0.1:0` for any free port).
    pub fn serve(&self, listen: &str, extra: &[&str]) -> std::io::Result<Server> {
        let mut command = self.serve_command();
        command.args(["--listen", listen]).args(extra);
        Server::start(command)
    }
}

/// A running server process: killed and reaped on drop.
pub struct Server {
    pub child: Child,
    /// The URL from the server's banner, with its trailing `/`.
    pub url: String,
}

impl Server {
    /// Spawns a `serve` command and waits for its `listening on URL` banner.
    pub fn start(mut command: Command) -> std::io::Result<Self> {
        // `WTOOL_TEST_SERVER_LOG=FILE` keeps what the servers log, for a failing test.
        let stderr = match std::env::var_os("WTOOL_TEST_SERVER_LOG") {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?
                .into(),
            None => Stdio::null(),
        };
        let mut child = command.stdout(Stdio::piped()).stderr(stderr).spawn()?;
        let mut line = String::new();
        let read = BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line);
        // From here on the child is owned, so any failure below kills it.
        let mut server = Self {
            child,
            url: String::new(),
        };
        read?;
        server.url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| {
                std::io::Error::other(format!("unexpected server output `{}`", line.trim()))
            })?
            .to_string();
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registry ready for clients: a data directory with namespaces, a token for all of them,
/// and a server on a loopback port.
pub struct Registry {
    // First, so that it is dropped (killed) before its data directory is removed.
    _server: Server,
    pub data: DataDir,
    /// The base URL, without a trailing `/`.
    pub url: String,
    pub token: String,
}

impl Registry {
    pub fn start(namespaces: &[&str]) -> Self {
        Self::serving(DataDir::init(namespaces), namespaces)
    }

    /// A registry serving an existing data directory, with a new token for `namespaces`.
    pub fn serving(data: DataDir, namespaces: &[&str]) -> Self {
        let token = data.token(namespaces);
        let server = data
            .serve("127.0.0.1:0", &[])
            .expect("wtool-registry serves");
        Self {
            url: server.url.trim_end_matches('/').to_string(),
            data,
            token,
            _server: server,
        }
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the registry URL ends in its port")
    }

    /// `host:port`, the registry's name in locks and token variables.
    pub fn name(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    /// Where the server stores the blob with this `sha256:` digest.
    pub fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.data.path().join("blobs/sha256").join(hex)
    }

    /// Total HTTP requests the server has answered (its own `/metrics` counter).
    pub fn requests(&self) -> u64 {
        let mut stream = std::net::TcpStream::connect(self.name()).unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.name()
        )
        .unwrap();
        let mut body = String::new();
        stream.read_to_string(&mut body).unwrap();
        body.lines()
            .filter(|l| l.starts_with("wtool_registry_http_requests_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    }
}

/// Where a data directory's registry keeps its data, read from its config file.
pub enum StoreOf {
    /// The data directory itself.
    Embedded(PathBuf),
    /// A database on [`crate::services::postgres`] and a bucket on [`crate::services::s3`].
    Shared {
        database: String,
        bucket: String,
        prefix: String,
    },
}

impl DataDir {
    /// The store its config names.
    pub fn store(&self) -> StoreOf {
        let text = std::fs::read_to_string(self.path().join("wtool-registry.toml"))
            .expect("the config file exists");
        let config: toml::Value = toml::from_str(&text).expect("the config file parses");
        let store = config.get("store");
        let get = |key: &str| {
            store
                .and_then(|s| s.get(key))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let metadata = get("metadata");
        if !metadata.starts_with("postgres") {
            return StoreOf::Embedded(self.path());
        }
        let content = get("content");
        let (bucket, prefix) = content
            .trim_start_matches("s3://")
            .split_once('/')
            .expect("an s3://bucket/prefix content URL");
        StoreOf::Shared {
            database: metadata.rsplit('/').next().unwrap().to_string(),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }
    }

    /// Every stored sha256 blob: (hex digest, bytes).
    pub fn stored_blobs(&self) -> Vec<(String, Vec<u8>)> {
        match self.store() {
            StoreOf::Embedded(dir) => {
                let mut out: Vec<_> = std::fs::read_dir(dir.join("blobs/sha256"))
                    .expect("the blob directory exists")
                    .map(|e| {
                        let path = e.unwrap().path();
                        let name = path.file_name().unwrap().to_string_lossy().to_string();
                        (name, std::fs::read(&path).unwrap())
                    })
                    .collect();
                out.sort();
                out
            }
            StoreOf::Shared { bucket, prefix, .. } => {
                let s3 = crate::services::s3();
                let listed = crate::services::s3_get(
                    s3,
                    &format!("/{bucket}?list-type=2&prefix={prefix}/blobs/sha256/"),
                );
                let listing = String::from_utf8_lossy(&listed).to_string();
                let mut out = Vec::new();
                for part in listing.split("<Key>").skip(1) {
                    let key = part.split("</Key>").next().unwrap();
                    let hex = key.rsplit('/').next().unwrap().to_string();
                    out.push((
                        hex,
                        crate::services::s3_get(s3, &format!("/{bucket}/{key}")),
                    ));
                }
                out.sort();
                out
            }
        }
    }

    /// Rewrites the stored bytes of the blob `sha256:<hex>` with `edit`, behind the server's
    /// back, on whichever store holds them: a registry that now serves bytes its log does not
    /// name.
    pub fn tamper_blob(&self, digest: &str, edit: impl FnOnce(&mut Vec<u8>)) {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        match self.store() {
            StoreOf::Embedded(dir) => {
                let path = dir.join("blobs/sha256").join(hex);
                let mut bytes = std::fs::read(&path).expect("the blob is stored");
                edit(&mut bytes);
                std::fs::write(&path, bytes).unwrap();
            }
            StoreOf::Shared { bucket, prefix, .. } => {
                let s3 = crate::services::s3();
                let key = format!("/{bucket}/{prefix}/blobs/sha256/{hex}");
                let mut bytes = crate::services::s3_get(s3, &key);
                edit(&mut bytes);
                crate::services::s3_put(s3, &key, &bytes);
            }
        }
    }

    /// How many OCI upload sessions the store holds.
    pub fn upload_sessions(&self) -> usize {
        match self.store() {
            StoreOf::Embedded(dir) => std::fs::read_dir(dir.join("uploads"))
                .expect("the upload directory exists")
                .count(),
            StoreOf::Shared { database, .. } => crate::services::postgres()
                .psql(&database, "SELECT count(*) FROM oci_uploads")
                .trim()
                .parse()
                .unwrap(),
        }
    }
}
