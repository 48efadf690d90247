//! Configuration: `gateway.yaml -> file::ConfigFile -> model::Config`.
//!
//! [`load`] reads and parses the file (unknown keys are errors that name the key), then
//! [`convert`] checks every value, loads certificates and cross-references names, reporting
//! every problem as `key.path: reason`.

pub mod convert;
pub mod file;
pub mod model;

use crate::hooks::Registry;
pub use model::Config;
use std::path::Path;

/// Read, parse and validate a configuration file, building hooks with `registry`. On
/// failure, every problem found, each starting with its key path.
pub fn load(path: &Path, registry: &Registry) -> Result<Config, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    parse(path, &text, registry)
}

/// Parse and validate configuration text; `path` names it in messages and anchors relative
/// file paths.
pub fn parse(path: &Path, text: &str, registry: &Registry) -> Result<Config, Vec<String>> {
    let file: file::ConfigFile = serde_yaml::from_str(text).map_err(|e| vec![describe(&e)])?;
    convert::convert(path, file, registry)
}

/// serde_yaml puts the key path first (`listeners[0].tls: unknown field ...`); keep that shape
/// and add the line for errors that have one.
fn describe(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(loc) if !text.contains("line") => format!("{text} (line {})", loc.line()),
        _ => text,
    }
}
