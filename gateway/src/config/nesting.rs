//! A bound on how deeply a configuration nests, checked on the text before it is parsed: a
//! YAML parser's cost grows with the square of the depth (100,000 levels took more than 20 s),
//! while a real configuration nests fewer than ten levels.
//!
//! Two measures, each a bound on the depth it can express: flow brackets (`[`, `{`) open at
//! once, and a line's indentation including its leading `- ` and `? ` indicators (every
//! block level needs at least one more column).

/// Flow brackets open at once, at most.
const FLOW_DEPTH_MAX: usize = 64;
/// Columns of indentation and leading block indicators on a line, at most.
const BLOCK_COLUMNS_MAX: usize = 256;

/// `Err` with a reason if `text` nests deeper than the bounds.
pub fn check(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for (number, line) in text.lines().enumerate() {
        let columns = line
            .bytes()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'-' | b'?'))
            .count();
        if columns > BLOCK_COLUMNS_MAX {
            return Err(format!(
                "line {}: nested deeper than {BLOCK_COLUMNS_MAX} levels",
                number + 1
            ));
        }
        depth = flow_depth(line, depth);
        if depth > FLOW_DEPTH_MAX {
            return Err(format!(
                "line {}: brackets nested deeper than {FLOW_DEPTH_MAX} levels",
                number + 1
            ));
        }
    }
    Ok(())
}

/// The flow depth after `line`, starting at `depth`: brackets counted outside quoted strings
/// and comments. A quote only opens a string where a token starts.
fn flow_depth(line: &str, mut depth: usize) -> usize {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut token_start = true;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'#' if token_start || i == 0 => break,
            b'"' | b'\'' if token_start => {
                i += 1;
                while i < bytes.len() && bytes[i] != b {
                    i += if b == b'"' && bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' | b'{' => depth = depth.saturating_add(1),
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        token_start = matches!(b, b' ' | b'\t' | b'[' | b'{' | b',' | b':');
        i += 1;
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_configurations_pass() {
        let text = "listeners:\n  - { name: a, address: \"127.0.0.1:1\", hooks: [{ kind: redirect, rules: [{ path_regex: '^/a[' , to: \"/{\" }] }] }\n# [[[[ comment\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn deep_nesting_is_refused() {
        assert!(check(&"[".repeat(100_000)).is_err());
        assert!(check(&"{a: ".repeat(100)).is_err());
        assert!(check(&format!("{}x", "- ".repeat(200))).is_err());
        let block: String = (0..300).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        assert!(check(&block).is_err());
    }
}
