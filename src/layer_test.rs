//! The layer rule of `lib.rs`, checked: every `crate::` path in the non-test code of a
//! top-level module names a module listed before it in `lib.rs`; inside `config/`, every
//! `crate::config::` or `super::` path names a file listed before it in `config/mod.rs`. A
//! failure names the file and line of each import that goes up.

use std::path::{Path, PathBuf};

/// The top-level modules in `lib.rs` order (bottom layer first).
fn layer_order(lib_rs: &str) -> Vec<String> {
    lib_rs
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

/// The code of a source file that ships: everything before its `#[cfg(test)] mod`, with `//`
/// comments removed.
fn shipped_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|(_, next)| next.trim_start().starts_with("mod "))
        {
            break;
        }
        let code = line.split("//").next().unwrap_or_default();
        out.push((i + 1, code));
    }
    out
}

/// Each top-level module named as `crate::NAME` on `line`.
fn crate_refs(line: &str) -> impl Iterator<Item = &str> {
    path_refs(line, "crate::")
}

/// Each name following `prefix` (a path such as `crate::` or `crate::config::`) on `line`.
fn path_refs<'a>(line: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> {
    line.match_indices(prefix).filter_map(move |(at, pat)| {
        let before = line.get(..at).and_then(|b| b.chars().last());
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return None; // `$crate::`, `my_crate::`
        }
        let rest = line.get(at + pat.len()..)?;
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        rest.get(..end)
    })
}

/// The upward imports of the file at `rel` (relative to `src/`) holding `text`.
fn violations(order: &[String], rel: &Path, text: &str) -> Vec<String> {
    let Some(own) = rel
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .map(|s| s.trim_end_matches(".rs"))
    else {
        return Vec::new();
    };
    let rank = |m: &str| order.iter().position(|o| o == m);
    let Some(own_rank) = rank(own) else {
        return Vec::new(); // lib.rs, main.rs, this file
    };
    let mut out = Vec::new();
    for (n, code) in shipped_lines(text) {
        for target in crate_refs(code) {
            if target == own {
                continue;
            }
            if rank(target).is_some_and(|r| r > own_rank) {
                out.push(format!(
                    "src/{}:{n}: `{own}` imports `{target}`, which lib.rs lists above it",
                    rel.display()
                ));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Test-only files: `tests.rs`, `tests_*.rs` and everything under a `tests/` folder.
fn is_test_file(rel: &Path) -> bool {
    rel.components().any(|c| c.as_os_str() == "tests")
        || rel
            .file_stem()
            .and_then(|s| s.to_str())
            .is_some_and(|s| s == "tests" || s.starts_with("tests_"))
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let order = layer_order(&lib);
    assert!(order.len() > 20, "lib.rs lists {} modules", order.len());
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for f in &files {
        let Ok(rel) = f.strip_prefix(&src) else {
            continue;
        };
        if is_test_file(rel) {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap_or_default();
        bad.extend(violations(&order, rel, &text));
    }
    assert!(
        bad.is_empty(),
        "imports that go up a layer:\n{}",
        bad.join("\n")
    );
}

/// The upward imports between the files of `config/` (`crate::config::X` and `super::X`), in
/// the order of `config/mod.rs`.
fn config_violations(order: &[String], rel: &Path, text: &str) -> Vec<String> {
    let Some(own) = rel.file_stem().and_then(|s| s.to_str()) else {
        return Vec::new();
    };
    let rank = |m: &str| order.iter().position(|o| o == m);
    let Some(own_rank) = rank(own) else {
        return Vec::new(); // mod.rs
    };
    let mut out = Vec::new();
    for (n, code) in shipped_lines(text) {
        let targets = path_refs(code, "crate::config::").chain(path_refs(code, "super::"));
        for target in targets {
            if target != own && rank(target).is_some_and(|r| r > own_rank) {
                out.push(format!(
                    "src/config/{}:{n}: `{own}` imports `{target}`, which config/mod.rs lists above it",
                    rel.display()
                ));
            }
        }
    }
    out
}

#[test]
fn no_config_file_imports_one_listed_after_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config");
    let order = layer_order(&std::fs::read_to_string(dir.join("mod.rs")).unwrap_or_default());
    assert!(
        order.len() > 15,
        "config/mod.rs lists {} files",
        order.len()
    );
    let mut bad = Vec::new();
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    files.sort();
    for f in &files {
        let Ok(rel) = f.strip_prefix(&dir) else {
            continue;
        };
        if is_test_file(rel) {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap_or_default();
        bad.extend(config_violations(&order, rel, &text));
    }
    assert!(
        bad.is_empty(),
        "imports that go up inside config/:\n{}",
        bad.join("\n")
    );
}

#[test]
fn an_upward_import_is_reported_with_file_and_line() {
    let order: Vec<String> = ["term", "conn", "reactor"].map(String::from).to_vec();
    let text = "//! docs may say crate::reactor\nuse crate::term::Side;\nuse crate::reactor::Ctx;\n\
                #[cfg(test)]\nmod tests {\n    use crate::reactor::Ctx;\n}\n";
    assert_eq!(
        violations(&order, Path::new("conn/tcp.rs"), text),
        vec!["src/conn/tcp.rs:3: `conn` imports `reactor`, which lib.rs lists above it"]
    );
    assert!(violations(&order, Path::new("reactor.rs"), text).is_empty());
    let order: Vec<String> = ["error", "http", "proxy"].map(String::from).to_vec();
    let text = "use super::proxy::ProxyConf;\nuse crate::config::error::Span;\n";
    assert_eq!(
        config_violations(&order, Path::new("http.rs"), text),
        vec!["src/config/http.rs:1: `http` imports `proxy`, which config/mod.rs lists above it"]
    );
    assert!(is_test_file(Path::new("config/tests_http.rs")));
    assert!(!is_test_file(Path::new("config/http.rs")));
}
