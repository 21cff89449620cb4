//! Local time: the offset of the system's time zone from UTC at a given instant.

/// Seconds east of UTC for the local time zone at `unix_secs` (`localtime_r`'s `tm_gmtoff`),
/// 0 when it cannot be known.
pub(crate) fn utc_offset(unix_secs: i64) -> i32 {
    let t: libc::time_t = unix_secs as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers point to live locals of the right types for the duration of the
    // call; `localtime_r` is the thread-safe variant and writes only into `tm`.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        return 0;
    }
    i32::try_from(tm.tm_gmtoff).unwrap_or(0)
}
