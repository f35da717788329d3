//! One retry policy for every registry request, as containers/image and
//! crane apply theirs: a transient fault (a refused or reset connection, a
//! stall, a body cut short, 408/429/500/502/503/504) is tried again after an
//! exponential backoff with jitter, or after the `Retry-After` the registry
//! asked for when that is longer; anything else fails at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// No wait is longer than this, whatever a registry asks for.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// How often, and how patiently, to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Tries after the first (skopeo's `--retry-times`).
    pub times: u32,
    /// The wait before the first retry; each next one doubles.
    pub delay: Duration,
    /// A connection that sends no byte for this long has stalled.
    pub timeout: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            times: 3,
            delay: Duration::from_secs(1),
            timeout: Duration::from_secs(60),
        }
    }
}

impl Policy {
    /// How many attempts in all.
    pub fn attempts(&self) -> u32 {
        self.times + 1
    }

    /// The wait after failed attempt `attempt` (1 for the first):
    /// `delay · 2^(attempt-1)` plus up to a quarter more at random, or the
    /// registry's `Retry-After` when longer; never above [`MAX_WAIT`].
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self
            .delay
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16))
            .min(MAX_WAIT);
        let jitter = backoff.mul_f64(random_fraction() / 4.0);
        (backoff + jitter)
            .max(retry_after.unwrap_or_default())
            .min(MAX_WAIT)
    }

    /// The longest a request that never succeeds can take in waits.
    pub fn worst_waits(&self) -> Duration {
        (1..=self.times)
            .map(|a| {
                let b = self
                    .delay
                    .saturating_mul(1u32 << (a - 1).min(16))
                    .min(MAX_WAIT);
                (b + b / 4).min(MAX_WAIT)
            })
            .sum()
    }
}

/// A number in [0, 1) that differs from call to call and process to process.
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The statuses worth trying again: the request timed out, too many
/// requests, and the server-side faults a proxy or a restarting registry
/// gives.
pub fn transient_status(code: u16) -> bool {
    matches!(code, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Whether a fault below HTTP, as `text` describes it, may clear: a refused,
/// reset or closed connection, a stall, a body cut short, do; certificate,
/// TLS-protocol and name-resolution faults do not.
pub fn transient_transport(text: &str, timed_out: bool) -> bool {
    if timed_out {
        return true;
    }
    let t = text.to_ascii_lowercase();
    const LASTING: [&str; 8] = [
        "certificate",
        "alert",
        "corrupt message",
        "invalidcontenttype",
        "wrong version",
        "dns error",
        "failed to lookup",
        "unknownissuer",
    ];
    !LASTING.iter().any(|l| t.contains(l))
}

/// A `Retry-After` value: delay-seconds or an HTTP date, as a wait from now
/// (a date in the past is no wait).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let when = parse_http_date(v)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(when.saturating_sub(now)))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP/1.1
/// requires senders to use, as seconds since the epoch.
fn parse_http_date(v: &str) -> Option<u64> {
    let rest = v.split_once(", ")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let [day, month, year, time, "GMT"] = f.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    u64::try_from(days * 86400 + (*h * 3600 + *m * 60 + *s) as i64).ok()
}

/// `1.5s`, `250ms`: how a wait reads in a message.
pub fn show(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_with_jitter_and_honour_retry_after() {
        let p = Policy {
            times: 3,
            delay: Duration::from_secs(1),
            timeout: Duration::from_secs(60),
        };
        for (attempt, base) in [(1, 1.0), (2, 2.0), (3, 4.0)] {
            let w = p.wait(attempt, None).as_secs_f64();
            assert!(w >= base && w <= base * 1.25, "{attempt}: {w}");
        }
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(p.wait(1, Some(Duration::from_secs(3600))), MAX_WAIT);
        assert_eq!(p.wait(30, None), MAX_WAIT);
        assert_eq!(p.worst_waits(), Duration::from_millis(8750));
        assert_eq!(p.attempts(), 4);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1835481599)
        );
        // In the past: no wait.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST"), None);
    }

    #[test]
    fn what_is_worth_another_try() {
        for c in [408, 429, 500, 502, 503, 504] {
            assert!(transient_status(c), "{c}");
        }
        for c in [400, 401, 403, 404, 405, 409, 501] {
            assert!(!transient_status(c), "{c}");
        }
        assert!(transient_transport(
            "tcp connect error: Connection refused (os error 111)",
            false
        ));
        assert!(transient_transport("connection reset by peer", false));
        assert!(transient_transport("anything", true));
        assert!(!transient_transport(
            "invalid peer certificate: UnknownIssuer",
            false
        ));
        assert!(!transient_transport(
            "dns error: failed to lookup address information",
            false
        ));
    }
}
