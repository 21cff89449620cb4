//! A proxy section as written (`ProxyConf`): what `parser` fills by handing each keyword file
//! the part it parses (with the section's facts, `section::Section`), and what `build` turns
//! into the model.

use crate::acl::Condition;
use crate::config::check::CheckConf;
use crate::config::error::Span;
use crate::config::http::HttpConf;
use crate::config::server::ServerConf;
use crate::hash::HashType;
use crate::model::{Balance, Bind, Mode, SpliceOptions, Timeouts};

pub(crate) use crate::config::section::Kind;

/// One proxy or defaults section as written, with inherited values already applied.
#[derive(Clone, Debug)]
pub struct ProxyConf {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) span: Span,
    /// Set when the header was invalid or duplicated: the body is checked, the proxy not built.
    pub(crate) discard: bool,
    pub(crate) mode: Mode,
    pub(crate) maxconn: Option<u32>,
    pub(crate) default_backend: Option<(String, Span)>,
    /// `use_backend` rules in order: backend name, line, condition.
    pub(crate) use_backends: Vec<(String, Span, Option<Condition>)>,
    pub(crate) balance: Balance,
    pub(crate) timeouts: Timeouts,
    /// Timeouts as inherited from the defaults section, to warn on overwrites like HAProxy.
    pub(crate) inherited_timeouts: Timeouts,
    pub(crate) retries: u32,
    pub(crate) retry_on: crate::model::RetryOn,
    pub(crate) redispatch: Option<i32>,
    pub(crate) allbackups: bool,
    /// `option idle-close-on-response`: a soft stop leaves idle client connections open
    /// until their next response (or their timeout).
    pub(crate) idle_close_on_response: bool,
    /// `cookie NAME ...`: persistence (backend capability).
    pub(crate) cookie: Option<crate::http::cookie::CookieConf>,
    /// `option persist`: a cookie naming a down server still sends the request there.
    pub(crate) persist: bool,
    pub(crate) splice: SpliceOptions,
    /// `hash-type`.
    pub(crate) hash_type: HashType,
    /// `hash-balance-factor` (0: off).
    pub(crate) hash_balance_factor: u32,
    pub(crate) binds: Vec<Bind>,
    pub(crate) servers: Vec<ServerConf>,
    /// The `default-server` template the next `server` lines start from.
    pub(crate) default_server: ServerConf,
    /// `fullconn` (0: HAProxy's default, computed from the frontends).
    pub(crate) fullconn: u32,
    /// For defaults sections: some proxy named it with `from`.
    pub(crate) explicitly_referenced: bool,
    /// HTTP keywords, ACLs, rules and error pages.
    pub(crate) http: HttpConf,
    /// Health-check keywords (`option httpchk`, `http-check`).
    pub(crate) check: CheckConf,
    /// `log`, `log-format`, `log-tag`, `option tcplog|httplog|dontlognull|...`.
    pub(crate) log: crate::config::log::ProxyLogConf,
    /// `load-server-state-from-file`.
    pub(crate) load_server_state: crate::model::LoadServerState,
    /// `server-state-file-name` (`None`: the backend's name).
    pub(crate) server_state_file_name: Option<String>,
}

impl ProxyConf {
    pub(crate) fn new(kind: Kind, name: &str, span: &Span) -> ProxyConf {
        ProxyConf {
            kind,
            name: name.to_string(),
            span: span.clone(),
            discard: false,
            mode: Mode::Tcp,
            maxconn: None,
            default_backend: None,
            use_backends: Vec::new(),
            balance: Balance::RoundRobin,
            timeouts: Timeouts::default(),
            inherited_timeouts: Timeouts::default(),
            retries: 3,
            retry_on: crate::model::RetryOn::default(),
            redispatch: None,
            allbackups: false,
            idle_close_on_response: false,
            cookie: None,
            persist: false,
            splice: SpliceOptions::default(),
            hash_type: HashType::default(),
            hash_balance_factor: 0,
            binds: Vec::new(),
            servers: Vec::new(),
            default_server: ServerConf::template(),
            fullconn: 0,
            explicitly_referenced: false,
            http: HttpConf::default(),
            check: CheckConf::default(),
            log: Default::default(),
            load_server_state: crate::model::LoadServerState::None,
            server_state_file_name: None,
        }
    }

    /// A new section that inherits everything `self` (a defaults section) carries.
    pub(crate) fn derive(&self, kind: Kind, name: &str, span: &Span) -> ProxyConf {
        ProxyConf {
            kind,
            name: name.to_string(),
            span: span.clone(),
            discard: false,
            inherited_timeouts: self.timeouts,
            binds: Vec::new(),
            servers: Vec::new(),
            use_backends: Vec::new(),
            explicitly_referenced: false,
            http: self.http.inherited(),
            check: self.check.inherited(),
            ..self.clone()
        }
    }
}
