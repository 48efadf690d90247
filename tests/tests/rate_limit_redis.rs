//! `rate_limit` with `store: { redis }`: two real gateways sharing one real `redis-server`
//! hold one limit; with Redis slow or gone each limits in-process, counts it, and never holds
//! a request for long; with Redis back they share again.

use gateway_tests::gateway::{check, plain_config, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::redis_server::RedisServer;
use gateway_tests::{free_addr, http_client, metric_value, scrape, wait_for};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tempfile::TempDir;

const ERRORS: &str = "gateway_rate_limit_store_errors_total";

/// One gateway in its own directory: plain listener `addr`, stats listener `stats`.
struct Instance {
    addr: SocketAddr,
    stats: SocketAddr,
    gateway: Gateway,
    _dir: TempDir,
}

impl Instance {
    fn start(origin: &Origin, hook: &str) -> Instance {
        let dir = workdir();
        let (addr, stats) = (free_addr(), free_addr());
        let hooks = format!("    hooks:\n      - {hook}\n");
        let extra = format!("stats: {{ address: \"{stats}\" }}\n");
        let yaml = plain_config(dir.path(), addr, &[origin], &hooks, &extra);
        let gateway = Gateway::start(dir.path(), &yaml, &[addr, stats]);
        Instance {
            addr,
            stats,
            gateway,
            _dir: dir,
        }
    }

    fn store_errors(&self) -> u64 {
        metric_value(&scrape(self.stats), ERRORS, &[]).unwrap_or(0.0) as u64
    }
}

/// Send `count` requests with `X-Client: key`, taking the instances in turn; the statuses,
/// the longest request, and the time all took.
fn send(instances: &[&Instance], key: &str, count: usize) -> (Vec<u16>, Duration, Duration) {
    let client = http_client();
    let started = Instant::now();
    let mut longest = Duration::ZERO;
    let statuses = (0..count)
        .map(|i| {
            let addr = instances[i % instances.len()].addr;
            let sent = Instant::now();
            let response = client
                .get(format!("http://{addr}/"))
                .header("X-Client", key)
                .send()
                .unwrap();
            longest = longest.max(sent.elapsed());
            response.status().as_u16()
        })
        .collect();
    (statuses, longest, started.elapsed())
}

fn allowed(statuses: &[u16]) -> usize {
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(allowed + refused, statuses.len(), "only 200s and 429s");
    allowed
}

/// The most a GCRA of `capacity` refilled at `rate` per second lets through in `elapsed`.
fn gcra_most(capacity: usize, rate: usize, elapsed: Duration) -> usize {
    capacity + rate * (elapsed.as_secs() as usize + 1)
}

/// The most one-second windows of the in-process limiter `elapsed` can touch (each instance's
/// windows start at its own first request after a quiet second).
fn windows(elapsed: Duration) -> usize {
    elapsed.as_secs() as usize + 2
}

fn hook(redis: &RedisServer, burst: u32, timeout: &str) -> String {
    format!(
        "{{ kind: rate_limit, requests_per_second: 1, burst: {burst}, key: \"header:x-client\", store: {{ redis: \"{}\", timeout: {timeout} }} }}",
        redis.url()
    )
}

#[test]
#[ignore = "needs redis-server (make test installs it and runs ignored tests)"]
fn two_gateways_sharing_redis_hold_one_limit() {
    let dir = workdir();
    let redis = RedisServer::start(dir.path());
    let origin = Origin::start("app");
    // 100 at once, then 1 per second: the time the requests take barely moves the count.
    let hook = hook(&redis, 99, "1s");
    let (a, b) = (
        Instance::start(&origin, &hook),
        Instance::start(&origin, &hook),
    );
    let (statuses, _, elapsed) = send(&[&a, &b], "shared", 300);
    let allowed = allowed(&statuses);
    assert_eq!(
        a.store_errors() + b.store_errors(),
        0,
        "Redis decided every one"
    );
    // Each alone would let 100 through (200 together); shared, 100 within 10%.
    assert!(
        (90..=110).contains(&allowed) && allowed <= gcra_most(100, 1, elapsed),
        "{allowed} of 300 allowed in {elapsed:?}"
    );
    assert_eq!(origin.hits(), allowed);
    let from_a = statuses.iter().step_by(2).filter(|s| **s == 200).count();
    assert!(
        from_a > 0 && from_a < allowed,
        "both instances let some through"
    );
}

#[test]
#[ignore = "needs redis-server (make test installs it and runs ignored tests)"]
fn redis_slow_or_down_limits_in_process_then_shared_again() {
    let dir = workdir();
    let mut redis = RedisServer::start(dir.path());
    let origin = Origin::start("app");
    // 20 at once per key (per instance and one-second window when in-process).
    let hook = hook(&redis, 19, "200ms");
    let (a, b) = (
        Instance::start(&origin, &hook),
        Instance::start(&origin, &hook),
    );
    let (statuses, _, _) = send(&[&a, &b], "warm-up", 2);
    assert_eq!(allowed(&statuses), 2);
    assert_eq!(a.store_errors() + b.store_errors(), 0);

    // Stopped (no answers on open connections): no request waits for it; limited locally.
    redis.signal("STOP");
    let (statuses, longest, elapsed) = send(&[&a], "slow", 100);
    redis.signal("CONT");
    let slow_allowed = allowed(&statuses);
    assert!(
        (20..=20 * windows(elapsed)).contains(&slow_allowed) && slow_allowed < 100,
        "{slow_allowed} of 100 allowed in {elapsed:?} with Redis stopped"
    );
    assert!(
        longest < Duration::from_secs(2),
        "a request took {longest:?}"
    );
    assert_eq!(
        a.store_errors(),
        100,
        "every request limited in-process counted"
    );

    // Gone (connections refused): the same.
    redis.stop();
    let errors_before = a.store_errors() + b.store_errors();
    let (statuses, longest, elapsed) = send(&[&a, &b], "down", 200);
    let down_allowed = allowed(&statuses);
    assert!(
        (40..=40 * windows(elapsed)).contains(&down_allowed) && down_allowed < 200,
        "{down_allowed} of 200 allowed in {elapsed:?} with Redis down (20 per instance)"
    );
    assert!(
        longest < Duration::from_secs(2),
        "a request took {longest:?}"
    );
    assert_eq!(a.store_errors() + b.store_errors(), errors_before + 200);
    for instance in [&a, &b] {
        let log = instance.gateway.log();
        assert_eq!(
            log.matches("Redis store failed").count(),
            1,
            "logged once a minute:\n{log}"
        );
    }

    // Back: each instance reconnects after its pause, then the limit is shared again.
    redis.restart();
    for (i, instance) in [&a, &b].into_iter().enumerate() {
        let back = wait_for(Duration::from_secs(10), || {
            let before = instance.store_errors();
            let _ = send(&[instance], &format!("probe-{i}"), 1);
            instance.store_errors() == before
        });
        assert!(back.is_some(), "instance {i} did not go back to Redis");
    }
    let errors_before = a.store_errors() + b.store_errors();
    let (statuses, _, elapsed) = send(&[&a, &b], "back", 60);
    let back_allowed = allowed(&statuses);
    assert!(
        (20..=gcra_most(20, 1, elapsed)).contains(&back_allowed),
        "{back_allowed} of 60 allowed in {elapsed:?}: one shared limit of 20, not 20 each"
    );
    assert_eq!(a.store_errors() + b.store_errors(), errors_before);
    assert!(a.gateway.log().contains("Redis answers again"));
}

#[test]
fn store_settings_are_checked() {
    let dir = workdir();
    let origin = Origin::start("app");
    for (store, problem) in [
        (
            "{ redis: \"http://127.0.0.1:6379\" }",
            "listeners[0].hooks[0]: rate_limit: store.redis: ",
        ),
        (
            "{ redis: \"redis://127.0.0.1:6379/0\", timeout: 0ms }",
            "listeners[0].hooks[0]: rate_limit: store.timeout: 0ms is outside 1ms..=1000ms",
        ),
        (
            "{ redis: \"redis://127.0.0.1:6379/0\", timeout: 2s }",
            "store.timeout: 2000ms is outside",
        ),
        (
            "{ redis: \"redis://127.0.0.1:6379/0\", timout: 5ms }",
            "unknown field `timout`",
        ),
    ] {
        let hooks = format!(
            "    hooks: [ {{ kind: rate_limit, requests_per_second: 5, store: {store} }} ]\n"
        );
        let yaml = plain_config(dir.path(), free_addr(), &[&origin], &hooks, "");
        let (code, out) = check(dir.path(), &yaml);
        assert_ne!(code, 0, "{store} accepted");
        assert!(out.contains(problem), "expected {problem:?} in:\n{out}");
    }
    let hooks = "    hooks: [ { kind: rate_limit, requests_per_second: 5, store: { redis: \"redis://127.0.0.1:6379/0\", timeout: 5ms } } ]\n";
    let yaml = plain_config(dir.path(), free_addr(), &[&origin], hooks, "");
    let (code, out) = check(dir.path(), &yaml);
    assert_eq!(code, 0, "{out}");
}
