//! What an HTTP/1.0 client may be sent (RFC 9112 §6.1, RFC 9110 §15.2): no
//! `Transfer-Encoding` (a chunked origin response goes out close-delimited) and no 1xx
//! interim responses (an `Expect: 100-continue` from it is ignored, RFC 9110 §10.1.1).

use http::{header, Version};
use pingora::protocols::http::ServerSession;
use pingora::proxy::Session;
use pingora_http::ResponseHeader;

/// Hold an HTTP/1.0 request's session to HTTP/1.0: interim responses are dropped and its
/// `Expect` is not passed on (so the origin sends no `100 Continue` either).
pub fn hold_to_http10(session: &mut Session) {
    session.req_header_mut().remove_header(&header::EXPECT);
    session.as_downstream_mut().set_ignore_info_resp(true);
}

/// Whether the request of `session` came as HTTP/1.0.
pub fn is_http10(session: &ServerSession) -> bool {
    !session.is_http2() && session.req_header().version == Version::HTTP_10
}

/// Make a response fit an HTTP/1.0 client: without `Transfer-Encoding` its body is written
/// as it comes and the connection closed at its end (and the response says so).
pub fn adapt_response(session: &mut Session, response: &mut ResponseHeader) {
    if response.headers.contains_key(header::TRANSFER_ENCODING) {
        response.remove_header(&header::TRANSFER_ENCODING);
        session.set_keepalive(None);
    }
}
