//! The health counter of a checked server and the check intervals, on plain values (no
//! socket): HAProxy's `set_server_check_status()`, `check_notify_*()` and `srv_getinter()`
//! (src/check.c), and `start_checks()`' spreading of the first checks.

use std::time::Duration;

use crate::model::{CheckParams, InitState, Model};

/// What one check concluded (HAProxy's `CHK_RES_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// Passed, but the server asks to stop receiving new traffic (a 404 with
    /// `disable-on-404`): NOLB.
    CondPassed,
    Failed,
}

/// A server's operational state as the checks see it (HAProxy's `SRV_ST_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrvState {
    Running,
    /// NOLB: up, but no new load-balanced traffic.
    Stopping,
    Stopped,
}

/// A state change a check result causes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Down,
    Up,
    /// Running → NOLB.
    Stopping,
}

/// The health counter: `0..=rise+fall-1`; a server is up at `>= rise`. A failure drops it by
/// one (straight to 0 once under `rise`), a success raises it by one (straight to the top
/// once at `rise`): so `fall` failures take a fully-up server down and `rise` successes bring
/// a down one up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    pub health: u32,
    pub rise: u32,
    pub fall: u32,
    pub state: SrvState,
}

impl Health {
    /// The start: HAProxy 2.6 sets `health = rise` ("up, but will fall down at first
    /// failure"), `init-state` (HAProxy 3.1) chooses among the four starts.
    pub fn new(p: &CheckParams) -> Health {
        let (rise, fall) = (p.rise.max(1), p.fall.max(1));
        let (health, state) = match p.init_state {
            InitState::FullyUp => (rise + fall - 1, SrvState::Running),
            InitState::Up => (rise, SrvState::Running),
            InitState::Down => (rise - 1, SrvState::Stopped),
            InitState::FullyDown => (0, SrvState::Stopped),
        };
        Health {
            health,
            rise,
            fall,
            state,
        }
    }

    fn top(&self) -> u32 {
        self.rise + self.fall - 1
    }

    /// Counts one result; returns the state change it causes, if any. `maint`: the server is
    /// in maintenance (counted, never changes state, as HAProxy's notify functions).
    pub fn record(&mut self, v: Verdict, maint: bool) -> Option<Change> {
        match v {
            Verdict::Failed => {
                if self.health > 0 {
                    self.health -= 1;
                    if self.health < self.rise {
                        self.health = 0;
                    }
                }
            }
            Verdict::Passed | Verdict::CondPassed => {
                if self.health < self.top() {
                    self.health += 1;
                    if self.health >= self.rise {
                        self.health = self.top();
                    }
                }
            }
        }
        if maint {
            return None;
        }
        let change = match v {
            Verdict::Failed if self.health == 0 && self.state != SrvState::Stopped => {
                Some(Change::Down)
            }
            Verdict::Passed if self.health >= self.rise && self.state != SrvState::Running => {
                Some(Change::Up)
            }
            Verdict::CondPassed if self.health >= self.rise && self.state == SrvState::Running => {
                Some(Change::Stopping)
            }
            // A CondPassed for a stopped server cannot happen: the 404 only counts as such
            // for a server that is not stopped (the caller checks).
            _ => None,
        };
        if let Some(c) = change {
            self.state = match c {
                Change::Down => SrvState::Stopped,
                Change::Up => SrvState::Running,
                Change::Stopping => SrvState::Stopping,
            };
        }
        change
    }

    /// HAProxy's `srv_getinter()`: `inter` when fully up, `downinter` when fully down,
    /// `fastinter` in between (a server losing or regaining health).
    pub fn interval(&self, p: &CheckParams) -> Duration {
        if self.health == self.top() {
            p.inter
        } else if self.state == SrvState::Stopped && self.health == 0 {
            p.downinter
        } else {
            p.fastinter
        }
    }

    /// `UP 1/3`, `DOWN 1/2`, `NOLB` ... as `send-state` and the stats page show it.
    pub fn state_word(&self, out: &mut String) {
        use std::fmt::Write;
        let word = match self.state {
            SrvState::Running => "UP",
            SrvState::Stopping => "NOLB",
            SrvState::Stopped => "DOWN",
        };
        let _ = match self.state {
            SrvState::Stopped if self.health > 0 => {
                write!(out, "{word} {}/{}", self.health, self.rise)
            }
            SrvState::Stopped => write!(out, "{word}"),
            _ if self.health == self.top() => write!(out, "{word}"),
            _ => write!(
                out,
                "{word} {}/{}",
                (self.health + 1).saturating_sub(self.rise),
                self.fall
            ),
        };
    }
}

/// HAProxy's `SRV_CHK_INTER_THRES`: intervals shorter than this do not set the spreading
/// window of the first checks.
const INTER_THRES: Duration = Duration::from_millis(1000);

/// When each checked server of the model runs its first check, in model order (the k-th
/// checked server is k in the result): HAProxy's `start_checks()`. The window is the
/// smallest first interval of at least 1 s over every checked server (or the server's own
/// interval when longer), capped by `max-spread-checks`; server k starts at
/// `window × k / count`.
pub fn first_delays(model: &Model) -> Vec<Duration> {
    let params = model
        .backends
        .iter()
        .flat_map(|b| b.servers.iter())
        .filter(|s| s.check.enabled)
        .map(|s| Health::new(&s.check).interval(&s.check))
        .collect::<Vec<_>>();
    let count = params.len() as u128;
    let mininter = params.iter().copied().filter(|&i| i >= INTER_THRES).min();
    params
        .iter()
        .enumerate()
        .map(|(k, &own)| {
            let mut window = mininter.map_or(own, |m| m.max(own));
            if let Some(max) = model.global.max_spread_checks {
                window = window.min(max);
            }
            let ms = window.as_millis() * k as u128 / count.max(1);
            Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
        })
        .collect()
}

/// `interval` with `spread-checks` jitter: `± interval × percent / 100`, `unit` a random
/// number in `[0, 1]` (HAProxy: `rv = inter × spread / 100; rv -= 2 × rv × random`).
pub fn jittered(interval: Duration, percent: u32, unit: f64) -> Duration {
    if percent == 0 {
        return interval;
    }
    let ms = interval.as_millis() as f64;
    let rv = ms * f64::from(percent.min(50)) / 100.0;
    let rv = rv - 2.0 * rv * unit.clamp(0.0, 1.0);
    Duration::from_millis((ms + rv).max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(rise: u32, fall: u32, init: InitState) -> CheckParams {
        CheckParams {
            enabled: true,
            inter: Duration::from_millis(2000),
            fastinter: Duration::from_millis(100),
            downinter: Duration::from_millis(5000),
            rise,
            fall,
            init_state: init,
            port: None,
            addr: None,
        }
    }

    #[test]
    fn default_start_falls_at_first_failure() {
        // HAProxy 2.6 (verified with the real binary): `fall 3`, yet the first failed check
        // of a server that never passed takes it down.
        let mut h = Health::new(&params(2, 3, InitState::Up));
        assert_eq!((h.health, h.state), (2, SrvState::Running));
        assert_eq!(h.record(Verdict::Failed, false), Some(Change::Down));
        assert_eq!(h.health, 0);
    }

    #[test]
    fn fully_up_takes_fall_failures_and_rise_successes() {
        let p = params(2, 3, InitState::FullyUp);
        let mut h = Health::new(&p);
        assert_eq!(h.health, 4);
        assert_eq!(h.interval(&p), p.inter);
        assert_eq!(h.record(Verdict::Failed, false), None);
        assert_eq!(h.health, 3);
        assert_eq!(h.interval(&p), p.fastinter, "transitioning");
        assert_eq!(h.record(Verdict::Failed, false), None);
        // A success in between goes straight back to the top.
        assert_eq!(h.record(Verdict::Passed, false), None);
        assert_eq!(h.health, 4);
        for _ in 0..2 {
            assert_eq!(h.record(Verdict::Failed, false), None);
        }
        assert_eq!(h.record(Verdict::Failed, false), Some(Change::Down));
        assert_eq!(h.interval(&p), p.downinter);
        assert_eq!(h.record(Verdict::Failed, false), None, "stays down");
        assert_eq!(h.record(Verdict::Passed, false), None);
        assert_eq!(h.interval(&p), p.fastinter, "rising");
        assert_eq!(h.record(Verdict::Passed, false), Some(Change::Up));
        assert_eq!((h.health, h.state), (4, SrvState::Running));
    }

    #[test]
    fn down_starts() {
        let mut h = Health::new(&params(3, 2, InitState::Down));
        assert_eq!((h.health, h.state), (2, SrvState::Stopped));
        assert_eq!(h.record(Verdict::Passed, false), Some(Change::Up));
        let mut h = Health::new(&params(3, 2, InitState::FullyDown));
        assert_eq!(h.record(Verdict::Passed, false), None);
        assert_eq!(h.record(Verdict::Passed, false), None);
        assert_eq!(h.record(Verdict::Passed, false), Some(Change::Up));
    }

    #[test]
    fn nolb_and_maintenance() {
        let mut h = Health::new(&params(2, 3, InitState::FullyUp));
        assert_eq!(h.record(Verdict::CondPassed, false), Some(Change::Stopping));
        assert_eq!(h.record(Verdict::CondPassed, false), None);
        assert_eq!(h.record(Verdict::Passed, false), Some(Change::Up));
        let mut h = Health::new(&params(2, 3, InitState::Up));
        assert_eq!(h.record(Verdict::Failed, true), None, "maint: counted only");
        assert_eq!(h.health, 0);
    }

    #[test]
    fn state_words() {
        let word = |h: &Health| {
            let mut s = String::new();
            h.state_word(&mut s);
            s
        };
        let mut h = Health::new(&params(2, 3, InitState::Up));
        assert_eq!(word(&h), "UP 1/3", "as HAProxy sent it at startup");
        h.record(Verdict::Passed, false);
        assert_eq!(word(&h), "UP");
        h.record(Verdict::Failed, false);
        assert_eq!(word(&h), "UP 2/3", "health 3 of 4: (3 - rise + 1) / fall");
        let mut h = Health::new(&params(3, 2, InitState::FullyDown));
        assert_eq!(word(&h), "DOWN");
        h.record(Verdict::Passed, false);
        assert_eq!(word(&h), "DOWN 1/3");
        let mut h = Health::new(&params(2, 3, InitState::FullyUp));
        h.record(Verdict::CondPassed, false);
        assert_eq!(word(&h), "NOLB");
    }

    #[test]
    fn first_checks_spread_like_start_checks() {
        let text = "global\n    max-spread-checks 1500\ndefaults\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
             backend a\n    server a1 127.0.0.1:1 check inter 2s fall 1\n    server a2 127.0.0.1:1 check inter 4s fall 1\n    server a3 127.0.0.1:1\n\
             backend b\n    server b1 127.0.0.1:1 check inter 500 fall 1\n    server b2 127.0.0.1:1 check inter 1s fall 1\n";
        let loaded = crate::config::load_str("t.cfg", text).expect("config");
        let d = first_delays(&loaded.model);
        let ms: Vec<u128> = d.iter().map(Duration::as_millis).collect();
        // 4 checks, window min(1 s, ...) per server, max 1500: a1 0, a2 1500×1/4, b1 1000×2/4,
        // b2 1000×3/4 (`fall 1` keeps every first interval at `inter`).
        assert_eq!(ms, vec![0, 375, 500, 750]);
    }

    #[test]
    fn jitter_bounds() {
        let i = Duration::from_millis(1000);
        assert_eq!(jittered(i, 0, 0.3), i);
        assert_eq!(jittered(i, 10, 0.0), Duration::from_millis(1100));
        assert_eq!(jittered(i, 10, 1.0), Duration::from_millis(900));
        assert_eq!(
            jittered(i, 90, 1.0),
            Duration::from_millis(500),
            "capped at 50 %"
        );
    }
}
