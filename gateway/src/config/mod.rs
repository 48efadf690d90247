//! Configuration: `gateway.yaml -> file::ConfigFile -> model::Config`, data only.
//!
//! [`load`] reads the file (a regular file, size-capped), checks its nesting before parsing,
//! parses it (unknown keys are errors that name the key), then [`convert`] checks every value
//! and cross-reference, reporting every [`Problem`] as `key.path: reason`. Building the
//! running objects (hook chains, TLS acceptors, errorfile pages) from the model is
//! `crate::runtime_config`'s job.

pub mod convert;
pub mod defaults;
pub mod file;
pub mod model;
mod nesting;
pub mod problem;

pub use model::Config;
pub use problem::Problem;
use std::path::Path;

/// Read, parse and check a configuration file. On failure, every problem found.
pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
    let (config, problems) = check(path)?;
    problems.into_result(config)
}

/// Read, parse and check a configuration file: the model with every problem found, or, when
/// the file cannot be read or parsed at all, only the problems.
pub fn check(path: &Path) -> Result<(Config, problem::Problems), Vec<Problem>> {
    let bytes = crate::regular_file::read(path, crate::regular_file::CONFIG_CAP)
        .map_err(|e| vec![Problem::new(path.display(), e)])?;
    let text = String::from_utf8(bytes)
        .map_err(|e| vec![Problem::new(path.display(), format!("not UTF-8 text: {e}"))])?;
    check_text(path, &text)
}

/// Parse and check configuration text; `path` names it in messages and anchors relative file
/// paths. A UTF-8 byte order mark at the start is ignored.
pub fn parse(path: &Path, text: &str) -> Result<Config, Vec<Problem>> {
    let (config, problems) = check_text(path, text)?;
    problems.into_result(config)
}

/// Parse and check configuration text, as [`check`] does a file.
pub fn check_text(path: &Path, text: &str) -> Result<(Config, problem::Problems), Vec<Problem>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    nesting::check(text).map_err(|e| vec![Problem::new(path.display(), e)])?;
    let file: file::ConfigFile =
        serde_yaml::from_str(text).map_err(|e| vec![describe(path, &e)])?;
    Ok(convert::convert_all(path, file))
}

/// serde_yaml puts the key path first (`listeners[0].tls: unknown field ...`); keep that
/// path, add the line for errors that have one, and name the file for errors about it as a
/// whole (`missing field ...`).
fn describe(path: &Path, e: &serde_yaml::Error) -> Problem {
    let mut text = e.to_string();
    if let Some(loc) = e.location().filter(|_| !text.contains("line")) {
        text = format!("{text} (line {})", loc.line());
    }
    let key_path = text
        .split_once(": ")
        .filter(|(key, _)| !key.is_empty() && !key.contains(' '));
    match key_path {
        Some((key, message)) => Problem::new(key, message),
        None => Problem::new(path.display(), text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "listeners:\n  - { name: web, address: \"127.0.0.1:1\", backend: app }\nbackends:\n  app:\n    servers: [{ name: n1, address: \"127.0.0.1:2\" }]\n";

    #[test]
    fn problems_carry_their_key_path() {
        let text = format!("{MINIMAL}timeouts: {{ client: 300000000000d }}\n");
        let problems = parse(Path::new("/t.yaml"), &text).unwrap_err();
        assert_eq!(
            problems,
            vec![Problem::new(
                "timeouts.client",
                "longer than the maximum of 2147483647ms (about 24.8 days)"
            )]
        );
        assert_eq!(
            problems[0].to_string(),
            "timeouts.client: longer than the maximum of 2147483647ms (about 24.8 days)"
        );
    }

    #[test]
    fn a_problem_with_the_whole_file_names_the_file() {
        let problems = parse(Path::new("/t.yaml"), "backends: {}\n").unwrap_err();
        assert_eq!(problems[0].path, "/t.yaml");
        assert!(problems[0].message.contains("missing field `listeners`"));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let config = parse(Path::new("/t.yaml"), &format!("\u{feff}{MINIMAL}")).unwrap();
        assert_eq!(config.listeners[0].name, "web");
    }
}
