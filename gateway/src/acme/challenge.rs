//! HTTP-01 answers: the key authorizations of the orders in progress, by token. The redirect
//! listener answers `GET /.well-known/acme-challenge/<token>` from here before redirecting.
//! Tokens are also written to `<store>/challenges/`, so that when several instances share the
//! store behind one address, whichever instance the validation reaches can answer it.

use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;

/// Where HTTP-01 looks for the answer.
pub const PREFIX: &str = "/.well-known/acme-challenge/";

static PENDING: Lazy<RwLock<HashMap<String, String>>> = Lazy::new(Default::default);

/// The shared store's challenge directory, when ACME is configured.
static SHARED: RwLock<Option<PathBuf>> = RwLock::new(None);

/// Set the store whose `challenges/` directory is shared with other instances.
pub fn set_store(store: Option<PathBuf>) {
    *SHARED.write().unwrap_or_else(|e| e.into_inner()) = store.map(|s| s.join("challenges"));
}

fn shared_file(token: &str) -> Option<PathBuf> {
    // Tokens are base64url: anything else never names a file.
    let safe = !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let dir = SHARED.read().unwrap_or_else(|e| e.into_inner()).clone()?;
    safe.then(|| dir.join(token))
}

/// The key authorization for the request target `target`, if it is a pending token's path
/// (this instance's, or one another instance wrote to the shared store).
pub fn answer(target: &str) -> Option<String> {
    let token = target.strip_prefix(PREFIX)?;
    let pending = PENDING.read().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = pending.get(token) {
        return Some(found.clone());
    }
    drop(pending);
    let file = shared_file(token)?;
    let text = crate::regular_file::read(&file, 1024).ok()?;
    String::from_utf8(text).ok()
}

/// Whether `target` is under the challenge path (answered 404 when not pending).
pub fn is_challenge(target: &str) -> bool {
    target.starts_with(PREFIX)
}

/// Serve `key_authorization` for `token` until the guard is dropped.
pub fn publish(token: &str, key_authorization: &str) -> Published {
    let mut pending = PENDING.write().unwrap_or_else(|e| e.into_inner());
    pending.insert(token.to_string(), key_authorization.to_string());
    if let Some(file) = shared_file(token) {
        let written = file
            .parent()
            .map(std::fs::create_dir_all)
            .transpose()
            .and_then(|_| super::store::write_private(&file, key_authorization.as_bytes()));
        if let Err(e) = written {
            log::warn!("acme: {}: {e}", file.display());
        }
    }
    Published(token.to_string())
}

/// A published token; removed when dropped.
pub struct Published(String);

impl Drop for Published {
    fn drop(&mut self) {
        let mut pending = PENDING.write().unwrap_or_else(|e| e.into_inner());
        pending.remove(&self.0);
        if let Some(file) = shared_file(&self.0) {
            let _ = std::fs::remove_file(file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_answered_while_published() {
        let guard = publish("tok-1", "tok-1.thumb");
        assert_eq!(
            answer("/.well-known/acme-challenge/tok-1").as_deref(),
            Some("tok-1.thumb")
        );
        assert_eq!(answer("/.well-known/acme-challenge/other"), None);
        assert_eq!(answer("/tok-1"), None);
        drop(guard);
        assert_eq!(answer("/.well-known/acme-challenge/tok-1"), None);
    }
}
