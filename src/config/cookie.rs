//! The backend `cookie` keyword: one configuration line in, a [`CookieConf`] out, with
//! HAProxy 2.6's exact alerts and warnings (`cfg_parse_listen()`, checked with `haproxy -c`).
//!
//! The caller owns the section rules (`cookie` in a frontend is ignored with HAProxy's
//! "no backend capability" warning) and places each [`CookieDiag`] at the line's span. The
//! persistence logic that uses the result lives in [`crate::http::cookie`].

use std::time::Duration;

use crate::config::error::{ConfigError, Head, Severity, Span};
use crate::http::cookie::{CookieConf, CookieMode};

/// One alert or warning from a `cookie` line, without its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CookieDiag {
    pub(crate) severity: Severity,
    /// HAProxy uses three different heads on this one keyword.
    pub(crate) head: Head,
    pub(crate) message: String,
}

impl CookieDiag {
    fn alert(head: Head, message: String) -> CookieDiag {
        CookieDiag {
            severity: Severity::Alert,
            head,
            message,
        }
    }

    fn warning(head: Head, message: String) -> CookieDiag {
        CookieDiag {
            severity: Severity::Warning,
            head,
            message,
        }
    }

    /// This diagnostic placed at the `cookie` line.
    pub(crate) fn at(self, span: &Span) -> ConfigError {
        ConfigError::with_head(self.severity, self.head, span, self.message)
    }
}

/// Parses `cookie <name> [options]` (`words[0] == "cookie"`). `Ok` carries the warnings
/// HAProxy prints for an accepted line; `Err` every diagnostic of a refused one (warnings
/// printed before the alert included).
#[cfg(test)]
pub(crate) fn parse_cookie(
    words: &[String],
) -> Result<(CookieConf, Vec<CookieDiag>), Vec<CookieDiag>> {
    parse_cookie_with_attrs(words, &[])
}

/// Like [`parse_cookie`], for a section where a `cookie` line is already in effect (an earlier
/// line, or the one inherited from `defaults`). HAProxy 2.6 resets every option on a new
/// `cookie` line except the `attr` list, which keeps growing: `inherited_attrs` come first.
pub(crate) fn parse_cookie_with_attrs(
    words: &[String],
    inherited_attrs: &[String],
) -> Result<(CookieConf, Vec<CookieDiag>), Vec<CookieDiag>> {
    let keyword = words.first().map_or("cookie", String::as_str);
    let mut diags = Vec::new();
    let name = match words.get(1) {
        Some(n) if !n.is_empty() => n,
        _ => {
            diags.push(CookieDiag::alert(
                Head::Parsing,
                format!("'{keyword}' expects <cookie_name> as argument."),
            ));
            return Err(diags);
        }
    };

    let mut conf = CookieConf::new(name, CookieMode::Passive);
    conf.attrs = inherited_attrs.to_vec();
    let (mut rewrite, mut insert, mut prefix) = (false, false, false);
    // Like HAProxy, the option list ends at the first empty word.
    let mut i = 2;
    while let Some(word) = words.get(i).filter(|w| !w.is_empty()) {
        let arg = words
            .get(i + 1)
            .map(String::as_str)
            .filter(|a| !a.is_empty());
        let tight = |m: String| CookieDiag::alert(Head::ParsingTight, m);
        match word.as_str() {
            "rewrite" => rewrite = true,
            "indirect" => conf.indirect = true,
            "insert" => insert = true,
            "nocache" => conf.nocache = true,
            "postonly" => conf.postonly = true,
            "preserve" => conf.preserve = true,
            "prefix" => prefix = true,
            "httponly" => conf.httponly = true,
            "secure" => conf.secure = true,
            "dynamic" => conf.dynamic = true,
            "domain" => {
                let Some(domain) = arg else {
                    diags.push(tight(format!("'{word}' expects <domain> as argument.")));
                    return Err(diags);
                };
                if !domain.contains('.') {
                    // RFC 6265 §5.2.3: user agents ignore a domain without an embedded dot.
                    diags.push(CookieDiag::warning(
                        Head::ParsingTight,
                        format!(
                            "domain '{domain}' contains no embedded dot, this configuration may not work properly (see RFC6265#5.2.3)."
                        ),
                    ));
                }
                // `invalid_domainchar()` in the C locale: [A-Za-z0-9_.-].
                if let Some(bad) = domain
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
                {
                    diags.push(tight(format!(
                        "character '{bad}' is not permitted in domain name '{domain}'."
                    )));
                    return Err(diags);
                }
                conf.domains.push(domain.to_string());
                i += 1;
            }
            "maxidle" | "maxlife" => {
                let what = if word == "maxidle" {
                    "idletime"
                } else {
                    "lifetime"
                };
                let Some(value) = arg else {
                    diags.push(tight(format!(
                        "'{word}' expects <{what}> in seconds as argument."
                    )));
                    return Err(diags);
                };
                match parse_seconds(value) {
                    Ok((secs, warning)) => {
                        if let Some(w) = warning {
                            diags.push(CookieDiag::warning(Head::Bare, w));
                        }
                        let d = (secs != 0).then(|| Duration::from_secs(u64::from(secs)));
                        if word == "maxidle" {
                            conf.maxidle = d;
                        } else {
                            conf.maxlife = d;
                        }
                    }
                    Err(e) => {
                        diags.push(tight(e.message(value, word)));
                        return Err(diags);
                    }
                }
                i += 1;
            }
            "attr" => {
                let Some(value) = arg else {
                    diags.push(tight(format!("'{word}' expects <value> as argument.")));
                    return Err(diags);
                };
                if let Some(b) = value.bytes().find(|&b| b.is_ascii_control() || b == b';') {
                    diags.push(tight(format!(
                        "character '%x{b:02X}' is not permitted in attribute value."
                    )));
                    return Err(diags);
                }
                conf.attrs.push(value.to_string());
                i += 1;
            }
            _ => {
                diags.push(CookieDiag::alert(
                    Head::Parsing,
                    format!(
                        "'{keyword}' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options."
                    ),
                ));
                return Err(diags);
            }
        }
        i += 1;
    }

    // HAProxy checks the combinations after the whole line and reports each broken rule.
    let mut refused = false;
    if rewrite && conf.indirect {
        diags.push(CookieDiag::alert(
            Head::Parsing,
            "cookie 'rewrite' and 'indirect' modes are incompatible.".into(),
        ));
        refused = true;
    }
    conf.mode = match (rewrite, insert, prefix) {
        (false, false, false) => CookieMode::Passive,
        (true, false, false) => CookieMode::Rewrite,
        (false, true, false) => CookieMode::Insert,
        (false, false, true) => CookieMode::Prefix,
        _ => {
            diags.push(CookieDiag::alert(
                Head::Parsing,
                "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.".into(),
            ));
            refused = true;
            CookieMode::Passive
        }
    };
    if conf.preserve && !insert && !conf.indirect {
        diags.push(CookieDiag::alert(
            Head::Parsing,
            "cookie 'preserve' requires at least 'insert' or 'indirect'.".into(),
        ));
        refused = true;
    }
    if refused {
        Err(diags)
    } else {
        Ok((conf, diags))
    }
}

/// Why a `maxidle`/`maxlife` value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SecondsError {
    Unexpected(char),
    Overflow,
    Underflow,
}

impl SecondsError {
    fn message(&self, arg: &str, keyword: &str) -> String {
        match self {
            SecondsError::Unexpected(c) => {
                format!("unexpected character '{c}' in argument to <{keyword}>.")
            }
            SecondsError::Overflow => format!(
                "timer overflow in argument <{arg}> to <{keyword}>, maximum value is 2147483647 s (~68 years)."
            ),
            SecondsError::Underflow => format!(
                "timer underflow in argument <{arg}> to <{keyword}>, minimum non-null value is 1 s."
            ),
        }
    }
}

/// `parse_time_err(text, &ret, TIME_UNIT_S)`: a decimal number with an optional unit (`us`,
/// `ms`, `s`, `m`, `h`, `d`; none means seconds), rounded up to whole seconds. Trailing bytes
/// after a unit are only warned about (the warning text is returned). Arithmetic wraps like
/// HAProxy's `unsigned long long`, so absurdly long numbers may come back small: that is what
/// haproxy accepts too.
fn parse_seconds(text: &str) -> Result<(u32, Option<String>), SecondsError> {
    let bytes = text.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(SecondsError::Unexpected(
            text.chars().next().unwrap_or('\0'),
        ));
    }
    let value = bytes
        .get(..digits)
        .unwrap_or(&[])
        .iter()
        .fold(0u64, |v, b| {
            v.wrapping_mul(10).wrapping_add(u64::from(b - b'0'))
        });
    let unit = text.get(digits..).unwrap_or("");
    let (mul, div, used): (u64, u64, usize) = match unit.as_bytes() {
        [] => (1, 1, 0),
        [b's', ..] => (1, 1, 1),
        [b'u', b's', ..] => (1, 1_000_000, 2),
        [b'm', b's', ..] => (1, 1000, 2),
        [b'm', ..] => (60, 1, 1),
        [b'h', ..] => (3600, 1, 1),
        [b'd', ..] => (86_400, 1, 1),
        _ => {
            return Err(SecondsError::Unexpected(
                unit.chars().next().unwrap_or('\0'),
            ));
        }
    };
    let warning = unit.get(used..).and_then(|rest| rest.chars().next()).map(|c| {
        format!(
            "unexpected character '{c}' after the timer value '{text}', only (us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are supported. This will be reported as an error in next versions."
        )
    });
    let result = value.wrapping_mul(mul).wrapping_add(div - 1) / div;
    if result >= 0x8000_0000 {
        return Err(SecondsError::Overflow);
    }
    if result == 0 && value != 0 {
        return Err(SecondsError::Underflow);
    }
    // Below 0x8000_0000: checked above.
    Ok((u32::try_from(result).unwrap_or(u32::MAX), warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    /// The message as HAProxy prints it after `[ALERT]    (pid) : config : `, for `t.cfg:7`.
    fn shown(d: &CookieDiag) -> String {
        d.clone().at(&Span::new("t.cfg", 7)).to_string()
    }

    fn refused(line: &str) -> Vec<String> {
        match parse_cookie(&words(line)) {
            Ok(c) => panic!("{line} accepted: {c:?}"),
            Err(d) => d.iter().map(shown).collect(),
        }
    }

    fn accepted(line: &str) -> (CookieConf, Vec<String>) {
        match parse_cookie(&words(line)) {
            Ok((c, w)) => (c, w.iter().map(shown).collect()),
            Err(d) => panic!("{line} refused: {d:?}"),
        }
    }

    // Every expected string below was printed by haproxy 2.6.12 `-c` for the same line.
    #[test]
    fn haproxy_alerts() {
        let cases: &[(&str, &str)] = &[
            (
                "cookie",
                "parsing [t.cfg:7] : 'cookie' expects <cookie_name> as argument.",
            ),
            (
                "cookie SRV foo",
                "parsing [t.cfg:7] : 'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options.",
            ),
            (
                "cookie SRV preserve foo",
                "parsing [t.cfg:7] : 'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options.",
            ),
            (
                "cookie SRV insert maxidle",
                "parsing [t.cfg:7]: 'maxidle' expects <idletime> in seconds as argument.",
            ),
            (
                "cookie SRV insert maxidle 10 maxidle",
                "parsing [t.cfg:7]: 'maxidle' expects <idletime> in seconds as argument.",
            ),
            (
                "cookie SRV insert maxlife",
                "parsing [t.cfg:7]: 'maxlife' expects <lifetime> in seconds as argument.",
            ),
            (
                "cookie SRV insert maxidle abc",
                "parsing [t.cfg:7]: unexpected character 'a' in argument to <maxidle>.",
            ),
            (
                "cookie SRV insert maxidle 10x",
                "parsing [t.cfg:7]: unexpected character 'x' in argument to <maxidle>.",
            ),
            (
                "cookie SRV insert maxidle 10S",
                "parsing [t.cfg:7]: unexpected character 'S' in argument to <maxidle>.",
            ),
            (
                "cookie SRV insert maxidle -1",
                "parsing [t.cfg:7]: unexpected character '-' in argument to <maxidle>.",
            ),
            (
                "cookie SRV insert maxidle 2147483648",
                "parsing [t.cfg:7]: timer overflow in argument <2147483648> to <maxidle>, maximum value is 2147483647 s (~68 years).",
            ),
            (
                "cookie SRV insert maxidle 99999999999999999999",
                "parsing [t.cfg:7]: timer overflow in argument <99999999999999999999> to <maxidle>, maximum value is 2147483647 s (~68 years).",
            ),
            (
                "cookie SRV insert maxidle 24856d",
                "parsing [t.cfg:7]: timer overflow in argument <24856d> to <maxidle>, maximum value is 2147483647 s (~68 years).",
            ),
            (
                "cookie SRV insert maxidle 35791395m",
                "parsing [t.cfg:7]: timer overflow in argument <35791395m> to <maxidle>, maximum value is 2147483647 s (~68 years).",
            ),
            (
                "cookie SRV rewrite prefix",
                "parsing [t.cfg:7] : cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.",
            ),
            (
                "cookie SRV insert rewrite",
                "parsing [t.cfg:7] : cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.",
            ),
            (
                "cookie SRV rewrite indirect",
                "parsing [t.cfg:7] : cookie 'rewrite' and 'indirect' modes are incompatible.",
            ),
            (
                "cookie SRV preserve",
                "parsing [t.cfg:7] : cookie 'preserve' requires at least 'insert' or 'indirect'.",
            ),
            (
                "cookie SRV domain",
                "parsing [t.cfg:7]: 'domain' expects <domain> as argument.",
            ),
            (
                "cookie SRV domain a*b.com",
                "parsing [t.cfg:7]: character '*' is not permitted in domain name 'a*b.com'.",
            ),
            (
                "cookie SRV domain a:b.com",
                "parsing [t.cfg:7]: character ':' is not permitted in domain name 'a:b.com'.",
            ),
            (
                "cookie SRV attr",
                "parsing [t.cfg:7]: 'attr' expects <value> as argument.",
            ),
            (
                "cookie SRV attr a;b",
                "parsing [t.cfg:7]: character '%x3B' is not permitted in attribute value.",
            ),
            (
                "cookie SRV attr a\tb",
                "parsing [t.cfg:7]: character '%x09' is not permitted in attribute value.",
            ),
        ];
        for (line, want) in cases {
            // Split on spaces only so that a tab stays inside its word.
            let w: Vec<String> = line.split(' ').map(str::to_string).collect();
            let got: Vec<String> = match parse_cookie(&w) {
                Ok(c) => panic!("{line} accepted: {c:?}"),
                Err(d) => d.iter().map(shown).collect(),
            };
            assert_eq!(got, vec![want.to_string()], "{line}");
        }
    }

    #[test]
    fn every_broken_combination_is_reported() {
        assert_eq!(
            refused("cookie SRV rewrite indirect insert"),
            vec![
                "parsing [t.cfg:7] : cookie 'rewrite' and 'indirect' modes are incompatible.",
                "parsing [t.cfg:7] : cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.",
            ]
        );
    }

    #[test]
    fn warnings() {
        let (c, w) = accepted("cookie SRV domain local");
        assert_eq!(c.domains, vec!["local"]);
        assert_eq!(
            w,
            vec![
                "parsing [t.cfg:7]: domain 'local' contains no embedded dot, this configuration may not work properly (see RFC6265#5.2.3)."
            ]
        );
        let (c, w) = accepted("cookie SRV insert maxidle 10sx");
        assert_eq!(c.maxidle, Some(Duration::from_secs(10)));
        assert_eq!(
            w,
            vec![
                "unexpected character 'x' after the timer value '10sx', only (us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are supported. This will be reported as an error in next versions."
            ]
        );
        // The warning comes before the alert that refuses the line.
        assert_eq!(refused("cookie SRV domain local domain a/b.c").len(), 2);
    }

    #[test]
    fn full_line() {
        let (c, w) = accepted(
            "cookie SRV insert indirect nocache postonly preserve httponly secure domain .a.com domain b.org maxidle 30m maxlife 8h dynamic attr SameSite=Lax attr Partitioned",
        );
        assert!(w.is_empty());
        assert_eq!(
            c,
            CookieConf {
                name: "SRV".into(),
                mode: CookieMode::Insert,
                indirect: true,
                nocache: true,
                postonly: true,
                preserve: true,
                httponly: true,
                secure: true,
                domains: vec![".a.com".into(), "b.org".into()],
                maxidle: Some(Duration::from_secs(1800)),
                maxlife: Some(Duration::from_secs(8 * 3600)),
                dynamic: true,
                attrs: vec!["SameSite=Lax".into(), "Partitioned".into()],
            }
        );
    }

    #[test]
    fn modes() {
        assert_eq!(accepted("cookie S").0.mode, CookieMode::Passive);
        assert_eq!(accepted("cookie S rewrite").0.mode, CookieMode::Rewrite);
        assert_eq!(
            accepted("cookie S prefix indirect").0.mode,
            CookieMode::Prefix
        );
        assert_eq!(
            accepted("cookie S indirect preserve").0.mode,
            CookieMode::Passive
        );
        // Repeating a mode is not a conflict.
        assert_eq!(
            accepted("cookie S insert insert").0.mode,
            CookieMode::Insert
        );
    }

    #[test]
    fn options_end_at_an_empty_word() {
        let w: Vec<String> = ["cookie", "S", "", "bogus"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(parse_cookie(&w).is_ok());
        let w: Vec<String> = ["cookie", ""].iter().map(|s| s.to_string()).collect();
        assert!(parse_cookie(&w).is_err());
    }

    #[test]
    fn attrs_accumulate_across_lines() {
        // haproxy 2.6: `cookie SRV insert attr A=1` then `cookie SRV2 insert attr B=2` sends
        // `SRV2=s1; path=/; A=1; B=2`.
        let w = words("cookie SRV2 insert attr B=2");
        let (c, _) = parse_cookie_with_attrs(&w, &["A=1".to_string()]).unwrap_or_default();
        assert_eq!(c.attrs, vec!["A=1", "B=2"]);
    }

    #[test]
    fn seconds() {
        let ok = |s: &str| parse_seconds(s).map(|(v, _)| v);
        assert_eq!(ok("0"), Ok(0));
        assert_eq!(ok("30"), Ok(30));
        assert_eq!(ok("30s"), Ok(30));
        assert_eq!(ok("30m"), Ok(1800));
        assert_eq!(ok("8h"), Ok(28_800));
        assert_eq!(ok("1d"), Ok(86_400));
        // Rounded up, so never an underflow: haproxy accepts these.
        assert_eq!(ok("500ms"), Ok(1));
        assert_eq!(ok("1500ms"), Ok(2));
        assert_eq!(ok("10us"), Ok(1));
        assert_eq!(ok("2147483647"), Ok(2_147_483_647));
        assert_eq!(ok("35791394m"), Ok(2_147_483_640));
        assert_eq!(ok("2147483648"), Err(SecondsError::Overflow));
        // 2^64 and 2^64+1 wrap in haproxy's unsigned long long, which accepts them.
        assert_eq!(ok("18446744073709551616"), Ok(0));
        assert_eq!(ok("18446744073709551617"), Ok(1));
        assert_eq!(ok("é"), Err(SecondsError::Unexpected('é')));
        assert_eq!(ok("1u"), Err(SecondsError::Unexpected('u')));
        assert!(parse_seconds("1msx").is_ok_and(|(v, w)| v == 1 && w.is_some()));
        assert_eq!(accepted("cookie S insert maxidle 0").0.maxidle, None);
    }
}
