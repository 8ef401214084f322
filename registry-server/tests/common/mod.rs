//! Shared test support: the test kit's real registries and warg clients, plus servers started
//! in this process from a CLI-initialised data directory.
#![allow(dead_code, unused_imports)]

pub mod raw;

use anyhow::Result;
use wtool_registry::{
    config::{Config, Overrides},
    server::RunningServer,
};
pub use wtool_testkit::component::{component, invalid_sized_component, sized_component};
pub use wtool_testkit::registry::{DataDir, Server as Spawned};
pub use wtool_testkit::warg::{client, name, new_key, publish, release, store_content};

pub const BIN: &str = env!("CARGO_BIN_EXE_wtool-registry");

/// Runs the real binary and returns its stdout; fails with its stderr.
pub fn run_bin(args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(BIN).args(args).output()?;
    if !out.status.success() {
        anyhow::bail!(
            "`wtool-registry {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// A data directory initialised with `wtool-registry init`.
pub fn init_registry(namespaces: &[&str]) -> DataDir {
    DataDir::init_with(BIN.as_ref(), namespaces)
}

pub fn data_dir(dir: &DataDir) -> std::path::PathBuf {
    dir.path()
}

pub fn create_token(dir: &DataDir, namespace: &str) -> String {
    dir.token(&[namespace])
}

pub fn load_config(dir: &DataDir, listen: &str, anonymous: bool) -> Config {
    // An in-process server reads the S3 credentials from this process's environment, as a
    // real one reads its own. Set once, before the first such server, always to one value.
    static ENV: std::sync::Once = std::sync::Once::new();
    ENV.call_once(|| {
        for (k, v) in wtool_testkit::services::SHARED_STORE_ENV {
            std::env::set_var(k, v);
        }
    });
    let mut config = Config::load(&dir.path().join("wtool-registry.toml")).unwrap();
    config.apply(Overrides {
        listen: Some(listen.to_string()),
        allow_anonymous_publish: anonymous,
        ..Default::default()
    });
    config
}

/// Starts an in-process server on the given address (`127.0.0.1:0` for any port).
pub async fn start(dir: &DataDir, listen: &str) -> RunningServer {
    RunningServer::start(load_config(dir, listen, false))
        .await
        .unwrap()
}

/// A server running as a child process (for crash tests), killed on drop.
pub fn spawn_server(dir: &DataDir, listen: &str, extra: &[&str]) -> Result<Spawned> {
    Ok(dir.serve(listen, extra)?)
}
