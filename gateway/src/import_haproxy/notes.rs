//! What the import tells the operator about directives it did not turn into YAML.

use super::parse::Directive;
use std::collections::HashSet;

/// Whether something was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The gateway cannot do it (yet): behaviour differs.
    NotConverted,
    /// It has no meaning for the gateway: nothing is lost.
    NotNeeded,
}

/// One remark about one haproxy.cfg line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Note {
    /// 1-based line.
    pub line: usize,
    /// The directive as named in the report (`option http-use-htx`, `server node1 maxconn`).
    pub directive: String,
    /// Lost or not needed.
    pub kind: Kind,
    /// Why.
    pub why: String,
}

impl Note {
    /// `SOURCE:LINE: DIRECTIVE: not converted|not needed: WHY`.
    pub fn render(&self, source: &str) -> String {
        let verdict = match self.kind {
            Kind::NotConverted => "not converted",
            Kind::NotNeeded => "not needed",
        };
        format!(
            "{source}:{}: {}: {verdict}: {}",
            self.line, self.directive, self.why
        )
    }
}

/// The notes of one import, in the order they were made.
#[derive(Debug, Default)]
pub struct Notes(pub Vec<Note>, HashSet<Note>);

impl Notes {
    /// Record that `directive` at `line` was not converted.
    pub fn lost(&mut self, line: usize, directive: impl Into<String>, why: impl Into<String>) {
        self.push(line, directive.into(), Kind::NotConverted, why.into());
    }

    /// Record that `directive` at `line` is not needed.
    pub fn not_needed(
        &mut self,
        line: usize,
        directive: impl Into<String>,
        why: impl Into<String>,
    ) {
        self.push(line, directive.into(), Kind::NotNeeded, why.into());
    }

    /// [`Notes::lost`] for a whole directive.
    pub fn lost_directive(&mut self, d: &Directive, why: impl Into<String>) {
        self.lost(d.line, d.label(), why);
    }

    /// [`Notes::not_needed`] for a whole directive.
    pub fn unneeded_directive(&mut self, d: &Directive, why: impl Into<String>) {
        self.not_needed(d.line, d.label(), why);
    }

    fn push(&mut self, line: usize, directive: String, kind: Kind, why: String) {
        let note = Note {
            line,
            directive,
            kind,
            why,
        };
        if self.1.insert(note.clone()) {
            self.0.push(note);
        }
    }

    /// Whether anything was lost.
    pub fn any_lost(&self) -> bool {
        self.0.iter().any(|n| n.kind == Kind::NotConverted)
    }
}
