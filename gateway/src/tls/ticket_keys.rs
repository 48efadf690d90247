//! Session ticket keys shared by instances (HAProxy `tls-ticket-keys`, nginx
//! `ssl_session_ticket_key`): a client that got a ticket from one gateway resumes on another.
//!
//! The file holds base64 keys, one per line, each 48 bytes (name, AES-128 key, HMAC key, 16
//! bytes each) or 80 (name 16, AES-256 key 32, HMAC key 32). As in HAProxy, the last three are
//! used: the middle one encrypts new tickets, all three decrypt, so operators rotate by
//! appending a key and reloading. The keys are installed through OpenSSL's ticket key callback,
//! which the `openssl` crate does not wrap, hence the few `openssl-sys` calls here.

use crate::regular_file;
use openssl::ex_data::Index;
use openssl::ssl::{SslContext, SslContextBuilder};
use openssl_sys as ffi;
use std::os::raw::{c_int, c_uchar};
use std::path::Path;
use std::sync::OnceLock;

/// Keys used from the end of the file; the middle one encrypts.
const KEYS_USED: usize = 3;
/// The largest key file read.
const FILE_CAP: u64 = 64 * 1024;
/// OpenSSL's `SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB` (behind the `SSL_CTX_set_tlsext_ticket_key_cb` macro).
const SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB: c_int = 72;
/// AES-CBC's IV length.
const IV_LEN: usize = 16;

/// One ticket key.
#[derive(Clone)]
struct TicketKey {
    name: [u8; 16],
    aes: Vec<u8>,
    hmac: Vec<u8>,
}

/// The keys of one listener, as read from its file.
#[derive(Clone)]
pub struct TicketKeys {
    /// Oldest first; `keys[1]` encrypts.
    keys: Vec<TicketKey>,
}

impl std::fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TicketKeys({} keys)", self.keys.len()) // never the key bytes
    }
}

/// Read a key file in HAProxy's format. Blank lines and `#` comments are skipped.
pub fn load(path: &Path) -> Result<TicketKeys, String> {
    let bytes = regular_file::read(path, FILE_CAP)?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{}: not text", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse(text: &str) -> Result<TicketKeys, String> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let raw = openssl::base64::decode_block(line)
            .map_err(|_| format!("line {}: not base64", i + 1))?;
        let half = match raw.len() {
            48 => 16,
            80 => 32,
            n => return Err(format!("line {}: a key is 48 or 80 bytes, not {n}", i + 1)),
        };
        if keys
            .first()
            .is_some_and(|k: &TicketKey| k.aes.len() != half)
        {
            return Err(format!("line {}: 48- and 80-byte keys mixed", i + 1));
        }
        let mut name = [0u8; 16];
        name.copy_from_slice(&raw[..16]);
        keys.push(TicketKey {
            name,
            aes: raw[16..16 + half].to_vec(),
            hmac: raw[16 + half..].to_vec(),
        });
    }
    if keys.len() < KEYS_USED {
        return Err(format!(
            "{} keys; at least {KEYS_USED} are needed (the middle of the last three encrypts)",
            keys.len()
        ));
    }
    let keys = keys.split_off(keys.len() - KEYS_USED);
    Ok(TicketKeys { keys })
}

fn index() -> Result<Index<SslContext, TicketKeys>, String> {
    static INDEX: OnceLock<Index<SslContext, TicketKeys>> = OnceLock::new();
    if let Some(index) = INDEX.get() {
        return Ok(*index);
    }
    let index = SslContext::new_ex_index().map_err(|e| e.to_string())?;
    Ok(*INDEX.get_or_init(|| index))
}

/// Make `builder`'s context issue and accept tickets with `keys`.
pub fn install(builder: &mut SslContextBuilder, keys: &TicketKeys) -> Result<(), String> {
    builder.set_ex_data(index()?, keys.clone());
    let callback: TicketKeyCallback = ticket_key_callback;
    // SAFETY: the context is live; the callback has the signature OpenSSL calls it with.
    let set = unsafe {
        ffi::SSL_CTX_callback_ctrl__fixed_rust(
            builder.as_ptr(),
            SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB,
            Some(std::mem::transmute::<
                TicketKeyCallback,
                unsafe extern "C" fn(),
            >(callback)),
        )
    };
    if set != 1 {
        return Err("OpenSSL refused the ticket key callback".into());
    }
    Ok(())
}

/// `SSL_CTX_set_tlsext_ticket_key_cb`'s callback type.
type TicketKeyCallback = unsafe extern "C" fn(
    *mut ffi::SSL,
    *mut c_uchar,
    *mut c_uchar,
    *mut ffi::EVP_CIPHER_CTX,
    *mut ffi::HMAC_CTX,
    c_int,
) -> c_int;

/// OpenSSL's ticket key callback: `enc == 1` to issue a ticket (fill in the name and IV, set up
/// the cipher and HMAC with the encrypting key), else to open one named `name` (0: unknown
/// key, full handshake; 1: accepted; 2: accepted, issue a fresh ticket with the current key).
unsafe extern "C" fn ticket_key_callback(
    ssl: *mut ffi::SSL,
    name: *mut c_uchar,
    iv: *mut c_uchar,
    cipher: *mut ffi::EVP_CIPHER_CTX,
    hmac: *mut ffi::HMAC_CTX,
    enc: c_int,
) -> c_int {
    let Ok(index) = index() else {
        return -1;
    };
    // The context the handshake runs on (the SNI callback may have switched it; every context
    // of a listener carries the same keys). `set_ex_data` stores a `Box<TicketKeys>`.
    let data = ffi::SSL_CTX_get_ex_data(ffi::SSL_get_SSL_CTX(ssl), index.as_raw());
    let Some(keys) = (data as *const TicketKeys).as_ref() else {
        return -1;
    };
    let name = std::slice::from_raw_parts_mut(name, 16);
    let iv = std::slice::from_raw_parts_mut(iv, IV_LEN);
    let (key, fresh) = if enc == 1 {
        let key = &keys.keys[1];
        if openssl::rand::rand_bytes(iv).is_err() {
            return -1;
        }
        name.copy_from_slice(&key.name);
        (key, true)
    } else {
        match keys.keys.iter().position(|k| k.name[..] == name[..]) {
            Some(i) => (&keys.keys[i], i == 1),
            None => return 0,
        }
    };
    let aes = if key.aes.len() == 16 {
        ffi::EVP_aes_128_cbc()
    } else {
        ffi::EVP_aes_256_cbc()
    };
    let null = std::ptr::null_mut();
    let cipher_ok = if enc == 1 {
        ffi::EVP_EncryptInit_ex(cipher, aes, null, key.aes.as_ptr(), iv.as_ptr())
    } else {
        ffi::EVP_DecryptInit_ex(cipher, aes, null, key.aes.as_ptr(), iv.as_ptr())
    };
    let hmac_key = key.hmac.as_ptr().cast();
    let hmac_len = key.hmac.len() as c_int;
    let hmac_ok = ffi::HMAC_Init_ex(hmac, hmac_key, hmac_len, ffi::EVP_sha256(), null);
    match (cipher_ok, hmac_ok, fresh) {
        (1, 1, true) => 1,
        (1, 1, false) => 2,
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8, len: usize) -> String {
        openssl::base64::encode_block(&vec![byte; len])
    }

    #[test]
    fn the_last_three_keys_are_used_and_the_middle_one_encrypts() {
        let text = [
            key(1, 48),
            key(2, 48),
            "# comment".into(),
            key(3, 48),
            key(4, 48),
        ];
        let keys = parse(&text.join("\n")).unwrap();
        let names: Vec<u8> = keys.keys.iter().map(|k| k.name[0]).collect();
        assert_eq!(names, [2, 3, 4]);
        let keys = parse(&[key(1, 80), key(2, 80), key(3, 80)].join("\n")).unwrap();
        assert_eq!(keys.keys[1].aes.len(), 32);
        assert_eq!(keys.keys[1].hmac.len(), 32);
    }

    #[test]
    fn bad_files_are_refused() {
        let two = [key(1, 48), key(2, 48)].join("\n");
        assert!(parse(&two).unwrap_err().contains("at least 3"));
        let mixed = [key(1, 48), key(2, 80), key(3, 48)].join("\n");
        assert!(parse(&mixed).unwrap_err().contains("mixed"));
        let short = [key(1, 48), key(2, 47), key(3, 48)].join("\n");
        assert!(parse(&short)
            .unwrap_err()
            .contains("line 2: a key is 48 or 80 bytes"));
        assert!(parse("not base64!\n").unwrap_err().contains("not base64"));
    }
}
