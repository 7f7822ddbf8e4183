//! `cargo xtask bench http`: requests per second the management server answers.
//!
//! Boots the DPU with its management NIC on QEMU user networking (`hostfwd` to a loopback
//! port), waits for the DHCP lease, then runs `--clients` client threads (default 8) for
//! `--seconds` (default 10), each sending `GET PATH` (default `/healthz`) and reading the whole
//! answer. Two modes: keep-alive (one connection per client, requests back to back) and one
//! connection per request (`Connection: close`). A token for the command line
//! (`api.token=read-only:...`) goes with every request, so `--path /v1/ports` works too.
//! The client is ours (std only), so nothing is installed.

use crate::qemu::{self, Machine};
use crate::session::Session;
use crate::{BuildOptions, build};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The read-only token the bench boots with.
const TOKEN: &str = "bench-token-0123456789abcdef";

/// Options of one run.
struct Options {
    clients: usize,
    seconds: u64,
    path: String,
}

fn parse(arguments: &[String]) -> Result<Options> {
    let mut options = Options {
        clients: 8,
        seconds: 10,
        path: "/healthz".to_string(),
    };
    let mut words = arguments.iter();
    while let Some(word) = words.next() {
        let mut value = || {
            words
                .next()
                .with_context(|| format!("{word} needs a value"))
        };
        match word.as_str() {
            "--clients" => options.clients = value()?.parse()?,
            "--seconds" => options.seconds = value()?.parse()?,
            "--path" => options.path = value()?.clone(),
            "--runs" => {
                let _ = value()?;
            }
            other => {
                bail!("bench http: unknown option '{other}' (--clients N, --seconds S, --path P)")
            }
        }
    }
    if options.clients == 0 || options.seconds == 0 {
        bail!("bench http: --clients and --seconds must be at least 1");
    }
    Ok(options)
}

/// Reads one response from `stream` (head, then `Content-Length` or chunked body); returns its
/// status code. `pending` keeps bytes read past it.
fn read_response(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Result<u16> {
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        if let Some(position) = pending.windows(4).position(|window| window == b"\r\n\r\n") {
            break position + 4;
        }
        let count = stream.read(&mut buffer)?;
        if count == 0 {
            bail!("connection closed before a whole head");
        }
        pending.extend_from_slice(&buffer[..count]);
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no status code")?;
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .and_then(|value| value.trim().parse::<usize>().ok());
    let chunked = head.contains("Transfer-Encoding: chunked");
    pending.drain(..head_end);
    let body_end = |pending: &[u8]| -> Option<usize> {
        if let Some(length) = length {
            return (pending.len() >= length).then_some(length);
        }
        if chunked {
            return pending
                .windows(5)
                .position(|window| window == b"0\r\n\r\n")
                .map(|position| position + 5);
        }
        Some(0)
    };
    loop {
        if let Some(end) = body_end(pending) {
            pending.drain(..end);
            return Ok(status);
        }
        let count = stream.read(&mut buffer)?;
        if count == 0 {
            bail!("connection closed inside a body");
        }
        pending.extend_from_slice(&buffer[..count]);
    }
}

/// One client: requests until `stop`; counts answers with status 200 in `answered`.
fn client(
    port: u16,
    path: &str,
    keep_alive: bool,
    stop: &AtomicBool,
    answered: &AtomicU64,
) -> Result<()> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: dpu\r\nAuthorization: Bearer {TOKEN}\r\nConnection: {connection}\r\n\r\n"
    );
    let mut stream: Option<TcpStream> = None;
    let mut pending = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut current = match stream.take() {
            Some(stream) => stream,
            None => {
                pending.clear();
                let stream = TcpStream::connect(("127.0.0.1", port))?;
                stream.set_nodelay(true)?;
                stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                stream
            }
        };
        current.write_all(request.as_bytes())?;
        let status = read_response(&mut current, &mut pending)?;
        if status != 200 {
            bail!("GET {path} answered {status}");
        }
        answered.fetch_add(1, Ordering::Relaxed);
        if keep_alive {
            stream = Some(current);
        }
    }
    Ok(())
}

/// Runs `clients` clients for `seconds`; returns requests per second.
fn measure(port: u16, options: &Options, keep_alive: bool) -> Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..options.clients)
        .map(|_| {
            let (stop, answered, path) = (stop.clone(), answered.clone(), options.path.clone());
            std::thread::spawn(move || client(port, &path, keep_alive, &stop, &answered))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(options.seconds));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(answered.load(Ordering::Relaxed) as f64 / elapsed)
}

/// `cargo xtask bench http [--clients N] [--seconds S] [--path P]`.
pub fn bench(build_options: &BuildOptions, arguments: &[String]) -> Result<()> {
    let options = parse(arguments)?;
    crate::install::ensure_qemu()?;
    let artifacts = build::build_kernel(build_options)?;
    let port = crate::run::free_port()?;
    let mut qemu_arguments = qemu::arguments(&Machine::default(), &artifacts.image, "test.args")?;
    for argument in [
        "-append".to_string(),
        format!("api.token=read-only:{TOKEN}"),
        "-netdev".to_string(),
        format!("user,id=mgmt,hostfwd=tcp:127.0.0.1:{port}-:80"),
        "-device".to_string(),
        "virtio-net-device,netdev=mgmt".to_string(),
    ] {
        qemu_arguments.push(argument);
    }
    let mut session = Session::start_arguments(&qemu_arguments, &artifacts.elf)?;
    session.expect("mgmt0: DHCP lease", Duration::from_secs(30))?;
    println!(
        "GET {} over QEMU user networking (hostfwd on loopback), {} clients, {} s each mode:",
        options.path, options.clients, options.seconds
    );
    let keep_alive = measure(port, &options, true)?;
    println!("  keep-alive (one connection per client): {keep_alive:.0} requests/s");
    let fresh = measure(port, &options, false)?;
    println!("  one connection per request:             {fresh:.0} requests/s");
    session.send_bytes(b"poweroff\r")?;
    let _ = session.wait_exit(Duration::from_secs(10));
    Ok(())
}
