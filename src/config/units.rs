//! Numbers with units: times (`10s`, `500ms`) and sizes (`16k`), as HAProxy reads them.
//!
//! Times follow `parse_time_err()` (section 2.5 of the manual): a decimal number then an
//! optional unit `us`, `ms`, `s`, `m`, `h` or `d`; no unit means milliseconds. Sizes take an
//! optional `k`, `m` or `g` suffix (powers of 1024). Callers turn the error kinds into the
//! message HAProxy prints for their keyword.

use std::time::Duration;

/// HAProxy stores times as signed 32-bit milliseconds (`TIMER_LOOK_BACK`), hence this limit.
pub(crate) const MAX_TIME_MS: u64 = 2_147_483_647;

/// Why a time value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeError {
    /// The empty string.
    Empty,
    /// A character that is neither a digit nor a known unit.
    Unexpected(char),
    /// More than [`MAX_TIME_MS`].
    Overflow,
    /// A non-zero value below one millisecond.
    Underflow,
}

impl TimeError {
    /// HAProxy's text for this error in a `timeout <name>` style keyword (`what` is e.g.
    /// `timeout client`), as printed by `proxy_parse_timeout()`.
    pub(crate) fn message(&self, arg: &str, what: &str) -> String {
        match self {
            TimeError::Empty => format!("'{what}' expects an integer value (in milliseconds)"),
            TimeError::Unexpected(c) => format!("unexpected character '{c}' in '{what}'"),
            TimeError::Overflow => format!(
                "timer overflow in argument '{arg}' to '{what}' (maximum value is 2147483647 ms or ~24.8 days)"
            ),
            TimeError::Underflow => format!(
                "timer underflow in argument '{arg}' to '{what}' (minimum non-null value is 1 ms)"
            ),
        }
    }
}

/// Parses a time; no unit means milliseconds.
pub fn parse_time(s: &str) -> Result<Duration, TimeError> {
    if s.is_empty() {
        return Err(TimeError::Empty);
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    if num.is_empty() {
        return Err(TimeError::Unexpected(s.chars().next().unwrap_or('?')));
    }
    let mut value: u64 = 0;
    for b in num.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(TimeError::Overflow)?;
    }
    // (multiplier, divisor) to milliseconds.
    let (mul, div, used) = match unit.as_bytes() {
        [] => (1, 1, 0),
        [b'u', b's', ..] => (1, 1000, 2),
        [b'm', b's', ..] => (1, 1, 2),
        [b's', ..] => (1000, 1, 1),
        [b'm', ..] => (60_000, 1, 1),
        [b'h', ..] => (3_600_000, 1, 1),
        [b'd', ..] => (86_400_000, 1, 1),
        _ => return Err(TimeError::Unexpected(unit.chars().next().unwrap_or('?'))),
    };
    if let Some(c) = unit.get(used..).and_then(|rest| rest.chars().next()) {
        return Err(TimeError::Unexpected(c));
    }
    let ms = value.checked_mul(mul).ok_or(TimeError::Overflow)? / div;
    if ms > MAX_TIME_MS {
        return Err(TimeError::Overflow);
    }
    if ms == 0 && value != 0 {
        return Err(TimeError::Underflow);
    }
    Ok(Duration::from_millis(ms))
}

/// Parses a size with an optional `k`, `m` or `g` suffix (case-insensitive).
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    let value: u64 = num.parse().ok()?;
    let mul: u64 = match unit {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(mul)
}

/// Parses a plain unsigned decimal integer (no sign, no spaces).
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a signed decimal integer.
pub(crate) fn parse_i64(s: &str) -> Option<i64> {
    let body = s
        .strip_prefix('-')
        .or_else(|| s.strip_prefix('+'))
        .unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Result<u64, TimeError> {
        parse_time(s).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    #[test]
    fn time_units() {
        assert_eq!(ms("10"), Ok(10));
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("2000us"), Ok(2));
        assert_eq!(ms("5ms"), Ok(5));
        assert_eq!(ms("5s"), Ok(5000));
        assert_eq!(ms("2m"), Ok(120_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert_eq!(ms("1d"), Ok(86_400_000));
        assert_eq!(ms("24d"), Ok(24 * 86_400_000));
    }

    #[test]
    fn time_errors() {
        assert_eq!(ms(""), Err(TimeError::Empty));
        assert_eq!(ms("30x"), Err(TimeError::Unexpected('x')));
        assert_eq!(ms("-1"), Err(TimeError::Unexpected('-')));
        assert_eq!(ms("5sx"), Err(TimeError::Unexpected('x')));
        assert_eq!(ms("5 s"), Err(TimeError::Unexpected(' ')));
        assert_eq!(ms("1u"), Err(TimeError::Unexpected('u')));
        assert_eq!(ms("5000000000"), Err(TimeError::Overflow));
        assert_eq!(ms("25d"), Err(TimeError::Overflow));
        assert_eq!(ms("99999999999999999999999"), Err(TimeError::Overflow));
        assert_eq!(ms("1us"), Err(TimeError::Underflow));
        assert_eq!(ms("0us"), Ok(0));
    }

    #[test]
    fn time_messages_match_haproxy() {
        assert_eq!(
            TimeError::Unexpected('x').message("30x", "timeout client"),
            "unexpected character 'x' in 'timeout client'"
        );
        assert_eq!(
            TimeError::Overflow.message("5000000000", "timeout client"),
            "timer overflow in argument '5000000000' to 'timeout client' (maximum value is 2147483647 ms or ~24.8 days)"
        );
        assert_eq!(
            TimeError::Empty.message("", "timeout client"),
            "'timeout client' expects an integer value (in milliseconds)"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16384"), Some(16384));
        assert_eq!(parse_size("16k"), Some(16384));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("1x"), None);
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999999999999g"), None);
        assert_eq!(parse_size("9999999999999g"), None);
    }

    #[test]
    fn integers() {
        assert_eq!(parse_u32("42"), Some(42));
        assert_eq!(parse_u32("+42"), None);
        assert_eq!(parse_u32("4294967296"), None);
        assert_eq!(parse_u32("abc"), None);
        assert_eq!(parse_i64("-1"), Some(-1));
        assert_eq!(parse_i64("-"), None);
        assert_eq!(parse_i64("1-"), None);
    }
}
