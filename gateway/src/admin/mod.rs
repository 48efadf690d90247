//! The admin socket (`admin.socket`): HAProxy's runtime API, the verbs operators' scripts
//! already send with `socat` to `stats socket`. One command per line (several per line
//! separated by `;`); each answer ends with an empty line; the connection closes at end of
//! input, after `quit`, after a line longer than [`session::MAX_LINE`] (refused, nothing of it
//! run) or after `admin.timeout` (or `set timeout cli`) without input. `prompt` switches to
//! HAProxy's interactive mode: a `> ` prompt after every answer.
//!
//! - [`session`]: the socket, its sessions and how a line is read;
//! - [`commands`]: parsing a command and acting on the running state;
//! - [`servers`]: the verbs that add, move, limit and delete servers;
//! - [`info`], [`stat_csv`] (with [`stat_columns`]), [`servers_state`]: the output formats
//!   (`show info`, `show stat`, `show backend`, `show servers state`, `show servers conn`).

pub mod commands;
mod info;
mod servers;
mod servers_state;
pub mod session;
mod ssl_cert;
mod stat_columns;
mod stat_csv;

pub use commands::execute;
pub use session::serve;
