//! A configuration problem: the key path it concerns and what is wrong there.

/// One thing wrong with a configuration, shown as `key.path: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct Problem {
    /// Where: `listeners[0].tls.certificate`, `backends.app.servers[1].weight`, or the file's
    /// path for problems with the file as a whole.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl std::fmt::Display, message: impl std::fmt::Display) -> Problem {
        Problem {
            path: path.to_string(),
            message: message.to_string(),
        }
    }
}

/// Problems collected while checking a configuration: every one is reported, not only the
/// first.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Record a problem at `path`.
    pub fn push(&mut self, path: impl std::fmt::Display, message: impl std::fmt::Display) {
        self.0.push(Problem::new(path, message));
    }

    /// How many have been recorded (to tell whether a part added any).
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// `Ok(value)` if none were recorded, else every problem.
    pub fn into_result<T>(self, value: T) -> Result<T, Vec<Problem>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}
