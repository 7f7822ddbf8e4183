//! Test steps that hold TCP connections open to the DPU's HTTP port, and ask it repeatedly.
//!
//! | step | meaning |
//! |---|---|
//! | `tcp-hold: N` | open N more TCP connections to the forwarded HTTP port and send nothing; they stay open until the test ends |
//! | `tcp-trickle: N` | open N more that send a request head one byte a second (slowloris), reconnecting when the DPU closes them |
//! | `http-each: COUNT PATH -> TEXT` | COUNT times, a new curl (new connection) `GET PATH`; every answer must hold TEXT, with no retry |
//! | `http-pipeline: [half-close] [token=SECRET] PATH PATH ... -> TEXT && TEXT ...` | one connection, a `GET` of each PATH in one write (the last with `Connection: close`; `half-close`: then the client's FIN at once), read to the close within the step's deadline; the TEXTs must appear in that order |
//!
//! The connections belong to the test's forwarded port; a later test (another port) closes the
//! previous test's.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections held for one test (its port), and the flag that stops its tricklers.
struct Held {
    port: u16,
    streams: Vec<TcpStream>,
    stop: Arc<AtomicBool>,
}

static HELD: Mutex<Option<Held>> = Mutex::new(None);

/// The held set for `port`, dropping another test's.
fn held_for(port: u16, held: &mut Option<Held>) -> &mut Held {
    if held.as_ref().is_some_and(|held| held.port != port)
        && let Some(old) = held.take()
    {
        old.stop.store(true, Ordering::Relaxed);
    }
    held.get_or_insert_with(|| Held {
        port,
        streams: Vec::new(),
        stop: Arc::new(AtomicBool::new(false)),
    })
}

/// Ends the connections of the test on `port` (its tricklers stop, its streams close).
pub fn release(port: u16) {
    let mut held = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if held.as_ref().is_some_and(|held| held.port == port)
        && let Some(old) = held.take()
    {
        old.stop.store(true, Ordering::Relaxed);
    }
}

fn connect(port: u16) -> Result<TcpStream> {
    let address = ("127.0.0.1", port);
    let stream =
        TcpStream::connect(address).with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `tcp-hold: N`.
pub fn hold(port: u16, count: usize) -> Result<String> {
    let mut held = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let held = held_for(port, &mut held);
    for _ in 0..count {
        held.streams.push(connect(port)?);
    }
    Ok(format!("{} idle connections held", held.streams.len()))
}

/// `tcp-trickle: N`: each in a thread of its own until the test's flag says stop.
pub fn trickle(port: u16, count: usize) -> Result<String> {
    let stop = {
        let mut held = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        held_for(port, &mut held).stop.clone()
    };
    for _ in 0..count {
        let mut stream = connect(port)?;
        let stop = stop.clone();
        std::thread::spawn(move || {
            const HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: dpu\r\nX-Slow: ";
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let byte = HEAD.get(sent).copied().unwrap_or(b'a');
                if stream.write_all(&[byte]).is_err() {
                    // Closed by the DPU (deadline or eviction): come back, as an attacker would.
                    match connect(port) {
                        Ok(again) => {
                            stream = again;
                            sent = 0;
                        }
                        Err(_) => return,
                    }
                    continue;
                }
                sent += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    }
    Ok(format!("{count} byte-a-second connections started"))
}

/// `http-each: COUNT PATH -> TEXT`: COUNT curls in a row, none retried.
pub fn each(port: u16, count: usize, path: &str, expected: &str) -> Result<String> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let mut slowest = Duration::ZERO;
    for index in 1..=count {
        let started = std::time::Instant::now();
        let output = Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--include",
                "--max-time",
                "3",
                &url,
            ])
            .output()
            .context("running curl (apt-get install curl)")?;
        slowest = slowest.max(started.elapsed());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() || !text.contains(expected) {
            bail!("GET {path} number {index} of {count} did not answer '{expected}': {text}");
        }
    }
    Ok(format!(
        "{count} GET {path} answered; slowest {} ms",
        slowest.as_millis()
    ))
}

/// The requests of `http-pipeline:` as one write: a `GET` of each path, the last asking to close.
fn pipeline_requests(token: Option<&str>, paths: &[String]) -> Vec<u8> {
    let mut requests = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        requests.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: dpu\r\n").as_bytes());
        if let Some(token) = token {
            requests.extend_from_slice(format!("Authorization: Bearer {token}\r\n").as_bytes());
        }
        if index + 1 == paths.len() {
            requests.extend_from_slice(b"Connection: close\r\n");
        }
        requests.extend_from_slice(b"\r\n");
    }
    requests
}

/// Whether every text of `expected` is in `answer`, each after the one before; the first missing one if not.
fn in_order<'e>(answer: &str, expected: &'e [String]) -> Result<(), &'e str> {
    let mut from = 0;
    for text in expected {
        match answer[from..].find(text.as_str()) {
            Some(at) => from += at + text.len(),
            None => return Err(text),
        }
    }
    Ok(())
}

/// What an `http-pipeline:` step sends.
pub struct Pipelined<'a> {
    /// Shut the client's sending side right after the write (its FIN follows the requests).
    pub half_close: bool,
    /// A bearer token for every request.
    pub token: Option<&'a str>,
    /// A `GET` of each, in order.
    pub paths: &'a [String],
}

/// `http-pipeline:`: every request in one write, then read until the DPU closes (after the
/// last, `Connection: close`) or `timeout` passes.
pub fn pipeline(
    port: u16,
    pipelined: Pipelined<'_>,
    expected: &[String],
    timeout: Duration,
) -> Result<String> {
    use std::io::Read;
    let Pipelined {
        half_close,
        token,
        paths,
    } = pipelined;
    let mut stream = connect(port)?;
    stream.write_all(&pipeline_requests(token, paths))?;
    if half_close {
        stream.shutdown(std::net::Shutdown::Write)?;
    }
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            break false;
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(count) => answer.extend_from_slice(&buffer[..count]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false;
            }
            Err(error) => return Err(error).context("reading the pipelined answers"),
        }
    };
    let text = String::from_utf8_lossy(&answer).into_owned();
    let answers = text.matches("HTTP/1.1 ").count();
    if !closed {
        bail!(
            "{} pipelined requests: {answers} answered, the connection still open after {} s: {text}",
            paths.len(),
            timeout.as_secs()
        );
    }
    if let Err(missing) = in_order(&text, expected) {
        bail!(
            "{} pipelined requests: no '{missing}' in order in: {text}",
            paths.len()
        );
    }
    Ok(format!(
        "{} pipelined requests, {answers} answers in {} ms",
        paths.len(),
        started.elapsed().as_millis()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn drain(stream: &mut TcpStream) -> usize {
        let mut buffer = [0u8; 256];
        stream.read(&mut buffer).unwrap_or(0)
    }

    #[test]
    fn pipelined_requests_go_in_one_write_and_answers_are_checked_in_order() {
        let paths = ["/healthz".to_string(), "/v1/system".to_string()];
        let requests = String::from_utf8(pipeline_requests(Some("secret"), &paths)).unwrap();
        assert_eq!(
            requests,
            "GET /healthz HTTP/1.1\r\nHost: dpu\r\nAuthorization: Bearer secret\r\n\r\n\
             GET /v1/system HTTP/1.1\r\nHost: dpu\r\nAuthorization: Bearer secret\r\n\
             Connection: close\r\n\r\n"
        );
        let expected = ["HTTP/1.1 200".to_string(), "HTTP/1.1 404".to_string()];
        assert!(in_order("HTTP/1.1 200 x HTTP/1.1 404", &expected).is_ok());
        assert_eq!(
            in_order("HTTP/1.1 404 x HTTP/1.1 200", &expected),
            Err("HTTP/1.1 404")
        );
    }

    #[test]
    fn held_connections_stay_until_released() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(hold(port, 3).unwrap().starts_with("3 idle"));
        let mut accepted: Vec<TcpStream> = (0..3).map(|_| listener.accept().unwrap().0).collect();
        assert!(hold(port, 1).unwrap().starts_with("4 idle"));
        accepted.push(listener.accept().unwrap().0);
        release(port);
        // Released: the peer sees the end of the stream.
        for stream in &mut accepted {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            assert_eq!(drain(stream), 0);
        }
    }
}
