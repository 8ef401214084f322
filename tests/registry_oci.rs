//! `wtool publish`, `fetch` and `compose` against a real OCI registry (Debian's
//! `docker-registry`, the CNCF distribution server) on a loopback port: no registry.json, so
//! wtool finds the OCI API itself; artifacts laid out as wkg lays them; wkg's lock; the CI
//! modes; auth as people have it; and artifacts that are wrong in one way each.

use std::path::Path;
use wtool_testkit::oci::{OciRegistry, StaticSite, TokenFront};
use wtool_testkit::project::{deps, lock_entries};
use wtool_testkit::run::run_command;
use wtool_testkit::wtool::Client;
use wtool_testkit::{copy_tree, fixture, snapshot};

/// The fixture packages, published the way a team's CI does.
fn publish_fixtures(client: &Client, work: &Path) {
    copy_tree(&fixture("registry"), work);
    client.ok(work, &["publish", "types"]);
    for pkg in ["logging-1.0.0", "logging-2.0.0"] {
        let dir = work.join(pkg);
        client.ok(&dir, &["fetch"]);
        client.ok(&dir, &["publish"]);
    }
    client.ok(
        work,
        &[
            "publish",
            "clock-1.0.0/clock.wit",
            "--package",
            "acme:clock@1.0.0",
        ],
    );
}

fn layer_digest(registry: &OciRegistry, repository: &str, tag: &str) -> String {
    let manifest: serde_json::Value =
        serde_json::from_slice(&registry.manifest(repository, tag)).unwrap();
    manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn cached_blobs(client: &Client) -> Vec<std::path::PathBuf> {
    snapshot(&client.cache())
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.to_string_lossy().contains("sha256-"))
        .collect()
}

#[test]
fn publish_fetch_lock_and_ci_modes_over_oci() {
    let registry = OciRegistry::start();
    // A bare URL: distribution serves no registry.json, so wtool asks the APIs.
    let client = Client::at(&registry.url());
    let work = tempfile::tempdir().unwrap();
    publish_fixtures(&client, work.path());

    // The artifact is wkg's: one application/wasm layer under a Wasm config.
    let manifest: serde_json::Value =
        serde_json::from_slice(&registry.manifest("acme/types", "1.0.0")).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        "1.0.0"
    );
    assert_eq!(
        manifest["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "types.wasm"
    );

    // Tags that are no versions (cosign's, `latest`) are skipped without a word.
    let raw = registry.manifest("acme/types", "1.0.0");
    registry.push_manifest("acme/types", "latest", &raw);
    registry.push_manifest("acme/types", "sha256-0123abcd.sig", &raw);

    let app = work.path().join("app");
    let start = registry.requests();
    let out = client.run(&app, &["fetch"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Per imported package: manifest, config, layer, and the tags only for `acme:clock`, which
    // the app names without a version; plus one look at `/v2/` (an anonymous oci-client would
    // ask `/v2/` before every request). acme:types comes embedded in acme:logging.
    let cold = registry.requests() - start;
    assert!(
        cold <= 3 * 3 + 1 + 1,
        "{cold} requests: {:#?}",
        &registry.request_lines()[start..]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("latest") && !stderr.contains(".sig"),
        "{stderr}"
    );
    assert_eq!(
        deps(&app),
        [
            "acme-clock-1.0.0",
            "acme-logging-1.0.0",
            "acme-logging-2.0.0",
            "acme-types-1.0.0"
        ]
    );
    // The lock records the layer digest, as wkg does, under the registry's name.
    let locked = lock_entries(&app);
    let logging = locked.iter().find(|e| e.0 == "acme:logging").unwrap();
    assert_eq!(logging.3, layer_digest(&registry, "acme/logging", "1.0.0"));
    let lock_text = std::fs::read_to_string(app.join("wkg.lock")).unwrap();
    assert!(lock_text.contains(&format!("registry = \"{}\"", registry.name())));
    assert_eq!(locked.len(), 3, "{locked:?}");

    // A warm cache with the lock: --locked, --offline and --frozen make no request at all.
    let before = snapshot(&app);
    for mode in ["--locked", "--offline", "--frozen", "--check"] {
        let start = registry.requests();
        client.ok(&app, &["fetch", mode]);
        assert_eq!(
            registry.requests(),
            start,
            "fetch {mode} reached the registry: {:?}",
            &registry.request_lines()[start..]
        );
    }
    assert_eq!(snapshot(&app), before, "a locked run changed the project");

    // A fresh machine with the lock: the same bytes, checked against the lock.
    let other = Client::at(&registry.url());
    let clone = tempfile::tempdir().unwrap();
    copy_tree(&app, clone.path());
    std::fs::remove_dir_all(clone.path().join("wit/deps")).unwrap();
    other.ok(clone.path(), &["fetch", "--locked"]);
    assert_eq!(lock_entries(clone.path()), locked);
}

#[test]
fn publish_refuses_what_oci_cannot_keep() {
    let registry = OciRegistry::start();
    let client = Client::at(&format!("oci+{}", registry.url()));
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());
    client.ok(work.path(), &["publish", "types"]);

    // Moving a tag breaks every lock that recorded it: refused unless --force.
    let err = client.fails(work.path(), &["publish", "types"]);
    assert!(err.contains("already exists"), "{err}");
    assert!(err.contains("--force"), "{err}");
    client.ok(work.path(), &["publish", "types", "--force"]);

    // `+` is no tag character.
    let err = client.fails(
        work.path(),
        &["publish", "types", "--package", "acme:types@1.0.1+build.5"],
    );
    assert!(err.contains("build metadata"), "{err}");
    assert!(!String::from_utf8_lossy(&registry.manifest("acme/types", "1.0.0")).is_empty());

    // The semver check runs against the neighbours pulled from the registry, as for warg.
    let breaking = work.path().join("types-1.1.0.wit");
    std::fs::write(
        &breaking,
        "package acme:types@1.1.0;\ninterface level { enum level { debug, info } }\n",
    )
    .unwrap();
    let err = client.fails(work.path(), &["publish", "types-1.1.0.wit"]);
    assert!(err.contains("semver check failed"), "{err}");

    // OCI has no yank, and wtool says what to do instead.
    let out = client.run(work.path(), &["yank", "acme:types@1.0.0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("OCI has no yank"), "{err}");
}

/// Hand-made artifacts that are wrong in exactly one way each: every one is refused with a
/// message that says what is wrong, a non-zero exit, and nothing in the output or the cache.
#[test]
fn bad_artifacts_are_refused_and_nothing_is_written() {
    let registry = OciRegistry::start();
    let client = Client::at(&registry.url());
    let work = tempfile::tempdir().unwrap();
    let component = std::fs::read(fixture("components/logger.wasm")).unwrap();
    let core = wat::parse_str("(module)").unwrap();
    let wasm = "application/wasm";
    let config = "application/vnd.wasm.config.v0+json";
    registry.push_artifact(
        "acme/two-layers",
        "1.0.0",
        config,
        &[(wasm, &component), (wasm, &core)],
    );
    registry.push_artifact(
        "acme/image",
        "1.0.0",
        "application/vnd.oci.image.config.v1+json",
        &[(wasm, &component)],
    );
    registry.push_artifact("acme/core", "1.0.0", config, &[(wasm, &core)]);
    registry.push_artifact("acme/text", "1.0.0", config, &[(wasm, b"hello")]);
    registry.push_artifact("acme/tampered", "1.0.0", config, &[(wasm, &component)]);
    let digest = layer_digest(&registry, "acme/tampered", "1.0.0");
    let blob = registry.blob(&digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();

    let cases = [
        ("acme:two-layers", 3, "2 layers"),
        ("acme:image", 3, "application/vnd.oci.image.config.v1+json"),
        ("acme:core", 3, "core WebAssembly module"),
        ("acme:text", 3, "not a WebAssembly component"),
        ("acme:tampered", 7, "digest"),
        ("acme:missing", 1, "not found at registry"),
    ];
    for (package, code, says) in cases {
        let spec = format!("{package}@1.0.0");
        let out = client.run(work.path(), &["fetch", &spec, "-o", "out.wasm"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{package}: {err}");
        assert!(err.contains(says), "{package}: {err}");
        assert!(err.contains(package), "{package}: {err}");
        assert!(!work.path().join("out.wasm").exists(), "{package}");
        assert!(cached_blobs(&client).is_empty(), "{package}");
    }
    let err = client.fails(work.path(), &["fetch", "acme:missing@1.0.0"]);
    assert!(err.contains("repository 127.0.0.1"), "{err}");
}

#[test]
fn a_registry_that_is_down_is_named_and_nothing_is_written() {
    let mut registry = OciRegistry::start();
    let client = Client::at(&format!("oci+{}", registry.url()));
    let work = tempfile::tempdir().unwrap();
    publish_fixtures(&client, work.path());
    let app = work.path().join("app");
    registry.stop();
    let before = snapshot(&app);
    let out = client.run(&app, &["fetch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains(&registry.name()), "{err}");
    assert!(err.contains("--offline"), "{err}");
    assert_eq!(snapshot(&app), before);
}

#[test]
fn basic_auth_from_wkg_config_and_docker_config() {
    let registry = OciRegistry::with_basic_auth("alice", "s3cret-pass");
    let mut client = Client::at("");
    let home = client.home.path().to_path_buf();
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());
    let config = home.join("wkg.toml");
    let name = registry.name();
    std::fs::write(
        &config,
        format!("default_registry = \"{name}\"\n[registry.\"{name}\".oci]\nprotocol = \"http\"\n"),
    )
    .unwrap();
    client.set_env("WKG_CONFIG_FILE", &config.display().to_string());

    // No credentials: a 401 that names the registry, the repository and the sources tried.
    let out = client.run(work.path(), &["publish", "types"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(err.contains(&name) && err.contains("acme/types"), "{err}");
    assert!(err.contains("WKG_REGISTRY_127_0_0_1_"), "{err}");
    assert!(err.contains("Docker"), "{err}");

    // wkg's config.
    std::fs::write(
        &config,
        format!(
            "default_registry = \"{name}\"\n[registry.\"{name}\".oci]\nprotocol = \"http\"\n\
             auth = {{ username = \"alice\", password = \"s3cret-pass\" }}\n"
        ),
    )
    .unwrap();
    let out = client.ok(work.path(), &["-vv", "publish", "types"]);
    assert!(!out.contains("s3cret"), "{out}");
    let out = client.run(
        work.path(),
        &["-vv", "fetch", "acme:types@1", "-o", "t.wasm"],
    );
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cret"));

    // Docker's config.json, as `docker login` writes it.
    std::fs::write(
        &config,
        format!("default_registry = \"{name}\"\n[registry.\"{name}\".oci]\nprotocol = \"http\"\n"),
    )
    .unwrap();
    let docker = home.join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!("{{\"auths\":{{\"{name}\":{{\"auth\":\"YWxpY2U6czNjcmV0LXBhc3M=\"}}}}}}"),
    )
    .unwrap();
    client.ok(work.path(), &["fetch", "acme:types@1", "-o", "t2.wasm"]);
    assert_eq!(
        std::fs::read(work.path().join("t.wasm")).unwrap(),
        std::fs::read(work.path().join("t2.wasm")).unwrap()
    );

    // A credential store, as Docker Desktop and `docker-credential-pass` set it up: the
    // helper is run with the host on stdin.
    let helpers = home.join("bin");
    std::fs::create_dir_all(&helpers).unwrap();
    let helper = helpers.join("docker-credential-testkit");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread host\necho \"{\\\"ServerURL\\\":\\\"$host\\\",\\\"Username\\\":\\\"alice\\\",\\\"Secret\\\":\\\"s3cret-pass\\\"}\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(docker.join("config.json"), "{\"credsStore\":\"testkit\"}").unwrap();
    let path = format!(
        "{}:{}",
        helpers.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    client.set_env("PATH", &path);
    client.ok(work.path(), &["fetch", "acme:types@1", "-o", "t3.wasm"]);
    std::fs::remove_file(docker.join("config.json")).unwrap();
    let out = client.run(work.path(), &["fetch", "acme:types@1", "-o", "t4.wasm"]);
    assert_eq!(out.status.code(), Some(6));
}

#[test]
fn anonymous_bearer_challenge_is_answered() {
    let registry = OciRegistry::start();
    let front = TokenFront::start(&registry);
    let client = Client::at(&front.url());
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());
    client.ok(work.path(), &["publish", "types"]);
    let out = client.ok(
        work.path(),
        &["fetch", "acme:types@1", "-o", "t.wasm", "--json"],
    );
    let fetched: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(fetched["version"], "1.0.0");
    assert!(front.tokens_issued() >= 2, "{}", front.tokens_issued());

    // A token from the environment (wkg's variable) is sent as is: no token exchange.
    let issued = front.tokens_issued();
    let mut ci = Client::at(&front.url());
    let var = format!(
        "WKG_REGISTRY_{}_AUTH_BEARER",
        front.name().replace(['.', ':'], "_")
    );
    ci.set_env(&var, "testkit-anonymous-from-ci");
    let out = ci.run(
        work.path(),
        &["-vv", "fetch", "acme:types@1", "-o", "ci.wasm"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(front.tokens_issued(), issued);
    assert!(!err.contains("testkit-anonymous-from-ci"), "{err}");
}

/// Docker's config.json holds an identity token (as `az acr login` leaves it): wtool exchanges
/// it at the token service for access tokens, to push and to pull, and never shows it.
#[test]
fn a_docker_identity_token_is_exchanged_for_access_tokens() {
    let registry = OciRegistry::start();
    let front = TokenFront::identity(&registry);
    let client = Client::at(&front.url());
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());

    let out = client.run(work.path(), &["publish", "types"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert_eq!(front.tokens_issued(), 0);

    let docker = client.home.path().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"\",\"identitytoken\":\"{}\"}}}}}}",
            front.name(),
            wtool_testkit::oci::IDENTITY_TOKEN
        ),
    )
    .unwrap();
    let out = client.ok(work.path(), &["-vv", "publish", "types"]);
    assert!(!out.contains(wtool_testkit::oci::IDENTITY_TOKEN), "{out}");
    let pushed = front.tokens_issued();
    assert!(pushed >= 1, "no token was issued for the push");
    let out = client.run(
        work.path(),
        &["-vv", "fetch", "acme:types@1", "-o", "t.wasm"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains(wtool_testkit::oci::IDENTITY_TOKEN), "{err}");
    assert!(
        front.tokens_issued() > pushed,
        "the pull used no token of its own"
    );
    let fetched = std::fs::read(work.path().join("t.wasm")).unwrap();
    assert!(fetched.starts_with(b"\0asm"), "not a Wasm binary");
}

#[test]
fn registry_json_current_and_legacy_forms_lead_to_oci() {
    let registry = OciRegistry::start();
    let publisher = Client::at(&format!("oci+{}/wasm/", registry.url()));
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());
    publisher.ok(work.path(), &["publish", "types"]);
    assert!(!registry.manifest("wasm/acme/types", "1.0.0").is_empty());

    let name = registry.name();
    for document in [
        format!("{{\"preferredProtocol\":\"oci\",\"oci\":{{\"registry\":\"{name}\",\"namespacePrefix\":\"wasm/\"}}}}"),
        format!("{{\"ociRegistry\":\"{name}\",\"ociNamespacePrefix\":\"wasm/\"}}"),
        // Both offered: warg would win, but this one's warg side is a dead port, and the
        // document prefers OCI.
        format!("{{\"preferredProtocol\":\"oci\",\"wargUrl\":\"http://127.0.0.1:9\",\"oci\":{{\"registry\":\"{name}\",\"namespacePrefix\":\"wasm/\"}}}}"),
    ] {
        let site = StaticSite::serve("/.well-known/wasm-pkg/registry.json", &document);
        let client = Client::at(&site.url());
        let out = client.ok(
            work.path(),
            &["fetch", "acme:types@1", "-o", "t.wasm", "--json"],
        );
        let fetched: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(fetched["version"], "1.0.0", "{document}");
    }

    // wkg's inline metadata, with no document anywhere.
    let client = Client::at("");
    let config = client.home.path().join("wkg.toml");
    std::fs::write(
        &config,
        format!(
            "[namespace_registries]\nacme = {{ registry = \"acme-oci\", metadata = {{ preferredProtocol = \"oci\", oci = {{ registry = \"{name}\", namespacePrefix = \"wasm/\" }} }} }}\n"
        ),
    )
    .unwrap();
    let mut client = client;
    client.set_env("WKG_CONFIG_FILE", &config.display().to_string());
    client.ok(work.path(), &["fetch", "acme:types@1", "-o", "t.wasm"]);

    // A config that does not parse names the file, the key and the shape.
    std::fs::write(
        &config,
        "[namespace_registries]\nacme = { registry = \"r\", metadata = { wargUrl = \"http://x\" } }\n",
    )
    .unwrap();
    let err = client.fails(work.path(), &["fetch", "acme:types@1", "-o", "t.wasm"]);
    assert!(err.contains("wkg.toml"), "{err}");
    assert!(
        err.contains("namespace_registries.acme.metadata.wargUrl"),
        "{err}"
    );
}

#[test]
fn compose_takes_plugs_from_an_oci_registry() {
    let registry = OciRegistry::start();
    let client = Client::at(&registry.url());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let fixture = |p: &str| fixture(p).display().to_string();
    for (file, id) in [
        ("components/logger.wasm", "example:logger@0.1.0"),
        ("components/middleware.wasm", "example:middleware@0.1.0"),
    ] {
        client.ok(w, &["publish", &fixture(file), "--package", id]);
    }
    let app = fixture("components/app.wasm");
    client.ok(
        w,
        &[
            "compose",
            &app,
            "--plug",
            "example:middleware@0.1",
            "--plug",
            "example:logger",
            "-o",
            "composed.wasm",
        ],
    );
    let printed = run_command(&std::fs::read(w.join("composed.wasm")).unwrap());
    assert!(
        printed.contains("rust-logger [info] [mw] app started"),
        "{printed}"
    );
    let locked = lock_entries(w);
    assert!(locked
        .iter()
        .any(|e| e.0 == "example:logger"
            && e.3 == layer_digest(&registry, "example/logger", "0.1.0")));

    // Direct references, with no registry configured at all: `wkg get`'s equivalent, and plugs.
    let direct = Client::at("");
    let logger_ref = format!("{}/example/logger:0.1.0", registry.name());
    let middleware_ref = format!("{}/example/middleware:0.1.0", registry.name());
    direct.ok(w, &["fetch", &logger_ref, "-o", "direct-logger.wasm"]);
    assert_eq!(
        std::fs::read(w.join("direct-logger.wasm")).unwrap(),
        std::fs::read(fixture("components/logger.wasm")).unwrap()
    );
    let direct_dir = tempfile::tempdir().unwrap();
    direct.ok(
        direct_dir.path(),
        &[
            "compose",
            &app,
            "--plug",
            &middleware_ref,
            "--plug",
            &logger_ref,
            "-o",
            "composed.wasm",
        ],
    );
    let again = run_command(&std::fs::read(direct_dir.path().join("composed.wasm")).unwrap());
    assert_eq!(again, printed);
}

/// wkg's own library (`wasm-pkg-client` and `wasm-pkg-core` 0.16, what `wkg` runs) and wtool
/// against one registry: each reads what the other published, byte for byte, and the lock
/// entries both tools write are the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wkg_library_and_wtool_share_packages_and_locks() {
    use futures_util::TryStreamExt;
    use wasm_pkg_client::caching::{CachingClient, FileCache};

    let registry = OciRegistry::start();
    let name = registry.name();
    let config_text =
        format!("default_registry = \"{name}\"\n[registry.\"{name}\".oci]\nprotocol = \"http\"\n");
    let wkg_config = || wasm_pkg_client::Config::from_toml(&config_text).unwrap();
    let wkg = wasm_pkg_client::Client::new(wkg_config());
    let mut wtool = Client::at("");
    let config_file = wtool.home.path().join("wkg.toml");
    std::fs::write(&config_file, &config_text).unwrap();
    wtool.set_env("WKG_CONFIG_FILE", &config_file.display().to_string());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();

    // wkg publishes, wtool fetches: the same bytes, and the digest wkg reports.
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_dir(fixture("registry/types")).unwrap();
    let types_bytes = wit_component::encode(&resolve, pkg).unwrap();
    let (types, version) = wkg
        .publish_release_data(
            Box::pin(std::io::Cursor::new(types_bytes.clone())),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(types.to_string(), "acme:types");
    let out = wtool.ok(
        w,
        &["fetch", "acme:types@1.0.0", "-o", "types.wasm", "--json"],
    );
    let fetched: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(std::fs::read(w.join("types.wasm")).unwrap(), types_bytes);
    let release = wkg.get_release(&types, &version).await.unwrap();
    assert_eq!(fetched["digest"], release.content_digest.to_string());

    // wtool publishes (on top of wkg's package), wkg fetches: the same bytes.
    copy_tree(&fixture("registry"), w);
    wtool.ok(&w.join("logging-1.0.0"), &["fetch"]);
    wtool.ok(&w.join("logging-1.0.0"), &["publish"]);
    let logging: wasm_pkg_client::PackageRef = "acme:logging".parse().unwrap();
    let release = wkg
        .get_release(&logging, &"1.0.0".parse().unwrap())
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = wkg
        .stream_content(&logging, &release)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let from_wkg: Vec<u8> = chunks.concat();
    wtool.ok(w, &["fetch", "acme:logging@1.0.0", "-o", "logging.wasm"]);
    assert_eq!(std::fs::read(w.join("logging.wasm")).unwrap(), from_wkg);

    // One project, locked by each tool: the entries both write are identical.
    let project = |dir: &Path| {
        std::fs::create_dir_all(dir.join("wit")).unwrap();
        std::fs::write(
            dir.join("wit/app.wit"),
            "package acme:small@0.1.0;\nworld w { import acme:logging/logger@1.0.0; }\n",
        )
        .unwrap();
    };
    let by_wtool = w.join("by-wtool");
    project(&by_wtool);
    wtool.ok(&by_wtool, &["fetch"]);
    let by_wkg = w.join("by-wkg");
    project(&by_wkg);
    let cache = tempfile::tempdir().unwrap();
    let caching = CachingClient::new(
        Some(wasm_pkg_client::Client::new(wkg_config())),
        FileCache::new(cache.path()).await.unwrap(),
    );
    let mut lock = wasm_pkg_core::lock::LockFile::new_with_path([], by_wkg.join("wkg.lock"))
        .await
        .unwrap();
    wasm_pkg_core::wit::fetch_dependencies(
        &Default::default(),
        by_wkg.join("wit"),
        &mut lock,
        caching,
        wasm_pkg_core::wit::OutputType::Wit,
    )
    .await
    .unwrap();
    lock.write().await.unwrap();
    drop(lock);
    let wkg_entries = lock_entries(&by_wkg);
    let wtool_entries = lock_entries(&by_wtool);
    assert_eq!(wkg_entries.len(), 1, "{wkg_entries:?}");
    assert_eq!(
        wtool_entries, wkg_entries,
        "both lock the direct dependency, alike"
    );
    let registry_of = |dir: &Path| {
        let lock: toml::Value =
            toml::from_str(&std::fs::read_to_string(dir.join("wkg.lock")).unwrap()).unwrap();
        lock["packages"][0]["registry"].as_str().map(str::to_string)
    };
    assert_eq!(registry_of(&by_wkg), Some(name.clone()));

    // wkg's resolver accepts wtool's lock as it is (it checks the locked digest).
    let wtool_lock_before = std::fs::read(by_wtool.join("wkg.lock")).unwrap();
    let caching = CachingClient::new(
        Some(wasm_pkg_client::Client::new(wkg_config())),
        FileCache::new(cache.path()).await.unwrap(),
    );
    let lock = wasm_pkg_core::lock::LockFile::load_from_path(by_wtool.join("wkg.lock"), true)
        .await
        .unwrap();
    wasm_pkg_core::wit::resolve_dependencies(
        &Default::default(),
        by_wtool.join("wit"),
        Some(&lock),
        caching,
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read(by_wtool.join("wkg.lock")).unwrap(),
        wtool_lock_before
    );

    // And wtool's --locked run accepts wkg's lock unchanged.
    let wkg_lock_before = std::fs::read(by_wkg.join("wkg.lock")).unwrap();
    std::fs::remove_dir_all(by_wkg.join("wit/deps")).unwrap();
    wtool.ok(&by_wkg, &["fetch", "--locked"]);
    assert_eq!(
        std::fs::read(by_wkg.join("wkg.lock")).unwrap(),
        wkg_lock_before
    );
}

/// A registry that throttles (429 with `Retry-After`) or sheds load (503) for a while is
/// waited for, and the fetch goes through; a proxy from `HTTP_PROXY` is used.
#[test]
fn throttling_and_failing_registries_are_retried_and_proxies_honoured() {
    use wtool_testkit::oci::{Front, Mode};
    let registry = OciRegistry::start();
    let publisher = Client::at(&format!("oci+{}", registry.url()));
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());
    publisher.ok(work.path(), &["publish", "types"]);

    for status in [429, 503] {
        let front = Front::start(&registry, Mode::Failing { status, n: 2 });
        let client = Client::at(&format!("oci+{}", front.url()));
        let started = std::time::Instant::now();
        client.ok(work.path(), &["fetch", "acme:types@1", "-o", "t.wasm"]);
        assert_eq!(front.refused(), 2, "{status}");
        if status == 429 {
            // Two `Retry-After: 1` were honoured.
            assert!(started.elapsed() >= std::time::Duration::from_secs(2));
        }
    }

    let proxy = Front::start(&registry, Mode::Forward);
    let mut client = Client::at(&format!("oci+{}", registry.url()));
    client.set_env("HTTP_PROXY", &proxy.url());
    client.set_env("http_proxy", &proxy.url());
    client.set_env("NO_PROXY", "");
    client.set_env("no_proxy", "");
    client.ok(work.path(), &["fetch", "acme:types@1", "-o", "p.wasm"]);
    assert!(proxy.requests() >= 4, "{}", proxy.requests());
}

/// One fetch mixes an OCI registry and a local directory, each namespace mapped in wkg's config.
#[test]
fn one_fetch_mixes_oci_and_local_namespaces() {
    let registry = OciRegistry::start();
    let publisher = Client::at(&format!("oci+{}", registry.url()));
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    copy_tree(&fixture("registry"), w);
    publisher.ok(w, &["publish", "types"]);
    let local = w.join("local-registry");
    std::fs::create_dir_all(&local).unwrap();
    let name = registry.name();
    let mut client = Client::at("");
    let config = client.home.path().join("wkg.toml");
    std::fs::write(
        &config,
        format!(
            "[namespace_registries]\nacme = \"{name}\"\nlocal = \"dev\"\n\
             [registry.\"{name}\".oci]\nprotocol = \"http\"\n\
             [registry.\"dev\".local]\nroot = \"{}\"\n",
            local.display()
        ),
    )
    .unwrap();
    client.set_env("WKG_CONFIG_FILE", &config.display().to_string());
    std::fs::write(
        w.join("other.wit"),
        "package local:other@1.0.0;\ninterface o { f: func(); }\n",
    )
    .unwrap();
    client.ok(w, &["publish", "other.wit"]);
    let app = w.join("mixed");
    std::fs::create_dir_all(app.join("wit")).unwrap();
    std::fs::write(
        app.join("wit/app.wit"),
        "package acme:mixed@0.1.0;\nworld w { import acme:types/level@1.0.0; import local:other/o@1.0.0; }\n",
    )
    .unwrap();
    client.ok(&app, &["fetch"]);
    let locked = lock_entries(&app);
    assert_eq!(locked.len(), 2, "{locked:?}");
    let text = std::fs::read_to_string(app.join("wkg.lock")).unwrap();
    assert!(text.contains(&format!("registry = \"{name}\"")), "{text}");
    assert!(text.contains("registry = \"dev\""), "{text}");
}

/// HTTPS with a certificate the system does not know: refused, until wtool's config names the
/// CA file for that registry.
#[test]
fn https_with_an_extra_ca_from_config() {
    let registry = OciRegistry::with_tls();
    let name = registry.name();
    let client = Client::at(&format!("oci+https://{name}"));
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());
    let err = client.fails(work.path(), &["publish", "types"]);
    assert!(err.contains(&name), "{err}");
    assert!(err.contains("certificate that does not verify"), "{err}");
    assert!(err.contains("ca_file"), "{err}");

    let config_dir = client.home.path().join(".config/wtool");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            "[registries.\"{name}\"]\nca_file = \"{}\"\n",
            registry.ca_file().display()
        ),
    )
    .unwrap();
    client.ok(work.path(), &["publish", "types"]);
    let out = client.ok(
        work.path(),
        &["fetch", "acme:types@1", "-o", "t.wasm", "--json"],
    );
    let fetched: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(fetched["version"], "1.0.0");
}

/// The registry goes away in the middle of a cold fetch: the error names it, exits 5, and
/// leaves no `wit/deps`, no lock, and nothing unverified in the cache.
#[test]
fn a_registry_that_dies_mid_fetch_leaves_nothing_half_written() {
    use wtool_testkit::oci::{Front, Mode};
    let registry = OciRegistry::start();
    let publisher = Client::at(&format!("oci+{}", registry.url()));
    let work = tempfile::tempdir().unwrap();
    publish_fixtures(&publisher, work.path());
    let app = work.path().join("app");
    let before = snapshot(&app);
    // Enough for the first packages' tags and manifests, not for the whole closure.
    let front = Front::start(&registry, Mode::DiesAfter { n: 6 });
    let client = Client::at(&format!("oci+{}", front.url()));
    let out = client.run(&app, &["fetch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains(&front.name()) && err.contains("--offline"),
        "{err}"
    );
    assert_eq!(snapshot(&app), before, "the project changed");
    for (path, bytes) in snapshot(&client.cache()) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(hex) = name.strip_prefix("sha256-") {
            use sha2::Digest;
            assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), hex, "{name}");
        }
    }
}

/// A hostile registry, one lie at a time, in front of an honest one that holds the packages:
/// blobs without end, blobs far larger than their descriptors, and blobs redirected to a host
/// the token was never meant for. Each fetch fails with a verification or reach error naming
/// the registry, in bounded time, writes nothing into the project, caches only verified bytes,
/// and no credential follows the redirect.
#[test]
fn a_hostile_oci_registry_is_refused_and_nothing_is_written() {
    use wtool_testkit::oci::{Collector, Front, Mode};
    let registry = OciRegistry::start();
    let publisher = Client::at(&format!("oci+{}", registry.url()));
    let work = tempfile::tempdir().unwrap();
    publish_fixtures(&publisher, work.path());
    let app = work.path().join("app");
    let before = snapshot(&app);
    let elsewhere = Collector::start();
    let lies = [
        ("endless blobs", Mode::EndlessBlobs),
        ("oversized blobs", Mode::OversizedBlobs { extra: 256 << 20 }),
        (
            "redirected blobs",
            Mode::RedirectBlobs {
                to: elsewhere.port(),
            },
        ),
    ];
    for (lie, mode) in lies {
        let front = Front::start(&registry, mode);
        let mut client = Client::at(&format!("oci+{}", front.url()));
        client.set_env(
            &format!(
                "WKG_REGISTRY_127_0_0_1_{}_AUTH_BEARER",
                front.url().rsplit(':').next().unwrap()
            ),
            "secret-bearer-token",
        );
        let started = std::time::Instant::now();
        let out = client.run(&app, &["fetch"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{lie}: the fetch succeeded");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{lie}: the fetch took {:?}",
            started.elapsed()
        );
        assert!(err.contains(&front.name()), "{lie}: {err}");
        if !matches!(mode, Mode::RedirectBlobs { .. }) {
            assert_eq!(out.status.code(), Some(7), "{lie}: {err}");
            assert!(err.contains("nothing was used or cached"), "{lie}: {err}");
        }
        assert_eq!(snapshot(&app), before, "{lie}: the project changed");
        for (path, bytes) in snapshot(&client.cache()) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(hex) = name.strip_prefix("sha256-") {
                use sha2::Digest;
                assert_eq!(
                    hex::encode(sha2::Sha256::digest(&bytes)),
                    hex,
                    "{lie}: {name}"
                );
            }
        }
    }
    let heads = elsewhere.heads();
    assert!(!heads.is_empty(), "nothing followed the redirect");
    for head in heads {
        assert!(
            !head.to_ascii_lowercase().contains("authorization")
                && !head.contains("secret-bearer-token"),
            "a credential followed the redirect to another host:\n{head}"
        );
    }
}
