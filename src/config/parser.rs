//! Sections and proxy keywords: turns words into [`Parsed`], the configuration as written.
//!
//! Owns section headers (`global`, `defaults [NAME] [from X]`, `frontend`, `backend`,
//! `listen`), the inheritance of `defaults` (a proxy starts as a copy of the last defaults
//! section seen, or the one named with `from`; every defaults section starts clean unless it
//! has `from`), HAProxy's keyword matrix (section 4.1), and the proxy keywords of Ravelin's
//! dialect. `global` keywords live in `global.rs`, `server`/`bind` lines in `server.rs`;
//! cross-references (backend names, modes, duplicate checks that need every proxy) are the
//! build step's job. The parser never stops at an error: it reports it and skips the line.

use crate::config::balance as balance_kw;
use crate::config::check::{self as check_kw};
use crate::config::error::{
    ConfigError, Diagnostics, Head, Severity, Span, invalid_char, too_many, unsupported,
};
use crate::config::errors::{
    ErrorDirective, HttpErrorsConf, parse_errorfile, parse_errorfiles, parse_http_error,
};
use crate::config::global::{GlobalConf, parse_global};
use crate::config::http::{self as http_kw};
use crate::config::keywords::{self, did_you_mean};
use crate::config::lexer::split_line;
use crate::config::rules::{List, parse_rule_line, parse_use_backend};
use crate::config::server::{parse_bind_line, parse_default_server_line, parse_server_line};
use crate::config::units::{TimeError, parse_i64, parse_time, parse_u32};

pub(crate) use crate::config::proxy::{Kind, ProxyConf};
use crate::config::section::Section;
use crate::model::Mode;

/// Everything the parser produced, before cross-checks.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) global: GlobalConf,
    /// Frontends, backends and listens in declaration order.
    pub(crate) proxies: Vec<ProxyConf>,
    /// `http-errors` sections.
    pub(crate) http_errors: Vec<HttpErrorsConf>,
}

/// The section facts of proxy `p`, taken beside a mutable borrow of one of its parts.
macro_rules! section {
    ($p:expr) => {
        Section {
            kind: $p.kind,
            name: &$p.name,
            mode: $p.mode,
        }
    };
}

/// Where keywords currently go.
#[derive(Clone, Copy, Debug)]
enum Where {
    None,
    Global,
    Proxy(usize),
    Defaults(usize),
    HttpErrors(usize),
    /// A section HAProxy has and Ravelin does not: its body is skipped (the header alerted).
    Skipped,
}

/// Parser state carried across files (defaults persist from one file to the next, sections
/// do not, as in HAProxy's `readcfgfile()`).
pub(crate) struct Parser<'a> {
    pub(crate) parsed: Parsed,
    defaults: Vec<ProxyConf>,
    last_defaults: Option<usize>,
    section: Where,
    diags: &'a mut Diagnostics,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(
        diags: &'a mut Diagnostics,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Parser<'a> {
        Parser {
            parsed: Parsed::default(),
            defaults: Vec::new(),
            last_defaults: None,
            section: Where::None,
            diags,
            env,
        }
    }

    /// Parses one file's text.
    pub(crate) fn parse_file(&mut self, file: &str, text: &str) {
        self.section = Where::None;
        for (n, line) in text.split('\n').enumerate() {
            let span = Span::new(file, u32::try_from(n + 1).unwrap_or(u32::MAX));
            match split_line(line, self.env) {
                Ok(words) if words.is_empty() => {}
                Ok(words) => self.parse_words(&words, &span),
                Err(e) => self.diags.push(ConfigError::with_head(
                    Severity::Alert,
                    Head::ParsingTight,
                    &span,
                    e.to_string(),
                )),
            }
        }
    }

    fn parse_words(&mut self, words: &[String], span: &Span) {
        let kw = words.first().map(String::as_str).unwrap_or_default();
        match kw {
            "global" => {
                if let Some(extra) = words.get(1) {
                    self.diags.alert(span, too_many("global", extra));
                }
                self.section = Where::Global;
                return;
            }
            "defaults" => return self.defaults_header(words, span),
            "frontend" => return self.proxy_header(Kind::Frontend, words, span),
            "backend" => return self.proxy_header(Kind::Backend, words, span),
            "listen" => return self.proxy_header(Kind::Listen, words, span),
            "http-errors" => return self.http_errors_header(words, span),
            s if keywords::UNSUPPORTED_SECTIONS.contains(&s) => {
                self.diags.alert(
                    span,
                    format!("'{s}' is a HAProxy section that Ravelin does not support yet."),
                );
                self.section = Where::Skipped;
                return;
            }
            _ => {}
        }
        match self.section {
            Where::None => self.diags.push(ConfigError::with_head(
                Severity::Alert,
                Head::ParsingTight,
                span,
                format!("unknown keyword '{kw}' out of section."),
            )),
            Where::Skipped => {}
            Where::Global => parse_global(&mut self.parsed.global, words, span, self.diags),
            Where::Proxy(i) => {
                if let Some(p) = self.parsed.proxies.get_mut(i) {
                    proxy_keyword(p, words, span, self.diags);
                }
            }
            Where::Defaults(i) => {
                if let Some(p) = self.defaults.get_mut(i) {
                    proxy_keyword(p, words, span, self.diags);
                }
            }
            Where::HttpErrors(i) => match kw {
                "errorfile" => {
                    if let Some((code, page)) = parse_errorfile(words, true, span, self.diags) {
                        if let Some(sec) = self.parsed.http_errors.get_mut(i) {
                            sec.pages.set(code, page);
                        }
                    }
                }
                _ => self.diags.alert(
                    span,
                    format!("unknown keyword '{kw}' in 'http-errors' section"),
                ),
            },
        }
    }

    /// `http-errors NAME`.
    fn http_errors_header(&mut self, words: &[String], span: &Span) {
        let Some(name) = words.get(1) else {
            self.diags
                .alert(span, "missing name for http-errors section.");
            self.section = Where::Skipped;
            return;
        };
        if let Some(prev) = self.parsed.http_errors.iter().find(|s| &s.name == name) {
            let msg = format!(
                "http-errors section '{name}' has the same name as another http-errors section declared at {}:{}.",
                prev.span.file, prev.span.line
            );
            self.diags.alert(span, msg);
        }
        self.parsed.http_errors.push(HttpErrorsConf {
            name: name.clone(),
            span: span.clone(),
            pages: Default::default(),
        });
        self.section = Where::HttpErrors(self.parsed.http_errors.len() - 1);
    }

    /// Finds a named defaults section declared so far (the last one with that name).
    fn find_defaults(&self, name: &str) -> Option<usize> {
        self.defaults
            .iter()
            .rposition(|d| !d.name.is_empty() && d.name == name)
    }

    fn defaults_header(&mut self, words: &[String], span: &Span) {
        let (name, from, extra) = match words.get(1).map(String::as_str) {
            Some("from") => ("", words.get(2), words.get(3)),
            Some(n) => match words.get(2).map(String::as_str) {
                Some("from") => (n, words.get(3), words.get(4)),
                Some(_) => (n, None, words.get(2)),
                None => (n, None, None),
            },
            None => ("", None, None),
        };
        // HAProxy 2.6 silently ignores words after `defaults [NAME] [from X]`.
        let _ = extra;
        if let Some(c) = invalid_char(name).filter(|_| !name.is_empty()) {
            self.diags.alert(
                span,
                format!("character '{c}' is not permitted in 'defaults' name '{name}'."),
            );
        }
        let mut conf = ProxyConf::new(Kind::Defaults, name, span);
        if let Some(from) = from {
            match self.find_defaults(from) {
                Some(i) => {
                    if let Some(d) = self.defaults.get_mut(i) {
                        d.explicitly_referenced = true;
                        conf = d.derive(Kind::Defaults, name, span);
                    }
                }
                None => self.diags.alert(
                    span,
                    format!("defaults section '{from}' not found for defaults '{name}'."),
                ),
            }
        }
        self.defaults.push(conf);
        let idx = self.defaults.len() - 1;
        self.last_defaults = Some(idx);
        self.section = Where::Defaults(idx);
    }

    fn proxy_header(&mut self, kind: Kind, words: &[String], span: &Span) {
        let sect = kind.section();
        let mut discard = false;
        let name = match words.get(1) {
            Some(n) => n.as_str(),
            None => {
                self.diags
                    .alert(span, format!("'{sect}' expects an <id> argument"));
                discard = true;
                ""
            }
        };
        if let Some(c) = invalid_char(name).filter(|_| !name.is_empty()) {
            self.diags.alert(
                span,
                format!("character '{c}' is not permitted in '{sect}' name '{name}'."),
            );
            discard = true;
        }
        let mut from = None;
        match words.get(2).map(String::as_str) {
            None => {}
            Some("from") if words.len() >= 4 => {
                from = words.get(3).map(String::as_str);
                if let Some(extra) = words.get(4) {
                    self.diags.alert(span, too_many(sect, extra));
                    self.diags.alert(
                        span,
                        "please use the 'bind' keyword for listening addresses.",
                    );
                }
            }
            Some(_) => {
                self.diags.alert(
                    span,
                    "please use the 'bind' keyword for listening addresses.",
                );
            }
        }
        if !discard {
            discard = self.check_duplicate(kind, name, span);
        }
        let mut conf = match from {
            Some(from) => match self.find_defaults(from) {
                Some(i) => match self.defaults.get_mut(i) {
                    Some(d) => {
                        d.explicitly_referenced = true;
                        d.derive(kind, name, span)
                    }
                    None => ProxyConf::new(kind, name, span),
                },
                None => {
                    self.diags.alert(
                        span,
                        format!(
                            "defaults section '{from}' not found for {} '{name}'.",
                            kind.type_str()
                        ),
                    );
                    ProxyConf::new(kind, name, span)
                }
            },
            None => match self.last_defaults.and_then(|i| self.defaults.get(i)) {
                Some(d) => {
                    if d.explicitly_referenced && !d.name.is_empty() {
                        self.diags.alert(
                            span,
                            format!(
                                "defaults section '{}' (declared at {}:{}) is explicitly referenced by another proxy and implicitly used here. To avoid any ambiguity don't mix both usage. Add a last defaults section not explicitly used or always use explicit references.",
                                d.name, d.span.file, d.span.line
                            ),
                        );
                    }
                    d.derive(kind, name, span)
                }
                None => ProxyConf::new(kind, name, span),
            },
        };
        conf.discard = discard;
        self.parsed.proxies.push(conf);
        self.section = Where::Proxy(self.parsed.proxies.len() - 1);
    }

    /// HAProxy's name-collision rule: frontends collide with frontends and listens, backends
    /// with backends and listens, listens with everything. Returns true on a collision.
    fn check_duplicate(&mut self, kind: Kind, name: &str, span: &Span) -> bool {
        let clash = self.parsed.proxies.iter().find(|p| {
            !p.discard
                && p.name == name
                && match kind {
                    Kind::Frontend => matches!(p.kind, Kind::Frontend | Kind::Listen),
                    Kind::Backend => matches!(p.kind, Kind::Backend | Kind::Listen),
                    Kind::Listen | Kind::Defaults => true,
                }
        });
        let Some(other) = clash else { return false };
        let msg = format!(
            "{} '{name}' has the same name as {} '{}' declared at {}:{}.",
            kind.type_str(),
            other.kind.type_str(),
            other.name,
            other.span.file,
            other.span.line
        );
        self.diags.push(ConfigError::with_head(
            Severity::Alert,
            Head::ParsingCapital,
            span,
            msg,
        ));
        true
    }
}

/// Which half of a proxy a keyword needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    Frontend,
    Backend,
    /// Valid in every kind of proxy.
    Any,
}

/// HAProxy's capability check for keyword `kw`: a frontend-only keyword in a backend (or the
/// reverse) is a warning and the line is ignored. Returns whether to go on.
fn capable(
    p: &ProxyConf,
    kw: &str,
    need: Need,
    suffix: &str,
    span: &Span,
    d: &mut Diagnostics,
) -> bool {
    let ok = match need {
        Need::Frontend => p.kind.has_frontend(),
        Need::Backend => p.kind.has_backend(),
        Need::Any => true,
    };
    if !ok {
        let cap = match need {
            Need::Frontend => "frontend",
            Need::Backend | Need::Any => "backend",
        };
        d.warning(
            span,
            format!(
                "'{kw}' ignored because {} '{}' has no {cap} capability.{suffix}",
                p.kind.type_str(),
                p.name
            ),
        );
    }
    ok
}

fn not_in_defaults(p: &ProxyConf, kw: &str, head: Head, span: &Span, d: &mut Diagnostics) -> bool {
    if p.kind == Kind::Defaults {
        d.push(ConfigError::with_head(
            Severity::Alert,
            head,
            span,
            format!("'{kw}' not allowed in 'defaults' section."),
        ));
        return false;
    }
    true
}

/// One keyword line inside a defaults/frontend/backend/listen section.
fn proxy_keyword(p: &mut ProxyConf, words: &[String], span: &Span, d: &mut Diagnostics) {
    let kw = words.first().map(String::as_str).unwrap_or_default();
    let arg1 = words.get(1).map(String::as_str);
    let extra = |n: usize| words.get(n).map(String::as_str);
    match kw {
        "mode" => {
            let mode = match arg1 {
                Some("tcp") => Mode::Tcp,
                Some("http") => Mode::Http,
                other => {
                    return d.alert(
                        span,
                        format!("unknown proxy mode '{}'.", other.unwrap_or_default()),
                    );
                }
            };
            if let Some(x) = extra(2) {
                return d.alert(span, too_many("mode", x));
            }
            p.mode = mode;
        }
        "bind" => {
            if !not_in_defaults(p, kw, Head::Parsing, span, d)
                || !capable(p, kw, Need::Frontend, "", span, d)
            {
                return;
            }
            let section = p.kind.section().to_string();
            parse_bind_line(&mut p.binds, &section, words, span, d);
        }
        "server" => {
            if p.kind == Kind::Defaults {
                let _ = not_in_defaults(p, kw, Head::Bracket, span, d);
                return;
            }
            if !p.kind.has_backend() {
                let msg = format!(
                    "parsing [{}:{}] : 'server' not allowed because {} '{}' has no backend capability.",
                    span.file,
                    span.line,
                    p.kind.type_str(),
                    p.name
                );
                return d.push(ConfigError::with_head(
                    Severity::Alert,
                    Head::Bracket,
                    span,
                    msg,
                ));
            }
            parse_server_line(
                section!(p),
                &mut p.servers,
                &p.default_server,
                words,
                span,
                d,
            );
        }
        "cookie" => {
            // HAProxy warns about a frontend, then parses the line anyway.
            capable(p, kw, Need::Backend, "", span, d);
            let attrs = p
                .cookie
                .as_ref()
                .map(|c| c.attrs.clone())
                .unwrap_or_default();
            match crate::config::cookie::parse_cookie_with_attrs(words, &attrs) {
                Ok((conf, diags)) => {
                    for diag in diags {
                        d.push(diag.at(span));
                    }
                    p.cookie = Some(conf);
                }
                Err(diags) => {
                    for diag in diags {
                        d.push(diag.at(span));
                    }
                }
            }
        }
        "default-server" => {
            if capable(p, kw, Need::Backend, "", span, d) {
                parse_default_server_line(section!(p), &mut p.default_server, words, span, d);
            }
        }
        "fullconn" => {
            if !capable(
                p,
                kw,
                Need::Backend,
                " Maybe you want 'maxconn' instead ?",
                span,
                d,
            ) {
                return;
            }
            match arg1 {
                None => d.alert(span, "'fullconn' expects an integer argument."),
                // HAProxy reads it with atol() (a word is 0: the default); Ravelin names it.
                Some(a) => match parse_u32(a) {
                    Some(n) => p.fullconn = n,
                    None => d.alert(
                        span,
                        format!("'fullconn' expects an integer argument (got '{a}')."),
                    ),
                },
            }
        }
        "maxconn" => {
            if !capable(
                p,
                kw,
                Need::Frontend,
                " Maybe you want 'fullconn' instead ?",
                span,
                d,
            ) {
                return;
            }
            match arg1.and_then(parse_u32) {
                Some(n) => p.maxconn = Some(n),
                None => return d.alert(span, "'maxconn' expects an integer argument."),
            }
            if let Some(x) = extra(2) {
                d.alert(span, too_many(kw, x));
            }
        }
        "default_backend" => {
            if !capable(p, kw, Need::Frontend, "", span, d) {
                return;
            }
            let Some(name) = arg1 else {
                return d.alert(span, "'default_backend' expects a backend name.");
            };
            if let Some(x) = extra(2) {
                return d.alert(span, too_many(kw, x));
            }
            p.default_backend = Some((name.to_string(), span.clone()));
        }
        "use_backend" => {
            if !not_in_defaults(p, kw, Head::Parsing, span, d)
                || !capable(p, kw, Need::Frontend, "", span, d)
            {
                return;
            }
            if let Some((name, cond)) = parse_use_backend(&p.http.acls, words, span, d) {
                p.use_backends.push((name, span.clone(), cond));
            }
        }
        "acl" => {
            if !crate::config::section::defaults_allowed(section!(p), kw, span, d) {
                return;
            }
            match crate::config::acl::add_acl_line(&mut p.http.acls, words) {
                Ok(Some(w)) => d.push(ConfigError::bare_warning(w)),
                Ok(None) => {}
                Err(e) => d.alert(span, e),
            }
        }
        "http-request" => parse_rule_line(
            section!(p),
            &p.http.acls,
            &mut p.http.rules,
            List::Request,
            words,
            span,
            d,
        ),
        "http-response" => parse_rule_line(
            section!(p),
            &p.http.acls,
            &mut p.http.rules,
            List::Response,
            words,
            span,
            d,
        ),
        "http-after-response" => parse_rule_line(
            section!(p),
            &p.http.acls,
            &mut p.http.rules,
            List::AfterResponse,
            words,
            span,
            d,
        ),
        "errorfile" => {
            if let Some((code, page)) = parse_errorfile(words, false, span, d) {
                p.http.errors.push(ErrorDirective::Page(code, page));
            }
        }
        "errorfiles" => {
            if let Some(dir) = parse_errorfiles(words, span, d) {
                p.http.errors.push(dir);
            }
        }
        "http-error" => {
            if let Some((code, page)) = parse_http_error(words, span, d) {
                p.http.errors.push(ErrorDirective::Page(code, page));
            }
        }
        "load-server-state-from-file" => {
            if !capable(p, kw, Need::Backend, "", span, d) {
                return;
            }
            use crate::model::LoadServerState as L;
            p.load_server_state = match arg1 {
                Some("global") => L::Global,
                Some("local") => L::Local,
                Some("none") => L::None,
                other => {
                    return d.alert(
                        span,
                        format!(
                            "'{kw}' expects 'global', 'local' or 'none'. Got '{}'",
                            other.unwrap_or_default()
                        ),
                    );
                }
            };
        }
        "server-state-file-name" => {
            if !capable(p, kw, Need::Backend, "", span, d) {
                return;
            }
            if let Some(x) = extra(2) {
                return d.alert(
                    span,
                    format!("'{kw}' cannot handle unexpected argument '{x}'."),
                );
            }
            p.server_state_file_name = match arg1 {
                None | Some("use-backend-name") => None,
                Some(f) => Some(f.to_string()),
            };
        }
        "http-reuse" => {
            if capable(p, kw, Need::Backend, "", span, d) {
                http_kw::parse_http_reuse(&mut p.http, words, span, d);
            }
        }
        "stats" => crate::config::stats::parse_stats(p, words, span, d),
        "monitor-uri" => {
            if capable(p, kw, Need::Frontend, "", span, d) {
                http_kw::parse_monitor_uri(&mut p.http, words, span, d);
            }
        }
        "capture" => {
            if not_in_defaults(p, kw, Head::Parsing, span, d)
                && capable(p, kw, Need::Frontend, "", span, d)
            {
                http_kw::parse_capture(&mut p.http, words, span, d);
            }
        }
        "unique-id-format" | "unique-id-header" => {
            if capable(p, kw, Need::Frontend, "", span, d) {
                http_kw::parse_unique_id(&mut p.http, words, span, d);
            }
        }
        "dispatch" => {
            if not_in_defaults(p, kw, Head::Parsing, span, d)
                && capable(p, kw, Need::Backend, "", span, d)
            {
                http_kw::parse_dispatch(&mut p.http, words, span, d);
            }
        }
        // HAProxy warns about the capability, then still parses the line (and reports its
        // errors); the value is unused in a frontend.
        "balance" => {
            capable(p, kw, Need::Backend, "", span, d);
            balance_kw::parse_balance(p, words, span, d);
        }
        "hash-type" => {
            capable(p, kw, Need::Backend, "", span, d);
            balance_kw::parse_hash_type(p, words, span, d);
        }
        // HAProxy 2.6 takes it in any proxy without a capability warning.
        "hash-balance-factor" => balance_kw::parse_hash_balance_factor(p, words, span, d),
        "retries" => {
            if !capable(p, kw, Need::Backend, "", span, d) {
                return;
            }
            match arg1.and_then(parse_u32) {
                Some(n) => p.retries = n,
                None => {
                    return d.alert(
                        span,
                        "'retries' expects an integer argument (dispatch counts for one).",
                    );
                }
            }
            if let Some(x) = extra(2) {
                d.alert(span, too_many(kw, x));
            }
        }
        "retry-on" => super::retry::parse_retry_on(p, words, span, d),
        "timeout" => parse_timeout(p, words, span, d),
        "http-check" => {
            if capable(p, kw, Need::Backend, "", span, d) {
                check_kw::parse_http_check(&mut p.check, words, span, d);
            }
        }
        "tcp-check" => {
            if capable(p, kw, Need::Backend, "", span, d) {
                crate::config::tcpcheck::parse_tcp_check(p, words, span, d);
            }
        }
        "external-check" => {
            if capable(p, kw, Need::Backend, "", span, d) {
                crate::config::tcpcheck::parse_external_check(p, words, span, d);
            }
        }
        "contimeout" | "clitimeout" | "srvtimeout" => {
            let new = match kw {
                "contimeout" => "connect",
                "clitimeout" => "client",
                _ => "server",
            };
            d.alert(
                span,
                format!("the '{kw}' directive is not supported anymore since HAProxy 2.1. Use 'timeout {new}'."),
            );
        }
        "option" => parse_option(p, words.get(1..).unwrap_or_default(), false, span, d),
        "log" => match crate::config::log::parse_log(words) {
            Ok(crate::config::log::LogLine::Global) => p.log.global = true,
            Ok(crate::config::log::LogLine::Target(t)) => p.log.targets.push(t),
            Err(e) => d.alert(span, format!("log : {e}")),
        },
        "no" if arg1 == Some("log") => {
            p.log.targets.clear();
            p.log.global = false;
        }
        "log-tag" => match arg1 {
            Some(t) => p.log.tag = Some(t.to_string()),
            None => d.alert(span, "'log-tag' expects a tag for use in syslog."),
        },
        "log-format" => {
            let Some(f) = arg1 else {
                return d.alert(span, "'log-format' expects a format string as argument.");
            };
            if let Some(x) = extra(2) {
                return d.alert(
                    span,
                    format!("'log-format' expects only one argument (found '{x}'), did you forget to enclose it in quotes ?"),
                );
            }
            if !p.kind.has_frontend() {
                return d.warning(
                    span,
                    format!(
                        "backend '{}' : 'log-format' directive is ignored in backends.",
                        p.name
                    ),
                );
            }
            p.log.kind = crate::config::log::LineKind::Custom(f.to_string());
            p.log.kind_line = Some(span.clone());
        }
        "no" if arg1 == Some("option") => {
            parse_option(p, words.get(2..).unwrap_or_default(), true, span, d)
        }
        _ => {
            if keywords::proxy_caps(kw).is_some() {
                d.alert(span, unsupported(kw));
            } else {
                d.alert(
                    span,
                    format!(
                        "unknown keyword '{kw}' in '{}' section{}",
                        p.kind.section(),
                        did_you_mean(keywords::suggest_proxy(kw))
                    ),
                );
            }
        }
    }
}

fn parse_timeout(p: &mut ProxyConf, words: &[String], span: &Span, d: &mut Diagnostics) {
    let name = words.get(1).map(String::as_str).unwrap_or_default();
    let need = match name {
        "client" | "client-fin" => Need::Frontend,
        "connect" | "server" | "queue" | "tunnel" | "server-fin" | "check" => Need::Backend,
        // HAProxy 2.6 stores both on any proxy without a capability warning.
        "http-keep-alive" | "http-request" => Need::Any,
        "tarpit" => {
            return d.alert(span, unsupported(&format!("timeout {name}")));
        }
        _ => {
            return d.alert(
                span,
                format!(
                    "'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got '{name}')"
                ),
            );
        }
    };
    let what = format!("timeout {name}");
    let arg = words.get(2).map(String::as_str).unwrap_or_default();
    let value = match parse_time(arg) {
        Ok(v) => v,
        Err(
            e @ (TimeError::Empty
            | TimeError::Unexpected(_)
            | TimeError::Overflow
            | TimeError::Underflow),
        ) => {
            return d.alert(span, e.message(arg, &what));
        }
    };
    if let Some(x) = words.get(3) {
        return d.alert(
            span,
            format!("'{what}' : unexpected extra argument '{x}' after value '{arg}'."),
        );
    }
    let ok = match need {
        Need::Frontend => p.kind.has_frontend(),
        Need::Backend => p.kind.has_backend(),
        Need::Any => true,
    };
    if !ok {
        let cap = if need == Need::Frontend {
            "frontend"
        } else {
            "backend"
        };
        return d.warning(
            span,
            format!(
                "'{what}' will be ignored because {} '{}' has no {cap} capability",
                p.kind.type_str(),
                p.name
            ),
        );
    }
    // `timeout x 0` means "no timeout" in HAProxy (TICK_ETERNITY), which the model spells None.
    let value = Some(value).filter(|v| !v.is_zero());
    let (slot, inherited) = match name {
        "client" => (&mut p.timeouts.client, p.inherited_timeouts.client),
        "client-fin" => (&mut p.timeouts.client_fin, p.inherited_timeouts.client_fin),
        "connect" => (&mut p.timeouts.connect, p.inherited_timeouts.connect),
        "server" => (&mut p.timeouts.server, p.inherited_timeouts.server),
        "queue" => (&mut p.timeouts.queue, p.inherited_timeouts.queue),
        "check" => (&mut p.timeouts.check, p.inherited_timeouts.check),
        "tunnel" => (&mut p.timeouts.tunnel, p.inherited_timeouts.tunnel),
        "http-request" => (
            &mut p.timeouts.http_request,
            p.inherited_timeouts.http_request,
        ),
        "http-keep-alive" => (
            &mut p.timeouts.http_keep_alive,
            p.inherited_timeouts.http_keep_alive,
        ),
        _ => (&mut p.timeouts.server_fin, p.inherited_timeouts.server_fin),
    };
    if *slot != inherited {
        d.warning(
            span,
            format!("overwriting '{what}' which was already specified"),
        );
    }
    *slot = value;
}

/// `option NAME [args]` (`negate`: `no option NAME`); `words` starts at the option name.
fn parse_option(
    p: &mut ProxyConf,
    words: &[String],
    negate: bool,
    span: &Span,
    d: &mut Diagnostics,
) {
    let tight = |d: &mut Diagnostics, m: String| {
        d.push(ConfigError::with_head(
            Severity::Alert,
            Head::ParsingTight,
            span,
            m,
        ));
    };
    let Some(name) = words.first().map(String::as_str) else {
        return tight(d, "'option' expects an option name.".into());
    };
    if negate && !keywords::option_negatable(name) {
        return tight(
            d,
            format!("negation/default is not supported for option '{name}'."),
        );
    }
    match name {
        "forceclose" => {
            return tight(d, "option 'forceclose' is not supported any more since HAProxy 2.0, please just remove it, or use 'option httpclose' if absolutely needed.".into());
        }
        "http-tunnel" => {
            return tight(d, "option 'http-tunnel' is not supported any more since HAProxy 2.1, please just remove it, it shouldn't be needed.".into());
        }
        _ => {}
    }
    let Some(caps) = keywords::option_caps(name) else {
        return match keywords::suggest_option(name) {
            Some(s) => d.alert(
                span,
                format!("unknown option '{name}'{}", did_you_mean(Some(s))),
            ),
            None => d.alert(span, format!("unknown option '{name}'.")),
        };
    };
    let http = matches!(
        name,
        "http-keep-alive"
            | "http-server-close"
            | "httpclose"
            | "abortonclose"
            | "http-buffer-request"
            | "forwardfor"
            | "originalto"
            | "http-restrict-req-hdr-names"
    );
    let supported = http
        || matches!(
            name,
            "redispatch"
                | "allbackups"
                | "persist"
                | "splice-auto"
                | "splice-request"
                | "splice-response"
                | "httpchk"
                | "tcp-check"
                | "external-check"
                | "log-health-checks"
                | "tcplog"
                | "httplog"
                | "dontlognull"
                | "log-separate-errors"
                | "dontlog-normal"
                | "idle-close-on-response"
        );
    if !supported {
        return d.alert(span, unsupported(&format!("option {name}")));
    }
    if !caps.frontend && !capable(p, name, Need::Backend, "", span, d) {
        return;
    }
    if !caps.backend && !capable(p, name, Need::Frontend, "", span, d) {
        return;
    }
    if http {
        let _ = http_kw::parse_option(&mut p.http, name, words, negate, span, d);
        return;
    }
    if name == "httpchk" {
        return check_kw::parse_httpchk(&mut p.check, words, span, d);
    }
    if name == "httplog" && !negate {
        use crate::config::log::LineKind;
        match words.get(1).map(String::as_str) {
            None => p.log.kind = LineKind::Http,
            Some("clf") => p.log.kind = LineKind::Clf,
            Some(_) => return d.alert(span, "keyword 'httplog' only supports option 'clf'."),
        }
        p.log.kind_line = Some(span.clone());
        return;
    }
    let extra_at = if name == "redispatch" && !negate {
        2
    } else {
        1
    };
    if let Some(x) = words.get(extra_at).filter(|_| !negate) {
        return d.alert(span, too_many(&format!("option {name}"), x));
    }
    match name {
        "redispatch" if negate => p.redispatch = None,
        "redispatch" => {
            let interval = match words.get(1) {
                None => -1,
                Some(v) => match parse_i64(v).and_then(|n| i32::try_from(n).ok()) {
                    Some(n) => n,
                    None => {
                        return d.alert(span, "'option redispatch' expects an integer argument.");
                    }
                },
            };
            // HAProxy: "You can disable redispatches with a value of 0."
            p.redispatch = Some(interval).filter(|&n| n != 0);
        }
        "allbackups" => p.allbackups = !negate,
        "idle-close-on-response" => p.idle_close_on_response = !negate,
        "log-health-checks" => p.check.log_health_checks = !negate,
        "tcplog" => {
            p.log.kind = crate::config::log::LineKind::Tcp;
            p.log.kind_line = Some(span.clone());
        }
        "dontlognull" => p.log.dontlognull = !negate,
        "log-separate-errors" => p.log.separate_errors = !negate,
        "dontlog-normal" => p.log.dontlog_normal = !negate,
        "tcp-check" => p.check.kind = check_kw::CheckKind::TcpCheck,
        "external-check" => p.check.kind = check_kw::CheckKind::External,
        "persist" => p.persist = !negate,
        "splice-auto" => p.splice.auto = Some(!negate),
        "splice-request" => p.splice.request = Some(!negate),
        _ => p.splice.response = Some(!negate),
    }
}

/// Helpers for the tests of sibling modules.
#[cfg(test)]
pub mod tests_support {
    use super::*;

    /// An empty backend named `name`.
    pub fn backend(name: &str) -> ProxyConf {
        ProxyConf::new(Kind::Backend, name, &Span::new("t.cfg", 1))
    }
}
