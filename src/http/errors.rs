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
//! What this module leaves to others: deciding which page to send and closing the connection.

/// The page HAProxy's HTTP layer sends for `status` (whole response: status line, headers,
/// body), or None if HAProxy has no built-in page for it.
pub fn builtin(status: u16) -> Option<&'static [u8]> {
    Some(match status {
        200 => STREAM_200,
        400 => STREAM_400,
        401 => STREAM_401,
        403 => STREAM_403,
        404 => STREAM_404,
        405 => STREAM_405,
        407 => STREAM_407,
        408 => STREAM_408,
        410 => STREAM_410,
        413 => STREAM_413,
        421 => STREAM_421,
        422 => STREAM_422,
        425 => STREAM_425,
        429 => STREAM_429,
        500 => STREAM_500,
        501 => STREAM_501,
        502 => STREAM_502,
        503 => STREAM_503,
        504 => STREAM_504,
        _ => return None,
    })
}

/// The page the connection layer sends for `status` (raw `http_err_msgs`), or None.
pub fn conn_error(status: u16) -> Option<&'static [u8]> {
    Some(match status {
        200 => CONN_200,
        400 => CONN_400,
        401 => CONN_401,
        403 => CONN_403,
        404 => CONN_404,
        405 => CONN_405,
        407 => CONN_407,
        408 => CONN_408,
        410 => CONN_410,
        413 => CONN_413,
        421 => CONN_421,
        422 => CONN_422,
        425 => CONN_425,
        429 => CONN_429,
        500 => CONN_500,
        501 => CONN_501,
        502 => CONN_502,
        503 => CONN_503,
        504 => CONN_504,
        414 => CONN_414,
        431 => CONN_431,
        _ => return None,
    })
}

/// [`builtin`] cut before the empty line: (status line and header lines, `\r\n` + body), so a
/// caller can insert `connection: close\r\n` in between. Nothing is copied.
pub fn builtin_split(status: u16) -> Option<(&'static [u8], &'static [u8])> {
    let page = builtin(status)?;
    let cut = page.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((page.get(..cut + 2)?, page.get(cut + 2..)?))
}

/// Whether the built-in page already says `connection: close` (400 and 408).
pub fn builtin_closes(status: u16) -> bool {
    matches!(status, 400 | 408)
}

/// The reason phrase of HAProxy's built-in page for `status` (e.g. "Bad request"), or None.
pub fn builtin_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Unauthorized",
        408 => "Request Time-out",
        410 => "Gone",
        413 => "Payload Too Large",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => return None,
    })
}

/// HAProxy 2.6's `http_get_reason()`: the phrase HAProxy writes when it makes a status line
/// itself (`http-request return status N`), observed for 200..=511 and completed from the
/// strings of the binary (1xx, 210, 310, 449, 456, 509). Unknown codes get their class's
/// phrase.
pub fn reason(status: u16) -> &'static str {
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

// The pages. Generated from captures of haproxy 2.6.12 (`http-request deny deny_status N`
// through a raw socket) and from the `http_err_msgs` strings of its binary; do not edit by hand.
// In these literals a `\` at the end of a line continues the string without the newline.

const STREAM_200: &[u8] = b"\
HTTP/1.1 200 OK\r\n\
content-length: 58\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>200 OK</h1>\n\
Service ready.\n\
</body></html>\n\
";
const STREAM_400: &[u8] = b"\
HTTP/1.1 400 Bad request\r\n\
content-length: 90\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
connection: close\r\n\
\r\n\
<html><body><h1>400 Bad request</h1>\n\
Your browser sent an invalid request.\n\
</body></html>\n\
";
const STREAM_401: &[u8] = b"\
HTTP/1.1 401 Unauthorized\r\n\
content-length: 112\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>401 Unauthorized</h1>\n\
You need a valid user and password to access this content.\n\
</body></html>\n\
";
const STREAM_403: &[u8] = b"\
HTTP/1.1 403 Forbidden\r\n\
content-length: 93\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>403 Forbidden</h1>\n\
Request forbidden by administrative rules.\n\
</body></html>\n\
";
const STREAM_404: &[u8] = b"\
HTTP/1.1 404 Not Found\r\n\
content-length: 83\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>404 Not Found</h1>\n\
The resource could not be found.\n\
</body></html>\n\
";
const STREAM_405: &[u8] = b"\
HTTP/1.1 405 Method Not Allowed\r\n\
content-length: 146\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>405 Method Not Allowed</h1>\n\
A request was made of a resource using a request method not supported by that resource\n\
</body></html>\n\
";
const STREAM_407: &[u8] = b"\
HTTP/1.1 407 Unauthorized\r\n\
content-length: 112\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>407 Unauthorized</h1>\n\
You need a valid user and password to access this content.\n\
</body></html>\n\
";
const STREAM_408: &[u8] = b"\
HTTP/1.1 408 Request Time-out\r\n\
content-length: 110\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
connection: close\r\n\
\r\n\
<html><body><h1>408 Request Time-out</h1>\n\
Your browser didn't send a complete request in time.\n\
</body></html>\n\
";
const STREAM_410: &[u8] = b"\
HTTP/1.1 410 Gone\r\n\
content-length: 114\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>410 Gone</h1>\n\
The resource is no longer available and will not be available again.\n\
</body></html>\n\
";
const STREAM_413: &[u8] = b"\
HTTP/1.1 413 Payload Too Large\r\n\
content-length: 106\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>413 Payload Too Large</h1>\n\
The request entity exceeds the maximum allowed.\n\
</body></html>\n\
";
const STREAM_421: &[u8] = b"\
HTTP/1.1 421 Misdirected Request\r\n\
content-length: 104\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>421 Misdirected Request</h1>\n\
Request sent to a non-authoritative server.\n\
</body></html>\n\
";
const STREAM_422: &[u8] = b"\
HTTP/1.1 422 Unprocessable Content\r\n\
content-length: 116\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>422 Unprocessable Content</h1>\n\
The server cannot process the contained instructions.\n\
</body></html>\n\
";
const STREAM_425: &[u8] = b"\
HTTP/1.1 425 Too Early\r\n\
content-length: 80\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>425 Too Early</h1>\n\
Your browser sent early data.\n\
</body></html>\n\
";
const STREAM_429: &[u8] = b"\
HTTP/1.1 429 Too Many Requests\r\n\
content-length: 117\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>429 Too Many Requests</h1>\n\
You have sent too many requests in a given amount of time.\n\
</body></html>\n\
";
const STREAM_500: &[u8] = b"\
HTTP/1.1 500 Internal Server Error\r\n\
content-length: 97\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>500 Internal Server Error</h1>\n\
An internal server error occurred.\n\
</body></html>\n\
";
const STREAM_501: &[u8] = b"\
HTTP/1.1 501 Not Implemented\r\n\
content-length: 136\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>501 Not Implemented</h1>\n\
.The server does not support the functionality required to fulfill the request.\n\
</body></html>\n\
";
const STREAM_502: &[u8] = b"\
HTTP/1.1 502 Bad Gateway\r\n\
content-length: 107\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>502 Bad Gateway</h1>\n\
The server returned an invalid or incomplete response.\n\
</body></html>\n\
";
const STREAM_503: &[u8] = b"\
HTTP/1.1 503 Service Unavailable\r\n\
content-length: 107\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>503 Service Unavailable</h1>\n\
No server is available to handle this request.\n\
</body></html>\n\
";
const STREAM_504: &[u8] = b"\
HTTP/1.1 504 Gateway Time-out\r\n\
content-length: 92\r\n\
cache-control: no-cache\r\n\
content-type: text/html\r\n\
\r\n\
<html><body><h1>504 Gateway Time-out</h1>\n\
The server didn't respond in time.\n\
</body></html>\n\
";
const CONN_200: &[u8] = b"\
HTTP/1.1 200 OK\r\n\
Content-length: 58\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>200 OK</h1>\n\
Service ready.\n\
</body></html>\n\
";
const CONN_400: &[u8] = b"\
HTTP/1.1 400 Bad request\r\n\
Content-length: 90\r\n\
Cache-Control: no-cache\r\n\
Connection: close\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>400 Bad request</h1>\n\
Your browser sent an invalid request.\n\
</body></html>\n\
";
const CONN_401: &[u8] = b"\
HTTP/1.1 401 Unauthorized\r\n\
Content-length: 112\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>401 Unauthorized</h1>\n\
You need a valid user and password to access this content.\n\
</body></html>\n\
";
const CONN_403: &[u8] = b"\
HTTP/1.1 403 Forbidden\r\n\
Content-length: 93\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>403 Forbidden</h1>\n\
Request forbidden by administrative rules.\n\
</body></html>\n\
";
const CONN_404: &[u8] = b"\
HTTP/1.1 404 Not Found\r\n\
Content-length: 83\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>404 Not Found</h1>\n\
The resource could not be found.\n\
</body></html>\n\
";
const CONN_405: &[u8] = b"\
HTTP/1.1 405 Method Not Allowed\r\n\
Content-length: 146\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>405 Method Not Allowed</h1>\n\
A request was made of a resource using a request method not supported by that resource\n\
</body></html>\n\
";
const CONN_407: &[u8] = b"\
HTTP/1.1 407 Unauthorized\r\n\
Content-length: 112\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>407 Unauthorized</h1>\n\
You need a valid user and password to access this content.\n\
</body></html>\n\
";
const CONN_408: &[u8] = b"\
HTTP/1.1 408 Request Time-out\r\n\
Content-length: 110\r\n\
Cache-Control: no-cache\r\n\
Connection: close\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>408 Request Time-out</h1>\n\
Your browser didn't send a complete request in time.\n\
</body></html>\n\
";
const CONN_410: &[u8] = b"\
HTTP/1.1 410 Gone\r\n\
Content-length: 114\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>410 Gone</h1>\n\
The resource is no longer available and will not be available again.\n\
</body></html>\n\
";
const CONN_413: &[u8] = b"\
HTTP/1.1 413 Payload Too Large\r\n\
Content-length: 106\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>413 Payload Too Large</h1>\n\
The request entity exceeds the maximum allowed.\n\
</body></html>\n\
";
const CONN_421: &[u8] = b"\
HTTP/1.1 421 Misdirected Request\r\n\
Content-length: 104\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>421 Misdirected Request</h1>\n\
Request sent to a non-authoritative server.\n\
</body></html>\n\
";
const CONN_422: &[u8] = b"\
HTTP/1.1 422 Unprocessable Content\r\n\
Content-length: 116\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>422 Unprocessable Content</h1>\n\
The server cannot process the contained instructions.\n\
</body></html>\n\
";
const CONN_425: &[u8] = b"\
HTTP/1.1 425 Too Early\r\n\
Content-length: 80\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>425 Too Early</h1>\n\
Your browser sent early data.\n\
</body></html>\n\
";
const CONN_429: &[u8] = b"\
HTTP/1.1 429 Too Many Requests\r\n\
Content-length: 117\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>429 Too Many Requests</h1>\n\
You have sent too many requests in a given amount of time.\n\
</body></html>\n\
";
const CONN_500: &[u8] = b"\
HTTP/1.1 500 Internal Server Error\r\n\
Content-length: 97\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>500 Internal Server Error</h1>\n\
An internal server error occurred.\n\
</body></html>\n\
";
const CONN_501: &[u8] = b"\
HTTP/1.1 501 Not Implemented\r\n\
Content-length: 136\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>501 Not Implemented</h1>\n\
.The server does not support the functionality required to fulfill the request.\n\
</body></html>\n\
";
const CONN_502: &[u8] = b"\
HTTP/1.1 502 Bad Gateway\r\n\
Content-length: 107\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>502 Bad Gateway</h1>\n\
The server returned an invalid or incomplete response.\n\
</body></html>\n\
";
const CONN_503: &[u8] = b"\
HTTP/1.1 503 Service Unavailable\r\n\
Content-length: 107\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>503 Service Unavailable</h1>\n\
No server is available to handle this request.\n\
</body></html>\n\
";
const CONN_504: &[u8] = b"\
HTTP/1.1 504 Gateway Time-out\r\n\
Content-length: 92\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>504 Gateway Time-out</h1>\n\
The server didn't respond in time.\n\
</body></html>\n\
";

/// Ravelin's own page (HAProxy 2.6 answers 400 to an oversized head; see docs/CONFIG.md), in
/// the connection-layer shape of HAProxy's pages.
const CONN_414: &[u8] = b"\
HTTP/1.1 414 Request-URI Too Long\r\n\
Content-length: 91\r\n\
Cache-Control: no-cache\r\n\
Connection: close\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>414 Request-URI Too Long</h1>\n\
The request line is too long.\n\
</body></html>\n";

/// Ravelin's own page (HAProxy 2.6 answers 400 to an oversized head; see docs/CONFIG.md), in
/// the connection-layer shape of HAProxy's pages.
const CONN_431: &[u8] = b"\
HTTP/1.1 431 Request Header Fields Too Large\r\n\
Content-length: 107\r\n\
Cache-Control: no-cache\r\n\
Connection: close\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>431 Request Header Fields Too Large</h1>\n\
The request headers are too large.\n\
</body></html>\n";

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
