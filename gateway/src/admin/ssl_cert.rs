//! `show ssl cert` (HAProxy's verb): the certificates served, by file path or
//! `acme:<first domain>:<key type>`; with a name, its subject, names, validity and issuer.

use crate::tls::inventory::{self, common_name, one_line};

/// `show ssl cert [<name>]`.
pub fn show_ssl_cert(name: Option<&str>) -> String {
    let served = inventory::list();
    let Some(name) = name else {
        let mut out = String::from("# filename\n");
        for (name, _, _) in &served {
            out.push_str(name);
            out.push('\n');
        }
        return out;
    };
    let Some((name, listeners, cert)) = served.iter().find(|(n, _, _)| n == name) else {
        return "Can't display the certificate: Not found or the certificate is a bundle!\n".into();
    };
    let leaf = &cert.chain[0];
    let serial = leaf
        .serial_number()
        .to_bn()
        .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
        .unwrap_or_default();
    let sans: Vec<String> = cert.names.iter().map(|n| format!("DNS:{n}")).collect();
    let algorithm = match leaf.public_key().map(|k| (k.id(), k.bits())) {
        Ok((openssl::pkey::Id::EC, bits)) => format!("EC{bits}"),
        Ok((openssl::pkey::Id::RSA, bits)) => format!("RSA{bits}"),
        Ok((_, bits)) => format!("other{bits}"),
        Err(_) => "unknown".into(),
    };
    let mut out = format!(
        "Filename: {name}\nStatus: Used\nListeners: {}\n",
        listeners.join(",")
    );
    out.push_str(&format!("Serial: {serial}\n"));
    out.push_str(&format!("notBefore: {}\n", leaf.not_before()));
    out.push_str(&format!("notAfter: {}\n", leaf.not_after()));
    out.push_str(&format!("Subject Alternative Name: {}\n", sans.join(", ")));
    out.push_str(&format!("Algorithm: {algorithm}\n"));
    out.push_str(&format!("Subject: {}\n", one_line(leaf.subject_name())));
    out.push_str(&format!("Issuer: {}\n", one_line(leaf.issuer_name())));
    if let Some(cn) = common_name(leaf.subject_name()) {
        out.push_str(&format!("Common Name: {cn}\n"));
    }
    out
}
