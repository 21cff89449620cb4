//! What a keyword parser knows of the section it parses: its kind, name and mode. Keyword files
//! take this and the part of the proxy they fill (`&mut HttpConf`, `&mut CheckConf`, the server
//! list...), never the whole `ProxyConf`, so they sit below it.

use crate::config::error::{Diagnostics, Span};
use crate::model::Mode;

/// The kind of a proxy section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    /// The section keyword.
    pub(crate) fn section(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }

    /// HAProxy's `proxy_type_str()`: how messages name the proxy.
    pub(crate) fn type_str(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "proxy",
        }
    }

    pub(crate) fn has_frontend(self) -> bool {
        matches!(self, Kind::Frontend | Kind::Listen | Kind::Defaults)
    }

    pub(crate) fn has_backend(self) -> bool {
        matches!(self, Kind::Backend | Kind::Listen | Kind::Defaults)
    }
}

/// The facts of the proxy section a keyword line is in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Section<'a> {
    pub(crate) kind: Kind,
    pub(crate) name: &'a str,
    pub(crate) mode: Mode,
}

/// HAProxy's alert for keywords refused in anonymous defaults sections; named defaults
/// sections are accepted by HAProxy but not supported by Ravelin yet. Returns whether to go on.
pub(crate) fn defaults_allowed(
    sec: Section<'_>,
    kw: &str,
    span: &Span,
    d: &mut Diagnostics,
) -> bool {
    if sec.kind != Kind::Defaults {
        return true;
    }
    if sec.name.is_empty() {
        d.alert(
            span,
            format!("'{kw}' not allowed in anonymous 'defaults' section."),
        );
    } else {
        d.alert(
            span,
            format!("'{kw}' in a named 'defaults' section is a HAProxy feature that Ravelin does not support yet."),
        );
    }
    false
}
