//! Custom error pages: `errorfile CODE FILE`, `http-error status N ...`, `errorfiles NAME
//! [CODE...]` in proxies, and `http-errors NAME` sections. Files are read at load time; each
//! page is stored as the raw HTTP response to send. Directives apply in order (a later one
//! replaces an earlier one for the same code), `errorfiles` being resolved once every
//! `http-errors` section is known, as HAProxy does in its post-parsing step.

use std::sync::Arc;

use crate::config::error::{ConfigError, Diagnostics, Head, Severity, Span};
use crate::config::rules::{ERROR_CODES, check_reply};

use crate::http::errors;
use crate::model::ErrorPages;
use crate::rules::{ReplyBody, ReturnSpec};

/// HAProxy truncates error files to `tune.bufsize` (default 16384).
pub(crate) const MAX_ERRORFILE: usize = 16384;

/// One error-page directive of a proxy, in order.
#[derive(Clone, Debug)]
pub(crate) enum ErrorDirective {
    Page(u16, Arc<[u8]>),
    /// `errorfiles NAME [CODE...]` (empty codes: every code of the section).
    Section {
        name: String,
        codes: Vec<u16>,
        span: Span,
    },
}

/// An `http-errors` section.
#[derive(Clone, Debug, Default)]
pub(crate) struct HttpErrorsConf {
    pub(crate) name: String,
    pub(crate) span: Span,
    pub(crate) pages: ErrorPages,
}

/// HAProxy reads the code with `atol()`: leading digits, else 0.
fn atol(s: &str) -> u16 {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// Reads and checks an error file; `Err` is HAProxy's message after `errorfile : `.
pub(crate) fn load_errorfile(path: &str, d: &mut Diagnostics) -> Result<Arc<[u8]>, String> {
    let mut bytes = std::fs::read(path).map_err(|_| format!("error opening file '{path}'."))?;
    if bytes.len() > MAX_ERRORFILE {
        d.push(ConfigError::bare_warning(format!(
            "custom error message file '{path}' larger than {MAX_ERRORFILE} bytes. Truncating."
        )));
        bytes.truncate(MAX_ERRORFILE);
    }
    if !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 101];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&bytes) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) | Err(_) => {
                return Err(format!(
                    "'{path}': unable to parse headers (error offset: 0)"
                ));
            }
        }
    }
    Ok(Arc::from(bytes))
}

/// `errorfile CODE FILE` in a proxy or an `http-errors` section; `Some((code, page))` when valid.
pub(crate) fn parse_errorfile(
    words: &[String],
    in_section: bool,
    span: &Span,
    d: &mut Diagnostics,
) -> Option<(u16, Arc<[u8]>)> {
    let (Some(code), Some(file)) = (words.get(1), words.get(2)) else {
        let sep = if in_section { ":" } else { " :" };
        d.alert(
            span,
            format!("errorfile{sep} expects <status_code> and <file> as arguments."),
        );
        return None;
    };
    let code = atol(code);
    if !ERROR_CODES.contains(&code) {
        d.alert(
            span,
            format!("errorfile : status code '{code}' not handled."),
        );
        return None;
    }
    match load_errorfile(file, d) {
        Ok(page) => Some((code, page)),
        Err(e) => {
            d.alert(span, format!("errorfile : {e}"));
            None
        }
    }
}

/// `errorfiles NAME [CODE...]`.
pub(crate) fn parse_errorfiles(
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) -> Option<ErrorDirective> {
    let Some(name) = words.get(1) else {
        d.alert(span, "errorfiles : expects <name> as argument.");
        return None;
    };
    let mut codes = Vec::new();
    for w in words.get(2..).unwrap_or_default() {
        let c = atol(w);
        if !ERROR_CODES.contains(&c) {
            d.alert(span, format!("errorfiles : status code '{c}' not handled."));
            return None;
        }
        codes.push(c);
    }
    Some(ErrorDirective::Section {
        name: name.clone(),
        codes,
        span: span.clone(),
    })
}

/// `http-error status N [content-type T] [string S|file F|errorfile F] [hdr N V]...`.
pub(crate) fn parse_http_error(
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) -> Option<(u16, Arc<[u8]>)> {
    let err = |d: &mut Diagnostics, m: String| d.alert(span, format!("http-error : {m}"));
    if words.len() < 2 {
        err(d, "expects at least a <status> as arguments.\n".into());
        return None;
    }
    let mut r = ReturnSpec {
        status: 0,
        content_type: None,
        body: ReplyBody::Empty,
        headers: Vec::new(),
    };
    let mut i = 1;
    while let Some(w) = words.get(i) {
        let next = words.get(i + 1);
        match w.as_str() {
            "status" => {
                let Some(v) = next else {
                    err(d, "'status' expects <status_code> as argument".into());
                    return None;
                };
                match v.parse::<u16>().ok().filter(|c| (200..=599).contains(c)) {
                    Some(c) if ERROR_CODES.contains(&c) => r.status = c,
                    Some(c) => {
                        d.alert(span, format!("http-error: status code '{c}' not handled."));
                        return None;
                    }
                    None => {
                        err(d, format!("Unexpected status code '{v}'"));
                        return None;
                    }
                }
            }
            "content-type" | "string" | "file" | "errorfile" => {
                let Some(v) = next else {
                    err(
                        d,
                        format!(
                            "'{w}' expects <{}> as argument",
                            if w == "content-type" {
                                "type"
                            } else if w == "string" {
                                "str"
                            } else {
                                "file"
                            }
                        ),
                    );
                    return None;
                };
                match w.as_str() {
                    "content-type" => r.content_type = Some(v.clone()),
                    "string" => r.body = ReplyBody::Payload(Arc::from(v.as_bytes())),
                    _ => match std::fs::read(v) {
                        Ok(b) if w == "file" => r.body = ReplyBody::Payload(Arc::from(b)),
                        Ok(_) => match load_errorfile(v, d) {
                            Ok(page) => r.body = ReplyBody::Raw(page),
                            Err(e) => {
                                err(d, e);
                                return None;
                            }
                        },
                        Err(_) => {
                            err(d, format!("error opening file '{v}'"));
                            return None;
                        }
                    },
                }
            }
            "hdr" => {
                let (Some(n), Some(v)) = (next, words.get(i + 2)) else {
                    err(d, "'hdr' expects <name> and <value> as arguments".into());
                    return None;
                };
                r.headers.push((n.clone(), v.clone()));
                i += 1;
            }
            "lf-string" | "lf-file" => {
                if r.content_type.is_none() {
                    err(
                        d,
                        "a content type must be defined with a log-format payload".into(),
                    );
                } else {
                    err(
                        d,
                        format!("'{w}' is a HAProxy option that Ravelin does not support yet"),
                    );
                }
                return None;
            }
            x => {
                err(d, format!("unknown keyword '{x}'."));
                return None;
            }
        }
        i += 2;
    }
    if r.status == 0 {
        err(d, "expects at least a <status> as arguments.\n".into());
        return None;
    }
    if let Err(e) = check_reply(&mut r, "-", span, d) {
        err(d, e);
        return None;
    }
    Some((r.status, render_reply(&r)))
}

/// A reply as a raw HTTP/1.1 response (an `errorfile` body is sent as it is).
pub(crate) fn render_reply(r: &ReturnSpec) -> Arc<[u8]> {
    if let ReplyBody::Raw(raw) = &r.body {
        return raw.clone();
    }
    let body: &[u8] = match &r.body {
        ReplyBody::Payload(b) => b,
        ReplyBody::Empty | ReplyBody::Raw(_) => &[],
    };
    let mut out = format!("HTTP/1.1 {} {}\r\n", r.status, errors::reason(r.status)).into_bytes();
    if let Some(ct) = &r.content_type {
        out.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
    }
    for (n, v) in &r.headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    Arc::from(out)
}

/// Resolves a proxy's directives into its page table; `sections` are every `http-errors`
/// section. Unknown sections are HAProxy's post-parsing alert.
pub(crate) fn resolve(
    proxy: &str,
    directives: &[ErrorDirective],
    sections: &[HttpErrorsConf],
    d: &mut Diagnostics,
) -> ErrorPages {
    let mut pages = ErrorPages::default();
    for dir in directives {
        match dir {
            ErrorDirective::Page(code, page) => pages.set(*code, page.clone()),
            ErrorDirective::Section { name, codes, span } => {
                let Some(sec) = sections.iter().find(|s| &s.name == name) else {
                    d.push(ConfigError::bare_alert(format!(
                        "proxy '{proxy}': unknown http-errors section '{name}' (at {}:{}).",
                        span.file, span.line
                    )));
                    continue;
                };
                if codes.is_empty() {
                    for (c, p) in &sec.pages.pages {
                        pages.set(*c, p.clone());
                    }
                }
                for c in codes {
                    match sec.pages.get(*c) {
                        Some(p) => pages.set(*c, p.clone()),
                        None => d.push(ConfigError::with_head(
                            Severity::Warning,
                            Head::Bare,
                            span,
                            format!(
                                "proxy '{proxy}': status '{c}' not declared in http-errors section '{name}' (at {}:{}).",
                                span.file, span.line
                            ),
                        )),
                    }
                }
            }
        }
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn tmp(name: &str, bytes: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!("ravelin-errors-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join(name);
        let _ = std::fs::write(&p, bytes);
        p.display().to_string()
    }

    fn msgs(d: Diagnostics) -> Vec<String> {
        d.items.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn errorfile_rules_match_haproxy() {
        let ok = tmp(
            "ok.http",
            b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/html\r\n\r\n<h1>down</h1>\n",
        );
        let bad = tmp("bad.http", b"garbage\n");
        let empty = tmp("empty.http", b"");
        let s = Span::new("t.cfg", 9);
        let mut d = Diagnostics::default();
        assert!(parse_errorfile(&w(&format!("errorfile 503 {ok}")), false, &s, &mut d).is_some());
        assert!(parse_errorfile(&w(&format!("errorfile 200 {ok}")), false, &s, &mut d).is_some());
        assert!(
            parse_errorfile(&w(&format!("errorfile 503 {empty}")), false, &s, &mut d).is_some()
        );
        assert!(d.items.is_empty());
        assert!(parse_errorfile(&w("errorfile 503"), false, &s, &mut d).is_none());
        assert!(parse_errorfile(&w(&format!("errorfile 999 {ok}")), false, &s, &mut d).is_none());
        assert!(parse_errorfile(&w(&format!("errorfile abc {ok}")), false, &s, &mut d).is_none());
        assert!(parse_errorfile(&w("errorfile 503 /nonexist"), false, &s, &mut d).is_none());
        assert!(parse_errorfile(&w(&format!("errorfile 503 {bad}")), false, &s, &mut d).is_none());
        assert!(parse_errorfile(&w("errorfile"), true, &s, &mut d).is_none());
        assert_eq!(
            msgs(d),
            vec![
                "parsing [t.cfg:9] : errorfile : expects <status_code> and <file> as arguments."
                    .to_string(),
                "parsing [t.cfg:9] : errorfile : status code '999' not handled.".into(),
                "parsing [t.cfg:9] : errorfile : status code '0' not handled.".into(),
                "parsing [t.cfg:9] : errorfile : error opening file '/nonexist'.".into(),
                format!(
                    "parsing [t.cfg:9] : errorfile : '{bad}': unable to parse headers (error offset: 0)"
                ),
                "parsing [t.cfg:9] : errorfile: expects <status_code> and <file> as arguments."
                    .into(),
            ]
        );
        let big = tmp("big.http", &[b'a'; 20000]);
        let mut d = Diagnostics::default();
        assert!(parse_errorfile(&w(&format!("errorfile 503 {big}")), false, &s, &mut d).is_none());
        assert_eq!(
            msgs(d).first().cloned().unwrap_or_default(),
            format!("custom error message file '{big}' larger than 16384 bytes. Truncating.")
        );
    }

    #[test]
    fn http_error_builds_a_response() {
        let s = Span::new("t.cfg", 9);
        let mut d = Diagnostics::default();
        let page = parse_http_error(
            &w("http-error status 503 content-type text/plain string down hdr X-A b"),
            &s,
            &mut d,
        );
        assert_eq!(
            page.as_ref().map(|(_, p)| &p[..]),
            Some(&b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nX-A: b\r\ncontent-length: 4\r\n\r\ndown"[..])
        );
        assert!(parse_http_error(&w("http-error status 418"), &s, &mut d).is_none());
        assert!(parse_http_error(&w("http-error status 999"), &s, &mut d).is_none());
        assert!(parse_http_error(&w("http-error status 503 string down"), &s, &mut d).is_none());
        assert!(parse_http_error(&w("http-error status 503 foo"), &s, &mut d).is_none());
        assert!(parse_http_error(&w("http-error status"), &s, &mut d).is_none());
        assert_eq!(
            msgs(d),
            vec![
                "parsing [t.cfg:9] : http-error: status code '418' not handled.".to_string(),
                "parsing [t.cfg:9] : http-error : Unexpected status code '999'".into(),
                "parsing [t.cfg:9] : http-error : a content type must be defined when non-empty payload is configured".into(),
                "parsing [t.cfg:9] : http-error : unknown keyword 'foo'.".into(),
                "parsing [t.cfg:9] : http-error : 'status' expects <status_code> as argument".into(),
            ]
        );
    }

    #[test]
    fn http_error_status_lines_use_http_get_reason() {
        // Checked against haproxy 2.6.12: `http-error status 502|413 ...` answers with
        // http_get_reason()'s phrase, as `http-request return` does.
        let s = Span::new("t.cfg", 9);
        let mut d = Diagnostics::default();
        for (status, line) in [
            (502, "HTTP/1.1 502 Bad Gateway or Proxy Error\r\n"),
            (413, "HTTP/1.1 413 Request Entity Too Large\r\n"),
        ] {
            let cmd = format!("http-error status {status} content-type text/plain string x");
            let page = parse_http_error(&w(&cmd), &s, &mut d);
            assert!(
                page.as_ref()
                    .is_some_and(|(_, p)| p.starts_with(line.as_bytes())),
                "{status}"
            );
        }
    }

    #[test]
    fn sections_resolve_in_order() {
        let mut sec = HttpErrorsConf {
            name: "he".into(),
            ..Default::default()
        };
        sec.pages.set(503, Arc::from(&b"A"[..]));
        sec.pages.set(404, Arc::from(&b"B"[..]));
        let s = Span::new("t.cfg", 4);
        let dirs = vec![
            ErrorDirective::Page(503, Arc::from(&b"X"[..])),
            ErrorDirective::Section {
                name: "he".into(),
                codes: vec![404],
                span: s.clone(),
            },
            ErrorDirective::Section {
                name: "nope".into(),
                codes: vec![],
                span: s.clone(),
            },
        ];
        let mut d = Diagnostics::default();
        let pages = resolve("fe", &dirs, &[sec], &mut d);
        assert_eq!(pages.get(503).map(|p| &p[..]), Some(&b"X"[..]));
        assert_eq!(pages.get(404).map(|p| &p[..]), Some(&b"B"[..]));
        assert_eq!(
            msgs(d),
            vec!["proxy 'fe': unknown http-errors section 'nope' (at t.cfg:4).".to_string()]
        );
    }
}
