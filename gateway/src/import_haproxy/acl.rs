//! HAProxy ACLs and `if`/`unless` conditions, as far as the gateway can test them: each
//! condition becomes alternatives (OR) of conjunctions (AND) of single-value tests.

use std::collections::BTreeMap;

/// What one test looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The Host header equals the value (`hdr(host)`, any case with `-i`).
    Host,
    /// The path starts with the value (`path_beg`).
    PathPrefix,
    /// The path equals the value (`path`).
    Path,
    /// The path matches the regex (`path_reg`).
    PathRegex,
    /// The method is the value (`method`).
    Method,
    /// The client address is in the CIDR (`src`).
    Source,
    /// The connection is TLS (`ssl_fc`).
    Tls,
}

/// One test against one value, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    /// What is tested.
    pub fetch: Fetch,
    /// The value compared with (empty for `ssl_fc`).
    pub value: String,
    /// `!` in front.
    pub negated: bool,
}

/// Alternatives of conjunctions; an empty outer list never matches, one empty conjunction
/// always does.
pub type Condition = Vec<Vec<Test>>;

/// Conditions over this many conjunctions are not expanded.
const MAX_CONJUNCTIONS: usize = 64;

/// The named ACLs of a section: each name is the OR of the tests of its `acl` lines.
#[derive(Debug, Default, Clone)]
pub struct Acls {
    named: BTreeMap<String, Vec<Test>>,
}

impl Acls {
    /// Add an `acl NAME FETCH [flags] VALUES...` line (`words` without `acl`).
    pub fn define(&mut self, words: &[String]) -> Result<(), String> {
        let Some((name, rest)) = words.split_first() else {
            return Err("no ACL name".to_string());
        };
        let tests = tests_of(rest)?;
        self.named.entry(name.clone()).or_default().extend(tests);
        Ok(())
    }

    /// Read the condition after a rule: `words` start at `if` or `unless`; none means always.
    pub fn condition(&self, words: &[String]) -> Result<Condition, String> {
        let Some((keyword, rest)) = words.split_first() else {
            return Ok(vec![vec![]]);
        };
        let parsed = self.terms(rest)?;
        match keyword.as_str() {
            "if" => Ok(parsed),
            "unless" => negate(&parsed),
            other => Err(format!("expected `if` or `unless`, found {other:?}")),
        }
    }

    /// `a b || !c { path_beg /x }` as alternatives of conjunctions.
    fn terms(&self, words: &[String]) -> Result<Condition, String> {
        let mut alternatives: Condition = Vec::new();
        let mut current: Condition = vec![vec![]];
        let mut i = 0;
        while i < words.len() {
            let word = words[i].as_str();
            if word == "||" || word == "or" {
                alternatives.append(&mut current);
                current = vec![vec![]];
                i += 1;
                continue;
            }
            let (negated, word) = match word.strip_prefix('!') {
                Some("") => {
                    i += 1;
                    (true, words.get(i).map(String::as_str).unwrap_or(""))
                }
                Some(rest) => (true, rest),
                None => (false, word),
            };
            let tests = if word == "{" {
                let close = words[i..]
                    .iter()
                    .position(|w| w == "}")
                    .ok_or("unterminated `{` in condition")?;
                let tests = tests_of(&words[i + 1..i + close])?;
                i += close;
                tests
            } else {
                self.named
                    .get(word)
                    .cloned()
                    .or_else(|| tests_of(&[word.to_string()]).ok())
                    .ok_or_else(|| format!("unknown ACL {word:?}"))?
            };
            let factor: Condition = if negated {
                vec![tests.iter().map(|t| t.negate()).collect()]
            } else {
                tests.into_iter().map(|t| vec![t]).collect()
            };
            current = and(&current, &factor)?;
            i += 1;
        }
        alternatives.append(&mut current);
        Ok(alternatives)
    }
}

impl Test {
    fn negate(&self) -> Test {
        Test {
            negated: !self.negated,
            ..self.clone()
        }
    }
}

/// Every combination of one conjunction of `a` with one of `b`.
fn and(a: &Condition, b: &Condition) -> Result<Condition, String> {
    if a.len() * b.len() > MAX_CONJUNCTIONS {
        return Err(format!("condition over {MAX_CONJUNCTIONS} combinations"));
    }
    Ok(a.iter()
        .flat_map(|x| b.iter().map(move |y| x.iter().chain(y).cloned().collect()))
        .collect())
}

/// De Morgan: not (OR of ANDs) = AND of (OR of negated tests).
fn negate(condition: &Condition) -> Result<Condition, String> {
    let mut result: Condition = vec![vec![]];
    for conjunction in condition {
        let factor: Condition = conjunction.iter().map(|t| vec![t.negate()]).collect();
        result = and(&result, &factor)?;
    }
    Ok(result)
}

/// The tests of `FETCH [flags] VALUES...`.
fn tests_of(words: &[String]) -> Result<Vec<Test>, String> {
    let Some((fetch_word, rest)) = words.split_first() else {
        return Err("empty test".to_string());
    };
    let mut match_method = None;
    let mut values = Vec::new();
    let mut i = 0;
    let mut flags_done = false;
    while i < rest.len() {
        let word = rest[i].as_str();
        match word {
            "-i" | "-n" if !flags_done => {}
            "-m" if !flags_done => {
                i += 1;
                match_method = rest.get(i).map(String::as_str);
            }
            "--" if !flags_done => flags_done = true,
            flag if !flags_done && flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("ACL flag {flag} is not supported"));
            }
            value => {
                flags_done = true;
                values.push(value.to_string());
            }
        }
        i += 1;
    }
    let lower = fetch_word.to_ascii_lowercase();
    let fetch = match (lower.as_str(), match_method) {
        ("hdr(host)" | "req.hdr(host)" | "hdr(host,-1)", None | Some("str")) => Fetch::Host,
        ("path_beg", None) | ("path", Some("beg")) => Fetch::PathPrefix,
        ("path", None | Some("str")) => Fetch::Path,
        ("path_reg", None) | ("path", Some("reg")) => Fetch::PathRegex,
        ("method", None | Some("str")) => Fetch::Method,
        ("src", None | Some("ip")) => Fetch::Source,
        ("ssl_fc", None) => {
            return Ok(vec![Test {
                fetch: Fetch::Tls,
                value: String::new(),
                negated: false,
            }]);
        }
        (other, method) => {
            let how = method.map(|m| format!(" -m {m}")).unwrap_or_default();
            return Err(format!("the gateway cannot test `{other}{how}`"));
        }
    };
    if values.is_empty() {
        return Err(format!("`{fetch_word}` without a value"));
    }
    Ok(values
        .into_iter()
        .map(|value| Test {
            fetch: fetch.clone(),
            value,
            negated: false,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Vec<String> {
        crate::import_haproxy::parse::split_words(text).unwrap()
    }

    fn test(fetch: Fetch, value: &str, negated: bool) -> Test {
        Test {
            fetch,
            value: value.to_string(),
            negated,
        }
    }

    #[test]
    fn named_acls_with_several_values_are_alternatives() {
        let mut acls = Acls::default();
        acls.define(&w("api hdr(host) -i api.example.com api.example.org"))
            .unwrap();
        acls.define(&w("static path_beg /static")).unwrap();
        let c = acls.condition(&w("if api static")).unwrap();
        assert_eq!(
            c,
            vec![
                vec![
                    test(Fetch::Host, "api.example.com", false),
                    test(Fetch::PathPrefix, "/static", false)
                ],
                vec![
                    test(Fetch::Host, "api.example.org", false),
                    test(Fetch::PathPrefix, "/static", false)
                ],
            ]
        );
        let c = acls.condition(&w("if api || static")).unwrap();
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn unless_and_negation_are_the_same_test() {
        let acls = Acls::default();
        let expected = vec![vec![test(Fetch::Tls, "", true)]];
        assert_eq!(acls.condition(&w("unless { ssl_fc }")).unwrap(), expected);
        assert_eq!(acls.condition(&w("if !{ ssl_fc }")).unwrap(), expected);
        assert_eq!(acls.condition(&w("if ! { ssl_fc }")).unwrap(), expected);
        assert_eq!(acls.condition(&[]).unwrap(), vec![vec![]]);
    }

    #[test]
    fn unknown_fetches_and_acls_and_open_braces_are_errors() {
        let mut acls = Acls::default();
        assert!(acls.define(&w("x hdr_sub(user-agent) bot")).is_err());
        assert!(acls.condition(&w("if nosuchacl")).is_err());
        assert!(acls.condition(&w("if { path /metrics")).is_err());
        assert!(acls.condition(&w("when x")).is_err());
    }

    #[test]
    fn huge_expansions_are_refused() {
        let mut acls = Acls::default();
        let many: Vec<String> = (0..20).map(|i| format!("/p{i}")).collect();
        acls.define(&w(&format!("a path_beg {}", many.join(" "))))
            .unwrap();
        acls.define(&w(&format!("b path_beg {}", many.join(" "))))
            .unwrap();
        assert!(acls.condition(&w("if a b")).is_err());
    }
}
