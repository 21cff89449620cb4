//! TLS keywords of `bind` lines and the global `ssl-default-bind-*` settings, into
//! [`crate::tls::BindOpts`]. Certificates and CA files are read here, so their problems are
//! reported with the line that names them, in HAProxy's words.

use std::path::Path;

use crate::tls::{BindOpts, TlsVersion, Verify};

/// What one keyword did: the words it used (keyword included), or HAProxy's message.
pub(crate) type Used = Result<usize, String>;

/// One TLS keyword of a `bind` line or of `ssl-default-bind-options` at `kw` with its
/// argument `arg`. `None`: not a TLS keyword.
pub(crate) fn bind_keyword(opts: &mut BindOpts, kw: &str, arg: Option<&str>) -> Option<Used> {
    let need = |what: &str| -> Result<&str, String> {
        arg.ok_or_else(|| format!("'{kw}' : missing {what}"))
    };
    let r = match kw {
        "ssl" => {
            opts.ssl = true;
            Ok(1)
        }
        "crt" => need("certificate location").and_then(|p| {
            let mut certs = crate::tls::certs::load_crt(Path::new(p))?;
            opts.certs.append(&mut certs);
            Ok(2)
        }),
        "crt-list" => need("certificate list location").and_then(|p| {
            let mut certs = crt_list(Path::new(p))?;
            opts.certs.append(&mut certs);
            Ok(2)
        }),
        "alpn" => match arg {
            Some(a) if !a.is_empty() => {
                opts.alpn = Some(
                    a.split(',')
                        .filter(|p| !p.is_empty())
                        .map(|p| p.as_bytes().to_vec())
                        .collect(),
                );
                Ok(2)
            }
            _ => Err("'alpn' : missing the comma-delimited ALPN protocol suite".into()),
        },
        "ssl-min-ver" | "ssl-max-ver" => need("the version").and_then(|v| {
            let ver =
                TlsVersion::parse(v).ok_or_else(|| format!("'{v}' : unknown ssl/tls version"))?;
            if kw == "ssl-min-ver" {
                opts.min_ver = Some(ver);
            } else {
                opts.max_ver = Some(ver);
            }
            Ok(2)
        }),
        "ciphers" => need("cipher suite").map(|c| {
            opts.ciphers = Some(c.to_string());
            2
        }),
        "ciphersuites" => need("cipher suite").map(|c| {
            opts.ciphersuites = Some(c.to_string());
            2
        }),
        "curves" => need("curve suite").map(|c| {
            opts.curves = Some(c.to_string());
            2
        }),
        "verify" => match arg {
            Some("none") => {
                opts.verify = Some(Verify::None);
                Ok(2)
            }
            Some("optional") => {
                opts.verify = Some(Verify::Optional);
                Ok(2)
            }
            Some("required") => {
                opts.verify = Some(Verify::Required);
                Ok(2)
            }
            Some(other) => Err(format!(
                "'verify' : unknown verify method '{other}', only 'none', 'optional', and 'required' are supported"
            )),
            None => Err("'verify' : missing verify method".into()),
        },
        "ca-file" => need("CAfile path").and_then(|p| {
            let certs = crate::tls::certs::load_ca(Path::new(p))
                .map_err(|e| format!("{e}\n'ca-file' : unable to load {p}"))?;
            opts.ca_file = Some((p.into(), certs));
            Ok(2)
        }),
        "no-tls-tickets" => {
            opts.no_tls_tickets = true;
            Ok(1)
        }
        "strict-sni" => {
            opts.strict_sni = true;
            Ok(1)
        }
        // Versions rustls never speaks: nothing to disable.
        "no-sslv3" | "no-tlsv10" | "no-tlsv11" => Ok(1),
        "prefer-client-ciphers" => {
            opts.prefer_client_ciphers = true;
            Ok(1)
        }
        "no-tlsv12" => {
            opts.min_ver = Some(TlsVersion::Tls13);
            Ok(1)
        }
        "no-tlsv13" => {
            opts.max_ver = Some(TlsVersion::Tls12);
            Ok(1)
        }
        "force-tlsv12" | "force-tlsv13" => {
            let v = if kw == "force-tlsv12" {
                TlsVersion::Tls12
            } else {
                TlsVersion::Tls13
            };
            opts.min_ver = Some(v);
            opts.max_ver = Some(v);
            Ok(1)
        }
        _ => return None,
    };
    Some(r)
}

/// `crt-list FILE`: one certificate per line, `PATH [SNI filters...]` (`#` comments). The
/// filters replace the names taken from the certificate; `!name` excludes a name. Per-line
/// options in brackets are not supported yet.
pub(crate) fn crt_list(path: &Path) -> Result<Vec<crate::tls::LoadedCert>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "'crt-list' : unable to open file '{}' : {}.",
            path.display(),
            crate::tls::certs::strerror(&e)
        )
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.contains('[') {
            return Err(format!(
                "'crt-list' : per-certificate options ('[...]') at line {} of '{}' are not supported yet by Ravelin.",
                n + 1,
                path.display()
            ));
        }
        let mut words = line.split_whitespace();
        let Some(file) = words.next() else { continue };
        let mut cert = crate::tls::certs::load_file(Path::new(file))?;
        let filters: Vec<&str> = words.collect();
        let (exclude, include): (Vec<&str>, Vec<&str>) =
            filters.iter().partition(|f| f.starts_with('!'));
        if !include.is_empty() {
            cert.names = include.iter().map(|f| f.to_ascii_lowercase()).collect();
        }
        cert.names.retain(|name| {
            !exclude
                .iter()
                .any(|x| x.get(1..).is_some_and(|x| x.eq_ignore_ascii_case(name)))
        });
        out.push(cert);
    }
    Ok(out)
}

/// `ssl-default-bind-options opt...` (global).
pub(crate) fn default_bind_options(opts: &mut BindOpts, words: &[String]) -> Result<(), String> {
    let mut i = 1;
    while let Some(kw) = words.get(i).map(String::as_str) {
        let arg = words.get(i + 1).map(String::as_str);
        let allowed = matches!(
            kw,
            "ssl-min-ver"
                | "ssl-max-ver"
                | "no-tls-tickets"
                | "no-sslv3"
                | "no-tlsv10"
                | "no-tlsv11"
                | "no-tlsv12"
                | "no-tlsv13"
                | "force-tlsv12"
                | "force-tlsv13"
                | "prefer-client-ciphers"
                | "strict-sni"
        );
        if !allowed {
            return Err(format!(
                "unknown option '{kw}' on global statement 'ssl-default-bind-options'."
            ));
        }
        match bind_keyword(opts, kw, arg) {
            Some(Ok(used)) => i += used,
            Some(Err(e)) => return Err(e),
            None => {
                return Err(format!(
                    "unknown option '{kw}' on global statement 'ssl-default-bind-options'."
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_messages() {
        let mut o = BindOpts::default();
        assert_eq!(bind_keyword(&mut o, "ssl", None), Some(Ok(1)));
        assert!(o.ssl);
        assert_eq!(
            bind_keyword(&mut o, "alpn", None),
            Some(Err(
                "'alpn' : missing the comma-delimited ALPN protocol suite".into()
            ))
        );
        assert_eq!(
            bind_keyword(&mut o, "alpn", Some("h2,http/1.1")),
            Some(Ok(2))
        );
        assert_eq!(o.alpn.as_ref().map(Vec::len), Some(2));
        assert_eq!(
            bind_keyword(&mut o, "ssl-min-ver", Some("TLSv1.9")),
            Some(Err("'TLSv1.9' : unknown ssl/tls version".into()))
        );
        assert_eq!(bind_keyword(&mut o, "force-tlsv13", None), Some(Ok(1)));
        assert_eq!(o.min_ver, Some(TlsVersion::Tls13));
        assert_eq!(bind_keyword(&mut o, "name", Some("x")), None);
        let e = bind_keyword(&mut o, "crt", Some("/nonexistent.pem"))
            .unwrap()
            .unwrap_err();
        assert!(
            e.starts_with("unable to stat SSL certificate from file"),
            "{e}"
        );
        let mut d = BindOpts::default();
        let w: Vec<String> = [
            "ssl-default-bind-options",
            "ssl-min-ver",
            "TLSv1.2",
            "no-tls-tickets",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert!(default_bind_options(&mut d, &w).is_ok());
        assert!(d.no_tls_tickets && d.min_ver == Some(TlsVersion::Tls12));
    }
}
