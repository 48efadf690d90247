//! HTTP-01 answers: the key authorizations of the orders in progress, by token. The redirect
//! listener answers `GET /.well-known/acme-challenge/<token>` from here before redirecting.

use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::sync::RwLock;

/// Where HTTP-01 looks for the answer.
pub const PREFIX: &str = "/.well-known/acme-challenge/";

static PENDING: Lazy<RwLock<HashMap<String, String>>> = Lazy::new(Default::default);

/// The key authorization for the request target `target`, if it is a pending token's path.
pub fn answer(target: &str) -> Option<String> {
    let token = target.strip_prefix(PREFIX)?;
    let pending = PENDING.read().unwrap_or_else(|e| e.into_inner());
    pending.get(token).cloned()
}

/// Whether `target` is under the challenge path (answered 404 when not pending).
pub fn is_challenge(target: &str) -> bool {
    target.starts_with(PREFIX)
}

/// Serve `key_authorization` for `token` until the guard is dropped.
pub fn publish(token: &str, key_authorization: &str) -> Published {
    let mut pending = PENDING.write().unwrap_or_else(|e| e.into_inner());
    pending.insert(token.to_string(), key_authorization.to_string());
    Published(token.to_string())
}

/// A published token; removed when dropped.
pub struct Published(String);

impl Drop for Published {
    fn drop(&mut self) {
        let mut pending = PENDING.write().unwrap_or_else(|e| e.into_inner());
        pending.remove(&self.0);
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
