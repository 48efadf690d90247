//! A gateway cluster on 127.0.0.1, as an operator would run N gateways: Redis for the shared
//! rate limit, `dnsmasq` serving the origins' addresses, three origins, two gateways sharing
//! Redis, the DNS name and a TLS ticket key file, and HAProxy in `mode tcp` with
//! `send-proxy-v2` and `check` in front (an NLB's stand-in). Used by `tests/cluster.rs` and
//! by `make cluster-demo` (`src/bin/cluster-demo.rs`).

use crate::config::{yaml, Backend, Config, Listener};
use crate::dnsmasq::Dnsmasq;
use crate::gateway::{workdir, Gateway};
use crate::haproxy::Front;
use crate::origin::Origin;
use crate::pki::Pki;
use crate::redis_server::RedisServer;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

/// The name the gateways resolve for their servers.
pub const DNS_NAME: &str = "app.cluster.test";
/// `/limited` allows this many requests a second per client address, for the whole cluster.
pub const LIMIT: usize = 50;
/// The origins' addresses (all on one port, as A records need).
const ORIGIN_IPS: [[u8; 4]; 3] = [[127, 0, 0, 21], [127, 0, 0, 22], [127, 0, 0, 23]];

/// One gateway of the cluster.
pub struct Member {
    /// Its TLS listener (PROXY protocol from 127.0.0.1 only).
    pub addr: SocketAddr,
    /// Its stats listener (`/metrics`, `/stats`).
    pub stats: SocketAddr,
    /// Its directory (configuration, logs, pid file, upgrade socket).
    pub dir: PathBuf,
    yaml: String,
    gateway: Option<Gateway>,
}

impl Member {
    /// The running process.
    pub fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().expect("the gateway runs")
    }

    /// A binary upgrade (HAProxy's `-sf`): a new process started with `-u` takes the
    /// listening sockets, the old one gets SIGQUIT and finishes what it serves.
    pub fn upgrade(&mut self) {
        let mut old = self.gateway.take().expect("the gateway runs");
        let new = Gateway::start_upgrade(&self.dir, &self.yaml);
        old.signal("QUIT");
        let exit = old.wait_exit(Duration::from_secs(30));
        assert_eq!(exit, Some(0), "old process log:\n{}", old.log());
        // The new process removes the upgrade socket once it has the sockets.
        let _ = std::fs::remove_file(self.dir.join("upgrade.sock"));
        self.gateway = Some(new);
    }

    /// Requests it answered with 200 (`gateway_requests_total`, carried across upgrades).
    pub fn served(&self) -> usize {
        let text = crate::scrape(self.stats);
        let labels = [("listener", "https"), ("code", "200")];
        crate::metric_value(&text, "gateway_requests_total", &labels).unwrap_or(0.0) as usize
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut gateway) = self.gateway.take() {
            gateway.signal("KILL");
            gateway.wait_exit(Duration::from_secs(10));
        }
    }
}

/// The whole cluster; everything is stopped when it is dropped.
pub struct Cluster {
    /// The L4 front.
    pub front: Front,
    /// The gateways.
    pub members: Vec<Member>,
    /// The origins, at 127.0.0.21, .22 and .23.
    pub origins: Vec<Origin>,
    /// The DNS server the gateways ask.
    pub dns: Dnsmasq,
    /// The shared Redis.
    pub redis: RedisServer,
    /// The CA that signed the gateways' certificate (`localhost`).
    pub pki: Pki,
    /// The CA certificate as a file (for curl, openssl).
    pub ca: PathBuf,
    /// The shared ticket key file (HAProxy's format).
    pub ticket_keys: PathBuf,
    /// Where everything keeps its files.
    pub dir: TempDir,
}

impl Cluster {
    /// Start it all: DNS names the first two origins; returns when both gateways have found
    /// them and the front sees both gateways up.
    pub fn start() -> Cluster {
        let dir = workdir();
        let pki = Pki::new();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pki.ca_pem()).unwrap();
        let cert = pki.leaf(dir.path(), &["localhost"]);
        let ticket_keys = dir.path().join("tickets.key");
        write_ticket_keys(&ticket_keys);
        let redis = RedisServer::start(dir.path());
        let port = crate::free_addr().port();
        let origins: Vec<Origin> = ORIGIN_IPS
            .iter()
            .enumerate()
            .map(|(i, ip)| Origin::start_on(&format!("origin{i}"), SocketAddr::from((*ip, port))))
            .collect();
        let dns = Dnsmasq::start(dir.path(), &hosts(&[0, 1]));
        let members: Vec<Member> = (0..2)
            .map(|i| {
                let member_dir = dir.path().join(format!("gw{i}"));
                std::fs::create_dir(&member_dir).unwrap();
                let (addr, stats) = (crate::free_addr(), crate::free_addr());
                let yaml = member_yaml(
                    &member_dir,
                    addr,
                    stats,
                    &cert,
                    &ticket_keys,
                    &redis,
                    &dns,
                    port,
                );
                let gateway = Gateway::start(&member_dir, &yaml, &[addr, stats]);
                Member {
                    addr,
                    stats,
                    dir: member_dir,
                    yaml,
                    gateway: Some(gateway),
                }
            })
            .collect();
        let addrs: Vec<SocketAddr> = members.iter().map(|m| m.addr).collect();
        let front = Front::start(dir.path(), &addrs);
        let cluster = Cluster {
            front,
            members,
            origins,
            dns,
            redis,
            pki,
            ca,
            ticket_keys,
            dir,
        };
        for member in &cluster.members {
            let found = format!("servers now {}", cluster.server_names(&[0, 1]));
            member
                .gateway()
                .wait_log(&found, 1, Duration::from_secs(15));
        }
        cluster.wait_front(0, "UP");
        cluster.wait_front(1, "UP");
        cluster
    }

    /// Make DNS name exactly the origins `which` (indexes into [`Self::origins`]).
    pub fn serve(&self, which: &[usize]) {
        self.dns.set_hosts(&hosts(which));
    }

    /// The gateways' names for origins `which`, as they log them (`app-127.0.0.21:port, ...`).
    pub fn server_names(&self, which: &[usize]) -> String {
        let names: Vec<String> = which
            .iter()
            .map(|i| format!("app-{}", self.origins[*i].addr))
            .collect();
        names.join(", ")
    }

    /// Wait until the front shows gateway `member` in `status` (`UP`, `DOWN`) in its balanced
    /// backend; panics after 15 s.
    pub fn wait_front(&self, member: usize, status: &str) {
        let server = format!("gw{member}");
        let mut seen = String::new();
        let reached = crate::wait_for(Duration::from_secs(15), || {
            seen = self.front.status(crate::haproxy::BALANCED, &server);
            seen == status
        });
        assert!(
            reached.is_some(),
            "front: {server} is {seen:?}, not {status}"
        );
    }

    /// An HTTPS client to `to` (a front address) connecting from `from` (a 127.0.0.0/8
    /// address, the client the gateways should see); `keep_alive: false` opens a connection
    /// per request (so the front balances each).
    pub fn client(
        &self,
        from: IpAddr,
        to: SocketAddr,
        keep_alive: bool,
    ) -> reqwest::blocking::Client {
        let mut builder = reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.pki.ca_pem()).unwrap())
            .resolve("localhost", to)
            .local_address(from)
            .timeout(Duration::from_secs(10));
        if !keep_alive {
            // `Connection: close` too: without it the pool may still hand the connection just
            // used to the next request when that request is already waiting for one.
            let mut close = reqwest::header::HeaderMap::new();
            close.insert(
                reqwest::header::CONNECTION,
                reqwest::header::HeaderValue::from_static("close"),
            );
            builder = builder.pool_max_idle_per_host(0).default_headers(close);
        }
        builder.build().unwrap()
    }

    /// What a person can try against the running cluster (`make cluster-demo`).
    pub fn describe(&self) -> String {
        let front = self.front.addr.port();
        let [a, b] = [self.front.pinned[0].port(), self.front.pinned[1].port()];
        let ca = self.ca.display();
        let curl = format!("curl --cacert {ca} --resolve localhost:{front}:127.0.0.1");
        let gateways: Vec<String> = self
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                format!(
                    "    gateway {i}: pid {}, https {} (PROXY v2 only), stats http://{}/stats, log {}/gateway.log",
                    m.gateway().pid(),
                    m.addr,
                    m.stats,
                    m.dir.display()
                )
            })
            .collect();
        format!(
            "\n  Gateway cluster on 127.0.0.1 (files in {dir}):\n\
             \x20   front (HAProxy mode tcp, send-proxy-v2, check): https://localhost:{front}/ balanced, \
             :{a} gateway 0 only, :{b} gateway 1 only; pid {hp}; stats socket {dir}/haproxy.sock\n\
             {gateways}\n\
             \x20   origins: {origins}, named in DNS {DNS_NAME} by dnsmasq {dns} (pid {dns_pid}, hosts file {dir}/dns.hosts)\n\
             \x20   redis: {redis} (the /limited route allows {LIMIT} requests/s per client for the cluster)\n\
             \n  Try:\n\
             \x20   {curl} --interface 127.0.0.50 https://localhost:{front}/   # the origin's answer; it saw X-Forwarded-For: 127.0.0.50\n\
             \x20   for i in $(seq 120); do {curl} -s -o /dev/null -w '%{{http_code}}\\n' https://localhost:{front}/limited; done | sort | uniq -c\n\
             \x20   openssl s_client -connect 127.0.0.1:{a} -servername localhost -sess_out {dir}/s.pem </dev/null >/dev/null 2>&1;\n\
             \x20     openssl s_client -connect 127.0.0.1:{b} -servername localhost -sess_in {dir}/s.pem </dev/null 2>/dev/null | grep -E '^(New|Reused)'\n\
             \x20   echo '127.0.0.23 {DNS_NAME}' >> {dir}/dns.hosts; kill -HUP {dns_pid}   # origin2 joins, no reload\n\
             \x20   echo 'show stat' | socat stdio {dir}/haproxy.sock | cut -d, -f1,2,18   # the front's view\n\
             \x20   kill -9 {gw0}   # the front marks gw0 DOWN within ~0.5 s; requests go to gateway 1\n\
             \n  Ctrl-C stops everything.\n",
            dir = self.dir.path().display(),
            hp = self.front.pid(),
            gateways = gateways.join("\n"),
            origins = self.origins.iter().map(|o| o.addr.to_string()).collect::<Vec<_>>().join(", "),
            dns = self.dns.addr,
            dns_pid = self.dns.pid(),
            redis = self.redis.addr,
            gw0 = self.members[0].gateway().pid(),
        )
    }
}

/// The hosts file naming origins `which`.
fn hosts(which: &[usize]) -> String {
    which
        .iter()
        .map(|i| {
            let ip = IpAddr::from(ORIGIN_IPS[*i]);
            format!("{ip} {DNS_NAME}\n")
        })
        .collect()
}

/// Three random 80-byte keys, base64, one a line: HAProxy's `tls-ticket-keys` format.
fn write_ticket_keys(path: &Path) {
    let lines: Vec<String> = (0..3)
        .map(|_| {
            let mut key = [0u8; 80];
            openssl::rand::rand_bytes(&mut key).unwrap();
            openssl::base64::encode_block(&key)
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// One gateway's configuration: TLS listener `https` taking PROXY v2 from the front on
/// 127.0.0.1, the shared ticket keys, backend `app` from DNS, `/limited` limited on Redis.
#[allow(clippy::too_many_arguments)]
fn member_yaml(
    dir: &Path,
    addr: SocketAddr,
    stats: SocketAddr,
    cert: &Path,
    ticket_keys: &Path,
    redis: &RedisServer,
    dns: &Dnsmasq,
    port: u16,
) -> String {
    let limit = format!(
        "{{ path_prefix: /limited, backend: app, hooks: [ {{ kind: rate_limit, \
         requests_per_second: {LIMIT}, key: client_ip, store: {{ redis: \"{}\", timeout: 200ms }} }} ] }}",
        redis.url()
    );
    let discovery = format!(
        "{{ dns: {DNS_NAME}, port: {port}, interval: 500ms, resolvers: [\"{}\"] }}",
        dns.addr
    );
    Config::new(dir)
        .listener(
            Listener::tls("https", addr, cert)
                .set("proxy_protocol", yaml("{ trusted: [\"127.0.0.1\"] }"))
                .set("tls.ticket_keys", ticket_keys.display().to_string())
                .backend("app")
                .route(&limit),
        )
        .backend("app", Backend::default().set("discovery", yaml(&discovery)))
        .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")))
        .set("server.grace_period", "2s")
        .set(
            "access_log.path",
            dir.join("access.log").display().to_string(),
        )
        .set("access_log.format", "json")
        .set("log_null_connections", true)
        .yaml()
}
