//! `gateway import-haproxy haproxy.cfg [-o gateway.yaml]`: a haproxy.cfg as the gateway's
//! YAML, each block under a comment naming the lines it came from, and on stderr one line
//! per directive that was not converted (behaviour differs) or is not needed (nothing lost).
//!
//! [`parse`] splits the file into sections ([`acl`] reads conditions); [`settings`],
//! [`frontend`] ([`bind`]), [`backend`] ([`checks`], [`balance`]) and [`rules`] map them;
//! [`convert`] puts them together ([`listener`] once the backends are known); [`yaml`] writes
//! the document.

pub mod acl;
pub mod backend;
pub mod balance;
pub mod bind;
pub mod checks;
pub mod convert;
pub mod frontend;
pub mod listener;
pub mod log_target;
pub mod notes;
pub mod parse;
pub mod rules;
pub mod settings;
#[cfg(test)]
mod tests;
pub mod values;
pub mod yaml;

pub use convert::{convert, Conversion};

use std::ffi::OsString;
use std::path::PathBuf;

/// Everything was converted.
pub const EXIT_CONVERTED: i32 = 0;
/// The input could not be read (or the output written).
pub const EXIT_UNREADABLE: i32 = 1;
/// Wrong arguments.
pub const EXIT_USAGE: i32 = 2;
/// Converted, with losses reported on stderr.
pub const EXIT_LOSSES: i32 = 3;

/// Larger files are refused: no haproxy.cfg is this big, and every line may need a note.
pub const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024;

const USAGE: &str = "usage: gateway import-haproxy HAPROXY_CFG [-o OUTPUT_YAML]";

/// Run the subcommand with `args` (after `import-haproxy`); returns the exit code.
pub fn run(args: &[OsString]) -> i32 {
    let mut input = None;
    let mut output = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-o" | "--output") => match args.next() {
                Some(path) => output = Some(PathBuf::from(path)),
                None => return usage("-o needs a file"),
            },
            Some("-h" | "--help") => {
                println!("{USAGE}\nExit codes: 0 all converted, 3 converted with losses (listed on stderr), 1 unreadable input.");
                return EXIT_CONVERTED;
            }
            _ if input.is_none() => input = Some(PathBuf::from(arg)),
            _ => return usage(&format!("unexpected argument {arg:?}")),
        }
    }
    let Some(input) = input else {
        return usage("no haproxy.cfg given");
    };
    let source = input.display().to_string();
    let text = match read(&input) {
        Ok(text) => text,
        Err(why) => {
            eprintln!("gateway import-haproxy: {source}: {why}");
            return EXIT_UNREADABLE;
        }
    };
    let conversion = convert(&text, &source);
    let written = match &output {
        Some(path) => {
            std::fs::write(path, &conversion.yaml).map_err(|e| format!("{}: {e}", path.display()))
        }
        None => {
            print!("{}", conversion.yaml);
            Ok(())
        }
    };
    if let Err(why) = written {
        eprintln!("gateway import-haproxy: {why}");
        return EXIT_UNREADABLE;
    }
    for note in &conversion.notes {
        eprintln!("{}", note.render(&source));
    }
    if conversion
        .notes
        .iter()
        .any(|n| n.kind == notes::Kind::NotConverted)
    {
        EXIT_LOSSES
    } else {
        EXIT_CONVERTED
    }
}

fn usage(why: &str) -> i32 {
    eprintln!("gateway import-haproxy: {why}\n{USAGE}");
    EXIT_USAGE
}

/// The file as text (invalid UTF-8 replaced), refused when it is not a regular file or over
/// [`MAX_INPUT_BYTES`].
fn read(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "larger than {} MiB; not a haproxy.cfg",
            MAX_INPUT_BYTES >> 20
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
