//! The real `wtool` binary, isolated from the user's config, keys, cache and registry settings.

use crate::registry::Registry;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Points a wtool command at `home` for its config, keys and cache, and clears every variable
/// of the caller's environment that would change what wtool does or prints.
pub fn isolate<'a>(command: &'a mut Command, home: &Path) -> &'a mut Command {
    command
        .env("WTOOL_CONFIG_DIR", home.join(".config/wtool"))
        .env("WTOOL_CACHE_DIR", cache_dir(home))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("NO_COLOR", "1")
        // Docker's own credentials on the machine must not leak into a test.
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env_remove("WTOOL_REGISTRY")
        .env_remove("WTOOL_SIGNING_KEY")
        .env_remove("WKG_CONFIG_FILE")
        .env_remove("RUST_BACKTRACE")
}

/// The cache directory `isolate` gives wtool.
pub fn cache_dir(home: &Path) -> PathBuf {
    home.join(".cache/wtool")
}

fn command_line<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs wtool in the workspace root (where `fixtures/` resolves).
pub fn wtool<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(crate::binary("wtool"))
        .args(args)
        .current_dir(crate::root())
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("spawn wtool")
}

/// Runs wtool, failing the test with its command line and stderr unless it succeeds.
pub fn wtool_ok<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let output = wtool(args);
    assert!(
        output.status.success(),
        "wtool {} failed:\n{}",
        command_line(args),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Composes fixtures into `dir/composed.wasm` and returns its bytes.
pub fn compose(dir: &Path, socket: &str, plugs: &[&str]) -> Vec<u8> {
    let out = dir.join("composed.wasm");
    let mut args = vec![
        "compose".to_string(),
        crate::fixture(socket).display().to_string(),
    ];
    for plug in plugs {
        args.push("--plug".into());
        args.push(crate::fixture(plug).display().to_string());
    }
    args.push("-o".into());
    args.push(out.display().to_string());
    wtool_ok(&args);
    std::fs::read(out).expect("compose wrote its output")
}

/// One machine's worth of wtool state (config, keys, cache), pointed at a registry with a
/// token for it.
pub struct Client {
    pub home: tempfile::TempDir,
    registry: String,
    token_var: String,
    token: String,
    env: Vec<(String, String)>,
}

impl Client {
    pub fn new(registry: &Registry) -> Self {
        let client = Self::without_key(registry);
        client.ok(client.home.path(), &["key", "new"]);
        client
    }

    /// A client with a token but an empty key store.
    pub fn without_key(registry: &Registry) -> Self {
        Self {
            home: tempfile::tempdir().expect("a temporary directory"),
            registry: registry.url.clone(),
            token_var: token_variable(&registry.name()),
            token: registry.token.clone(),
            env: Vec::new(),
        }
    }

    /// The same client presenting another token.
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = token.to_string();
        self
    }

    /// A client for the registry at `url` (`--registry` through `WTOOL_REGISTRY`; empty for
    /// none), with no token and no key: what an OCI registry needs.
    pub fn at(url: &str) -> Self {
        Self {
            home: tempfile::tempdir().expect("a temporary directory"),
            registry: url.to_string(),
            token_var: String::new(),
            token: String::new(),
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for every later run.
    pub fn set_env(&mut self, var: &str, value: &str) {
        self.env.push((var.to_string(), value.to_string()));
    }

    pub fn cache(&self) -> PathBuf {
        cache_dir(self.home.path())
    }

    /// The `wtool` command this client runs in `dir`, not started yet.
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(crate::binary("wtool"));
        isolate(&mut command, self.home.path())
            .args(args)
            .current_dir(dir);
        if !self.registry.is_empty() {
            command.env("WTOOL_REGISTRY", &self.registry);
        }
        if !self.token_var.is_empty() {
            command.env(&self.token_var, &self.token);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(dir, args).output().expect("spawn wtool")
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
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Runs wtool expecting failure and returns its stderr.
    pub fn fails(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        assert!(
            !out.status.success(),
            "wtool {} should have failed",
            args.join(" ")
        );
        String::from_utf8(out.stderr).expect("UTF-8 output")
    }
}

/// `WTOOL_REGISTRY_<NAME>_TOKEN`: the registry name with every other character than a letter
/// or digit turned into `_`, upper-cased (the rule wtool documents).
pub fn token_variable(registry: &str) -> String {
    let name: String = registry
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("WTOOL_REGISTRY_{}_TOKEN", name.to_uppercase())
}
