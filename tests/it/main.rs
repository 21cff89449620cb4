//! Integration tests: the proxy on real sockets on 127.0.0.1 with real backends.
// A failed unwrap is a failed test; the lints on indexes and narrowing casts are for the
// proxy's code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod util;

mod aborts;
mod advise;
mod api;
mod balance;
mod checks;
mod checks_kinds;
mod cli;
mod cookie;
mod crash;
mod failover;
mod http;
mod http_more;
mod limits;
mod limits_dyn;
mod logs;
mod passive;
mod proxy_protocol;
mod queue;
mod reload;
mod retry;
mod stats;
mod tcp;
mod tls;
