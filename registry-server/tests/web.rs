//! The package browser against the real server: pages and their JSON twins, caching, headers,
//! the login path, and (in headless Chromium) what a person sees and clicks.

mod common;

use common::*;
use serde_json::Value;
use warg_client::storage::PublishEntry;
use wasm_metadata::{AddMetadata, AddMetadataField, Description, Licenses, Source};

const LOGGING_1: &str = r#"
package example:logging@0.1.0;

/// Writes log lines.
interface logger {
    log: func(message: string);
}
"#;

const LOGGING_2: &str = r#"
package example:logging@0.2.0;

/// Writes log lines, with levels.
interface logger {
    enum level { info, warn }
    log: func(level: level, message: string);
}

world plug {
    export logger;
}
"#;

const APP: &str = r#"
package example:app@1.0.0;

world app {
    import example:logging/logger@0.2.0;
    export run: func();
}
"#;

/// Doc comments that would run script if a page pasted them in as HTML.
const EVIL: &str = r#"
package example:evil@1.0.0;

/// <script>document.title = "pwned";</script><img src="x" onerror="document.title='pwned'">
interface sneaky {
    /// </code></pre><script>document.title = "pwned";</script>
    f: func();
}
"#;

/// A binary WIT package from `source`, with `deps` resolved first and metadata added.
fn wit_package(deps: &[&str], source: &str, description: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    for (i, dep) in deps.iter().enumerate() {
        resolve.push_str(format!("dep{i}.wit"), dep).unwrap();
    }
    let pkg = resolve.push_str("main.wit", source).unwrap();
    let bytes = wit_component::encode(&resolve, pkg).unwrap();
    let mut metadata = AddMetadata::default();
    metadata.description = AddMetadataField::Set(Description::new(description.to_string()));
    metadata.licenses = AddMetadataField::Set(Licenses::new("Apache-2.0").unwrap());
    metadata.source = AddMetadataField::Set(Source::new("https://example.com/src").unwrap());
    metadata.to_wasm(&bytes).unwrap()
}

pub struct Seeded {
    pub dir: DataDir,
    pub server: wtool_registry::server::RunningServer,
    pub url: String,
    pub token: String,
}

/// A registry with `example:logging` 0.1.0 (yanked) and 0.2.0, `example:app` 1.0.0 that
/// imports the logger, and `example:evil` with hostile doc comments.
pub async fn seed(require_read_token: bool) -> Seeded {
    let dir = init_registry(&["example"]);
    let token = create_token(&dir, "example");
    if require_read_token {
        dir.edit_config("require_read_token = false", "require_read_token = true");
    }
    let server = start(&dir, "127.0.0.1:0").await;
    let url = server.public_url.to_string();
    let cache = tempfile::tempdir().unwrap();
    let client = client(&url, cache.path(), Some(&token));
    let key = new_key();
    let logging = name("example:logging");
    let v1 = wit_package(&[], LOGGING_1, "Logging, first cut");
    let v2 = wit_package(&[], LOGGING_2, "Logging with levels");
    release(&client, &key, &logging, "0.1.0", v1, true)
        .await
        .unwrap();
    release(&client, &key, &logging, "0.2.0", v2, false)
        .await
        .unwrap();
    publish(
        &client,
        &key,
        &logging,
        vec![PublishEntry::Yank {
            version: "0.1.0".parse().unwrap(),
        }],
    )
    .await
    .unwrap();
    let app = wit_package(&[LOGGING_2], APP, "An app that logs");
    release(&client, &key, &name("example:app"), "1.0.0", app, true)
        .await
        .unwrap();
    let evil = wit_package(
        &[],
        EVIL,
        "<b>bold</b> & <script>document.title='pwned'</script>",
    );
    release(&client, &key, &name("example:evil"), "1.0.0", evil, true)
        .await
        .unwrap();
    Seeded {
        dir,
        server,
        url,
        token,
    }
}

async fn get(http: &reqwest::Client, url: &str, json: bool) -> reqwest::Response {
    // What a browser sends, or what a script asking for JSON sends.
    let accept = if json {
        "application/json"
    } else {
        "text/html,application/xhtml+xml,*/*;q=0.8"
    };
    let req = http.get(url).header("accept", accept);
    req.send().await.unwrap()
}

async fn get_html_if_none_match(
    http: &reqwest::Client,
    url: &str,
    etag: &str,
) -> reqwest::Response {
    http.get(url)
        .header("accept", "text/html")
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap()
}

async fn text(http: &reqwest::Client, url: &str) -> String {
    let res = get(http, url, false).await;
    assert_eq!(res.status(), 200, "{url}");
    res.text().await.unwrap()
}

async fn json(http: &reqwest::Client, url: &str) -> Value {
    let res = get(http, url, true).await;
    assert_eq!(res.headers()["content-type"], "application/json", "{url}");
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_json_twins() {
    let s = seed(false).await;
    let http = reqwest::Client::new();
    let url = &s.url;

    let index = text(&http, url).await;
    assert!(index.contains("<html lang=\"en\">"));
    assert!(index.contains("href=\"/example:logging\""));
    assert!(index.contains("Logging with levels"), "{index}");
    let j = json(&http, url).await;
    assert_eq!(j["total"], 3);
    assert_eq!(j["namespaces"][0]["name"], "example");
    assert_eq!(j["packages"][2]["name"], "example:logging");
    assert_eq!(j["packages"][2]["latest"], "0.2.0");

    // Versions newest first, the yanked one marked.
    let pkg = json(&http, &format!("{url}example:logging")).await;
    assert_eq!(pkg["releases"][0]["version"], "0.2.0");
    assert_eq!(pkg["releases"][1]["version"], "0.1.0");
    assert_eq!(pkg["releases"][1]["yanked"], true);
    assert_eq!(pkg["licenses"], "Apache-2.0");
    assert_eq!(pkg["source"], "https://example.com/src");
    assert!(pkg["releases"][0]["size"].as_u64().unwrap() > 0);
    assert!(pkg["releases"][0]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(pkg["oci"]["tags"][0]["tag"], "0.2.0");
    let page = text(&http, &format!("{url}example:logging")).await;
    assert!(page.contains("class=\"yanked\""));
    assert!(page.contains("yank-mark"));

    // A version: its WIT, worlds, dependency link and commands.
    let app = json(&http, &format!("{url}example:app@1.0.0")).await;
    assert!(app["content"]["wit"]
        .as_str()
        .unwrap()
        .contains("import example:logging/logger@0.2.0;"));
    assert_eq!(app["dependencies"][0]["package"], "example:logging");
    assert_eq!(app["dependencies"][0]["href"], "/example:logging@0.2.0");
    assert_eq!(
        app["commands"]["wtool_fetch"],
        "wtool fetch example:app@1.0.0 -o app.wasm"
    );
    let html = text(&http, &format!("{url}example:app@1.0.0")).await;
    assert!(html.contains("href=\"/example:logging@0.2.0\""));
    assert!(html.contains("data-copy=\"cmd-fetch\""));

    // Search by interface name and by package name.
    let found = json(&http, &format!("{url}?q=logger")).await;
    let names: Vec<&str> = found["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["example:app", "example:logging"]);
    let found = json(&http, &format!("{url}?q=example:logging/logger")).await;
    assert_eq!(found["total"], 2);
    let found = json(&http, &format!("{url}?q=evil")).await;
    assert_eq!(found["total"], 1);

    // Hostile text is text.
    let evil = text(&http, &format!("{url}example:evil@1.0.0")).await;
    assert!(!evil.contains("<script>document"), "{evil}");
    assert!(evil.contains("&lt;script&gt;document.title"));
    assert!(!evil.contains("<img src=\"x\""));
    let evil_pkg = text(&http, &format!("{url}example:evil")).await;
    assert!(evil_pkg.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;"));

    // The log.
    let log = json(&http, &format!("{url}log")).await;
    let len = log["checkpoint"]["log_length"].as_u64().unwrap();
    assert!(len >= 5, "{log}");
    assert_eq!(log["recent"][0]["package"], "example:evil");
    assert_eq!(log["recent"][0]["entries"][1], "release 1.0.0");

    // 404 with a suggestion, in both forms.
    let res = get(&http, &format!("{url}example:loging"), false).await;
    assert_eq!(res.status(), 404);
    let body = res.text().await.unwrap();
    assert!(body.contains("href=\"/example:logging\""), "{body}");
    let res = get(&http, &format!("{url}loggin"), true).await;
    assert_eq!(res.status(), 404);
    let j: Value = res.json().await.unwrap();
    assert_eq!(j["suggestion"], "example:logging");
    let res = get(&http, &format!("{url}example:logging@9.9.9"), true).await;
    assert_eq!(res.status(), 404);

    s.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_etags_and_caching() {
    let s = seed(false).await;
    let http = reqwest::Client::new();
    let url = &s.url;
    for path in ["", "example:logging", "example:app@1.0.0", "log", "nope"] {
        for json in [false, true] {
            let res = get(&http, &format!("{url}{path}"), json).await;
            let h = res.headers();
            assert!(h["vary"].to_str().unwrap().contains("Accept"), "{path}");
            assert_eq!(h["x-content-type-options"], "nosniff");
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"));
            assert!(csp.contains("script-src 'self'"));
            assert!(!csp.contains("unsafe-inline"));
        }
    }
    // No inline script or style anywhere: only the embedded files.
    let page = text(&http, &format!("{url}example:app@1.0.0")).await;
    assert!(page.contains("<script src=\"/-/app.js\" defer></script>"));
    assert_eq!(page.matches("<script").count(), 1);
    assert!(!page.contains("style="));
    assert!(!page.contains("http://") && !page.contains("https://fonts"));
    let css = get(&http, &format!("{url}-/style.css"), false).await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css
        .text()
        .await
        .unwrap()
        .contains("prefers-color-scheme: dark"));

    // ETags follow the checkpoint; If-None-Match gets a 304.
    let res = get(&http, &format!("{url}example:logging"), false).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let res = get_html_if_none_match(&http, &format!("{url}example:logging"), &etag).await;
    assert_eq!(res.status(), 304);
    assert!(res.headers()["vary"].to_str().unwrap().contains("Accept"));
    let res = get(&http, &format!("{url}example:logging"), true).await;
    assert_ne!(
        res.headers()["etag"].to_str().unwrap(),
        etag,
        "JSON has its own tag"
    );

    // The first answer for a path renders it, later ones come from the cache, and each says
    // which and how long it took in `Server-Timing`.
    let timing =
        |res: &reqwest::Response| res.headers()["server-timing"].to_str().unwrap().to_string();
    let first = timing(&get(&http, &format!("{url}example:app"), true).await);
    assert!(first.starts_with("page;desc=\"rendered\";dur="), "{first}");
    let again = timing(&get(&http, &format!("{url}example:app"), true).await);
    assert!(again.starts_with("page;desc=\"cached\";dur="), "{again}");
    let ms: f64 = again.rsplit("dur=").next().unwrap().parse().unwrap();
    assert!(ms >= 0.0, "{again}");

    // A new record moves the tag on.
    let cache = tempfile::tempdir().unwrap();
    let client = client(url, cache.path(), Some(&s.token));
    release(
        &client,
        &new_key(),
        &name("example:later"),
        "1.0.0",
        component(7),
        true,
    )
    .await
    .unwrap();
    let res = get_html_if_none_match(&http, &format!("{url}example:logging"), &etag).await;
    assert_eq!(res.status(), 200);
    assert_ne!(res.headers()["etag"].to_str().unwrap(), etag);
    let j = json(&http, url).await;
    assert_eq!(j["total"], 4);
    s.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_token_login_and_disabled_pages() {
    let s = seed(true).await;
    let url = &s.url;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = get(&http, url, false).await;
    assert_eq!(res.status(), 401);
    let body = res.text().await.unwrap();
    assert!(body.contains("action=\"/-/login\""));
    assert!(!body.contains("example:logging"));
    let res = get(&http, &format!("{url}example:logging"), true).await;
    assert_eq!(res.status(), 401);

    let bad = http
        .post(format!("{url}-/login"))
        .form(&[("token", "wtr_nope_nope"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let res = http
        .post(format!("{url}-/login"))
        .form(&[("token", s.token.as_str()), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap().to_string();
    let res = http
        .get(format!("{url}example:logging"))
        .header("accept", "text/html")
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("0.2.0"));
    // A bearer token works too, for the JSON.
    let res = http
        .get(url.to_string())
        .header("accept", "application/json")
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    s.server.shutdown().await.unwrap();

    // `[web] enabled = false` takes the pages away and leaves the API.
    let dir = init_registry(&["example"]);
    let mut config = load_config(&dir, "127.0.0.1:0", false);
    config.web.enabled = false;
    let server = wtool_registry::server::RunningServer::start(config)
        .await
        .unwrap();
    let url = server.public_url.to_string();
    let res = get(&http, &url, false).await;
    assert_eq!(res.status(), 404);
    let res = get(&http, &format!("{url}healthz"), false).await;
    assert_eq!(res.status(), 200);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_page_shows_its_world_and_how_to_plug_it() {
    let s = seed(false).await;
    let cache = tempfile::tempdir().unwrap();
    let client = client(&s.url, cache.path(), Some(&s.token));
    let logger = std::fs::read(wtool_testkit::fixture("components/logger.wasm")).unwrap();
    release(
        &client,
        &new_key(),
        &name("example:logger"),
        "0.1.0",
        logger,
        true,
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let page = json(&http, &format!("{}example:logger@0.1.0", s.url)).await;
    let content = &page["content"];
    assert_eq!(content["kind"], "component", "{page:#}");
    // A component's WIT is its own world: what it exports is what a plug offers.
    let worlds = content["worlds"].as_array().unwrap();
    assert_eq!(worlds.len(), 1, "{page:#}");
    let exports: Vec<&str> = worlds[0]["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        exports.contains(&"example:logging/logger@0.1.0"),
        "{exports:?}"
    );
    assert!(content["wit"]
        .as_str()
        .unwrap()
        .contains("export example:logging/logger@0.1.0;"));
    // It depends on the package of the interface it exports, and on what it imports.
    let deps: Vec<&str> = page["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["package"].as_str().unwrap())
        .collect();
    assert!(deps.contains(&"example:logging"), "{deps:?}");
    assert_eq!(
        page["commands"]["wtool_compose"],
        "wtool compose app.wasm --plug example:logger@0.1.0 -o composed.wasm"
    );
    let html = text(&http, &format!("{}example:logger@0.1.0", s.url)).await;
    assert!(html.contains("export example:logging/logger@0.1.0;"));
    assert!(html.contains("wtool compose app.wasm --plug example:logger@0.1.0"));
    // The package page lists it as a component release.
    let package = json(&http, &format!("{}example:logger", s.url)).await;
    assert_eq!(package["releases"][0]["version"], "0.1.0", "{package:#}");
    s.server.shutdown().await.unwrap();
}

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(names: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn start_driver() -> Driver {
    let driver = find_program(&["chromedriver"]).unwrap_or_else(|| {
        panic!(
            "the browser tests need chromedriver and chromium on PATH: \
             install them with `apt-get install -y chromium chromium-driver`"
        )
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "chromedriver did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path, dark: bool) -> fantoccini::Client {
    let chromium = find_program(&["chromium", "chromium-browser"]).unwrap_or_else(|| {
        panic!("the browser tests need chromium: install it with `apt-get install -y chromium chromium-driver`")
    });
    let mut args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    if dark {
        args.push("--force-dark-mode".into());
        args.push("--blink-settings=preferredColorScheme=0".into());
    } else {
        args.push("--blink-settings=preferredColorScheme=1".into());
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": chromium, "args": args }),
    );
    fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap()
}

async fn eval(c: &fantoccini::Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_search_click_through_and_no_script_runs() {
    use fantoccini::Locator;
    let driver = start_driver();
    let s = seed(false).await;
    let url = s.url.clone();
    let temp = tempfile::tempdir().unwrap();
    let c = browser(&driver, &temp.path().join("light"), false).await;

    c.goto(&url).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Packages · wtool-registry");
    // Results as you type: the interface name finds the app and the logger.
    c.find(Locator::Css("#q"))
        .await
        .unwrap()
        .send_keys("example:logging/logger")
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#live-results li"))
        .await
        .unwrap();
    let live = c
        .find(Locator::Css("#live"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(live.contains("example:app"), "{live}");
    assert!(live.contains("example:logging"), "{live}");

    // Click through: package, then version.
    c.find(Locator::Css("#live-results a[href='/example:app']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("table.versions"))
        .await
        .unwrap();
    c.find(Locator::Css("a[href='/example:app@1.0.0']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let wit = c
        .wait()
        .for_element(Locator::Css("#wit-text"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        wit.contains("import example:logging/logger@0.2.0;"),
        "{wit}"
    );
    // The copy button copies the command.
    let button = c
        .find(Locator::Css("button[data-copy='cmd-fetch']"))
        .await
        .unwrap();
    button.click().await.unwrap();
    let copied = c
        .wait()
        .for_element(Locator::Css("button[data-copy='cmd-fetch'][data-copied]"))
        .await
        .unwrap();
    assert_eq!(
        copied.attr("data-copied").await.unwrap().as_deref(),
        Some("wtool fetch example:app@1.0.0 -o app.wasm")
    );
    // The dependency link leads to the logger's version page.
    c.find(Locator::Css("ul.deps a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#wit-text"))
        .await
        .unwrap();
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/example:logging@0.2.0"
    );

    // The yanked mark.
    c.goto(&format!("{url}example:logging")).await.unwrap();
    let yanked = c
        .find(Locator::Css("tr.yanked"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        yanked.contains("0.1.0") && yanked.to_lowercase().contains("yanked"),
        "{yanked}"
    );

    // The 404 suggestion.
    c.goto(&format!("{url}example:loging")).await.unwrap();
    let suggestion = c
        .find(Locator::Css("#suggestion a"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(suggestion, "example:logging");

    // Hostile doc comments and descriptions show as text, and no script of theirs runs.
    for path in ["example:evil@1.0.0", "example:evil", ""] {
        c.goto(&format!("{url}{path}")).await.unwrap();
        let title = c.title().await.unwrap();
        assert!(!title.contains("pwned"), "{path}: {title}");
        assert_eq!(
            eval(
                &c,
                "return document.querySelectorAll('main script, main img').length"
            )
            .await,
            0
        );
    }
    c.goto(&format!("{url}example:evil@1.0.0")).await.unwrap();
    let wit = c
        .find(Locator::Css("#wit-text"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        wit.contains("<script>document.title = \"pwned\";</script>"),
        "{wit}"
    );

    // Screenshots at phone and desktop width, in both themes; nothing overflows sideways.
    c.close().await.unwrap();
    let shots = temp.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for dark in [false, true] {
        let theme = if dark { "dark" } else { "light" };
        let c = browser(&driver, &temp.path().join(format!("shots-{theme}")), dark).await;
        c.goto(&url).await.unwrap();
        assert_eq!(
            eval(
                &c,
                "return matchMedia('(prefers-color-scheme: dark)').matches"
            )
            .await,
            Value::Bool(dark)
        );
        for (width, height, label) in [(390, 844, "phone"), (1280, 900, "desktop")] {
            c.set_window_size(width, height).await.unwrap();
            for (page, path) in [
                ("index", ""),
                ("package", "example:logging"),
                ("version", "example:app@1.0.0"),
                ("log", "log"),
            ] {
                c.goto(&format!("{url}{path}")).await.unwrap();
                let overflow = eval(
                    &c,
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                )
                .await;
                assert_eq!(
                    overflow, 0,
                    "{page} overflows at {label} width in the {theme} theme"
                );
                let png = c.screenshot().await.unwrap();
                std::fs::write(shots.join(format!("{page}-{label}-{theme}.png")), png).unwrap();
            }
        }
        c.close().await.unwrap();
    }
    if let Some(out) = std::env::var_os("WEB_SCREENSHOTS_OUT") {
        testkit_copy(&shots, std::path::Path::new(&out));
    }
    s.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_keeps_the_token_out_of_reach_of_scripts() {
    use fantoccini::Locator;
    let driver = start_driver();
    let s = seed(true).await;
    let url = s.url.clone();
    let temp = tempfile::tempdir().unwrap();
    let c = browser(&driver, &temp.path().join("login"), false).await;

    // A deep link asks for the token first, and says so when it is wrong.
    c.goto(&format!("{url}example:logging")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Sign in · wtool-registry");
    let sign_in = |token: String| {
        let c = c.clone();
        async move {
            let field = c.find(Locator::Css("#token")).await.unwrap();
            field.send_keys(&token).await.unwrap();
            c.find(Locator::Css("form.login button[type='submit']"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
    };
    sign_in("wtr_not_a_token".into()).await;
    let alert = c
        .wait()
        .for_element(Locator::Css("p.error[role='alert']"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(alert.contains("not valid"), "{alert}");

    // The right token leads back to the page asked for.
    sign_in(s.token.clone()).await;
    c.wait()
        .for_element(Locator::Css("table.versions"))
        .await
        .unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/example:logging");
    // The cookie is there for the server, and not for scripts on the page.
    let cookies = c.get_all_cookies().await.unwrap();
    let cookie = cookies
        .iter()
        .find(|k| k.name() == "wtool_read_token")
        .expect("the login sets its cookie");
    assert_eq!(cookie.http_only(), Some(true));
    // fantoccini does not re-export the cookie crate's `SameSite`.
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    let visible = eval(&c, "return document.cookie").await;
    assert!(
        !visible.as_str().unwrap_or("").contains(&s.token),
        "{visible}"
    );

    // Search as you type reads JSON with the same cookie.
    c.goto(&url).await.unwrap();
    c.find(Locator::Css("#q"))
        .await
        .unwrap()
        .send_keys("example:logging/logger")
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#live-results a[href='/example:app']"))
        .await
        .unwrap();

    // Without the cookie the pages ask again.
    c.delete_all_cookies().await.unwrap();
    c.goto(&format!("{url}example:app@1.0.0")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Sign in · wtool-registry");
    c.close().await.unwrap();
    s.server.shutdown().await.unwrap();
}

/// Copies the screenshots where the book's refresh script asked for them.
fn testkit_copy(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
