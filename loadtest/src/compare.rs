//! placeholder
use std::sync::atomic::AtomicBool;
pub fn run(_o: &crate::cli::CompareOpts, _stop: &AtomicBool) -> Result<(), String> { Err("todo".into()) }
