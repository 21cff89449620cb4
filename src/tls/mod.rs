//! TLS at the edge with rustls (aws-lc-rs provider): what a `bind ... ssl crt ...` line asks for ([`BindOpts`],
//! parsed with the configuration), the rustls `ServerConfig` built from it once at start
//! ([`build_bind`]), certificate choice by SNI ([`SniResolver`]), and the connection side
//! that is "TLS over a socket" ([`stream::TlsSock`], used through `crate::net::Sock`). The
//! HTTP layer never sees TLS records: a kernel-TLS path could replace `TlsSock` alone.

pub mod certs;
pub mod stream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

pub(crate) use certs::LoadedCert;

/// `ssl-min-ver` / `ssl-max-ver` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TlsVersion {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    pub(crate) fn parse(s: &str) -> Option<TlsVersion> {
        Some(match s {
            "SSLv3" => TlsVersion::Ssl3,
            "TLSv1.0" => TlsVersion::Tls10,
            "TLSv1.1" => TlsVersion::Tls11,
            "TLSv1.2" => TlsVersion::Tls12,
            "TLSv1.3" => TlsVersion::Tls13,
            _ => return None,
        })
    }
}

/// `verify none|optional|required` (client certificates).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Verify {
    #[default]
    None,
    Optional,
    Required,
}

/// The TLS settings of a `bind` line (or the global `ssl-default-bind-*` defaults), as
/// parsed. Certificates are loaded while parsing so their errors carry the line.
#[derive(Clone, Debug, Default)]
pub(crate) struct BindOpts {
    pub(crate) ssl: bool,
    pub(crate) certs: Vec<LoadedCert>,
    pub(crate) alpn: Option<Vec<Vec<u8>>>,
    pub(crate) min_ver: Option<TlsVersion>,
    pub(crate) max_ver: Option<TlsVersion>,
    /// `ciphers` (TLS 1.2 and below, OpenSSL names `:`-separated).
    pub(crate) ciphers: Option<String>,
    /// `ciphersuites` (TLS 1.3).
    pub(crate) ciphersuites: Option<String>,
    pub(crate) curves: Option<String>,
    pub(crate) verify: Option<Verify>,
    pub(crate) ca_file: Option<(PathBuf, Vec<rustls::pki_types::CertificateDer<'static>>)>,
    pub(crate) no_tls_tickets: bool,
    /// `strict-sni`: no certificate for the client's SNI (or no SNI) refuses the handshake.
    pub(crate) strict_sni: bool,
    /// `tune.ssl.cachesize` (global, sessions): `Some(0)` turns stateful resumption off.
    pub(crate) cachesize: Option<u32>,
    /// `prefer-client-ciphers`: the client's cipher order wins (HAProxy: the server's).
    pub(crate) prefer_client_ciphers: bool,
}

impl BindOpts {
    /// This line's settings over the global defaults (`ssl-default-bind-*`).
    pub(crate) fn over(&self, defaults: &BindOpts) -> BindOpts {
        BindOpts {
            ssl: self.ssl,
            certs: self.certs.clone(),
            alpn: self.alpn.clone(),
            min_ver: self.min_ver.or(defaults.min_ver),
            max_ver: self.max_ver.or(defaults.max_ver),
            ciphers: self.ciphers.clone().or_else(|| defaults.ciphers.clone()),
            ciphersuites: self
                .ciphersuites
                .clone()
                .or_else(|| defaults.ciphersuites.clone()),
            curves: self.curves.clone().or_else(|| defaults.curves.clone()),
            verify: self.verify.or(defaults.verify),
            ca_file: self.ca_file.clone(),
            no_tls_tickets: self.no_tls_tickets || defaults.no_tls_tickets,
            strict_sni: self.strict_sni || defaults.strict_sni,
            cachesize: self.cachesize.or(defaults.cachesize),
            prefer_client_ciphers: self.prefer_client_ciphers || defaults.prefer_client_ciphers,
        }
    }
}

/// A `bind`'s TLS, ready to accept with.
#[derive(Clone, Debug)]
pub(crate) struct BindTls {
    pub(crate) config: Arc<rustls::ServerConfig>,
    /// The certificates it serves (`set ssl cert` + `commit ssl cert` replace one).
    pub(crate) resolver: Arc<SniResolver>,
}

/// OpenSSL TLS 1.2 cipher names Ravelin (rustls) has, with rustls' suite names.
const TLS12_NAMES: [(&str, &str); 6] = [
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// Which of `names` (`:`-separated) the provider has: rustls suite names for `ciphersuites`,
/// OpenSSL names for `ciphers`. Exclusions (`!x`, `-x`) and OpenSSL aliases (`HIGH`, ...)
/// select nothing by themselves. `None`: nothing in the list is known.
fn pick_suites(
    all: &[rustls::SupportedCipherSuite],
    list: &str,
    tls13: bool,
) -> Option<Vec<rustls::SupportedCipherSuite>> {
    let mut out = Vec::new();
    for name in list.split(':').map(str::trim).filter(|n| !n.is_empty()) {
        // rustls names TLS 1.3 suites `TLS13_...` where OpenSSL says `TLS_...`.
        let tls13_name;
        let want = if tls13 {
            tls13_name = format!("TLS13_{}", name.strip_prefix("TLS_").unwrap_or(name));
            Some(tls13_name.as_str())
        } else {
            TLS12_NAMES
                .iter()
                .find(|(o, _)| *o == name)
                .map(|(_, r)| *r)
        };
        let Some(want) = want else { continue };
        for s in all {
            let is13 = matches!(s, rustls::SupportedCipherSuite::Tls13(_));
            if is13 == tls13 && format!("{:?}", s.suite()) == want && !out.contains(s) {
                out.push(*s);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `curves X25519:P-256:...` to the provider's key-exchange groups.
fn pick_groups(
    all: &[&'static dyn rustls::crypto::SupportedKxGroup],
    list: &str,
) -> Option<Vec<&'static dyn rustls::crypto::SupportedKxGroup>> {
    use rustls::NamedGroup;
    let mut out: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
    for name in list.split(':').map(str::trim) {
        let g = match name {
            "X25519" | "x25519" => NamedGroup::X25519,
            "P-256" | "prime256v1" | "secp256r1" => NamedGroup::secp256r1,
            "P-384" | "secp384r1" => NamedGroup::secp384r1,
            _ => return None,
        };
        if let Some(k) = all.iter().find(|k| k.name() == g) {
            out.push(*k);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Builds a bind's rustls configuration. `who` is HAProxy's `Proxy 'f': ... for bind 'ADDR'
/// at [FILE:LINE]` tail for the messages: `(proxy, bind, at)`.
pub(crate) fn build_bind(opts: &BindOpts, who: (&str, &str, &str)) -> Result<BindTls, String> {
    let (proxy, bind, at) = who;
    let base = rustls::crypto::aws_lc_rs::default_provider();
    let mut provider = CryptoProvider {
        cipher_suites: base.cipher_suites.clone(),
        kx_groups: base.kx_groups.clone(),
        ..base
    };
    let (mut s12, mut s13): (Vec<_>, Vec<_>) = provider
        .cipher_suites
        .iter()
        .partition(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)));
    if let Some(list) = &opts.ciphers {
        s12 = pick_suites(&provider.cipher_suites, list, false).ok_or_else(|| {
            format!("Proxy '{proxy}': unable to set SSL cipher list to '{list}' for bind '{bind}' at [{at}].")
        })?;
    }
    if let Some(list) = &opts.ciphersuites {
        s13 = pick_suites(&provider.cipher_suites, list, true).ok_or_else(|| {
            format!("Proxy '{proxy}': unable to set TLS 1.3 cipher suites to '{list}' for bind '{bind}' at [{at}].")
        })?;
    }
    provider.cipher_suites = s13.into_iter().chain(s12).collect();
    if let Some(list) = &opts.curves {
        provider.kx_groups = pick_groups(&provider.kx_groups, list).ok_or_else(|| {
            format!("Proxy '{proxy}': unable to set SSL curves list to '{list}' for bind '{bind}' at [{at}].")
        })?;
    }
    let min = opts.min_ver.unwrap_or(TlsVersion::Tls12);
    let max = opts.max_ver.unwrap_or(TlsVersion::Tls13);
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        return Err(format!(
            "Proxy '{proxy}': no TLS version Ravelin supports (TLSv1.2, TLSv1.3) is enabled for bind '{bind}' at [{at}]."
        ));
    }
    let provider = Arc::new(provider);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| {
            format!("Proxy '{proxy}': unable to set up TLS for bind '{bind}' at [{at}]: {e}.")
        })?;
    let verify = opts.verify.unwrap_or_default();
    let builder = match (verify, &opts.ca_file) {
        (Verify::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(format!(
                "Proxy '{proxy}': verify is enabled but no CA file specified for bind '{bind}' at [{at}]."
            ));
        }
        (v, Some((path, cas))) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in cas {
                roots
                    .add(c.clone())
                    .map_err(|_| format!("'ca-file' : unable to load {}", path.display()))?;
            }
            let vb = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let vb = if v == Verify::Optional {
                vb.allow_unauthenticated()
            } else {
                vb
            };
            let verifier = vb.build().map_err(|e| {
                format!(
                    "Proxy '{proxy}': unable to use the ca-file for bind '{bind}' at [{at}]: {e}."
                )
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let resolver = Arc::new(SniResolver::new(&opts.certs, opts.strict_sni).ok_or_else(|| {
        format!(
            "Proxy '{proxy}': no SSL certificate specified for bind '{bind}' at [{at}] (use 'crt')."
        )
    })?);
    let mut config = builder.with_cert_resolver(resolver.clone());
    // HAProxy (OpenSSL's SSL_OP_CIPHER_SERVER_PREFERENCE): the server's order wins.
    config.ignore_client_order = !opts.prefer_client_ciphers;
    // HTTP/2 does not exist yet: only http/1.1 is ever negotiated (a client offering h2
    // alone is refused in the handshake, cleanly).
    config.alpn_protocols = opts
        .alpn
        .iter()
        .flatten()
        .filter(|p| p.as_slice() != b"h2")
        .cloned()
        .collect();
    // HAProxy's default session cache size (`tune.ssl.cachesize`, 20000); 0 turns the cache
    // off, so without tickets nothing resumes.
    match opts.cachesize.unwrap_or(20_000) {
        0 => {
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            if opts.no_tls_tickets {
                config.send_tls13_tickets = 0;
            }
        }
        n => {
            config.session_storage =
                rustls::server::ServerSessionMemoryCache::new(usize::try_from(n).unwrap_or(20_000));
        }
    }
    if !opts.no_tls_tickets {
        config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| {
            format!(
                "Proxy '{proxy}': unable to set up TLS tickets for bind '{bind}' at [{at}]: {e}."
            )
        })?;
    }
    Ok(BindTls {
        config: Arc::new(config),
        resolver,
    })
}

/// Certificate choice by SNI, as HAProxy: an exact name first, then a `*.domain` wildcard,
/// else the first certificate of the line (the default). Among certificates for the same
/// name (an ECDSA and an RSA one), the first whose key the client can verify. The set can be
/// replaced at run time (`commit ssl cert`): handshakes read it through a lock held only to
/// clone an `Arc` (once per handshake, never per request).
#[derive(Debug)]
pub(crate) struct SniResolver {
    state: std::sync::RwLock<Arc<SniSet>>,
    /// `strict-sni`: no default certificate.
    strict: bool,
}

/// One version of a resolver's certificates and its name maps.
#[derive(Debug)]
struct SniSet {
    certs: Vec<LoadedCert>,
    exact: HashMap<String, Vec<usize>>,
    /// `*.example.com` filed under `example.com`.
    wild: HashMap<String, Vec<usize>>,
}

impl SniSet {
    fn new(certs: Vec<LoadedCert>) -> SniSet {
        let mut s = SniSet {
            certs,
            exact: HashMap::new(),
            wild: HashMap::new(),
        };
        for (i, c) in s.certs.iter().enumerate() {
            for n in &c.names {
                match n.strip_prefix("*.") {
                    Some(rest) => s.wild.entry(rest.to_string()).or_default().push(i),
                    None => s.exact.entry(n.clone()).or_default().push(i),
                }
            }
        }
        s
    }
}

impl SniResolver {
    /// `None` without any certificate.
    pub(crate) fn new(certs: &[LoadedCert], strict: bool) -> Option<SniResolver> {
        if certs.is_empty() {
            return None;
        }
        Some(SniResolver {
            state: std::sync::RwLock::new(Arc::new(SniSet::new(certs.to_vec()))),
            strict,
        })
    }

    fn set(&self) -> Arc<SniSet> {
        match self.state.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Whether a certificate of this set was loaded from `path` (as written in the config).
    pub(crate) fn serves(&self, path: &std::path::Path) -> bool {
        self.set().certs.iter().any(|c| c.path == path)
    }

    /// `commit ssl cert`: the certificate loaded from `path` is replaced by `cert` for the
    /// handshakes that start from now on. False if none came from `path`.
    pub(crate) fn replace(&self, path: &std::path::Path, cert: &LoadedCert) -> bool {
        let old = self.set();
        if !old.certs.iter().any(|c| c.path == path) {
            return false;
        }
        let certs = old
            .certs
            .iter()
            .map(|c| {
                if c.path == path {
                    LoadedCert {
                        path: c.path.clone(),
                        ..cert.clone()
                    }
                } else {
                    c.clone()
                }
            })
            .collect();
        let fresh = Arc::new(SniSet::new(certs));
        match self.state.write() {
            Ok(mut g) => *g = fresh,
            Err(p) => *p.into_inner() = fresh,
        }
        true
    }
}

fn choose_in(
    set: &SniSet,
    strict: bool,
    sni: Option<&str>,
    schemes: &[rustls::SignatureScheme],
) -> Option<usize> {
    let fits = |ids: &Vec<usize>| {
        ids.iter()
            .copied()
            .find(|&i| {
                set.certs
                    .get(i)
                    .is_some_and(|c| c.key.key.choose_scheme(schemes).is_some())
            })
            .or_else(|| ids.first().copied())
    };
    if let Some(name) = sni.map(str::to_ascii_lowercase) {
        if let Some(i) = set.exact.get(&name).and_then(fits) {
            return Some(i);
        }
        if let Some(i) = name
            .split_once('.')
            .and_then(|(_, rest)| set.wild.get(rest))
            .and_then(fits)
        {
            return Some(i);
        }
    }
    (!strict).then_some(0)
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let set = self.set();
        let i = choose_in(
            &set,
            self.strict,
            hello.server_name(),
            hello.signature_schemes(),
        )?;
        set.certs.get(i).map(|c| c.key.clone())
    }
}

/// A `server` line's TLS keywords as written (`ssl`, `verify`, `ca-file`, `sni str(X)`,
/// `crt`, `alpn`).
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerOpts {
    pub(crate) ssl: bool,
    pub(crate) verify: Option<Verify>,
    pub(crate) ca_file: Option<(PathBuf, Vec<rustls::pki_types::CertificateDer<'static>>)>,
    pub(crate) sni: Option<String>,
    pub(crate) crt: Option<LoadedCert>,
    pub(crate) alpn: Vec<Vec<u8>>,
}

/// A server's TLS, ready to connect with: the client configuration and the name sent as
/// SNI (none: the server's address, which rustls never sends as SNI).
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) sni: Option<rustls::pki_types::ServerName<'static>>,
}

impl ServerTls {
    /// The name a connection to `addr` presents and verifies.
    pub(crate) fn name_for(
        &self,
        addr: std::net::IpAddr,
    ) -> rustls::pki_types::ServerName<'static> {
        self.sni
            .clone()
            .unwrap_or_else(|| rustls::pki_types::ServerName::IpAddress(addr.into()))
    }
}

/// HAProxy's server-side verification: the chain against `ca-file` (`verify required`, the
/// default), the host name only when `sni` gives one; or nothing (`verify none`).
#[derive(Debug)]
struct ServerVerifier {
    /// `None`: `verify none`.
    inner: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Builds a server's TLS client configuration; the error is HAProxy's message.
pub(crate) fn build_server(opts: &ServerOpts) -> Result<ServerTls, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verify = opts.verify.unwrap_or(Verify::Required);
    let inner = match (verify, &opts.ca_file) {
        (Verify::None, _) => None,
        (_, None) => {
            return Err("verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.".into());
        }
        (_, Some((path, cas))) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in cas {
                roots
                    .add(c.clone())
                    .map_err(|_| format!("'ca-file' : unable to load {}.", path.display()))?;
            }
            Some(
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                )
                .build()
                .map_err(|e| format!("'ca-file' : unable to use {}: {e}.", path.display()))?,
            )
        }
    };
    let verifier = Arc::new(ServerVerifier {
        inner,
        check_name: opts.sni.is_some(),
        provider: provider.clone(),
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("unable to set up TLS: {e}."))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &opts.crt {
        Some(c) => builder.with_client_cert_resolver(Arc::new(
            rustls::sign::SingleCertAndKey::from(c.key.clone()),
        )),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = opts.alpn.clone();
    let sni = match &opts.sni {
        Some(n) => Some(
            rustls::pki_types::ServerName::try_from(n.clone())
                .map_err(|_| format!("'sni' : invalid server name '{n}'"))?,
        ),
        None => None,
    };
    Ok(ServerTls {
        config: Arc::new(config),
        sni,
    })
}

/// What the HTTP layer may ask of a TLS connection (`ssl_fc`, `ssl_fc_sni`,
/// `ssl_fc_protocol`, `ssl_fc_alpn`), read once the handshake is done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TlsInfo {
    pub(crate) sni: Option<Box<str>>,
    /// `TLSv1.2` / `TLSv1.3`.
    pub(crate) protocol: &'static str,
    pub(crate) alpn: Option<Box<[u8]>>,
    /// The session was resumed (ticket or session id).
    pub(crate) resumed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_haproxy() {
        assert_eq!(TlsVersion::parse("TLSv1.2"), Some(TlsVersion::Tls12));
        assert_eq!(TlsVersion::parse("TLSv1.9"), None);
        assert!(TlsVersion::Tls10 < TlsVersion::Tls13);
    }

    #[test]
    fn cipher_lists_select_known_suites() {
        let p = rustls::crypto::aws_lc_rs::default_provider();
        let s = pick_suites(
            &p.cipher_suites,
            "ECDHE-RSA-AES128-GCM-SHA256:!aNULL:HIGH",
            false,
        )
        .unwrap();
        assert_eq!(s.len(), 1);
        assert!(pick_suites(&p.cipher_suites, "FOO", false).is_none());
        let s = pick_suites(&p.cipher_suites, "TLS_AES_128_GCM_SHA256", true).unwrap();
        assert_eq!(s.len(), 1);
        assert!(pick_groups(&p.kx_groups, "X25519:P-256").is_some());
        assert!(pick_groups(&p.kx_groups, "FOO").is_none());
    }
}
