//! Cookie persistence on a connection: runs `http::cookie` over the request's `Cookie` lines
//! (which server the client asks for, how its lines are rewritten) and the response's
//! `Set-Cookie` lines (rewritten, deleted, or a cookie inserted), keeping the edits by header
//! index for the head writers. The scratch buffers live as long as the connection, so nothing
//! is allocated per request once they have grown.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::cookie::{
    CACHE_CONTROL_PRIVATE, Cacheable, CookieConf, DownServers, LineEdit, Persistence,
    RequestCookie, ResponseCookies, ResponseVerdict, ServerCookie, Target, find_server,
    response_cacheable,
};
use crate::http::{HeaderSpan, Method, ResponseHead};
use crate::model::Backend;
use crate::server::BackendState;

/// What a header line becomes on its way out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineOut<'a> {
    /// Not a persistence line (or kept as is).
    Keep,
    Value(&'a [u8]),
    Drop,
}

/// The persistence state of the current exchange.
#[derive(Debug, Default)]
pub(crate) struct Persist {
    /// What the request's cookies decided (`None`: the backend has no `cookie`).
    pub(crate) req: Option<RequestCookie>,
    req_buf: Vec<u8>,
    req_lines: Vec<(usize, LineEdit)>,
    res_buf: Vec<u8>,
    res_lines: Vec<(usize, LineEdit)>,
    verdict: Option<ResponseVerdict>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn edit_out<'a>(lines: &[(usize, LineEdit)], buf: &'a [u8], idx: usize) -> LineOut<'a> {
    match lines.iter().find(|(i, _)| *i == idx) {
        None | Some((_, LineEdit::Keep)) => LineOut::Keep,
        Some((_, LineEdit::Remove)) => LineOut::Drop,
        Some((_, LineEdit::Replace(r))) => LineOut::Value(buf.get(r.clone()).unwrap_or(&[])),
    }
}

impl Persist {
    /// Reads the request's `Cookie` lines for backend `be` (before load balancing). Returns
    /// the server the cookie sends the request to, if any.
    pub(crate) fn on_request(
        &mut self,
        be: &Backend,
        st: &BackendState,
        headers: &[HeaderSpan],
        buf: &[u8],
    ) -> Option<usize> {
        self.req = None;
        self.req_buf.clear();
        self.req_lines.clear();
        self.verdict = None;
        let conf = be.cookie.as_ref()?;
        let down = if be.persist {
            DownServers::Persist
        } else {
            DownServers::Redispatch
        };
        let servers = || {
            be.servers
                .iter()
                .zip(st.servers.iter())
                .enumerate()
                .map(|(index, (s, ss))| ServerCookie {
                    index,
                    cookie: s.cookie.as_deref().map(str::as_bytes),
                    up: ss.is_running(),
                })
        };
        let mut walk =
            crate::http::cookie::RequestCookies::new(conf, now_secs(), Persistence::Apply);
        for (i, h) in headers.iter().enumerate() {
            if !h.name.get(buf).eq_ignore_ascii_case(b"cookie") {
                continue;
            }
            let edit = walk.line(
                h.value.get(buf),
                |v| find_server(servers(), v, down),
                &mut self.req_buf,
            );
            if edit != LineEdit::Keep {
                self.req_lines.push((i, edit));
            }
        }
        let decided = walk.finish();
        self.req = Some(decided);
        decided.server.filter(|_| decided.direct)
    }

    /// What request header line `idx` becomes.
    pub(crate) fn request_line(&self, idx: usize) -> LineOut<'_> {
        edit_out(&self.req_lines, &self.req_buf, idx)
    }

    /// Runs the response's `Set-Cookie` lines; `cookie` is the serving server's value,
    /// `direct_kept` false when a retry took the request away from the cookie's server.
    pub(crate) fn on_response(
        &mut self,
        conf: Option<&CookieConf>,
        cookie: Option<&[u8]>,
        direct_kept: bool,
        method: Method,
        rhead: &ResponseHead,
        src: &[u8],
    ) {
        let (status, headers) = (rhead.status, &rhead.headers[..]);
        self.res_buf.clear();
        self.res_lines.clear();
        self.verdict = None;
        let (Some(conf), Some(req)) = (conf, self.req.as_mut()) else {
            return;
        };
        // HAProxy leaves interim responses alone, except a protocol switch.
        if status < 200 && status != 101 {
            return;
        }
        if req.direct && !direct_kept {
            req.redispatched();
        }
        let mut walk = ResponseCookies::new(conf, req, Target::Server { cookie }, method);
        for (i, h) in headers.iter().enumerate() {
            if !h.name.get(src).eq_ignore_ascii_case(b"set-cookie") {
                continue;
            }
            let edit = walk.line(h.value.get(src), &mut self.res_buf);
            if edit != LineEdit::Keep {
                self.res_lines.push((i, edit));
            }
        }
        let cacheable = if conf.nocache {
            response_cacheable(
                method,
                status,
                headers.iter().map(|h| (h.name.get(src), h.value.get(src))),
            )
        } else {
            Cacheable::No
        };
        self.verdict = Some(walk.finish(now_secs(), cacheable, &mut self.res_buf));
    }

    /// What response header line `idx` becomes.
    pub(crate) fn response_line(&self, idx: usize) -> LineOut<'_> {
        edit_out(&self.res_lines, &self.res_buf, idx)
    }

    /// Headers to append to the response: the inserted cookie, then `cache-control: private`.
    pub(crate) fn response_additions(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let v = self.verdict.as_ref();
        let insert = v
            .and_then(|v| v.insert.clone())
            .map(|r| (&b"set-cookie"[..], self.res_buf.get(r).unwrap_or(&[])));
        let private = v
            .filter(|v| v.cache_control_private)
            .map(|_| CACHE_CONTROL_PRIVATE);
        insert.into_iter().chain(private)
    }

    /// The two cookie letters of `%tsc` (`--` when the backend's cookie mode logs none).
    pub(crate) fn log_letters(&self, conf: Option<&crate::http::cookie::CookieConf>) -> [u8; 2] {
        match conf {
            Some(c) if c.logs_cookie_flags() => [
                self.req.map_or(b'N', |r| r.client.letter()),
                self.verdict
                    .as_ref()
                    .map_or(b'N', |v| v.set_cookie.letter()),
            ],
            _ => *b"--",
        }
    }
}
