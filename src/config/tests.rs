//! End-to-end tests of the configuration pipeline (text in, model or messages out).
//! Kept out of `mod.rs` because they outgrow it; each case mirrors a `haproxy -c` run.

use super::*;
