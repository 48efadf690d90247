//! Let's Encrypt's ACME test server (Debian package `pebble`) on 127.0.0.1, with
//! `pebble-challtestsrv` as its DNS server (every name resolves to 127.0.0.1), so HTTP-01
//! validations reach the gateway's redirect listener on `http_port`.

use crate::pki::Pki;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running pebble and its DNS server; both stopped when dropped.
pub struct Pebble {
    children: Vec<Child>,
    /// The ACME directory URL.
    pub directory: String,
    /// The management address (`/roots/0`).
    pub management: SocketAddr,
    /// The PEM file to trust for pebble's HTTPS (`acme.ca`).
    pub ca_file: PathBuf,
    log: PathBuf,
}

impl Pebble {
    /// Start pebble validating HTTP-01 on `http_port` of 127.0.0.1; certificates it issues
    /// are valid for `validity` (pebble's default is years). Panics if pebble is missing.
    pub fn start(dir: &Path, http_port: u16, validity: Option<Duration>) -> Pebble {
        let pebble = crate::require_program("pebble", "pebble");
        let challtestsrv = crate::require_program("pebble-challtestsrv", "pebble");
        let pki = Pki::new();
        let pem = pki.leaf(dir, &["localhost"]);
        let ca_file = dir.join("pebble-ca.pem");
        std::fs::write(&ca_file, pki.ca_pem()).unwrap();
        let (listen, management, dns) =
            (crate::free_addr(), crate::free_addr(), crate::free_addr());
        let mut settings = serde_json::json!({
            "listenAddress": listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": pem,
            "privateKey": pem,
            "httpPort": http_port,
            "tlsPort": crate::free_addr().port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(validity) = validity {
            settings["certificateValidityPeriod"] = validity.as_secs().into();
        }
        let config = dir.join("pebble.json");
        let json = serde_json::json!({ "pebble": settings });
        std::fs::write(&config, json.to_string()).unwrap();
        let log = dir.join("pebble.log");
        let out = || {
            Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
        };
        let dns_server = Command::new(challtestsrv)
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &dns.to_string(), "-http01", "", "-https01", ""])
            .args([
                "-tlsalpn01",
                "",
                "-management",
                &crate::free_addr().to_string(),
            ])
            .stdout(out())
            .stderr(out())
            .spawn()
            .expect("start pebble-challtestsrv");
        let server = Command::new(pebble)
            .arg("-config")
            .arg(&config)
            .args(["-dnsserver", &dns.to_string()])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(out())
            .stderr(out())
            .spawn()
            .expect("start pebble");
        let pebble = Pebble {
            children: vec![dns_server, server],
            directory: format!("https://localhost:{}/dir", listen.port()),
            management,
            ca_file,
            log,
        };
        let up = crate::wait_for(Duration::from_secs(10), || {
            crate::accepting(listen) && crate::accepting(management) && crate::accepting(dns)
        });
        assert!(up.is_some(), "pebble did not start; log:\n{}", pebble.log());
        pebble
    }

    /// pebble's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The root that signs what pebble issues (from its management interface).
    pub fn root_pem(&self) -> Vec<u8> {
        let ca = std::fs::read(&self.ca_file).unwrap();
        let client = reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let url = format!("https://localhost:{}/roots/0", self.management.port());
        let response = client.get(url).send().unwrap();
        assert!(response.status().is_success());
        response.bytes().unwrap().to_vec()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
