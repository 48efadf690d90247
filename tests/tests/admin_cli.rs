//! The admin socket as HAProxy's CLI, through the real binary: an interactive session as
//! interactive tools drive it (`prompt`, `set timeout cli`, `show info`, `show stat` again
//! and again, `disable server`, `quit`), `show stat` filters, `show backend`, `show servers
//! conn`, and the same script against Debian's HAProxy 2.6 for the framing, the field names
//! and order, and the kind of value in each cell.

use gateway_tests::config::{Backend, Config};
use gateway_tests::gateway::{admin, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, require_program, wait_for};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A listener `web` on `addr` in front of backend `app`: `a` and the backup `b`; an admin
/// socket in `dir` with a 1 s idle timeout; a stats listener.
fn config(dir: &Path, addr: SocketAddr, a: &Origin, b: &Origin) -> (String, PathBuf) {
    let socket = dir.join("admin.sock");
    let backend = Backend::default()
        .server("a", a.addr)
        .server("b", b.addr)
        .set("servers.1.backup", true);
    let yaml = Config::plain(dir, addr, &[])
        .backend("app", backend)
        .set("admin.socket", socket.display().to_string())
        .set("admin.timeout", "1s")
        // The per-server counters are the metrics': kept when a stats listener exists.
        .set("stats.address", free_addr().to_string())
        .yaml();
    (yaml, socket)
}

fn start(dir: &Path, a: &Origin, b: &Origin) -> (Gateway, SocketAddr, PathBuf) {
    let addr = free_addr();
    let (yaml, socket) = config(dir, addr, a, b);
    let gateway = Gateway::start(dir, &yaml, &[addr]);
    let ready = wait_for(Duration::from_secs(5), || {
        UnixStream::connect(&socket).is_ok()
    });
    assert!(ready.is_some(), "no admin socket: {}", gateway.log());
    (gateway, addr, socket)
}

/// One connection to a CLI socket, driven line by line.
struct Cli(UnixStream);

impl Cli {
    fn connect(socket: &Path) -> Cli {
        let stream = UnixStream::connect(socket).expect("connect to the CLI socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Cli(stream)
    }

    /// Send `command`; everything up to and including the next `> ` prompt.
    fn ask(&mut self, command: &str) -> String {
        self.0.write_all(format!("{command}\n").as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\n> ") {
            match self.0.read(&mut byte) {
                Ok(1) => answer.push(byte[0]),
                other => panic!(
                    "no prompt after {command:?} ({other:?}): {:?}",
                    String::from_utf8_lossy(&answer)
                ),
            }
        }
        String::from_utf8(answer).unwrap()
    }

    /// Send `quit`; whether the other side then closed the connection with nothing more.
    fn quit(mut self) -> bool {
        self.0.write_all(b"quit\n").unwrap();
        let mut rest = Vec::new();
        matches!(self.0.read_to_end(&mut rest), Ok(0))
    }
}

/// Cell `column` of row `row` (`pxname,svname`) in a `show stat` answer.
fn cell(stat: &str, row: &str, column: &str) -> String {
    let mut lines = stat.lines();
    let header: Vec<&str> = lines.next().unwrap()[2..].split(',').collect();
    let index = header.iter().position(|h| *h == column).unwrap();
    let line = lines
        .find(|l| l.starts_with(&format!("{row},")))
        .unwrap_or_else(|| panic!("no row {row}: {stat}"));
    line.split(',').nth(index).unwrap().to_string()
}

/// `(pxname, svname, type)` of every row of a `show stat` answer.
fn rows(stat: &str) -> Vec<(String, String, String)> {
    if !stat.starts_with("# ") {
        return vec![("error".into(), stat.trim().to_string(), String::new())];
    }
    stat.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[0].into(), cells[1].into(), cells[32].into())
        })
        .collect()
}

#[test]
fn an_interactive_session_runs_like_haproxys() {
    let dir = workdir();
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let (_gateway, addr, socket) = start(dir.path(), &a, &b);
    let client = http_client();
    let get = || {
        let resp = client.get(format!("http://{addr}/x")).send().unwrap();
        resp.text().unwrap()
    };

    let mut cli = Cli::connect(&socket);
    assert_eq!(cli.ask("prompt"), "\n> ");
    assert_eq!(cli.ask("set timeout cli 30"), "\n> ");
    let info = cli.ask("show info");
    assert!(info.starts_with("Name: gateway\n"), "{info}");
    assert!(info.ends_with("\nTainted: 0\n\n> "), "{info}");
    for round in 1..=3u64 {
        assert_eq!(get(), "a\n");
        let stat = cli.ask("show stat");
        assert!(stat.starts_with("# pxname,svname,"), "{stat}");
        assert!(stat.ends_with(",\n\n> "), "{stat}");
        // The request is counted once its exchange is logged, just after the client has it.
        let mut stot = || cell(&cli.ask("show stat"), "app,a", "stot");
        let counted = wait_for(Duration::from_secs(5), || stot() == round.to_string());
        assert!(counted.is_some(), "round {round}: stot {}", stot());
    }
    assert_eq!(cli.ask("disable server app/a"), "\n> ");
    let stat = cli.ask("show stat");
    assert_eq!(cell(&stat, "app,a", "status"), "MAINT");
    assert_eq!(get(), "b\n", "the backup takes over");
    assert_eq!(cli.ask("show backend"), "# name\napp\n\n> ");

    // Past admin.timeout (1 s) the session lives on: `set timeout cli 30` is its timeout.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        cli.ask("help").lines().next(),
        Some("The following commands are valid at this level:")
    );
    assert!(cli.quit(), "quit closes the session");

    // Without `prompt`, lines answer as before: no prompt, closed at the end of input.
    assert_eq!(admin(&socket, "enable server app/a"), "");
    assert_eq!(get(), "a\n");
}

#[test]
fn show_stat_filters_backend_and_servers_conn() {
    let dir = workdir();
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let (_gateway, _addr, socket) = start(dir.path(), &a, &b);
    let row = |px: &str, sv: &str, kind: &str| (px.to_string(), sv.to_string(), kind.to_string());
    let (fe, sa, sb, be) = (
        row("web", "FRONTEND", "0"),
        row("app", "a", "2"),
        row("app", "b", "2"),
        row("app", "BACKEND", "1"),
    );
    for (filter, expected) in [
        ("", vec![&fe, &sa, &sb, &be]),
        (" -1 4 -1", vec![&sa, &sb]),
        (" -1 2 -1", vec![&be]),
        (" -1 1 -1", vec![&fe]),
        (" -1 7 2", vec![&fe, &sb, &be]),
        (" 2 4 -1", vec![&sa, &sb]),
        (" app 6 1", vec![&sa, &be]),
        (" 1 7 -1", vec![&fe]),
        (" 9 7 -1", vec![]),
    ] {
        let got = rows(&admin(&socket, &format!("show stat{filter}")));
        let expected: Vec<_> = expected.into_iter().cloned().collect();
        assert_eq!(got, expected, "show stat{filter}");
    }
    assert_eq!(admin(&socket, "show stat nope 4 -1"), "No such proxy.\n");

    let stat = admin(&socket, "show stat");
    let act_bck = |r: &str| (cell(&stat, r, "act"), cell(&stat, r, "bck"));
    assert_eq!(act_bck("app,a"), ("1".into(), "0".into()));
    assert_eq!(act_bck("app,b"), ("0".into(), "1".into()));
    assert_eq!(act_bck("app,BACKEND"), ("1".into(), "1".into()));
    assert_eq!(cell(&stat, "app,a", "addr"), a.addr.to_string());
    assert_eq!(cell(&stat, "app,BACKEND", "algo"), "roundrobin");

    assert_eq!(admin(&socket, "show backend"), "# name\napp\n");
    let conn = admin(&socket, "show servers conn");
    let mut lines = conn.lines();
    assert_eq!(
        lines.next(),
        Some("# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[1]")
    );
    let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
    let port = a.addr.port().to_string();
    assert_eq!(
        first[..5],
        ["app/a", "2/1", "127.0.0.1", port.as_str(), "-"]
    );
    assert_eq!(
        first.len(),
        13 + 1,
        "thirteen cells and one per thread: {first:?}"
    );
    assert_eq!(
        admin(&socket, "show servers conn nope"),
        "Can't find backend.\n"
    );
}

/// Debian's HAProxy, stopped when dropped.
struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HAProxy with the same topology as [`config`]: frontend `web`, backend `app` with `a` and
/// the backup `b`, one thread, a stats socket in `dir`.
fn start_haproxy(dir: &Path, a: &Origin, b: &Origin) -> (Haproxy, PathBuf) {
    let program = require_program("haproxy", "haproxy");
    let socket = dir.join("haproxy.sock");
    let cfg = format!(
        "global\n  nbthread 1\n  stats socket {} level admin\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
         frontend web\n  bind {}\n  default_backend app\n\
         backend app\n  server a {}\n  server b {} backup\n",
        socket.display(),
        free_addr(),
        a.addr,
        b.addr
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let child = Command::new(program)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start haproxy");
    let haproxy = Haproxy(child);
    let up = wait_for(Duration::from_secs(10), || {
        UnixStream::connect(&socket).is_ok()
    });
    assert!(up.is_some(), "haproxy's stats socket never accepted");
    (haproxy, socket)
}

/// Whether `a` and `b` are the same kind of value: both numbers or both text.
fn same_kind(a: &str, b: &str) -> bool {
    a.parse::<i64>().is_ok() == b.parse::<i64>().is_ok()
}

#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn framing_fields_and_filters_match_haproxy_2_6() {
    let dir = workdir();
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let (_haproxy, hsocket) = start_haproxy(dir.path(), &a, &b);
    let (_gateway, _addr, gsocket) = start(dir.path(), &a, &b);

    // The interactive transcript of a session without figures in it is the same, byte for byte.
    let script = [
        "prompt",
        "set timeout cli 30",
        "show backend",
        "disable server app/b",
    ];
    let transcript = |socket: &Path| {
        let mut cli = Cli::connect(socket);
        let answers: Vec<String> = script.iter().map(|c| cli.ask(c)).collect();
        (answers, cli.quit())
    };
    assert_eq!(transcript(&gsocket), transcript(&hsocket));

    // Field names and order.
    let names = |info: String| -> Vec<String> {
        info.lines()
            .map(|l| l.split_once(':').map_or(l, |(n, _)| n).to_string())
            .collect()
    };
    assert_eq!(
        names(admin(&gsocket, "show info")),
        names(admin(&hsocket, "show info"))
    );
    let (gstat, hstat) = (admin(&gsocket, "show stat"), admin(&hsocket, "show stat"));
    assert_eq!(
        gstat.lines().next(),
        hstat.lines().next(),
        "show stat header"
    );
    for command in ["show servers state", "show servers conn"] {
        let (g, h) = (admin(&gsocket, command), admin(&hsocket, command));
        let header = |s: &str| {
            s.lines()
                .filter(|l| l.starts_with('#') || *l == "1")
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(header(&g), header(&h), "{command}");
        let width = |s: &str| s.lines().last().unwrap().split(' ').count();
        assert_eq!(width(&g), width(&h), "{command}: cells per row");
    }

    // Every cell the gateway fills, HAProxy fills too, with the same kind of value.
    let header: Vec<&str> = gstat.lines().next().unwrap()[2..].split(',').collect();
    let mut differ = Vec::new();
    for row in ["web,FRONTEND", "app,a", "app,b", "app,BACKEND"] {
        for column in header.iter().filter(|c| !c.is_empty()) {
            let (g, h) = (cell(&gstat, row, column), cell(&hstat, row, column));
            if !g.is_empty() && (h.is_empty() || !same_kind(&g, &h)) {
                differ.push(format!("{row} {column}: gateway {g:?}, haproxy {h:?}"));
            }
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
    for row in ["web,FRONTEND", "app,a", "app,b", "app,BACKEND"] {
        for column in [
            "status",
            "act",
            "bck",
            "type",
            "sid",
            "pid",
            "mode",
            "check_status",
            "algo",
        ] {
            assert_eq!(
                cell(&gstat, row, column),
                cell(&hstat, row, column),
                "{row} {column}"
            );
        }
    }

    // Filters by name and type select the same rows.
    for filter in [
        "-1 4 -1",
        "-1 2 -1",
        "-1 1 -1",
        "-1 7 2",
        "app 4 1",
        "app 6 -1",
        "web 7 -1",
        "nope 4 -1",
    ] {
        let command = format!("show stat {filter}");
        assert_eq!(
            rows(&admin(&gsocket, &command)),
            rows(&admin(&hsocket, &command)),
            "{command}"
        );
    }
}
