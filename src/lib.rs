//! Ravelin: a load balancer and reverse proxy that reads the haproxy.cfg dialect.
//!
//! Data flows top to bottom: `config` (text → model) → `model` (frozen, shared) → `worker`
//! (one reactor thread per core) → `reactor` (event loop) → `conn` (per-protocol state machines)
//! using `balance` and `server` (shared atomics). Only `sys` contains `unsafe`.

pub mod config;
pub mod model;
