//! Ravelin: a load balancer and reverse proxy that reads the haproxy.cfg dialect.
//!
//! Data flows top to bottom: `config` (text → model) → `model` (frozen, shared) → `worker`
//! (listeners, one reactor thread per core) → `reactor` (event loop) → `conn` (per-protocol
//! state machines) using `balance` and `server` (shared atomics). Only `sys` contains `unsafe`.

pub mod acl;
pub mod advise;
pub mod api;
pub mod balance;
pub mod buffer;
pub mod check;
pub mod config;
pub mod conn;
pub mod http;
pub mod log;
pub mod model;
pub mod proxyproto;
pub mod queue;
pub mod reactor;
pub mod reload;
pub mod server;
pub mod stats;
pub mod sys;
pub mod timer;
pub mod tls;
pub mod token;
pub mod worker;

pub use reactor::ReactorOptions;
pub use worker::{Bound, Handle, StartError, bind, launch, start};
