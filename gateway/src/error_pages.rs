//! HAProxy errorfiles: a complete raw HTTP response per status (status line, headers, blank
//! line, body), used for every response the gateway itself makes with that status. The
//! reference box's `/etc/haproxy/errors/*.http` files work unchanged.

use bytes::Bytes;
use http::header;
use pingora_http::ResponseHeader;
use std::collections::HashMap;
use std::path::Path;

/// One errorfile, parsed once at load.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// The file as written (for responses written before Pingora sees a request).
    pub raw: Bytes,
    /// Its head, `Content-Length` set to the body's size.
    pub header: ResponseHeader,
    /// Its body.
    pub body: Bytes,
}

/// The configured error pages by status.
#[derive(Debug, Default)]
pub struct ErrorPages(HashMap<u16, ErrorPage>);

impl ErrorPages {
    /// Pages from `(status, file)` pairs.
    pub fn new(pages: HashMap<u16, ErrorPage>) -> ErrorPages {
        ErrorPages(pages)
    }

    /// The page for `status`, if one is configured.
    pub fn get(&self, status: u16) -> Option<&ErrorPage> {
        self.0.get(&status)
    }
}

/// Read and parse an errorfile; it must exist and start with an HTTP status line.
pub fn load(path: &Path) -> Result<ErrorPage, String> {
    let raw = crate::regular_file::read(path, crate::regular_file::ERRORFILE_CAP)?;
    parse(&raw).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parse a raw HTTP response.
pub fn parse(raw: &[u8]) -> Result<ErrorPage, String> {
    if !raw.starts_with(b"HTTP/1.") {
        return Err("does not start with an HTTP status line (HTTP/1.x NNN ...)".into());
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err("the head does not end with a blank line".into())
        }
        Err(e) => return Err(format!("not a valid HTTP response: {e}")),
    };
    let status = response.code.ok_or("no status code")?;
    let mut header = ResponseHeader::build(status, Some(response.headers.len() + 1))
        .map_err(|e| e.to_string())?;
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        header
            .append_header(h.name.to_string(), h.value)
            .map_err(|_| format!("invalid header {:?}", h.name))?;
    }
    let body = Bytes::copy_from_slice(&raw[head_len..]);
    header
        .insert_header(header::CONTENT_LENGTH, body.len())
        .map_err(|e| e.to_string())?;
    Ok(ErrorPage {
        raw: Bytes::copy_from_slice(raw),
        header,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_errorfile_parses() {
        let page = parse(
            b"HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>503</h1></body></html>\n",
        )
        .unwrap();
        assert_eq!(page.header.status, 503);
        assert_eq!(page.header.headers["content-type"], "text/html");
        assert_eq!(
            page.header.headers["content-length"],
            page.body.len().to_string()
        );
        assert!(page.body.starts_with(b"<html>"));
    }

    #[test]
    fn not_a_response_is_refused() {
        assert!(parse(b"<html>503</html>").is_err());
        assert!(parse(b"HTTP/1.1 503 X\r\nA: b\r\n").is_err());
    }
}
