//! A backend's `balance` and `cookie` as `balance:`, `hash:` and `sticky:`.

use super::notes::Notes;
use super::parse::Directive;
use super::yaml::Entry;
use serde_json::json;

/// `balance:` (always written), then `hash:` and `sticky:` when they apply.
pub fn balance_entries(
    balance: Option<&Directive>,
    cookie: Option<&Directive>,
    notes: &mut Notes,
) -> Vec<Entry> {
    let lines: Vec<usize> = balance.iter().map(|d| d.line).collect();
    let (algorithm, key) = match balance.map(algorithm) {
        None => ("round_robin", None),
        Some(Ok(found)) => found,
        Some(Err(why)) => {
            notes.lost_directive(balance.expect("a balance directive"), why);
            ("round_robin", None)
        }
    };
    let mut entries = vec![Entry::leaf("balance", &lines, algorithm)];
    if let Some(key) = &key {
        entries.push(Entry::leaf("hash", &lines, json!({ "key": key })));
    }
    if let Some(d) = cookie {
        match sticky(d) {
            Err(why) => notes.lost_directive(d, why),
            Ok(_) if key.is_some() => notes.lost_directive(
                d,
                "the gateway has no cookie persistence with balance: hash (the hash pins requests)",
            ),
            Ok(extra) => {
                for option in extra {
                    notes.lost(
                        d.line,
                        format!("cookie {option}"),
                        "the gateway's cookie is `NAME=<server>; path=/` only",
                    );
                }
                entries.push(Entry::leaf(
                    "sticky",
                    &[d.line],
                    json!({ "cookie": d.word(1) }),
                ));
            }
        }
    }
    entries
}

/// The algorithm of a `balance` line and, for `hash`, its key.
fn algorithm(d: &Directive) -> Result<(&'static str, Option<String>), String> {
    let word = d.word(1);
    let plain = d.words.len() == 2;
    let hdr = word
        .strip_prefix("hdr(")
        .and_then(|rest| rest.strip_suffix(')'))
        .filter(|name| !name.is_empty());
    match (word, hdr) {
        ("roundrobin" | "static-rr", _) if plain => Ok(("round_robin", None)),
        ("leastconn", _) if plain => Ok(("least_conn", None)),
        ("random" | "random(2)", _) if plain => Ok(("random", None)),
        ("source", _) if plain => Ok(("hash", Some("source_ip".into()))),
        ("uri", _) if plain => Ok(("hash", Some("path".into()))),
        (_, Some(name)) if plain => Ok(("hash", Some(format!("header:{name}")))),
        _ => Err(format!(
            "the gateway balances by round_robin, least_conn, random (two draws) or a hash of \
             source, uri or hdr(name), without options; {:?} is balanced round robin",
            d.words[1..].join(" ")
        )),
    }
}

/// `cookie NAME insert [indirect] [nocache] ...`: the options beyond those, or why it is lost.
fn sticky(d: &Directive) -> Result<Vec<String>, &'static str> {
    let name = d.word(1);
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return Err("not a cookie name the gateway takes");
    }
    let options = d.words.get(2..).unwrap_or_default();
    if !options.iter().any(|o| o == "insert") {
        return Err("the gateway inserts its own cookie only (no rewrite or prefix mode)");
    }
    if options
        .iter()
        .any(|o| matches!(o.as_str(), "rewrite" | "prefix"))
    {
        return Err("the gateway inserts its own cookie only (no rewrite or prefix mode)");
    }
    let mut extra = Vec::new();
    let mut i = 0;
    while i < options.len() {
        let option = options[i].as_str();
        let valued = matches!(option, "domain" | "maxidle" | "maxlife" | "attr");
        if !matches!(option, "insert" | "indirect" | "nocache") {
            extra.push(option.to_string());
        }
        i += if valued { 2 } else { 1 };
    }
    Ok(extra)
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use super::super::notes::{Kind, Note};

    fn backend(lines: &str) -> (serde_yaml::Value, Vec<Note>) {
        let text = format!("listen l\n  bind :80\n{lines}");
        let conversion = convert(&text, "haproxy.cfg");
        let yaml: serde_yaml::Value = serde_yaml::from_str(&conversion.yaml).unwrap();
        (yaml["backends"]["l"].clone(), conversion.notes)
    }

    fn lost(notes: &[Note]) -> Vec<&str> {
        (notes.iter().filter(|n| n.kind == Kind::NotConverted))
            .map(|n| n.directive.as_str())
            .collect()
    }

    #[test]
    fn algorithms_map_to_balance_and_hash_keys() {
        for (balance, algorithm, key) in [
            ("roundrobin", "round_robin", None),
            ("static-rr", "round_robin", None),
            ("leastconn", "least_conn", None),
            ("random", "random", None),
            ("source", "hash", Some("source_ip")),
            ("uri", "hash", Some("path")),
            ("hdr(X-User)", "hash", Some("header:X-User")),
        ] {
            let (b, notes) = backend(&format!("  balance {balance}\n  server a 10.0.0.1:80\n"));
            assert_eq!(lost(&notes), Vec::<&str>::new(), "{balance}");
            assert_eq!(b["balance"].as_str(), Some(algorithm), "{balance}");
            assert_eq!(b["hash"]["key"].as_str(), key, "{balance}");
        }
    }

    #[test]
    fn other_algorithms_and_options_are_losses() {
        for balance in [
            "first",
            "url_param id",
            "uri whole",
            "random(3)",
            "hdr(Host) use_domain_only",
        ] {
            let (b, notes) = backend(&format!("  balance {balance}\n  server a 10.0.0.1:80\n"));
            assert_eq!(lost(&notes), ["balance"], "{balance}");
            assert_eq!(b["balance"].as_str(), Some("round_robin"));
            assert!(b["hash"].is_null());
        }
    }

    #[test]
    fn an_inserted_cookie_is_sticky_and_other_modes_are_losses() {
        for cookie in ["SRV insert indirect nocache", "SRV insert"] {
            let (b, notes) = backend(&format!(
                "  cookie {cookie}\n  server a 10.0.0.1:80 cookie a\n"
            ));
            assert_eq!(lost(&notes), Vec::<&str>::new(), "{cookie}");
            assert_eq!(b["sticky"]["cookie"].as_str(), Some("SRV"));
        }
        let (b, notes) = backend("  cookie SRV insert httponly\n  server a 10.0.0.1:80\n");
        assert_eq!(lost(&notes), ["cookie httponly"]);
        assert_eq!(b["sticky"]["cookie"].as_str(), Some("SRV"));
        for cookie in [
            "SRV rewrite",
            "SRV prefix",
            "SRV",
            "JSESSIONID insert prefix",
        ] {
            let (b, notes) = backend(&format!("  cookie {cookie}\n  server a 10.0.0.1:80\n"));
            assert_eq!(lost(&notes), ["cookie"], "{cookie}");
            assert!(b["sticky"].is_null());
        }
        let (b, notes) = backend("  balance source\n  cookie S insert\n  server a 10.0.0.1:80\n");
        assert_eq!(lost(&notes), ["cookie"]);
        assert!(b["sticky"].is_null());
        let (_, notes) = backend("  cookie S insert\n  server a 10.0.0.1:80 cookie s1\n");
        assert_eq!(lost(&notes), ["server a cookie"]);
        let (_, notes) = backend("  server a 10.0.0.1:80 cookie s1\n");
        assert_eq!(lost(&notes), Vec::<&str>::new());
    }

    #[test]
    fn backup_and_slowstart_servers() {
        let (b, notes) = backend(
            "  default-server slowstart 1m\n  server a 10.0.0.1:80\n  server b 10.0.0.2:80 backup slowstart 10s\n",
        );
        assert_eq!(lost(&notes), Vec::<&str>::new());
        assert_eq!(b["servers"][0]["slowstart"].as_str(), Some("1m"));
        assert!(b["servers"][0]["backup"].is_null());
        assert_eq!(b["servers"][1]["backup"].as_bool(), Some(true));
        assert_eq!(b["servers"][1]["slowstart"].as_str(), Some("10s"));
        // Only backups: HAProxy serves with them; the gateway wants ordinary servers.
        let (b, _) = backend("  server a 10.0.0.1:80 backup\n");
        assert!(b["servers"][0]["backup"].is_null());
        // HAProxy uses the first backup only, unless option allbackups.
        let two = "  server a 10.0.0.1:80\n  server b 10.0.0.2:80 backup\n  server c 10.0.0.3:80 backup\n";
        let (_, notes) = backend(two);
        assert_eq!(lost(&notes), ["backup"]);
        assert_eq!(
            notes
                .iter()
                .find(|n| n.kind == Kind::NotConverted)
                .unwrap()
                .line,
            5
        );
        let (b, notes) = backend(&format!("  option allbackups\n{two}"));
        assert_eq!(lost(&notes), Vec::<&str>::new());
        assert_eq!(b["servers"][2]["backup"].as_bool(), Some(true));
    }
}
