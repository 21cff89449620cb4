//! The HTML stats page, in the spirit of HAProxy's: a process header (unless `stats
//! hide-version`), a legend of the row colours, then one table per proxy — a `Frontend` row,
//! one row per server coloured by its state (HAProxy's CSS classes and colours), a `Backend`
//! row — with Ravelin's latency percentiles as the last column group. With `stats admin`, each
//! backend table is a form with a checkbox per server and HAProxy's action list.

use std::fmt::Write as _;

use crate::model::StatsConf;
use crate::server::SharedState;

use super::page::Options;
use super::{ProcessInfo, Row, RowKind, StatFilter, uptime_text};

/// HAProxy's stats page style: the row classes and their colours.
const CSS: &str = "body { font-family: arial, helvetica, sans-serif; font-size: 12px; font-weight: normal; color: black; background: white;}
th,td { font-size: 10px;}
h1 { font-size: x-large; margin-bottom: 0.5em;}
h2 { font-family: helvetica, arial; font-size: x-large; font-weight: bold; font-style: italic; color: #6020a0; margin-top: 0em; margin-bottom: 0em;}
h3 { font-family: helvetica, arial; font-size: 16px; font-weight: bold; color: #b00040; background: #e8e8d0; margin-top: 0em; margin-bottom: 0em;}
.hr {margin-top: 0.25em; border-color: black; border-bottom-style: solid;}
.titre {background: #20D0D0;color: #000000; font-weight: bold; text-align: center;}
.total {background: #20D0D0;color: #ffff80;}
.frontend {background: #e8e8d0;}
.backend {background: #e8e8d0;}
.active_down {background: #ff9090;}
.active_going_up {background: #ffd020;}
.active_going_down {background: #ffffa0;}
.active_up {background: #c0ffc0;}
.active_nolb {background: #20a0ff;}
.active_draining {background: #20a0FF;}
.active_no_check {background: #e0e0e0;}
.backup_down {background: #ff9090;}
.backup_going_up {background: #ff80ff;}
.backup_going_down {background: #c060ff;}
.backup_up {background: #b0d0ff;}
.backup_nolb {background: #90b0e0;}
.backup_draining {background: #cc9900;}
.backup_no_check {background: #e0e0e0;}
.maintain {background: #c07820;}
a.px:link {color: #ffff40; text-decoration: none;}
a.px:visited {color: #ffff40; text-decoration: none;}
a.px:hover {color: #ffffff; text-decoration: none;}
table.tbl { border-collapse: collapse; border-style: none;}
table.tbl td { text-align: right; border-width: 1px 1px 1px 1px; border-style: solid solid solid solid; padding: 2px 3px; border-color: gray; white-space: nowrap;}
table.tbl td.ac { text-align: center;}
table.tbl th { border-width: 1px; border-style: solid solid solid solid; border-color: gray;}
table.tbl th.pxname { background: #b00040; color: #ffff40; font-weight: bold; border-style: solid solid none solid; padding: 2px 3px; white-space: nowrap;}
table.tbl th.empty { border-style: none; empty-cells: hide; background: white;}
table.lgd { border-collapse: collapse; border-width: 1px; border-style: none none none solid; border-color: black;}
table.lgd td { border-width: 1px; border-style: solid solid solid solid; border-color: gray; padding: 2px;}
u {text-decoration:none; border-bottom: 1px dotted black;}
";

/// HTML-escapes `s`.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The CSS class of a row, from its kind and status (HAProxy's `srv_hlt_st` classes).
pub(crate) fn row_class(model: &crate::model::Model, r: &Row) -> &'static str {
    match r.kind {
        RowKind::Frontend => "frontend",
        RowKind::Backend => "backend",
        RowKind::Server => {
            let backup = model
                .backends
                .get(r.proxy)
                .and_then(|b| b.servers.get(r.server.unwrap_or(usize::MAX)))
                .is_some_and(|s| s.backup);
            let status = r.str("status");
            let state = if status == "MAINT" {
                return "maintain";
            } else if status == "DRAIN" {
                "draining"
            } else if status == "NOLB" {
                "nolb"
            } else if status == "no check" {
                "no_check"
            } else if status.starts_with("UP ") {
                "going_down"
            } else if status.starts_with("DOWN ") {
                "going_up"
            } else if status == "UP" {
                "up"
            } else {
                "down"
            };
            match (backup, state) {
                (false, "draining") => "active_draining",
                (false, "nolb") => "active_nolb",
                (false, "no_check") => "active_no_check",
                (false, "going_down") => "active_going_down",
                (false, "going_up") => "active_going_up",
                (false, "up") => "active_up",
                (false, _) => "active_down",
                (true, "draining") => "backup_draining",
                (true, "nolb") => "backup_nolb",
                (true, "no_check") => "backup_no_check",
                (true, "going_down") => "backup_going_down",
                (true, "going_up") => "backup_going_up",
                (true, "up") => "backup_up",
                (true, _) => "backup_down",
            }
        }
    }
}

/// Seconds as HAProxy's short duration (`5s`, `3m10s`, `2h5m`, `1d3h`).
fn human(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{}m", s / 3600, (s / 60) % 60),
        s => format!("{}d{}h", s / 86400, (s / 3600) % 24),
    }
}

fn latency_cell(out: &mut String, r: &Row, timer: &str) {
    let v: Vec<String> = ["p50", "p90", "p99", "p99.9"]
        .iter()
        .map(|p| r.str(&format!("{timer}_{p}")))
        .collect();
    if v.iter().all(String::is_empty) {
        out.push_str("<td class=ac>-</td>");
    } else {
        let _ = write!(
            out,
            "<td class=\"lat\" title=\"p50/p90/p99/p99.9 (ms)\">{}</td>",
            v.join("/")
        );
    }
}

/// Writes the whole page into `out`.
pub fn render(
    shared: &SharedState,
    conf: &StatsConf,
    info: &ProcessInfo,
    opts: &Options,
    admin: bool,
    proxy: &str,
    out: &mut String,
) {
    let model = &shared.model;
    let rows = super::collect(shared, &StatFilter::default());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><title>Statistics Report for Ravelin{}</title>\n<link rel=\"icon\" href=\"data:,\">\n<meta http-equiv=\"content-type\" content=\"text/html; charset=utf-8\">\n<style type=\"text/css\"><!--\n{CSS}--></style></head>\n<body>",
        if conf.hide_version {
            String::new()
        } else {
            format!(" {}", esc(&info.version))
        }
    );
    if conf.hide_version {
        out.push_str("<h1>Ravelin</h1>\n");
    } else {
        let _ = writeln!(out, "<h1>Ravelin version {}</h1>", esc(&info.version));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let node = match conf.show_node.as_deref() {
        Some("") | None => info.node.clone(),
        Some(n) => n.to_string(),
    };
    let _ = write!(
        out,
        "<h2>Statistics Report for pid {}{}</h2>\n<hr width=\"100%\" class=\"hr\">\n",
        info.pid,
        if conf.show_node.is_some() {
            format!(" on {}", esc(&node))
        } else {
            String::new()
        }
    );
    if let Some(d) = conf.show_desc.as_deref().filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "<h3>{}</h3>", esc(d));
    }
    // As HAProxy, `hide-version` hides the version only; the process section stays.
    {
        let _ = write!(
            out,
            "<h3>&gt; General process information</h3>\n<table border=0><tr><td align=\"left\" nowrap width=\"1%\"><p><b>pid = </b> {} (process #1, nbproc = 1, nbthread = {})<br>\n<b>uptime = </b> {}<br>\n<b>system limits:</b> maxconn = {} <br>\n<b>current conns = </b> {}; <b>current streams = </b> {}<br>\n</td>",
            info.pid,
            info.nbthread,
            uptime_text(now.saturating_sub(info.start_unix)),
            shared.global.limit(),
            shared.global.cur(),
            shared.live_streams(),
        );
    }
    // Legend (HAProxy's colours).
    out.push_str("<td align=\"center\" nowrap><table class=\"lgd\"><tr>\n<td class=\"active_up\">&nbsp;</td><td class=\"noborder\">active UP </td><td class=\"backup_up\">&nbsp;</td><td class=\"noborder\">backup UP </td></tr><tr>\n<td class=\"active_going_down\"></td><td class=\"noborder\">active UP, going down </td><td class=\"backup_going_down\"></td><td class=\"noborder\">backup UP, going down </td></tr><tr>\n<td class=\"active_going_up\"></td><td class=\"noborder\">active DOWN, going up </td><td class=\"backup_going_up\"></td><td class=\"noborder\">backup DOWN, going up </td></tr><tr>\n<td class=\"active_down\"></td><td class=\"noborder\">active or backup DOWN &nbsp;</td><td class=\"active_no_check\"></td><td class=\"noborder\">not checked </td></tr><tr>\n<td class=\"maintain\"></td><td class=\"noborder\" colspan=\"3\">active or backup DOWN for maintenance (MAINT) &nbsp;</td></tr><tr>\n<td class=\"active_draining\"></td><td class=\"noborder\" colspan=\"3\">active or backup SOFT STOPPED for maintenance &nbsp;</td></tr></table>\nNote: \"NOLB\"/\"DRAIN\" = UP with load-balancing disabled.</td>");
    let _ = write!(
        out,
        "<td align=\"left\" valign=\"top\" nowrap width=\"1%\"><b>Display option:</b><ul style=\"margin-top: 0.25em;\"><li><a href=\"{u}{up}{nr}\">{hide}</a><br>\n<li><a href=\"{u}{upk}{nrs}\">{refr}</a><br>\n<li><a href=\"{u};csv\">CSV export</a><br>\n</ul></td></tr></table>\n",
        u = esc(&conf.uri),
        up = if opts.up_only { "" } else { ";up" },
        nr = if opts.norefresh { ";norefresh" } else { "" },
        hide = if opts.up_only {
            "Show all servers"
        } else {
            "Hide 'DOWN' servers"
        },
        upk = if opts.up_only { ";up" } else { "" },
        nrs = if opts.norefresh { "" } else { ";norefresh" },
        refr = match (conf.refresh, opts.norefresh) {
            (Some(_), false) => "Disable refresh",
            _ => "Enable refresh",
        },
    );
    if let Some(st) = &opts.status {
        let (class, msg) = match st.as_str() {
            "DONE" => ("active_up", "Action processed successfully."),
            "PART" => ("active_going_down", "Action partially processed."),
            "NONE" => ("active_going_down", "Nothing has changed."),
            "DENY" => ("active_down", "Action denied."),
            _ => ("active_down", "Action not processed : invalid parameters."),
        };
        let _ = writeln!(
            out,
            "<p><div class=\"{class}\" id=\"status\">[<a href=\"{}\" title=\"Remove this message\">X</a>] {msg}</div>",
            esc(&conf.uri)
        );
    }
    out.push_str("<p>\n");
    // One table per proxy, in the order of the rows.
    let mut i = 0;
    while let Some(first) = rows.get(i) {
        let name = first.str("pxname");
        let iid = first.u64("iid");
        let mut j = i;
        while rows.get(j).is_some_and(|r| r.u64("iid") == iid) {
            j += 1;
        }
        let group = rows.get(i..j).unwrap_or_default();
        let has_servers = group.iter().any(|r| r.kind == RowKind::Server);
        let form = admin && has_servers;
        proxy_table(out, model, &name, iid, group, form, opts);
        i = j.max(i + 1);
    }
    let _ = write!(
        out,
        "<p>Served by proxy '{}'. Latency columns: percentiles p50/p90/p99/p99.9 in ms of the total time (Tt), server response time (Tr), connect time (Tc) and queue time (Tw).</p>\n</body></html>\n",
        esc(proxy)
    );
}

fn proxy_table(
    out: &mut String,
    model: &crate::model::Model,
    name: &str,
    iid: u64,
    group: &[Row],
    form: bool,
    opts: &Options,
) {
    if form {
        out.push_str("<form method=\"post\">");
    }
    let _ = write!(
        out,
        "<table class=\"tbl\" width=\"100%\" id=\"px-{n}\">\n<tr class=\"titre\"><th class=\"pxname\" width=\"10%\"><a name=\"{n}\"></a><a class=px href=\"#{n}\">{n}</a></th><th class=\"empty\" width=\"90%\"></th></tr>\n</table>\n<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\">",
        n = esc(name)
    );
    if form {
        out.push_str("<th rowspan=2 width=1></th>");
    }
    out.push_str("<th rowspan=2></th><th colspan=3>Queue</th><th colspan=3>Session rate</th><th colspan=6>Sessions</th><th colspan=2>Bytes</th><th colspan=2>Denied</th><th colspan=3>Errors</th><th colspan=2>Warnings</th><th colspan=9>Server</th><th colspan=4>Latency ms (p50/p90/p99/p99.9)</th></tr>\n<tr class=\"titre\"><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th><th>Last</th><th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th><th>Status</th><th>LastChk</th><th>Wght</th><th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Thrtle</th><th>Tt</th><th>Tr</th><th>Tc</th><th>Tw</th></tr>\n");
    for r in group {
        if opts.up_only && r.kind == RowKind::Server && !r.str("status").starts_with("UP") {
            let st = r.str("status");
            if st != "no check" && st != "DRAIN" && st != "NOLB" {
                continue;
            }
        }
        let class = row_class(model, r);
        let svname = r.str("svname");
        let label = match r.kind {
            RowKind::Frontend => "Frontend".to_string(),
            RowKind::Backend => "Backend".to_string(),
            RowKind::Server => svname.clone(),
        };
        let _ = write!(out, "<tr class=\"{class}\">");
        if form {
            if r.kind == RowKind::Server {
                let _ = write!(
                    out,
                    "<td><input class='st-checkbox' type=\"checkbox\" name=\"s\" value=\"{}\"></td>",
                    esc(&svname)
                );
            } else {
                out.push_str("<td></td>");
            }
        }
        let _ = write!(
            out,
            "<td class=ac><a name=\"{n}/{l}\"></a>{l}</td>",
            n = esc(name),
            l = esc(&label)
        );
        let cell = |out: &mut String, f: &str| {
            let _ = write!(out, "<td>{}</td>", esc(&r.str(f)));
        };
        // Queue
        if r.kind == RowKind::Frontend {
            out.push_str("<td colspan=3></td>");
        } else {
            cell(out, "qcur");
            cell(out, "qmax");
            cell(out, "qlimit");
        }
        // Session rate
        cell(out, "rate");
        cell(out, "rate_max");
        cell(out, "rate_lim");
        // Sessions
        cell(out, "scur");
        cell(out, "smax");
        cell(out, "slim");
        let _ = write!(out, "<td class=\"stot\">{}</td>", r.str("stot"));
        cell(out, "lbtot");
        out.push_str("<td></td>");
        cell(out, "bin");
        cell(out, "bout");
        cell(out, "dreq");
        cell(out, "dresp");
        cell(out, "ereq");
        cell(out, "econ");
        cell(out, "eresp");
        cell(out, "wretr");
        cell(out, "wredis");
        // Server
        let status = r.str("status");
        let status_text = match r.kind {
            RowKind::Frontend => status,
            _ => format!("{} {}", human(r.u64("lastchg")), status),
        };
        let _ = write!(out, "<td class=\"ac status\">{}</td>", esc(&status_text));
        let chk = r.str("check_status");
        let _ = write!(
            out,
            "<td class=ac>{}{}</td>",
            esc(&chk),
            match r.get("check_duration").as_u64() {
                Some(d) if !chk.is_empty() => format!(" in {d}ms"),
                _ => String::new(),
            }
        );
        cell(out, "weight");
        match r.kind {
            RowKind::Frontend => out.push_str("<td></td><td></td>"),
            RowKind::Backend => {
                cell(out, "act");
                cell(out, "bck");
            }
            RowKind::Server => {
                let act = r.u64("act") == 1;
                out.push_str(if act {
                    "<td class=ac>Y</td><td class=ac>-</td>"
                } else {
                    "<td class=ac>-</td><td class=ac>Y</td>"
                });
            }
        }
        cell(out, "chkfail");
        cell(out, "chkdown");
        let dt = r.get("downtime").as_u64();
        let _ = write!(
            out,
            "<td>{}</td><td></td>",
            dt.map(human).unwrap_or_default()
        );
        for t in super::LATENCY_TIMERS {
            latency_cell(out, r, t);
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>");
    if form {
        let _ = write!(
            out,
            "Choose the action to perform on the checked servers : <select name=action><option value=\"\"></option><option value=\"ready\">Set state to READY</option><option value=\"drain\">Set state to DRAIN</option><option value=\"maint\">Set state to MAINT</option><option value=\"hrunn\">Health: force UP</option><option value=\"hnolb\">Health: force NOLB</option><option value=\"hdown\">Health: force DOWN</option><option value=\"shutdown\">Kill Sessions</option></select><input type=\"hidden\" name=\"b\" value=\"#{iid}\">&nbsp;<input type=\"submit\" value=\"Apply\"></form>"
        );
    }
    out.push_str("<p>\n");
}
