//! The binary's commands and operational endpoints.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn init_writes_private_key_config_and_store() {
    // The embedded store's files, whatever store the run is on.
    let dir = DataDir::init_on(BIN.as_ref(), &["example"], &[]);
    let data = data_dir(&dir);
    let key_path = data.join("operator.key");
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = std::fs::read_to_string(&key_path).unwrap();
    assert!(key.starts_with("ecdsa-p256:"), "{key}");
    assert!(!key.ends_with('\n'), "no trailing newline");
    assert!(data.join("wtool-registry.toml").is_file());
    assert!(data.join("registry.db").is_file());
    // A second init must not overwrite the registry.
    let again = run_bin(&[
        "init",
        "--data-dir",
        data.to_str().unwrap(),
        "--namespace",
        "x",
    ]);
    assert!(again.is_err());
    // Invalid namespaces are refused up front.
    let bad = tempfile::tempdir().unwrap();
    let res = run_bin(&[
        "init",
        "--data-dir",
        bad.path().to_str().unwrap(),
        "--namespace",
        "Bad_NS",
    ]);
    assert!(res
        .unwrap_err()
        .to_string()
        .contains("not a valid namespace"));
}

#[test]
fn namespace_add_and_tokens() {
    let dir = init_registry(&["example"]);
    let data = data_dir(&dir);
    let d = data.to_str().unwrap();
    let err = run_bin(&["token", "create", "--namespace", "later", "--data-dir", d]).unwrap_err();
    assert!(err.to_string().contains("not defined"), "{err}");
    run_bin(&["namespace", "add", "later", "--data-dir", d]).unwrap();
    let list = run_bin(&["namespace", "list", "--data-dir", d]).unwrap();
    assert_eq!(list.lines().collect::<Vec<_>>(), ["example", "later"]);
    let token = run_bin(&["token", "create", "--namespace", "later", "--data-dir", d]).unwrap();
    assert!(token.trim().starts_with("wtr_"));
    // Defining a namespace twice is rejected by the operator log rules.
    assert!(run_bin(&["namespace", "add", "later", "--data-dir", d]).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_endpoints_and_sigterm() {
    let dir = init_registry(&["example"]);
    let mut server = spawn_server(&dir, "127.0.0.1:0", &[]).unwrap();
    let url = server.url.clone();
    let wk = reqwest::get(format!("{url}.well-known/wasm-pkg/registry.json"))
        .await
        .unwrap();
    assert_eq!(wk.headers()["content-type"], "application/json");
    let wk: serde_json::Value = wk.json().await.unwrap();
    assert_eq!(wk["wargUrl"], serde_json::json!(url));
    assert_eq!(wk["oci"]["namespacePrefix"], "");
    let health: serde_json::Value = reqwest::get(format!("{url}healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let metrics = reqwest::get(format!("{url}metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("wtool_registry_log_length 1"), "{metrics}");

    let pid = server.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorized_keys_and_anonymous_publish() {
    let dir = init_registry(&["example"]);
    let listed = new_key();
    let mut config = load_config(&dir, "127.0.0.1:0", false);
    config.authorized_keys = toml::from_str(&format!(
        "[namespace.example]\nkeys = [\"{}\"]\n",
        listed.public_key().fingerprint()
    ))
    .unwrap();
    let server = wtool_registry::server::RunningServer::start(config)
        .await
        .unwrap();
    let url = server.public_url.to_string();
    let cache = tempfile::tempdir().unwrap();
    let client = client(&url, cache.path(), None);
    // A listed key publishes without a token; an unlisted one cannot.
    release(
        &client,
        &listed,
        &name("example:listed"),
        "1.0.0",
        component(1),
        true,
    )
    .await
    .unwrap();
    let err = release(
        &client,
        &new_key(),
        &name("example:unlisted"),
        "1.0.0",
        component(2),
        true,
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("unauthorized"), "{err:#}");
    server.shutdown().await.unwrap();

    // With anonymous publishing any validly signed record is accepted.
    let server =
        wtool_registry::server::RunningServer::start(load_config(&dir, "127.0.0.1:0", true))
            .await
            .unwrap();
    let url = server.public_url.to_string();
    let cache = tempfile::tempdir().unwrap();
    let client = common::client(&url, cache.path(), None);
    release(
        &client,
        &new_key(),
        &name("example:anon"),
        "1.0.0",
        component(3),
        true,
    )
    .await
    .unwrap();
    server.shutdown().await.unwrap();
}

#[test]
fn schemas_from_before_migrations_are_migrated_and_newer_ones_refused() {
    // The embedded store, whatever store the run is on: this is about its SQLite file.
    let dir = DataDir::init_on(BIN.as_ref(), &["example"], &[]);
    let db = data_dir(&dir).join("registry.db");
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).to_string();

    // A data directory made before versioned migrations: the tables, no schema history.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TABLE wtool_registry_schema")
        .unwrap();
    let check = dir.run(&["migrate", "--check"]);
    assert!(!check.status.success());
    assert!(
        stderr(&check).contains("schema version 0"),
        "{}",
        stderr(&check)
    );
    let migrated = dir.run(&["migrate"]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    assert!(
        stderr(&migrated).contains("from schema version 0 to 1"),
        "{}",
        stderr(&migrated)
    );
    assert_eq!(dir.ok(&["namespace", "list"]).trim(), "example");
    let again = dir.run(&["migrate"]);
    assert!(
        stderr(&again).contains("nothing to do"),
        "{}",
        stderr(&again)
    );

    // A schema a newer wtool-registry wrote is refused, untouched, with the version found.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO wtool_registry_schema (version, name, applied_on, checksum)
             VALUES (99, 'future', '2030-01-01T00:00:00Z', '0')",
            [],
        )
        .unwrap();
    for args in [
        &["namespace", "list"][..],
        &["migrate"],
        &["token", "create", "--namespace", "example"],
    ] {
        let out = dir.run(args);
        assert!(!out.status.success(), "{args:?} ran on a newer schema");
        assert!(
            stderr(&out).contains("schema version 99"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}
