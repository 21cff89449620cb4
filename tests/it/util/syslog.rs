//! A UDP syslog receiver on 127.0.0.1 for the log tests.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

pub struct Syslog(pub UdpSocket);

impl Syslog {
    pub fn new() -> Syslog {
        let s = UdpSocket::bind("127.0.0.1:0").expect("udp");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        Syslog(s)
    }
    pub fn addr(&self) -> SocketAddr {
        self.0.local_addr().expect("addr")
    }
    /// The next line (without the trailing newline), within 5 s.
    pub fn line(&self) -> String {
        let mut b = [0u8; 4096];
        let n = self.0.recv(&mut b).expect("a log line within 5 s");
        String::from_utf8_lossy(b.get(..n).unwrap_or(&[]))
            .trim_end_matches('\n')
            .to_string()
    }
    /// Asserts that nothing arrives for `d`.
    pub fn silent_for(&self, d: Duration) {
        self.0.set_read_timeout(Some(d)).ok();
        let mut b = [0u8; 4096];
        let got = self.0.recv(&mut b);
        self.0.set_read_timeout(Some(Duration::from_secs(5))).ok();
        assert!(
            got.is_err(),
            "unexpected line: {:?}",
            got.map(|n| String::from_utf8_lossy(&b[..n]).into_owned())
        );
    }
}
