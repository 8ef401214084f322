//! A real OCI registry on loopback: Debian's `docker-registry` (the CNCF distribution server,
//! `apt-get install docker-registry`), anonymous or behind htpasswd basic auth, with its own
//! storage directory and access log; and a small bearer-token front that answers `GET /v2/`
//! with a `WWW-Authenticate: Bearer realm=…` challenge and hands out anonymous tokens, as ghcr
//! does. Both are stopped when their handle drops.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BINARY: &str = "/usr/bin/docker-registry";

pub struct OciRegistry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl OciRegistry {
    /// An anonymous registry: anyone may pull and push.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A registry that takes only `user`/`password` (HTTP basic, htpasswd with bcrypt).
    pub fn with_basic_auth(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password)))
    }

    /// An anonymous registry that speaks only HTTPS, with a self-signed certificate for
    /// `127.0.0.1` signed by a CA of its own (made with `openssl`); [`OciRegistry::ca_file`] is the certificate to trust.
    pub fn with_tls() -> Self {
        Self::start_full(None, true)
    }

    /// The CA that signed a [`OciRegistry::with_tls`] registry's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn start_with(basic: Option<(&str, &str)>) -> Self {
        Self::start_full(basic, false)
    }

    fn start_full(basic: Option<(&str, &str)>, tls: bool) -> Self {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: these tests need Debian's OCI registry; install it with \
             `apt-get install -y docker-registry apache2-utils`"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let auth = match basic {
            None => String::new(),
            Some((user, password)) => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect(
                        "htpasswd is missing: install it with `apt-get install -y apache2-utils`",
                    );
                assert!(out.status.success(), "htpasswd failed");
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, out.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: testkit\n    path: {}\n",
                    file.display()
                )
            }
        };
        let tls = if tls {
            let d = dir.path();
            let openssl = |args: &[&str]| {
                let out = Command::new("openssl")
                    .current_dir(d)
                    .args(args)
                    .output()
                    .expect("openssl is missing: install it with `apt-get install -y openssl`");
                assert!(
                    out.status.success(),
                    "openssl {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            let ec = [
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ];
            // A CA, and a server certificate for 127.0.0.1 that it signs.
            let mut ca = vec!["req", "-x509", "-days", "1", "-subj", "/CN=testkit CA"];
            ca.extend(ec);
            ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
            ca.extend(["-addext", "keyUsage=critical,keyCertSign"]);
            ca.extend(["-keyout", "ca-key.pem", "-out", "ca.pem"]);
            openssl(&ca);
            let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
            csr.extend(ec);
            csr.extend(["-keyout", "key.pem", "-out", "server.csr"]);
            openssl(&csr);
            std::fs::write(
                d.join("server.ext"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "server.ext",
                "-out",
                "cert.pem",
            ]);
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d.join("cert.pem").display(),
                d.join("key.pem").display()
            )
        } else {
            String::new()
        };
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: testkit\n{tls}{auth}",
            dir.path().join("storage").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("access.log")).unwrap();
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let registry = Self { child, dir, port };
        wait_for_port(port);
        registry
    }

    /// `127.0.0.1:<port>`: the registry's name, as locks and wkg's config spell it.
    pub fn name(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.name())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the registry keeps the blob with this `sha256:` digest.
    pub fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Requests answered so far, from the access log.
    pub fn requests(&self) -> usize {
        self.request_lines().len()
    }

    /// The access log's request lines (`GET /v2/… HTTP/1.1" 200`), oldest first.
    pub fn request_lines(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains(" HTTP/1."))
            .map(|l| l.split('"').nth(1).unwrap_or(l).to_string())
            .collect()
    }

    /// Stops the registry now (a registry that goes down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn wait_for_port(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the registry did not start listening on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a [`Front`] does with the requests it is given.
#[derive(Clone, Copy)]
pub enum Mode {
    /// Every request without a token it issued gets `401` and
    /// `WWW-Authenticate: Bearer realm="http://<front>/token",service="testkit"`; `GET /token`
    /// issues one to anyone (the anonymous pull flow of ghcr and Docker Hub).
    Bearer,
    /// As `Bearer`, but tokens go only to a `POST /token` that brings the refresh token
    /// [`IDENTITY_TOKEN`] (the OAuth2 flow Docker runs with an identity token, as for ACR).
    Identity,
    /// The first `n` requests get this status (429 with `Retry-After: 1`, or a 5xx), the rest
    /// pass: a registry that throttles or sheds load.
    Failing { status: u16, n: u64 },
    /// Everything passes (also as an HTTP proxy: the registry takes absolute-form URIs).
    Forward,
    /// The first `n` requests pass; then every connection is closed unanswered, as when the
    /// registry goes down in the middle of a fetch.
    DiesAfter { n: u64 },
    /// A hostile registry: blob downloads answer `200` and zeros without end (no
    /// `Content-Length`), until the client hangs up.
    EndlessBlobs,
    /// A hostile registry: every blob comes with this many extra bytes after its own, and a
    /// `Content-Length` that counts them, so the body is far larger than its descriptor says.
    OversizedBlobs { extra: usize },
    /// A hostile registry: blob downloads are redirected to another host (a listener on this
    /// port that records what it is sent), which a token must never follow.
    RedirectBlobs { to: u16 },
    /// A hostile warg registry: it passes everything, and keeps the first checkpoint it served;
    /// after [`Front::freeze`] it serves that one to every checkpoint request (a rewind, with a
    /// checkpoint the operator really signed).
    FreezeCheckpoint,
    /// A hostile warg registry: every package log in a `fetch/logs` answer loses its last
    /// record (a dropped record).
    DropLastRecord,
}

/// A front for a registry on its own loopback port, passing requests on to it.
pub struct Front {
    port: u16,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    tokens: AtomicU64,
    requests: AtomicU64,
    refused: AtomicU64,
    /// [`Mode::FreezeCheckpoint`]: the first checkpoint answer, and whether it is replayed.
    first_checkpoint: std::sync::Mutex<Option<Vec<u8>>>,
    frozen: AtomicBool,
    /// The port requests are passed on to (see [`Front::switch_to`]).
    backend: std::sync::atomic::AtomicU16,
}

/// The bearer-token front (kept under its own name for the tests that read as such).
pub struct TokenFront(Front);

impl TokenFront {
    pub fn start(backend: &OciRegistry) -> Self {
        Self(Front::start(backend, Mode::Bearer))
    }

    /// A front whose tokens go only to the holder of [`IDENTITY_TOKEN`].
    pub fn identity(backend: &OciRegistry) -> Self {
        Self(Front::start(backend, Mode::Identity))
    }

    pub fn name(&self) -> String {
        self.0.name()
    }

    pub fn url(&self) -> String {
        self.0.url()
    }

    /// Tokens handed out so far.
    pub fn tokens_issued(&self) -> u64 {
        self.0.counters.tokens.load(Ordering::SeqCst)
    }
}

impl Front {
    pub fn start(backend: &OciRegistry, mode: Mode) -> Self {
        Self::before(backend.port(), mode)
    }

    /// A front for whatever listens on `backend_port` (a wtool-registry, for the warg modes).
    pub fn before(backend_port: u16, mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        counters.backend.store(backend_port, Ordering::SeqCst);
        let (s, c) = (stop.clone(), counters.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let c = c.clone();
                std::thread::spawn(move || {
                    let backend = c.backend.load(Ordering::SeqCst);
                    let _ = serve(stream, port, backend, mode, &c);
                });
            }
        });
        Self {
            port,
            stop,
            counters,
        }
    }

    pub fn name(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.name())
    }

    /// Requests received so far (refused ones included).
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }

    /// Requests answered with the failing status so far.
    pub fn refused(&self) -> u64 {
        self.counters.refused.load(Ordering::SeqCst)
    }

    /// Passes later requests on to another port: one registry name, another log behind it.
    pub fn switch_to(&self, backend_port: u16) {
        self.counters.backend.store(backend_port, Ordering::SeqCst);
    }

    /// [`Mode::FreezeCheckpoint`]: from now on, the first checkpoint is served again.
    pub fn freeze(&self) {
        self.counters.frozen.store(true, Ordering::SeqCst);
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

const TOKEN_PREFIX: &str = "testkit-anonymous-";

/// The identity token a [`Mode::Identity`] front exchanges for access tokens.
pub const IDENTITY_TOKEN: &str = "testkit-identity-7f3a";

/// One request per connection: read it, answer or forward it, close.
fn serve(
    stream: TcpStream,
    port: u16,
    backend: u16,
    mode: Mode,
    counters: &Counters,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = Vec::new();
    let mut length = 0usize;
    let mut authorized = false;
    let mut request_line = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if request_line.is_empty() {
            request_line = line.clone();
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("authorization: bearer ") && line.contains(TOKEN_PREFIX) {
            authorized = true;
        }
        if line == "\r\n" {
            break;
        }
        if !lower.starts_with("connection:") && !lower.starts_with("proxy-") {
            head.extend_from_slice(line.as_bytes());
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let seen = counters.requests.fetch_add(1, Ordering::SeqCst);
    if matches!(mode, Mode::DiesAfter { n } if seen >= n) {
        return Ok(());
    }
    let mut out = stream;
    let path = request_line.split(' ').nth(1).unwrap_or("/");
    let blob_get = request_line.starts_with("GET ") && path.contains("/blobs/sha");
    match mode {
        Mode::EndlessBlobs if blob_get => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            )?;
            let zeros = vec![0u8; 64 * 1024];
            // Until the client stops reading.
            loop {
                out.write_all(&zeros)?;
            }
        }
        Mode::RedirectBlobs { to } if blob_get => {
            return write!(
                out,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{to}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        _ => {}
    }
    let refresh = format!("refresh_token={IDENTITY_TOKEN}");
    let identity = request_line.starts_with("POST ")
        && String::from_utf8_lossy(&body)
            .split('&')
            .any(|pair| pair == refresh);
    match mode {
        // Anyone gets a token from a `Bearer` front; only the identity token's holder from an
        // `Identity` one.
        Mode::Bearer | Mode::Identity
            if path.starts_with("/token") && (matches!(mode, Mode::Bearer) || identity) =>
        {
            let n = counters.tokens.fetch_add(1, Ordering::SeqCst);
            let json = format!(
                "{{\"token\":\"{TOKEN_PREFIX}{n}\",\"access_token\":\"{TOKEN_PREFIX}{n}\",\"expires_in\":300}}"
            );
            return write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            );
        }
        Mode::Identity if path.starts_with("/token") => {
            let json = r#"{"errors":[{"code":"UNAUTHORIZED","message":"refresh token required"}]}"#;
            return write!(
                out,
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            );
        }
        Mode::Bearer | Mode::Identity if !authorized => {
            let json =
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
            return write!(
                out,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"testkit\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            );
        }
        Mode::Failing { status, n } if counters.refused.load(Ordering::SeqCst) < n => {
            counters.refused.fetch_add(1, Ordering::SeqCst);
            let json = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#;
            return write!(
                out,
                "HTTP/1.1 {status} Refused\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            );
        }
        _ => {}
    }
    let checkpoint_get = path.starts_with("/v1/fetch/checkpoint");
    if matches!(mode, Mode::FreezeCheckpoint)
        && checkpoint_get
        && counters.frozen.load(Ordering::SeqCst)
    {
        if let Some(first) = counters.first_checkpoint.lock().unwrap().clone() {
            return out.write_all(&first);
        }
    }
    let mut upstream = TcpStream::connect(("127.0.0.1", backend))?;
    upstream.write_all(&head)?;
    upstream.write_all(b"Connection: close\r\n\r\n")?;
    upstream.write_all(&body)?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    // The registry's own `Connection` header is replaced: this front closes after each answer.
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(response.len());
    let (resp_head, resp_body) = response.split_at(split);
    let resp_head = String::from_utf8_lossy(resp_head);
    let mut resp_body = resp_body.to_vec();
    if matches!(mode, Mode::DropLastRecord)
        && path.starts_with("/v1/fetch/logs")
        && resp_head.starts_with("HTTP/1.1 200")
    {
        if let Ok(mut answer) = serde_json::from_slice::<serde_json::Value>(&resp_body) {
            if let Some(packages) = answer.get_mut("packages").and_then(|p| p.as_object_mut()) {
                for records in packages.values_mut().filter_map(|r| r.as_array_mut()) {
                    records.pop();
                }
            }
            resp_body = serde_json::to_vec(&answer).unwrap();
        }
    }
    let resized = matches!(mode, Mode::DropLastRecord);
    let oversize = match mode {
        Mode::OversizedBlobs { extra } if blob_get && resp_head.starts_with("HTTP/1.1 200") => {
            resp_body.extend(std::iter::repeat_n(0x5a, extra));
            true
        }
        _ => false,
    };
    // The answer as this front sends it: the registry's `Connection` header replaced, and the
    // length recounted where the body was changed.
    let mut answer = Vec::new();
    for line in resp_head.split("\r\n").filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:")
            || ((oversize || resized) && lower.starts_with("content-length:"))
        {
            continue;
        }
        answer.extend_from_slice(format!("{line}\r\n").as_bytes());
    }
    if oversize || resized {
        answer.extend_from_slice(format!("Content-Length: {}\r\n", resp_body.len()).as_bytes());
    }
    answer.extend_from_slice(b"Connection: close\r\n\r\n");
    answer.extend_from_slice(&resp_body);
    if matches!(mode, Mode::FreezeCheckpoint)
        && checkpoint_get
        && resp_head.starts_with("HTTP/1.1 200")
    {
        counters
            .first_checkpoint
            .lock()
            .unwrap()
            .get_or_insert_with(|| answer.clone());
    }
    out.write_all(&answer)
}

/// A listener on a loopback port that answers every request `404` and keeps the request heads
/// it was sent: where a hostile registry redirects, to see what followed.
pub struct Collector {
    port: u16,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Collector {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let heads: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let kept = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                kept.lock().unwrap().push(head);
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self { port, heads }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request heads received so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// One plain HTTP/1.1 exchange with a loopback server: status, headers (lower-cased names)
/// and body. For pushing hand-made artifacts, the way a broken publisher would.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the server listens");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

impl OciRegistry {
    /// Uploads a blob to `repository` (POST, then PUT with the digest); returns its digest.
    pub fn push_blob(&self, repository: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let (status, headers, _) = http(
            self.port,
            "POST",
            &format!("/v2/{repository}/blobs/uploads/"),
            &[],
            &[],
        );
        assert_eq!(status, 202, "starting an upload");
        let location = headers
            .iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.clone())
            .expect("an upload location");
        let path = location
            .strip_prefix(&self.url())
            .unwrap_or(&location)
            .to_string();
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, _, body) = http(
            self.port,
            "PUT",
            &format!("{path}{sep}digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            bytes,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        digest
    }

    /// Puts a manifest under `reference` (a tag); returns the manifest's digest.
    pub fn push_manifest(&self, repository: &str, reference: &str, manifest: &[u8]) -> String {
        let (status, _, body) = http(
            self.port,
            "PUT",
            &format!("/v2/{repository}/manifests/{reference}"),
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            manifest,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        sha256(manifest)
    }

    /// A manifest's bytes, by tag or digest.
    pub fn manifest(&self, repository: &str, reference: &str) -> Vec<u8> {
        let (status, _, body) = http(
            self.port,
            "GET",
            &format!("/v2/{repository}/manifests/{reference}"),
            &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
            &[],
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        body
    }

    /// A Wasm artifact as wkg lays it out, but built by hand: `layers` are `(media type,
    /// bytes)`, so a test can push one that is wrong in exactly one way.
    pub fn push_artifact(
        &self,
        repository: &str,
        tag: &str,
        config_media_type: &str,
        layers: &[(&str, &[u8])],
    ) -> String {
        let layer_digests: Vec<String> = layers.iter().map(|(_, b)| sha256(b)).collect();
        let config = format!(
            "{{\"created\":\"2026-01-01T00:00:00Z\",\"author\":null,\"architecture\":\"wasm\",\
             \"os\":\"wasip2\",\"layerDigests\":{:?}}}",
            layer_digests
        );
        let config_digest = self.push_blob(repository, config.as_bytes());
        let mut descriptors = Vec::new();
        for (media_type, bytes) in layers {
            let digest = self.push_blob(repository, bytes);
            descriptors.push(format!(
                "{{\"mediaType\":\"{media_type}\",\"digest\":\"{digest}\",\"size\":{}}}",
                bytes.len()
            ));
        }
        let manifest = format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
             \"config\":{{\"mediaType\":\"{config_media_type}\",\"digest\":\"{config_digest}\",\
             \"size\":{}}},\"layers\":[{}]}}",
            config.len(),
            descriptors.join(",")
        );
        self.push_manifest(repository, tag, manifest.as_bytes())
    }
}

/// Serves one document at one path (a `/.well-known/wasm-pkg/registry.json`) and 404
/// elsewhere, until dropped.
pub struct StaticSite {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl StaticSite {
    pub fn serve(path: &str, body: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, path, body) = (stop.clone(), path.to_string(), body.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let asked = first.split(' ').nth(1).unwrap_or("");
                let (status, text) = if asked == path {
                    ("200 OK", body.as_str())
                } else {
                    ("404 Not Found", "not found")
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        Self { port, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for StaticSite {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
