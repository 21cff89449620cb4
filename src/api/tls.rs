//! `set ssl cert` / `commit ssl cert` / `abort ssl cert`: a certificate file the
//! configuration names is replaced at run time, with HAProxy's transaction and messages
//! (checked against haproxy 2.6). The new certificate serves the handshakes that start after
//! the commit; established connections keep theirs.

use std::path::Path;

use super::Ctx;

/// The binds serving a certificate loaded from `file`.
fn resolvers<'a>(ctx: &'a Ctx, file: &'a str) -> impl Iterator<Item = &'a crate::tls::SniResolver> {
    ctx.shared
        .model
        .frontends
        .iter()
        .flat_map(|f| f.binds.iter())
        .filter_map(|b| b.tls.as_ref())
        .map(|t| t.resolver.as_ref())
        .filter(move |r| r.serves(Path::new(file)))
}

/// `set ssl cert FILE <<` with the PEM (chain and key) as payload.
pub(crate) fn set_cert(ctx: &Ctx, file: &str, payload: Option<String>, out: &mut String) {
    if resolvers(ctx, file).next().is_none() {
        out.push_str("Can't replace a certificate which is not referenced by the configuration!\n");
        out.push_str(&format!("Can't update {file}!\n"));
        return;
    }
    let pem = payload.unwrap_or_default();
    match crate::tls::certs::load_pem(Path::new(file), pem.as_bytes()) {
        Ok(cert) => {
            let mut txn = ctx.cert_txn.lock().unwrap_or_else(|e| e.into_inner());
            *txn = Some((file.to_string(), cert));
            out.push_str(&format!("Transaction created for certificate {file}!\n"));
        }
        Err(_) => {
            out.push_str(&format!(
                "unable to load certificate from file '{file}'.\nCan't load the payload\nCan't update {file}!\n"
            ));
        }
    }
}

/// `commit ssl cert FILE`: every bind serving `FILE` takes the transaction's certificate.
pub(crate) fn commit_cert(ctx: &Ctx, file: &str, out: &mut String) {
    let mut txn = ctx.cert_txn.lock().unwrap_or_else(|e| e.into_inner());
    let Some((_, cert)) = txn.as_ref().filter(|(f, _)| f == file) else {
        out.push_str(&format!(
            "No ongoing transaction! !\nCan't commit {file}!\n"
        ));
        return;
    };
    for r in resolvers(ctx, file) {
        r.replace(Path::new(file), cert);
    }
    *txn = None;
    out.push_str(&format!("Committing {file}.\nSuccess!\n"));
}

/// `abort ssl cert FILE`.
pub(crate) fn abort_cert(ctx: &Ctx, file: &str, out: &mut String) {
    let mut txn = ctx.cert_txn.lock().unwrap_or_else(|e| e.into_inner());
    if txn.as_ref().is_some_and(|(f, _)| f == file) {
        *txn = None;
        out.push_str(&format!("Transaction aborted for certificate '{file}'!\n"));
    } else {
        out.push_str("No ongoing transaction!\n");
    }
}
