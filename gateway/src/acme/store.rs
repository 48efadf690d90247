//! The ACME store: a directory shared by every instance (it may be on shared storage).
//! `account.json` (the account's key and URL), `<first domain>.<key type>.pem` (chain then
//! key), and `<first domain>.<key type>.lock` while an instance orders. Files are 0600 and
//! replaced by rename, so a reader never sees half a certificate.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The account's file.
pub fn account_path(store: &Path) -> PathBuf {
    store.join("account.json")
}

/// A certificate's file (`stem`: `<first domain>.<key type>`).
pub fn certificate_path(store: &Path, stem: &str) -> PathBuf {
    store.join(format!("{stem}.pem"))
}

/// Write `bytes` to `path` (0600), replacing it whole.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    fs::rename(&tmp, path)
}

/// Check that the store exists (or can be created) and can be written.
pub fn check_writable(store: &Path) -> Result<(), String> {
    if let Err(e) = fs::create_dir_all(store) {
        return Err(format!("{}: cannot create: {e}", store.display()));
    }
    let probe = store.join(format!(".probe{}", std::process::id()));
    match OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&probe)
    {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!("{}: not writable: {e}", store.display())),
    }
}

/// An order lease: held by one instance at a time, taken over when older than its lease.
pub struct Lease {
    path: PathBuf,
}

impl Lease {
    /// Take the lease for `stem`, unless another instance holds one younger than `lease`.
    pub fn try_take(store: &Path, stem: &str, lease: Duration) -> std::io::Result<Option<Lease>> {
        let path = store.join(format!("{stem}.lock"));
        for _ in 0..2 {
            let created = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path);
            match created {
                Ok(mut file) => {
                    let _ = writeln!(file, "pid {}", std::process::id());
                    return Ok(Some(Lease { path }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    match age {
                        Some(age) if age > lease => {
                            log::warn!("{}: lease expired, taking it over", path.display());
                            let _ = fs::remove_file(&path);
                        }
                        _ => return Ok(None),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lease_at_a_time_until_dropped_or_expired() {
        let dir = std::env::temp_dir().join(format!("acme-lease-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let long = Duration::from_secs(600);
        let first = Lease::try_take(&dir, "a.test.ecdsa-p256", long).unwrap();
        assert!(first.is_some());
        assert!(Lease::try_take(&dir, "a.test.ecdsa-p256", long)
            .unwrap()
            .is_none());
        drop(first);
        let again = Lease::try_take(&dir, "a.test.ecdsa-p256", long).unwrap();
        assert!(again.is_some());
        std::mem::forget(again);
        let expired = Lease::try_take(&dir, "a.test.ecdsa-p256", Duration::ZERO).unwrap();
        assert!(expired.is_some());
        drop(expired);
        let _ = fs::remove_dir_all(&dir);
    }
}
