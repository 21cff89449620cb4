//! The health counter of a checked server and the check intervals, on plain values (no
//! socket): HAProxy's `set_server_check_status()`, `check_notify_*()` and `srv_getinter()`
//! (src/check.c), and `start_checks()`' spreading of the first checks.

use std::time::Duration;

use crate::status::{Change, Probe, Verdict};

use crate::model::{CheckParams, InitState, Model};

/// A server's operational state as the checks see it (HAProxy's `SRV_ST_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SrvState {
    Running,
    /// NOLB: up, but no new load-balanced traffic.
    Stopping,
    Stopped,
}

/// One probe's health counter: `0..=rise+fall-1`; up at `>= rise`. A failure drops it by
/// one (straight to 0 once under `rise`), a success raises it by one (straight to the top
/// once at `rise`): so `fall` failures take a fully-up server down and `rise` successes bring
/// a down one up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Health {
    pub(crate) health: u32,
    pub(crate) rise: u32,
    pub(crate) fall: u32,
}

impl Health {
    pub(crate) fn top(&self) -> u32 {
        self.rise + self.fall - 1
    }

    pub fn is_up(&self) -> bool {
        self.health >= self.rise
    }

    /// Counts one result (`set_server_check_status()`); true when the counter moved.
    fn count(&mut self, v: Verdict) -> bool {
        match v {
            Verdict::Failed if self.health > 0 => {
                self.health -= 1;
                if self.health < self.rise {
                    self.health = 0;
                }
                true
            }
            Verdict::Passed | Verdict::CondPassed if self.health < self.top() => {
                self.health += 1;
                if self.health >= self.rise {
                    self.health = self.top();
                }
                true
            }
            _ => false,
        }
    }
}

/// A server's probes and its state as they decide it: HAProxy's `check_notify_failure()`,
/// `check_notify_success()`, `check_notify_stopping()`. The server is up only while every
/// enabled probe is at `>= rise`: an agent's `up` does not override a failing check, a
/// passing check does not override an agent's `down`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Monitor {
    pub(crate) check: Option<Health>,
    /// The agent (`agent-check`): HAProxy's `DEF_AGENT_RISETIME`/`FALLTIME` are 1.
    pub(crate) agent: Option<Health>,
    pub(crate) state: SrvState,
}

/// What recording one result did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// The probe's counter moved (HAProxy's `report`, for `log-health-checks`).
    pub(crate) counted: bool,
    /// A failure that counts in the server's failed checks.
    pub(crate) failed: bool,
    pub(crate) change: Option<Change>,
}

impl Monitor {
    /// The start: HAProxy 2.6 sets `health = rise` ("up, but will fall down at first
    /// failure"), `init-state` (HAProxy 3.1) chooses among the four starts.
    pub(crate) fn new(p: &CheckParams) -> Monitor {
        let (rise, fall) = (p.rise.max(1), p.fall.max(1));
        let (health, state) = match p.init_state {
            InitState::FullyUp => (rise + fall - 1, SrvState::Running),
            InitState::Up => (rise, SrvState::Running),
            InitState::Down => (rise - 1, SrvState::Stopped),
            InitState::FullyDown => (0, SrvState::Stopped),
        };
        let check = p.enabled.then_some(Health { health, rise, fall });
        Monitor {
            check,
            agent: p.agent.then_some(Health {
                health: 1,
                rise: 1,
                fall: 1,
            }),
            state: if check.is_some() {
                state
            } else {
                SrvState::Running
            },
        }
    }

    pub(crate) fn probe(&self, p: Probe) -> Option<&Health> {
        match p {
            Probe::Check => self.check.as_ref(),
            Probe::Agent => self.agent.as_ref(),
        }
    }

    pub(crate) fn probe_mut(&mut self, p: Probe) -> Option<&mut Health> {
        match p {
            Probe::Check => self.check.as_mut(),
            Probe::Agent => self.agent.as_mut(),
        }
    }

    /// Every enabled probe is at `>= rise`.
    fn all_up(&self) -> bool {
        self.check.is_none_or(|h| h.is_up()) && self.agent.is_none_or(|h| h.is_up())
    }

    /// Counts one result of `probe`; returns what it did. `l7`: the status is past HAProxy's
    /// `L57DATA` (an agent's failure counts only then: failing to reach the agent is not an
    /// error, only its `down`/`fail`/`stopped` are). `maint`: the server is in maintenance
    /// (counted, never changes state).
    pub(crate) fn record(&mut self, probe: Probe, v: Verdict, l7: bool, maint: bool) -> Recorded {
        let mut r = Recorded {
            counted: false,
            failed: false,
            change: None,
        };
        let Some(h) = self.probe_mut(probe) else {
            return r;
        };
        let counts = probe == Probe::Check || v != Verdict::Failed || l7;
        if counts {
            r.failed = v == Verdict::Failed && h.health > 0;
            r.counted = h.count(v);
        }
        let health = h.health;
        if maint {
            return r;
        }
        r.change = match v {
            Verdict::Failed if counts && health == 0 && self.state != SrvState::Stopped => {
                Some(Change::Down)
            }
            Verdict::Passed
                if self.state != SrvState::Running
                    && !(probe == Probe::Agent && self.state == SrvState::Stopping)
                    && self.all_up() =>
            {
                Some(Change::Up)
            }
            Verdict::CondPassed
                if probe == Probe::Check && self.state != SrvState::Stopping && self.all_up() =>
            {
                Some(Change::Stopping)
            }
            _ => None,
        };
        if let Some(c) = r.change {
            self.state = match c {
                Change::Down => SrvState::Stopped,
                Change::Up => SrvState::Running,
                Change::Stopping => SrvState::Stopping,
            };
        }
        r
    }

    /// Leaving maintenance (HAProxy's `srv_update_status()`): the check restarts at `rise`
    /// ("start OK but check immediately"); the server comes back up if every probe is up.
    pub(crate) fn leave_maint(&mut self) -> bool {
        if let Some(h) = self.check.as_mut() {
            h.health = h.rise;
        }
        let up = self.all_up();
        self.state = if up {
            SrvState::Running
        } else {
            SrvState::Stopped
        };
        up
    }

    /// Entering maintenance: the check's health drops to 0 (HAProxy pauses the check).
    pub(crate) fn enter_maint(&mut self) {
        if let Some(h) = self.check.as_mut() {
            h.health = 0;
        }
        self.state = SrvState::Stopped;
    }

    /// HAProxy's `srv_getinter()` for the active check: `inter` when fully up, `downinter`
    /// when fully down, `fastinter` in between (a server losing or regaining health).
    pub(crate) fn interval(&self, p: &CheckParams) -> Duration {
        let Some(h) = self.check else {
            return p.inter;
        };
        if h.health == h.top() {
            p.inter
        } else if self.state == SrvState::Stopped && h.health == 0 {
            p.downinter
        } else {
            p.fastinter
        }
    }

    /// `UP 1/3`, `DOWN 1/2`, `NOLB` ... as `send-state` and the stats page show it.
    pub(crate) fn state_word(&self, out: &mut String) {
        use std::fmt::Write;
        let word = match self.state {
            SrvState::Running => "UP",
            SrvState::Stopping => "NOLB",
            SrvState::Stopped => "DOWN",
        };
        let Some(h) = self.check else {
            out.push_str(word);
            return;
        };
        let _ = match self.state {
            SrvState::Stopped if h.health > 0 => write!(out, "{word} {}/{}", h.health, h.rise),
            SrvState::Stopped => write!(out, "{word}"),
            _ if h.health == h.top() => write!(out, "{word}"),
            _ => write!(
                out,
                "{word} {}/{}",
                (h.health + 1).saturating_sub(h.rise),
                h.fall
            ),
        };
    }
}

/// HAProxy's `SRV_CHK_INTER_THRES`: intervals shorter than this do not set the spreading
/// window of the first checks.
const INTER_THRES: Duration = Duration::from_millis(1000);

/// When each check and agent of the model runs first, in model order (each server's check,
/// then its agent): HAProxy's `start_checks()`. The window is the
/// smallest first interval of at least 1 s over every checked server (or the server's own
/// interval when longer), capped by `max-spread-checks`; server k starts at
/// `window × k / count`.
pub(crate) fn first_delays(model: &Model) -> Vec<Duration> {
    // Checks and agents in model order, each server's check before its agent.
    let params = model
        .backends
        .iter()
        .flat_map(|b| b.servers.iter())
        .flat_map(|s| {
            let check = s
                .check
                .enabled
                .then(|| Monitor::new(&s.check).interval(&s.check));
            let agent = s.check.agent.then_some(s.check.agent_inter);
            check.into_iter().chain(agent)
        })
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
pub(crate) fn jittered(interval: Duration, percent: u32, unit: f64) -> Duration {
    if percent == 0 {
        return interval;
    }
    let ms = interval.as_millis() as f64;
    let rv = ms * f64::from(percent.min(50)) / 100.0;
    let rv = rv - 2.0 * rv * unit.clamp(0.0, 1.0);
    // Whole milliseconds: the fraction is dropped on purpose (`as` saturates, never wraps).
    #[allow(clippy::cast_possible_truncation)]
    let jittered = (ms + rv).max(0.0) as u64;
    Duration::from_millis(jittered)
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
            ..CheckParams::default()
        }
    }

    fn rec(m: &mut Monitor, v: Verdict, maint: bool) -> Option<Change> {
        m.record(Probe::Check, v, false, maint).change
    }

    fn health(m: &Monitor) -> u32 {
        m.check.map_or(0, |h| h.health)
    }

    #[test]
    fn default_start_falls_at_first_failure() {
        // HAProxy 2.6 (verified with the real binary): `fall 3`, yet the first failed check
        // of a server that never passed takes it down.
        let mut h = Monitor::new(&params(2, 3, InitState::Up));
        assert_eq!((health(&h), h.state), (2, SrvState::Running));
        assert_eq!(rec(&mut h, Verdict::Failed, false), Some(Change::Down));
        assert_eq!(health(&h), 0);
    }

    #[test]
    fn fully_up_takes_fall_failures_and_rise_successes() {
        let p = params(2, 3, InitState::FullyUp);
        let mut h = Monitor::new(&p);
        assert_eq!(health(&h), 4);
        assert_eq!(h.interval(&p), p.inter);
        assert_eq!(rec(&mut h, Verdict::Failed, false), None);
        assert_eq!(health(&h), 3);
        assert_eq!(h.interval(&p), p.fastinter, "transitioning");
        assert_eq!(rec(&mut h, Verdict::Failed, false), None);
        // A success in between goes straight back to the top.
        assert_eq!(rec(&mut h, Verdict::Passed, false), None);
        assert_eq!(health(&h), 4);
        for _ in 0..2 {
            assert_eq!(rec(&mut h, Verdict::Failed, false), None);
        }
        assert_eq!(rec(&mut h, Verdict::Failed, false), Some(Change::Down));
        assert_eq!(h.interval(&p), p.downinter);
        assert_eq!(rec(&mut h, Verdict::Failed, false), None, "stays down");
        assert_eq!(rec(&mut h, Verdict::Passed, false), None);
        assert_eq!(h.interval(&p), p.fastinter, "rising");
        assert_eq!(rec(&mut h, Verdict::Passed, false), Some(Change::Up));
        assert_eq!((health(&h), h.state), (4, SrvState::Running));
    }

    #[test]
    fn down_starts() {
        let mut h = Monitor::new(&params(3, 2, InitState::Down));
        assert_eq!((health(&h), h.state), (2, SrvState::Stopped));
        assert_eq!(rec(&mut h, Verdict::Passed, false), Some(Change::Up));
        let mut h = Monitor::new(&params(3, 2, InitState::FullyDown));
        assert_eq!(rec(&mut h, Verdict::Passed, false), None);
        assert_eq!(rec(&mut h, Verdict::Passed, false), None);
        assert_eq!(rec(&mut h, Verdict::Passed, false), Some(Change::Up));
    }

    #[test]
    fn nolb_and_maintenance() {
        let mut h = Monitor::new(&params(2, 3, InitState::FullyUp));
        assert_eq!(
            rec(&mut h, Verdict::CondPassed, false),
            Some(Change::Stopping)
        );
        assert_eq!(rec(&mut h, Verdict::CondPassed, false), None);
        assert_eq!(rec(&mut h, Verdict::Passed, false), Some(Change::Up));
        let mut h = Monitor::new(&params(2, 3, InitState::Up));
        assert_eq!(
            rec(&mut h, Verdict::Failed, true),
            None,
            "maint: counted only"
        );
        assert_eq!(health(&h), 0);
    }

    #[test]
    fn agent_and_check_precedence() {
        // HAProxy's check_notify_*(): both probes must be up for the server to be up.
        let mut p = params(2, 3, InitState::FullyUp);
        p.agent = true;
        let mut m = Monitor::new(&p);
        // Failing to reach the agent (L4CON: not past L57DATA) changes nothing.
        let r = m.record(Probe::Agent, Verdict::Failed, false, false);
        assert_eq!((r.change, r.counted), (None, false));
        // `down` (L7STS): the agent's health is set to 0 first, then the failure counts.
        if let Some(a) = m.agent.as_mut() {
            a.health = 0;
        }
        assert_eq!(
            m.record(Probe::Agent, Verdict::Failed, true, false).change,
            Some(Change::Down)
        );
        // A passing check does not bring it back while the agent says down.
        assert_eq!(rec(&mut m, Verdict::Passed, false), None);
        // `up` from the agent does.
        if let Some(a) = m.agent.as_mut() {
            a.health = a.top();
        }
        assert_eq!(
            m.record(Probe::Agent, Verdict::Passed, true, false).change,
            Some(Change::Up)
        );
        // A failing check takes it down; the agent's `up` does not override it.
        for _ in 0..3 {
            rec(&mut m, Verdict::Failed, false);
        }
        assert_eq!(m.state, SrvState::Stopped);
        assert_eq!(
            m.record(Probe::Agent, Verdict::Passed, true, false).change,
            None
        );
        // Leaving maintenance restarts the check at `rise`: up again if the agent is up.
        m.enter_maint();
        assert!(m.leave_maint());
        assert_eq!(m.state, SrvState::Running);
    }

    #[test]
    fn state_words() {
        let word = |h: &Monitor| {
            let mut s = String::new();
            h.state_word(&mut s);
            s
        };
        let mut h = Monitor::new(&params(2, 3, InitState::Up));
        assert_eq!(word(&h), "UP 1/3", "as HAProxy sent it at startup");
        rec(&mut h, Verdict::Passed, false);
        assert_eq!(word(&h), "UP");
        rec(&mut h, Verdict::Failed, false);
        assert_eq!(word(&h), "UP 2/3", "health 3 of 4: (3 - rise + 1) / fall");
        let mut h = Monitor::new(&params(3, 2, InitState::FullyDown));
        assert_eq!(word(&h), "DOWN");
        rec(&mut h, Verdict::Passed, false);
        assert_eq!(word(&h), "DOWN 1/3");
        let mut h = Monitor::new(&params(2, 3, InitState::FullyUp));
        rec(&mut h, Verdict::CondPassed, false);
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
