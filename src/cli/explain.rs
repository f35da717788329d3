//! `slim analyze --explain PATH`: why a path is kept, or why it is dropped.

use super::Format;
use std::io::Write;
use std::process::ExitCode;

/// What the plan says of a path it keeps that the trace did not reach.
fn plan_reason(why: &str) -> &'static str {
    match why {
        "profile" => "the profile's skeleton (users and groups, CA certificates, time zones, os-release, /tmp …)",
        "metadata" => "package metadata scanners read (status.d, md5sums, copyright and license files)",
        "parent" => "a parent directory of kept paths",
        "keep" => "--keep",
        "keep-package" => "--keep-package",
        "nonroot" => "--nonroot: a file the program creates where its user cannot",
        _ => "the plan",
    }
}

/// `--explain PATH`: the chain of reasons, or why the path would be dropped,
/// answered from the same plan `rewrite` writes (skeleton and metadata included).
#[allow(clippy::too_many_arguments)]
pub(super) fn explain(
    o: &mut impl Write,
    layers: &crate::image::Layers,
    catalog: &crate::catalog::Catalog,
    trace: &crate::trace::Trace,
    profile: &crate::plan::Profile,
    popts: &crate::plan::Options,
    path: &str,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let tree = &layers.tree;
    let plan = crate::plan::plan(layers, catalog, trace, profile, popts).ok();
    let abs = format!("/{}", path.trim_start_matches('/'));
    // The path as the plan stores it: resolved in the image (merged /usr),
    // or as named when slim makes it (status.d, /home/nonroot).
    let real = tree
        .resolve(&abs, false)
        .map(|r| format!("/{}", r.path))
        .unwrap_or_else(|_| abs.clone());
    let key = real.trim_start_matches('/');
    let in_plan = plan.as_ref().is_some_and(|p| p.tree.get(key).is_some());
    let user_drop = popts
        .drop
        .iter()
        .find(|g| crate::rules::user_matches(g, &real));
    let mut chain: Vec<(String, serde_json::Value, String)> = Vec::new();
    let mut dropped = None;
    if in_plan {
        let traced = trace.explain(&real);
        if traced.is_empty() {
            let why = plan
                .as_ref()
                .and_then(|p| p.why.get(&real).cloned())
                .unwrap_or_default();
            chain.push((
                real.clone(),
                serde_json::json!({"kind": why}),
                plan_reason(&why).to_string(),
            ));
        } else {
            for (p, r) in traced {
                let text = r.to_string();
                chain.push((p, serde_json::to_value(&r)?, text));
            }
        }
    } else if tree.get(key).is_none() {
        dropped = Some(format!("{path} is not in the image"));
    } else if let Some(g) = user_drop {
        dropped = Some(match trace.kept.get(&real) {
            Some(r) => {
                format!("{path} would be dropped by --drop {g}, though the trace reaches it ({r})")
            }
            None => format!("{path} would be dropped by --drop {g}"),
        });
    } else if trace.kept.contains_key(&real) {
        let by = profile
            .drop
            .iter()
            .find(|g| crate::rules::matches(g, &real))
            .map(|g| format!("the {} profile's drop list ({g})", profile.name))
            .unwrap_or_else(|| "the plan".into());
        dropped = Some(format!(
            "{path} would be dropped by {by}, though the trace reaches it ({})",
            trace.kept[&real]
        ));
    } else {
        let owners: Vec<String> = catalog.owners(key).map(|p| p.name.clone()).collect();
        dropped = Some(if owners.is_empty() {
            format!("{path} would be dropped: the trace does not reach it, no rule keeps it, and no package owns it")
        } else {
            format!(
                "{path} would be dropped: the trace does not reach it and no rule keeps it; it belongs to {} (not the entrypoint's package or one it depends on, or excluded as docs/scripts/executables)",
                owners.join(", ")
            )
        });
    }
    match format {
        Format::Json => {
            let v = serde_json::json!({
                "path": path,
                "kept": dropped.is_none(),
                "chain": chain.iter().map(|(p, r, t)| serde_json::json!({"path": p, "reason": r, "text": t})).collect::<Vec<_>>(),
                "dropped": dropped,
                // A kept path a --drop matches: what kept it won.
                "despite_drop": user_drop.filter(|_| dropped.is_none()),
            });
            serde_json::to_writer_pretty(&mut *o, &v)?;
            writeln!(o)?;
        }
        Format::Human => match &dropped {
            Some(why) => writeln!(o, "{why}")?,
            None => {
                match user_drop {
                    Some(g) => writeln!(o, "{path} is kept, although --drop {g} matches it:")?,
                    None => writeln!(o, "{path} is kept:")?,
                }
                for (p, _, t) in &chain {
                    writeln!(o, "  {p}\n      <- {t}")?;
                }
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}
