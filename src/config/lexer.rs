//! Splitting configuration lines into words, exactly as HAProxy 2.6's `parse_line()` does.
//!
//! Handles `#` comments, `"..."` and `'...'` quoting, backslash escapes (`\ `, `\\`, `\#`,
//! `\'`, `\"`, `\$`, `\r`, `\n`, `\t`, `\xHH`) and environment variables inside double quotes
//! (`"$VAR"`, `"${VAR}"`, `"${VAR-default}"`, `"${VAR[*]}"`); see section 2.2 and 2.3 of the
//! manual. An unset variable expands to nothing. The lexer knows nothing about keywords: it
//! returns words, or a [`LexError`] that formats like HAProxy's message with a caret line.

use std::fmt;

/// HAProxy's `MAX_LINE_ARGS`: words after the 64th are an error.
pub(crate) const MAX_LINE_ARGS: usize = 64;

/// Width HAProxy uses when echoing a faulty line (`sanitize_for_printing(.., 80)`).
const ECHO_WIDTH: usize = 80;

/// What went wrong while splitting a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LexErrorKind {
    UnmatchedQuote,
    BadHex,
    UnmatchedBrace,
    ForbiddenVarChar,
    BadWordExpand,
    StrayNul,
    /// More than [`MAX_LINE_ARGS`] words; carries HAProxy's reported position and word.
    TooManyWords,
}

/// A lexer error, with the position (0-based byte offset into the raw line) HAProxy points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LexError {
    pub(crate) kind: LexErrorKind,
    pub(crate) pos: usize,
    /// The raw line, for the echo with a caret.
    pub(crate) line: String,
    /// For `TooManyWords`: the last word kept.
    pub(crate) word: String,
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            LexErrorKind::UnmatchedQuote => "unmatched quote",
            LexErrorKind::BadHex => "truncated or invalid hexadecimal sequence",
            LexErrorKind::UnmatchedBrace => "unmatched brace in environment variable name",
            LexErrorKind::ForbiddenVarChar => "forbidden first char in environment variable name",
            LexErrorKind::BadWordExpand => "incorrect word expansion sequence '[*]'",
            LexErrorKind::StrayNul => {
                return write!(f, "Stray NUL character at position {}.", self.pos + 1);
            }
            LexErrorKind::TooManyWords => {
                return write!(
                    f,
                    "too many words, truncating after word {MAX_LINE_ARGS}, position {}: <{}>.",
                    self.pos + 1,
                    self.word
                );
            }
        };
        let raw = self.line.as_bytes();
        let skip = raw.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let trimmed = raw.get(skip..).unwrap_or_default();
        let (echo, newpos) = sanitize_for_printing(trimmed, self.pos.saturating_sub(skip));
        write!(
            f,
            "{what} at position {}:\n  {echo}\n  {:>width$}",
            self.pos + 1,
            "^",
            width = newpos + 1
        )
    }
}

/// HAProxy's `sanitize_for_printing()`: keeps about `ECHO_WIDTH` chars around `pos`, replaces
/// spaces by ' ' and non-printable bytes by '?', and returns the new position of `pos`.
fn sanitize_for_printing(line: &[u8], pos: usize) -> (String, usize) {
    let mut out = String::new();
    let mut shift = 0;
    let mut start = 0;
    let mut end = ECHO_WIDTH;
    let shifted = pos >= ECHO_WIDTH;
    if shifted {
        shift = pos - ECHO_WIDTH / 2;
        start = shift + 3;
        end = ECHO_WIDTH - 3;
        out.push_str("...");
    }
    for &b in line.iter().skip(start) {
        if out.len() >= end {
            break;
        }
        out.push(match b {
            b if b.is_ascii_whitespace() => ' ',
            b if b.is_ascii_graphic() => char::from(b),
            _ => '?',
        });
    }
    if shifted {
        out.push_str("...");
    }
    (out, pos - shift)
}

/// Splits one raw line (without its newline) into words. `env` looks variables up.
///
/// Words are returned as HAProxy sees them, except that an empty word ends the list: HAProxy's
/// arguments are NUL-terminated strings, so every keyword parser stops at the first empty one
/// (`daemon ""` is `daemon`, and a line starting with `"${UNSET}"` is ignored).
pub(crate) fn split_line(
    line: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, LexError> {
    let raw = line.as_bytes();
    let err = |kind, pos| LexError {
        kind,
        pos,
        line: line.to_string(),
        word: String::new(),
    };
    if let Some(nul) = raw.iter().position(|&b| b == 0) {
        return Err(err(LexErrorKind::StrayNul, nul));
    }
    let mut words: Vec<Vec<u8>> = vec![Vec::new()];
    let mut i = raw.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let mut squote = false;
    let mut dquote = false;
    let mut quote_pos = 0;
    let at = |i: usize| raw.get(i).copied().unwrap_or(0);
    // Appends to the last word being filled (`words` starts with one entry; one is added
    // if it ever were empty).
    fn push(words: &mut Vec<Vec<u8>>, b: u8) {
        match words.last_mut() {
            Some(w) => w.push(b),
            None => words.push(vec![b]),
        }
    }
    while i < raw.len() {
        let c = at(i);
        match c {
            b'\n' | b'\r' => break,
            b'#' if !squote && !dquote => break,
            b'"' if !squote => {
                dquote = !dquote;
                quote_pos = i;
                i += 1;
            }
            b'\'' if !dquote => {
                squote = !squote;
                quote_pos = i;
                i += 1;
            }
            b'\\' if !squote => {
                let next = at(i + 1);
                let (out, used) = match next {
                    b' ' | b'\\' | b'#' | b'\'' | b'"' => (next, 2),
                    b'$' if dquote => (b'$', 2),
                    b't' => (b'\t', 2),
                    b'n' => (b'\n', 2),
                    b'r' => (b'\r', 2),
                    b'x' => {
                        let (h, l) = (at(i + 2), at(i + 3));
                        match (hex(h), hex(l)) {
                            (Some(h), Some(l)) => ((h << 4) | l, 4),
                            _ => return Err(err(LexErrorKind::BadHex, i)),
                        }
                    }
                    _ => (b'\\', 1),
                };
                push(&mut words, out);
                i += used;
            }
            c if c.is_ascii_whitespace() && !squote && !dquote => {
                while at(i).is_ascii_whitespace() && i < raw.len() {
                    i += 1;
                }
                words.push(Vec::new());
            }
            b'$' if dquote => {
                i = expand_var(raw, i, env, &mut words, &err)?;
            }
            _ => {
                push(&mut words, c);
                i += 1;
            }
        }
    }
    if squote || dquote {
        return Err(err(LexErrorKind::UnmatchedQuote, quote_pos));
    }
    if words.last().is_some_and(Vec::is_empty) {
        words.pop();
    }
    if words.len() > MAX_LINE_ARGS {
        let pos: usize = words
            .iter()
            .take(MAX_LINE_ARGS - 1)
            .map(|w| w.len() + 1)
            .sum();
        let word = words
            .get(MAX_LINE_ARGS - 1)
            .map(|w| lossy(w))
            .unwrap_or_default();
        return Err(LexError {
            kind: LexErrorKind::TooManyWords,
            pos,
            line: line.to_string(),
            word,
        });
    }
    let end = words.iter().position(Vec::is_empty).unwrap_or(words.len());
    words.truncate(end);
    Ok(words.iter().map(|w| lossy(w)).collect())
}

fn lossy(w: &[u8]) -> String {
    String::from_utf8_lossy(w).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Expands the variable starting at `raw[start] == '$'` into the current word (or several
/// words for `${VAR[*]}`); returns the index after it.
fn expand_var(
    raw: &[u8],
    start: usize,
    env: &dyn Fn(&str) -> Option<String>,
    words: &mut Vec<Vec<u8>>,
    err: &dyn Fn(LexErrorKind, usize) -> LexError,
) -> Result<usize, LexError> {
    let at = |i: usize| raw.get(i).copied().unwrap_or(0);
    let mut i = start + 1;
    let brace = if at(i) == b'{' {
        i += 1;
        Some(i - 1)
    } else {
        None
    };
    let first = at(i);
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return Err(err(LexErrorKind::ForbiddenVarChar, i));
    }
    let name_start = i;
    while at(i).is_ascii_alphanumeric() || at(i) == b'_' {
        i += 1;
    }
    let name = String::from_utf8_lossy(raw.get(name_start..i).unwrap_or_default()).into_owned();
    let mut value = env(&name).map(String::into_bytes);
    let mut expand = false;
    if let Some(brace_pos) = brace {
        if at(i) == b'[' {
            if at(i + 1) != b'*' || at(i + 2) != b']' {
                return Err(err(LexErrorKind::BadWordExpand, i));
            }
            expand = true;
            i += 3;
        }
        if at(i) == b'-' {
            let dflt_start = i + 1;
            while i < raw.len() && at(i) != b'}' {
                i += 1;
            }
            if i >= raw.len() {
                return Err(err(LexErrorKind::UnmatchedBrace, brace_pos));
            }
            if value.is_none() {
                value = Some(raw.get(dflt_start..i).unwrap_or_default().to_vec());
            }
        } else if at(i) != b'}' {
            return Err(err(LexErrorKind::UnmatchedBrace, brace_pos));
        }
        i += 1;
    }
    let value = value.unwrap_or_default();
    let mut k = 0;
    while k < value.len() {
        let b = value.get(k).copied().unwrap_or(0);
        if expand && b.is_ascii_whitespace() {
            words.push(Vec::new());
            while value.get(k).is_some_and(u8::is_ascii_whitespace) {
                k += 1;
            }
            continue;
        }
        match words.last_mut() {
            Some(w) => w.push(b),
            None => words.push(vec![b]),
        }
        k += 1;
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("bar".into()),
            "SP" => Some("a  b".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn split(l: &str) -> Vec<String> {
        match split_line(l, &env) {
            Ok(w) => w,
            Err(e) => vec![format!("ERR {e}")],
        }
    }

    #[test]
    fn plain_words_and_comments() {
        assert_eq!(split("  bind  :80   # comment"), vec!["bind", ":80"]);
        assert_eq!(split("# only a comment"), Vec::<String>::new());
        assert_eq!(split("   "), Vec::<String>::new());
        assert_eq!(split("a\tb\r\n"), vec!["a", "b"]);
        assert_eq!(split("a#b"), vec!["a"]);
    }

    #[test]
    fn quotes() {
        assert_eq!(split(r#"log "a b" 'c d'"#), vec!["log", "a b", "c d"]);
        assert_eq!(
            split(r#"x "it's" 'say "hi"'"#),
            vec!["x", "it's", "say \"hi\""]
        );
        assert_eq!(split(r#"x "a # b""#), vec!["x", "a # b"]);
        assert_eq!(split(r#"x a"b"c"#), vec!["x", "abc"]);
    }

    #[test]
    fn escapes() {
        assert_eq!(split(r"x a\ b"), vec!["x", "a b"]);
        assert_eq!(split(r"x a\#b"), vec!["x", "a#b"]);
        assert_eq!(split(r"x a\\b"), vec!["x", r"a\b"]);
        assert_eq!(split(r#"x \"q\'"#), vec!["x", "\"q'"]);
        assert_eq!(split(r"x \t\n\r"), vec!["x", "\t\n\r"]);
        assert_eq!(split(r"x \x41\x62"), vec!["x", "Ab"]);
        assert_eq!(split(r"x \q"), vec!["x", r"\q"]);
        assert_eq!(split(r"x '\t'"), vec!["x", r"\t"]);
        assert_eq!(split(r#"x "\$FOO" \$FOO"#), vec!["x", "$FOO", r"\$FOO"]);
    }

    #[test]
    fn env_vars() {
        assert_eq!(
            split(r#"x "$FOO" "${FOO}" '$FOO' $FOO"#),
            vec!["x", "bar", "bar", "$FOO", "$FOO"]
        );
        assert_eq!(
            split(r#"x "${NOPE-dflt}" "${FOO-dflt}""#),
            vec!["x", "dflt", "bar"]
        );
        assert_eq!(split(r#"x "pre${FOO}post""#), vec!["x", "prebarpost"]);
        assert_eq!(split(r#"x "${NOPE-a b}""#), vec!["x", "a b"]);
        assert_eq!(split(r#"bind "fd@${NOPE}""#), vec!["bind", "fd@"]);
        assert_eq!(split(r#"x "${SP[*]}" y"#), vec!["x", "a", "b", "y"]);
        assert_eq!(split(r#"x "${SP}""#), vec!["x", "a  b"]);
    }

    #[test]
    fn empty_word_ends_the_line() {
        // HAProxy's args are NUL-terminated: keyword parsers stop at the first empty one.
        assert_eq!(split(r#"daemon "${NOPE}" x"#), vec!["daemon"]);
        assert_eq!(split(r#""${NOPE}" x"#), Vec::<String>::new());
        assert_eq!(split(r#"daemon """#), vec!["daemon"]);
        assert_eq!(split(r#"x "${EMPTY}" y"#), vec!["x"]);
        assert_eq!(split(r#"" ${NOPE}" x"#), vec![" ", "x"]);
    }

    #[test]
    fn errors_format_like_haproxy() {
        assert_eq!(
            split(r#"    pidfile "/tmp/x"#),
            vec!["ERR unmatched quote at position 13:\n  pidfile \"/tmp/x\n          ^"]
        );
        assert_eq!(
            split(r"    pidfile /tmp/\xZZ"),
            vec![
                "ERR truncated or invalid hexadecimal sequence at position 18:\n  pidfile /tmp/\\xZZ\n               ^"
            ]
        );
        assert_eq!(
            split(r#"    pidfile "${FOO""#),
            vec![
                "ERR unmatched brace in environment variable name at position 15:\n  pidfile \"${FOO\"\n            ^"
            ]
        );
        assert_eq!(
            split(r#"    pidfile "$1abc""#),
            vec![
                "ERR forbidden first char in environment variable name at position 15:\n  pidfile \"$1abc\"\n            ^"
            ]
        );
        assert_eq!(
            split("    daemon\0 foo"),
            vec!["ERR Stray NUL character at position 11."]
        );
        assert_eq!(
            split(r"x \x4"),
            vec!["ERR truncated or invalid hexadecimal sequence at position 3:\n  x \\x4\n    ^"]
        );
    }

    #[test]
    fn too_many_words() {
        let words: Vec<String> = (0..70).map(|i| format!("w{i}")).collect();
        let line = format!("    log {}", words.join(" "));
        assert_eq!(
            split(&line),
            vec!["ERR too many words, truncating after word 64, position 243: <w62>."]
        );
        let ok: Vec<String> = (0..63).map(|i| format!("w{i}")).collect();
        assert_eq!(split(&format!("log {}", ok.join(" "))).len(), 64);
    }

    #[test]
    fn long_line_echo_is_shortened() {
        let line = format!("{} \"x", "a".repeat(200));
        let e = split(&line);
        let first = e.first().cloned().unwrap_or_default();
        assert!(
            first.starts_with("ERR unmatched quote at position 202:\n  ..."),
            "{first}"
        );
        let echo = first.lines().nth(1).unwrap_or_default();
        assert!(echo.len() <= 2 + ECHO_WIDTH, "{}", echo.len());
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let mut seed: u32 = 12345;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    let pick = b"\"'\\$ {}-[*]x#\t\n\r\0aZ9\xff";
                    pick[(seed >> 16) as usize % pick.len()]
                })
                .collect();
            let s = String::from_utf8_lossy(&bytes);
            let _ = split_line(&s, &env);
            let _ = split_line(&s, &env).map_err(|e| e.to_string());
        }
        let _ = split_line(&"\"".repeat(100_000), &env).map_err(|e| e.to_string());
        let _ = split_line(&"a ".repeat(100_000), &env).map_err(|e| e.to_string());
        let _ = split_line("\"${", &env).map_err(|e| e.to_string());
        let _ = split_line("\"${A", &env).map_err(|e| e.to_string());
        let _ = split_line("\"${A-", &env).map_err(|e| e.to_string());
        let _ = split_line("\"${A[", &env).map_err(|e| e.to_string());
        let _ = split_line("\"$", &env).map_err(|e| e.to_string());
        let _ = split_line("\\", &env).map_err(|e| e.to_string());
    }
}
