//! HAProxy 2.6's `show stat` columns, in its order, and a row of them: a cell left unset
//! stays empty, as HAProxy leaves the fields that do not apply.

use std::fmt::Display;

/// The columns of HAProxy 2.6's `show stat` (`stats.c` fields, then the `-` separator and
/// the SSL, HTTP/2 and HTTP/1 module fields Debian's build prints).
pub const COLUMNS: &[&str] = &[
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// The header line: `# ` then every column followed by a comma.
pub fn header() -> String {
    let mut line = String::from("# ");
    for column in COLUMNS {
        line.push_str(column);
        line.push(',');
    }
    line.push('\n');
    line
}

/// One row: a cell per column.
pub struct Row(Vec<String>);

impl Row {
    /// A row with every cell empty but the module separator (`-`, as HAProxy prints it).
    pub fn new() -> Row {
        let mut row = Row(vec![String::new(); COLUMNS.len()]);
        row.set("-", "-");
        row
    }

    /// Set the cell of `column` (one of [`COLUMNS`]).
    pub fn set(&mut self, column: &str, value: impl Display) -> &mut Row {
        let index = COLUMNS
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("{column} is not a show stat column"));
        self.0[index] = value.to_string();
        self
    }

    /// Set each of `columns` to `value`.
    pub fn set_all(&mut self, columns: &[&str], value: impl Display) -> &mut Row {
        for column in columns {
            self.set(column, &value);
        }
        self
    }

    /// The row as a CSV line (each cell followed by a comma, as HAProxy writes it).
    pub fn line(&self) -> String {
        let mut line = String::new();
        for cell in &self.0 {
            line.push_str(cell);
            line.push(',');
        }
        line.push('\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_haproxy_2_6s() {
        assert_eq!(COLUMNS.len(), 128);
        assert!(header().starts_with("# pxname,svname,qcur,"));
        assert!(header().ends_with(",h1_spliced_bytes_out,\n"));
        let line = Row::new().set("svname", "BACKEND").line();
        assert_eq!(line.matches(',').count(), COLUMNS.len());
    }
}
