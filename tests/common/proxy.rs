//! A fault-injecting HTTP proxy for the registry tests: it sits in front of a
//! loopback registry (one request per connection) and does to chosen
//! requests what real registries and networks do — 503s, 429 with
//! Retry-After, bodies cut short, stalls, a `Range` it ignores, a port that
//! refuses connections while the registry is "still starting" — and logs
//! every request and what it did to it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do to which requests. Counts are of requests the proxy sees.
#[derive(Clone, Default, Debug)]
pub struct Faults {
    /// Refuse connections (nothing listens) for this long after start.
    pub refuse_for: Option<Duration>,
    /// Every n-th request is answered with this status.
    pub every: Option<(u32, u16)>,
    /// The first n requests get 429 Too Many Requests with `Retry-After: SECS`.
    pub too_many: Option<(u32, u64)>,
    /// Every request gets this status.
    pub always: Option<u16>,
    /// Every request after the first n gets 503 (a registry that goes down).
    pub down_after: Option<u32>,
    /// The first n blob downloads longer than B bytes are cut after B bytes.
    pub cut: Option<(u32, u64)>,
    /// The first n blob downloads longer than B bytes stop after B bytes
    /// for this long (then the connection is closed).
    pub stall: Option<(u32, u64, Duration)>,
    /// `Range` headers are dropped (the registry sends the whole blob).
    pub ignore_range: bool,
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    /// `forward`, `503`, `429`, `cut`, `stall`.
    pub action: String,
}

pub struct Proxy {
    pub addr: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

struct Shared {
    faults: Faults,
    upstream: String,
    count: AtomicU32,
    cuts: AtomicU32,
    stalls: AtomicU32,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Proxy {
    /// A proxy to `upstream` (`HOST:PORT`) doing `faults`.
    pub fn start(upstream: &str, faults: Faults) -> Proxy {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            faults: faults.clone(),
            upstream: upstream.to_string(),
            count: AtomicU32::new(0),
            cuts: AtomicU32::new(0),
            stalls: AtomicU32::new(0),
            seen: seen.clone(),
        });
        let listener = match faults.refuse_for {
            None => Some(probe),
            Some(_) => {
                drop(probe);
                None
            }
        };
        let (a, s) = (addr.clone(), stop.clone());
        std::thread::spawn(move || {
            let listener = listener.unwrap_or_else(|| {
                std::thread::sleep(faults.refuse_for.unwrap());
                TcpListener::bind(&a).unwrap()
            });
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &shared);
                });
            }
        });
        Proxy { addr, stop, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// `docker://ADDR/REPO`.
    pub fn url(&self, repo: &str) -> String {
        format!("docker://{}/{repo}", self.addr)
    }
}

/// Reads up to the end of an HTTP head; the head and what came after it.
fn read_head(s: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i + 4]).into_owned();
            return Ok((head, buf[i + 4..].to_vec()));
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn answer(mut c: TcpStream, status: u16, reason: &str, extra: &str, body: &str) {
    let _ = write!(
        c,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = c.flush();
    let _ = c.shutdown(Shutdown::Both);
}

fn serve(mut c: TcpStream, sh: &Shared) -> std::io::Result<()> {
    c.set_read_timeout(Some(Duration::from_secs(120)))?;
    // A TLS ClientHello (slim tries https first with --tls-verify=false): answer as a
    // plain HTTP server does to bytes that are not HTTP, at once.
    let mut first = [0u8; 1];
    if c.peek(&mut first)? == 1 && first[0] == 0x16 {
        answer(c, 400, "Bad Request", "", "");
        return Ok(());
    }
    let (head, rest) = read_head(&mut c)?;
    let first = head.lines().next().unwrap_or_default().to_string();
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let range = header(&head, "range");
    let n = sh.count.fetch_add(1, Ordering::SeqCst) + 1;
    let f = &sh.faults;
    let log = |action: &str| {
        sh.seen.lock().unwrap().push(Seen {
            method: method.clone(),
            path: path.clone(),
            range: range.clone(),
            action: action.into(),
        })
    };
    let unavailable = r#"{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}"#;
    if let Some(code) = f.always {
        log(&code.to_string());
        answer(c, code, "Service Unavailable", "", unavailable);
        return Ok(());
    }
    if f.down_after.is_some_and(|k| n > k) {
        log("503");
        answer(c, 503, "Service Unavailable", "", unavailable);
        return Ok(());
    }
    if let Some((k, code)) = f.every {
        if n % k == 0 {
            log(&code.to_string());
            answer(c, code, "Service Unavailable", "", unavailable);
            return Ok(());
        }
    }
    if let Some((k, secs)) = f.too_many {
        if n <= k {
            log("429");
            answer(
                c,
                429,
                "Too Many Requests",
                &format!("Retry-After: {secs}\r\n"),
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#,
            );
            return Ok(());
        }
    }
    // Forward, one request per connection.
    let mut out_head = String::new();
    for (i, l) in head.split("\r\n").enumerate() {
        if l.is_empty() {
            continue;
        }
        let name = l.split(':').next().unwrap_or_default().trim();
        if i > 0
            && (name.eq_ignore_ascii_case("connection")
                || (f.ignore_range && name.eq_ignore_ascii_case("range")))
        {
            continue;
        }
        out_head.push_str(l);
        out_head.push_str("\r\n");
    }
    out_head.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(&sh.upstream)?;
    up.write_all(out_head.as_bytes())?;
    up.write_all(&rest)?;
    let (mut c_in, mut up_out) = (c.try_clone()?, up.try_clone()?);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_in, &mut up_out);
    });
    let (rhead, mut body) = read_head(&mut up)?;
    let length: Option<u64> = header(&rhead, "content-length").and_then(|v| v.parse().ok());
    let blob_get = method == "GET" && path.contains("/blobs/sha256:");
    let status_ok = rhead.starts_with("HTTP/1.1 20");
    let mut limit = None;
    let mut action = "forward";
    if blob_get && status_ok {
        if let Some((times, after)) = f.cut {
            if length.is_some_and(|l| l > after) && sh.cuts.fetch_add(1, Ordering::SeqCst) < times {
                limit = Some((after, None));
                action = "cut";
            }
        }
        if let Some((times, after, wait)) = f.stall {
            if limit.is_none()
                && length.is_some_and(|l| l > after)
                && sh.stalls.fetch_add(1, Ordering::SeqCst) < times
            {
                limit = Some((after, Some(wait)));
                action = "stall";
            }
        }
    }
    log(action);
    c.write_all(rhead.as_bytes())?;
    let mut sent = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if body.is_empty() {
            let n = up.read(&mut buf)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        let mut take = body.len();
        if let Some((after, _)) = limit {
            take = take.min((after - sent) as usize);
        }
        c.write_all(&body[..take])?;
        sent += take as u64;
        body.drain(..take);
        if let Some((after, wait)) = limit {
            if sent >= after {
                c.flush()?;
                if let Some(w) = wait {
                    std::thread::sleep(w);
                }
                break;
            }
        }
    }
    let _ = c.shutdown(Shutdown::Both);
    let _ = up.shutdown(Shutdown::Both);
    Ok(())
}
