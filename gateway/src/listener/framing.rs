//! HTTP/1.1's framing rules for a request head, checked before Pingora sees it: stricter than
//! httparse on purpose, so no two parsers can disagree about where a request ends.

use crate::body_limit::{declared_fits, parse_content_length};
use crate::config::model::Limits;
use crate::head_limits::{self, Head};
use std::mem::MaybeUninit;

/// Header fields httparse is given room for (Pingora's own limit); `limits.headers` is lower.
const MAX_HEADERS: usize = 256;
/// Longest chunk-size line (size and extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;

/// Check a request head, and the body bytes read with it, against HTTP/1.1's syntax and
/// framing rules and `limits`; the status to refuse it with. Ambiguous framing is refused
/// outright, as nginx and Envoy do, so no two parsers can disagree about where a request ends.
pub fn check<'a>(buf: &'a [u8], limits: &Limits) -> Result<Checked<'a>, u16> {
    // Left uninitialised: httparse writes the ones it fills (saves ~1.4k instructions a request
    // that setting 256 empty headers cost).
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let head_len = match request.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(400),
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        Err(_) => return Err(400),
    };
    let (method, target) = (request.method.unwrap_or(""), request.path.unwrap_or(""));
    let head = Head {
        method,
        target,
        fields: request.headers.len(),
        bytes: head_len,
    };
    head_limits::check(&head, limits)?;
    let http11 = request.version == Some(1);
    let mut host = None;
    let mut connection: &[u8] = b"";
    let mut hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut lengths = 0;
    let mut codings: Vec<String> = Vec::new();
    let mut encodings = 0;
    // Control bytes in values (all but HTAB, and DEL) were refused by httparse already.
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            host = Some(header.value);
        } else if name.eq_ignore_ascii_case("connection") {
            connection = header.value;
        } else if name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            content_length = Some(parse_content_length(header.value).ok_or(400u16)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            encodings += 1;
            let value = std::str::from_utf8(header.value).map_err(|_| 400u16)?;
            codings.extend(value.split(',').map(|c| c.trim().to_ascii_lowercase()));
        }
    }
    if hosts > 1 || (http11 && hosts == 0) || lengths > 1 {
        return Err(400);
    }
    let chunked = if encodings == 0 {
        false
    } else if !http11 || lengths > 0 {
        // Transfer-Encoding in HTTP/1.0, or with Content-Length: ambiguous.
        return Err(400);
    } else if codings.iter().any(|c| c != "chunked") {
        // A coding we do not implement (gzip, deflate, ...), or garbage.
        return Err(if codings.iter().any(String::is_empty) {
            400
        } else {
            501
        });
    } else if codings.len() == 1 {
        true
    } else {
        // `chunked, chunked`, or two Transfer-Encoding fields.
        return Err(400);
    };
    if !declared_fits(content_length, limits.body_bytes) {
        return Err(413);
    }
    if chunked && !chunks_well_formed(&buf[head_len..]) {
        return Err(400);
    }
    let has_token = |token: &str| {
        connection
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    };
    Ok(Checked {
        method,
        target,
        http11,
        host: host.and_then(|h| std::str::from_utf8(h).ok()),
        keep_alive: if http11 {
            !has_token("close")
        } else {
            has_token("keep-alive")
        },
        head_len,
        body_len: if chunked {
            None
        } else {
            Some(content_length.unwrap_or(0))
        },
    })
}

/// What the listener needs to know about a head that passed [`check`].
#[derive(Debug, PartialEq, Eq)]
pub struct Checked<'a> {
    /// The method.
    pub method: &'a str,
    /// The request target.
    pub target: &'a str,
    /// HTTP/1.1 (else HTTP/1.0).
    pub http11: bool,
    /// The `Host` value, if there is one and it is UTF-8.
    pub host: Option<&'a str>,
    /// Whether the client wants the connection kept (its version's default and `Connection`).
    pub keep_alive: bool,
    /// Length of the head; bytes after it are body or a pipelined request.
    pub head_len: usize,
    /// Length of the body (0 without one); `None` for a chunked one.
    pub body_len: Option<u64>,
}

impl Checked<'_> {
    /// Whether a body follows the head.
    pub fn has_body(&self) -> bool {
        self.body_len != Some(0)
    }

    /// Whether `buffered` bytes (head included) reach past this request's body: the client
    /// pipelined the next request behind it.
    pub fn pipelined(&self, buffered: usize) -> bool {
        self.body_len
            .is_some_and(|n| buffered as u64 > self.head_len as u64 + n)
    }
}

/// Whether the start of a chunked body (as much as has arrived) is well framed: hex sizes,
/// extensions without control bytes, CRLF after each size line and after each chunk's data.
fn chunks_well_formed(mut body: &[u8]) -> bool {
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            // An incomplete size line (perhaps up to its CR): what there is must be plausible.
            let line = body.strip_suffix(b"\r").unwrap_or(body);
            return line.len() <= MAX_CHUNK_LINE && size_line_ok(line, true);
        };
        let line = &body[..eol];
        if line.len() > MAX_CHUNK_LINE || !size_line_ok(line, false) {
            return false;
        }
        let hex = line.split(|&b| b == b';').next().unwrap_or_default();
        let Some(size) = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        else {
            return false;
        };
        body = &body[eol + 2..];
        if size == 0 {
            return true; // trailers follow; Pingora reads them
        }
        let Ok(size) = usize::try_from(size) else {
            return true; // larger than anything buffered
        };
        if body.len() < size + 2 {
            // The data is still arriving; a CR already present must start the CRLF.
            return body.len() <= size || body[size] == b'\r';
        }
        if &body[size..size + 2] != b"\r\n" {
            return false;
        }
        body = &body[size + 2..];
        if body.is_empty() {
            return true;
        }
    }
}

/// A chunk-size line: 1 to 16 hex digits, then optional `;extensions` without control bytes.
fn size_line_ok(line: &[u8], partial: bool) -> bool {
    let mut parts = line.splitn(2, |&b| b == b';');
    let hex = parts.next().unwrap_or_default();
    let hex_ok = hex.len() <= 16 && hex.iter().all(u8::is_ascii_hexdigit);
    let ext_ok = parts
        .next()
        .is_none_or(|ext| ext.iter().all(|&b| b >= 0x20 && b != 0x7f || b == b'\t'));
    hex_ok && ext_ok && (partial || !hex.is_empty())
}

#[cfg(test)]
mod tests {
    use crate::config::model::Limits;

    fn status(head: &str) -> Result<(), u16> {
        super::check(head.as_bytes(), &Limits::default()).map(|_| ())
    }

    #[test]
    fn summarises_what_the_listener_needs() {
        let limits = Limits::default();
        let head = b"GET /a?b HTTP/1.1\r\nHost: x.test\r\nConnection: Upgrade, Close\r\n\r\n";
        let checked = super::check(head, &limits).unwrap();
        assert_eq!(
            checked,
            super::Checked {
                method: "GET",
                target: "/a?b",
                http11: true,
                host: Some("x.test"),
                keep_alive: false,
                head_len: head.len(),
                body_len: Some(0),
            }
        );
        let pipelined = |buf: &str| {
            super::check(buf.as_bytes(), &limits)
                .unwrap()
                .pipelined(buf.len())
        };
        assert!(!pipelined("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(pipelined("GET / HTTP/1.1\r\nHost: a\r\n\r\nG"));
        let post = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab";
        assert!(!pipelined(post));
        assert!(pipelined(&format!("{post}GET / HTTP/1.1\r\n")));
        // A chunked body's end is not known from its head.
        assert!(!pipelined(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nGET"
        ));
        let kept = |head: &str| super::check(head.as_bytes(), &limits).unwrap().keep_alive;
        assert!(kept("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!kept("GET / HTTP/1.0\r\n\r\n"));
        assert!(kept("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        let body = |head: &str| super::check(head.as_bytes(), &limits).unwrap().has_body();
        assert!(!body(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(body(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx"
        ));
        assert!(body(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
    }

    #[test]
    fn well_formed_requests_pass() {
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Ok(()));
        assert_eq!(status("GET /x HTTP/1.0\r\n\r\n"), Ok(()));
        assert_eq!(status("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), Ok(()));
        assert_eq!(
            status("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n"),
            Ok(())
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"),
            Ok(())
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n"),
            Ok(())
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1f\r\nab"),
            Ok(()),
            "a chunk still arriving"
        );
        for cut in ["1", "1f", "1f\r", "1f;ext", "1f;ext\r"] {
            assert_eq!(
                status(&format!(
                    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{cut}"
                )),
                Ok(()),
                "a size line cut at {cut:?}"
            );
        }
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1f\rx"),
            Err(400),
            "a CR inside a size line"
        );
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let post = |headers: &str, body: &str| {
            status(&format!(
                "POST / HTTP/1.1\r\nHost: a\r\n{headers}\r\n{body}"
            ))
        };
        assert_eq!(
            post("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", ""),
            Err(400)
        );
        assert_eq!(
            post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", ""),
            Err(400)
        );
        assert_eq!(
            post("Content-Length: 3\r\nContent-Length: 3\r\n", ""),
            Err(400)
        );
        assert_eq!(post("Content-Length: 3, 3\r\n", ""), Err(400));
        assert_eq!(post("Content-Length: +3\r\n", ""), Err(400));
        assert_eq!(post("Content-Length: 0x3\r\n", ""), Err(400));
        assert_eq!(post("Transfer-Encoding: gzip, chunked\r\n", ""), Err(501));
        assert_eq!(post("Transfer-Encoding: gzip\r\n", ""), Err(501));
        assert_eq!(
            post("Transfer-Encoding: chunked, chunked\r\n", ""),
            Err(400)
        );
        assert_eq!(
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                ""
            ),
            Err(400)
        );
        assert_eq!(post("Transfer-Encoding: ,\r\n", ""), Err(400));
        assert_eq!(
            status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(400)
        );
        assert_eq!(
            post("Transfer-Encoding: chunked\r\n", "zz\r\nab\r\n"),
            Err(400)
        );
        assert_eq!(
            post("Transfer-Encoding: chunked\r\n", "3\r\nabcX\r\n"),
            Err(400)
        );
        assert_eq!(post("Transfer-Encoding: chunked\r\n", "-1\r\n"), Err(400));
        assert_eq!(
            post("Transfer-Encoding: chunked\r\n", "11111111111111111\r\n"),
            Err(400)
        );
    }

    #[test]
    fn invalid_heads_are_refused() {
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), Err(400), "no Host");
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(400)
        );
        assert_eq!(status("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), Err(400));
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"),
            Err(400)
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: a\r\nX\x01: x\r\n\r\n"),
            Err(400)
        );
        for control in ["\x01", "\x7f", "\x00", "\r", "\x1b"] {
            assert_eq!(
                status(&format!(
                    "GET / HTTP/1.1\r\nHost: a\r\nX: a{control}b\r\n\r\n"
                )),
                Err(400),
                "{control:?} in a value"
            );
        }
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\u{e9}\r\n\r\n"),
            Ok(()),
            "HTAB and obs-text in a value"
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n"),
            Err(400)
        );
        assert_eq!(
            status("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(400)
        );
        assert_eq!(status("GET a HTTP/1.1\r\nHost: a\r\n\r\n"), Err(400));
        assert_eq!(status("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), Err(400));
    }

    #[test]
    fn limits_have_their_statuses() {
        let uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        assert_eq!(status(&uri), Err(414));
        let many = format!(
            "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
            "X: y\r\n".repeat(100)
        );
        assert_eq!(status(&many), Err(431));
        let huge = format!(
            "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
            "X: y\r\n".repeat(300)
        );
        assert_eq!(status(&huge), Err(431));
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 104857601\r\n\r\n"),
            Err(413)
        );
    }
}
