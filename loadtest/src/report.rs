//! What a comparison writes: the raw samples (`results.json`), a Markdown summary with
//! medians, min–max and ratios, and SVG charts drawn with plotters' SVG backend
//! (throughput bars, latency percentile curves on a log scale, failover timeline). The
//! statistics are pure functions over `Sample`s; `compare` produces the samples.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::scenario::Metric;
use crate::stats::{RunReport, human_us};

/// Failover figures of one run, times in milliseconds from the start of the load.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FailoverMetrics {
    pub kill_at_ms: f64,
    pub restart_at_ms: f64,
    pub failed: u64,
    /// From the disruption until the last 100 ms bucket with errors ends (0: no errors).
    pub errors_stop_after_ms: f64,
    /// From the restart until the first 100 ms bucket with a hit on the disrupted backend.
    pub traffic_back_after_ms: Option<f64>,
}

/// One measured run of one target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    pub target: String,
    pub round: usize,
    pub report: RunReport,
    /// Proxy utime + stime over the run (all its processes), seconds.
    pub proxy_cpu_s: Option<f64>,
    pub cpu_us_per_req: Option<f64>,
    pub rss_before_kb: Option<u64>,
    pub rss_after_kb: Option<u64>,
    pub bytes_per_conn: Option<f64>,
    pub failover: Option<FailoverMetrics>,
    /// reload-under-load: what each client group saw (absent in other scenarios).
    #[serde(default)]
    pub reload: Option<ReloadMetrics>,
}

/// What one client group of reload-under-load saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GroupCounts {
    pub ok: u64,
    pub connect_refused: u64,
    pub reset: u64,
    /// Every failed request (refused and reset included).
    pub failed: u64,
    /// Failed requests written on a reused keep-alive connection the server closed before any
    /// response byte (counted in `failed`; see `stats::ErrorCounts::reused_idle`).
    pub reused_idle: u64,
}

impl GroupCounts {
    pub fn from_report(r: &RunReport) -> GroupCounts {
        GroupCounts {
            ok: r.ok,
            connect_refused: r.errors.connect_refused,
            reset: r.errors.reset,
            failed: r.errors.total,
            reused_idle: r.errors.reused_idle,
        }
    }
}

/// reload-under-load figures of one run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReloadMetrics {
    /// Reloads actually performed.
    pub reloads: u32,
    pub keepalive: GroupCounts,
    pub close: GroupCounts,
}

/// Everything about one scenario's comparison; serialized as `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comparison {
    pub scenario: String,
    pub about: String,
    pub metric: String,
    pub cpu_plan: String,
    pub nbthread: usize,
    pub rounds: usize,
    pub duration_s: f64,
    pub command: String,
    pub targets: Vec<String>,
    pub samples: Vec<Sample>,
    /// Targets that could not run, with the reason.
    pub na: BTreeMap<String, String>,
}

/// Median, min and max of a target's samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub fn spread(values: &[f64]) -> Option<Spread> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Spread {
        median,
        min: v[0],
        max: v[n - 1],
    })
}

/// The headline number of a sample for the scenario's metric.
pub fn headline(s: &Sample, metric: Metric) -> Option<f64> {
    match metric {
        Metric::ReqPerS | Metric::ConnPerS => {
            Some(s.report.ok as f64 / s.report.elapsed_s.max(1e-9))
        }
        Metric::Gbits => Some(s.report.gbit_per_s),
        Metric::BytesPerConn => s.bytes_per_conn,
        Metric::Failed => s.failover.as_ref().map(|f| f.failed as f64).or_else(|| {
            s.reload
                .as_ref()
                .map(|r| (r.keepalive.failed + r.close.failed) as f64)
        }),
    }
}

/// Derives failover figures from a run's timeline.
pub fn failover_metrics(
    r: &RunReport,
    kill_at_ms: f64,
    restart_at_ms: f64,
    victim: &str,
) -> FailoverMetrics {
    let mut m = FailoverMetrics {
        kill_at_ms,
        restart_at_ms,
        failed: r.errors.total,
        ..FailoverMetrics::default()
    };
    let Some(t) = &r.timeline else { return m };
    let bucket = t.bucket_ms.max(1) as f64;
    let kill_bucket = (kill_at_ms / bucket).floor().max(0.0) as usize;
    if let Some(last) = t
        .errors
        .iter()
        .enumerate()
        .skip(kill_bucket)
        .filter(|(_, n)| **n > 0)
        .map(|(i, _)| i)
        .next_back()
    {
        m.errors_stop_after_ms = ((last + 1) as f64 * bucket - kill_at_ms).max(0.0);
    }
    if let Some(hits) = t.backends.get(victim) {
        let start = (restart_at_ms / bucket).floor().max(0.0) as usize;
        m.traffic_back_after_ms = hits
            .iter()
            .enumerate()
            .skip(start)
            .find(|(_, n)| **n > 0)
            .map(|(i, _)| (i as f64 * bucket - restart_at_ms).max(0.0));
    }
    m
}

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub target: String,
    pub value: Option<Spread>,
    pub p99_us: Option<Spread>,
    pub cpu_us_per_req: Option<Spread>,
    pub na: Option<String>,
}

pub fn rows(c: &Comparison, metric: Metric) -> Vec<Row> {
    c.targets
        .iter()
        .map(|t| {
            let mine: Vec<&Sample> = c.samples.iter().filter(|s| &s.target == t).collect();
            let vals: Vec<f64> = mine.iter().filter_map(|s| headline(s, metric)).collect();
            let p99: Vec<f64> = mine
                .iter()
                .filter(|s| s.report.latency_us.count > 0)
                .map(|s| s.report.latency_us.p99 as f64)
                .collect();
            let cpu: Vec<f64> = mine.iter().filter_map(|s| s.cpu_us_per_req).collect();
            Row {
                target: t.clone(),
                value: spread(&vals),
                p99_us: spread(&p99),
                cpu_us_per_req: spread(&cpu),
                na: c.na.get(t).cloned(),
            }
        })
        .collect()
}

fn fmt_value(v: f64, metric: Metric) -> String {
    match metric {
        Metric::Gbits => format!("{v:.2}"),
        Metric::ReqPerS | Metric::ConnPerS | Metric::BytesPerConn | Metric::Failed => {
            format!("{v:.0}")
        }
    }
}

/// `Ravelin/other` ratio of medians, as text.
pub fn ratio(rows: &[Row], a: &str, b: &str) -> String {
    let med = |t: &str| {
        rows.iter()
            .find(|r| r.target == t)
            .and_then(|r| r.value)
            .map(|s| s.median)
    };
    match (med(a), med(b)) {
        (Some(x), Some(y)) if y != 0.0 => format!("{:.2}", x / y),
        _ => "n/a".into(),
    }
}

/// The Markdown summary.
pub fn markdown(c: &Comparison, metric: Metric) -> String {
    let rows = rows(c, metric);
    let mut md = String::new();
    let _ = writeln!(md, "# {} — {}\n", c.scenario, c.about);
    let _ = writeln!(md, "- CPU plan: {}", c.cpu_plan);
    let _ = writeln!(md, "- nbthread / worker_processes: {}", c.nbthread);
    let _ = writeln!(
        md,
        "- rounds: {} (targets alternate A B C A B C), {:.0} s per run",
        c.rounds, c.duration_s
    );
    let _ = writeln!(md, "- reproduce: `{}`\n", c.command);
    let _ = writeln!(
        md,
        "| target | {} median | min–max | p99 latency | proxy CPU µs/req |",
        metric.label()
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    for r in &rows {
        match (&r.na, r.value) {
            (Some(why), _) => {
                let _ = writeln!(md, "| {} | n/a | | | {} |", r.target, why.replace('|', "/"));
            }
            (None, None) => {
                let _ = writeln!(md, "| {} | n/a | | | |", r.target);
            }
            (None, Some(v)) => {
                let p99 = r.p99_us.map_or("-".into(), |s| human_us(s.median as u64));
                let cpu = r
                    .cpu_us_per_req
                    .map_or("-".into(), |s| format!("{:.1}", s.median));
                let _ = writeln!(
                    md,
                    "| {} | {} | {}–{} | {} | {} |",
                    r.target,
                    fmt_value(v.median, metric),
                    fmt_value(v.min, metric),
                    fmt_value(v.max, metric),
                    p99,
                    cpu
                );
            }
        }
    }
    let _ = writeln!(
        md,
        "\nRatios of medians: Ravelin/HAProxy {}, Ravelin/nginx {}.",
        ratio(&rows, "ravelin", "haproxy"),
        ratio(&rows, "ravelin", "nginx")
    );
    let rl: Vec<&Sample> = c.samples.iter().filter(|s| s.reload.is_some()).collect();
    if !rl.is_empty() {
        let _ = writeln!(
            md,
            "\n| target | round | reloads | keep-alive ok | refused | reset | failed (on reused idle conn) | close ok | refused | reset | failed |"
        );
        let _ = writeln!(
            md,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for s in rl {
            if let Some(r) = &s.reload {
                let (k, c) = (&r.keepalive, &r.close);
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} |",
                    s.target,
                    s.round,
                    r.reloads,
                    k.ok,
                    k.connect_refused,
                    k.reset,
                    k.failed,
                    k.reused_idle,
                    c.ok,
                    c.connect_refused,
                    c.reset,
                    c.failed
                );
            }
        }
    }
    let fo: Vec<&Sample> = c.samples.iter().filter(|s| s.failover.is_some()).collect();
    if !fo.is_empty() {
        let _ = writeln!(
            md,
            "\n| target | round | failed | errors stop after | b1 traffic back after |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|");
        for s in fo {
            if let Some(f) = &s.failover {
                let back = f
                    .traffic_back_after_ms
                    .map_or("never".into(), |v| format!("{v:.0} ms"));
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {:.0} ms | {} |",
                    s.target, s.round, f.failed, f.errors_stop_after_ms, back
                );
            }
        }
    }
    let rss: Vec<&Sample> = c
        .samples
        .iter()
        .filter(|s| s.rss_after_kb.is_some())
        .collect();
    if !rss.is_empty() {
        let _ = writeln!(
            md,
            "\n| target | round | held | RSS before | RSS after | bytes/conn |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
        for s in rss {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} KiB | {} KiB | {:.0} |",
                s.target,
                s.round,
                s.report.held.unwrap_or(0),
                s.rss_before_kb.unwrap_or(0),
                s.rss_after_kb.unwrap_or(0),
                s.bytes_per_conn.unwrap_or(0.0)
            );
        }
    }
    md
}

/// One colour per target in every chart (Ravelin red, HAProxy blue, nginx green).
fn color(target: &str) -> RGBColor {
    match target {
        "ravelin" => RGBColor(214, 39, 40),
        "haproxy" => RGBColor(31, 119, 180),
        "nginx" => RGBColor(44, 160, 44),
        "direct" => RGBColor(127, 127, 127),
        _ => RGBColor(148, 103, 189),
    }
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Bars of the headline metric's median per target, with min–max whiskers.
pub fn throughput_svg(path: &Path, c: &Comparison, metric: Metric) -> DrawResult {
    let rows: Vec<Row> = rows(c, metric)
        .into_iter()
        .filter(|r| r.value.is_some())
        .collect();
    let root = SVGBackend::new(path, (800, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let ymax = rows
        .iter()
        .filter_map(|r| r.value.map(|v| v.max))
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.15;
    let n = rows.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: {} (median, min-max)", c.scenario, metric.label()),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n as f64, 0f64..ymax)
        .map_err(err)?;
    let names: Vec<String> = rows.iter().map(|r| r.target.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 {
                names.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(metric.label())
        .draw()
        .map_err(err)?;
    for (i, r) in rows.iter().enumerate() {
        let Some(v) = r.value else { continue };
        let x = i as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x + 0.2, 0.0), (x + 0.8, v.median)],
                color(&r.target).filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x + 0.5, v.min), (x + 0.5, v.max)],
                BLACK.stroke_width(2),
            )))
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// Maps a percentile to "nines": 90 -> 1, 99 -> 2, 99.9 -> 3 (100 is drawn at 5).
fn nines(p: f64) -> f64 {
    if p >= 99.999 {
        5.0
    } else {
        -(1.0 - p / 100.0).log10()
    }
}

/// Latency percentile curves (log latency over "nines"), one line per target.
pub fn latency_svg(path: &Path, c: &Comparison, metric: Metric) -> DrawResult {
    let reps = representatives(c, metric);
    let root = SVGBackend::new(path, (800, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let ymax = reps
        .iter()
        .flat_map(|(_, s)| s.report.percentiles.iter().map(|p| p[1]))
        .fold(10.0, f64::max)
        * 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: latency percentiles (median run)", c.scenario),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..5f64, (1f64..ymax).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&|x| match x.round() as i64 {
            0 => "0%".into(),
            1 => "90%".into(),
            2 => "99%".into(),
            3 => "99.9%".into(),
            4 => "99.99%".into(),
            _ => "max".into(),
        })
        .y_label_formatter(&|y| human_us(*y as u64))
        .y_desc("latency")
        .draw()
        .map_err(err)?;
    for (name, s) in &reps {
        let pts: Vec<(f64, f64)> = s
            .report
            .percentiles
            .iter()
            .map(|p| (nines(p[0]), p[1].max(1.0)))
            .collect();
        let col = color(name);
        chart
            .draw_series(LineSeries::new(pts, col.stroke_width(2)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Errors per 100 ms over the failover run, one line per target, with kill/restart marks.
pub fn failover_svg(path: &Path, c: &Comparison, metric: Metric) -> DrawResult {
    let reps = representatives(c, metric);
    let root = SVGBackend::new(path, (900, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let series: Vec<(&str, Vec<(f64, f64)>)> = reps
        .iter()
        .filter_map(|(n, s)| {
            let t = s.report.timeline.as_ref()?;
            let b = t.bucket_ms as f64 / 1000.0;
            Some((
                n.as_str(),
                (0..t.errors.len().max(t.ok.len()))
                    .map(|i| (i as f64 * b, t.errors.get(i).copied().unwrap_or(0) as f64))
                    .collect(),
            ))
        })
        .collect();
    let xmax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .fold(1.0, f64::max);
    let ymax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(1.0, f64::max)
        * 1.2;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: failed requests per 100 ms", c.scenario),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since load start")
        .y_desc("errors / 100 ms")
        .draw()
        .map_err(err)?;
    if let Some(f) = reps.iter().find_map(|(_, s)| s.failover.clone()) {
        for at in [f.kill_at_ms, f.restart_at_ms] {
            let x = at / 1000.0;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0.0), (x, ymax)],
                    BLACK.stroke_width(1),
                )))
                .map_err(err)?;
        }
    }
    for (name, pts) in series {
        let col = color(name);
        chart
            .draw_series(LineSeries::new(pts, col.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Per target, the sample whose headline value is the median (lower middle).
fn representatives(c: &Comparison, metric: Metric) -> Vec<(String, Sample)> {
    let mut out = Vec::new();
    for t in &c.targets {
        let mut mine: Vec<&Sample> = c.samples.iter().filter(|s| &s.target == t).collect();
        mine.sort_by(|a, b| {
            headline(a, metric)
                .unwrap_or(0.0)
                .total_cmp(&headline(b, metric).unwrap_or(0.0))
        });
        if let Some(s) = mine.get(mine.len().saturating_sub(1) / 2) {
            out.push((t.clone(), (*s).clone()));
        }
    }
    out
}

/// Writes results.json, summary.md and the charts into `dir`.
pub fn write_all(dir: &Path, c: &Comparison, metric: Metric) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(c).map_err(err)?;
    std::fs::write(dir.join("results.json"), json + "\n").map_err(err)?;
    let md = markdown(c, metric);
    std::fs::write(dir.join("summary.md"), &md).map_err(err)?;
    throughput_svg(&dir.join("throughput.svg"), c, metric)?;
    if c.samples.iter().any(|s| !s.report.percentiles.is_empty()) {
        latency_svg(&dir.join("latency.svg"), c, metric)?;
    }
    if c.samples.iter().any(|s| s.failover.is_some()) {
        failover_svg(&dir.join("failover.svg"), c, metric)?;
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{LatencyReport, TimelineReport};

    fn sample(target: &str, round: usize, ok: u64, p99: u64) -> Sample {
        let report = RunReport {
            ok,
            requests: ok,
            elapsed_s: 1.0,
            latency_us: LatencyReport {
                count: ok,
                p99,
                ..LatencyReport::default()
            },
            percentiles: vec![[50.0, 100.0], [99.0, p99 as f64], [100.0, p99 as f64 * 2.0]],
            ..RunReport::default()
        };
        Sample {
            target: target.into(),
            round,
            report,
            proxy_cpu_s: Some(1.0),
            cpu_us_per_req: Some(1e6 / ok as f64),
            rss_before_kb: None,
            rss_after_kb: None,
            bytes_per_conn: None,
            failover: None,
            reload: None,
        }
    }

    fn comparison() -> Comparison {
        let mut samples = Vec::new();
        for (round, (h, n)) in [(100, 50), (120, 60), (110, 40)].into_iter().enumerate() {
            samples.push(sample("haproxy", round, h, 300));
            samples.push(sample("nginx", round, n, 500));
        }
        Comparison {
            scenario: "test".into(),
            about: "a test".into(),
            metric: "req/s".into(),
            cpu_plan: "x".into(),
            nbthread: 1,
            rounds: 3,
            duration_s: 1.0,
            command: "ravelin-load compare --scenario test".into(),
            targets: vec!["ravelin".into(), "haproxy".into(), "nginx".into()],
            samples,
            na: BTreeMap::from([("ravelin".to_string(), "not built".to_string())]),
        }
    }

    #[test]
    fn spread_median_min_max() {
        assert_eq!(
            spread(&[3.0, 1.0, 2.0]),
            Some(Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            })
        );
        assert_eq!(spread(&[4.0, 1.0]).map(|s| s.median), Some(2.5));
        assert_eq!(spread(&[]), None);
        assert_eq!(spread(&[f64::NAN]), None);
    }

    #[test]
    fn table_has_medians_and_na() {
        let md = markdown(&comparison(), Metric::ReqPerS);
        assert!(md.contains("| haproxy | 110 | 100–120 |"), "{md}");
        assert!(md.contains("| nginx | 50 | 40–60 |"), "{md}");
        assert!(md.contains("| ravelin | n/a |"), "{md}");
        assert!(md.contains("Ravelin/HAProxy n/a"), "{md}");
        let rows = rows(&comparison(), Metric::ReqPerS);
        assert_eq!(ratio(&rows, "haproxy", "nginx"), "2.20");
    }

    #[test]
    fn failover_from_timeline() {
        let mut r = RunReport::default();
        r.errors.total = 7;
        r.timeline = Some(TimelineReport {
            bucket_ms: 100,
            ok: vec![],
            // kill at 500 ms; errors in buckets 5..=7 -> stop at 800 ms -> 300 ms after kill
            errors: vec![0, 0, 0, 0, 0, 3, 2, 2, 0, 0, 0, 0],
            backends: BTreeMap::from([(
                "b1".to_string(),
                vec![5, 5, 5, 5, 2, 0, 0, 0, 0, 0, 0, 4],
            )]),
        });
        let m = failover_metrics(&r, 500.0, 1000.0, "b1");
        assert_eq!(m.failed, 7);
        assert!((m.errors_stop_after_ms - 300.0).abs() < 1e-9);
        assert_eq!(m.traffic_back_after_ms, Some(100.0));
    }

    #[test]
    fn writes_files() -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("ravelin-load-report-{}", std::process::id()));
        let mut c = comparison();
        c.samples[0].failover = Some(FailoverMetrics {
            kill_at_ms: 100.0,
            restart_at_ms: 200.0,
            ..FailoverMetrics::default()
        });
        c.samples[0].report.timeline = Some(TimelineReport {
            bucket_ms: 100,
            ok: vec![1, 1],
            errors: vec![0, 2, 0],
            backends: BTreeMap::new(),
        });
        write_all(&dir, &c, Metric::ReqPerS)?;
        for f in [
            "results.json",
            "summary.md",
            "throughput.svg",
            "latency.svg",
            "failover.svg",
        ] {
            let text = std::fs::read_to_string(dir.join(f)).map_err(err)?;
            assert!(!text.is_empty(), "{f}");
            if f.ends_with(".svg") {
                assert!(text.contains("<svg"), "{f}");
            }
        }
        let back: Comparison =
            serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).map_err(err)?)
                .map_err(err)?;
        assert_eq!(back, c);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
