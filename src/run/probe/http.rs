//! HTTP probes: a GET from inside the container's network namespace.

use super::*;

/// Why an HTTP probe got no status.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("joining its network: {0}")]
    Join(std::io::Error),
    #[error("finding slim itself: {0}")]
    Exe(std::io::Error),
    #[error("connecting to 127.0.0.1:{port}: {source}")]
    Connect { port: u16, source: std::io::Error },
    #[error("sending the request: {0}")]
    Send(std::io::Error),
    #[error("reading the answer: {0}")]
    Read(std::io::Error),
    #[error("not an HTTP answer: {0:?}")]
    NotHttp(String),
    /// What the rootless helper process said went wrong.
    #[error("{0}")]
    Helper(String),
    #[error("the probe thread panicked")]
    Panicked,
}

/// GETs `path` on 127.0.0.1:`port` from inside the network namespace of
/// `pid`; the HTTP status, or why there was none. As root, from a thread
/// that joins the namespace; rootless, from a child (`slim __probe-http-get`)
/// that joins the container's user namespace first.
pub(super) fn http_get(
    pid: u32,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<u16, GetError> {
    if !crate::run::is_root() {
        return http_get_child(pid, port, path, timeout);
    }
    let path = path.to_string();
    std::thread::spawn(move || -> Result<u16, GetError> {
        // This thread only: it ends with the request.
        sys::enter_net_namespace(pid).map_err(GetError::Join)?;
        get(port, &path, timeout)
    })
    .join()
    .unwrap_or(Err(GetError::Panicked))
}

pub(super) fn http_get_child(
    pid: u32,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<u16, GetError> {
    let exe = std::env::current_exe().map_err(GetError::Exe)?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "__probe-http-get",
        &port.to_string(),
        path,
        &timeout.as_millis().to_string(),
    ])
    .stdin(std::process::Stdio::null());
    sys::in_namespaces_of(&mut cmd, pid).map_err(GetError::Join)?;
    let o = cmd.output().map_err(GetError::Join)?;
    let out = String::from_utf8_lossy(&o.stdout);
    match out.trim().parse() {
        Ok(code) if o.status.success() => Ok(code),
        _ => Err(GetError::Helper(
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        )),
    }
}

/// GETs `path` on 127.0.0.1:`port` from this thread's network namespace.
pub fn get(port: u16, path: &str, timeout: Duration) -> Result<u16, GetError> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| GetError::Connect { port, source })?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: slim-probe\r\nConnection: close\r\n\r\n"
    )
    .map_err(GetError::Send)?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = s.read(&mut buf).map_err(GetError::Read)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("");
    line.split_whitespace()
        .nth(1)
        .filter(|_| line.starts_with("HTTP/"))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| GetError::NotHttp(line.to_string()))
}
