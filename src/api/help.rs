//! The command table of the runtime API (keywords, usage lines as HAProxy 2.6 prints them,
//! the level each needs) and HAProxy's help / "Unknown command" message
//! (`cli_gen_usage_msg()`: exact-prefix matching, then fuzzy matching on the remaining words
//! with 2-gram fingerprints).

use crate::model::CliLevel;

/// One command: its keywords, its usage line (`None`: hidden) and the level it needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keyword {
    pub(crate) words: &'static [&'static str],
    pub(crate) usage: Option<&'static str>,
    pub(crate) level: CliLevel,
}

const fn kw(words: &'static [&'static str], usage: &'static str, level: CliLevel) -> Keyword {
    Keyword {
        words,
        usage: Some(usage),
        level,
    }
}

use CliLevel::{Admin, Operator, User};

/// Every command Ravelin knows, usage texts byte for byte as HAProxy 2.6's.
pub(crate) const KEYWORDS: &[Keyword] = &[
    kw(
        &["abort", "ssl", "cert"],
        "abort ssl cert <certfile>               : abort a transaction for a certificate file",
        Admin,
    ),
    kw(
        &["add", "server"],
        "add server <bk>/<srv>                   : create a new server",
        Admin,
    ),
    kw(
        &["clear", "counters"],
        "clear counters [all]                    : clear max statistics counters (or all counters)",
        Operator,
    ),
    kw(
        &["commit", "ssl", "cert"],
        "commit ssl cert <certfile>              : commit a certificate file",
        Admin,
    ),
    kw(
        &["del", "server"],
        "del server <bk>/<srv>                   : remove a dynamically added server",
        Admin,
    ),
    kw(
        &["disable", "agent"],
        "disable agent                           : disable agent checks",
        Admin,
    ),
    kw(
        &["disable", "health"],
        "disable health                          : disable health checks",
        Admin,
    ),
    kw(
        &["disable", "server"],
        "disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)",
        Admin,
    ),
    kw(
        &["enable", "agent"],
        "enable agent                            : enable agent checks",
        Admin,
    ),
    kw(
        &["enable", "health"],
        "enable health                           : enable health checks",
        Admin,
    ),
    kw(
        &["enable", "server"],
        "enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)",
        Admin,
    ),
    kw(
        &["get", "weight"],
        "get weight <bk>/<srv>                   : report a server's current weight",
        User,
    ),
    kw(
        &["operator"],
        "operator                                : lower the level of the current CLI session to operator",
        User,
    ),
    kw(
        &["set", "maxconn", "frontend"],
        "set maxconn frontend <frontend> <value> : change a frontend's maxconn setting",
        Admin,
    ),
    kw(
        &["set", "maxconn", "global"],
        "set maxconn global <value>              : change the per-process maxconn setting",
        Admin,
    ),
    kw(
        &["set", "maxconn", "server"],
        "set maxconn server <bk>/<srv>           : change a server's maxconn setting",
        Admin,
    ),
    kw(
        &["set", "server"],
        "set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl",
        Admin,
    ),
    kw(
        &["set", "ssl", "cert"],
        "set ssl cert <certfile> <payload>       : replace a certificate file",
        Admin,
    ),
    kw(
        &["set", "weight"],
        "set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)",
        Admin,
    ),
    kw(
        &["show", "backend"],
        "show backend                            : list backends in the current running config",
        User,
    ),
    kw(
        &["show", "cli", "level"],
        "show cli level                          : display the level of the current CLI session",
        User,
    ),
    kw(
        &["show", "errors"],
        "show errors [<px>] [request|response]   : report last request and/or response errors for each proxy",
        Operator,
    ),
    kw(
        &["show", "info"],
        "show info [desc|json|typed|float]*      : report information about the running process",
        User,
    ),
    kw(
        &["show", "servers", "state"],
        "show servers state [<backend>]          : dump volatile server information (all or for a single backend)",
        User,
    ),
    kw(
        &["show", "sess"],
        "show sess [id]                          : report the list of current sessions or dump this exact session",
        Operator,
    ),
    kw(
        &["show", "stat"],
        "show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server",
        User,
    ),
    kw(
        &["shutdown", "session"],
        "shutdown session [id]                   : kill a specific session",
        Admin,
    ),
    kw(
        &["shutdown", "sessions", "server"],
        "shutdown sessions server <bk>/<srv>     : kill sessions on a server",
        Admin,
    ),
    kw(
        &["user"],
        "user                                    : lower the level of the current CLI session to user",
        User,
    ),
    Keyword {
        words: &["_getsocks"],
        usage: None,
        level: Admin,
    },
];

/// HAProxy's `CLI_MAX_MATCHES` and `CLI_PREFIX_KW_NB`.
const MAX_MATCHES: usize = 5;
const PREFIX_KW_NB: usize = 5;

/// The command `args` names (its keywords all equal the first arguments).
pub(crate) fn find(args: &[&str]) -> Option<&'static Keyword> {
    KEYWORDS
        .iter()
        .find(|k| k.words.len() <= args.len() && k.words.iter().zip(args).all(|(w, a)| w == a))
}

/// HAProxy's `update_word_fingerprint()`: counts the letter 2-grams of `word` (letters
/// 1..=26, digits 27, anything else and the word's begin/end 28).
fn fingerprint(fp: &mut [u8; 1024], word: &str) {
    let class = |b: u8| -> usize {
        match b.to_ascii_lowercase() {
            c @ b'a'..=b'z' => usize::from(c - b'a') + 1,
            b'0'..=b'9' => 27,
            _ => 28,
        }
    };
    let mut from = 28;
    for b in word.bytes() {
        let to = class(b);
        if let Some(x) = fp.get_mut(32 * from + to) {
            *x = x.saturating_add(1);
        }
        from = to;
    }
    if let Some(x) = fp.get_mut(32 * from + 28) {
        *x = x.saturating_add(1);
    }
}

/// The help text (`help [words]`) or the "Unknown command" text for `args`, as HAProxy's
/// `cli_gen_usage_msg()`.
pub(crate) fn usage(args: &[&str], out: &mut String) {
    let (ishelp, args) = match args.split_first() {
        Some((&"help", rest)) => (true, rest),
        _ => (false, args),
    };
    let arg = |i: usize| args.get(i).copied().filter(|a| !a.is_empty());
    // The longest run of exactly matching words.
    let mut length = 0;
    for k in KEYWORDS {
        for (i, w) in k.words.iter().enumerate().take(PREFIX_KW_NB) {
            match arg(i) {
                Some(a) if a == *w => length = length.max(i + 1),
                _ => break,
            }
        }
    }
    out.push_str(if ishelp {
        "The following commands are valid at this level:\n"
    } else if length == 0 && arg(0).is_none() {
        "Unknown command. Please enter one of the following commands only:\n"
    } else {
        "Unknown command, but maybe one of the following ones is a better match:\n"
    });
    let prefix_ok =
        |k: &Keyword| (0..length).all(|i| k.words.get(i).is_some_and(|w| Some(*w) == arg(i)));
    let mut matches: Vec<(usize, &Keyword)> = Vec::new();
    if arg(length).is_some() {
        for k in KEYWORDS
            .iter()
            .filter(|k| k.usage.is_some() && prefix_ok(k))
        {
            let mut a = [0u8; 1024];
            let mut b = [0u8; 1024];
            let mut total = 0;
            for w in (length..PREFIX_KW_NB).map_while(arg) {
                fingerprint(&mut a, w);
                total += w.len();
            }
            for w in k.words.iter().skip(length).take(PREFIX_KW_NB - length) {
                fingerprint(&mut b, w);
                total += w.len();
            }
            let dist: usize = a
                .iter()
                .zip(b.iter())
                .map(|(x, y)| usize::from(x.abs_diff(*y)))
                .sum();
            if dist < 5 * total / 2 {
                // Kept sorted, ties in table order (HAProxy keeps the first seen).
                let at = matches.partition_point(|(d, _)| *d <= dist);
                matches.insert(at, (dist, k));
                matches.truncate(MAX_MATCHES);
            }
        }
    }
    let mut entries: Vec<&Keyword> = match matches.first() {
        Some((best, _)) => matches
            .iter()
            .take_while(|(d, _)| *d <= 5 * best / 2)
            .map(|(_, k)| *k)
            .collect(),
        None => KEYWORDS
            .iter()
            .filter(|k| k.usage.is_some() && prefix_ok(k))
            .collect(),
    };
    entries.sort_by(|a, b| a.words.cmp(b.words));
    for k in entries {
        if let Some(u) = k.usage {
            out.push_str("  ");
            out.push_str(u);
            out.push('\n');
        }
    }
    out.push_str(
        "  help [<command>]                        : list matching or all commands\n  prompt                                  : toggle interactive mode with prompt\n  quit                                    : disconnect\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_word_is_fuzzy_matched() {
        let mut out = String::new();
        usage(&["shwo"], &mut out);
        assert!(out.starts_with(
            "Unknown command, but maybe one of the following ones is a better match:\n"
        ));
        assert!(out.ends_with("  quit                                    : disconnect\n"));
        let mut out = String::new();
        usage(&["set"], &mut out);
        assert!(out.contains("  set server <bk>/<srv> [opts]"), "{out}");
        assert!(!out.contains("show"), "{out}");
        let mut out = String::new();
        usage(&[], &mut out);
        assert!(
            out.starts_with("Unknown command. Please enter one of the following commands only:\n")
        );
        assert!(out.contains("  show stat ["));
    }

    #[test]
    fn help_lists_in_keyword_order() {
        let mut out = String::new();
        usage(&["help", "show"], &mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines.first(),
            Some(&"The following commands are valid at this level:")
        );
        assert_eq!(
            lines.get(1),
            Some(
                &"  show backend                            : list backends in the current running config"
            )
        );
        let servers = out.find("show servers state").unwrap_or(0);
        let sess = out.find("show sess").unwrap_or(0);
        assert!(servers < sess);
    }

    #[test]
    fn find_needs_every_keyword() {
        assert!(find(&["show", "servers", "state", "be"]).is_some());
        assert!(find(&["show", "servers"]).is_none());
        assert!(find(&["set", "maxconn", "global", "5"]).is_some_and(|k| k.words.len() == 3));
    }
}
