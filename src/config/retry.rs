//! `retry-on` (HAProxy's `proxy_parse_retry_on()`; messages as haproxy 2.6.12 prints them).

use super::error::{Diagnostics, Span};
use super::proxy::ProxyConf;
use crate::model::RetryOn;

/// `retry-on KEYWORD...`: replaces any previous setting (not cumulative).
pub(crate) fn parse_retry_on(
    p: &mut ProxyConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    if p.kind.has_frontend() && !p.kind.has_backend() {
        return d.alert(
            span,
            "'retry-on' only available in backend or listen section",
        );
    }
    let args = words.get(1..).unwrap_or_default();
    if args.is_empty() {
        return d.alert(
            span,
            "'retry-on' needs at least one keyword to specify when to retry",
        );
    }
    let mut bits = 0u16;
    for w in args {
        let bit = match w.as_str() {
            // HAProxy's text, its typo included.
            "none" if args.len() == 1 => 0,
            "none" => {
                return d.alert(span, "'retry-on' 'none' keyworld only usable alone");
            }
            "conn-failure" => RetryOn::CONN_FAILURE,
            "empty-response" => RetryOn::EMPTY_RESPONSE,
            "response-timeout" => RetryOn::RESPONSE_TIMEOUT,
            "junk-response" => RetryOn::JUNK_RESPONSE,
            "0rtt-rejected" => RetryOn::ZERO_RTT_REJECTED,
            "all-retryable-errors" => RetryOn::ALL_RETRYABLE.0,
            other => match other.parse::<u16>().map(RetryOn::status_bit) {
                Ok(b) if b != 0 && other.len() == 3 => b,
                _ => {
                    return d.alert(span, format!("'retry-on': unknown keyword '{other}'"));
                }
            },
        };
        bits |= bit;
    }
    p.retry_on = RetryOn(bits);
}

#[cfg(test)]
mod tests {
    use crate::model::RetryOn;

    fn alerts(text: &str) -> Vec<String> {
        match crate::config::load_str("t.cfg", text) {
            Ok(_) => Vec::new(),
            Err(e) => e.alerts,
        }
    }

    const DEFAULTS: &str = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n";

    #[test]
    fn messages_match_haproxy() {
        // `haproxy -c` 2.6.12 on the same lines.
        let a = alerts(&format!(
            "{DEFAULTS}backend a\n    retry-on\n    server s 127.0.0.1:80\nbackend b\n    retry-on 200\n\
             backend c\n    retry-on foo\nbackend d\n    retry-on none conn-failure\n\
             frontend f\n    bind 127.0.0.1:8999\n    retry-on 503\n    default_backend a\n"
        ));
        let want = [
            "parsing [t.cfg:7] : 'retry-on' needs at least one keyword to specify when to retry",
            "parsing [t.cfg:10] : 'retry-on': unknown keyword '200'",
            "parsing [t.cfg:12] : 'retry-on': unknown keyword 'foo'",
            "parsing [t.cfg:14] : 'retry-on' 'none' keyworld only usable alone",
            "parsing [t.cfg:17] : 'retry-on' only available in backend or listen section",
        ];
        for w in want {
            assert!(a.iter().any(|l| l.ends_with(w)), "missing {w:?} in {a:?}");
        }
    }

    #[test]
    fn keywords_and_inheritance() {
        let l = crate::config::load_str(
            "t.cfg",
            &format!(
                "{DEFAULTS}    retry-on 503 504 conn-failure\nbackend a\n    server s 127.0.0.1:80\n\
                 backend b\n    retry-on all-retryable-errors\n    server s 127.0.0.1:80\n\
                 backend c\n    retry-on none\n    server s 127.0.0.1:80\n\
                 backend d\n    retry-on empty-response\n    retry-on response-timeout\n    server s 127.0.0.1:80\n"
            ),
        );
        let l = l.ok().unwrap_or_else(|| unreachable!("valid config"));
        let r: Vec<RetryOn> = l.model.backends.iter().map(|b| b.retry_on).collect();
        assert!(r[0].has(RetryOn::CONN_FAILURE) && r[0].on_status(503) && r[0].on_status(504));
        assert!(!r[0].on_status(500) && !r[0].has(RetryOn::EMPTY_RESPONSE));
        assert_eq!(r[1], RetryOn::ALL_RETRYABLE);
        assert!(r[1].on_status(502) && !r[1].on_status(404));
        assert_eq!(r[2], RetryOn::NONE);
        // Not cumulative: the last line wins.
        assert_eq!(r[3], RetryOn(RetryOn::RESPONSE_TIMEOUT));
        assert!(r[3].after_send() && !RetryOn::default().after_send());
    }
}
