//! The one writer of the responses the gateway makes itself: refusals of a request head,
//! hook replies, errors and redirects. The configured HAProxy errorfile for a status is
//! applied here and nowhere else. An [`Answer`] goes out through Pingora's session
//! ([`Answer::send`]) or, before Pingora has seen the request, straight onto the connection
//! as HTTP/1.1 bytes ([`Answer::write_to`]).

use crate::error_pages::ErrorPages;
use crate::hooks::Reply;
use bytes::{BufMut, Bytes, BytesMut};
use http::header;
use pingora::protocols::http::date::get_cached_date;
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::proxy::Session;
use pingora_error::Result;
use pingora_http::ResponseHeader;
use tokio::io::AsyncWriteExt;

/// A response of the gateway's own.
pub struct Answer {
    head: ResponseHeader,
    body: Bytes,
    /// The errorfile as written, when the answer is one unchanged.
    raw: Option<Bytes>,
    /// Pingora's plain error response (no errorfile): it closes the connection.
    plain_error: bool,
}

impl Answer {
    /// `status`: its errorfile if one is configured, else Pingora's plain error response.
    pub fn error(status: u16, pages: &ErrorPages) -> Answer {
        match pages.get(status) {
            Some(page) => Answer {
                head: page.header.clone(),
                body: page.body.clone(),
                raw: Some(page.raw.clone()),
                plain_error: false,
            },
            None => Answer {
                head: ServerSession::generate_error(status),
                body: Bytes::new(),
                raw: None,
                plain_error: true,
            },
        }
    }

    /// A hook's `reply`; an empty body takes the errorfile for its status, if configured.
    pub fn reply(reply: Reply, pages: &ErrorPages) -> Result<Answer> {
        let page = pages.get(reply.status).filter(|_| reply.body.is_empty());
        let (mut head, body) = match page {
            Some(page) => (page.header.clone(), page.body.clone()),
            None => {
                let mut head = ResponseHeader::build(reply.status, Some(reply.headers.len() + 1))?;
                head.insert_header(header::CONTENT_LENGTH, reply.body.len())?;
                (head, reply.body)
            }
        };
        for (name, value) in reply.headers {
            head.insert_header(name, value)?;
        }
        Ok(Answer {
            head,
            body,
            raw: None,
            plain_error: false,
        })
    }

    /// A redirect with `status` to `location`, without a body.
    pub fn redirect(status: u16, location: &str) -> Result<Answer> {
        let mut head = ResponseHeader::build(status, Some(2))?;
        head.insert_header("Location", location)?;
        head.insert_header(header::CONTENT_LENGTH, "0")?;
        Ok(Answer {
            head,
            body: Bytes::new(),
            raw: None,
            plain_error: false,
        })
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.head.status.as_u16()
    }

    /// The value of header `name`, if set and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name)?.to_str().ok()
    }

    /// Write through Pingora's `session`. While the process shuts down, the response closes
    /// its connection.
    pub async fn send(self, session: &mut Session) -> Result<()> {
        if session.is_process_shutting_down() {
            session.set_keepalive(None);
        }
        if self.plain_error {
            return session.respond_error(self.status()).await;
        }
        let empty = self.body.is_empty();
        session
            .write_response_header(Box::new(self.head), empty)
            .await?;
        if !empty {
            session.write_response_body(Some(self.body), true).await?;
        }
        Ok(())
    }

    /// Like [`Answer::send`], but the response is left open (no END_STREAM on HTTP/2): the
    /// caller ends it (`drain::answer_streamed`).
    pub async fn send_open(self, session: &mut Session) -> Result<()> {
        let head = match self.plain_error {
            true => pingora::protocols::http::ServerSession::generate_error(self.status()),
            false => self.head,
        };
        session.write_response_header(Box::new(head), false).await?;
        if !self.body.is_empty() {
            session.write_response_body(Some(self.body), false).await?;
        }
        Ok(())
    }

    /// Write onto `stream` as HTTP/1.1, before Pingora has seen the request: an errorfile as
    /// written, anything else with `Date` and `Connection` (`keep_alive` or `close`). Without
    /// `keep_alive` the connection is then shut. `true` when everything was written.
    pub async fn write_to(self, stream: &mut Stream, keep_alive: bool) -> bool {
        let bytes = self.into_http1(keep_alive);
        write_http1(stream, &bytes, keep_alive).await
    }

    /// The answer as HTTP/1.1 bytes, in one buffer.
    fn into_http1(mut self, keep_alive: bool) -> Bytes {
        if let Some(raw) = self.raw {
            return raw;
        }
        let _ = self.head.insert_header(header::DATE, get_cached_date());
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let _ = self.head.insert_header(header::CONNECTION, connection);
        let reason = self.head.status.canonical_reason().unwrap_or("Status");
        let mut out = BytesMut::with_capacity(160 + self.body.len());
        out.put_slice(b"HTTP/1.1 ");
        out.put_slice(self.head.status.as_str().as_bytes());
        out.put_u8(b' ');
        out.put_slice(reason.as_bytes());
        out.put_slice(b"\r\n");
        self.head.header_to_h1_wire(&mut out);
        out.put_slice(b"\r\n");
        out.put_slice(&self.body);
        out.freeze()
    }
}

/// Write a response already made HTTP/1.1 `bytes` onto `stream`; without `keep_alive` the
/// connection is then shut. `true` when everything was written.
pub async fn write_http1(stream: &mut Stream, bytes: &[u8], keep_alive: bool) -> bool {
    let written = stream.write_all(bytes).await.is_ok() && stream.flush().await.is_ok();
    if !keep_alive {
        let _ = stream.shutdown().await;
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(answer: Answer, keep_alive: bool) -> String {
        String::from_utf8(answer.into_http1(keep_alive).to_vec()).unwrap()
    }

    #[test]
    fn a_redirect_in_one_buffer() {
        let answer = Answer::redirect(308, "https://x.test:8443/a?b=1").unwrap();
        let kept = text(answer, true);
        assert!(
            kept.starts_with("HTTP/1.1 308 Permanent Redirect\r\n"),
            "{kept}"
        );
        assert!(
            kept.contains("\r\nLocation: https://x.test:8443/a?b=1\r\n"),
            "{kept}"
        );
        assert!(kept.contains("\r\nContent-Length: 0\r\n"), "{kept}");
        assert!(kept.contains("\r\nDate: "), "{kept}");
        assert!(
            kept.ends_with("\r\nConnection: keep-alive\r\n\r\n"),
            "{kept}"
        );
        let closing = text(Answer::redirect(301, "https://x/").unwrap(), false);
        assert!(closing.contains("\r\nConnection: close\r\n"), "{closing}");
    }

    #[test]
    fn an_error_is_its_errorfile_as_written_or_a_plain_response() {
        let plain = text(Answer::error(431, &ErrorPages::default()), false);
        assert!(
            plain.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{plain}"
        );
        assert!(plain.contains("\r\nContent-Length: 0\r\n"), "{plain}");
        assert!(plain.ends_with("\r\nConnection: close\r\n\r\n"), "{plain}");
        let raw = "HTTP/1.0 408 Request Time-out\r\nContent-Type: text/plain\r\n\r\nslow\n";
        let page = crate::error_pages::parse(raw.as_bytes()).unwrap();
        let pages = ErrorPages::new([(408, page)].into_iter().collect());
        assert_eq!(text(Answer::error(408, &pages), false), raw);
    }
}
