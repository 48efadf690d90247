//! One order, start to end, with `instant-acme`: the account (created once, kept in the
//! store), HTTP-01 for every name (answered by the redirect listener), a CSR made by OpenSSL,
//! finalize, download.

use super::{challenge, new_key, store, Managed};
use crate::config::model::Acme;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use once_cell::sync::Lazy;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509ReqBuilder};
use std::time::Duration;

/// The account in use, and the directory and store it belongs to.
static ACCOUNT: Lazy<tokio::sync::Mutex<Option<(String, std::path::PathBuf, Account)>>> =
    Lazy::new(Default::default);

/// How long the server may take to validate, or to issue.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(60));

/// The account: from the store when it was created before, else created now and stored.
async fn account(settings: &Acme) -> Result<Account, String> {
    let mut cached = ACCOUNT.lock().await;
    if let Some((directory, store, account)) = cached.as_ref() {
        if *directory == settings.directory && *store == settings.store {
            return Ok(account.clone());
        }
    }
    let builder = || match &settings.ca {
        Some(ca) => Account::builder_with_root(ca),
        None => Account::builder(),
    };
    let err = |e: instant_acme::Error| e.to_string();
    let path = store::account_path(&settings.store);
    // An account belongs to one directory: another directory gets an account of its own.
    let stored = std::fs::read(&path).ok().filter(|json| {
        let value: Option<serde_json::Value> = serde_json::from_slice(json).ok();
        value.is_some_and(|v| v["directory"] == settings.directory.as_str())
    });
    let account = match stored.ok_or(()) {
        Ok(json) => {
            let credentials: AccountCredentials =
                serde_json::from_slice(&json).map_err(|e| format!("{}: {e}", path.display()))?;
            builder()
                .map_err(err)?
                .from_credentials(credentials)
                .await
                .map_err(err)?
        }
        Err(_) => {
            let contact = settings.email.as_ref().map(|e| format!("mailto:{e}"));
            let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
            let new = NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            };
            let (account, credentials) = builder()
                .map_err(err)?
                .create(&new, settings.directory.clone(), None)
                .await
                .map_err(err)?;
            let json = serde_json::to_vec(&credentials).map_err(|e| e.to_string())?;
            store::write_private(&path, &json).map_err(|e| format!("{}: {e}", path.display()))?;
            log::info!(
                "acme: account created at {}, kept in {}",
                settings.directory,
                path.display()
            );
            account
        }
    };
    *cached = Some((
        settings.directory.clone(),
        settings.store.clone(),
        account.clone(),
    ));
    Ok(account)
}

/// Order a certificate for `managed`; the PEM chain then the PEM key.
pub async fn order(settings: &Acme, managed: &Managed) -> Result<Vec<u8>, String> {
    let account = account(settings).await?;
    let err = |e: instant_acme::Error| e.to_string();
    let identifiers: Vec<Identifier> = (managed.domains.iter())
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(err)?;
    let mut published = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(result) = authorizations.next().await {
        let mut authz = result.map_err(err)?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(format!("authorization {other:?}")),
        }
        let mut challenge = authz
            .challenge(ChallengeType::Http01)
            .ok_or("the server offers no http-01 challenge")?;
        let key_authorization = challenge.key_authorization();
        published.push(challenge::publish(
            &challenge.token,
            key_authorization.as_str(),
        ));
        challenge.set_ready().await.map_err(err)?;
    }
    let status = order.poll_ready(&POLL).await.map_err(err)?;
    if status != OrderStatus::Ready {
        let problem = order.state().error.as_ref().map(|p| p.to_string());
        return Err(format!(
            "order {status:?}: {}",
            problem.unwrap_or_else(|| "challenge failed".into())
        ));
    }
    drop(published);
    let key = new_key(managed.key)?;
    let csr = csr(&managed.domains, &key).map_err(|e| format!("CSR: {e}"))?;
    order.finalize_csr(&csr).await.map_err(err)?;
    let chain = order.poll_certificate(&POLL).await.map_err(err)?;
    let key_pem = key.private_key_to_pem_pkcs8().map_err(|e| e.to_string())?;
    let mut pem = chain.into_bytes();
    if !pem.ends_with(b"\n") {
        pem.push(b'\n');
    }
    pem.extend_from_slice(&key_pem);
    Ok(pem)
}

/// A DER certificate request for `domains` signed with `key`.
fn csr(domains: &[String], key: &PKey<Private>) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let mut req = X509ReqBuilder::new()?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(openssl::nid::Nid::COMMONNAME, &domains[0])?;
    req.set_subject_name(&name.build())?;
    req.set_pubkey(key)?;
    let mut san = SubjectAlternativeName::new();
    for domain in domains {
        san.dns(domain);
    }
    let mut extensions = Stack::new()?;
    extensions.push(san.build(&req.x509v3_context(None))?)?;
    req.add_extensions(&extensions)?;
    req.sign(key, MessageDigest::sha256())?;
    req.build().to_der()
}
