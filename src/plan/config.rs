//! The slimmed image's config: the source's, with the profile's Env, the
//! non-root user when asked, and the `--entrypoint`/`--cmd` the trace ran.

use serde_json::{json, Value};

/// A source config slim cannot build on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

/// The source config, every field of it (Healthcheck, StopSignal, Volumes,
/// Labels, OnBuild, Shell, ArgsEscaped …), with the profile's Env, the
/// non-root user when asked, and the `--entrypoint`/`--cmd`/`--healthcheck`
/// overrides.
/// An Env value that is an absolute path is set only when the slimmed image has
/// that file; of several entries for one variable, the first that applies wins
/// (`SSL_CERT_FILE` is Debian's bundle on Debian, Fedora's on Fedora, and unset
/// where there is none, rather than pointing OpenSSL at nothing).
pub fn slim_config(
    raw: &[u8],
    profile: &crate::plan::Profile,
    nonroot: bool,
    command: Option<&(Vec<String>, Vec<String>)>,
    healthcheck: Option<&Option<Vec<String>>>,
    exists: &dyn Fn(&str) -> bool,
) -> Result<Vec<u8>, Error> {
    let mut v: Value = serde_json::from_slice(raw)
        .map_err(|e| Error(format!("the source config is not JSON: {e}")))?;
    let cfg = v
        .as_object_mut()
        .ok_or_else(|| Error("the source config is not an object".into()))?
        .entry("config")
        .or_insert_with(|| json!({}));
    let cfg = cfg
        .as_object_mut()
        .ok_or_else(|| Error("config.config is not an object".into()))?;
    // --entrypoint/--cmd, as the trace ran them; none is written as null, as Docker does.
    if let Some((entrypoint, cmd)) = command {
        let value = |v: &Vec<String>| if v.is_empty() { Value::Null } else { json!(v) };
        cfg.insert("Entrypoint".into(), value(entrypoint));
        cfg.insert("Cmd".into(), value(cmd));
    }
    // --healthcheck: a new test keeps the image's timing; none removes it.
    match healthcheck {
        Some(None) => {
            cfg.remove("Healthcheck");
        }
        Some(Some(test)) => {
            let h = cfg.entry("Healthcheck").or_insert_with(|| json!({}));
            if !h.is_object() {
                *h = json!({});
            }
            h["Test"] = json!(test);
        }
        None => {}
    }
    let env = cfg.entry("Env").or_insert_with(|| json!([]));
    if env.is_null() {
        *env = json!([]);
    }
    let list = env
        .as_array_mut()
        .ok_or_else(|| Error("config Env is not a list".into()))?;
    for e in &profile.env {
        let (key, value) = e.split_once('=').unwrap_or((e, ""));
        if value.starts_with('/') && !exists(value) {
            continue;
        }
        if !list
            .iter()
            .any(|x| x.as_str().is_some_and(|s| s.split('=').next() == Some(key)))
        {
            list.push(json!(e));
        }
    }
    if nonroot {
        if let Some(n) = &profile.nonroot {
            cfg.insert("User".into(), json!(n.user));
            let wd = cfg.get("WorkingDir").and_then(|w| w.as_str()).unwrap_or("");
            if wd.is_empty() || wd == "/" {
                cfg.insert("WorkingDir".into(), json!(n.workdir));
            }
        }
    }
    Ok(serde_json::to_vec(&v).expect("JSON values serialise"))
}

/// The exposed ports below 1024 of the source config, each a warning for
/// `--nonroot`: the kernel lets only root (or CAP_NET_BIND_SERVICE) bind them.
pub fn privileged_ports(raw: &[u8]) -> Vec<crate::diagnostic::Diagnostic> {
    use crate::diagnostic::{Code, Diagnostic};
    let Ok(v) = serde_json::from_slice::<Value>(raw) else {
        return Vec::new();
    };
    let Some(ports) = v["config"]["ExposedPorts"].as_object() else {
        return Vec::new();
    };
    ports
        .keys()
        .filter(|p| {
            p.split('/')
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n < 1024)
        })
        .map(|p| {
            let port = p.split('/').next().unwrap_or(p);
            Diagnostic::new(
                Code::NonrootPrivilegedPort,
                None,
                format!(
                    "the image exposes port {p}, below 1024, which a non-root user cannot bind: \
                     run it with the sysctl net.ipv4.ip_unprivileged_port_start={port} (docker run \
                     --sysctl, a Kubernetes securityContext sysctl) or the capability \
                     CAP_NET_BIND_SERVICE (--cap-add NET_BIND_SERVICE), or make the program \
                     listen on a port above 1023"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> crate::plan::Profile {
        crate::plan::Profile::load("distroless").unwrap()
    }

    fn config(
        raw: &str,
        nonroot: bool,
        command: Option<&(Vec<String>, Vec<String>)>,
        has: &[&str],
    ) -> Value {
        let exists = |p: &str| has.contains(&p);
        serde_json::from_slice(
            &slim_config(raw.as_bytes(), &profile(), nonroot, command, None, &exists).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn ssl_cert_file_names_a_bundle_the_image_has() {
        let raw = r#"{"config":{"Env":["PATH=/bin"]}}"#;
        let v = config(raw, false, None, &["/etc/pki/tls/certs/ca-bundle.crt"]);
        assert_eq!(
            v["config"]["Env"],
            json!([
                "PATH=/bin",
                "SSL_CERT_FILE=/etc/pki/tls/certs/ca-bundle.crt"
            ])
        );
        let v = config(raw, false, None, &[]);
        assert_eq!(
            v["config"]["Env"],
            json!(["PATH=/bin"]),
            "no bundle, no variable"
        );
        // The image's own value wins.
        let v = config(
            r#"{"config":{"Env":["SSL_CERT_FILE=/x"]}}"#,
            false,
            None,
            &["/etc/ssl/certs/ca-certificates.crt"],
        );
        assert_eq!(v["config"]["Env"], json!(["SSL_CERT_FILE=/x"]));
    }

    #[test]
    fn nonroot_keeps_an_images_workdir() {
        let v = config(r#"{"config":{"WorkingDir":"/app"}}"#, true, None, &[]);
        assert_eq!(
            (
                v["config"]["User"].as_str(),
                v["config"]["WorkingDir"].as_str()
            ),
            (Some("65532:65532"), Some("/app"))
        );
        let v = config(r#"{"config":{"WorkingDir":"/"}}"#, true, None, &[]);
        assert_eq!(v["config"]["WorkingDir"], "/home/nonroot");
    }

    #[test]
    fn every_field_is_kept_and_healthcheck_overrides() {
        let raw = r#"{"architecture":"amd64","config":{"Healthcheck":{"Test":["CMD-SHELL","curl -f http://localhost/ || exit 1"],"Interval":30000000000,"Retries":3},
            "StopSignal":"SIGQUIT","Volumes":{"/data":{}},"OnBuild":["RUN x"],"Shell":["/bin/bash","-c"],
            "ArgsEscaped":true,"Labels":{"a":"b"},"ExposedPorts":{"80/tcp":{}},"Domainname":"d","Hostname":"h"},
            "os":"linux","variant":"v8","os.features":["f"],"author":"me","docker_version":"25"}"#;
        let v = config(raw, false, None, &[]);
        let src: Value = serde_json::from_str(raw).unwrap();
        for (k, want) in src["config"].as_object().unwrap() {
            assert_eq!(&v["config"][k], want, "config.{k}");
        }
        for k in [
            "architecture",
            "os",
            "variant",
            "os.features",
            "author",
            "docker_version",
        ] {
            assert_eq!(v[k], src[k], "{k}");
        }
        let run = |h: Option<Vec<String>>| -> Value {
            serde_json::from_slice(
                &slim_config(raw.as_bytes(), &profile(), false, None, Some(&h), &|_| {
                    false
                })
                .unwrap(),
            )
            .unwrap()
        };
        let test = vec!["CMD".to_string(), "/usr/bin/curl".into(), "-f".into()];
        let v = run(Some(test.clone()));
        assert_eq!(v["config"]["Healthcheck"]["Test"], json!(test));
        assert_eq!(v["config"]["Healthcheck"]["Retries"], 3, "timing kept");
        let v = run(None);
        assert!(v["config"].get("Healthcheck").is_none());
        assert_eq!(v["config"]["StopSignal"], "SIGQUIT");
    }

    #[test]
    fn overrides_are_written_and_none_is_null() {
        let cmd = (vec![], vec!["node".to_string(), "server.js".to_string()]);
        let v = config(
            r#"{"config":{"Entrypoint":["docker-entrypoint.sh"],"Cmd":["x"]},"rootfs":{}}"#,
            false,
            Some(&cmd),
            &[],
        );
        assert!(v["config"]["Entrypoint"].is_null());
        assert_eq!(v["config"]["Cmd"], json!(["node", "server.js"]));
        assert!(v["rootfs"].is_object(), "other fields are kept");
        assert!(slim_config(b"[1]", &profile(), false, None, None, &|_| false).is_err());
    }
}
