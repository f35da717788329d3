//! What went wrong with a registry request: the status and the registry's
//! error codes and messages, or the transport's failure, in short phrases
//! for the one-line messages slim prints.

use super::client::read_capped;
use super::retry;
use reqwest::Response;
use std::time::Duration;

/// What went wrong with one request, after its last attempt.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The registry (or the token server) answered with an error status.
    Status {
        code: u16,
        /// The `errors[].code`s of the Distribution error envelope.
        codes: Vec<String>,
        /// The envelope's messages, else the body's text (short).
        message: String,
        retry_after: Option<Duration>,
        /// The token endpoint answered, not the registry.
        token: bool,
    },
    /// Below HTTP: no connection, TLS, a stall, a body cut short.
    Transport { text: String, transient: bool },
    /// The registry broke the protocol (no Location for an upload, …).
    Protocol(String),
}

impl Fault {
    pub fn transient(&self) -> bool {
        match self {
            Fault::Status { code, .. } => retry::transient_status(*code),
            Fault::Transport { transient, .. } => *transient,
            Fault::Protocol(_) => false,
        }
    }

    pub(super) fn retry_after(&self) -> Option<Duration> {
        match self {
            Fault::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn from_reqwest(e: &reqwest::Error) -> Fault {
        let text = chain(e);
        let transient = retry::transient_transport(&text, e.is_timeout());
        Fault::Transport { text, transient }
    }

    /// A few words: `503 Service Unavailable`, `connection reset`.
    pub fn brief(&self) -> String {
        match self {
            Fault::Status { code, message, .. } => {
                let reason = reqwest::StatusCode::from_u16(*code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                let mut s = format!("{code} {reason}").trim_end().to_string();
                if !message.is_empty() {
                    s.push_str(": ");
                    s.push_str(message);
                }
                s
            }
            Fault::Transport { text, .. } => short_transport(text),
            Fault::Protocol(m) => m.clone(),
        }
    }
}

/// What a fault below HTTP was, in a few words (reqwest's text names every
/// layer it went through).
pub(super) fn short_transport(text: &str) -> String {
    let t = text.to_ascii_lowercase();
    let known = [
        ("connection refused", "connection refused"),
        ("reset", "connection reset"),
        ("timed out", "no answer within the --timeout"),
        ("broken pipe", "connection closed while sending"),
        ("ended after", ""),
        ("decoding response body", "connection cut mid-answer"),
        ("incomplete", "connection cut mid-answer"),
        ("unexpected eof", "connection cut mid-answer"),
        ("connection closed", "connection closed"),
    ];
    for (k, v) in known {
        if t.contains(k) {
            return if v.is_empty() {
                text.to_string()
            } else {
                v.into()
            };
        }
    }
    text.rsplit(": ").next().unwrap_or(text).to_string()
}

/// A fault and how many attempts were made before giving up.
#[derive(Debug, Clone)]
pub struct Failed {
    pub fault: Fault,
    pub attempts: u32,
}

/// The text of an error and its causes (reqwest hides the useful part in them).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// The fault a response with an error status is: its status, the
/// registry's error codes and messages, its `Retry-After`.
pub(super) async fn fault_of(r: Response, token: bool) -> Fault {
    let code = r.status().as_u16();
    let retry_after = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(retry::parse_retry_after);
    let body = read_capped(r, 64 << 10).await.unwrap_or_default();
    let (codes, message) = envelope(&body);
    Fault::Status {
        code,
        codes,
        message,
        retry_after,
        token,
    }
}

/// The codes and messages of a Distribution error envelope
/// (`{"errors":[{"code","message"}]}`), else the body's first line.
pub(super) fn envelope(body: &[u8]) -> (Vec<String>, String) {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(e) = serde_json::from_slice::<Envelope>(body) {
        let codes = e.errors.iter().map(|x| x.code.clone()).collect();
        let msgs: Vec<String> = e
            .errors
            .iter()
            .map(|x| x.message.clone())
            .filter(|m| !m.is_empty())
            .collect();
        return (codes, msgs.join("; "));
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    let mut line = line.unwrap_or_default().to_string();
    if line.len() > 200 {
        let mut end = 200;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    (Vec::new(), line)
}
