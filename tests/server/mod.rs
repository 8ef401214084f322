//! A real `wtool-registry` on a loopback port, and `wtool` runs isolated from the user's config,
//! keys and cache.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub struct Registry {
    pub data: tempfile::TempDir,
    pub url: String,
    pub token: String,
    child: Child,
}

impl Registry {
    pub fn start(namespaces: &[&str]) -> Self {
        let bin = crate::common::binary("wtool-registry");
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("data");
        let mut init = Command::new(&bin);
        init.args(["init", "--data-dir"]).arg(&dir);
        for ns in namespaces {
            init.args(["--namespace", ns]);
        }
        let out = init.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut token = Command::new(&bin);
        token.args(["token", "create", "--data-dir"]).arg(&dir);
        for ns in namespaces {
            token.args(["--namespace", ns]);
        }
        let out = token.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap().trim().to_string();

        let mut child = Command::new(&bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected server output `{line}`"))
            .trim_end_matches('/')
            .to_string();
        Self {
            data,
            url,
            token,
            child,
        }
    }

    /// `host:port`, the registry's name in locks and token variables.
    pub fn name(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    pub fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.data.path().join("data/blobs/sha256").join(hex)
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

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One machine's worth of wtool state: config dir (keys), cache dir, and registry settings.
pub struct Client {
    pub home: tempfile::TempDir,
    registry: String,
    token_var: String,
    token: String,
}

impl Client {
    pub fn new(registry: &Registry) -> Self {
        let client = Self {
            home: tempfile::tempdir().unwrap(),
            registry: registry.url.clone(),
            token_var: format!(
                "WTOOL_REGISTRY_{}_TOKEN",
                registry
                    .name()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect::<String>()
                    .to_uppercase()
            ),
            token: registry.token.clone(),
        };
        client.ok(client.home.path(), &["key", "new"]);
        client
    }

    pub fn cache(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(crate::common::binary("wtool"))
            .args(args)
            .current_dir(dir)
            .env("WTOOL_CONFIG_DIR", self.home.path().join("config"))
            .env("WTOOL_CACHE_DIR", self.cache())
            .env("XDG_CONFIG_HOME", self.home.path().join("xdg"))
            .env("WTOOL_REGISTRY", &self.registry)
            .env(&self.token_var, &self.token)
            .env_remove("WTOOL_SIGNING_KEY")
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap()
    }

    /// Runs wtool and returns its stdout, failing the test with its stderr otherwise.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        assert!(
            out.status.success(),
            "wtool {} failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs wtool expecting failure and returns its stderr.
    pub fn fails(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        assert!(
            !out.status.success(),
            "wtool {} should have failed",
            args.join(" ")
        );
        String::from_utf8(out.stderr).unwrap()
    }
}

/// Copies a directory tree (fixtures into a scratch project).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir` with its bytes, for before/after comparisons.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}
