//! The request body limit, checked one way everywhere (`limits.body_bytes` on both protocols,
//! the `max_body_size` hook): a declared `Content-Length` over the limit is refused before
//! anything is read, and a streamed body is counted chunk by chunk so the chunk that crosses
//! the limit is never forwarded.

use bytes::Bytes;
use http::{header, HeaderMap};

/// Longest `Content-Length` accepted, in digits: every 19-digit number fits a `u64`.
const MAX_LENGTH_DIGITS: usize = 19;

/// A `Content-Length` value: 1 to 19 ASCII digits, nothing else (no sign, no blank, no list).
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > MAX_LENGTH_DIGITS || !value.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The length a request's headers declare, if they carry a valid `Content-Length`.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    parse_content_length(headers.get(header::CONTENT_LENGTH)?.as_bytes())
}

/// Whether a body of `declared` bytes (if declared) fits in `limit`.
pub fn declared_fits(declared: Option<u64>, limit: u64) -> bool {
    declared.is_none_or(|length| length <= limit)
}

/// Body bytes received so far by one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyCount(u64);

impl BodyCount {
    /// Count `chunk`; `false` once the body is over `limit`.
    pub fn add(&mut self, chunk: Option<&Bytes>, limit: u64) -> bool {
        self.0 = self.0.saturating_add(chunk.map_or(0, |c| c.len() as u64));
        self.0 <= limit
    }

    /// Bytes counted so far.
    pub fn bytes(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_digits_only() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"1234"), Some(1234));
        assert_eq!(
            parse_content_length(b"9999999999999999999"),
            Some(9999999999999999999)
        );
        for bad in [
            &b""[..],
            b"+3",
            b"-1",
            b" 3",
            b"3 ",
            b"3,3",
            b"0x3",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_content_length(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_chunk_crossing_the_limit_is_refused() {
        let mut count = BodyCount::default();
        assert!(count.add(Some(&Bytes::from_static(b"12345")), 8));
        assert!(count.add(None, 8));
        assert!(count.add(Some(&Bytes::from_static(b"678")), 8));
        assert!(!count.add(Some(&Bytes::from_static(b"9")), 8));
        assert!(declared_fits(None, 0));
        assert!(declared_fits(Some(8), 8));
        assert!(!declared_fits(Some(9), 8));
    }
}
