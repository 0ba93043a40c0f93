//! `cargo xtask bench`: Latchkey beside node-oidc-provider over HTTP, on the
//! same core budget, in one run (docs/benchmarks.md, "Over HTTP").
//!
//! - `latchkey serve` (release build, SQLite, a fresh temporary directory) and
//!   node-oidc-provider (`bench/peer/`, pinned in its lock file) each run
//!   pinned with `taskset` to core 0; `wrk` (and the seeding script) run on
//!   core 1. The servers take turns: for each repetition, Latchkey then the
//!   peer (A, B, A, B, ...).
//! - `bench/load.lua` is the one wrk script; `bench/peer/seed.mjs` makes what
//!   the timed phase consumes (codes through the real `/authorize` sign-in and
//!   consent, refresh tokens, first-use access tokens, DPoP proofs) before the
//!   clock starts.
//! - CPU per request is the server process's `utime + stime` delta
//!   (`/proc/<pid>/stat`, all its threads) over the requests wrk completed;
//!   peak RSS is `VmHWM` from `/proc/<pid>/status`.
//!
//! Options: `--quick` (2 s runs, one repetition, docs not written),
//! `--duration S`, `--reps N`, `--connections 1,16,64`, `--ops a,b`,
//! `--no-peer`, `--log-filter F` (Latchkey's `RUST_LOG`), `--latchkey-bin P`
//! (measure another build), `--keep` (keep the temporary directory with the
//! servers' logs), `--write`/`--no-write` (docs/benchmarks.md and
//! docs/benchmarks.json; default: written unless `--quick`), `--criterion`
//! (the in-process criterion benchmarks instead), `--smoke` (1 s runs at 16
//! connections, one repetition: that the harness works, not figures).
//!
//! The server has no PostgreSQL backend (`crates/latchkey-server/src/database.rs`
//! opens SQLite only), so there is no PostgreSQL run; the output says so.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every operation, in the order they run and are reported.
const OPERATIONS: [&str; 9] = [
    "metadata",
    "jwks",
    "client_credentials",
    "code",
    "refresh",
    "introspection",
    "mcp_repeat",
    "mcp_first",
    "mcp_dpop",
];

const REDIRECT: &str = "http://127.0.0.1:9/cb";
const VERIFIER: &str = "bench-verifier-0123456789-0123456789-0123456789";
const PASSWORD: &str = "bench-password-not-secret-0123";
const MCP_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const FORM: &str = "Content-Type: application/x-www-form-urlencoded";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Server {
    Latchkey,
    Peer,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Latchkey => "latchkey",
            Server::Peer => "node-oidc-provider",
        }
    }
}

struct Options {
    duration: f64,
    reps: usize,
    connections: Vec<u32>,
    ops: Vec<&'static str>,
    peer: bool,
    log_filter: Option<String>,
    latchkey_bin: Option<PathBuf>,
    write: bool,
    quick: bool,
    keep: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        duration: 5.0,
        reps: 3,
        connections: vec![1, 16, 64],
        ops: OPERATIONS.to_vec(),
        peer: true,
        log_filter: None,
        latchkey_bin: None,
        write: true,
        quick: false,
        keep: false,
    };
    let mut write = None;
    let mut iter = args.iter();
    let value = |iter: &mut std::slice::Iter<'_, String>, name: &str| {
        iter.next()
            .cloned()
            .ok_or_else(|| format!("{name} needs a value"))
    };
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--quick" => {
                options.quick = true;
                options.duration = 2.0;
                options.reps = 1;
            }
            "--smoke" => {
                options.quick = true;
                options.duration = 1.0;
                options.reps = 1;
                options.connections = vec![16];
            }
            "--duration" => {
                let v = value(&mut iter, arg)?;
                options.duration = v
                    .parse()
                    .ok()
                    .filter(|d: &f64| *d >= 1.0)
                    .ok_or(format!("--duration: at least 1 (seconds), not {v}"))?;
            }
            "--reps" => {
                let v = value(&mut iter, arg)?;
                options.reps = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or(format!("--reps: at least 1, not {v}"))?;
            }
            "--connections" => {
                let v = value(&mut iter, arg)?;
                options.connections = v
                    .split(',')
                    .map(|c| c.trim().parse().ok().filter(|n| *n >= 1))
                    .collect::<Option<Vec<u32>>>()
                    .ok_or(format!("--connections: a list such as 1,16,64, not {v}"))?;
            }
            "--ops" => {
                let v = value(&mut iter, arg)?;
                let mut ops = Vec::new();
                for name in v.split(',') {
                    let op = OPERATIONS
                        .iter()
                        .find(|op| **op == name.trim())
                        .ok_or(format!(
                            "--ops: no operation {name}; the operations: {}",
                            OPERATIONS.join(",")
                        ))?;
                    ops.push(*op);
                }
                ops.sort_by_key(|op| OPERATIONS.iter().position(|o| o == op));
                ops.dedup();
                options.ops = ops;
            }
            "--no-peer" => options.peer = false,
            "--keep" => options.keep = true,
            "--log-filter" => options.log_filter = Some(value(&mut iter, arg)?),
            "--latchkey-bin" => options.latchkey_bin = Some(PathBuf::from(value(&mut iter, arg)?)),
            "--write" => write = Some(true),
            "--no-write" => write = Some(false),
            other => return Err(format!("bench: unknown option {other}")),
        }
    }
    options.write = write.unwrap_or(!options.quick);
    Ok(options)
}

/// One timed wrk run.
#[derive(Clone, Debug)]
struct Run {
    op: &'static str,
    server: Server,
    connections: u32,
    rep: usize,
    requests: u64,
    seconds: f64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_request: f64,
    peak_rss_kib: u64,
    bad: u64,
    socket_errors: u64,
    supply_ran_out: bool,
    sample: String,
}

/// A server process under test.
struct Running {
    server: Server,
    child: Child,
    port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the Latchkey side needs: its client secrets.
struct Setup {
    dir: PathBuf,
    cc_secret: String,
    /// `bench-dpop-<i>:<secret>`, one client per DPoP run: Latchkey's
    /// resource server keeps at most `ResourceServer::DEFAULT_REPLAY_SHARE`
    /// (1,000) live DPoP proofs per token holder (client and subject) within
    /// the proof window (60 s plus skew), and refuses more with 503.
    dpop_clients: Vec<String>,
}

/// The DPoP proofs one run may use: under the per-holder share above.
const DPOP_PROOFS_PER_RUN: usize = 900;

pub(crate) fn bench(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--criterion") {
        return crate::run(Command::new(crate::cargo()).args(["bench", "--workspace"]));
    }
    let options = parse(args)?;
    let root = crate::workspace_root();
    for tool in ["wrk", "taskset", "node", "npm"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            return Err(format!(
                "bench: {tool} is not installed (Debian: apt-get install wrk util-linux nodejs npm)"
            ));
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (server_core, load_core) = if cores >= 2 {
        ("0", "1")
    } else {
        eprintln!("xtask: one core only: the servers and wrk share it");
        ("0", "0")
    };
    let peer_dir = root.join("bench").join("peer");
    if options.peer && !peer_dir.join("node_modules").join("oidc-provider").is_dir() {
        crate::run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&peer_dir),
        )?;
    }
    let binary = match &options.latchkey_bin {
        Some(path) => path.clone(),
        None => {
            crate::run(Command::new(crate::cargo()).args([
                "build",
                "--release",
                "-p",
                "latchkey-server",
                "--bin",
                "latchkey",
            ]))?;
            target_dir(&root).join("release").join("latchkey")
        }
    };
    let dir = std::env::temp_dir().join(format!("latchkey-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let clock_ticks = clock_ticks();

    let latchkey_port = free_port()?;
    let dpop_runs = if options.ops.contains(&"mcp_dpop") {
        1 + options.connections.len() * options.reps
    } else {
        0
    };
    let setup = setup_latchkey(&binary, &dir, latchkey_port, dpop_runs)?;
    let latchkey = start_latchkey(
        &binary,
        &setup,
        latchkey_port,
        server_core,
        options.log_filter.as_deref(),
    )?;
    let peer = if options.peer {
        Some(start_peer(&peer_dir, server_core, &dir)?)
    } else {
        None
    };
    eprintln!(
        "xtask: latchkey on 127.0.0.1:{latchkey_port}{}, servers on core {server_core}, wrk on core {load_core}",
        peer.as_ref()
            .map(|p| format!(", node-oidc-provider on 127.0.0.1:{}", p.port))
            .unwrap_or_default()
    );
    eprintln!(
        "xtask: PostgreSQL: not measured; `latchkey serve` opens SQLite only (no PostgreSQL backend in the server yet)"
    );

    let bench = Bench {
        root: root.clone(),
        dir: dir.clone(),
        load_core: load_core.to_owned(),
        setup,
        clock_ticks,
        dpop_runs_done: std::cell::Cell::new(0),
    };
    let mut runs = Vec::new();
    let started = Instant::now();
    for op in &options.ops {
        let mut servers = vec![&latchkey];
        if let Some(peer) = &peer
            && peer_supports(op)
        {
            servers.push(peer);
        }
        // A short warm-up per server (the peer's JIT, Latchkey's caches),
        // which also measures the rate the supply of codes and tokens is
        // sized from.
        let mut rate = BTreeMap::new();
        for server in &servers {
            let warm = bench.measure(op, server, 16, 0, 1.0, None)?;
            rate.insert(server.server, warm.rps.max(200.0));
        }
        for &connections in &options.connections {
            for rep in 1..=options.reps {
                for server in &servers {
                    let run = bench.measure(
                        op,
                        server,
                        connections,
                        rep,
                        options.duration,
                        rate.get(&server.server).copied(),
                    )?;
                    eprintln!(
                        "xtask: {op:<18} {:<18} c={connections:<3} rep {rep}: {:>8.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  cpu {:>6.1} µs/req{}{}",
                        server.server.name(),
                        run.rps,
                        run.p50_us,
                        run.p99_us,
                        run.cpu_us_per_request,
                        if run.bad + run.socket_errors > 0 {
                            format!(
                                "  BAD {} socket errors {} {}",
                                run.bad, run.socket_errors, run.sample
                            )
                        } else {
                            String::new()
                        },
                        if run.supply_ran_out {
                            "  (supply ran out: rate over the time it lasted)"
                        } else {
                            ""
                        }
                    );
                    if run.requests > 0 && run.supply_ran_out {
                        // Next time, more.
                        let r = rate.entry(server.server).or_insert(run.rps);
                        *r = r.max(run.rps) * 1.5;
                    }
                    runs.push(run);
                }
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(latchkey);
    drop(peer);
    if options.keep {
        eprintln!(
            "xtask: kept {} (the servers' logs and the seeded items)",
            dir.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }

    let command = std::iter::once("cargo xtask bench".to_owned())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let context = Context::gather(&binary, &command, elapsed, &options);
    let report = report(&runs, &options, &context);
    println!("{report}");
    if options.write {
        write_docs(&root, &report, &runs, &context)?;
    }
    Ok(())
}

fn peer_supports(op: &str) -> bool {
    !op.starts_with("mcp_")
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("a free port: {e}"))
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn output_of(command: &mut Command) -> Result<String, String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed: {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A fresh database with the user and the clients the load needs, and a
/// configuration that turns off the request rate limits (the load is one
/// address far above them) and lifts the per-address connection limit.
fn setup_latchkey(binary: &Path, dir: &Path, port: u16, dpop_runs: usize) -> Result<Setup, String> {
    let config = format!(
        r#"issuer = "http://127.0.0.1:{port}"
bind = "127.0.0.1:{port}"
database = "{db}"
demo_user = false

[[resources]]
uri = "http://127.0.0.1:{port}/mcp"
scopes = ["mcp:tools"]
default_scope = ["mcp:tools"]

[rate_limits]
enabled = false

[http]
max_connections = 1024
max_connections_per_address = 1024
"#,
        db = dir.join("latchkey.db").display()
    );
    let path = dir.join("latchkey.toml");
    std::fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
    let latchkey = || {
        let mut command = Command::new(binary);
        command.arg("--config").arg(&path);
        command
    };
    let mut add_user = latchkey()
        .args(["users", "add", "bench", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    if let Some(mut stdin) = add_user.stdin.take() {
        writeln!(stdin, "{PASSWORD}").map_err(|e| format!("latchkey users add: {e}"))?;
    }
    let status = add_user
        .wait()
        .map_err(|e| format!("latchkey users add: {e}"))?;
    if !status.success() {
        return Err(format!("latchkey users add failed: {status}"));
    }
    let added = output_of(latchkey().args([
        "clients",
        "add",
        "--id",
        "bench-cc",
        "--auth-method",
        "client_secret_basic",
        "--client-credentials",
        "--introspect",
        "--scope",
        "mcp:tools",
    ]))?;
    let cc_secret = added
        .lines()
        .find_map(|line| line.strip_prefix("client_secret: "))
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or("latchkey clients add printed no client_secret")?
        .to_owned();
    output_of(latchkey().args([
        "clients",
        "add",
        "--id",
        "bench-app",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "mcp:tools",
    ]))?;
    let mut dpop_clients = Vec::new();
    for i in 0..dpop_runs {
        let id = format!("bench-dpop-{i}");
        let added = output_of(latchkey().args([
            "clients",
            "add",
            "--id",
            &id,
            "--auth-method",
            "client_secret_basic",
            "--client-credentials",
            "--scope",
            "mcp:tools",
        ]))?;
        let secret = added
            .lines()
            .find_map(|line| line.strip_prefix("client_secret: "))
            .and_then(|rest| rest.split_whitespace().next())
            .ok_or("latchkey clients add printed no client_secret")?;
        dpop_clients.push(format!("{id}:{secret}"));
    }
    Ok(Setup {
        dir: dir.to_owned(),
        cc_secret,
        dpop_clients,
    })
}

fn start_latchkey(
    binary: &Path,
    setup: &Setup,
    port: u16,
    core: &str,
    log_filter: Option<&str>,
) -> Result<Running, String> {
    let log = std::fs::File::create(setup.dir.join("latchkey.log")).map_err(|e| e.to_string())?;
    let mut command = Command::new("taskset");
    command
        .args(["-c", core])
        .arg(binary)
        .arg("--config")
        .arg(setup.dir.join("latchkey.toml"))
        .arg("serve")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(filter) = log_filter {
        command.env("RUST_LOG", filter);
    }
    let child = command
        .spawn()
        .map_err(|e| format!("taskset {}: {e}", binary.display()))?;
    let running = Running {
        server: Server::Latchkey,
        child,
        port,
    };
    wait_ready(port, "/.well-known/oauth-authorization-server")?;
    Ok(running)
}

fn start_peer(peer_dir: &Path, core: &str, dir: &Path) -> Result<Running, String> {
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("peer.log")).map_err(|e| e.to_string())?;
    let child = Command::new("taskset")
        .args(["-c", core, "node", "provider.mjs", &port.to_string()])
        .current_dir(peer_dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("taskset node provider.mjs: {e}"))?;
    let running = Running {
        server: Server::Peer,
        child,
        port,
    };
    wait_ready(port, "/.well-known/openid-configuration")?;
    Ok(running)
}

/// One plain HTTP/1.1 GET; the status and body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn wait_ready(port: u16, path: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok((200, _)) = http_get(port, path) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "nothing answered 200 at 127.0.0.1:{port}{path} within 30 s"
    ))
}

/// `utime + stime` of every thread of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (field(11), field(12)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => Err(format!("/proc/{pid}/stat: no utime and stime")),
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:")
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse().ok())
            })
        })
        .unwrap_or(0)
}

struct Bench {
    root: PathBuf,
    dir: PathBuf,
    load_core: String,
    setup: Setup,
    clock_ticks: f64,
    dpop_runs_done: std::cell::Cell<usize>,
}

/// What one wrk run sends, from `bench/load.lua`'s environment.
#[derive(Default)]
struct Load {
    method: &'static str,
    path: String,
    headers: String,
    body: String,
    items: Option<PathBuf>,
    chain: bool,
    expect: &'static str,
}

fn basic(credentials: &str) -> String {
    // Base64 without a dependency: the credentials are ASCII.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = credentials.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    format!("Authorization: Basic {out}")
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Bench {
    fn seed(&self, args: &[&str]) -> Result<(), String> {
        let mut command = Command::new("taskset");
        command
            .args(["-c", &self.load_core, "node", "seed.mjs"])
            .args(args)
            .current_dir(self.root.join("bench").join("peer"))
            .env("BENCH_PASSWORD", PASSWORD);
        output_of(&mut command).map(|_| ())
    }

    /// Prepares `op` against `server` (seeding `supply` items where the
    /// operation consumes them) and describes its requests.
    fn load(
        &self,
        op: &str,
        server: &Running,
        connections: u32,
        supply: usize,
    ) -> Result<Load, String> {
        let port = server.port;
        let issuer = format!("http://127.0.0.1:{port}");
        let resource = format!("{issuer}/mcp");
        let latchkey = server.server == Server::Latchkey;
        let kind = if latchkey { "latchkey" } else { "peer" };
        let items = self.dir.join(format!("items-{kind}-{op}.txt"));
        let items_arg = items.display().to_string();
        let cc = if latchkey {
            format!("bench-cc:{}", self.setup.cc_secret)
        } else {
            "bench-cc:bench-cc-secret".to_owned()
        };
        let supply_arg = supply.to_string();
        let token_form = format!(
            "grant_type=client_credentials&scope=mcp%3Atools&resource={}",
            form_encode(&resource)
        );
        let mcp_headers = "Content-Type: application/json\nAccept: application/json, text/event-stream\nMCP-Protocol-Version: 2025-11-25";
        Ok(match op {
            "metadata" => Load {
                method: "GET",
                path: if latchkey {
                    "/.well-known/oauth-authorization-server".to_owned()
                } else {
                    "/.well-known/openid-configuration".to_owned()
                },
                expect: "\"issuer\"",
                ..Load::default()
            },
            "jwks" => Load {
                method: "GET",
                path: "/jwks".to_owned(),
                expect: "\"keys\"",
                ..Load::default()
            },
            "client_credentials" => Load {
                method: "POST",
                path: "/token".to_owned(),
                headers: format!("{}\n{FORM}", basic(&cc)),
                body: token_form,
                expect: "access_token",
                ..Load::default()
            },
            "code" => {
                self.seed(&["codes", kind, &issuer, &resource, &supply_arg, &items_arg])?;
                Load {
                    method: "POST",
                    path: "/token".to_owned(),
                    headers: FORM.to_owned(),
                    body: format!(
                        "grant_type=authorization_code&client_id=bench-app&code={{item}}&redirect_uri={}&code_verifier={VERIFIER}&resource={}",
                        form_encode(REDIRECT),
                        form_encode(&resource)
                    ),
                    items: Some(items),
                    expect: "refresh_token",
                    ..Load::default()
                }
            }
            "refresh" => {
                // One chain per connection: each answer's token is the next
                // request's. Two spare chains: wrk asks the script for one
                // request more than it has connections before the first answer.
                let chains = (connections + 2).to_string();
                self.seed(&["refresh", kind, &issuer, &resource, &chains, &items_arg])?;
                Load {
                    method: "POST",
                    path: "/token".to_owned(),
                    headers: FORM.to_owned(),
                    body: "grant_type=refresh_token&client_id=bench-app&refresh_token={item}"
                        .to_owned(),
                    items: Some(items),
                    chain: true,
                    expect: "access_token",
                }
            }
            "introspection" => {
                // The peer introspects opaque tokens only (it refuses its own JWTs).
                let (path, credentials) = if latchkey {
                    ("/introspect", cc.clone())
                } else {
                    (
                        "/token/introspection",
                        "bench-opaque:bench-opaque-secret".to_owned(),
                    )
                };
                self.seed(&[
                    "tokens",
                    &issuer,
                    "/token",
                    &credentials,
                    &resource,
                    "1",
                    &items_arg,
                ])?;
                let token = std::fs::read_to_string(&items).map_err(|e| e.to_string())?;
                Load {
                    method: "POST",
                    path: path.to_owned(),
                    headers: format!("{}\n{FORM}", basic(&credentials)),
                    body: format!("token={}", token.trim()),
                    expect: "\"active\":true",
                    ..Load::default()
                }
            }
            "mcp_repeat" => {
                self.seed(&["tokens", &issuer, "/token", &cc, &resource, "1", &items_arg])?;
                let token = std::fs::read_to_string(&items).map_err(|e| e.to_string())?;
                Load {
                    method: "POST",
                    path: "/mcp".to_owned(),
                    headers: format!("{mcp_headers}\nAuthorization: Bearer {}", token.trim()),
                    body: MCP_BODY.to_owned(),
                    expect: "hello",
                    ..Load::default()
                }
            }
            "mcp_first" => {
                self.seed(&[
                    "tokens",
                    &issuer,
                    "/token",
                    &cc,
                    &resource,
                    &supply_arg,
                    &items_arg,
                ])?;
                Load {
                    method: "POST",
                    path: "/mcp".to_owned(),
                    headers: format!("{mcp_headers}\nAuthorization: Bearer {{item}}"),
                    body: MCP_BODY.to_owned(),
                    items: Some(items),
                    expect: "hello",
                    ..Load::default()
                }
            }
            "mcp_dpop" => {
                let token_file = self.dir.join(format!("dpop-token-{kind}.txt"));
                let run = self.dpop_runs_done.get();
                self.dpop_runs_done.set(run + 1);
                let client = self
                    .setup
                    .dpop_clients
                    .get(run)
                    .ok_or("more DPoP runs than DPoP clients")?;
                let supply_arg = supply.min(DPOP_PROOFS_PER_RUN).to_string();
                self.seed(&[
                    "dpop",
                    &issuer,
                    client,
                    &resource,
                    &resource,
                    &supply_arg,
                    &token_file.display().to_string(),
                    &items_arg,
                ])?;
                let token = std::fs::read_to_string(&token_file).map_err(|e| e.to_string())?;
                Load {
                    method: "POST",
                    path: "/mcp".to_owned(),
                    headers: format!(
                        "{mcp_headers}\nAuthorization: DPoP {}\nDPoP: {{item}}",
                        token.trim()
                    ),
                    body: MCP_BODY.to_owned(),
                    items: Some(items),
                    expect: "hello",
                    ..Load::default()
                }
            }
            other => return Err(format!("no operation {other}")),
        })
    }

    /// One timed run of `op` against `server`.
    fn measure(
        &self,
        op: &'static str,
        server: &Running,
        connections: u32,
        rep: usize,
        seconds: f64,
        rate: Option<f64>,
    ) -> Result<Run, String> {
        let supply = rate.map_or(3000, |rate| {
            ((rate * seconds * 1.5) as usize + 200).min(200_000)
        });
        let load = self.load(op, server, connections, supply)?;
        let pid = server.child.id();
        let mut command = Command::new("taskset");
        command
            .args(["-c", &self.load_core, "wrk", "-t1"])
            .arg(format!("-c{connections}"))
            .arg(format!("-d{}s", seconds.round().max(1.0)))
            .args(["--timeout", "10s", "-s"])
            .arg(self.root.join("bench").join("load.lua"))
            .arg(format!("http://127.0.0.1:{}", server.port))
            .env("BENCH_METHOD", load.method)
            .env("BENCH_PATH", &load.path)
            .env("BENCH_HEADERS", &load.headers)
            .env("BENCH_BODY", &load.body)
            .env("BENCH_EXPECT", load.expect)
            .env("BENCH_THREADS", "1")
            .env("BENCH_CHAIN", if load.chain { "1" } else { "0" });
        match &load.items {
            Some(items) => command.env("BENCH_ITEMS", items),
            None => command.env_remove("BENCH_ITEMS"),
        };
        let before = cpu_ticks(pid)?;
        let output = output_of(&mut command)?;
        let after = cpu_ticks(pid)?;
        let line = output
            .lines()
            .find_map(|line| line.strip_prefix("BENCH "))
            .ok_or_else(|| format!("wrk printed no BENCH line:\n{output}"))?;
        let number = |name: &str| json_number(line, name).unwrap_or(0.0);
        let requests = number("requests") as u64;
        let stopped = number("stopped_after_us");
        let supply_ran_out = stopped > 0.0;
        let micros = if supply_ran_out {
            stopped
        } else {
            number("duration_us")
        };
        let seconds = micros / 1e6;
        let cpu_us = (after.saturating_sub(before)) as f64 / self.clock_ticks * 1e6;
        Ok(Run {
            op,
            server: server.server,
            connections,
            rep,
            requests,
            seconds,
            rps: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            p50_us: number("p50_us"),
            p99_us: number("p99_us"),
            cpu_us_per_request: if requests > 0 {
                cpu_us / requests as f64
            } else {
                0.0
            },
            peak_rss_kib: peak_rss_kib(pid),
            bad: number("bad") as u64,
            socket_errors: number("socket_errors") as u64,
            supply_ran_out,
            sample: json_string_field(line, "sample").unwrap_or_default(),
        })
    }
}

/// The number after `"name":` in a flat JSON object.
fn json_number(line: &str, name: &str) -> Option<f64> {
    let key = format!("\"{name}\":");
    let start = line.find(&key)? + key.len();
    let rest = &line[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn json_string_field(line: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":\"");
    let start = line.find(&key)? + key.len();
    let rest = &line[start..];
    Some(rest[..rest.rfind('"')?].to_owned())
}

fn json_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The machine and the versions, for the report's header.
struct Context {
    date: String,
    command: String,
    cpu: String,
    cores: usize,
    kernel: String,
    latchkey: String,
    node: String,
    wrk: String,
    elapsed: f64,
    log_filter: String,
}

impl Context {
    fn gather(binary: &Path, command: &str, elapsed: f64, options: &Options) -> Self {
        let run = |program: &Path, args: &[&str]| {
            Command::new(program)
                .args(args)
                .output()
                .map(|o| {
                    let text = if o.stdout.is_empty() {
                        o.stderr
                    } else {
                        o.stdout
                    };
                    String::from_utf8_lossy(&text)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default()
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_default();
        Context {
            date: run(Path::new("date"), &["-u", "+%Y-%m-%d %H:%M UTC"]),
            command: command.to_owned(),
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            latchkey: run(binary, &["--version"]),
            node: run(Path::new("node"), &["--version"]),
            wrk: run(Path::new("wrk"), &["-v"])
                .split(" [")
                .next()
                .unwrap_or_default()
                .to_owned(),
            elapsed,
            log_filter: options
                .log_filter
                .clone()
                .unwrap_or_else(|| "the default (RUST_LOG unset)".to_owned()),
        }
    }
}

/// Figures of one (operation, connections, server), over the repetitions.
struct Summary {
    rps: f64,
    p50: f64,
    p99: f64,
    cpu: f64,
    rss_mib: f64,
    bad: u64,
    ran_out: bool,
}

fn summarize(runs: &[&Run]) -> Summary {
    Summary {
        rps: median(runs.iter().map(|r| r.rps).collect()),
        p50: median(runs.iter().map(|r| r.p50_us).collect()),
        p99: median(runs.iter().map(|r| r.p99_us).collect()),
        cpu: median(runs.iter().map(|r| r.cpu_us_per_request).collect()),
        rss_mib: runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0,
        bad: runs.iter().map(|r| r.bad + r.socket_errors).sum(),
        ran_out: runs.iter().any(|r| r.supply_ran_out),
    }
}

/// The median over repetitions of Latchkey's figure over the peer's.
fn ratio(runs: &[Run], op: &str, connections: u32, value: impl Fn(&Run) -> f64) -> Option<f64> {
    let mut ratios = Vec::new();
    for a in runs
        .iter()
        .filter(|r| r.op == op && r.connections == connections && r.server == Server::Latchkey)
    {
        if let Some(b) = runs.iter().find(|r| {
            r.op == op && r.connections == connections && r.rep == a.rep && r.server == Server::Peer
        }) && value(b) > 0.0
        {
            ratios.push(value(a) / value(b));
        }
    }
    (!ratios.is_empty()).then(|| median(ratios))
}

const DESCRIPTIONS: [(&str, &str); 9] = [
    (
        "metadata",
        "GET the authorization-server metadata (Latchkey: RFC 8414 document; peer: its OpenID discovery document)",
    ),
    ("jwks", "GET the JWKS"),
    (
        "client_credentials",
        "POST /token, client_credentials, client_secret_basic, a resource: an ES256 JWT access token",
    ),
    (
        "code",
        "POST /token, authorization_code with PKCE S256: each request redeems its own code, made before the clock starts through /authorize with a signed-in session",
    ),
    (
        "refresh",
        "POST /token, refresh_token of a public client: each answer's rotated token is the connection's next request (one chain per connection)",
    ),
    (
        "introspection",
        "POST the introspection endpoint (RFC 7662) with client_secret_basic, the same active token each time (Latchkey: its JWT; peer: an opaque token, as it refuses to introspect its JWTs)",
    ),
    (
        "mcp_repeat",
        "POST /mcp tools/call (echo) with one Bearer token every time: validated once, then found in the validated-token cache",
    ),
    (
        "mcp_first",
        "POST /mcp tools/call with a different Bearer token each request (first use: signature verified and claims parsed every time)",
    ),
    (
        "mcp_dpop",
        "POST /mcp tools/call with one DPoP-bound token and a fresh proof each request (RFC 9449: proof signature, claims and replay check each time); each run uses its own client and at most 900 proofs, since Latchkey keeps at most 1,000 live proofs per token holder within the 60 s proof window and answers 503 beyond, so these runs end when the proofs do (†)",
    ),
];

fn report(runs: &[Run], options: &Options, context: &Context) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### Run of {}\n", context.date);
    let _ = writeln!(out, "- Command: `{}`", context.command);
    let _ = writeln!(
        out,
        "- Machine: {} ({} cores visible), Linux {}; each server pinned to core 0, wrk (one thread) to core 1",
        context.cpu, context.cores, context.kernel
    );
    let _ = writeln!(
        out,
        "- Servers: {} on SQLite (a fresh database, `[rate_limits] enabled = false`), log filter {}; node-oidc-provider 9.13.3 on Node {} (tokens in an unbounded in-memory map); {}",
        context.latchkey, context.log_filter, context.node, context.wrk
    );
    let _ = writeln!(
        out,
        "- {} s per run, {} repetition(s), servers interleaved (Latchkey, peer, Latchkey, peer, …); figures are medians over the repetitions; whole run {:.0} s",
        options.duration, options.reps, context.elapsed
    );
    let _ = writeln!(
        out,
        "- PostgreSQL: not measured. `latchkey serve` opens SQLite only; the server has no PostgreSQL backend yet.\n"
    );
    let _ = writeln!(
        out,
        "| operation | conns | Latchkey req/s | p50 / p99 ms | CPU µs/req | peak RSS MiB | peer req/s | p50 / p99 ms | CPU µs/req | peak RSS MiB | req/s ratio (median of reps) | CPU ratio peer/Latchkey |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let mut notes = Vec::new();
    for op in &options.ops {
        for &connections in &options.connections {
            let select = |server| {
                runs.iter()
                    .filter(|r| r.op == *op && r.connections == connections && r.server == server)
                    .collect::<Vec<_>>()
            };
            let a = select(Server::Latchkey);
            let b = select(Server::Peer);
            if a.is_empty() {
                continue;
            }
            let sa = summarize(&a);
            let cell = |s: &Summary| {
                format!(
                    "{:.0}{} | {:.2} / {:.2} | {:.0} | {:.0}",
                    s.rps,
                    if s.ran_out { "†" } else { "" },
                    s.p50 / 1000.0,
                    s.p99 / 1000.0,
                    s.cpu,
                    s.rss_mib
                )
            };
            let peer_cells = if b.is_empty() {
                "n/a | | | ".to_owned()
            } else {
                cell(&summarize(&b))
            };
            let rps_ratio = ratio(runs, op, connections, |r| r.rps)
                .map_or("n/a".to_owned(), |r| format!("**{r:.2}×**"));
            let cpu_ratio = ratio(runs, op, connections, |r| {
                if r.cpu_us_per_request > 0.0 {
                    1.0 / r.cpu_us_per_request
                } else {
                    0.0
                }
            })
            .map_or("n/a".to_owned(), |r| format!("{r:.2}×"));
            let _ = writeln!(
                out,
                "| {op} | {connections} | {} | {peer_cells} | {rps_ratio} | {cpu_ratio} |",
                cell(&sa)
            );
            for (server, s) in [(Server::Latchkey, Some(&sa)), (Server::Peer, None)] {
                let s = match s {
                    Some(s) => Summary { ..*s },
                    None if !b.is_empty() => summarize(&b),
                    None => continue,
                };
                if s.bad > 0 {
                    let sample = a
                        .iter()
                        .chain(b.iter())
                        .find(|r| r.server == server && !r.sample.is_empty())
                        .map(|r| r.sample.clone())
                        .unwrap_or_default();
                    notes.push(format!(
                        "- **{op} at {connections} connections, {}: {} failed answers** (first: `{}`); its figures are not valid.",
                        server.name(),
                        s.bad,
                        sample.replace('`', "'")
                    ));
                }
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "† the supply of codes or tokens made before the clock started ran out before the run's end; the rate is counted over the time it lasted.\n"
    );
    for note in &notes {
        let _ = writeln!(out, "{note}");
    }
    if !notes.is_empty() {
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Operations:\n");
    for (op, description) in DESCRIPTIONS {
        if options.ops.contains(&op) {
            let _ = writeln!(out, "- `{op}`: {description}.");
        }
    }
    let _ = writeln!(out);
    // The targets of the performance issue, at 16 connections.
    let target_connections = if options.connections.contains(&16) {
        16
    } else {
        options.connections[0]
    };
    let _ = writeln!(
        out,
        "Targets (requests/s against node-oidc-provider in this run, {target_connections} connections):\n"
    );
    let _ = writeln!(out, "| target | measured | met |");
    let _ = writeln!(out, "| --- | --- | --- |");
    for (op, want) in [
        ("client_credentials", 5.0),
        ("refresh", 5.0),
        ("metadata", 10.0),
        ("code", 3.0),
    ] {
        if !options.ops.contains(&op) {
            continue;
        }
        match ratio(runs, op, target_connections, |r| r.rps) {
            Some(got) => {
                let _ = writeln!(
                    out,
                    "| {op}: at least {want}× | {got:.2}× | {} |",
                    if got >= want { "yes" } else { "**no**" }
                );
            }
            None => {
                let _ = writeln!(out, "| {op}: at least {want}× | no peer run | n/a |");
            }
        }
    }
    let mcp = |op: &str| {
        let selected: Vec<&Run> = runs
            .iter()
            .filter(|r| {
                r.op == op && r.connections == target_connections && r.server == Server::Latchkey
            })
            .collect();
        (!selected.is_empty()).then(|| summarize(&selected))
    };
    if let (Some(first), Some(repeat)) = (mcp("mcp_first"), mcp("mcp_repeat")) {
        let _ = writeln!(
            out,
            "| protected MCP request: first use against repeat use (validated-token cache) | first {:.0} µs CPU/req, {:.0} req/s; repeat {:.0} µs CPU/req, {:.0} req/s | (the cache saves {:.0} µs a request) |",
            first.cpu,
            first.rps,
            repeat.cpu,
            repeat.rps,
            first.cpu - repeat.cpu
        );
    }
    let _ = writeln!(
        out,
        "| resource-server layer under 10% over the same handler without it | not measured over HTTP: `latchkey serve` mounts the MCP handler only behind the guard; `cargo bench -p latchkey-http --bench guard` gives the guard's own cost | n/a |"
    );
    out
}

fn write_docs(root: &Path, report: &str, runs: &[Run], context: &Context) -> Result<(), String> {
    const BEGIN: &str = "<!-- cargo xtask bench: generated section, begin -->";
    const END: &str = "<!-- cargo xtask bench: generated section, end -->";
    let docs = root.join("docs").join("benchmarks.md");
    let text = std::fs::read_to_string(&docs).map_err(|e| format!("{}: {e}", docs.display()))?;
    let section = format!(
        "{BEGIN}\n## Over HTTP: Latchkey beside node-oidc-provider (`cargo xtask bench`)\n\nGenerated by `cargo xtask bench`; the raw figures of every run are in `docs/benchmarks.json`.\n\n{report}{END}"
    );
    let updated = match (text.find(BEGIN), text.find(END)) {
        (Some(begin), Some(end)) if end > begin => {
            format!("{}{section}{}", &text[..begin], &text[end + END.len()..])
        }
        _ => format!("{}\n{section}\n", text.trim_end()),
    };
    std::fs::write(&docs, updated).map_err(|e| format!("{}: {e}", docs.display()))?;

    let mut json = String::from("{\n");
    let _ = writeln!(json, "  \"date\": \"{}\",", json_escape(&context.date));
    let _ = writeln!(
        json,
        "  \"command\": \"{}\",",
        json_escape(&context.command)
    );
    let _ = writeln!(
        json,
        "  \"machine\": {{ \"cpu\": \"{}\", \"cores\": {}, \"kernel\": \"{}\" }},",
        json_escape(&context.cpu),
        context.cores,
        json_escape(&context.kernel)
    );
    let _ = writeln!(
        json,
        "  \"versions\": {{ \"latchkey\": \"{}\", \"node\": \"{}\", \"oidc_provider\": \"9.13.3\", \"wrk\": \"{}\" }},",
        json_escape(&context.latchkey),
        json_escape(&context.node),
        json_escape(&context.wrk)
    );
    let _ = writeln!(
        json,
        "  \"latchkey_log_filter\": \"{}\",",
        json_escape(&context.log_filter)
    );
    let _ = writeln!(
        json,
        "  \"postgresql\": \"not measured: the server opens SQLite only\","
    );
    json.push_str("  \"runs\": [\n");
    for (i, run) in runs.iter().enumerate() {
        let _ = write!(
            json,
            "    {{ \"operation\": \"{}\", \"server\": \"{}\", \"connections\": {}, \"repetition\": {}, \"requests\": {}, \"seconds\": {:.3}, \"requests_per_second\": {:.1}, \"p50_us\": {:.0}, \"p99_us\": {:.0}, \"cpu_us_per_request\": {:.2}, \"peak_rss_kib\": {}, \"failed_answers\": {}, \"socket_errors\": {}, \"supply_ran_out\": {} }}",
            run.op,
            run.server.name(),
            run.connections,
            run.rep,
            run.requests,
            run.seconds,
            run.rps,
            run.p50_us,
            run.p99_us,
            run.cpu_us_per_request,
            run.peak_rss_kib,
            run.bad,
            run.socket_errors,
            run.supply_ran_out
        );
        json.push_str(if i + 1 < runs.len() { ",\n" } else { "\n" });
    }
    json.push_str("  ]\n}\n");
    let path = root.join("docs").join("benchmarks.json");
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("xtask: wrote docs/benchmarks.md and docs/benchmarks.json");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_rfc_4648_base64() {
        assert_eq!(basic("a:b"), "Authorization: Basic YTpi");
        assert_eq!(basic("ab:c"), "Authorization: Basic YWI6Yw==");
        assert_eq!(basic("bench-cc:s"), "Authorization: Basic YmVuY2gtY2M6cw==");
    }

    #[test]
    fn form_encoding_escapes_everything_but_the_unreserved() {
        assert_eq!(
            form_encode("http://127.0.0.1:9/cb"),
            "http%3A%2F%2F127.0.0.1%3A9%2Fcb"
        );
        assert_eq!(form_encode("a-b_c.d~"), "a-b_c.d~");
    }

    #[test]
    fn the_wrk_line_is_read_back() {
        let line = r#"{"requests":120,"duration_us":2000131,"p50_us":950,"p99_us":3100,"bad":2,"socket_errors":0,"stopped_after_us":0,"sample":"503 {\u0022error\u0022}"}"#;
        assert_eq!(json_number(line, "requests"), Some(120.0));
        assert_eq!(json_number(line, "duration_us"), Some(2_000_131.0));
        assert_eq!(json_number(line, "bad"), Some(2.0));
        assert_eq!(json_number(line, "missing"), None);
        assert_eq!(
            json_string_field(line, "sample").as_deref(),
            Some(r"503 {\u0022error\u0022}")
        );
    }

    #[test]
    fn medians_and_ratios_pair_the_same_repetition() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
        let run = |server, rep, rps| Run {
            op: "metadata",
            server,
            connections: 16,
            rep,
            requests: 1,
            seconds: 1.0,
            rps,
            p50_us: 0.0,
            p99_us: 0.0,
            cpu_us_per_request: 1.0,
            peak_rss_kib: 0,
            bad: 0,
            socket_errors: 0,
            supply_ran_out: false,
            sample: String::new(),
        };
        let runs = vec![
            run(Server::Latchkey, 1, 100.0),
            run(Server::Peer, 1, 50.0),
            run(Server::Latchkey, 2, 300.0),
            run(Server::Peer, 2, 100.0),
            run(Server::Latchkey, 3, 100.0),
            run(Server::Peer, 3, 10.0),
        ];
        // Ratios 2, 3 and 10: the median is 3, not the ratio of medians (100 / 50).
        assert_eq!(ratio(&runs, "metadata", 16, |r| r.rps), Some(3.0));
        assert_eq!(ratio(&runs, "metadata", 64, |r| r.rps), None);
    }

    #[test]
    fn options_are_checked() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let quick = parse(&args(&["--quick", "--ops", "refresh,metadata"])).expect("quick");
        assert_eq!(quick.ops, vec!["metadata", "refresh"]);
        assert_eq!(quick.reps, 1);
        assert!(!quick.write, "a quick run does not write the docs");
        let full = parse(&[]).expect("defaults");
        assert!(full.write);
        assert_eq!(full.connections, vec![1, 16, 64]);
        assert!(parse(&args(&["--ops", "nope"])).is_err());
        assert!(parse(&args(&["--connections", "0"])).is_err());
        assert!(parse(&args(&["--duration"])).is_err());
        assert!(parse(&args(&["--frobnicate"])).is_err());
    }
}
