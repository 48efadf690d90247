//! A throwaway certificate authority and leaf certificates, written as combined PEMs (chain
//! then key), the shape the gateway's `tls.certificate` takes.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509Name, X509};
use std::path::{Path, PathBuf};

/// A CA that signs leaf certificates.
pub struct Pki {
    ca: X509,
    ca_key: PKey<Private>,
}

fn new_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn name(common_name: &str) -> X509Name {
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)
        .unwrap();
    name.build()
}

fn serial() -> openssl::asn1::Asn1Integer {
    let mut bn = BigNum::new().unwrap();
    bn.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    bn.to_asn1_integer().unwrap()
}

impl Pki {
    /// A new CA.
    pub fn new() -> Pki {
        let ca_key = new_key();
        let mut ca = X509::builder().unwrap();
        ca.set_version(2).unwrap();
        ca.set_serial_number(&serial()).unwrap();
        ca.set_subject_name(&name("gateway test CA")).unwrap();
        ca.set_issuer_name(&name("gateway test CA")).unwrap();
        ca.set_pubkey(&ca_key).unwrap();
        ca.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        ca.set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        ca.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        ca.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap(),
        )
        .unwrap();
        ca.sign(&ca_key, MessageDigest::sha256()).unwrap();
        Pki {
            ca: ca.build(),
            ca_key,
        }
    }

    /// The CA certificate in PEM, for clients to trust.
    pub fn ca_pem(&self) -> Vec<u8> {
        self.ca.to_pem().unwrap()
    }

    /// Write the CA certificate to `dir/ca.pem` (for a client tool to trust); returns its path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.ca_pem()).unwrap();
        path
    }

    /// Write a combined PEM for `names` (the first is the CN) into `dir`; returns its path.
    pub fn leaf(&self, dir: &Path, names: &[&str]) -> PathBuf {
        let path = dir.join(format!("{}.pem", names[0]));
        let not_after = Asn1Time::days_from_now(30).unwrap();
        self.leaf_with(&path, names, new_key(), &not_after)
    }

    /// Write a combined PEM for `names` with `key` (EC or RSA) that expires at `not_after`
    /// to `path`; returns it.
    pub fn leaf_with(
        &self,
        path: &Path,
        names: &[&str],
        key: PKey<Private>,
        not_after: &openssl::asn1::Asn1TimeRef,
    ) -> PathBuf {
        let mut cert = X509::builder().unwrap();
        cert.set_version(2).unwrap();
        cert.set_serial_number(&serial()).unwrap();
        cert.set_subject_name(&name(names[0])).unwrap();
        cert.set_issuer_name(self.ca.subject_name()).unwrap();
        cert.set_pubkey(&key).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        // Ten days ago, so that an expired certificate can be made too.
        let not_before = Asn1Time::from_unix(now - 10 * 86_400).unwrap();
        cert.set_not_before(&not_before).unwrap();
        cert.set_not_after(not_after).unwrap();
        let mut san = SubjectAlternativeName::new();
        for n in names {
            san.dns(n);
        }
        san.ip("127.0.0.1");
        let san = san
            .build(&cert.x509v3_context(Some(&self.ca), None))
            .unwrap();
        cert.append_extension(san).unwrap();
        cert.sign(&self.ca_key, MessageDigest::sha256()).unwrap();
        let cert = cert.build();
        let mut pem = cert.to_pem().unwrap();
        pem.extend(self.ca.to_pem().unwrap());
        pem.extend(key.private_key_to_pem_pkcs8().unwrap());
        std::fs::write(path, pem).unwrap();
        path.to_path_buf()
    }

    /// An RSA 2048 key, for [`Pki::leaf_with`].
    pub fn rsa_key() -> PKey<Private> {
        PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap()
    }

    /// An ECDSA P-256 key, for [`Pki::leaf_with`].
    pub fn ec_key() -> PKey<Private> {
        new_key()
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

/// The common name of a DER certificate.
pub fn common_name(der: &[u8]) -> String {
    let cert = X509::from_der(der).unwrap();
    let entry = cert
        .subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .unwrap();
    entry.data().to_string().unwrap()
}
