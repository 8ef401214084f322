//! `wtool publish` and `wtool fetch` against a real `wtool-registry` on a loopback port: the
//! team workflow (publish WIT packages, fetch a project's dependencies, lock them, build against
//! them) and the CI modes, plus interop with the real `warg-client` library.

use std::path::Path;
use wtool_testkit::project::deps;
use wtool_testkit::registry::Registry;
use wtool_testkit::run::run_command;
use wtool_testkit::wtool::Client;
use wtool_testkit::{copy_tree, fixture, snapshot};

/// The lock's entries without their digests.
fn lock_entries(project: &Path) -> Vec<(String, String, String)> {
    wtool_testkit::project::lock_entries(project)
        .into_iter()
        .map(|(name, requirement, version, _)| (name, requirement, version))
        .collect()
}

/// Builds a (dummy-bodied) component for the project's world, as a guest toolchain would:
/// proof that `wit/deps` is complete and consistent.
fn build_component(project: &Path) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_dir(project.join("wit")).unwrap();
    let world = resolve.select_world(&[pkg], Some("app")).unwrap();
    let mut module =
        wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

/// Publishes the fixture packages the way a team's CI does: fetch each package's own
/// dependencies, then publish it.
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

#[test]
fn fetch_resolves_locks_and_honours_ci_modes() {
    let registry = Registry::start(&["acme"]);
    let client = Client::new(&registry);
    let work = tempfile::tempdir().unwrap();
    publish_fixtures(&client, work.path());
    let app = work.path().join("app");

    // Cold fetch: two versions of acme:logging side by side, and acme:types as far as they
    // embed it.
    client.ok(&app, &["fetch"]);
    assert_eq!(
        deps(&app),
        [
            "acme-clock-1.0.0",
            "acme-logging-1.0.0",
            "acme-logging-2.0.0",
            "acme-types-1.0.0"
        ]
    );
    let v2 = std::fs::read_to_string(app.join("wit/deps/acme-logging-2.0.0/package.wit")).unwrap();
    assert!(v2.contains("package acme:logging@2.0.0;"), "{v2}");
    assert!(v2.contains("count: func() -> u64;"), "{v2}");
    let locked = lock_entries(&app);
    assert_eq!(
        locked,
        [
            ("acme:clock".into(), "*".into(), "1.0.0".into()),
            ("acme:logging".into(), "=1.0.0".into(), "1.0.0".into()),
            ("acme:logging".into(), "=2.0.0".into(), "2.0.0".into()),
        ]
    );
    let lock_text = std::fs::read_to_string(app.join("wkg.lock")).unwrap();
    assert!(lock_text.contains(&format!("registry = \"{}\"", registry.name())));

    // A component builds against what was fetched, importing both logger versions.
    let component = build_component(&app);
    let imports = wtool_testkit::imports(&component);
    assert!(
        imports.contains(&"acme:logging/logger@1.0.0".to_string()),
        "{imports:?}"
    );
    assert!(
        imports.contains(&"acme:logging/logger@2.0.0".to_string()),
        "{imports:?}"
    );

    // A new compatible clock: --locked keeps the lock and the tree byte for byte.
    client.ok(
        work.path(),
        &[
            "publish",
            "clock-1.1.0/clock.wit",
            "--package",
            "acme:clock@1.1.0",
        ],
    );
    let before = snapshot(&app);
    client.ok(&app, &["fetch", "--locked"]);
    assert_eq!(snapshot(&app), before, "--locked changed the project");

    // With a complete lock and a warm cache, --offline and --frozen make no request at all.
    let calibrate = registry.requests();
    let per_probe = registry.requests() - calibrate;
    for mode in ["--offline", "--frozen"] {
        let start = registry.requests();
        client.ok(&app, &["fetch", mode]);
        assert_eq!(
            registry.requests() - start,
            per_probe,
            "fetch {mode} reached the registry"
        );
    }
    assert_eq!(snapshot(&app), before);

    // --check on a stale tree fails and writes nothing.
    let edited = app.join("wit/deps/acme-types-1.0.0/package.wit");
    std::fs::write(&edited, "package acme:types@1.0.0;\n").unwrap();
    let stale = snapshot(&app);
    let err = client.fails(&app, &["fetch", "--check"]);
    assert!(err.contains("acme-types-1.0.0 differs"), "{err}");
    assert_eq!(snapshot(&app), stale, "--check wrote something");

    // Without --locked the unpinned clock moves to 1.1.0, the tree is repaired, the old
    // entry pruned.
    client.ok(&app, &["fetch"]);
    assert!(deps(&app).contains(&"acme-clock-1.1.0".to_string()));
    assert!(!deps(&app).contains(&"acme-clock-1.0.0".to_string()));
    assert!(lock_entries(&app).contains(&("acme:clock".into(), "*".into(), "1.1.0".into())));
    client.ok(&app, &["fetch", "--check"]);
    build_component(&app);

    // A breaking minor release of acme:types is refused by the semver check.
    let breaking = work.path().join("types-1.1.0.wit");
    std::fs::write(
        &breaking,
        "package acme:types@1.1.0;\ninterface level { enum level { debug, info } }\n",
    )
    .unwrap();
    let err = client.fails(work.path(), &["publish", "types-1.1.0.wit"]);
    assert!(err.contains("semver check failed"), "{err}");
    assert!(err.contains("acme:types/level"), "{err}");
}

/// Without a key in the store (and no WTOOL_SIGNING_KEY) a publish says how to get one, and
/// publishes nothing; with the key it asks for, the same publish goes through.
#[test]
fn publish_without_a_key_says_how_to_get_one() {
    let registry = Registry::start(&["acme"]);
    let client = Client::without_key(&registry);
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());
    let err = client.fails(work.path(), &["publish", "types"]);
    assert!(err.contains("no signing key named `default`"), "{err}");
    assert!(err.contains("wtool key new"), "{err}");
    let missing = client.fails(work.path(), &["fetch", "acme:types@1", "-o", "types.wasm"]);
    assert!(missing.contains("acme:types"), "{missing}");
    client.ok(work.path(), &["key", "new", "--name", "default"]);
    client.ok(work.path(), &["publish", "types"]);
}

/// CI scripts branch on the exit code: a refused token is 6, a registry that does not answer 5.
#[test]
fn refused_auth_and_unreachable_registry_have_their_own_exit_codes() {
    let registry = Registry::start(&["acme"]);
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());
    let client = Client::new(&registry).with_token("wtr_not-a-token");
    let out = client.run(work.path(), &["publish", "types"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(err.contains(&registry.name()), "names the registry: {err}");

    let client = Client::new(&registry);
    drop(registry);
    let out = client.run(work.path(), &["fetch", "acme:types@1", "-o", "t.wasm"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(!work.path().join("t.wasm").exists());
}

#[test]
fn tampered_blob_is_refused_and_cache_stays_clean() {
    let registry = Registry::start(&["acme"]);
    let publisher = Client::new(&registry);
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());
    let out = publisher.ok(work.path(), &["publish", "types", "--json"]);
    let published: serde_json::Value = serde_json::from_str(&out).unwrap();
    let digest = published["digest"].as_str().unwrap();

    // Flip one byte of the stored blob: the registry now serves bytes its log does not name.
    registry.data.tamper_blob(digest, |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
    });

    let reader = Client::new(&registry);
    let err = reader.fails(
        work.path(),
        &["fetch", "acme:types@1.0.0", "-o", "types.wasm"],
    );
    assert!(err.contains("acme:types@1.0.0"), "{err}");
    assert!(err.contains(digest), "{err}");
    assert!(!work.path().join("types.wasm").exists());
    let cached: Vec<_> = snapshot(&reader.cache())
        .into_iter()
        .filter(|(p, _)| p.to_string_lossy().contains("sha256-"))
        .collect();
    assert!(
        cached.is_empty(),
        "a bad blob reached the cache: {cached:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warg_client_and_wtool_read_each_others_packages() {
    use wtool_testkit::warg;
    let registry = Registry::start(&["acme"]);
    let client = Client::new(&registry);
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());
    let out = client.ok(work.path(), &["publish", "types", "--json"]);
    let published: serde_json::Value = serde_json::from_str(&out).unwrap();

    let state = tempfile::tempdir().unwrap();
    let warg = warg::client(
        &format!("{}/", registry.url),
        state.path(),
        Some(&registry.token),
    );

    // warg-client verifies the log, checkpoint and proofs, then the content digest.
    let types = warg::name("acme:types");
    let got = warg
        .download(&types, &"*".parse().unwrap())
        .await
        .unwrap()
        .expect("a release");
    assert_eq!(got.version.to_string(), "1.0.0");
    assert_eq!(
        got.digest.to_string(),
        published["digest"].as_str().unwrap()
    );

    // The other direction: warg-client publishes, wtool fetches and verifies.
    let bytes = std::fs::read(&got.path).unwrap();
    let name = warg::name("acme:from-warg");
    warg::release(&warg, &warg::new_key(), &name, "3.0.0", bytes, true)
        .await
        .unwrap();

    let out = client.ok(
        work.path(),
        &[
            "fetch",
            "acme:from-warg@3",
            "-o",
            "from-warg.wasm",
            "--json",
        ],
    );
    let fetched: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(fetched["version"], "3.0.0");
    assert_eq!(fetched["digest"], got.digest.to_string());
    assert_eq!(
        std::fs::read(work.path().join("from-warg.wasm")).unwrap(),
        std::fs::read(&got.path).unwrap()
    );
}

#[test]
fn compose_takes_plugs_from_the_registry_and_locks_them() {
    let registry = Registry::start(&["example"]);
    let client = Client::new(&registry);
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
    let compose = |extra: &[&str], out: &str| {
        let mut args = vec![
            "compose",
            &app,
            "--plug",
            "example:middleware@0.1",
            "--plug",
            "example:logger",
            "-o",
            out,
        ];
        args.extend_from_slice(extra);
        client.ok(w, &args);
        std::fs::read(w.join(out)).unwrap()
    };

    // Plugs by registry reference run exactly like the same plugs given as files.
    let from_registry = compose(&[], "from-registry.wasm");
    let local = wtool_testkit::wtool::compose(
        w,
        "components/app.wasm",
        &["components/middleware.wasm", "components/logger.wasm"],
    );
    let printed = run_command(&from_registry);
    assert!(
        printed.contains("rust-logger [info] [mw] app started"),
        "{printed}"
    );
    assert_eq!(printed, run_command(&local));
    let locked = lock_entries(w);
    assert!(locked.contains(&("example:logger".into(), "*".into(), "0.1.0".into())));
    assert!(locked.contains(&("example:middleware".into(), "^0.1".into(), "0.1.0".into())));

    // The same graph as a WAC document: the app by --dep, logger and middleware from the
    // registry, running exactly as before.
    let wac = fixture("wac/app.wac");
    let dep = format!("example:app={app}");
    client.ok(w, &["compose", &wac, "--dep", &dep, "-o", "from-wac.wasm"]);
    let from_wac = std::fs::read(w.join("from-wac.wasm")).unwrap();
    assert_eq!(run_command(&from_wac), printed);

    // A newer compatible logger: --locked keeps 0.1.0 and gives the same bytes.
    client.ok(
        w,
        &[
            "publish",
            &fixture("components/logger-0.1.3.wasm"),
            "--package",
            "example:logger@0.1.3",
        ],
    );
    let lock_before = std::fs::read(w.join("wkg.lock")).unwrap();
    assert_eq!(compose(&["--locked"], "again.wasm"), from_registry);
    assert_eq!(std::fs::read(w.join("wkg.lock")).unwrap(), lock_before);

    // Without --locked the lock moves to 0.1.3, and so does the composition.
    let updated = compose(&[], "updated.wasm");
    assert!(lock_entries(w).contains(&("example:logger".into(), "*".into(), "0.1.3".into())));
    assert!(run_command(&updated).contains("rust-logger@0.1.3 ["));

    // A target world from the registry: met, then missed with every problem named and
    // nothing written.
    client.ok(w, &["publish", &fixture("targets")]);
    let target = |world: &str, out: &str| -> [String; 8] {
        [
            "compose".into(),
            app.clone(),
            "--plug".into(),
            "example:logger".into(),
            "--target-world".into(),
            format!("example:service/{world}"),
            "-o".into(),
            out.into(),
        ]
    };
    let met = target("logged-command", "checked.wasm");
    client.ok(w, &met.each_ref().map(String::as_str));
    let missed = target("logger-service", "missed.wasm");
    let err = client.fails(w, &missed.each_ref().map(String::as_str));
    assert!(
        err.contains("does not export instance `example:logging/logger@0.1.0`"),
        "{err}"
    );
    assert!(!w.join("missed.wasm").exists());

    // A WIT package is not a plug.
    copy_tree(&wtool_testkit::fixture("registry/types"), &w.join("types"));
    let reg2 = Registry::start(&["acme"]);
    let client2 = Client::new(&reg2);
    client2.ok(w, &["publish", "types"]);
    let err = client2.fails(
        w,
        &["compose", &app, "--plug", "acme:types", "-o", "x.wasm"],
    );
    assert!(err.contains("a WIT package, not a component"), "{err}");
    assert!(!w.join("x.wasm").exists());
}

#[test]
fn wkg_config_maps_namespaces_to_a_local_registry() {
    // An existing wkg setup, unchanged: the default registry is a local directory.
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join("packages");
    let xdg = home.path().join("xdg");
    std::fs::create_dir_all(xdg.join("wasm-pkg")).unwrap();
    std::fs::write(
        xdg.join("wasm-pkg/config.toml"),
        format!(
            "default_registry = \"team.local\"\n\n[registry.\"team.local\"]\ntype = \"local\"\n\n\
             [registry.\"team.local\".local]\nroot = \"{}\"\n",
            root.display()
        ),
    )
    .unwrap();
    let work = home.path().join("work");
    copy_tree(&fixture("registry"), &work);
    let wtool = |dir: &Path, args: &[&str]| {
        let out = std::process::Command::new(wtool_testkit::binary("wtool"))
            .args(args)
            .current_dir(dir)
            .env("XDG_CONFIG_HOME", &xdg)
            .env("WTOOL_CONFIG_DIR", home.path().join("config"))
            .env("WTOOL_CACHE_DIR", home.path().join("cache"))
            .env_remove("WTOOL_REGISTRY")
            .env_remove("WKG_CONFIG_FILE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "wtool {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    wtool(&work, &["publish", "types"]);
    assert!(root.join("acme/types/1.0.0.wasm").is_file(), "wkg's layout");
    let logging = work.join("logging-1.0.0");
    wtool(&logging, &["fetch"]);
    let lock = std::fs::read_to_string(logging.join("wkg.lock")).unwrap();
    assert!(lock.contains("registry = \"team.local\""), "{lock}");
    assert_eq!(deps(&logging), ["acme-types-1.0.0"]);
}

/// A project's direct dependencies are fetched from the registry in one batch; when one of them
/// does not exist, the error still names that package.
#[test]
fn an_unknown_package_in_a_batch_is_named() {
    let registry = Registry::start(&["acme"]);
    let client = Client::new(&registry);
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixture("registry"), work.path());
    client.ok(work.path(), &["publish", "types"]);
    let app = work.path().join("unknown");
    std::fs::create_dir_all(app.join("wit")).unwrap();
    std::fs::write(
        app.join("wit/world.wit"),
        "package acme:unknown@0.1.0;\n\nworld w {\n  import acme:types/types@1.0.0;\n  \
         import acme:nosuch/thing@1.0.0;\n}\n",
    )
    .unwrap();
    let err = client.fails(&app, &["fetch"]);
    assert!(
        err.contains("acme:nosuch") && err.contains("not found at registry"),
        "{err}"
    );
    assert!(!app.join("wkg.lock").exists());
}

/// `kill -9` of `wtool fetch` at 50 moments, with a warm cache and a cold one: whatever it left
/// behind, the next `wtool fetch --locked` ends with the project exactly as a clean fetch left
/// it.
#[test]
fn a_fetch_killed_at_any_moment_is_repaired_by_the_next_locked_fetch() {
    let registry = Registry::start(&["acme"]);
    let client = Client::new(&registry);
    let work = tempfile::tempdir().unwrap();
    publish_fixtures(&client, work.path());
    let app = work.path().join("app");
    client.ok(&app, &["fetch"]);
    let good = snapshot(&app);
    for i in 0..50u64 {
        if i % 2 == 0 {
            let _ = std::fs::remove_dir_all(client.cache());
        }
        // Work for the killed fetch to do: the tree goes, the lock stays.
        let _ = std::fs::remove_dir_all(app.join("wit/deps"));
        let mut child = client
            .command(&app, &["fetch", "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis((i * 37) % 150));
        let _ = child.kill();
        let _ = child.wait();
        client.ok(&app, &["fetch", "--locked", "-q"]);
        assert_eq!(snapshot(&app), good, "after the kill at round {i}");
    }
}

#[test]
fn a_fetch_onto_a_full_disk_fails_cleanly_and_leaves_project_and_cache_consistent() {
    let registry = Registry::start(&["acme"]);
    let client = Client::new(&registry);
    let work = tempfile::tempdir().unwrap();
    publish_fixtures(&client, work.path());
    let app = work.path().join("app");
    let _ = std::fs::remove_dir_all(client.cache());
    std::fs::create_dir_all(client.cache()).unwrap();
    let before = snapshot(&app);
    // The project and the cache each on a small file system of their own, both full.
    let project_disk = wtool_testkit::tmpfs::Tmpfs::over(&app, "4m");
    let cache_disk = wtool_testkit::tmpfs::Tmpfs::over(&client.cache(), "4m");
    let fillers = [project_disk.fill(), cache_disk.fill()];
    let out = client.run(&app, &["fetch"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a fetch onto a full disk succeeded");
    assert!(
        stderr.to_lowercase().contains("no space left on device"),
        "the error does not say the disk is full:\n{stderr}"
    );
    // Room in the cache but not in the project: the fetch gets as far as `wit/deps`.
    std::fs::remove_file(&fillers[1]).unwrap();
    let out = client.run(&app, &["fetch"]);
    let second = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a fetch into a full project succeeded"
    );
    assert!(
        second.to_lowercase().contains("no space left on device"),
        "the error does not say the disk is full:\n{second}"
    );
    std::fs::remove_file(&fillers[0]).unwrap();
    // Nothing half-written: the project is as it was, and the cache holds only whole blobs.
    assert_eq!(
        snapshot(&app),
        before,
        "the project changed:\n{stderr}\n{second}"
    );
    for (path, bytes) in snapshot(&client.cache()) {
        if let Some(hex) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("sha256-"))
        {
            use sha2::Digest as _;
            assert_eq!(
                hex,
                hex::encode(sha2::Sha256::digest(&bytes)),
                "{path:?} is not whole"
            );
        }
    }
    // With room again, the same fetch works.
    client.ok(&app, &["fetch"]);
    assert!(!deps(&app).is_empty());
    build_component(&app);
}

#[test]
fn a_warg_registry_that_rewinds_or_drops_records_is_not_believed() {
    use wtool_testkit::oci::{Front, Mode};
    let registry = Registry::start(&["acme"]);
    let publisher = Client::new(&registry);
    let work = tempfile::tempdir().unwrap();
    publish_fixtures(&publisher, work.path());
    let app = work.path().join("app");
    let fresh = |app: &Path| {
        let _ = std::fs::remove_file(app.join("wkg.lock"));
        let _ = std::fs::remove_dir_all(app.join("wit/deps"));
    };

    // A rewind: the registry serves a checkpoint its operator really signed, but older than
    // one the client has already verified.
    let front = Front::before(registry.port(), Mode::FreezeCheckpoint);
    let victim = Client::at(&format!("warg+{}", front.url()));
    victim.ok(&app, &["fetch"]);
    publisher.ok(
        work.path(),
        &[
            "publish",
            "clock-1.1.0/clock.wit",
            "--package",
            "acme:clock@1.1.0",
        ],
    );
    fresh(&app);
    victim.ok(&app, &["fetch"]);
    let newest = snapshot(&app);
    assert!(
        lock_entries(&app)
            .iter()
            .any(|(n, _, v)| n == "acme:clock" && v == "1.1.0"),
        "{:?}",
        lock_entries(&app)
    );
    front.freeze();
    fresh(&app);
    let out = victim.run(&app, &["fetch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        // Kept to what it had verified: never the older view.
        assert_eq!(snapshot(&app), newest, "{err}");
    } else {
        assert_eq!(
            out.status.code(),
            Some(7),
            "a rewind is a verification failure: {err}"
        );
        assert!(err.contains("127.0.0.1"), "names the registry: {err}");
        assert!(!app.join("wit/deps").exists(), "{err}");
    }

    // A dropped record: each package log comes without its last record. A client with no
    // state of its own must find out from the checkpoint alone.
    let front = Front::before(registry.port(), Mode::DropLastRecord);
    let victim = Client::at(&format!("warg+{}", front.url()));
    fresh(&app);
    let out = victim.run(&app, &["fetch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a log without its last record was believed"
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "a dropped record is a verification failure: {err}"
    );
    assert!(!app.join("wit/deps").exists(), "{err}");
    assert!(!app.join("wkg.lock").exists(), "{err}");
}

#[test]
fn a_warg_registry_that_forks_its_log_is_refused() {
    use wtool_testkit::oci::{Front, Mode};
    use wtool_testkit::registry::DataDir;
    // Two registries with one operator key and one log up to the fork, then each its own.
    let original = DataDir::init_on(&wtool_testkit::binary("wtool-registry"), &["acme"], &[]);
    let forked = original.fork();
    let a = Registry::serving(original, &["acme"]);
    let b = Registry::serving(forked, &["acme"]);
    let work = tempfile::tempdir().unwrap();
    publish_fixtures(&Client::new(&a), work.path());
    let other = tempfile::tempdir().unwrap();
    let b_publisher = Client::new(&b);
    publish_fixtures(&b_publisher, other.path());
    b_publisher.ok(
        other.path(),
        &[
            "publish",
            "clock-1.1.0/clock.wit",
            "--package",
            "acme:clock@1.1.0",
        ],
    );

    // A client verifies A's log, then the same name starts answering with B's.
    let front = Front::before(a.port(), Mode::Forward);
    let victim = Client::at(&format!("warg+{}", front.url()));
    let app = work.path().join("app");
    victim.ok(&app, &["fetch"]);
    front.switch_to(b.port());
    let _ = std::fs::remove_file(app.join("wkg.lock"));
    let _ = std::fs::remove_dir_all(app.join("wit/deps"));
    let out = victim.run(&app, &["fetch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(7),
        "a forked log must fail verification: {err}"
    );
    assert!(!app.join("wit/deps").exists(), "{err}");
    assert!(!app.join("wkg.lock").exists(), "{err}");
}
