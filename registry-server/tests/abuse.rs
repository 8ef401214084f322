//! Slow and abusive clients against the real server: headers sent a byte at a time, a body
//! that trickles, a download nobody reads, an oversized head, thousands of idle connections
//! from a load generator in its own process, and a token-guessing loop. Each is cut at the
//! `[limits]` the server documents, and the server goes on answering everybody else.

mod common;

use common::*;
use sha2::Digest as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wtool_testkit::registry::{DataDir, Server};

/// A registry on the embedded store (this is about connections, not storage) with short
/// limits, and a generic namespace to hold any blob.
fn server_with(limits: &[(&str, &str)]) -> (DataDir, Server, String) {
    let dir = DataDir::init_on(BIN.as_ref(), &["example", "generic"], &[]);
    dir.edit_config(
        "generic_namespaces = []",
        "generic_namespaces = [\"generic\"]",
    );
    for (key, value) in limits {
        let text = std::fs::read_to_string(dir.path().join("wtool-registry.toml")).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("the config has no `{key}`:\n{text}"))
            .to_string();
        dir.edit_config(&line, &format!("{key} = {value}"));
    }
    let token = dir.token(&["example", "generic"]);
    let server = dir.serve("127.0.0.1:0", &[]).unwrap();
    (dir, server, token)
}

fn addr(server: &Server) -> SocketAddr {
    let url = url::Url::parse(&server.url).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
        .parse()
        .unwrap()
}

/// One request on a fresh connection; the status code, answered within `within`.
fn status_of(server: SocketAddr, head: &str, within: Duration) -> u16 {
    let mut tcp = TcpStream::connect(server).unwrap();
    tcp.set_read_timeout(Some(within)).unwrap();
    tcp.write_all(head.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(tcp)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("no answer to `{}` within {within:?}: {e}", first(head)));
    line.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {line:?}"))
}

fn first(head: &str) -> &str {
    head.lines().next().unwrap_or_default()
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: registry\r\nConnection: close\r\n\r\n")
}

/// How long until the server closes `tcp` (EOF or reset on read), reading and dropping what
/// it sends; `None` if it is still open after `limit`.
fn closed_after(tcp: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        tcp.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match tcp.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

#[test]
fn slow_clients_are_cut_at_the_limits_and_others_are_served() {
    let (_dir, server, token) = server_with(&[
        ("header_read_timeout_secs", "2"),
        ("write_stall_timeout_secs", "2"),
        ("transfer_timeout_secs", "3"),
    ]);
    let at = addr(&server);
    let quick = Duration::from_secs(2);

    // Headers a byte at a time (slowloris): cut at the header deadline, whatever it sends.
    let started = Instant::now();
    let mut slow = TcpStream::connect(at).unwrap();
    slow.write_all(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n")
        .unwrap();
    let mut cut = None;
    for byte in b"X-Slow: ".iter().cycle().take(40) {
        if slow.write_all(&[*byte]).is_err() {
            cut = Some(started.elapsed());
            break;
        }
        // Others are answered at once meanwhile.
        if started.elapsed() < Duration::from_millis(300) {
            assert_eq!(status_of(at, &get("/v2/"), quick), 401);
        }
        std::thread::sleep(Duration::from_millis(100));
        if closed_after(&mut slow, Duration::from_millis(1)).is_some() {
            cut = Some(started.elapsed());
            break;
        }
    }
    let cut = cut.expect("a connection sending its headers a byte at a time was never cut");
    assert!(
        cut >= Duration::from_millis(1500) && cut < Duration::from_secs(4),
        "the slow head was cut after {cut:?}; the header deadline is 2 s"
    );

    // A connection that sends nothing is closed at the same deadline.
    let mut idle = TcpStream::connect(at).unwrap();
    let idle_for = closed_after(&mut idle, Duration::from_secs(5))
        .expect("a connection that sent nothing was still open after 5 s");
    assert!(idle_for >= Duration::from_millis(1500), "{idle_for:?}");

    // A body a byte every 300 ms: 408 at the transfer timeout, and nothing stored.
    let blob = vec![7u8; 1000];
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&blob)));
    let mut trickle = TcpStream::connect(at).unwrap();
    write!(
        trickle,
        "POST /v2/generic/slow/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: registry\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
        blob.len()
    )
    .unwrap();
    let started = Instant::now();
    let reader = trickle.try_clone().unwrap();
    let answer = std::thread::spawn(move || {
        let mut line = String::new();
        reader
            .set_read_timeout(Some(Duration::from_secs(8)))
            .unwrap();
        let _ = BufReader::new(reader).read_line(&mut line);
        (line, started.elapsed())
    });
    for byte in &blob[..20] {
        if trickle.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let (line, after) = answer.join().unwrap();
    assert!(
        line.starts_with("HTTP/1.1 408"),
        "a trickling body got {line:?} after {after:?}"
    );
    assert!(after < Duration::from_secs(5), "{after:?}");
    assert_eq!(
        status_of(at, &get(&format!("/v2/generic/slow/blobs/{digest}")), quick),
        404,
        "the trickled blob must not be stored"
    );

    // A download nobody reads: cut once its writes stall past the limit.
    let big: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let big_digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&big)));
    let mut push = TcpStream::connect(at).unwrap();
    write!(
        push,
        "POST /v2/generic/big/blobs/uploads/?digest={big_digest} HTTP/1.1\r\nHost: registry\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    )
    .unwrap();
    push.write_all(&big).unwrap();
    let mut line = String::new();
    BufReader::new(push).read_line(&mut line).unwrap();
    assert!(
        line.starts_with("HTTP/1.1 201"),
        "pushing the big blob: {line:?}"
    );
    let mut sleeper = TcpStream::connect(at).unwrap();
    sleeper
        .write_all(get(&format!("/v2/generic/big/blobs/{big_digest}")).as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    // Others are served while it sleeps.
    assert_eq!(status_of(at, &get("/v2/"), quick), 401);
    let mut read = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    sleeper
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    loop {
        match sleeper.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    assert!(
        read < big.len(),
        "a reader that slept past the write-stall limit still got all {read} bytes"
    );

    // An oversized head: 431, and the server goes on.
    let huge = format!(
        "GET /v2/ HTTP/1.1\r\nHost: registry\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let mut tcp = TcpStream::connect(at).unwrap();
    let _ = tcp.write_all(huge.as_bytes());
    let mut line = String::new();
    tcp.set_read_timeout(Some(quick)).unwrap();
    let _ = BufReader::new(tcp).read_line(&mut line);
    assert!(
        line.starts_with("HTTP/1.1 431"),
        "an oversized head got {line:?}"
    );
    assert_eq!(status_of(at, &get("/v1/fetch/checkpoint"), quick), 200);
}

/// The load generator: its own process, so that its file descriptors are its own. It opens
/// `count` connections, prints `open N` (how many connected), then `closed N` each time the
/// number the server has closed changes, until all are closed or `wait` seconds pass.
const IDLER: &str = r#"
import resource, selectors, socket, sys, time
host, port, count, wait = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < count + 64:
    print(f"error the hard open-file limit is {hard}; raise it to {count + 64} (ulimit -Hn)", flush=True)
    sys.exit(2)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for _ in range(count):
    s = socket.socket()
    s.connect((host, port))
    s.setblocking(False)
    socks.append(s)
print(f"open {len(socks)}", flush=True)
sel = selectors.DefaultSelector()
for s in socks:
    sel.register(s, selectors.EVENT_READ)
closed, deadline = 0, time.time() + wait
while closed < len(socks) and time.time() < deadline:
    for key, _ in sel.select(timeout=0.2):
        try:
            data = key.fileobj.recv(4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(key.fileobj)
            key.fileobj.close()
            closed += 1
    print(f"closed {closed}", flush=True)
"#;

struct Idler {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Idler {
    fn start(at: SocketAddr, count: usize, wait_secs: u32) -> Self {
        let mut child = Command::new("python3")
            .args(["-c", IDLER])
            .arg(at.ip().to_string())
            .arg(at.port().to_string())
            .arg(count.to_string())
            .arg(wait_secs.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the idle-connection generator needs python3 (apt-get install python3)");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// The next `what N` line's N.
    fn next(&mut self, what: &str) -> usize {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            assert!(!line.starts_with("error"), "{line}");
            if let Some(n) = line.strip_prefix(what).map(str::trim) {
                return n.parse().unwrap();
            }
        }
        panic!("the generator stopped before saying `{what}`");
    }

    /// Follows `closed N` until it reaches `count` or the generator gives up; the last N.
    fn closed_until(&mut self, count: usize) -> usize {
        let mut last = 0;
        for line in self.lines.by_ref() {
            if let Some(n) = line.unwrap().strip_prefix("closed ") {
                last = n.trim().parse().unwrap();
                if last >= count {
                    break;
                }
            }
        }
        last
    }
}

impl Drop for Idler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kb(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn ten_thousand_idle_connections_leave_room_for_others_and_are_closed_in_time() {
    let (_dir, server, _token) = server_with(&[("header_read_timeout_secs", "4")]);
    let at = addr(&server);
    let before = rss_kb(&server);
    let mut idler = Idler::start(at, 10_000, 30);
    assert_eq!(idler.next("open"), 10_000);
    let held = rss_kb(&server);
    // Everybody else is still answered at once.
    for path in ["/v1/fetch/checkpoint", "/healthz"] {
        let started = Instant::now();
        assert_eq!(status_of(at, &get(path), Duration::from_secs(2)), 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    // And the idle ones are all closed at the header deadline.
    let closed = idler.closed_until(10_000);
    assert_eq!(
        closed, 10_000,
        "connections the server left open after 30 s"
    );
    assert!(
        held.saturating_sub(before) < 200 * 1024,
        "10,000 idle connections took {} MB of RSS",
        held.saturating_sub(before) / 1024
    );
    eprintln!(
        "RSS {} MB before, {} MB with 10,000 idle connections",
        before / 1024,
        held / 1024
    );
}

#[test]
fn connections_past_the_cap_are_closed_at_once() {
    let (_dir, server, _token) = server_with(&[
        ("max_connections", "100"),
        ("header_read_timeout_secs", "3"),
    ]);
    let at = addr(&server);
    let mut idler = Idler::start(at, 300, 20);
    assert_eq!(idler.next("open"), 300);
    // The 200 past the cap go at once, long before the header deadline.
    let started = Instant::now();
    let mut closed = 0;
    while closed < 200 {
        closed = idler.next("closed ");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "only {closed} of the 200 connections past the cap were closed at once"
        );
    }
    // Once the held ones time out, a new client is served again.
    assert_eq!(idler.closed_until(300), 300);
    assert_eq!(status_of(at, &get("/healthz"), Duration::from_secs(2)), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_guessing_is_refused_for_a_minute_and_other_addresses_are_not() {
    let (_dir, server, token) = server_with(&[("auth_failures_per_minute", "5")]);
    let url = server.url.clone();
    let push = |client: reqwest::Client, bearer: String| {
        let url = url.clone();
        async move {
            let res = client
                .post(format!("{url}v2/generic/guess/blobs/uploads/"))
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap();
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (res.status().as_u16(), retry)
        }
    };
    let guesser = reqwest::Client::new();
    for i in 0..5 {
        let (status, _) = push(guesser.clone(), format!("wtr_guess{i}")).await;
        assert_eq!(status, 401, "guess {i}");
    }
    let (status, retry) = push(guesser.clone(), "wtr_guess5".into()).await;
    assert_eq!(status, 429, "the sixth guess in a minute");
    let retry: u64 = retry
        .expect("a 429 says when to come back")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    // The right token from the guessing address waits too: a guess that hits is no shortcut.
    assert_eq!(push(guesser.clone(), token.clone()).await.0, 429);
    // Anonymous reads from that address go on.
    let res = guesser
        .get(format!("{url}v1/fetch/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Another address is not held back.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    assert_eq!(push(other.clone(), token.clone()).await.0, 202);
    assert_eq!(push(other, "wtr_wrong".into()).await.0, 401);

    // Guesses through the browser's login form count the same way (on a registry whose reads
    // need a token, where the form is what a browser gets).
    let (_guarded_dir, guarded, guarded_token) = server_with(&[
        ("auth_failures_per_minute", "5"),
        ("require_read_token", "true"),
    ]);
    let url = guarded.url.clone();
    let browser = reqwest::Client::builder()
        .local_address("127.0.0.3".parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = |form: String| {
        let (browser, url) = (browser.clone(), url.clone());
        async move {
            browser
                .post(format!("{url}-/login"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for i in 0..5 {
        assert_eq!(
            login(format!("token=wtr_guess{i}&next=/")).await,
            401,
            "login guess {i}"
        );
    }
    assert_eq!(
        login(format!("token={guarded_token}&next=/")).await,
        429,
        "the sixth login in a minute"
    );
}

#[test]
fn names_that_climb_out_are_refused_at_every_front_end() {
    let (dir, server, token) = server_with(&[]);
    let at = addr(&server);
    let before = wtool_testkit::snapshot(&dir.path());
    let hex = "a".repeat(64);
    let cases = [
        ("GET", "/v2/example/../logger/tags/list".to_string(), 400),
        (
            "GET",
            "/v2/example/%2e%2e/logger/tags/list".to_string(),
            400,
        ),
        (
            "GET",
            "/v2/example/..%2flogger/manifests/1.0.0".to_string(),
            400,
        ),
        ("GET", format!("/v2/../../etc/blobs/sha256:{hex}"), 400),
        (
            "GET",
            "/v2/example/logger/blobs/sha256:..%2f..%2fx".to_string(),
            400,
        ),
        ("PUT", "/v2/generic/../x/manifests/1.0.0".to_string(), 400),
        ("POST", "/v2/generic/./x/blobs/uploads/".to_string(), 400),
        ("GET", "/content/..%2f..%2fregistry.db".to_string(), 404),
        ("GET", "/v1/package/..%2f..%2fetc".to_string(), 404),
    ];
    for (method, path, want) in cases {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: registry\r\nAuthorization: Bearer {token}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            status_of(at, &head, Duration::from_secs(2)),
            want,
            "{method} {path}"
        );
    }
    // Nothing was written (the lock file and the database may be touched by the server, but no
    // new file appears).
    let after = wtool_testkit::snapshot(&dir.path());
    let names = |s: &[(std::path::PathBuf, Vec<u8>)]| {
        s.iter()
            .map(|(p, _)| p.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let new: Vec<_> = names(&after).difference(&names(&before)).cloned().collect();
    assert!(
        new.iter()
            .all(|p| p.starts_with("blobs/tmp") || p.to_string_lossy().contains("registry.db")),
        "files appeared: {new:?}"
    );
}
