//! Reading the files a configuration names (the configuration itself, certificates, keys,
//! errorfiles, OCSP responses): regular files only, up to a size cap, without ever blocking.
//!
//! The file is opened with `O_NONBLOCK` and checked with `fstat` before a byte is read, so a
//! FIFO never blocks the caller and a device such as `/dev/zero` is refused instead of read
//! until memory runs out.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The configuration file: far more than any real one (a thousand backends fit in 1 MiB).
pub const CONFIG_CAP: u64 = 4 * 1024 * 1024;
/// A certificate chain, a private key or a combined PEM.
pub const PEM_CAP: u64 = 1024 * 1024;
/// An errorfile: HAProxy's limit is its buffer size (16 KiB); ours is more generous.
pub const ERRORFILE_CAP: u64 = 1024 * 1024;
/// A DER OCSP response.
pub const OCSP_CAP: u64 = 1024 * 1024;

/// Read all of `path`, which must be a regular file of at most `cap` bytes. Errors name the
/// path.
pub fn read(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let file = open(path)?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > cap {
        return Err(format!(
            "cannot read {}: larger than {cap} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}

/// Open `path` for reading without blocking, and check it is a regular file.
fn open(path: &Path) -> Result<File, String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !metadata.is_file() {
        return Err(format!(
            "cannot read {}: not a regular file",
            path.display()
        ));
    }
    Ok(file)
}

/// Whether `path`, if it exists, is something other than a regular file (a FIFO, a device, a
/// directory, a socket): what a file the gateway writes to must not be.
pub fn exists_but_not_regular(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused() {
        assert!(read(Path::new("/dev/zero"), 10)
            .unwrap_err()
            .contains("not a regular file"));
        assert!(read(Path::new("/"), 10).is_err());
    }

    #[test]
    fn files_over_the_cap_are_refused() {
        let path = std::env::temp_dir().join(format!("regular-file-{}", std::process::id()));
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read(&path, 5).unwrap(), b"12345");
        assert!(read(&path, 4).unwrap_err().contains("larger than 4 bytes"));
        std::fs::remove_file(path).unwrap();
    }
}
