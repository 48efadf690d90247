//! Writing the responses the gateway makes itself: hook replies and errors, through the
//! configured HAProxy errorfile for the status when there is one.

use crate::error_pages::ErrorPages;
use crate::hooks::Reply;
use bytes::Bytes;
use http::header;
use pingora::proxy::Session;
use pingora_error::Result;
use pingora_http::ResponseHeader;

/// Write `reply`; an empty body takes the error page for its status, if configured.
pub async fn write_reply(session: &mut Session, reply: Reply, pages: &ErrorPages) -> Result<()> {
    let (mut head, body) = match pages.get(reply.status).filter(|_| reply.body.is_empty()) {
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
    write(session, head, body).await
}

/// Answer with `status`: the configured error page, or Pingora's plain error response.
pub async fn write_error(session: &mut Session, status: u16, pages: &ErrorPages) -> Result<()> {
    if crate::control::draining() {
        session.set_keepalive(None);
    }
    match pages.get(status) {
        Some(page) => write(session, page.header.clone(), page.body.clone()).await,
        None => session.respond_error(status).await,
    }
}

async fn write(session: &mut Session, head: ResponseHeader, body: Bytes) -> Result<()> {
    if crate::control::draining() {
        // The process is going away: this response closes its connection.
        session.set_keepalive(None);
    }
    let empty = body.is_empty();
    session.write_response_header(Box::new(head), empty).await?;
    if !empty {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}
