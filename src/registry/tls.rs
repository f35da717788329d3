//! What a registry's TLS needs from the user, read as skopeo and podman read
//! it (containers/image `tlsclientconfig.SetupCertificates`): a directory
//! whose `*.crt` are CA certificates to trust besides the system's, and whose
//! `NAME.cert` + `NAME.key` pair is the client certificate to present.

use super::Error;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};

/// The CAs to trust and the client identity for one registry.
#[derive(Default)]
pub(super) struct Tls {
    /// PEM texts of CA certificates.
    pub roots: Vec<Vec<u8>>,
    /// PEM text: the private key, then the certificate chain.
    pub identity: Option<Vec<u8>>,
    /// The `.cert` file the identity came from, for messages.
    pub identity_from: Option<PathBuf>,
}

/// The directory to read for `registry` (`HOST[:PORT]`): `--cert-dir`, else
/// the first of `~/.config/containers/certs.d/HOST`,
/// `/etc/containers/certs.d/HOST`, `/etc/docker/certs.d/HOST` that exists
/// (containers/image `dockerCertDir`).
fn directory(registry: &str, cert_dir: Option<&Path>) -> Result<Option<PathBuf>, Error> {
    if let Some(d) = cert_dir {
        if !d.is_dir() {
            return Err(Error::Usage(format!(
                "--cert-dir {}: not a directory",
                d.display()
            )));
        }
        return Ok(Some(d.to_path_buf()));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".config/containers/certs.d"));
    Ok(home
        .into_iter()
        .chain(["/etc/containers/certs.d", "/etc/docker/certs.d"].map(PathBuf::from))
        .map(|b| b.join(registry))
        .find(|d| d.is_dir()))
}

fn read(p: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(p).map_err(|e| Error::Usage(format!("{}: {e}", p.display())))
}

/// Reads the certificates for `registry`. A `.cert` without its `.key` (or
/// the reverse), a file that holds no PEM of its kind, or more than one
/// client pair is refused, naming the file: a registry that then refuses
/// the connection would say much less.
pub(super) fn load(registry: &str, cert_dir: Option<&Path>) -> Result<Tls, Error> {
    let mut tls = Tls::default();
    let Some(dir) = directory(registry, cert_dir)? else {
        return Ok(tls);
    };
    let entries =
        std::fs::read_dir(&dir).map_err(|e| Error::Usage(format!("{}: {e}", dir.display())))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let has = |n: &str| names.iter().any(|x| x == n);
    let mut pairs = Vec::new();
    for name in &names {
        let path = dir.join(name);
        if name.ends_with(".crt") {
            let data = read(&path)?;
            if CertificateDer::pem_slice_iter(&data).next().is_none() {
                return Err(Error::Usage(format!(
                    "{}: no PEM certificate (BEGIN CERTIFICATE) in it",
                    path.display()
                )));
            }
            tls.roots.push(data);
        } else if let Some(stem) = name.strip_suffix(".cert") {
            let key = format!("{stem}.key");
            if !has(&key) {
                return Err(Error::Usage(format!(
                    "{}: client certificate without its key {key} beside it \
                     (CA certificates are named *.crt)",
                    path.display()
                )));
            }
            pairs.push((path, dir.join(key)));
        } else if let Some(stem) = name.strip_suffix(".key") {
            let cert = format!("{stem}.cert");
            if !has(&cert) {
                return Err(Error::Usage(format!(
                    "{}: key without its client certificate {cert} beside it",
                    path.display()
                )));
            }
        }
    }
    match pairs.len() {
        0 => {}
        1 => {
            let (cert, key) = pairs.remove(0);
            tls.identity = Some(identity(&cert, &key)?);
            tls.identity_from = Some(cert);
        }
        _ => {
            let list: Vec<String> = pairs
                .iter()
                .map(|(c, _)| c.file_name().unwrap_or_default().to_string_lossy().into())
                .collect();
            return Err(Error::Usage(format!(
                "{}: {} client certificates ({}); slim presents one: keep one *.cert/*.key pair there",
                dir.display(),
                pairs.len(),
                list.join(", ")
            )));
        }
    }
    Ok(tls)
}

/// The key and the chain as one PEM text, checked so that a wrong file is
/// named here rather than failing the handshake later.
fn identity(cert: &Path, key: &Path) -> Result<Vec<u8>, Error> {
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain: Vec<_> = CertificateDer::pem_slice_iter(&cert_pem).collect();
    if chain.is_empty() || chain.iter().any(|c| c.is_err()) {
        return Err(Error::Usage(format!(
            "{}: no PEM certificate (BEGIN CERTIFICATE) in it",
            cert.display()
        )));
    }
    let Ok(der) = PrivateKeyDer::from_pem_slice(&key_pem) else {
        return Err(Error::Usage(format!(
            "{}: no unencrypted private key in it (PEM: BEGIN PRIVATE KEY, RSA PRIVATE KEY \
             or EC PRIVATE KEY)",
            key.display()
        )));
    };
    // reqwest's Identity::from_pem refuses other PEM sections (EC parameters
    // beside the key, say): pass the key and the chain only.
    let label = match &der {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    let mut pem = pem_block(label, der.secret_der());
    for c in chain.into_iter().flatten() {
        pem.extend(pem_block("CERTIFICATE", &c));
    }
    Ok(pem)
}

fn pem_block(label: &str, der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (n, t) in files {
            std::fs::write(d.path().join(n), t).unwrap();
        }
        d
    }

    fn usage(r: Result<Tls, Error>) -> String {
        match r {
            Err(Error::Usage(m)) => m,
            Err(e) => panic!("not a usage error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_cert_without_its_key_is_named() {
        let d = dir_with(&[("client.cert", "x")]);
        let m = usage(load("h:1", Some(d.path())));
        assert!(m.contains("client.cert") && m.contains("client.key"), "{m}");
        assert!(m.contains("*.crt"), "{m}");
    }

    #[test]
    fn a_key_without_its_cert_is_named() {
        let d = dir_with(&[("client.key", "x")]);
        let m = usage(load("h:1", Some(d.path())));
        assert!(m.contains("client.key") && m.contains("client.cert"), "{m}");
    }

    #[test]
    fn files_that_hold_no_pem_are_named() {
        let d = dir_with(&[("ca.crt", "not pem")]);
        assert!(usage(load("h:1", Some(d.path()))).contains("ca.crt"));
        let d = dir_with(&[("c.cert", "not pem"), ("c.key", "nor this")]);
        assert!(usage(load("h:1", Some(d.path()))).contains("c.cert"));
    }

    #[test]
    fn two_client_pairs_are_refused() {
        let d = dir_with(&[("a.cert", ""), ("a.key", ""), ("b.cert", ""), ("b.key", "")]);
        let m = usage(load("h:1", Some(d.path())));
        assert!(m.contains("a.cert, b.cert"), "{m}");
    }

    #[test]
    fn a_missing_cert_dir_is_refused_and_no_default_dir_is_no_tls_files() {
        let m = usage(load("h:1", Some(Path::new("/nonexistent/slim-certs"))));
        assert!(m.contains("/nonexistent/slim-certs"), "{m}");
        let t = load("slim-test-no-such-host.invalid:1", None).unwrap();
        assert!(t.roots.is_empty() && t.identity.is_none());
    }
}
