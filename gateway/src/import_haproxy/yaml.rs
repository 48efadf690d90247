//! The YAML document the import writes: block-style maps and lists whose entries carry the
//! haproxy.cfg lines they came from (written as a comment above them), with leaves written
//! as JSON, which is valid YAML and quotes every string safely.

use serde_json::Value;

/// A value in the document.
#[derive(Debug, Clone)]
pub enum Node {
    /// A scalar or a small structure, written inline as JSON.
    Leaf(Value),
    /// A block mapping.
    Map(Vec<Entry>),
    /// A block sequence.
    List(Vec<Item>),
}

/// One `key: value` of a map.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key as written (quoted unless it is a plain name or a number).
    pub key: String,
    /// haproxy.cfg lines it came from.
    pub lines: Vec<usize>,
    /// An end-of-line remark.
    pub remark: Option<String>,
    /// The value.
    pub value: Node,
}

/// One `- value` of a list.
#[derive(Debug, Clone)]
pub struct Item {
    /// haproxy.cfg lines it came from.
    pub lines: Vec<usize>,
    /// The value.
    pub value: Node,
}

impl Entry {
    /// An entry from `lines` with a leaf value.
    pub fn leaf(key: &str, lines: &[usize], value: impl Into<Value>) -> Entry {
        Entry::node(key, lines, Node::Leaf(value.into()))
    }

    /// An entry from `lines`.
    pub fn node(key: &str, lines: &[usize], value: Node) -> Entry {
        Entry {
            key: key.to_string(),
            lines: lines.to_vec(),
            remark: None,
            value,
        }
    }

    /// The same entry with an end-of-line remark.
    pub fn remark(mut self, remark: &str) -> Entry {
        self.remark = Some(remark.to_string());
        self
    }
}

/// Render `entries` as a YAML document; `source` names the file in the comments.
pub fn render(source: &str, header: &str, entries: &[Entry]) -> String {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    write_map(&mut out, source, entries, 0, true);
    out
}

fn write_map(out: &mut String, source: &str, entries: &[Entry], indent: usize, blank: bool) {
    let pad = " ".repeat(indent);
    for entry in entries {
        if blank {
            out.push('\n');
        }
        comment(out, source, &entry.lines, &pad);
        out.push_str(&format!("{pad}{}:", key_text(&entry.key)));
        write_value(out, source, &entry.value, indent, entry.remark.as_deref());
    }
}

fn write_value(out: &mut String, source: &str, value: &Node, indent: usize, remark: Option<&str>) {
    let remark = remark.map(|r| format!("   # {r}")).unwrap_or_default();
    match value {
        Node::Leaf(v) => out.push_str(&format!(" {}{remark}\n", inline(v))),
        Node::Map(entries) if entries.is_empty() => out.push_str(&format!(" {{}}{remark}\n")),
        Node::List(items) if items.is_empty() => out.push_str(&format!(" []{remark}\n")),
        Node::Map(entries) => {
            out.push_str(&format!("{remark}\n"));
            write_map(out, source, entries, indent + 2, false);
        }
        Node::List(items) => {
            out.push_str(&format!("{remark}\n"));
            write_list(out, source, items, indent + 2);
        }
    }
}

fn write_list(out: &mut String, source: &str, items: &[Item], indent: usize) {
    let pad = " ".repeat(indent);
    for item in items {
        comment(out, source, &item.lines, &pad);
        match &item.value {
            Node::Map(entries) if !entries.is_empty() => {
                for (i, entry) in entries.iter().enumerate() {
                    if i > 0 {
                        comment(out, source, &entry.lines, &format!("{pad}  "));
                    }
                    let lead = if i == 0 { "- " } else { "  " };
                    out.push_str(&format!("{pad}{lead}{}:", key_text(&entry.key)));
                    write_value(
                        out,
                        source,
                        &entry.value,
                        indent + 2,
                        entry.remark.as_deref(),
                    );
                }
            }
            Node::List(_) => {
                out.push_str(&format!("{pad}-"));
                write_value(out, source, &item.value, indent, None);
            }
            other => {
                out.push_str(&format!("{pad}-"));
                write_value(out, source, other, indent, None);
            }
        }
    }
}

/// `v` as one line of JSON with a space after each `,` and `:` (flow YAML).
fn inline(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), inline(v)))
                .collect();
            format!("{{ {} }}", pairs.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

/// `# haproxy.cfg:3,5-7` above a block.
fn comment(out: &mut String, source: &str, lines: &[usize], pad: &str) {
    if !lines.is_empty() {
        out.push_str(&format!("{pad}# {source}:{}\n", line_ranges(lines)));
    }
}

/// `3,5-7` for lines 3, 5, 6, 7 (in any order, duplicates allowed).
pub fn line_ranges(lines: &[usize]) -> String {
    let mut sorted = lines.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// A key as written: plain when it cannot be mistaken for anything but a string (or is a
/// number, as `error_pages` keys are meant to be), JSON-quoted otherwise.
fn key_text(key: &str) -> String {
    let plain_name = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    let number = !key.is_empty() && key.len() <= 5 && key.chars().all(|c| c.is_ascii_digit());
    if plain_name || number {
        key.to_string()
    } else {
        Value::String(key.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn line_ranges_collapse_runs() {
        assert_eq!(line_ranges(&[7, 3, 5, 6, 5]), "3,5-7");
        assert_eq!(line_ranges(&[1]), "1");
    }

    #[test]
    fn rendered_documents_parse_back() {
        let doc = vec![
            Entry::node(
                "listeners",
                &[],
                Node::List(vec![Item {
                    lines: vec![4, 5],
                    value: Node::Map(vec![
                        Entry::leaf("name", &[], "web"),
                        Entry::leaf("address", &[5], "0.0.0.0:80"),
                        Entry::leaf("hooks", &[], json!([{"kind": "headers"}])),
                    ]),
                }]),
            ),
            Entry::node(
                "error_pages",
                &[9],
                Node::Map(vec![Entry::leaf("503", &[9], "/x: \"y\"")]),
            ),
            Entry::node("odd key: yes", &[], Node::Map(vec![])).remark("empty"),
        ];
        let text = render("haproxy.cfg", "generated", &doc);
        assert!(text.contains("  # haproxy.cfg:4-5\n  - name: \"web\"\n    # haproxy.cfg:5\n"));
        let back: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back["listeners"][0]["address"].as_str(), Some("0.0.0.0:80"));
        assert_eq!(
            back["listeners"][0]["hooks"][0]["kind"].as_str(),
            Some("headers")
        );
        assert_eq!(back["error_pages"][503].as_str(), Some("/x: \"y\""));
        assert!(back["odd key: yes"].as_mapping().unwrap().is_empty());
    }
}
