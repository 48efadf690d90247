//! `server.user` / `server.group`: a gateway started as root binds its listeners (ports below
//! 1024 need root or `CAP_NET_BIND_SERVICE`), then runs as an unprivileged user, like HAProxy's
//! `user` / `group`. Pingora binds inside its services, so the switch waits until this
//! process owns a listening socket on every configured port.

use nix::unistd::{Gid, Group, Uid, User};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The user and group to run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// User id.
    pub uid: Uid,
    /// Group id.
    pub gid: Gid,
}

impl Identity {
    /// Resolve `user` and `group` names (the group defaults to the user's own) through the
    /// system's user database (reentrant lookups). On failure, the key (`user` or `group`) and
    /// the reason.
    pub fn lookup(
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<Identity, (&'static str, String)> {
        let (uid, user_gid) = match user {
            Some(name) => match User::from_name(name) {
                Ok(Some(user)) => (user.uid, user.gid),
                Ok(None) => return Err(("user", format!("no such user {name:?}"))),
                Err(e) => return Err(("user", format!("cannot look up user {name:?}: {e}"))),
            },
            None => (nix::unistd::getuid(), nix::unistd::getgid()),
        };
        let gid = match group {
            Some(name) => match Group::from_name(name) {
                Ok(Some(group)) => group.gid,
                Ok(None) => return Err(("group", format!("no such group {name:?}"))),
                Err(e) => return Err(("group", format!("cannot look up group {name:?}: {e}"))),
            },
            None => user_gid,
        };
        Ok(Identity { uid, gid })
    }

    /// Switch the whole process (every thread) to this identity, dropping supplementary
    /// groups first (glibc applies each call to every thread of the process).
    pub fn assume(&self) -> std::io::Result<()> {
        nix::unistd::setgroups(&[self.gid])?;
        nix::unistd::setgid(self.gid)?;
        nix::unistd::setuid(self.uid)?;
        Ok(())
    }
}

/// Wait (up to `limit`) until this process has a listening TCP socket on each of `ports`, then
/// switch to `identity`. Runs on its own thread; logs what it did.
pub fn drop_after_bind(identity: Identity, ports: Vec<u16>, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let missing: Vec<u16> = {
            let bound = listening_ports_of_this_process();
            ports
                .iter()
                .copied()
                .filter(|p| !bound.contains(p))
                .collect()
        };
        if missing.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            log::error!("ports {missing:?} not bound after {limit:?}; dropping privileges anyway");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match identity.assume() {
        Ok(()) => log::info!(
            "listeners bound; now running as uid {} gid {}",
            identity.uid,
            identity.gid
        ),
        Err(e) => {
            // Serving on as root is worse than not serving: the operator asked for a user.
            log::error!("cannot switch to uid {}: {e}; exiting", identity.uid);
            std::process::exit(1);
        }
    }
}

/// Ports of the TCP sockets in LISTEN state that this process holds.
fn listening_ports_of_this_process() -> HashSet<u16> {
    let mut inodes = HashSet::new();
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let target = target.to_string_lossy();
                if let Some(inode) = target
                    .strip_prefix("socket:[")
                    .and_then(|t| t.strip_suffix(']'))
                {
                    inodes.insert(inode.to_string());
                }
            }
        }
    }
    let mut ports = HashSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let (Some(local), Some(&"0A"), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            if !inodes.contains(*inode) {
                continue;
            }
            let port = local
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if let Some(port) = port {
                ports.insert(port);
            }
        }
    }
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_refused_with_their_key() {
        let err = Identity::lookup(Some("no-such-user-here"), None).unwrap_err();
        assert_eq!(err.0, "user");
        let err = Identity::lookup(Some("root"), Some("no-such-group-here")).unwrap_err();
        assert_eq!(err.0, "group");
        let root = Identity::lookup(Some("root"), None).unwrap();
        assert_eq!((root.uid.as_raw(), root.gid.as_raw()), (0, 0));
    }

    #[test]
    fn a_listening_socket_of_this_process_is_seen() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listening_ports_of_this_process().contains(&port));
        drop(listener);
        assert!(!listening_ports_of_this_process().contains(&port));
    }
}
