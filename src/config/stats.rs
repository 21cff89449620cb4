//! The `stats` proxy keywords (`stats enable|uri|realm|auth|refresh|admin|hide-version|
//! show-legends|show-node|show-desc|scope`), with haproxy 2.6's messages. Any of them enables
//! the page, as HAProxy's `uri_auth`; they are inherited from `defaults`. `stats
//! http-request` and `stats scope` are refused as not supported yet.

use crate::acl::Polarity;
use crate::config::acl::{Side, parse_condition};
use crate::config::error::unsupported;
use crate::config::error::{ConfigError, Diagnostics, Head, Severity, Span};
use crate::config::proxy::{Kind, ProxyConf};
use crate::config::units::parse_time;
use crate::model::StatsConf;

const EXPECTS: &str = "expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'.";

fn tight(d: &mut Diagnostics, span: &Span, m: String) {
    d.push(ConfigError::with_head(
        Severity::Alert,
        Head::ParsingTight,
        span,
        m,
    ));
}

/// One `stats ...` line of a proxy section (`words[0] == "stats"`).
pub(crate) fn parse_stats(p: &mut ProxyConf, words: &[String], span: &Span, d: &mut Diagnostics) {
    let arg = |i: usize| words.get(i).map(String::as_str);
    let Some(sub) = arg(1) else {
        return tight(d, span, format!("missing keyword in 'stats', {EXPECTS}"));
    };
    match sub {
        "enable" | "hide-version" | "show-legends" | "uri" | "realm" | "auth" | "refresh"
        | "show-node" | "show-desc" | "admin" => {}
        "scope" | "http-request" => {
            if sub == "scope" && arg(2).is_none() {
                return d.alert(span, "'scope' needs a proxy name.");
            }
            return d.alert(span, unsupported(&format!("stats {sub}")));
        }
        _ => {
            return tight(
                d,
                span,
                format!("unknown stats parameter '{sub}', {EXPECTS}"),
            );
        }
    }
    if sub == "admin" {
        if p.kind == Kind::Defaults {
            return tight(
                d,
                span,
                "'stats admin' not allowed in 'defaults' section.".into(),
            );
        }
        let pol = match arg(2) {
            Some("if") => Polarity::If,
            Some("unless") => Polarity::Unless,
            _ => {
                return d.alert(
                    span,
                    "'stats admin' requires either 'if' or 'unless' followed by a condition.",
                );
            }
        };
        let rest = words.get(3..).unwrap_or_default();
        match parse_condition(pol, rest, &p.http.acls, Side::Request, "stats admin rule") {
            Ok(c) => {
                for w in c.warnings {
                    d.warning(span, w);
                }
                local(p).admin.push(c.cond);
            }
            Err(e) => d.alert(
                span,
                format!("error detected while parsing an 'stats admin' rule : {e}."),
            ),
        }
        return;
    }
    let value = arg(2);
    match sub {
        "enable" => {
            local(p);
        }
        "hide-version" => local(p).hide_version = true,
        "show-legends" => local(p).show_legends = true,
        "uri" => match value {
            Some(u) => local(p).uri = u.to_string(),
            None => d.alert(span, "'uri' needs an URI prefix."),
        },
        "realm" => match value {
            // HAProxy keeps the realm as written (escaped spaces already joined by the lexer).
            Some(r) => local(p).realm = Some(r.to_string()),
            None => d.alert(span, "'realm' needs an realm name."),
        },
        "auth" => match value {
            Some(a) => {
                let (user, pass) = a.split_once(':').unwrap_or((a, ""));
                local(p).auth.push((user.to_string(), pass.to_string()));
            }
            None => d.alert(span, "'auth' needs a user:password account."),
        },
        "refresh" => {
            let v = value.unwrap_or_default();
            match parse_time(v) {
                Ok(t) if !v.is_empty() => local(p).refresh = Some(t.as_secs()),
                _ => {
                    let bad = v
                        .chars()
                        .find(|c| !c.is_ascii_digit())
                        .map(String::from)
                        .unwrap_or_default();
                    tight(
                        d,
                        span,
                        format!(
                            "unexpected character '{bad}' in argument to stats refresh interval."
                        ),
                    );
                }
            }
        }
        "show-node" => local(p).show_node = Some(value.unwrap_or_default().to_string()),
        "show-desc" => local(p).show_desc = Some(value.unwrap_or_default().to_string()),
        _ => {}
    }
}

/// The proxy's stats settings, created (from the inherited ones, if any) on first use.
fn local(p: &mut ProxyConf) -> &mut StatsConf {
    p.http.stats_local = true;
    p.http.stats.get_or_insert_with(StatsConf::default)
}

/// Post-parse: HAProxy ignores `stats` in a proxy not in HTTP mode, with a warning.
pub(crate) fn check_mode(p: &mut ProxyConf, d: &mut Diagnostics) {
    if p.http.stats.is_some() && p.mode != crate::model::Mode::Http && p.kind != Kind::Defaults {
        let kind = match p.kind {
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            _ => "listen",
        };
        d.push(ConfigError::bare_warning(format!(
            "'stats' statement ignored for {kind} '{}' as it requires HTTP mode.",
            p.name
        )));
        p.http.stats = None;
    }
}
