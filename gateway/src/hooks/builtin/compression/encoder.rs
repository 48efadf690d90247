//! The streaming encoders (the `flate2`, `brotli` and `zstd` crates Pingora's own compressors
//! use). Each chunk is flushed as it goes, so what the client has received so far always
//! decodes: a slow response reaches the client piece by piece, not at its end.

use bytes::Bytes;
use std::io::{self, Write};

/// A content coding the gateway can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `zstd` (RFC 8878).
    Zstd,
    /// `br` (RFC 7932).
    Brotli,
    /// `gzip` (RFC 1952).
    Gzip,
}

impl Algorithm {
    /// The name in `Accept-Encoding`, `Content-Encoding` and the settings.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Zstd => "zstd",
            Algorithm::Brotli => "br",
            Algorithm::Gzip => "gzip",
        }
    }

    /// The algorithm called `name` (`x-gzip` is gzip), any case.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        [Algorithm::Zstd, Algorithm::Brotli, Algorithm::Gzip]
            .into_iter()
            .find(|a| name.eq_ignore_ascii_case(a.name()))
            .or_else(|| {
                name.eq_ignore_ascii_case("x-gzip")
                    .then_some(Algorithm::Gzip)
            })
    }

    /// The level `level: default` means: fast enough to run on every response.
    pub fn default_level(self) -> u32 {
        match self {
            Algorithm::Zstd => 3,
            Algorithm::Brotli => 4,
            Algorithm::Gzip => 6,
        }
    }
}

/// One response's encoder.
pub enum Encoder {
    /// gzip, sync-flushed per chunk.
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    /// Brotli, flushed per chunk.
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    /// zstd, a block per chunk.
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    /// The stream was finished.
    Done,
}

impl Encoder {
    /// An encoder for `algorithm` at `level`.
    pub fn new(algorithm: Algorithm, level: u32) -> io::Result<Encoder> {
        Ok(match algorithm {
            Algorithm::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(level),
            )),
            // 4 KiB buffer and a 4 MiB window (lgwin 22), as brotli's own defaults.
            Algorithm::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                level,
                22,
            ))),
            Algorithm::Zstd => {
                Encoder::Zstd(zstd::stream::write::Encoder::new(Vec::new(), level as i32)?)
            }
        })
    }

    /// Compress `input` and return what can be sent now: everything given so far, decodable;
    /// on `end`, the rest of the stream with its trailer.
    pub fn encode(&mut self, input: &[u8], end: bool) -> io::Result<Bytes> {
        match self {
            Encoder::Gzip(e) => e.write_all(input)?,
            Encoder::Brotli(e) => e.write_all(input)?,
            Encoder::Zstd(e) => e.write_all(input)?,
            Encoder::Done => return Ok(Bytes::new()),
        }
        if end {
            let out = match std::mem::replace(self, Encoder::Done) {
                Encoder::Gzip(e) => e.finish()?,
                Encoder::Brotli(e) => e.into_inner(),
                Encoder::Zstd(e) => e.finish()?,
                Encoder::Done => Vec::new(),
            };
            return Ok(out.into());
        }
        let out = match self {
            Encoder::Gzip(e) => {
                e.flush()?;
                e.get_mut()
            }
            Encoder::Brotli(e) => {
                e.flush()?;
                e.get_mut()
            }
            Encoder::Zstd(e) => {
                e.flush()?;
                e.get_mut()
            }
            Encoder::Done => return Ok(Bytes::new()),
        };
        Ok(std::mem::take(out).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn decode(algorithm: Algorithm, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match algorithm {
            Algorithm::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Algorithm::Brotli => {
                brotli::Decompressor::new(data, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Algorithm::Zstd => out = zstd::stream::decode_all(data).unwrap(),
        }
        out
    }

    #[test]
    fn every_algorithm_round_trips_and_each_chunk_decodes_on_its_own() {
        let text = "<p>The same words compress well. </p>\n".repeat(200);
        for algorithm in [Algorithm::Zstd, Algorithm::Brotli, Algorithm::Gzip] {
            let mut encoder = Encoder::new(algorithm, algorithm.default_level()).unwrap();
            let first = encoder.encode(&text.as_bytes()[..1000], false).unwrap();
            // What was sent so far is decodable before the stream ends (streaming).
            let mut partial = Vec::new();
            match algorithm {
                Algorithm::Gzip => {
                    let _ = flate2::read::GzDecoder::new(&first[..]).read_to_end(&mut partial);
                }
                Algorithm::Brotli => {
                    let _ = brotli::Decompressor::new(&first[..], 4096).read_to_end(&mut partial);
                }
                Algorithm::Zstd => {
                    let mut d = zstd::stream::read::Decoder::new(&first[..]).unwrap();
                    let _ = d.read_to_end(&mut partial);
                }
            }
            assert_eq!(partial, text.as_bytes()[..1000], "{algorithm:?}");
            let rest = encoder.encode(&text.as_bytes()[1000..], true).unwrap();
            let whole = [first, rest].concat();
            assert!(
                whole.len() * 10 < text.len(),
                "{algorithm:?}: {}",
                whole.len()
            );
            assert_eq!(decode(algorithm, &whole), text.as_bytes(), "{algorithm:?}");
            assert!(encoder.encode(b"late", true).unwrap().is_empty());
        }
    }

    #[test]
    fn names_are_read_in_any_case() {
        assert_eq!(Algorithm::from_name("BR"), Some(Algorithm::Brotli));
        assert_eq!(Algorithm::from_name("x-gzip"), Some(Algorithm::Gzip));
        assert_eq!(Algorithm::from_name("deflate"), None);
    }
}
