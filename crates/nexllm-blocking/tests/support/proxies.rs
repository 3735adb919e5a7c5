//! Minimal HTTP proxies on loopback for the tests: [`ConnectProxy`] tunnels
//! (`CONNECT`, as for `https://`), [`ForwardProxy`] forwards requests in
//! absolute form (as for `http://`). Both record every request head they get.
//!
//! Included with `#[path]` by the test files that need it; not every file
//! uses every helper.
#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The longest head either proxy reads; a longer one fails the connection.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// What a proxy records: the request heads, and how many connections it accepted.
#[derive(Clone, Default)]
pub(crate) struct Recorded {
    heads: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
}

impl Recorded {
    /// Every request head received, in order (request line and header lines).
    pub(crate) fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// How many client connections were accepted.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn push(&self, head: String) {
        self.heads.lock().unwrap().push(head);
    }
}

/// Reads one head, up to and without its empty line. `None` at the end of
/// the input (or a head too long).
fn read_head(reader: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || head.len() > MAX_HEAD_BYTES {
            return None;
        }
        if line == "\r\n" {
            return Some(head);
        }
        head.push_str(&line);
    }
}

/// Starts a proxy whose connections are each served by `serve` on their own thread.
fn listen(serve: impl Fn(TcpStream, &Recorded) + Send + Sync + 'static) -> (SocketAddr, Recorded) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let recorded = Recorded::default();
    let shared = recorded.clone();
    let serve = Arc::new(serve);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            shared.connections.fetch_add(1, Ordering::SeqCst);
            let recorded = shared.clone();
            let serve = Arc::clone(&serve);
            std::thread::spawn(move || serve(client, &recorded));
        }
    });
    (addr, recorded)
}

/// Copies `from` to `to` on a thread of its own, then ends `to`'s writing side.
fn pipe(mut from: impl Read + Send + 'static, mut to: TcpStream) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    })
}

/// A `CONNECT`-only proxy: it pipes the tunnel both ways until either side
/// closes. Anything but `CONNECT` is refused with 405, as proxies that only
/// tunnel do.
pub(crate) struct ConnectProxy {
    /// `http://user:secret@127.0.0.1:port`.
    pub(crate) url: String,
    pub(crate) recorded: Recorded,
}

impl ConnectProxy {
    pub(crate) fn start() -> ConnectProxy {
        let (addr, recorded) = listen(tunnel);
        ConnectProxy {
            url: format!("http://user:secret@{addr}"),
            recorded,
        }
    }
}

fn tunnel(mut client: TcpStream, recorded: &Recorded) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let Some(head) = read_head(&mut reader) else {
        return;
    };
    recorded.push(head.clone());
    let Some(target) = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split_whitespace().next())
    else {
        let _ = client.write_all(
            b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
        return;
    };
    let upstream = TcpStream::connect(target).unwrap();
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    let downstream = pipe(upstream.try_clone().unwrap(), client);
    // Bytes the client sent right after the CONNECT head are in the reader's buffer.
    let mut to_upstream = upstream;
    let _ = std::io::copy(&mut reader, &mut to_upstream);
    let _ = to_upstream.shutdown(Shutdown::Write);
    let _ = downstream.join();
}

/// A forward proxy, as squid is for `http://` URLs: each request must come
/// in absolute form (`POST http://host/path HTTP/1.1`); it goes on to
/// `upstream` (whatever the host named) in origin form, without
/// `Proxy-Authorization`, over one upstream connection per client
/// connection. Anything else, `CONNECT` included, is refused with 400 and
/// the connection closed.
pub(crate) struct ForwardProxy {
    /// `http://{credentials}127.0.0.1:port`.
    pub(crate) url: String,
    pub(crate) recorded: Recorded,
}

impl ForwardProxy {
    /// `credentials` is put before the host in the URL: `"user:secret@"` or `""`.
    pub(crate) fn start(credentials: &str, upstream: SocketAddr) -> ForwardProxy {
        let (addr, recorded) = listen(move |client, recorded| forward(client, upstream, recorded));
        ForwardProxy {
            url: format!("http://{credentials}{addr}"),
            recorded,
        }
    }
}

fn forward(mut client: TcpStream, upstream: SocketAddr, recorded: &Recorded) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut to_upstream: Option<(TcpStream, std::thread::JoinHandle<()>)> = None;
    while let Some(head) = read_head(&mut reader) {
        recorded.push(head.clone());
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (method, target, version) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let Some(path) = target
            .strip_prefix("http://")
            .and_then(|rest| rest.find('/').map(|slash| &rest[slash..]))
        else {
            let _ = client.write_all(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
            break;
        };
        let (upstream_writer, _) = to_upstream.get_or_insert_with(|| {
            let stream = TcpStream::connect(upstream).unwrap();
            let downstream = pipe(stream.try_clone().unwrap(), client.try_clone().unwrap());
            (stream, downstream)
        });
        let mut forwarded = format!("{method} {path} {version}\r\n");
        let mut length = 0;
        for line in lines.filter(|line| !line.is_empty()) {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("proxy-authorization:") {
                continue;
            }
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
        forwarded.push_str("\r\n");
        upstream_writer.write_all(forwarded.as_bytes()).unwrap();
        let copied = std::io::copy(&mut (&mut reader).take(length), upstream_writer).unwrap();
        if copied < length {
            break;
        }
    }
    if let Some((upstream, downstream)) = to_upstream {
        let _ = upstream.shutdown(Shutdown::Write);
        let _ = downstream.join();
    }
    let _ = client.shutdown(Shutdown::Write);
}
