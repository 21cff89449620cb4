//! Ravelin: a load balancer and reverse proxy that reads the haproxy.cfg dialect.
//!
//! The modules are layers, listed here from the bottom up. A module imports only modules listed
//! before it (`layer_test` reads every `crate::` path of `src/` and fails on an import that
//! goes up); docs/ARCHITECTURE.md walks the same order as the path of a request. Only `sys`
//! contains `unsafe`.

// `cast_possible_truncation` applies to the proxy's code, not to unit tests (as
// `allow-indexing-slicing-in-tests` in clippy.toml does for `indexing_slicing`).
#![cfg_attr(test, allow(clippy::cast_possible_truncation))]

// Leaves: no shared state, no protocol. The operating system, time, ids, how streams end.
pub mod sys;
pub mod timer;
pub mod civil;
pub mod term;
pub mod token;
pub mod buffer;
pub mod ids;
pub mod status;

// Protocol vocabulary: parsers and pure functions over bytes; nothing shared, nothing running.
pub mod proxyproto;
pub mod hash;
pub mod tls;
pub mod net;
pub mod http;
pub mod acl;
pub mod rules;
pub mod log;

// The frozen model every reactor runs on, and the configuration text that builds it.
pub mod model;
pub mod config;

// Shared runtime state: atomics, queues and the messages reactors send about servers.
pub mod server;

// Decisions and views over the shared state.
pub mod balance;
pub mod stats;

// Per-connection state machines: health checks, then client streams.
pub mod check;
pub mod conn;

// The event loop of one core.
pub mod reactor;

// The control plane: reload and socket handover, the runtime API, the failover advisor.
pub mod reload;
pub mod api;
pub mod advise;

// The process: listeners and reactor threads, then the mode the process runs in (serving, or
// master of workers) and its supervision by signals.
pub mod worker;
pub mod supervise;

pub use reactor::ReactorOptions;
pub use worker::{Bound, Handle, StartError, bind, launch, start};

#[cfg(test)]
mod layer_test;
