//! The request side of cookie persistence: reading the client's `Cookie` lines, choosing the
//! server they designate and rewriting them (HAProxy's `http_manage_client_side_cookies()`).

use super::{
    ClientCookie, Cookie, CookieConf, CookieMode, DATE_DELIM, LineEdit, Lookup, MAX_FUTURE_SECS,
    PREFIX_DELIM, at, cookie_value_end, date_from_units, is_spht, parse_date, shift_left,
    strip_equal_spaces,
};

/// Whether the request's persistence cookie may choose the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// Nothing chose a server yet: the cookie may.
    #[default]
    Apply,
    /// A `use-server` rule already chose. HAProxy sets `SF_ASSIGNED` and `SF_DIRECT` then, so
    /// the cookie is read and logged `U`, and the response is treated as a direct access: no
    /// cookie is inserted, and with `indirect` the server's own is deleted (checked: `UN`).
    AlreadyAssigned,
    /// `ignore-persist` matched (`SF_IGNORE_PRST`): the cookie is read and logged `U`, and the
    /// response's cookies are left alone.
    Ignore,
}

/// What the request's cookies decided, kept with the transaction until the response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RequestCookie {
    /// The server the cookie designates (index from the caller's lookup), if it is to be used.
    pub(crate) server: Option<usize>,
    /// The log letter.
    pub(crate) client: ClientCookie,
    /// The server was chosen by the cookie (`SF_DIRECT`). Clear it with
    /// [`RequestCookie::redispatched`] when the request leaves that server.
    pub(crate) direct: bool,
    /// `ignore-persist` matched: the response side does nothing.
    pub(crate) ignore: bool,
    /// First-seen date from the cookie, seconds, 0 when absent (HAProxy's signed `int`).
    pub(crate) first_date: i32,
    /// Last-seen date from the cookie, seconds, 0 when absent.
    pub(crate) last_date: i32,
}

impl RequestCookie {
    /// The request is sent to another server than the cookie's (`option redispatch` after a
    /// failure): HAProxy clears `SF_DIRECT`, so the response inserts a fresh cookie.
    pub(crate) fn redispatched(&mut self) {
        self.direct = false;
    }
}

/// The per-request walk over `Cookie` lines. Create one per request, call [`Self::line`] for
/// each `Cookie` header in order, then [`Self::finish`].
#[derive(Debug)]
pub(crate) struct RequestCookies<'c> {
    conf: &'c CookieConf,
    now: i64,
    /// A server is already chosen (by `use-server` or an earlier cookie of this request).
    assigned: bool,
    state: RequestCookie,
}

impl<'c> RequestCookies<'c> {
    /// `now` is the wall clock in seconds since the epoch.
    pub(crate) fn new(
        conf: &'c CookieConf,
        now: u64,
        persistence: Persistence,
    ) -> RequestCookies<'c> {
        RequestCookies {
            conf,
            now: i64::try_from(now).unwrap_or(i64::MAX),
            assigned: persistence != Persistence::Apply,
            state: RequestCookie {
                ignore: persistence == Persistence::Ignore,
                direct: persistence == Persistence::AlreadyAssigned,
                ..RequestCookie::default()
            },
        }
    }

    /// Processes one `Cookie` line (`value` without the name and surrounding blanks). When the
    /// line must change, its new value is appended to `scratch` and its range returned;
    /// `lookup` maps a cookie value to a server (see [`super::find_server`]).
    pub(crate) fn line(
        &mut self,
        value: &[u8],
        mut lookup: impl FnMut(&[u8]) -> Lookup,
        scratch: &mut Vec<u8>,
    ) -> LineEdit {
        // The line is edited in place at the tail of `scratch`, as HAProxy edits its buffer.
        let hb = scratch.len();
        scratch.extend_from_slice(value);
        let he = self.walk(scratch, hb, &mut lookup);
        let edit = if scratch.get(hb..he) == Some(value) {
            LineEdit::Keep
        } else if he > hb {
            LineEdit::Replace(hb..he)
        } else {
            LineEdit::Remove
        };
        let keep = match edit {
            LineEdit::Replace(_) => he,
            LineEdit::Keep | LineEdit::Remove => hb,
        };
        scratch.truncate(keep);
        edit
    }

    /// What the request's cookies decided.
    pub(crate) fn finish(self) -> RequestCookie {
        self.state
    }

    /// Walks the cookies of the line in `buf[hb..]`, editing it in place; returns its new end.
    fn walk(
        &mut self,
        buf: &mut [u8],
        hb: usize,
        lookup: &mut impl FnMut(&[u8]) -> Lookup,
    ) -> usize {
        let mut he = buf.len();
        let mut is_first = true;
        // Start of a run of our cookies to delete (insert + indirect), at their delimiter.
        let mut del_from: Option<usize> = None;
        // Some cookie of the line must stay, so the line is shortened rather than dropped.
        let mut preserve_hdr = false;
        let mut prev = hb;
        // Each round consumes at least one byte or deletes some; the bound only guards against
        // a mistake in that reasoning turning into an endless loop on hostile input.
        let mut rounds = 2 * buf.len() + 8;
        while prev < he && rounds > 0 {
            rounds -= 1;
            let mut c = parse_cookie(buf, prev, he, is_first);
            is_first = false;

            // `$Path`-like attributes belong to the cookie before them and go with it.
            if c.att_beg < he && at(buf, c.att_beg) == b'$' {
                prev = c.next;
                continue;
            }

            if c.equal == c.next {
                // No `=`: not ours, so the line stays; close a pending deletion before it.
                preserve_hdr = true;
                if let Some(from) = del_from.take() {
                    let removed = del_hdr_value(buf, hb, he, from, prev);
                    c.next = c.next.saturating_sub(removed);
                    he = he.saturating_sub(removed);
                }
                prev = c.next;
                continue;
            }

            he = strip_equal_spaces(buf, &mut c, he);

            if buf.get(c.att_beg..c.att_end) == Some(self.conf.name.as_bytes()) {
                let delim = self.read_ours(buf, &c, lookup);
                if self.conf.mode == CookieMode::Prefix && delim != c.val_end {
                    // Give the server back its own cookie: drop `SRV~`.
                    let removed = delim + 1 - c.val_beg;
                    shift_left(buf, c.val_beg, delim + 1, he);
                    c.next = c.next.saturating_sub(removed);
                    he = he.saturating_sub(removed);
                    del_from = None;
                    preserve_hdr = true;
                } else if del_from.is_none()
                    && self.conf.mode == CookieMode::Insert
                    && self.conf.indirect
                {
                    del_from = Some(prev);
                }
            } else {
                preserve_hdr = true;
                if let Some(from) = del_from.take() {
                    let removed = del_hdr_value(buf, hb, he, from, prev);
                    c.next = c.next.saturating_sub(removed);
                    he = he.saturating_sub(removed);
                }
            }
            prev = c.next;
        }
        debug_assert!(
            prev >= he,
            "the cookie walk did not reach the end of the line"
        );
        match del_from {
            Some(from) if preserve_hdr => from,
            Some(_) => hb,
            None => he,
        }
    }

    /// Handles one occurrence of our cookie: dates, expiry, server lookup and the log letter.
    /// Returns the end of the server part of the value (`delim`), `val_beg` when the value is
    /// to be treated as empty.
    fn read_ours(
        &mut self,
        buf: &[u8],
        c: &Cookie,
        lookup: &mut impl FnMut(&[u8]) -> Lookup,
    ) -> usize {
        let value = buf.get(c.val_beg..c.val_end).unwrap_or(&[]);
        let mut delim = if self.conf.mode == CookieMode::Prefix {
            c.val_beg
                + value
                    .iter()
                    .position(|&b| b == PREFIX_DELIM)
                    .unwrap_or(value.len())
        } else {
            match value.iter().position(|&b| b == DATE_DELIM) {
                Some(bar) => {
                    self.read_dates(value.get(bar + 1..).unwrap_or(&[]));
                    c.val_beg + bar
                }
                None => c.val_end,
            }
        };

        let s = &mut self.state;
        let maxlife = self.conf.maxlife_secs();
        let maxidle = self.conf.maxidle_secs();
        // Same arithmetic as HAProxy: differences truncated to a signed 32-bit int.
        #[allow(clippy::cast_possible_truncation)]
        let too_far = |date: i32, max: i64| {
            (self.now.wrapping_sub(i64::from(date)) as i32) > max as i32
                || (i64::from(date).wrapping_sub(self.now) as i32) > MAX_FUTURE_SECS
        };
        if s.first_date != 0 && maxlife != 0 && too_far(s.first_date, maxlife) {
            s.client = ClientCookie::Old;
            delim = c.val_beg;
            s.first_date = 0;
            s.last_date = 0;
        } else if s.last_date != 0 && maxidle != 0 && too_far(s.last_date, maxidle) {
            s.client = ClientCookie::Expired;
            delim = c.val_beg;
            s.first_date = 0;
            s.last_date = 0;
        }

        // An empty value never matches, so a client cannot stick to a cookie-less server.
        let mut chosen = false;
        if delim != c.val_beg && !self.assigned {
            match lookup(buf.get(c.val_beg..delim).unwrap_or(&[])) {
                Lookup::Up(i) => {
                    s.client = ClientCookie::Valid;
                    s.server = Some(i);
                    chosen = true;
                }
                Lookup::DownPersist(i) => {
                    s.client = ClientCookie::Down;
                    s.server = Some(i);
                    chosen = true;
                }
                Lookup::Down => s.client = ClientCookie::Down,
                Lookup::NoMatch => {}
            }
        }
        if chosen {
            s.direct = true;
            self.assigned = true;
        } else if s.client == ClientCookie::None {
            // HAProxy tests `flags & (DOWN|EXPIRED|OLD)`, which covers every state but "none":
            // a later invalid occurrence never overrides an earlier verdict.
            s.client = if self.assigned {
                ClientCookie::Unused
            } else {
                ClientCookie::Invalid
            };
        }
        delim
    }

    /// Reads `last[|first]` after the first `|`. Each date needs five characters; an invalid
    /// or zero date leaves the previous value (HAProxy keeps dates per transaction).
    fn read_dates(&mut self, after_bar: &[u8]) {
        if after_bar.len() >= 5 {
            if let Some(v) = parse_date(after_bar).filter(|&v| v > 0) {
                self.state.last_date = date_from_units(v);
            }
        }
        if let Some(bar) = after_bar.iter().position(|&b| b == DATE_DELIM) {
            let first = after_bar.get(bar + 1..).unwrap_or(&[]);
            if first.len() >= 5 {
                if let Some(v) = parse_date(first).filter(|&v| v > 0) {
                    self.state.first_date = date_from_units(v);
                }
            }
        }
    }
}

/// Finds the next cookie of a `Cookie` line starting at `prev` (the line start or the
/// delimiter before the cookie). `,` and `;` both separate cookies; values may be quoted.
fn parse_cookie(buf: &[u8], prev: usize, he: usize, is_first: bool) -> Cookie {
    let mut att_beg = if is_first { prev } else { prev + 1 };
    while att_beg < he && is_spht(at(buf, att_beg)) {
        att_beg += 1;
    }
    let (mut equal, mut att_end) = (att_beg, att_beg);
    while equal < he {
        let ch = at(buf, equal);
        if ch == b'=' || ch == b',' || ch == b';' {
            break;
        }
        equal += 1;
        if !is_spht(ch) {
            att_end = equal;
        }
    }
    if equal < he && at(buf, equal) == b'=' {
        let mut val_beg = equal + 1;
        while val_beg < he && is_spht(at(buf, val_beg)) {
            val_beg += 1;
        }
        let next = cookie_value_end(buf, val_beg, he);
        let mut val_end = next;
        while val_end > val_beg && is_spht(at(buf, val_end - 1)) {
            val_end -= 1;
        }
        Cookie {
            att_beg,
            att_end,
            equal,
            val_beg,
            val_end,
            next,
        }
    } else {
        Cookie {
            att_beg,
            att_end,
            equal,
            val_beg: equal,
            val_end: equal,
            next: equal,
        }
    }
}

/// `http_del_hdr_value()`: deletes the cookies between the delimiter at `from` (or the line
/// start `start`) and the delimiter at `next` (or the end `end`), keeping one delimiter and,
/// when there is room, one space between the neighbours. Returns how many bytes went away.
fn del_hdr_value(buf: &mut [u8], start: usize, end: usize, from: usize, next: usize) -> usize {
    let (mut prev, mut next) = (from, next);
    if prev == start {
        // Removing the first cookies: eat the delimiter after them and the blanks.
        if next < end {
            next += 1;
        }
        while next < end && is_spht(at(buf, next)) {
            next += 1;
        }
    } else {
        while prev > start && is_spht(at(buf, prev - 1)) {
            prev -= 1;
        }
        if next < end {
            let delimiter = at(buf, next);
            if let Some(b) = buf.get_mut(prev) {
                *b = delimiter;
            }
            prev += 1;
            next += 1;
            if prev + 1 < next {
                if let Some(b) = buf.get_mut(prev) {
                    *b = b' ';
                }
                prev += 1;
            }
            while next < end && is_spht(at(buf, next)) {
                next += 1;
            }
        }
    }
    shift_left(buf, prev, next, end);
    next.saturating_sub(prev)
}
