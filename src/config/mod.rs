//! Configuration loading: `haproxy.cfg` text in, [`crate::model::Model`] out.
//!
//! Pipeline: [`lexer`] splits lines into words, [`parser`] (with [`global`] and [`server`])
//! fills a per-section representation with `defaults` inherited, and [`build`] cross-checks it
//! and produces the model. Every problem is collected: parsing continues after an error and
//! the build checks run even when parsing failed, so one run reports everything. Messages use
//! HAProxy 2.6's wording (see [`error`]); `docs/CONFIG.md` lists the supported dialect.
//! This module owns reading files and directories; the runtime never sees configuration text.

// Bottom-up, as `src/lib.rs`: a file imports only the files listed before it (`layer_test`).
// Shared pieces: messages and units, the section facts, then the keyword files (each fills
// its part of a section), the proxy section they make up, the dispatcher and the build.
pub mod error;
pub mod units;
pub mod section;
pub mod acl;
pub mod addr;
pub mod keywords;
pub mod lexer;
pub mod log;
pub mod tls;
pub mod check;
pub mod cookie;
pub mod rules;
pub mod errors;
pub mod http;
pub mod server;
pub mod proxy;
pub mod balance;
pub mod global;
pub mod retry;
pub mod stats;
pub mod tcpcheck;
pub mod parser;
pub mod build;

use std::path::{Path, PathBuf};

pub(crate) use error::ConfigErrors;

use crate::config::error::Diagnostics;
use crate::config::parser::Parser;

/// A loaded configuration and the warnings found while loading it.
#[derive(Debug)]
pub struct Loaded {
    pub model: crate::model::Model,
    pub warnings: Vec<String>,
}

/// Loads every `-f` argument in order. A directory contributes its `*.cfg` files in lexical
/// order, as HAProxy does.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, ConfigErrors> {
    let mut files: Vec<(String, String)> = Vec::new();
    let mut diags = Diagnostics::default();
    let mut open_errors = Vec::new();
    for path in paths {
        match read_path(path) {
            Ok(mut contents) => files.append(&mut contents),
            Err(e) => open_errors.push(e),
        }
    }
    let env = |name: &str| std::env::var(name).ok();
    let result = load_sources(&files, &env, &mut diags);
    match result {
        Ok(loaded) if open_errors.is_empty() => Ok(loaded),
        Ok(loaded) => Err(ConfigErrors {
            alerts: open_errors,
            warnings: loaded.warnings,
            files: Vec::new(),
        }),
        Err(mut e) => {
            open_errors.append(&mut e.alerts);
            e.alerts = open_errors;
            Err(e)
        }
    }
}

/// Parses in-memory text; `name` is the file name used in messages.
pub fn load_str(name: &str, text: &str) -> Result<Loaded, ConfigErrors> {
    let env = |var: &str| std::env::var(var).ok();
    let mut diags = Diagnostics::default();
    load_sources(&[(name.to_string(), text.to_string())], &env, &mut diags)
}

/// Parses `(file name, text)` sources in order with a given environment (tests inject one,
/// since changing the process environment is unsafe in edition 2024).
pub(crate) fn load_sources(
    sources: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> Result<Loaded, ConfigErrors> {
    let mut parser = Parser::new(diags, env);
    for (name, text) in sources {
        parser.parse_file(name, text);
    }
    let parsed = parser.parsed;
    let model = build::build(parsed, diags);
    if diags.has_alerts() {
        return Err(std::mem::take(diags).into_errors());
    }
    Ok(Loaded {
        model,
        warnings: diags.warnings(),
    })
}

/// The OS error text without Rust's " (os error N)" suffix, as C's `strerror()` prints it.
fn os_error_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

/// Reads a file, or a directory's `*.cfg` files in lexical order.
fn read_path(path: &Path) -> Result<Vec<(String, String)>, String> {
    let cannot = |e: &std::io::Error| {
        format!(
            "Cannot open configuration file/directory {} : {}",
            path.display(),
            os_error_text(e)
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| cannot(&e))?;
    if !meta.is_dir() {
        let bytes = std::fs::read(path).map_err(|e| cannot(&e))?;
        return Ok(vec![(
            path.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        )]);
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| cannot(&e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cfg") && p.is_file())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let bytes = std::fs::read(&name).map_err(|e| {
            format!(
                "Cannot open configuration file/directory {} : {}",
                name.display(),
                os_error_text(&e)
            )
        })?;
        out.push((
            name.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_http;
