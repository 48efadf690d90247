//! Which status the client gets when proxying fails, as an HAProxy operator expects: 502 when
//! the origin cannot be reached or answers garbage, 504 when it is too slow, 408 when the
//! client is too slow, 400 for a malformed request, 503 when no server is available.

use pingora_error::{Error, ErrorSource, ErrorType};

/// The status to answer for `e`, or 0 when the client connection is already gone.
pub fn for_error(e: &Error) -> u16 {
    use ErrorType::*;
    match (e.etype(), e.esource()) {
        (HTTPStatus(code), _) => *code,
        (ConnectTimedout | ConnectRefused | ConnectNoRoute | ConnectError, _) => 502,
        (ReadTimedout | WriteTimedout, ErrorSource::Upstream) => 504,
        (ReadTimedout, ErrorSource::Downstream) => 408,
        (_, ErrorSource::Upstream) => 502,
        (WriteError | ReadError | ConnectionClosed | WriteTimedout, ErrorSource::Downstream) => 0,
        (_, ErrorSource::Downstream) => 400,
        (_, ErrorSource::Internal | ErrorSource::Unset) => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(etype: ErrorType, source: ErrorSource) -> Box<Error> {
        let mut e = Error::new(etype);
        e.esource = source;
        e
    }

    #[test]
    fn maps_failures_like_haproxy() {
        use ErrorSource::*;
        use ErrorType::*;
        assert_eq!(for_error(&error(HTTPStatus(503), Internal)), 503);
        assert_eq!(for_error(&error(ConnectRefused, Upstream)), 502);
        assert_eq!(for_error(&error(ConnectTimedout, Upstream)), 502);
        assert_eq!(for_error(&error(ReadTimedout, Upstream)), 504);
        assert_eq!(for_error(&error(ReadTimedout, Downstream)), 408);
        assert_eq!(for_error(&error(InvalidHTTPHeader, Downstream)), 400);
        assert_eq!(for_error(&error(ConnectionClosed, Downstream)), 0);
        assert_eq!(for_error(&error(InvalidHTTPHeader, Upstream)), 502);
        assert_eq!(for_error(&error(InternalError, Internal)), 500);
    }
}
