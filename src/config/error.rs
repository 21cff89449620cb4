//! Configuration diagnostics: alerts and warnings with the place they refer to.
//!
//! Every message is formatted the way HAProxy 2.6 prints it after its `[ALERT] (pid) : config : `
//! prefix, because users compare Ravelin's output with `haproxy -c`. HAProxy is not consistent
//! about the head of its messages (`parsing [f:1] : `, `parsing [f:1]: `, `[f:1] : `,
//! `Parsing [f:1]: ` or nothing), so each diagnostic records which head it uses.
//! This module only formats; deciding what is wrong belongs to the lexer, parser and build steps.

use std::fmt;

/// How serious a diagnostic is. Alerts make the load fail; warnings are reported and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    Alert,
    Warning,
}

/// The place a diagnostic refers to: a file and a 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) file: String,
    pub(crate) line: u32,
}

impl Span {
    pub(crate) fn new(file: &str, line: u32) -> Span {
        Span {
            file: file.to_string(),
            line,
        }
    }
}

/// The head HAProxy puts before a message, which varies with the code path that reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Head {
    /// `parsing [file:line] : ` (the common one).
    Parsing,
    /// `parsing [file:line]: ` (lexer errors, `option` errors, some section errors).
    ParsingTight,
    /// `Parsing [file:line]: ` (duplicate proxy names).
    ParsingCapital,
    /// `[file:line] : ` (server lines, post-parse server checks).
    Bracket,
    /// No place at all (post-parse checks on proxies).
    Bare,
}

/// One alert or warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConfigError {
    pub(crate) severity: Severity,
    pub(crate) span: Span,
    pub(crate) head: Head,
    /// The text after the head, HAProxy's wording where HAProxy has one.
    pub(crate) message: String,
}

impl ConfigError {
    /// An alert with the common `parsing [f:l] : ` head.
    pub(crate) fn alert(span: &Span, message: impl Into<String>) -> ConfigError {
        ConfigError::with_head(Severity::Alert, Head::Parsing, span, message)
    }

    /// A warning with the common `parsing [f:l] : ` head.
    pub(crate) fn warning(span: &Span, message: impl Into<String>) -> ConfigError {
        ConfigError::with_head(Severity::Warning, Head::Parsing, span, message)
    }

    pub(crate) fn with_head(
        severity: Severity,
        head: Head,
        span: &Span,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            severity,
            span: span.clone(),
            head,
            message: message.into(),
        }
    }

    /// A post-parse alert that HAProxy prints without a place.
    pub(crate) fn bare_alert(message: impl Into<String>) -> ConfigError {
        ConfigError::with_head(Severity::Alert, Head::Bare, &Span::default(), message)
    }

    /// A post-parse warning that HAProxy prints without a place.
    pub(crate) fn bare_warning(message: impl Into<String>) -> ConfigError {
        ConfigError::with_head(Severity::Warning, Head::Bare, &Span::default(), message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Span { file, line } = &self.span;
        match self.head {
            Head::Parsing => write!(f, "parsing [{file}:{line}] : {}", self.message),
            Head::ParsingTight => write!(f, "parsing [{file}:{line}]: {}", self.message),
            Head::ParsingCapital => write!(f, "Parsing [{file}:{line}]: {}", self.message),
            Head::Bracket => write!(f, "[{file}:{line}] : {}", self.message),
            Head::Bare => f.write_str(&self.message),
        }
    }
}

/// What `load` returns when the configuration cannot be used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigErrors {
    /// Alert messages, in the order they were found (without HAProxy's `[ALERT]` prefix).
    pub alerts: Vec<String>,
    /// Warning messages found along the way.
    pub warnings: Vec<String>,
    /// Files that had at least one alert, for `Error(s) found in configuration file : F`.
    pub files: Vec<String>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in &self.alerts {
            writeln!(f, "[ALERT] config : {a}")?;
        }
        for file in &self.files {
            writeln!(
                f,
                "[ALERT] config : Error(s) found in configuration file : {file}"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects diagnostics while loading; turned into `ConfigErrors` or warnings at the end.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    pub(crate) items: Vec<ConfigError>,
}

impl Diagnostics {
    pub(crate) fn push(&mut self, e: ConfigError) {
        self.items.push(e);
    }

    pub(crate) fn alert(&mut self, span: &Span, message: impl Into<String>) {
        self.push(ConfigError::alert(span, message));
    }

    pub(crate) fn warning(&mut self, span: &Span, message: impl Into<String>) {
        self.push(ConfigError::warning(span, message));
    }

    pub(crate) fn has_alerts(&self) -> bool {
        self.items.iter().any(|e| e.severity == Severity::Alert)
    }

    pub(crate) fn warnings(&self) -> Vec<String> {
        self.items
            .iter()
            .filter(|e| e.severity == Severity::Warning)
            .map(ToString::to_string)
            .collect()
    }

    pub(crate) fn into_errors(self) -> ConfigErrors {
        let mut out = ConfigErrors::default();
        for e in self.items {
            match e.severity {
                Severity::Alert => {
                    if !e.span.file.is_empty() && !out.files.contains(&e.span.file) {
                        out.files.push(e.span.file.clone());
                    }
                    out.alerts.push(e.to_string());
                }
                Severity::Warning => out.warnings.push(e.to_string()),
            }
        }
        out
    }
}

/// `'kw' is a HAProxy keyword that Ravelin does not support yet.`
pub(crate) fn unsupported(kw: &str) -> String {
    format!("'{kw}' is a HAProxy keyword that Ravelin does not support yet.")
}

/// HAProxy's `alertif_too_many_args()` text.
pub(crate) fn too_many(kw: &str, arg: &str) -> String {
    format!("'{kw}' cannot handle unexpected argument '{arg}'.")
}

/// HAProxy's `invalid_char()`: the first character not in `[A-Za-z0-9_:.-]`.
pub(crate) fn invalid_char(name: &str) -> Option<char> {
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_match_haproxy() {
        let s = Span::new("f.cfg", 3);
        let m = |h| ConfigError::with_head(Severity::Alert, h, &s, "x").to_string();
        assert_eq!(m(Head::Parsing), "parsing [f.cfg:3] : x");
        assert_eq!(m(Head::ParsingTight), "parsing [f.cfg:3]: x");
        assert_eq!(m(Head::ParsingCapital), "Parsing [f.cfg:3]: x");
        assert_eq!(m(Head::Bracket), "[f.cfg:3] : x");
        assert_eq!(m(Head::Bare), "x");
    }

    #[test]
    fn errors_list_files_once() {
        let mut d = Diagnostics::default();
        d.alert(&Span::new("a.cfg", 1), "one");
        d.alert(&Span::new("a.cfg", 2), "two");
        d.warning(&Span::new("b.cfg", 2), "w");
        d.push(ConfigError::bare_alert("bare"));
        assert!(d.has_alerts());
        let e = d.into_errors();
        assert_eq!(e.files, vec!["a.cfg".to_string()]);
        assert_eq!(e.alerts.len(), 3);
        assert_eq!(e.warnings, vec!["parsing [b.cfg:2] : w".to_string()]);
    }
}
