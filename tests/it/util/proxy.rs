//! The proxy started in-process from a cfg string.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ravelin::model::{BackendId, ServerId};
use ravelin::{Handle, ReactorOptions};

pub struct Proxy {
    pub handle: Option<Handle>,
}

impl Proxy {
    /// Parses `cfg` (panics with the alerts if it is invalid) and starts the proxy.
    pub fn start(cfg: &str) -> Proxy {
        Self::start_with(cfg, ReactorOptions::default())
    }

    /// HAProxy (and so Ravelin) refuses `bind ...:0`; every `127.0.0.1:0` on a bind line is
    /// replaced by a free port, retried if another test takes it first.
    pub fn start_with(cfg: &str, opts: ReactorOptions) -> Proxy {
        let mut last = None;
        for _ in 0..5 {
            let mut text = String::new();
            for line in cfg.lines() {
                if line.trim_start().starts_with("bind ") && line.contains("127.0.0.1:0") {
                    let port = super::closed_port();
                    text.push_str(&line.replacen("127.0.0.1:0", &format!("127.0.0.1:{port}"), 1));
                } else {
                    text.push_str(line);
                }
                text.push('\n');
            }
            let loaded = match ravelin::config::load_str("test.cfg", &text) {
                Ok(l) => l,
                Err(e) => panic!("config rejected: {:?}\n{text}", e.alerts),
            };
            match ravelin::start(Arc::new(loaded.model), opts) {
                Ok(handle) => {
                    return Proxy {
                        handle: Some(handle),
                    };
                }
                Err(e) => last = Some(e),
            }
        }
        panic!("proxy did not start: {last:?}");
    }

    pub fn handle(&self) -> &Handle {
        self.handle.as_ref().expect("running")
    }

    /// First address bound by frontend (or listen) `name`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.handle()
            .addr_of(name)
            .unwrap_or_else(|| panic!("no frontend {name}"))
    }

    pub fn frontend(&self, name: &str) -> &ravelin::server::FrontendState {
        let sh = self.handle().shared();
        let i = sh
            .model
            .frontends
            .iter()
            .position(|f| f.name == name)
            .expect("frontend");
        &sh.frontends[i]
    }

    pub fn server(&self, backend: &str, server: &str) -> &ravelin::server::ServerState {
        let sh = self.handle().shared();
        let (bi, be) = sh
            .model
            .backends
            .iter()
            .enumerate()
            .find(|(_, b)| b.name == backend)
            .expect("backend");
        let si = be
            .servers
            .iter()
            .position(|s| s.name == server)
            .expect("server");
        sh.server(BackendId(bi as u32), ServerId(si as u32))
            .expect("state")
    }

    /// After a scenario: no stream left in any slab and every live-connection count at zero.
    pub fn assert_clean(&self) {
        let sh = self.handle().shared().clone();
        let clean = super::wait_until(Duration::from_secs(5), || {
            sh.live_streams() == 0
                && sh.global.cur() == 0
                && sh
                    .frontends
                    .iter()
                    .all(|f| f.conns.cur() == 0 && f.binds.iter().all(|b| b.cur() == 0))
                && sh.backends.iter().all(|b| {
                    b.beconn.cur() == 0
                        && b.queue.is_empty()
                        && b.servers
                            .iter()
                            .all(|s| s.conns.cur() == 0 && s.queue.is_empty())
                })
        });
        assert!(
            clean,
            "leftovers: streams={} global={} beconn={:?} servers={:?}",
            sh.live_streams(),
            sh.global.cur(),
            sh.backends
                .iter()
                .map(|b| b.beconn.cur())
                .collect::<Vec<_>>(),
            sh.backends
                .iter()
                .map(|b| b.servers.iter().map(|s| s.conns.cur()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        );
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.hard_stop();
            let _ = h.join();
        }
    }
}
