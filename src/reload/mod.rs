//! Seamless reload, HAProxy's way: the new process takes the old one's listening sockets
//! (`getsocks`, `-x`), then tells it to finish (`-sf`) or stop (`-st`). The old process
//! soft-stops (reactor: stop accepting, finish streams; HTTP: `connection: close` on the
//! response in flight, idle keep-alive connections closed). See docs/RELOAD.md.

pub mod getsocks;
pub mod master;
pub mod state;
pub mod worker_link;
