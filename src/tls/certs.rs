//! Certificate files as HAProxy reads them: a PEM file holding the chain and the private key
//! (or the key in `FILE.key` beside it), or a directory of such files. Each file becomes a
//! [`LoadedCert`]: the rustls `CertifiedKey`, the DNS names SNI selects it by (subjectAltName
//! DNS entries, else the subject's CN, lowercased), and its validity end. Runs at
//! configuration time only; every problem is a message in HAProxy's words.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// One certificate (with its chain and key) ready to serve.
#[derive(Debug, Clone)]
pub(crate) struct LoadedCert {
    pub(crate) path: PathBuf,
    pub(crate) key: Arc<CertifiedKey>,
    /// Names SNI matches: exact names and `*.domain` wildcards, lowercased.
    pub(crate) names: Vec<String>,
    /// End of validity, seconds since the Unix epoch.
    /// Checked at load time (an expired certificate is refused); kept for `show ssl cert`,
    /// which does not print it yet.
    #[allow(dead_code)]
    pub(crate) not_after: i64,
}

/// Files of a `crt` directory that are not certificates (HAProxy's companion files).
const COMPANIONS: [&str; 5] = [".key", ".ocsp", ".issuer", ".sctl", ".ocsp.key"];

/// `crt PATH`: a file, or every certificate file of a directory (sorted by name, as HAProxy
/// loads them; companion files and hidden files skipped).
pub(crate) fn load_crt(path: &Path) -> Result<Vec<LoadedCert>, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "unable to stat SSL certificate from file '{}' : {}.",
            path.display(),
            strerror(&e)
        )
    })?;
    if !meta.is_dir() {
        return load_file(path).map(|c| vec![c]);
    }
    let rd = std::fs::read_dir(path).map_err(|e| {
        format!(
            "unable to scan directory '{}' : {}.",
            path.display(),
            strerror(&e)
        )
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && !COMPANIONS.iter().any(|s| name.ends_with(s))
        })
        .collect();
    files.sort();
    files.iter().map(|f| load_file(f)).collect()
}

/// One PEM file: certificates (leaf first), and a private key here or in `FILE.key`.
pub(crate) fn load_file(path: &Path) -> Result<LoadedCert, String> {
    let pem = std::fs::read(path).map_err(|e| {
        format!(
            "unable to load SSL certificate file '{}' : {}.",
            path.display(),
            strerror(&e)
        )
    })?;
    load_pem(path, &pem)
}

/// A certificate from PEM bytes (a file's, or a `set ssl cert` payload) known as `path`: its
/// key in the bytes or in `PATH.key`.
pub(crate) fn load_pem(path: &Path, pem: &[u8]) -> Result<LoadedCert, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(format!(
            "unable to load SSL certificate from PEM file '{}'.",
            path.display()
        ));
    }
    let key = match PrivateKeyDer::from_pem_slice(pem) {
        Ok(k) => k,
        Err(_) => {
            let mut kp = path.as_os_str().to_owned();
            kp.push(".key");
            let kp = PathBuf::from(kp);
            let no_key = || format!("No Private Key found in '{}'.", kp.display());
            let bytes = std::fs::read(&kp).map_err(|_| no_key())?;
            PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| no_key())?
        }
    };
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).map_err(|_| {
        format!(
            "unable to load SSL private key from PEM file '{}'.",
            path.display()
        )
    })?;
    let leaf = chain.first().cloned();
    let certified = CertifiedKey::new(chain, signer);
    if certified.keys_match().is_err() {
        return Err(format!(
            "inconsistencies between private key and certificate loaded '{}'.",
            path.display()
        ));
    }
    let (names, not_after) = match leaf.as_ref().map(|l| leaf_facts(l)) {
        Some(Ok(f)) => f,
        _ => {
            return Err(format!(
                "unable to load SSL certificate from PEM file '{}'.",
                path.display()
            ));
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if not_after < now {
        return Err(format!(
            "certificate '{}' expired on {} (Ravelin refuses expired certificates).",
            path.display(),
            utc_date(not_after)
        ));
    }
    Ok(LoadedCert {
        path: path.to_path_buf(),
        key: Arc::new(certified),
        names,
        not_after,
    })
}

/// The leaf's SNI names and validity end.
fn leaf_facts(der: &CertificateDer<'_>) -> Result<(Vec<String>, i64), ()> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der.as_ref()).map_err(|_| ())?;
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    // HAProxy indexes the subject's CN besides the DNS names.
    for cn in cert.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            let s = s.to_ascii_lowercase();
            if !names.contains(&s) {
                names.push(s);
            }
        }
    }
    Ok((names, cert.validity().not_after.timestamp()))
}

/// An ISO date (`2026-12-04`) of Unix seconds.
fn utc_date(secs: i64) -> String {
    let (y, m, d, ..) = crate::civil::civil(secs);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The C library's wording of an I/O error (`No such file or directory`), as HAProxy prints.
pub(crate) fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

/// A CA file (`ca-file`): every certificate in it.
pub(crate) fn load_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| {
        format!(
            "Couldn't open the ca-file '{}' ({}).",
            path.display(),
            strerror(&e)
        )
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(format!("unable to load {}", path.display()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_errors() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_796_398_436), "2026-12-04");
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(strerror(&e), "No such file or directory");
        let missing = load_crt(Path::new("/nonexistent/x.pem")).unwrap_err();
        assert_eq!(
            missing,
            "unable to stat SSL certificate from file '/nonexistent/x.pem' : No such file or directory."
        );
    }

    #[test]
    fn garbage_files_are_refused_without_panic() {
        let dir = std::env::temp_dir().join(format!("ravelin-certs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("junk.pem");
        for junk in [
            &b""[..],
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
            b"\x00\xff\x10garbage",
        ] {
            std::fs::write(&f, junk).unwrap();
            assert!(load_file(&f).is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
