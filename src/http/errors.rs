//! HAProxy's built-in error pages and reason phrases, byte for byte.
//!
//! HAProxy 2.6 sends its built-in pages in two shapes, both captured from the real `haproxy`
//! (Debian 2.6.12) and from the strings in its binary:
//!
//! - [`builtin`]: what the HTTP layer sends (`http-request deny`, `monitor-uri`, 502/503/504
//!   from the backend side, ...). The page goes through HAProxy's internal representation, so
//!   header names are lowercase, and a `Connection: close` in the page becomes a final
//!   `connection: close` line (400 and 408 only). The caller appends nothing else for an
//!   HTTP/1.1 keep-alive client; when the connection is to be closed (an HTTP/1.0 client, for
//!   one) HAProxy adds `connection: close` as the last header line (observed), which callers do
//!   by writing the two halves of [`builtin_split`] around that line.
//! - [`conn_error`]: what the connection layer sends before any stream exists (request parse
//!   errors → 400, `timeout http-request` → 408, 422 for a Transfer-Encoding other than
//!   chunked, 500, 501). These are HAProxy's raw `http_err_msgs`: `Content-length`,
//!   `Cache-Control`, [`Connection: close`,] `Content-Type`, in that order and case.
//!
//! [`reason`] is HAProxy's `http_get_reason()` (used when HAProxy writes a status line itself,
//! e.g. `http-request return`); the pages have their own phrases ([`builtin_reason`]), which
//! differ for 400 ("Bad request"), 407 ("Unauthorized") and 413 ("Payload Too Large").
//!
//! Each page is written once, in [`PAGES`] (status, phrase, message, whether it closes); both
//! shapes are rendered from it the first time a page is needed. [`reason`] is the one table of
//! reason phrases for status lines Ravelin writes itself (`http-request return`, `http-error`,
//! the stats page).
//!
//! What this module leaves to others: deciding which page to send and closing the connection.

use std::sync::LazyLock;

/// One built-in page: HAProxy's, captured from haproxy 2.6.12 (`http-request deny deny_status
/// N` through a raw socket) and from the `http_err_msgs` strings of its binary, or Ravelin's own
/// in the same style. Both shapes of a page ([`builtin`], [`conn_error`]) are built from it.
struct Page {
    status: u16,
    /// The phrase of the status line and of the `<h1>` (HAProxy's, not always
    /// [`reason`]'s: "Bad request", 407 "Unauthorized", 413 "Payload Too Large").
    phrase: &'static str,
    /// The line of text under the title.
    message: &'static str,
    /// The page says `connection: close` (HAProxy's 400 and 408; Ravelin's 414 and 431).
    closes: bool,
    /// HAProxy's page, sent in both shapes; `false` for Ravelin's own pages (414, 431: HAProxy
    /// 2.6 answers 400 to an oversized head, see docs/CONFIG.md), which exist only in the
    /// connection-layer shape.
    haproxy: bool,
}

/// The built-in pages, one entry each. Do not edit the texts by hand: they are HAProxy's, byte
/// for byte (501's message does start with a dot).
const PAGES: [Page; 21] = [
    page(200, "OK", "Service ready."),
    Page {
        closes: true,
        ..page(400, "Bad request", "Your browser sent an invalid request.")
    },
    page(
        401,
        "Unauthorized",
        "You need a valid user and password to access this content.",
    ),
    page(
        403,
        "Forbidden",
        "Request forbidden by administrative rules.",
    ),
    page(404, "Not Found", "The resource could not be found."),
    page(
        405,
        "Method Not Allowed",
        "A request was made of a resource using a request method not supported by that resource",
    ),
    page(
        407,
        "Unauthorized",
        "You need a valid user and password to access this content.",
    ),
    Page {
        closes: true,
        ..page(
            408,
            "Request Time-out",
            "Your browser didn't send a complete request in time.",
        )
    },
    page(
        410,
        "Gone",
        "The resource is no longer available and will not be available again.",
    ),
    page(
        413,
        "Payload Too Large",
        "The request entity exceeds the maximum allowed.",
    ),
    page(
        421,
        "Misdirected Request",
        "Request sent to a non-authoritative server.",
    ),
    page(
        422,
        "Unprocessable Content",
        "The server cannot process the contained instructions.",
    ),
    page(425, "Too Early", "Your browser sent early data."),
    page(
        429,
        "Too Many Requests",
        "You have sent too many requests in a given amount of time.",
    ),
    page(
        500,
        "Internal Server Error",
        "An internal server error occurred.",
    ),
    page(
        501,
        "Not Implemented",
        ".The server does not support the functionality required to fulfill the request.",
    ),
    page(
        502,
        "Bad Gateway",
        "The server returned an invalid or incomplete response.",
    ),
    page(
        503,
        "Service Unavailable",
        "No server is available to handle this request.",
    ),
    page(
        504,
        "Gateway Time-out",
        "The server didn't respond in time.",
    ),
    Page {
        closes: true,
        haproxy: false,
        ..page(414, "Request-URI Too Long", "The request line is too long.")
    },
    Page {
        closes: true,
        haproxy: false,
        ..page(
            431,
            "Request Header Fields Too Large",
            "The request headers are too large.",
        )
    },
];

/// A page of HAProxy's that keeps its connection open (the common case).
const fn page(status: u16, phrase: &'static str, message: &'static str) -> Page {
    Page {
        status,
        phrase,
        message,
        closes: false,
        haproxy: true,
    }
}

/// A page of [`PAGES`] in its two shapes.
struct Rendered {
    status: u16,
    body: String,
    /// [`builtin`]'s shape (HAProxy's pages only).
    stream: Option<Vec<u8>>,
    /// [`conn_error`]'s shape.
    conn: Vec<u8>,
}

/// Every page rendered once, the first time one is needed.
static RENDERED: LazyLock<Vec<Rendered>> = LazyLock::new(|| PAGES.iter().map(render).collect());

fn render(p: &Page) -> Rendered {
    let body = format!(
        "<html><body><h1>{} {}</h1>\n{}\n</body></html>\n",
        p.status, p.phrase, p.message
    );
    let (n, status, phrase) = (body.len(), p.status, p.phrase);
    // The HTTP layer: through HAProxy's internal representation, so lowercase names, and the
    // page's `Connection: close` moved to the end.
    let close = if p.closes {
        "connection: close\r\n"
    } else {
        ""
    };
    let stream = format!(
        "HTTP/1.1 {status} {phrase}\r\ncontent-length: {n}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n{close}\r\n{body}"
    );
    // The connection layer: the raw `http_err_msgs` text.
    let close = if p.closes {
        "Connection: close\r\n"
    } else {
        ""
    };
    let conn = format!(
        "HTTP/1.1 {status} {phrase}\r\nContent-length: {n}\r\nCache-Control: no-cache\r\n{close}Content-Type: text/html\r\n\r\n{body}"
    );
    Rendered {
        status,
        stream: p.haproxy.then(|| stream.into_bytes()),
        conn: conn.into_bytes(),
        body,
    }
}

fn rendered(status: u16) -> Option<&'static Rendered> {
    RENDERED.iter().find(|r| r.status == status)
}

/// The page HAProxy's HTTP layer sends for `status` (whole response: status line, headers,
/// body), or None if HAProxy has no built-in page for it.
pub(crate) fn builtin(status: u16) -> Option<&'static [u8]> {
    rendered(status)?.stream.as_deref()
}

/// The page the connection layer sends for `status` (raw `http_err_msgs`), or None.
pub(crate) fn conn_error(status: u16) -> Option<&'static [u8]> {
    Some(&rendered(status)?.conn)
}

/// The HTML body of the built-in page for `status` (the same in both shapes), for a response
/// built around it (the stats page's 401 with its `www-authenticate`).
pub(crate) fn body(status: u16) -> Option<&'static str> {
    Some(&rendered(status)?.body)
}

/// [`builtin`] cut before the empty line: (status line and header lines, `\r\n` + body), so a
/// caller can insert `connection: close\r\n` in between. Nothing is copied.
#[cfg(test)]
pub(crate) fn builtin_split(status: u16) -> Option<(&'static [u8], &'static [u8])> {
    let page = builtin(status)?;
    let cut = page.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((page.get(..cut + 2)?, page.get(cut + 2..)?))
}

/// Whether the built-in page already says `connection: close` (400 and 408).
#[cfg(test)]
pub(crate) fn builtin_closes(status: u16) -> bool {
    PAGES
        .iter()
        .any(|p| p.status == status && p.haproxy && p.closes)
}

/// The reason phrase of HAProxy's built-in page for `status` (e.g. "Bad request"), or None.
#[cfg(test)]
pub(crate) fn builtin_reason(status: u16) -> Option<&'static str> {
    PAGES
        .iter()
        .find(|p| p.status == status && p.haproxy)
        .map(|p| p.phrase)
}

/// HAProxy 2.6's `http_get_reason()`: the phrase HAProxy writes when it makes a status line
/// itself (`http-request return status N`, `http-error status N`), observed for 200..=511 and
/// completed from the strings of the binary (1xx, 210, 310, 449, 456, 509). Unknown codes get
/// their class's phrase.
pub(crate) fn reason(status: u16) -> &'static str {
    if let Some(phrase) = known_reason(status) {
        return phrase;
    }
    match status {
        100..=199 => "Informational",
        200..=299 => "Success",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Other",
    }
}

/// The codes `http_get_reason()` names one by one.
fn known_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        210 => "Content Different",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        310 => "Too many Redirects",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Method failure",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        449 => "Retry With",
        451 => "Unavailable For Legal Reasons",
        456 => "Unrecoverable Error",
        499 => "client has closed connection",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway or Proxy Error",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version not supported",
        506 => "Variant also negotiate",
        507 => "Insufficient storage",
        508 => "Loop detected",
        509 => "Bandwidth Limit Exceeded",
        510 => "Not extended",
        511 => "Network authentication required",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUSES: [u16; 19] = [
        200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503,
        504,
    ];

    /// Splits a page into (content-length header value, body), checking its shape.
    fn declared_and_body(page: &[u8]) -> (usize, &[u8]) {
        let cut = page
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("empty line");
        let head = std::str::from_utf8(&page[..cut]).expect("ascii head");
        let cl = head
            .split("\r\n")
            .find_map(|l| {
                l.strip_prefix("content-length: ")
                    .or_else(|| l.strip_prefix("Content-length: "))
            })
            .expect("content-length");
        (cl.parse().expect("number"), &page[cut + 4..])
    }

    #[test]
    fn content_length_matches_body() {
        for s in STATUSES {
            for page in [builtin(s).unwrap(), conn_error(s).unwrap()] {
                let (cl, body) = declared_and_body(page);
                assert_eq!(cl, body.len(), "status {s}");
                assert!(body.starts_with(format!("<html><body><h1>{s} ").as_bytes()));
                assert!(body.ends_with(b"</body></html>\n"));
            }
            let (cl_a, body_a) = declared_and_body(builtin(s).unwrap());
            let (cl_b, body_b) = declared_and_body(conn_error(s).unwrap());
            assert_eq!(
                (cl_a, body_a),
                (cl_b, body_b),
                "same body in both shapes, {s}"
            );
        }
        assert_eq!(builtin(418), None);
        assert_eq!(conn_error(418), None);
        // Ravelin's own pages for oversized heads.
        for s in [414u16, 431] {
            let (cl, body) = declared_and_body(conn_error(s).unwrap());
            assert_eq!(cl, body.len(), "status {s}");
        }
    }

    #[test]
    fn exact_400() {
        assert_eq!(
            builtin(400).unwrap(),
            &b"HTTP/1.1 400 Bad request\r\ncontent-length: 90\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n"[..]
        );
        assert_eq!(
            conn_error(400).unwrap(),
            &b"HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n"[..]
        );
    }

    #[test]
    fn status_lines_and_reasons() {
        for s in STATUSES {
            let phrase = builtin_reason(s).unwrap();
            let line = format!("HTTP/1.1 {s} {phrase}\r\n");
            assert!(builtin(s).unwrap().starts_with(line.as_bytes()), "{s}");
            assert!(conn_error(s).unwrap().starts_with(line.as_bytes()), "{s}");
            assert_eq!(
                builtin_closes(s),
                builtin(s)
                    .unwrap()
                    .windows(17)
                    .any(|w| w == b"connection: close")
            );
        }
        assert_eq!(reason(400), "Bad Request");
        assert_eq!(builtin_reason(400), Some("Bad request"));
        assert_eq!(reason(502), "Bad Gateway or Proxy Error");
        assert_eq!(reason(103), "Informational");
        assert_eq!(reason(299), "Success");
        assert_eq!(reason(499), "client has closed connection");
        assert_eq!(reason(599), "Server Error");
        assert_eq!(reason(42), "Other");
    }

    #[test]
    fn split_rebuilds_page() {
        for s in STATUSES {
            let (head, rest) = builtin_split(s).unwrap();
            assert!(head.ends_with(b"\r\n") && rest.starts_with(b"\r\n<html>"));
            assert_eq!([head, rest].concat(), builtin(s).unwrap());
        }
    }
}
