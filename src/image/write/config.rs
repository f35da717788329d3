//! The image config of a written image.

use super::*;

/// A config for new layers: `rootfs.diff_ids` replaced, a history entry
/// added (earlier entries kept, marked as making no layer), `created` set
/// when given. Unknown fields are kept; keys come out sorted.
pub fn derive_config(
    raw: &[u8],
    diff_ids: &[Digest],
    created_by: &str,
    created: Option<&str>,
) -> Result<Vec<u8>, Error> {
    let mut v: Value = serde_json::from_slice(raw)
        .map_err(|e| Error::Dest(format!("the source config is not JSON: {e}")))?;
    let Some(obj) = v.as_object_mut() else {
        return Err(Error::Dest("the source config is not a JSON object".into()));
    };
    obj.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    let mut history: Vec<Value> = obj
        .get("history")
        .and_then(|h| h.as_array())
        .cloned()
        .unwrap_or_default();
    for h in &mut history {
        if let Some(o) = h.as_object_mut() {
            o.insert("empty_layer".into(), Value::Bool(true));
        }
    }
    if let Some(c) = created {
        obj.insert("created".into(), json!(c));
    }
    // Every history entry has a time (umoci 0.4.7's `stat` dereferences it):
    // SOURCE_DATE_EPOCH, else the source's last history time (reproducible),
    // else its creation time, else now.
    let when = created
        .map(String::from)
        .or_else(|| {
            history
                .iter()
                .rev()
                .find_map(|h| h["created"].as_str().map(String::from))
        })
        .or_else(|| obj.get("created").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            rfc3339(now)
        });
    let entry = json!({"created": when, "created_by": created_by, "comment": "slim"});
    // One history entry per layer made: all but the last layer are marked below.
    for i in 0..diff_ids.len() {
        let mut e = entry.clone();
        if diff_ids.len() > 1 {
            e["created_by"] = json!(format!("{created_by} (layer {}/{})", i + 1, diff_ids.len()));
        }
        history.push(e);
    }
    obj.insert("history".into(), Value::Array(history));
    Ok(serde_json::to_vec(&v).expect("JSON values serialise"))
}

/// Seconds since the epoch as RFC 3339 UTC (civil-from-days, Howard Hinnant's algorithm).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
