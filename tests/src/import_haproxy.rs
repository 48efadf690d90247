//! `gateway import-haproxy` run on a file, and what it wrote read back: the notes on stderr and
//! the source lines the YAML's comments cite. For the `import_haproxy_*` tests.

use crate::gateway::binary;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Run `gateway import-haproxy input -o output`: (exit code, stderr).
pub fn import(input: &Path, output: &Path) -> (i32, String) {
    let out = Command::new(binary())
        .arg("import-haproxy")
        .arg(input)
        .arg("-o")
        .arg(output)
        .output()
        .expect("run gateway import-haproxy");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every stderr line is `SOURCE:LINE: DIRECTIVE: not converted|not needed: WHY`; returns
/// (line, verdict) pairs.
pub fn notes(source: &str, stderr: &str) -> Vec<(usize, String)> {
    stderr
        .lines()
        .map(|l| {
            let rest = l
                .strip_prefix(&format!("{source}:"))
                .unwrap_or_else(|| panic!("not a note: {l:?}"));
            let (line, rest) = rest.split_once(": ").unwrap();
            let verdict = if rest.contains(": not converted: ") {
                "not converted"
            } else {
                assert!(rest.contains(": not needed: "), "not a note: {l:?}");
                "not needed"
            };
            (
                line.parse()
                    .unwrap_or_else(|_| panic!("no line number: {l:?}")),
                verdict.to_string(),
            )
        })
        .collect()
}

/// The lines cited by `# SOURCE:3,5-7` comments of `yaml`.
pub fn cited_lines(source: &str, yaml: &str) -> BTreeSet<usize> {
    let mut lines = BTreeSet::new();
    for comment in yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("# {source}:")))
    {
        for part in comment.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            lines.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap());
        }
    }
    lines
}
