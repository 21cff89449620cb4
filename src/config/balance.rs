//! Load-balancing keywords: `balance`, `hash-type` and `hash-balance-factor`, with HAProxy
//! 2.6's messages. The HTTP hashing algorithms of `balance` (`uri`, `url_param`, `hdr`) are
//! parsed in `config::http`; what the values mean is `crate::balance`'s business.
//!
//! **Stricter** than HAProxy, like the rest of the dialect: extra words, `randomX` and text
//! after `random(N)` are errors (HAProxy ignores them), and `hash-balance-factor` needs an
//! integer (HAProxy reads `abc` as 0).

use crate::config::error::{Diagnostics, Span};
use crate::config::error::{too_many, unsupported};
use crate::config::http as http_kw;
use crate::config::proxy::ProxyConf;
use crate::config::units::parse_i64;
use crate::hash::{HashFunction, HashMethod, HashType};
use crate::model::Balance;

/// Draws of `balance random` without an argument: the "power of two choices".
const DEFAULT_DRAWS: u32 = 2;

/// `balance ALGO [ARGS]`.
pub(crate) fn parse_balance(p: &mut ProxyConf, words: &[String], span: &Span, d: &mut Diagnostics) {
    const SUPPORTED: &str = "balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.";
    let algo = words.get(1).map(String::as_str).unwrap_or_default();
    match http_kw::parse_hash_balance(words) {
        Some(Ok(b)) => {
            p.balance = b;
            return;
        }
        Some(Err(e)) => return d.alert(span, e),
        None => {}
    }
    let b = match algo {
        "roundrobin" => Balance::RoundRobin,
        "static-rr" => Balance::StaticRr,
        "leastconn" => Balance::LeastConn,
        "first" => Balance::First,
        "source" => Balance::Source,
        "hash" => {
            return d.alert(span, unsupported(&format!("balance {algo}")));
        }
        a if a.starts_with("rdp-cookie") => {
            return d.alert(span, unsupported(&format!("balance {a}")));
        }
        a => match a.strip_prefix("random") {
            Some(args) => match parse_draws(args) {
                Ok(draws) => Balance::Random { draws },
                Err(e) => return d.alert(span, format!("balance random : {e}")),
            },
            None => return d.alert(span, SUPPORTED),
        },
    };
    if let Some(x) = words.get(2) {
        return d.alert(span, too_many("balance", x));
    }
    p.balance = b;
}

/// What follows `random`: nothing, `()` or `(N)` with N read as C's `strtol(.., 0)` (so `0x10`
/// and `010` are 16 and 8) and kept as an `int`, as HAProxy does. `Err` is HAProxy's message
/// after `balance random : `.
fn parse_draws(args: &str) -> Result<u32, String> {
    let Some(inner) = args.strip_prefix('(') else {
        return if args.is_empty() {
            Ok(DEFAULT_DRAWS)
        } else {
            // HAProxy takes `randomX` as `random`; Ravelin does not guess.
            Err(format!(
                "unexpected character '{}' after 'random'.",
                first_char(args)
            ))
        };
    };
    if let Some(rest) = inner.strip_prefix(')') {
        return match rest.chars().next() {
            None => Ok(DEFAULT_DRAWS),
            Some(c) => Err(format!("unexpected character '{c}' after argument.")),
        };
    }
    let (value, rest) = strtol(inner);
    let Some(after) = rest.strip_prefix(')') else {
        return Err(match rest.chars().next() {
            None => "missing closing parenthesis.".into(),
            Some(c) => format!("unexpected character '{c}' after argument."),
        });
    };
    if let Some(c) = after.chars().next() {
        return Err(format!("unexpected character '{c}' after argument."));
    }
    // HAProxy stores the long in an int: keep its truncation, then its check.
    #[allow(clippy::cast_possible_truncation)]
    let draws = value as i32;
    if draws < 1 {
        return Err("number of draws must be at least 1.".into());
    }
    Ok(draws.unsigned_abs())
}

fn first_char(s: &str) -> char {
    s.chars().next().unwrap_or(' ')
}

/// C's `strtol(s, &end, 0)` on 64-bit Linux: optional sign, then hexadecimal after `0x`, octal
/// after `0`, else decimal; saturates at the `i64` bounds. Returns the value and the text
/// after the digits (`s` itself when there are none).
fn strtol(s: &str) -> (i64, &str) {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..).unwrap_or_default()),
        Some(b'+') => (false, s.get(1..).unwrap_or_default()),
        _ => (false, s),
    };
    let hex = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))
        .filter(|h| h.as_bytes().first().is_some_and(u8::is_ascii_hexdigit));
    let (radix, digits) = match hex {
        Some(h) => (16, h),
        None if body.starts_with('0') => (8, body),
        None => (10, body),
    };
    let len = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if len == 0 {
        return (0, s);
    }
    let mut value: i128 = 0;
    for c in digits.get(..len).unwrap_or_default().chars() {
        let v = c.to_digit(radix).unwrap_or(0);
        value = (value * radix as i128 + v as i128).min(i64::MAX as i128 + 1);
    }
    let value = if negative { -value } else { value };
    let value =
        i64::try_from(value.clamp(i128::from(i64::MIN), i128::from(i64::MAX))).unwrap_or(i64::MAX);
    (value, digits.get(len..).unwrap_or_default())
}

/// `hash-type map-based|consistent [sdbm|djb2|wt6|crc32 [avalanche]]`. Without a function,
/// `consistent` means `sdbm avalanche` and `map-based` plain `sdbm` (HAProxy's defaults).
pub(crate) fn parse_hash_type(
    p: &mut ProxyConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let arg = |i: usize| words.get(i).map(String::as_str);
    let method = match arg(1).unwrap_or_default() {
        "consistent" => HashMethod::Consistent,
        "map-based" => HashMethod::MapBased,
        "avalanche" => {
            return d.alert(
                span,
                "experimental feature 'hash-type avalanche' is not supported anymore, please use 'hash-type map-based sdbm avalanche' instead.",
            );
        }
        _ => {
            return d.alert(
                span,
                "'hash-type' only supports 'consistent' and 'map-based'.",
            );
        }
    };
    let (function, avalanche) = match arg(2) {
        None => (HashFunction::Sdbm, method == HashMethod::Consistent),
        Some(f) => {
            let function = match f {
                "sdbm" => HashFunction::Sdbm,
                "djb2" => HashFunction::Djb2,
                "wt6" => HashFunction::Wt6,
                "crc32" => HashFunction::Crc32,
                _ => {
                    return d.alert(
                        span,
                        "'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.",
                    );
                }
            };
            let avalanche = match arg(3) {
                None => false,
                Some("avalanche") => true,
                Some(_) => {
                    return d.alert(
                        span,
                        "'hash-type' only supports 'avalanche' as a modifier for hash functions.",
                    );
                }
            };
            (function, avalanche)
        }
    };
    if let Some(x) = arg(4) {
        return d.alert(span, too_many("hash-type", x));
    }
    p.hash_type = HashType {
        method,
        function,
        avalanche,
    };
}

/// `hash-balance-factor N`: 0 (off) or a percentage above 100.
pub(crate) fn parse_hash_balance_factor(
    p: &mut ProxyConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let kw = "hash-balance-factor";
    let Some(v) = words.get(1).filter(|v| !v.is_empty()) else {
        return d.alert(span, format!("'{kw}' expects an integer argument."));
    };
    let Some(n) = parse_i64(v) else {
        return d.alert(span, format!("'{kw}' expects an integer argument."));
    };
    // HAProxy keeps an int: anything else is as wrong as 50.
    let factor = match u32::try_from(n) {
        Ok(f) if f == 0 || (f > 100 && f <= i32::MAX as u32) => f,
        _ => return d.alert(span, format!("'{kw}' must be 0 or greater than 100.")),
    };
    if let Some(x) = words.get(2) {
        return d.alert(span, too_many(kw, x));
    }
    p.hash_balance_factor = factor;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_like_c() {
        assert_eq!(strtol("3)"), (3, ")"));
        assert_eq!(strtol("0x10)"), (16, ")"));
        assert_eq!(strtol("010"), (8, ""));
        assert_eq!(strtol("08"), (0, "8"));
        assert_eq!(strtol("0x"), (0, "x"));
        assert_eq!(strtol("-4x"), (-4, "x"));
        assert_eq!(strtol("x"), (0, "x"));
        assert_eq!(strtol("-"), (0, "-"));
        assert_eq!(strtol("99999999999999999999999"), (i64::MAX, ""));
        assert_eq!(strtol("-99999999999999999999999"), (i64::MIN, ""));
    }

    #[test]
    fn draws_like_haproxy() {
        assert_eq!(parse_draws(""), Ok(2));
        assert_eq!(parse_draws("()"), Ok(2));
        assert_eq!(parse_draws("(3)"), Ok(3));
        assert_eq!(parse_draws("(0x10)"), Ok(16));
        assert_eq!(parse_draws("(+1)"), Ok(1));
        // HAProxy truncates the long to an int.
        assert_eq!(parse_draws("(99999999999)"), Ok(1_215_752_191));
        let at_least = Err("number of draws must be at least 1.".to_string());
        assert_eq!(parse_draws("(0)"), at_least);
        assert_eq!(parse_draws("(-1)"), at_least);
        assert_eq!(parse_draws("(9223372036854775807)"), at_least);
        assert_eq!(
            parse_draws("(x)"),
            Err("unexpected character 'x' after argument.".into())
        );
        assert_eq!(
            parse_draws("(3x)"),
            Err("unexpected character 'x' after argument.".into())
        );
        assert_eq!(parse_draws("("), Err("missing closing parenthesis.".into()));
        assert_eq!(
            parse_draws("(2"),
            Err("missing closing parenthesis.".into())
        );
        assert!(parse_draws("(3)x").is_err());
        assert!(parse_draws("ly").is_err());
    }
}
