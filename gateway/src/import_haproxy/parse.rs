//! haproxy.cfg as sections of directives: each line split into words as HAProxy does
//! (whitespace, `#` comments, `\` escapes, "double" and 'single' quotes), each word list
//! filed under the section keyword above it.

/// Keywords that open a section.
const SECTION_KEYWORDS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "mailers",
    "cache",
    "program",
    "http-errors",
    "ring",
    "log-forward",
    "fcgi-app",
    "crt-store",
    "traces",
];

/// One configuration line, split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// 1-based line number.
    pub line: usize,
    /// The words, unquoted and unescaped.
    pub words: Vec<String>,
}

impl Directive {
    /// Word `i`, or "" past the end.
    pub fn word(&self, i: usize) -> &str {
        self.words.get(i).map(String::as_str).unwrap_or("")
    }

    /// The keyword as reports name it: the first word, with the second for keywords that
    /// are families (`option httplog`, `timeout client`, `http-request set-header`, ...).
    pub fn label(&self) -> String {
        const FAMILIES: &[&str] = &[
            "option",
            "no",
            "timeout",
            "http-request",
            "http-response",
            "http-after-response",
            "http-check",
            "stats",
            "errorfile",
            "log",
            "tcp-request",
            "tcp-response",
        ];
        if FAMILIES.contains(&self.word(0)) && self.words.len() > 1 {
            format!("{} {}", self.word(0), self.word(1))
        } else {
            self.word(0).to_string()
        }
    }
}

/// One section: its keyword line and the directives under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// `global`, `frontend`, ...
    pub kind: String,
    /// The name after the keyword, if any.
    pub name: Option<String>,
    /// Line of the keyword.
    pub line: usize,
    /// Last line with a directive (or the keyword line).
    pub end_line: usize,
    /// The directives, in order.
    pub directives: Vec<Directive>,
}

/// A line that could not be read as a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// The first word, or the whole line's start.
    pub directive: String,
    /// Why it was not read.
    pub why: String,
}

/// The whole file.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Sections in file order.
    pub sections: Vec<Section>,
    /// Lines that were skipped.
    pub bad_lines: Vec<BadLine>,
}

/// Split `text` into sections.
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let words = match split_words(raw) {
            Ok(words) => words,
            Err(why) => {
                let directive = raw.split_whitespace().next().unwrap_or("").to_string();
                parsed.bad_lines.push(BadLine {
                    line,
                    directive,
                    why,
                });
                continue;
            }
        };
        if words.is_empty() {
            continue;
        }
        if SECTION_KEYWORDS.contains(&words[0].as_str()) {
            parsed.sections.push(Section {
                kind: words[0].clone(),
                name: words.get(1).cloned(),
                line,
                end_line: line,
                directives: Vec::new(),
            });
            continue;
        }
        match parsed.sections.last_mut() {
            Some(section) => {
                section.end_line = line;
                section.directives.push(Directive { line, words });
            }
            None => parsed.bad_lines.push(BadLine {
                line,
                directive: words[0].clone(),
                why: "outside any section".to_string(),
            }),
        }
    }
    parsed
}

/// Split one line into words as HAProxy does; an error for an unterminated quote.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(escaped) => word.push(unescape(escaped)),
                    None => word.push('\\'),
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated double quote".to_string()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => word.push(unescape(escaped)),
                            None => return Err("unterminated double quote".to_string()),
                        },
                        Some(other) => word.push(other),
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated single quote".to_string()),
                        Some('\'') => break,
                        Some(other) => word.push(other),
                    }
                }
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The character a backslash sequence stands for.
fn unescape(c: char) -> char {
    match c {
        'r' => '\r',
        'n' => '\n',
        't' => '\t',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split_words(line).unwrap()
    }

    #[test]
    fn words_split_on_whitespace_and_stop_at_comments() {
        assert_eq!(
            words("  server node1 172.31.14.51:80 check #CHANGETHIS"),
            ["server", "node1", "172.31.14.51:80", "check"]
        );
        assert!(words("   # only a comment").is_empty());
    }

    #[test]
    fn quotes_and_escapes_make_one_word() {
        assert_eq!(
            words(
                r#"http-response set-header Strict-Transport-Security "max-age=31536000; preload""#
            ),
            [
                "http-response",
                "set-header",
                "Strict-Transport-Security",
                "max-age=31536000; preload"
            ]
        );
        assert_eq!(
            words(r"option httpchk GET / HTTP/1.1\r\nHost:\ www"),
            ["option", "httpchk", "GET", "/", "HTTP/1.1\r\nHost: www"]
        );
        assert_eq!(words("a 'b # c' d"), ["a", "b # c", "d"]);
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert!(split_words("errorfile 503 \"/etc/x").is_err());
        assert!(split_words("x 'y").is_err());
    }

    #[test]
    fn directives_are_filed_under_their_section() {
        let parsed = parse("global\n  maxconn 10\n\nfrontend web\n bind :80\nbackend app\n");
        let kinds: Vec<_> = parsed
            .sections
            .iter()
            .map(|s| (s.kind.as_str(), s.name.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("global", None),
                ("frontend", Some("web".into())),
                ("backend", Some("app".into()))
            ]
        );
        assert_eq!(parsed.sections[1].directives[0].line, 5);
        assert_eq!(parsed.sections[1].end_line, 5);
        assert!(parsed.sections[2].directives.is_empty());
    }

    #[test]
    fn lines_before_any_section_and_bad_quotes_are_reported() {
        let parsed = parse("maxconn 10\nglobal\n  log \"x\n");
        let lines: Vec<_> = parsed
            .bad_lines
            .iter()
            .map(|b| (b.line, b.directive.as_str()))
            .collect();
        assert_eq!(lines, [(1, "maxconn"), (3, "log")]);
    }

    #[test]
    fn labels_name_the_family() {
        let d = Directive {
            line: 1,
            words: words("timeout client 50s"),
        };
        assert_eq!(d.label(), "timeout client");
        let d = Directive {
            line: 1,
            words: words("server a 1.2.3.4:80"),
        };
        assert_eq!(d.label(), "server");
    }
}
