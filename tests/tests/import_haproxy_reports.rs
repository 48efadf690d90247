//! What `gateway import-haproxy` reports: Debian's example configurations convert with every
//! line converted or reported (exit 3 exactly when something is lost), and malformed input
//! (broken lines, binary junk, many binds times many rules, ten megabytes, a missing file) is
//! reported, never a panic.

use gateway_tests::gateway::{check, workdir};
use gateway_tests::import_haproxy::{cited_lines, import, notes};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

#[test]
fn debian_example_configs_convert_with_every_line_accounted_for() {
    let examples = Path::new("/usr/share/doc/haproxy/examples");
    let files: Vec<_> = std::fs::read_dir(examples)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: install Debian's haproxy package (make test does)",
                examples.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    assert!(!files.is_empty(), "no example in {}", examples.display());
    let dir = workdir();
    for file in files {
        let output = dir.path().join("out.yaml");
        let (code, stderr) = import(&file, &output);
        let source = file.display().to_string();
        assert!(code == 0 || code == 3, "{source}: exit {code}:\n{stderr}");
        let notes = notes(&source, &stderr);
        let lost = notes.iter().any(|(_, v)| v == "not converted");
        assert_eq!(code == 3, lost, "{source}: exit {code} but losses {lost}");
        let yaml = std::fs::read_to_string(&output).unwrap();
        serde_yaml_check(&yaml, &source);
        let cited = cited_lines(&source, &yaml);
        let noted: BTreeSet<usize> = notes.iter().map(|(l, _)| *l).collect();
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let words = line.split('#').next().unwrap().trim();
            let first = words.split_whitespace().next().unwrap_or("");
            let header = ["global", "defaults", "frontend", "backend", "listen"].contains(&first);
            if !words.is_empty() && !header && first != "acl" {
                assert!(
                    cited.contains(&(i + 1)) || noted.contains(&(i + 1)),
                    "{source}:{}: {line:?} neither converted nor reported\n{stderr}\n{yaml}",
                    i + 1
                );
            }
        }
    }
}

/// The output is YAML with the gateway's top-level keys.
fn serde_yaml_check(yaml: &str, source: &str) {
    assert!(
        yaml.contains("\nlisteners:") && yaml.contains("\nbackends:"),
        "{source}:\n{yaml}"
    );
}

#[test]
fn malformed_input_is_reported_never_a_panic() {
    let dir = workdir();
    let input = dir.path().join("bad.cfg");
    let output = dir.path().join("out.yaml");
    let bad = "maxconn 10\nglobal\n  log \"/dev/log local0\n  frobnicate yes\nfrontend web\n  bind 127.0.0.1:8080\n  use_backend app if { path_beg /a\n  default_backend app\nwibble section\nbackend app\n  server a 127.0.0.1:9000 check\nbackend empty\n";
    std::fs::write(&input, bad).unwrap();
    let (code, stderr) = import(&input, &output);
    assert_eq!(code, 3, "{stderr}");
    let source = input.display().to_string();
    let lost: BTreeSet<usize> = notes(&source, &stderr)
        .into_iter()
        .filter(|(_, v)| v == "not converted")
        .map(|(l, _)| l)
        .collect();
    assert_eq!(lost, BTreeSet::from([1, 3, 4, 7, 9, 11, 12]), "{stderr}");
    let (code, text) = check(dir.path(), &std::fs::read_to_string(&output).unwrap());
    assert_eq!(code, 0, "{text}");

    // Binary junk: reported line by line, no panic.
    let junk: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&input, junk).unwrap();
    let (code, stderr) = import(&input, &output);
    assert!(code == 3 && !stderr.contains("panicked"), "exit {code}");

    // Many binds times many rules: reported instead of written out a million times.
    let mut blowup = "frontend f\n".to_string();
    for i in 0..2000 {
        blowup += &format!(
            "  bind 127.0.0.1:{}\n  http-request set-header X-{i} v\n",
            1024 + i
        );
    }
    blowup += "  default_backend b\nbackend b\n  server s 127.0.0.1:9\n";
    std::fs::write(&input, blowup).unwrap();
    let started = std::time::Instant::now();
    let (code, stderr) = import(&input, &output);
    assert_eq!(code, 3);
    assert!(
        stderr.contains("items to write out"),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );

    // Ten megabytes: refused as unreadable.
    let big = "global\n".to_string() + &"    maxconn 2048\n".repeat(10 * 1024 * 1024 / 17 + 1);
    std::fs::write(&input, big).unwrap();
    let (code, stderr) = import(&input, &output);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("larger than"), "{stderr}");

    // Missing input.
    let (code, stderr) = import(&dir.path().join("nope.cfg"), &output);
    assert_eq!(code, 1, "{stderr}");
}
