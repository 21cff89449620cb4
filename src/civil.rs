//! Civil time as HAProxy writes it in logs and certificates: dates from Unix milliseconds, without `fmt`
//! or allocation on the formatting path. Local time uses an offset refreshed at most once a second.

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering::Relaxed};

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

static OFFSET: AtomicI32 = AtomicI32::new(0);
static OFFSET_AT: AtomicI64 = AtomicI64::new(i64::MIN);

/// Milliseconds since the Unix epoch now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, crate::timer::millis)
}

/// The local offset in seconds for `secs`, recomputed when a second has passed.
pub(crate) fn offset(secs: i64) -> i32 {
    if OFFSET_AT.load(Relaxed) != secs {
        OFFSET.store(crate::sys::clock::utc_offset(secs), Relaxed);
        OFFSET_AT.store(secs, Relaxed);
    }
    OFFSET.load(Relaxed)
}

/// Civil date and time of `secs` (Unix seconds): (year, month 1..=12, day, h, m, s).
// Day (1..=31), month (1..=12) and hour (0..24) fit any integer: the casts keep every bit.
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

fn two(n: u32, out: &mut Vec<u8>) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

fn year(y: i64, out: &mut Vec<u8>) {
    let y = y.clamp(0, 9999) as u32;
    two(y / 100, out);
    two(y % 100, out);
}

fn month(m: u32) -> &'static [u8; 3] {
    MONTHS
        .get(m.saturating_sub(1) as usize)
        .copied()
        .unwrap_or(b"Jan")
}

fn split(ms: u64, local: bool) -> (i64, u32, i32) {
    let secs = (ms / 1000) as i64;
    let off = if local { offset(secs) } else { 0 };
    (secs + i64::from(off), (ms % 1000) as u32, off)
}

/// `%t`/`%tr`: `21/Nov/2026:14:29:32.788`.
pub(crate) fn haproxy_date(ms: u64, local: bool, out: &mut Vec<u8>) {
    let (secs, milli, _) = split(ms, local);
    let (y, mo, d, h, mi, s) = civil(secs);
    two(d, out);
    out.push(b'/');
    out.extend_from_slice(month(mo));
    out.push(b'/');
    year(y, out);
    out.push(b':');
    two(h, out);
    out.push(b':');
    two(mi, out);
    out.push(b':');
    two(s, out);
    out.push(b'.');
    out.push(b'0' + (milli / 100 % 10) as u8);
    two(milli % 100, out);
}

fn zone(off: i32, colon: bool, out: &mut Vec<u8>) {
    out.push(if off < 0 { b'-' } else { b'+' });
    let a = off.unsigned_abs();
    two(a / 3600, out);
    if colon {
        out.push(b':');
    }
    two(a % 3600 / 60, out);
}

/// `%T`/`%trg`/`%trl`: `21/Nov/2026:14:29:32 +0000`.
pub(crate) fn clf_date(ms: u64, local: bool, out: &mut Vec<u8>) {
    let (secs, _, off) = split(ms, local);
    let (y, mo, d, h, mi, s) = civil(secs);
    two(d, out);
    out.push(b'/');
    out.extend_from_slice(month(mo));
    out.push(b'/');
    year(y, out);
    out.push(b':');
    two(h, out);
    out.push(b':');
    two(mi, out);
    out.push(b':');
    two(s, out);
    out.push(b' ');
    zone(off, false, out);
}

/// The rfc3164 header date: `Nov  1 14:29:57` (local time, day padded with a space).
pub(crate) fn syslog_date(ms: u64, out: &mut Vec<u8>) {
    let (secs, _, _) = split(ms, true);
    let (_, mo, d, h, mi, s) = civil(secs);
    out.extend_from_slice(month(mo));
    out.push(b' ');
    if d < 10 {
        out.push(b' ');
        out.push(b'0' + (d % 10) as u8);
    } else {
        two(d, out);
    }
    out.push(b' ');
    two(h, out);
    out.push(b':');
    two(mi, out);
    out.push(b':');
    two(s, out);
}

/// The rfc5424 / ISO date: `2026-11-21T14:30:04.660295+00:00` (`micros` since the epoch).
pub(crate) fn iso_date(micros: u64, out: &mut Vec<u8>) {
    let secs = (micros / 1_000_000) as i64;
    let off = offset(secs);
    let (y, mo, d, h, mi, s) = civil(secs + i64::from(off));
    year(y, out);
    out.push(b'-');
    two(mo, out);
    out.push(b'-');
    two(d, out);
    out.push(b'T');
    two(h, out);
    out.push(b':');
    two(mi, out);
    out.push(b':');
    two(s, out);
    out.push(b'.');
    let us = (micros % 1_000_000) as u32;
    two(us / 10_000, out);
    two(us / 100 % 100, out);
    two(us % 100, out);
    zone(off, true, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        // 2026-11-21T14:29:32Z
        assert_eq!(civil(1_795_271_372), (2026, 11, 21, 14, 29, 32));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
    }

    #[test]
    fn formats() {
        let mut v = Vec::new();
        haproxy_date(1_795_271_372_788, false, &mut v);
        assert_eq!(v, b"21/Nov/2026:14:29:32.788");
        v.clear();
        clf_date(1_795_271_372_788, false, &mut v);
        assert_eq!(v, b"21/Nov/2026:14:29:32 +0000");
        v.clear();
        haproxy_date(5, false, &mut v);
        assert_eq!(v, b"01/Jan/1970:00:00:00.005");
    }
}
