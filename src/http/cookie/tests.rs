//! Expected bytes and log letters in these tests were captured from haproxy 2.6.12 (Debian
//! 2.6.12-1+deb12u4) on loopback: a raw-socket client, two echo backends whose `server` lines
//! carry `cookie s1` and `cookie s2`, and `log-format "%tsc %s"`. The forwarded `Cookie` lines
//! are what the backend received; the `Set-Cookie` lines what the client received (haproxy
//! writes header names in lower case, values as below).

use super::*;
use crate::config::cookie::parse_cookie;
use crate::http::Method;

fn conf(line: &str) -> CookieConf {
    let words: Vec<String> = line.split(' ').map(str::to_string).collect();
    parse_cookie(&words).unwrap().0
}

/// Servers `s1` (index 0) and `s2` (index 1), both up.
fn lookup(v: &[u8]) -> Lookup {
    match v {
        b"s1" => Lookup::Up(0),
        b"s2" => Lookup::Up(1),
        _ => Lookup::NoMatch,
    }
}

const NOW: u64 = 1_795_267_697;

/// Runs the request side over `lines`; returns the lines forwarded to the server.
fn request_with(
    conf: &CookieConf,
    persistence: Persistence,
    lines: &[&str],
    now: u64,
) -> (Vec<String>, RequestCookie) {
    let mut scratch = Vec::new();
    let mut rc = RequestCookies::new(conf, now, persistence);
    let mut out = Vec::new();
    for l in lines {
        match rc.line(l.as_bytes(), lookup, &mut scratch) {
            LineEdit::Keep => out.push(l.to_string()),
            LineEdit::Replace(r) => {
                out.push(String::from_utf8_lossy(&scratch[r]).into_owned());
            }
            LineEdit::Remove => {}
        }
    }
    (out, rc.finish())
}

fn request(conf: &CookieConf, lines: &[&str]) -> (Vec<String>, RequestCookie) {
    request_with(conf, Persistence::Apply, lines, NOW)
}

/// The forwarded `Cookie` line(s) and the third log letter for one request line.
fn fwd(conf: &CookieConf, line: &str) -> (Vec<String>, char) {
    let (out, rc) = request(conf, &[line]);
    (out, rc.client.letter() as char)
}

struct Resp {
    lines: Vec<String>,
    cache_private: bool,
    letter: char,
}

fn response(
    conf: &CookieConf,
    req: &RequestCookie,
    target: Target<'_>,
    method: Method,
    set_cookies: &[&str],
    cacheable: Cacheable,
) -> Resp {
    let mut scratch = Vec::new();
    let mut rc = ResponseCookies::new(conf, req, target, method);
    let mut edits = Vec::new();
    for l in set_cookies {
        edits.push((l.to_string(), rc.line(l.as_bytes(), &mut scratch)));
    }
    let v = rc.finish(NOW, cacheable, &mut scratch);
    let mut lines = Vec::new();
    for (l, e) in edits {
        match e {
            LineEdit::Keep => lines.push(l),
            LineEdit::Replace(r) => lines.push(String::from_utf8_lossy(&scratch[r]).into_owned()),
            LineEdit::Remove => {}
        }
    }
    if let Some(r) = v.insert {
        lines.push(String::from_utf8_lossy(&scratch[r]).into_owned());
    }
    Resp {
        lines,
        cache_private: v.cache_control_private,
        letter: v.set_cookie.letter() as char,
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

const S1: Target<'static> = Target::Server {
    cookie: Some(b"s1"),
};
const S2: Target<'static> = Target::Server {
    cookie: Some(b"s2"),
};

#[test]
fn insert_indirect_removes_our_cookie_from_requests() {
    let c = conf("cookie SRV insert indirect");
    let cases: &[(&str, &[&str], char)] = &[
        ("SRV=s1", &[], 'V'),
        ("SRV=s1; a=1", &["a=1"], 'V'),
        ("a=1; SRV=s1", &["a=1"], 'V'),
        ("a=1 ; SRV=s1 ; b=2", &["a=1; b=2"], 'V'),
        ("a=1,SRV=s1,b=2", &["a=1, b=2"], 'V'),
        ("a = 1; SRV = s1", &["a=1"], 'V'),
        (
            "$Version=1; SRV=s1; $Path=/; a=1",
            &["$Version=1; a=1"],
            'V',
        ),
        ("SRV=\"s1\"", &[], 'I'),
        ("noequal; SRV=s1", &["noequal"], 'V'),
        ("SRV=s1; noequal", &["noequal"], 'V'),
        ("SRV=s1; SRV=s2", &[], 'V'),
        ("a=1;SRV=s1;b=2", &["a=1; b=2"], 'V'),
        ("SRV=", &[], 'I'),
        ("SRV=s1|xxxxx", &[], 'V'),
        ("a=1;  SRV=s1;  SRV=s2;   b=3", &["a=1; b=3"], 'V'),
        ("a=1 ;SRV=s1", &["a=1 "], 'V'),
        ("SRV=s1 ; a=1", &["a=1"], 'V'),
        ("a=1; SRV=s1;", &["a=1; "], 'V'),
        (";SRV=s1", &[], 'V'),
        ("SRV=s1;;a=1", &[";a=1"], 'V'),
        ("a=\"x;y\"; SRV=s1", &["a=\"x;y\""], 'V'),
        ("a=1, SRV=s1; b=2", &["a=1; b=2"], 'V'),
        ("SRV=s1; $Path=/", &[], 'V'),
        ("$Version=1; SRV=s1", &[], 'V'),
        ("a=1; SRV=s1; $Path=/; b=2", &["a=1; b=2"], 'V'),
        ("SRV=s1; SRV=s1; a=1", &["a=1"], 'V'),
        ("=x; SRV=s1", &["=x"], 'V'),
        ("a=1;SRV=s1 ;b=2", &["a=1; b=2"], 'V'),
        ("a b=1; SRV=s1", &["a b=1"], 'V'),
        ("SRV  s1=1", &["SRV  s1=1"], 'N'),
        ("a=1;   SRV=s1,b", &["a=1, b"], 'V'),
        ("; ; SRV=s1", &["; "], 'V'),
        ("a=1; SRV=s1; SRV=s2", &["a=1"], 'V'),
        ("a=1; SRV=s1; b=2; SRV=s2; c=3", &["a=1; b=2; c=3"], 'V'),
        ("SRV=s1 , a=1", &["a=1"], 'V'),
        ("a=1 , SRV=s1", &["a=1 "], 'V'),
        ("$x=1; SRV=s1; $y=2", &[], 'V'),
    ];
    for (line, want, letter) in cases {
        assert_eq!(fwd(&c, line), (s(want), *letter), "{line}");
    }
    // Several lines: each one is handled on its own.
    let (out, rc) = request(&c, &["a=1", "SRV=s2", "b=2; SRV=s2"]);
    assert_eq!(out, s(&["a=1", "b=2"]));
    assert_eq!(
        (rc.server, rc.client, rc.direct),
        (Some(1), ClientCookie::Valid, true)
    );
}

#[test]
fn other_modes_keep_the_cookie_but_normalise_spaces() {
    // Without insert+indirect our cookie stays, but `=` loses its blanks on every cookie.
    for line in [
        "cookie SRV insert",
        "cookie SRV rewrite",
        "cookie SRV",
        "cookie SRV indirect",
    ] {
        let c = conf(line);
        assert_eq!(fwd(&c, "a=1; SRV=s2"), (s(&["a=1; SRV=s2"]), 'V'), "{line}");
        assert_eq!(fwd(&c, "a = 1;b= 2"), (s(&["a=1;b=2"]), 'N'), "{line}");
    }
}

#[test]
fn prefix_strips_the_server_part() {
    let c = conf("cookie JS prefix");
    let cases: &[(&str, &[&str], char)] = &[
        ("JS=s2~abc", &["JS=abc"], 'V'),
        ("a=1; JS=s2~abc; b=2", &["a=1; JS=abc; b=2"], 'V'),
        ("JS=abc", &["JS=abc"], 'I'),
        ("JS=zz~abc", &["JS=abc"], 'I'),
        ("JS=~abc", &["JS=abc"], 'I'),
        ("JS=s2~", &["JS="], 'V'),
        ("JS=s2~a~b", &["JS=a~b"], 'V'),
        ("JS = s2~abc , x=1", &["JS=abc , x=1"], 'V'),
    ];
    for (line, want, letter) in cases {
        assert_eq!(fwd(&c, line), (s(want), *letter), "{line}");
    }
    let (_, rc) = request(&c, &["JS=s2~abc"]);
    assert_eq!(rc.server, Some(1));
}

#[test]
fn letters_follow_the_first_verdict() {
    let c = conf("cookie SRV insert indirect maxidle 30m");
    let now = 1_795_267_982;
    // haproxy: `SRV=zz; SRV=s1` -> V s1, `SRV=s1|old; SRV=s2` -> V s2,
    // `SRV=s2; SRV=s1|old` -> E but still s2 (expired dates reset, cookie refreshed: EU).
    let (_, rc) = request_with(&c, Persistence::Apply, &["SRV=zz; SRV=s1"], now);
    assert_eq!((rc.client, rc.server), (ClientCookie::Valid, Some(0)));
    let (_, rc) = request_with(&c, Persistence::Apply, &["SRV=s1|awGN8; SRV=s2"], now);
    assert_eq!((rc.client, rc.server), (ClientCookie::Valid, Some(1)));
    let (_, rc) = request_with(&c, Persistence::Apply, &["SRV=s2; SRV=s1|awGN8"], now);
    assert_eq!(
        (rc.client, rc.server, rc.direct),
        (ClientCookie::Expired, Some(1), true)
    );
    let r = {
        let mut scratch = Vec::new();
        let rs = ResponseCookies::new(&c, &rc, S2, Method::Get);
        let v = rs.finish(now, Cacheable::No, &mut scratch);
        (
            String::from_utf8_lossy(&scratch[v.insert.unwrap()]).into_owned(),
            v.set_cookie,
        )
    };
    assert_eq!(r, ("SRV=s2|awGdk; path=/".to_string(), SetCookie::Updated));
}

#[test]
fn persistence_and_server_states() {
    let c = conf("cookie SRV insert indirect");
    for p in [Persistence::AlreadyAssigned, Persistence::Ignore] {
        let (out, rc) = request_with(&c, p, &["a=1; SRV=s1"], NOW);
        assert_eq!(out, s(&["a=1"]));
        assert_eq!((rc.client, rc.server), (ClientCookie::Unused, None));
        assert_eq!(rc.ignore, p == Persistence::Ignore);
        assert_eq!(rc.direct, p == Persistence::AlreadyAssigned);
    }
    // haproxy with `use-server s2 if TRUE`: `Cookie: a=1; SRV=s1` and `Cookie: SRV=s2` both
    // log `UN`; a server cookie would be deleted (direct access with indirect).
    let (_, rc) = request_with(&c, Persistence::AlreadyAssigned, &["SRV=s2"], NOW);
    let r = response(&c, &rc, S2, Method::Get, &["SRV=x"], Cacheable::Yes);
    assert_eq!((rc.client.letter(), r.letter, r.lines), (b'U', 'D', s(&[])));
    let r = response(&c, &rc, S2, Method::Get, &[], Cacheable::Yes);
    assert_eq!((r.letter, r.lines), ('N', s(&[])));
    // haproxy with `ignore-persist if TRUE`: `UN`, the server's cookie untouched but for the
    // blanks around `=`, and nothing inserted even without a client cookie (`NN`).
    let (_, rc) = request_with(&c, Persistence::Ignore, &["a=1; SRV=s1"], NOW);
    let r = response(&c, &rc, S1, Method::Get, &["SRV = x"], Cacheable::Yes);
    assert_eq!((r.letter, r.lines), ('N', s(&["SRV=x"])));
    let (_, rc) = request_with(&c, Persistence::Ignore, &[], NOW);
    let r = response(&c, &rc, S2, Method::Get, &[], Cacheable::Yes);
    assert_eq!((rc.client.letter(), r.letter, r.lines), (b'N', 'N', s(&[])));
    let mut scratch = Vec::new();
    let mut rc = RequestCookies::new(&c, NOW, Persistence::Apply);
    rc.line(b"SRV=s3", |_| Lookup::Down, &mut scratch);
    let rc = rc.finish();
    assert_eq!(
        (rc.client, rc.server, rc.direct),
        (ClientCookie::Down, None, false)
    );
    let mut rc = RequestCookies::new(&c, NOW, Persistence::Apply);
    rc.line(b"SRV=s4", |_| Lookup::DownPersist(3), &mut scratch);
    let mut rc = rc.finish();
    assert_eq!(
        (rc.client, rc.server, rc.direct),
        (ClientCookie::Down, Some(3), true)
    );
    // haproxy: `option persist`, the persisted server refuses the connection, redispatch to
    // s1: logged `DI`, a new cookie inserted.
    rc.redispatched();
    let r = response(&c, &rc, S1, Method::Get, &[], Cacheable::No);
    assert_eq!((r.lines, r.letter), (s(&["SRV=s1; path=/"]), 'I'));
    // An empty value is never looked up.
    let mut rc = RequestCookies::new(&c, NOW, Persistence::Apply);
    rc.line(b"SRV=", |_| panic!("looked up"), &mut scratch);
    assert_eq!(rc.finish().client, ClientCookie::Invalid);
}

#[test]
fn find_server_walks_in_order() {
    let servers = [
        ServerCookie {
            index: 0,
            cookie: Some(b"a"),
            up: true,
        },
        ServerCookie {
            index: 1,
            cookie: None,
            up: true,
        },
        ServerCookie {
            index: 2,
            cookie: Some(b"s3"),
            up: false,
        },
        ServerCookie {
            index: 3,
            cookie: Some(b"s3"),
            up: true,
        },
        ServerCookie {
            index: 4,
            cookie: Some(b"s5"),
            up: false,
        },
    ];
    let f = |v: &[u8], d| find_server(servers, v, d);
    assert_eq!(f(b"a", DownServers::Redispatch), Lookup::Up(0));
    assert_eq!(f(b"s3", DownServers::Redispatch), Lookup::Up(3));
    assert_eq!(f(b"s3", DownServers::Persist), Lookup::DownPersist(2));
    assert_eq!(f(b"s5", DownServers::Redispatch), Lookup::Down);
    assert_eq!(f(b"s5", DownServers::Persist), Lookup::DownPersist(4));
    assert_eq!(f(b"zz", DownServers::Persist), Lookup::NoMatch);
    assert_eq!(f(b"", DownServers::Persist), Lookup::NoMatch);
}

#[test]
fn insert_mode_responses() {
    let c = conf("cookie SRV insert");
    let none = RequestCookie::default();
    let r = response(
        &c,
        &none,
        S1,
        Method::Get,
        &["SRV=abc; path=/", "o=1"],
        Cacheable::No,
    );
    assert_eq!((r.lines, r.letter), (s(&["o=1", "SRV=s1; path=/"]), 'I'));
    let (_, v2) = request(&c, &["SRV=s2"]);
    let r = response(&c, &v2, S2, Method::Get, &["SRV=abc"], Cacheable::No);
    assert_eq!((r.lines, r.letter), (s(&[]), 'D'));
    let r = response(&c, &v2, S2, Method::Get, &[], Cacheable::No);
    assert_eq!((r.lines, r.letter), (s(&[]), 'N'));
    // Set-Cookie takes one cookie per line: the rest is attributes.
    let r = response(
        &c,
        &none,
        S1,
        Method::Get,
        &["SRV=1, SRV=2", "a=1; SRV=2"],
        Cacheable::No,
    );
    assert_eq!(
        (r.lines, r.letter),
        (s(&["a=1; SRV=2", "SRV=s1; path=/"]), 'I')
    );
    // Dispatch-like targets get nothing.
    let r = response(
        &c,
        &none,
        Target::NoServer,
        Method::Get,
        &["SRV=abc"],
        Cacheable::Yes,
    );
    assert_eq!((r.lines, r.letter), (s(&["SRV=abc"]), 'P'));
}

#[test]
fn preserve_and_indirect_responses() {
    let none = RequestCookie::default();
    let c = conf("cookie SRV insert preserve");
    let r = response(
        &c,
        &none,
        S1,
        Method::Get,
        &["SRV=abc; path=/"],
        Cacheable::No,
    );
    assert_eq!((r.lines, r.letter), (s(&["SRV=abc; path=/"]), 'P'));
    let (_, v1) = request(&c, &["SRV=s1"]);
    let r = response(&c, &v1, S1, Method::Get, &["SRV=abc"], Cacheable::No);
    assert_eq!((r.lines, r.letter), (s(&["SRV=abc"]), 'P'));
    let r = response(&c, &none, S2, Method::Get, &[], Cacheable::No);
    assert_eq!((r.lines, r.letter), (s(&["SRV=s2; path=/"]), 'I'));

    let c = conf("cookie SRV indirect");
    let r = response(
        &c,
        &none,
        S1,
        Method::Get,
        &["SRV=abc; path=/"],
        Cacheable::No,
    );
    assert_eq!((r.lines, r.letter), (s(&["SRV=abc; path=/"]), 'P'));
    let (fwd, v2) = request(&c, &["SRV=s2"]);
    assert_eq!(fwd, s(&["SRV=s2"]));
    let r = response(&c, &v2, S2, Method::Get, &["SRV=abc"], Cacheable::No);
    assert_eq!((r.lines, r.letter), (s(&[]), 'D'));
    assert!(c.logs_cookie_flags());

    let c = conf("cookie SRV indirect preserve");
    let r = response(&c, &v2, S2, Method::Get, &["SRV=abc"], Cacheable::No);
    assert_eq!((r.lines, r.letter), (s(&["SRV=abc"]), 'P'));

    // Passive: haproxy logs `--`; the server's cookie passes.
    let c = conf("cookie SRV");
    assert!(!c.logs_cookie_flags());
    let r = response(&c, &v2, S2, Method::Get, &["SRV=abc"], Cacheable::No);
    assert_eq!(r.lines, s(&["SRV=abc"]));

    // ignore-persist: the server's cookies are not even looked at.
    let c = conf("cookie SRV insert");
    let (_, ign) = request_with(&c, Persistence::Ignore, &["SRV=s1"], NOW);
    let r = response(&c, &ign, S1, Method::Get, &["SRV = x"], Cacheable::Yes);
    assert_eq!(
        (r.lines, r.letter, r.cache_private),
        (s(&["SRV=x"]), 'N', false)
    );
}

#[test]
fn rewrite_responses() {
    let c = conf("cookie SRV rewrite");
    let none = RequestCookie::default();
    let r = response(
        &c,
        &none,
        S2,
        Method::Get,
        &["SRV=abc; path=/; HttpOnly"],
        Cacheable::No,
    );
    assert_eq!((r.lines, r.letter), (s(&["SRV=s2; path=/; HttpOnly"]), 'R'));
    let (fwd, v2) = request(&c, &["SRV=s2"]);
    assert_eq!(fwd, s(&["SRV=s2"]));
    let r = response(
        &c,
        &v2,
        S2,
        Method::Get,
        &["SRV = abc ; path=/"],
        Cacheable::No,
    );
    assert_eq!((r.lines, r.letter), (s(&["SRV=s2 ; path=/"]), 'R'));
    let r = response(
        &c,
        &v2,
        S2,
        Method::Get,
        &["a=1", "SRV=\"q\"", "SRV=x, b=2"],
        Cacheable::No,
    );
    assert_eq!(
        (r.lines, r.letter),
        (s(&["a=1", "SRV=s2", "SRV=s2, b=2"]), 'R')
    );
    let r = response(&c, &v2, S2, Method::Get, &["SRV"], Cacheable::No);
    assert_eq!((r.lines, r.letter), (s(&["SRV"]), 'N'));
    let r = response(&c, &none, S1, Method::Get, &["SRV="], Cacheable::No);
    assert_eq!((r.lines, r.letter), (s(&["SRV=s1"]), 'R'));
    let r = response(
        &c,
        &none,
        S1,
        Method::Get,
        &["x = 1 ; path=/", "y", "=z"],
        Cacheable::No,
    );
    assert_eq!((r.lines, r.letter), (s(&["x=1 ; path=/", "y", "=z"]), 'N'));
    let r = response(&c, &none, S2, Method::Get, &["SRV=a; SRV=b"], Cacheable::No);
    assert_eq!(r.lines, s(&["SRV=s2; SRV=b"]));
    // A server without a cookie value leaves the server's cookie alone.
    let r = response(
        &c,
        &none,
        Target::Server { cookie: None },
        Method::Get,
        &["SRV=a"],
        Cacheable::No,
    );
    assert_eq!((r.lines, r.letter), (s(&["SRV=a"]), 'P'));
}

#[test]
fn prefix_responses() {
    let c = conf("cookie JS prefix");
    let none = RequestCookie::default();
    let r = response(
        &c,
        &none,
        S1,
        Method::Get,
        &["JS=abc; path=/"],
        Cacheable::No,
    );
    assert_eq!((r.lines, r.letter), (s(&["JS=s1~abc; path=/"]), 'R'));
    let (_, v2) = request(&c, &["a=1; JS=s2~abc; b=2"]);
    let r = response(&c, &v2, S2, Method::Get, &["JS=new"], Cacheable::No);
    assert_eq!((r.lines, r.letter), (s(&["JS=s2~new"]), 'R'));
}

#[test]
fn inserted_cookie_layout() {
    let none = RequestCookie::default();
    let c = conf("cookie SRV insert indirect domain a.b httponly attr X=1");
    let r = response(&c, &none, S1, Method::Get, &[], Cacheable::No);
    assert_eq!(r.lines, s(&["SRV=s1; path=/; domain=a.b; HttpOnly; X=1"]));
    // A server without `cookie` makes the client forget its cookie.
    let r = response(
        &c,
        &none,
        Target::Server { cookie: None },
        Method::Get,
        &[],
        Cacheable::No,
    );
    assert_eq!(
        (r.lines, r.letter),
        (
            s(&["SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/; domain=a.b; HttpOnly; X=1"]),
            'I'
        )
    );
}

#[test]
fn dates_with_maxidle_and_maxlife() {
    let c = conf(
        "cookie SRV insert indirect maxidle 30m maxlife 8h httponly secure domain .a.com domain b.org attr SameSite=Lax attr Partitioned",
    );
    let tail = "; path=/; domain=.a.com; domain=b.org; HttpOnly; Secure; SameSite=Lax; Partitioned";
    // (request line, forwarded lines, target, Set-Cookie value or none, log letters)
    let cases: &[(&str, Target<'_>, Option<&str>, &str)] = &[
        ("", S1, Some("SRV=s1|awGcd|awGcd"), "NI"),
        // last seen 100 s ago, first 5000 s ago: date refreshed, first kept
        ("SRV=s2|awGcE|awGI7", S2, Some("SRV=s2|awGcd|awGI7"), "VU"),
        // idle for 4000 s > 30m
        ("SRV=s2|awGM1|awGI7", S2, Some("SRV=s2|awGcd|awGcd"), "EI"),
        // first seen 40000 s ago > 8h
        ("SRV=s2|awGcE|awEAN", S1, Some("SRV=s1|awGcd|awGcd"), "OI"),
        // no dates: accepted, dates added
        ("SRV=s2", S2, Some("SRV=s2|awGcd|awGcd"), "VU"),
        ("SRV=s2|awGcE", S2, Some("SRV=s2|awGcd|awGcd"), "VU"),
        // last seen 10 s in the future: nothing to refresh
        ("SRV=s2|awGcf|awGI7", S2, None, "VN"),
        // more than a day in the future
        ("SRV=s2|awL8B|awGI7", S2, Some("SRV=s2|awGcd|awGcd"), "EI"),
    ];
    for (line, target, want, letters) in cases {
        let lines: &[&str] = if line.is_empty() { &[] } else { &[line] };
        let (fwd, rc) = request(&c, lines);
        assert!(fwd.is_empty(), "{line}");
        let r = response(&c, &rc, *target, Method::Get, &[], Cacheable::No);
        let want: Vec<String> = want.iter().map(|w| format!("{w}{tail}")).collect();
        assert_eq!(r.lines, want, "{line}");
        let got = format!("{}{}", rc.client.letter() as char, r.letter);
        assert_eq!(&got, letters, "{line}");
    }
}

#[test]
fn dates_without_maxidle() {
    // haproxy: `SRV=s1|xxxxx` is valid and gets `SRV=s1; path=/` back (`VU`): the date
    // decodes past 2^31 and wraps negative, so it counts as in the past.
    let c = conf("cookie SRV insert indirect");
    let (_, rc) = request(&c, &["SRV=s1|xxxxx"]);
    assert!(rc.last_date < 0);
    let r = response(&c, &rc, S1, Method::Get, &[], Cacheable::No);
    assert_eq!((r.lines, r.letter), (s(&["SRV=s1; path=/"]), 'U'));
}

#[test]
fn date_codec() {
    let mut out = Vec::new();
    push_date(units_from_now(NOW as i64), &mut out);
    assert_eq!(out, b"awGcd");
    assert_eq!(
        parse_date(b"awGcd").map(date_from_units),
        Some(1_795_267_700)
    );
    assert_eq!(parse_date(b"AAAAB"), Some(1));
    assert_eq!(parse_date(b"////+"), Some((1 << 30) - 2));
    assert_eq!(parse_date(b"AAAA="), None);
    assert_eq!(parse_date(b"AAA|A"), None);
    assert_eq!(parse_date(b"AAAA"), None);
    assert_eq!(parse_date("AAAAé".as_bytes()), None);
    // Short or invalid dates are ignored, the cookie still counts.
    let c = conf("cookie SRV insert indirect maxidle 10");
    for v in [
        "SRV=s1|",
        "SRV=s1|abc",
        "SRV=s1||",
        "SRV=s1|AAAA=|AAAA=",
        "SRV=s1|AAAAA",
    ] {
        let (_, rc) = request(&c, &[v]);
        assert_eq!(
            (rc.client, rc.last_date, rc.first_date),
            (ClientCookie::Valid, 0, 0),
            "{v}"
        );
    }
}

#[test]
fn nocache_and_postonly() {
    let none = RequestCookie::default();
    let c = conf("cookie SRV insert postonly nocache");
    let r = response(&c, &none, S1, Method::Get, &[], Cacheable::Yes);
    assert_eq!((r.lines, r.letter), (s(&[]), 'N'));
    let r = response(&c, &none, S2, Method::Post, &[], Cacheable::No);
    assert_eq!((r.lines, r.cache_private), (s(&["SRV=s2; path=/"]), false));
    let r = response(&c, &none, S1, Method::Post, &[], Cacheable::Yes);
    assert_eq!((r.lines, r.cache_private), (s(&["SRV=s1; path=/"]), true));
    // No insertion, no Cache-control.
    let c = conf("cookie SRV insert indirect nocache");
    let (_, v1) = request(&c, &["SRV=s1"]);
    let r = response(&c, &v1, S1, Method::Get, &[], Cacheable::Yes);
    assert_eq!((r.lines, r.cache_private), (s(&[]), false));
}

type Headers = Vec<(&'static [u8], &'static [u8])>;

#[test]
fn cacheability_matches_haproxy() {
    let h = |pairs: &[(&'static str, &'static str)]| -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect()
    };
    let cc = |v: &'static str| h(&[("Cache-Control", v)]);
    use Cacheable::{No, Yes};
    let cases: Vec<(Method, Headers, Cacheable)> = vec![
        (Method::Get, h(&[]), No),
        (Method::Get, cc("public"), No),
        (Method::Get, cc("max-age=60"), Yes),
        (
            Method::Get,
            h(&[("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")]),
            Yes,
        ),
        (Method::Post, cc("public"), No),
        (Method::Get, h(&[("ETag", "\"x\"")]), Yes),
        (Method::Get, cc("public, max-age=60"), Yes),
        (Method::Post, cc("public, max-age=60"), Yes),
        (Method::Post, cc("max-age=60"), No),
        (Method::Get, cc("max-age=0, s-maxage=10"), No),
        (Method::Get, cc("s-maxage=10, max-age=0"), No),
        (
            Method::Get,
            h(&[("Cache-Control", "max-age=0"), ("ETag", "\"a\"")]),
            No,
        ),
        (Method::Get, cc("no-cache=\"set-cookie\", max-age=5"), Yes),
        (
            Method::Get,
            h(&[("Pragma", "no-cache"), ("Expires", "x")]),
            No,
        ),
        (
            Method::Get,
            h(&[("Pragma", "No-Cache, foo"), ("Expires", "x")]),
            Yes,
        ),
        (
            Method::Get,
            h(&[("Cache-Control", "PRIVATE"), ("Expires", "x")]),
            No,
        ),
        (
            Method::Get,
            h(&[("Cache-Control", "private=\"x\""), ("Expires", "x")]),
            Yes,
        ),
        (Method::Get, h(&[("Last-Modified", "x")]), Yes),
        (Method::Get, cc("Max-Age=5"), Yes),
        (Method::Get, cc("\"a,b\", max-age=5"), Yes),
        (Method::Options, h(&[("Expires", "x")]), Yes),
        (Method::Put, h(&[("Expires", "x")]), No),
        (Method::Delete, cc("public, max-age=3"), Yes),
        (
            Method::Get,
            h(&[("Pragma", "x"), ("Pragma", "no-cache"), ("Expires", "x")]),
            Yes,
        ),
    ];
    for (i, (m, headers, want)) in cases.into_iter().enumerate() {
        assert_eq!(response_cacheable(m, 200, headers), want, "case {i}");
    }
    assert_eq!(response_cacheable(Method::Get, 100, cc("max-age=5")), No);
    assert_eq!(
        CACHE_CONTROL_PRIVATE,
        (&b"cache-control"[..], &b"private"[..])
    );
}

#[test]
fn hostile_lines_do_not_panic() {
    let confs = [
        conf("cookie SRV insert indirect maxidle 1 maxlife 1"),
        conf("cookie SRV prefix"),
        conf("cookie SRV rewrite"),
        conf("cookie S insert indirect"),
    ];
    let alphabet = b"S=;, \t\"\\$|~RV";
    let mut seed: u32 = 0x1234_5678;
    let mut scratch = Vec::new();
    for round in 0..4000 {
        let len = round % 24;
        let line: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                alphabet[(seed >> 16) as usize % alphabet.len()]
            })
            .collect();
        for c in &confs {
            scratch.clear();
            let mut rq = RequestCookies::new(c, NOW, Persistence::Apply);
            if let LineEdit::Replace(r) = rq.line(&line, lookup, &mut scratch) {
                let out = &scratch[r];
                assert!(
                    out.len() < line.len(),
                    "{:?}",
                    String::from_utf8_lossy(&line)
                );
            }
            let rc = rq.finish();
            let mut rs = ResponseCookies::new(c, &rc, S1, Method::Post);
            rs.line(&line, &mut scratch);
            rs.finish(NOW, Cacheable::Yes, &mut scratch);
        }
    }
}
