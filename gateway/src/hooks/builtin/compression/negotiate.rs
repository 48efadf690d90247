//! Which coding a client gets: `Accept-Encoding` with q-values (RFC 9110 §12.5.3) against
//! the configured algorithms, and which responses may be compressed at all.

use super::encoder::Algorithm;
use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use http::HeaderMap;

/// A q-value in thousandths (`q=0.5` is 500); 1000 when not given.
fn q_value(params: &str) -> u16 {
    for param in params.split(';') {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        let value = value.trim();
        let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
        if whole == "1" {
            return 1000;
        }
        if whole != "0" || fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return 0;
        }
        let digits: String = format!("{fraction:0<3}");
        return digits.parse().unwrap_or(0);
    }
    1000
}

/// The algorithm `accept_encoding` (every `Accept-Encoding` line's value) prefers among
/// `offered` (in the operator's order of preference): the highest q-value above 0, ties going
/// to the earlier in `offered`; `*` stands for the codings not named. `None` when the client
/// sent no `Accept-Encoding` or accepts none of them.
pub fn choose<'a>(
    accept_encoding: impl Iterator<Item = &'a [u8]>,
    offered: &[Algorithm],
) -> Option<Algorithm> {
    // For each offered algorithm (by index): the q the client gave it by name, and `*`'s.
    let mut named: [Option<u16>; 3] = [None; 3];
    let mut any: Option<u16> = None;
    for line in accept_encoding {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        for element in line.split(',') {
            let (coding, params) = element.split_once(';').unwrap_or((element, ""));
            let coding = coding.trim();
            let q = q_value(params);
            if coding == "*" {
                any = Some(any.map_or(q, |old| old.max(q)));
            } else if let Some(algorithm) = Algorithm::from_name(coding) {
                if let Some(i) = offered.iter().position(|a| *a == algorithm) {
                    named[i] = Some(named[i].map_or(q, |old| old.max(q)));
                }
            }
        }
    }
    let mut best: Option<(u16, Algorithm)> = None;
    for (i, algorithm) in offered.iter().enumerate().take(3) {
        let q = named[i].or(any).unwrap_or(0);
        if q > 0 && best.is_none_or(|(best_q, _)| q > best_q) {
            best = Some((q, *algorithm));
        }
    }
    best.map(|(_, algorithm)| algorithm)
}

/// The media types to compress: exact (`application/json`) or a whole top-level type
/// (`text/*`).
#[derive(Debug, Default)]
pub struct Types {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl Types {
    /// From the settings' list; an entry that is not `type/subtype` or `type/*` is refused.
    pub fn new(types: &[String]) -> Result<Types, String> {
        let mut parsed = Types::default();
        for (i, text) in types.iter().enumerate() {
            let text = text.trim().to_ascii_lowercase();
            match text.split_once('/') {
                Some((top, "*")) if !top.is_empty() && top != "*" => {
                    parsed.prefixes.push(format!("{top}/"));
                }
                Some((top, sub)) if !top.is_empty() && !sub.is_empty() && !sub.contains('*') => {
                    parsed.exact.push(text.clone());
                }
                _ => {
                    return Err(format!(
                        "types[{i}]: {text:?} is not a media type such as text/html or text/*"
                    ))
                }
            }
        }
        Ok(parsed)
    }

    /// Whether `content_type` (parameters allowed) is one of these.
    pub fn matches(&self, content_type: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(content_type) else {
            return false;
        };
        let essence = text.split(';').next().unwrap_or("").trim();
        let lower = essence.to_ascii_lowercase();
        self.exact.contains(&lower) || self.prefixes.iter().any(|p| lower.starts_with(p.as_str()))
    }
}

/// Whether a response with `status` and `headers` may be compressed: a status with a body
/// (not 1xx, 204, 206, 304), not already encoded, not a range, no `no-transform`, a listed
/// type, and not known to be under `min_bytes`.
pub fn compressible(status: u16, headers: &HeaderMap, types: &Types, min_bytes: u64) -> bool {
    if status < 200 || matches!(status, 204 | 206 | 304) {
        return false;
    }
    let encoded = headers
        .get(CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    let no_transform = headers.get_all(CACHE_CONTROL).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"no-transform"))
    });
    if encoded || no_transform || headers.contains_key(CONTENT_RANGE) {
        return false;
    }
    if !headers
        .get(CONTENT_TYPE)
        .is_some_and(|t| types.matches(t.as_bytes()))
    {
        return false;
    }
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    length.is_none_or(|length| length >= min_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Algorithm::*;

    const ALL: [Algorithm; 3] = [Zstd, Brotli, Gzip];

    fn pick(header: &str) -> Option<Algorithm> {
        choose(std::iter::once(header.as_bytes()), &ALL)
    }

    #[test]
    fn q_values_decide_and_ties_go_to_the_operator_s_order() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Some(Zstd));
        assert_eq!(pick("gzip, deflate, br"), Some(Brotli));
        assert_eq!(pick("gzip;q=1.0, br;q=0.8"), Some(Gzip));
        assert_eq!(pick("br;q=0.5, gzip;q=0.501"), Some(Gzip));
        assert_eq!(pick("zstd;q=0, br;q=0"), None);
        assert_eq!(pick("*"), Some(Zstd));
        assert_eq!(pick("*;q=0.1, gzip"), Some(Gzip));
        assert_eq!(pick("identity"), None);
        assert_eq!(pick(""), None);
        assert_eq!(pick("GZIP ; Q=0.3"), Some(Gzip));
        assert_eq!(pick("gzip;q=2"), None);
        assert_eq!(choose(std::iter::empty(), &ALL), None);
        assert_eq!(choose(std::iter::once(&b"zstd, br"[..]), &[Gzip]), None);
        let lines = [&b"br;q=0.2"[..], &b"gzip"[..]];
        assert_eq!(choose(lines.into_iter(), &ALL), Some(Gzip));
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn only_listed_types_of_a_useful_size_are_compressible() {
        let types = Types::new(&["text/*".into(), "application/json".into()]).unwrap();
        let ok =
            |status, pairs: &[(&str, &str)]| compressible(status, &headers(pairs), &types, 256);
        assert!(ok(200, &[("content-type", "text/html; charset=utf-8")]));
        assert!(ok(
            404,
            &[
                ("content-type", "Application/JSON"),
                ("content-length", "256")
            ]
        ));
        assert!(!ok(
            200,
            &[
                ("content-type", "application/json"),
                ("content-length", "255")
            ]
        ));
        assert!(!ok(200, &[("content-type", "image/png")]));
        assert!(!ok(200, &[]));
        assert!(!ok(
            200,
            &[("content-type", "text/html"), ("content-encoding", "gzip")]
        ));
        assert!(ok(
            200,
            &[
                ("content-type", "text/html"),
                ("content-encoding", "identity")
            ]
        ));
        assert!(!ok(
            200,
            &[
                ("content-type", "text/html"),
                ("cache-control", "public, No-Transform")
            ]
        ));
        assert!(!ok(206, &[("content-type", "text/html")]));
        assert!(!ok(
            200,
            &[
                ("content-type", "text/html"),
                ("content-range", "bytes 0-9/100")
            ]
        ));
        for status in [101, 204, 304] {
            assert!(!ok(status, &[("content-type", "text/html")]));
        }
    }

    #[test]
    fn malformed_types_are_refused() {
        assert!(Types::new(&["*/*".into()]).is_err());
        assert!(Types::new(&["text".into()])
            .err()
            .unwrap()
            .starts_with("types[0]"));
        assert!(Types::new(&["text/h*".into()]).is_err());
    }
}
