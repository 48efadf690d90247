//! Choosing a server: weighted round robin, Pingora's ketama (consistent) hashing,
//! least-connections and power-of-two-choices over the primary servers, then round robin over
//! the backups while no primary is eligible. Round robin is ours: Pingora's `select_with`
//! builds a `HashSet` per call; this one walks a table built at each weight change.

use super::{ServerState, Upstream};
use crate::config::model::Balance;
use futures::FutureExt;
use pingora::lb::selection::{BackendSelection, Consistent};
use pingora::lb::{discovery, Backend, Backends, LoadBalancer};
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// How many ring or round-robin steps a selection may take before giving up.
const MAX_STEPS: usize = 256;

/// Index of a server in [`Upstream::servers`], kept in its Pingora `Backend`.
#[derive(Clone, Copy)]
struct ServerIndex(usize);

/// The balancers of a backend at its current weights.
pub(super) struct Balancers {
    primary: RoundRobin,
    backup: Option<RoundRobin>,
    ring: Option<LoadBalancer<Consistent>>,
}

impl Balancers {
    /// Balancers over `servers` for `balance`.
    pub(super) fn new(servers: &[ServerState], balance: &Balance) -> Balancers {
        let has_backup = servers.iter().any(|s| s.config.backup);
        Balancers {
            primary: RoundRobin::new(servers, false),
            backup: has_backup.then(|| RoundRobin::new(servers, true)),
            ring: matches!(balance, Balance::Hash(_)).then(|| balancer(servers, false)),
        }
    }
}

/// Weighted round robin over the primary (or the backup) servers, without allocating per
/// request: `order` lists each server `weight` times, spread out (stride scheduling), and a
/// cursor walks it. A server that is not eligible passes its turn on; after `MAX_STEPS` turns
/// the rest are tried in server order, so any eligible server is found.
struct RoundRobin {
    /// Indexes into [`Upstream::servers`] of this group, in server order.
    members: Box<[usize]>,
    /// Positions in `members`, each `weight` times.
    order: Box<[u32]>,
    cursor: AtomicUsize,
}

impl RoundRobin {
    fn new(servers: &[ServerState], backup: bool) -> RoundRobin {
        let members: Box<[usize]> = (0..servers.len())
            .filter(|&i| servers[i].config.backup == backup)
            .collect();
        let weights: Vec<usize> = members.iter().map(|&i| servers[i].weight()).collect();
        RoundRobin {
            order: spread(&weights),
            members,
            cursor: AtomicUsize::new(0),
        }
    }

    /// The next server that `accept`s.
    fn next(&self, accept: &impl Fn(usize) -> bool) -> Option<usize> {
        if self.order.is_empty() {
            return None;
        }
        // Skipping a server takes the next turn, so the others share its turns evenly.
        let mut at = 0;
        for _ in 0..self.order.len().min(MAX_STEPS) {
            at = self.order[self.cursor.fetch_add(1, Relaxed) % self.order.len()] as usize;
            if accept(self.members[at]) {
                return Some(self.members[at]);
            }
        }
        let n = self.members.len();
        (1..n)
            .map(|step| self.members[(at + step) % n])
            .find(|&i| accept(i))
    }
}

/// Member positions, each `weights[i]` times (a weight of 0 counts as 1: such a server is
/// skipped at selection), interleaved: the k-th turn of member i falls at (k + ½) / weight.
fn spread(weights: &[usize]) -> Box<[u32]> {
    let mut turns: Vec<(f64, u32)> = weights
        .iter()
        .enumerate()
        .flat_map(|(i, &w)| {
            let w = w.max(1);
            (0..w).map(move |k| ((k as f64 + 0.5) / w as f64, i as u32))
        })
        .collect();
    turns.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    turns.into_iter().map(|(_, i)| i).collect()
}

impl Upstream {
    /// The server for a request: by `balance` among the primary servers (`key` is the hash
    /// key of `balance: hash`; without one, round robin), else round robin among the backups.
    /// `avoid` is a server that just failed. A server at its `max_connections` is skipped.
    /// Its index in [`Self::servers`].
    pub fn pick(&self, avoid: Option<usize>, key: Option<&[u8]>) -> Option<usize> {
        let balancers = self.balancers.load();
        let eligible = |i: usize| {
            avoid != Some(i) && self.servers[i].takes_requests() && self.servers[i].has_slot()
        };
        let primary = match (&self.balance, key, &balancers.ring) {
            (Balance::Hash(_), Some(key), Some(ring)) => from(ring, key, &eligible),
            (Balance::LeastConn, _, _) => self.least_loaded(&eligible),
            (Balance::Random, _, _) => self.two_choices(&eligible),
            _ if self.slowstart => balancers
                .primary
                .next(&|i| eligible(i) && self.servers[i].ramp_admits())
                .or_else(|| balancers.primary.next(&eligible)),
            _ => balancers.primary.next(&eligible),
        };
        primary.or_else(|| balancers.backup.as_ref()?.next(&eligible))
    }

    /// The eligible primary server with the fewest requests in flight relative to its
    /// (ramped) weight; the scan starts one further each time so ties rotate.
    fn least_loaded(&self, eligible: &impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.servers.len();
        let start = self.cursor.fetch_add(1, Relaxed);
        let mut best: Option<(usize, f64)> = None;
        for step in 0..n {
            let i = (start + step) % n;
            if self.servers[i].config.backup || !eligible(i) {
                continue;
            }
            let load = self.servers[i].load();
            if best.is_none_or(|(_, l)| load < l) {
                best = Some((i, load));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Two random primary servers, the less loaded of those eligible wins; when neither is,
    /// the least loaded of all.
    fn two_choices(&self, eligible: &impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.servers.len();
        let usable = |i: usize| !self.servers[i].config.backup && eligible(i);
        let a = random_below(n);
        let b = if n > 1 {
            (a + 1 + random_below(n - 1)) % n
        } else {
            a
        };
        match (usable(a), usable(b)) {
            (true, true) if self.servers[b].load() < self.servers[a].load() => Some(b),
            (true, _) => Some(a),
            (false, true) => Some(b),
            (false, false) => self.least_loaded(eligible),
        }
    }
}

/// The first server `balancer` offers for `key` that `accept`s.
fn from<S>(balancer: &LoadBalancer<S>, key: &[u8], accept: &impl Fn(usize) -> bool) -> Option<usize>
where
    S: BackendSelection + 'static,
    S::Iter: pingora::lb::selection::BackendIter,
{
    let chosen = balancer.select_with(key, MAX_STEPS, |b, _| {
        b.ext.get::<ServerIndex>().is_some_and(|i| accept(i.0))
    })?;
    chosen.ext.get::<ServerIndex>().map(|i| i.0)
}

/// A balancer over the backup servers (`backup`) or the others, at their current weights. A
/// server of weight 0 stays in (with weight 1) and is skipped at selection.
fn balancer<S>(servers: &[ServerState], backup: bool) -> LoadBalancer<S>
where
    S: BackendSelection + 'static,
    S::Iter: pingora::lb::selection::BackendIter,
{
    let set: BTreeSet<Backend> = servers
        .iter()
        .enumerate()
        .filter(|(_, s)| s.config.backup == backup)
        .map(|(i, s)| {
            let mut backend = Backend {
                addr: PingoraAddr::Inet(s.config.address),
                weight: s.weight().max(1),
                ext: Default::default(),
            };
            backend.ext.insert(ServerIndex(i));
            backend
        })
        .collect();
    let balancer = LoadBalancer::from_backends(Backends::new(discovery::Static::new(set)));
    balancer
        .update()
        .now_or_never()
        .expect("static discovery does not block")
        .expect("static discovery does not fail");
    balancer
}

thread_local! {
    static RANDOM: Cell<u64> = Cell::new(seed());
}

/// A per-thread seed: the clock and the thread's identity.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    std::thread::current().id().hash(&mut h);
    std::time::Instant::now().hash(&mut h);
    h.finish() | 1
}

/// A number in `0..n` (n > 0) from a per-thread xorshift generator.
pub(super) fn random_below(n: usize) -> usize {
    RANDOM.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        ((x >> 32).wrapping_mul(n as u64) >> 32) as usize
    })
}

#[cfg(test)]
mod tests {
    use crate::config::model::{self, Balance, HashKey};
    use crate::upstream::{AdminState, Upstream};
    use std::sync::Arc;
    use std::time::Duration;

    /// A backend of servers `(weight, backup)` balanced by `balance`.
    fn upstream(servers: &[(usize, bool)], balance: Balance) -> Arc<Upstream> {
        let servers = servers
            .iter()
            .enumerate()
            .map(|(i, &(weight, backup))| model::Server {
                name: format!("s{i}"),
                address: format!("127.0.0.1:{}", 1000 + i).parse().unwrap(),
                weight,
                backup,
                slowstart: Some(Duration::from_secs(60)),
                max_connections: None,
                tls: None,
            })
            .collect();
        let backend = model::Backend {
            name: format!("unit-{}", std::process::id()),
            servers,
            health_check: None,
            balance,
            sticky_cookie: None,
            discovery: None,
            max_queue: None,
            retries: model::Retries {
                count: 1,
                on: model::RetryOn::CONN_FAILURE,
            },
            observe_errors: None,
            tls: None,
            protocol: Default::default(),
        };
        Upstream::new(&backend, None)
    }

    #[test]
    fn least_conn_weighs_requests_in_flight() {
        let up = upstream(&[(1, false), (3, false)], Balance::LeastConn);
        up.servers[1].started();
        up.servers[1].started();
        // s0: (0+1)/1 = 1; s1: (2+1)/3 = 1 → tie; one more on s1 tips it.
        up.servers[1].started();
        assert!((0..6).all(|_| up.pick(None, None) == Some(0)));
        up.servers[0].started();
        assert_eq!(up.pick(None, None), Some(1), "2/1 > 4/3");
        assert_eq!(
            up.pick(Some(1), None),
            Some(0),
            "a failed server is avoided"
        );
    }

    #[test]
    fn backups_only_when_no_primary_is_eligible() {
        for balance in [
            Balance::RoundRobin,
            Balance::LeastConn,
            Balance::Random,
            Balance::Hash(HashKey::Path),
        ] {
            let up = upstream(&[(1, false), (1, true), (1, true)], balance);
            assert!((0..10).all(|_| up.pick(None, Some(b"/k")) == Some(0)));
            up.set_admin(0, AdminState::Maint);
            let picks: Vec<_> = (0..4).map(|_| up.pick(None, Some(b"/k"))).collect();
            assert_eq!(
                picks.iter().filter(|p| **p == Some(1)).count(),
                2,
                "{picks:?}"
            );
            assert_eq!(
                picks.iter().filter(|p| **p == Some(2)).count(),
                2,
                "{picks:?}"
            );
        }
    }

    #[test]
    fn slowstart_begins_at_the_floor_when_enabled() {
        let up = upstream(&[(20, false), (20, false)], Balance::RoundRobin);
        assert_eq!(up.servers[1].effective_weight(), 20, "full weight at start");
        up.set_admin(1, AdminState::Maint);
        up.set_admin(1, AdminState::Ready);
        assert_eq!(up.servers[1].effective_weight(), 1, "5% of 20");
        let to_s1 = (0..1000).filter(|_| up.pick(None, None) == Some(1)).count();
        assert!(to_s1 < 100, "{to_s1} of 1000 while ramping");
    }

    #[test]
    fn weights_are_spread_out_in_the_round_robin_order() {
        assert_eq!(&*super::spread(&[1, 3]), [1, 0, 1, 1]);
        assert_eq!(&*super::spread(&[2, 2, 0]), [0, 1, 2, 0, 1]);
        assert!(super::spread(&[]).is_empty());
    }

    #[test]
    fn round_robin_follows_weights_and_skips_the_ineligible() {
        let up = upstream(&[(1, false), (3, false), (2, false)], Balance::RoundRobin);
        let mut counts = [0; 3];
        for _ in 0..600 {
            counts[up.pick(None, None).unwrap()] += 1;
        }
        assert_eq!(counts, [100, 300, 200]);
        let picks: Vec<_> = (0..12).map(|_| up.pick(Some(1), None).unwrap()).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        up.set_admin(1, AdminState::Maint);
        up.set_admin(2, AdminState::Maint);
        assert!((0..6).all(|_| up.pick(None, None) == Some(0)));
    }

    #[test]
    fn a_hash_key_always_lands_on_the_same_server() {
        let up = upstream(
            &[(1, false), (1, false), (1, false)],
            Balance::Hash(HashKey::Path),
        );
        for key in [&b"/a"[..], b"/b", b"/c", b"/d"] {
            let first = up.pick(None, Some(key));
            assert!((0..5).all(|_| up.pick(None, Some(key)) == first));
        }
    }
}
