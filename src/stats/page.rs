//! The HTTP side of the stats page: URI matching (a prefix, as HAProxy), Basic
//! authentication (`stats auth`/`stats realm`), the options after the URI (`;csv`, `;up`,
//! `;norefresh`, `;st=...`), and the admin form's POST (`stats admin`), answered with a 303 to
//! `<uri>;st=DONE|NONE|PART|ERRP|DENY` like HAProxy. Builds whole responses as bytes; the
//! connection code sends them (`conn::http::reply`). Admin actions go through
//! `check::transition` (HAProxy's log lines, queues), see [`apply_action`].

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::{Choice, ConstantTimeEq};

use crate::http::errors;
use crate::server::notes::HealthNote;

use crate::model::{BackendId, ServerId, StatsConf};
use crate::server::{Admin, SharedState};

use super::{ProcessInfo, StatFilter, html};

/// Whether `uri` asks for the stats page at `conf.uri` (HAProxy compares the prefix).
pub(crate) fn matches(conf: &StatsConf, uri: &[u8]) -> bool {
    uri.starts_with(conf.uri.as_bytes())
}

/// The options written after the stats URI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub(crate) csv: bool,
    pub(crate) up_only: bool,
    pub(crate) norefresh: bool,
    /// `;st=XXXX`: the result of the last admin action, shown in the page.
    pub(crate) status: Option<String>,
}

impl Options {
    pub(crate) fn parse(rest: &[u8]) -> Options {
        let s = String::from_utf8_lossy(rest);
        let mut o = Options::default();
        for part in s.split(';').skip(1) {
            let part = part.split(['?', '&', '#']).next().unwrap_or_default();
            match part {
                "csv" => o.csv = true,
                "up" => o.up_only = true,
                "norefresh" => o.norefresh = true,
                p if p.starts_with("st=") => o.status = p.get(3..).map(str::to_string),
                _ => {}
            }
        }
        o
    }
}

/// One admin action of the form (`action=` values of HAProxy's page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Ready,
    Drain,
    Maint,
    HealthUp,
    HealthNolb,
    HealthDown,
    Shutdown,
}

impl Action {
    pub(crate) fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "ready" => Action::Ready,
            "drain" => Action::Drain,
            "maint" => Action::Maint,
            "hrunn" => Action::HealthUp,
            "hnolb" => Action::HealthNolb,
            "hdown" => Action::HealthDown,
            "shutdown" => Action::Shutdown,
            _ => return None,
        })
    }
}

/// A parsed admin POST: the backend, the servers, the action.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AdminForm {
    pub(crate) backend: Option<String>,
    pub(crate) servers: Vec<String>,
    pub(crate) action: Option<String>,
}

/// `application/x-www-form-urlencoded` decoding of one value.
pub(crate) fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(v) = hex {
                    out.push(v);
                    i += 2;
                } else {
                    out.push(c);
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl AdminForm {
    pub(crate) fn parse(body: &[u8]) -> AdminForm {
        let s = String::from_utf8_lossy(body);
        let mut f = AdminForm::default();
        for pair in s.trim_end_matches(['\r', '\n']).split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = url_decode(v);
            match k {
                "b" => f.backend = Some(v),
                "s" => f.servers.push(v),
                "action" => f.action = Some(v),
                _ => {}
            }
        }
        f
    }
}

/// Applies `action` to server `srv` of backend `be` the way the runtime API does: admin
/// states and forced health go to the reactor owning the server's probes
/// (`SharedState::send_runtime`, as `set server ... state|health`), session kills are a
/// `HealthNote::Shutdown` broadcast.
pub(crate) fn apply_action(
    shared: &SharedState,
    be: BackendId,
    srv: ServerId,
    action: Action,
) -> bool {
    use crate::server::notes::RuntimeOp;
    use crate::status::Change;
    if shared.server(be, srv).is_none() {
        return false;
    }
    let op = match action {
        Action::Ready => RuntimeOp::Admin(Admin::Ready),
        Action::Drain => RuntimeOp::Admin(Admin::Drain),
        Action::Maint => RuntimeOp::Admin(Admin::Maint),
        Action::HealthUp => RuntimeOp::Health(Change::Up),
        Action::HealthNolb => RuntimeOp::Health(Change::Stopping),
        Action::HealthDown => RuntimeOp::Health(Change::Down),
        Action::Shutdown => {
            shared.broadcast_note(HealthNote::Shutdown {
                backend: be,
                server: Some(srv),
                cause: crate::term::Cause::Killed,
            });
            return true;
        }
    };
    shared.send_runtime(be, srv, op);
    true
}

/// Runs an admin POST; returns HAProxy's result code (`DONE`, `NONE`, `PART`, `ERRP`).
pub(crate) fn run_admin(shared: &SharedState, form: &AdminForm) -> &'static str {
    let model = &shared.model;
    let (_, be_ids) = super::proxy_ids(model);
    let Some(b) = form.backend.as_deref() else {
        return "ERRP";
    };
    // The page sends `#<iid>`; a name works too.
    let be = match b.strip_prefix('#') {
        Some(id) => id
            .parse::<u32>()
            .ok()
            .and_then(|id| be_ids.iter().position(|x| *x == id)),
        None => model.backends.iter().position(|x| x.name == b),
    };
    let Some(bi) = be else {
        return "ERRP";
    };
    let Some(action) = form.action.as_deref().and_then(Action::parse) else {
        return "ERRP";
    };
    let Some(backend) = model.backends.get(bi) else {
        return "ERRP";
    };
    let (mut done, mut missed) = (0, 0);
    for name in &form.servers {
        match backend.servers.iter().position(|s| &s.name == name) {
            Some(si)
                if apply_action(
                    shared,
                    BackendId::from_index(bi),
                    ServerId::from_index(si),
                    action,
                ) =>
            {
                done += 1
            }
            _ => missed += 1,
        }
    }
    match (done, missed) {
        (0, 0) => "NONE",
        (0, _) => "ERRP",
        (_, 0) => "DONE",
        _ => "PART",
    }
}

/// Decodes the credentials of `Authorization: Basic`: standard base64 with its padding, as
/// HAProxy's `base64dec()` wants it (a length that is not a multiple of 4 is refused).
fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

/// Whether the request's `Authorization` header carries one of the `stats auth` accounts.
pub(crate) fn authorized(conf: &StatsConf, authorization: Option<&[u8]>) -> bool {
    if conf.auth.is_empty() {
        return true;
    }
    let Some(h) = authorization else {
        return false;
    };
    let h = h.trim_ascii();
    let Some(b64) = h
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case(b"basic "))
        .and_then(|_| h.get(6..))
    else {
        return false;
    };
    let Some(decoded) = base64_decode(b64.trim_ascii()) else {
        return false;
    };
    // Every account is compared, each in constant time for its length: how long the answer
    // takes says nothing of how many bytes matched, nor which account did.
    let mut found = Choice::from(0);
    for (u, p) in &conf.auth {
        let mut want = Vec::with_capacity(u.len() + p.len() + 1);
        want.extend_from_slice(u.as_bytes());
        want.push(b':');
        want.extend_from_slice(p.as_bytes());
        found |= want.as_slice().ct_eq(&decoded);
    }
    found.into()
}

/// HAProxy's 401 for the stats page (checked against haproxy 2.6).
pub(crate) fn unauthorized(conf: &StatsConf, close: bool) -> Vec<u8> {
    // HAProxy's built-in 401 page, with the realm added.
    let body = errors::body(401).unwrap_or_default();
    let realm = conf.realm.as_deref().unwrap_or("HAProxy Statistics");
    let mut s = String::new();
    let _ = write!(
        s,
        "HTTP/1.1 401 {}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nwww-authenticate: Basic realm=\"{}\"\r\n",
        errors::reason(401),
        body.len(),
        realm.replace('"', "")
    );
    if close {
        s.push_str("connection: close\r\n");
    }
    s.push_str("\r\n");
    s.push_str(body);
    s.into_bytes()
}

/// The 303 after an admin POST.
pub(crate) fn redirect(conf: &StatsConf, status: &str, close: bool) -> Vec<u8> {
    let mut s = format!(
        "HTTP/1.1 303 {}\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nlocation: {};st={status}\r\n",
        errors::reason(303),
        conf.uri
    );
    if close {
        s.push_str("connection: close\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// What a request to the stats page gets.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub(crate) uri: &'a [u8],
    pub(crate) post: bool,
    pub(crate) authorization: Option<&'a [u8]>,
    /// `stats admin` conditions hold for this request.
    pub(crate) admin: bool,
    /// The request body (an admin form), when complete.
    pub(crate) body: &'a [u8],
    /// Close the connection after the response.
    pub(crate) close: bool,
    /// The proxy serving the page (for `stats show-desc`/node texts).
    pub(crate) proxy: &'a str,
}

/// Answers a stats request: (status, whole HTTP response).
pub(crate) fn respond(shared: &SharedState, conf: &StatsConf, req: &Request<'_>) -> (u16, Vec<u8>) {
    if !authorized(conf, req.authorization) {
        return (401, unauthorized(conf, req.close));
    }
    // HAProxy handles a POST as an admin action only with a body; an empty one gets the page.
    if req.post && !req.body.is_empty() {
        let st = if req.admin {
            run_admin(shared, &AdminForm::parse(req.body))
        } else {
            "DENY"
        };
        return (303, redirect(conf, st, req.close));
    }
    let rest = req.uri.get(conf.uri.len()..).unwrap_or_default();
    let opts = Options::parse(rest);
    let mut body = String::new();
    let content_type = if opts.csv {
        let rows = super::collect(shared, &StatFilter::default());
        super::csv_header(&mut body);
        super::csv_rows(&rows, &mut body);
        "text/plain"
    } else {
        let info = ProcessInfo::current(shared);
        html::render(shared, conf, &info, &opts, req.admin, req.proxy, &mut body);
        "text/html"
    };
    let mut head = format!(
        "HTTP/1.1 200 {}\r\ncache-control: no-cache\r\ncontent-type: {content_type}\r\n",
        errors::reason(200)
    );
    if let (Some(r), false) = (conf.refresh, opts.norefresh) {
        let _ = write!(head, "refresh: {r}\r\n");
    }
    let _ = write!(head, "content-length: {}\r\n", body.len());
    if req.close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    (200, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_forms_parse_without_panics() {
        let o = Options::parse(b";csv;norefresh;st=DONE");
        assert!(o.csv && o.norefresh && !o.up_only);
        assert_eq!(o.status.as_deref(), Some("DONE"));
        assert_eq!(Options::parse(b""), Options::default());
        assert!(Options::parse(b";up").up_only);
        let f = AdminForm::parse(b"s=s1&s=s%202&action=maint&b=%231");
        assert_eq!(f.servers, ["s1", "s 2"]);
        assert_eq!(f.backend.as_deref(), Some("#1"));
        assert_eq!(f.action.as_deref(), Some("maint"));
        for junk in [&b"%"[..], b"%zz&&==", b"\xff\xfe=%4", b"s"] {
            let _ = AdminForm::parse(junk);
        }
        assert_eq!(url_decode("a+b%2Fc%"), "a b/c%");
    }

    #[test]
    fn basic_auth() {
        let conf = StatsConf {
            auth: vec![("admin".into(), "pw".into())],
            ..StatsConf::default()
        };
        // "admin:pw"
        assert!(authorized(&conf, Some(b"Basic YWRtaW46cHc=")));
        assert!(authorized(&conf, Some(b"basic  YWRtaW46cHc= ")));
        assert!(!authorized(&conf, Some(b"Basic YWRtaW46cHg=")));
        assert!(!authorized(&conf, Some(b"Basic !!!")));
        assert!(!authorized(&conf, Some(b"Bearer x")));
        assert!(!authorized(&conf, None));
        assert!(authorized(&StatsConf::default(), None));
        assert_eq!(base64_decode(b"aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode(b"a"), None);
    }
}
