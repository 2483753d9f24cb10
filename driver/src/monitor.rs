//! Sampling a node's memory over time (`system_information` every 500 ms,
//! failed samples kept as gaps; and, for a node run here, the kernel's view
//! of its process group from `/proc`, which answers even while the node's API
//! does not), and writing the samples as `memory.csv` and `memory.svg`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::api::NodeApi;

pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// One memory sample of a node; `None` fields mean the sample failed (a gap).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Sample {
    /// Seconds since the node was launched.
    pub t: f64,
    pub rss: Option<u64>,
    pub heap_used: Option<u64>,
    pub heap_total: Option<u64>,
    pub external: Option<u64>,
    pub array_buffers: Option<u64>,
    /// Each worker thread's (name/threadId, heapUsed).
    pub threads: Vec<(String, u64)>,
    /// Why the sample failed, for a gap.
    pub error: Option<String>,
    /// The kernel's resident set of the node's process group (sum of
    /// `VmRSS`), read at the same tick whether or not the API answered.
    pub os_rss: Option<u64>,
    /// The largest `VmHWM` (peak resident set) of the group's members so far.
    pub os_hwm: Option<u64>,
}

/// The kernel's memory figures of one process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcMemory {
    pub rss: u64,
    /// `VmHWM`: the most the process was ever resident, between samples too.
    pub hwm: u64,
}

/// Reads `VmRSS` and `VmHWM` (given in kB) out of a `/proc/<pid>/status`
/// text; `None` for a process without them (a zombie, a kernel thread).
pub fn parse_proc_status(text: &str) -> Option<ProcMemory> {
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|k| k * 1024)
    };
    Some(ProcMemory { rss: kib("VmRSS")?, hwm: kib("VmHWM")? })
}

/// The process group of a `/proc/<pid>/stat` line: the fifth field, counted
/// after the `)` that ends the command name (which may hold spaces and `)`).
pub fn parse_stat_pgrp(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // state, ppid, pgrp
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// The memory of a node's process group, summed over its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemory {
    pub rss: u64,
    /// The largest member `VmHWM`, and whose it is.
    pub hwm: u64,
    pub hwm_pid: u32,
    pub members: usize,
}

/// Reads the memory of process group `pgid` (a node is launched as the
/// leader of its own group) from `/proc`. `None` if no member is readable:
/// the group is gone, or `/proc` is not ours to read.
pub fn read_group_memory(pgid: u32) -> Option<GroupMemory> {
    // On 4.7.29 the launched `harperdb.js` is the server itself (its threads
    // are workers, not processes), but a Harper that forks would add members.
    let mut pids = vec![pgid];
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if pid != pgid
                && std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| parse_stat_pgrp(&s)) == Some(pgid)
            {
                pids.push(pid);
            }
        }
    }
    let mut group: Option<GroupMemory> = None;
    for pid in pids {
        let Some(m) = std::fs::read_to_string(format!("/proc/{pid}/status")).ok().and_then(|s| parse_proc_status(&s)) else {
            continue;
        };
        let g = group.get_or_insert(GroupMemory { rss: 0, hwm: 0, hwm_pid: pid, members: 0 });
        g.rss += m.rss;
        g.members += 1;
        if m.hwm > g.hwm {
            g.hwm = m.hwm;
            g.hwm_pid = pid;
        }
    }
    group
}

impl Sample {
    pub fn ok(&self) -> bool {
        self.rss.is_some()
    }
}

/// Reads a `system_information` answer (attributes memory and threads).
pub fn parse_sample(t: f64, v: &Value) -> Sample {
    let mem = &v["memory"];
    let num = |k: &str| mem.get(k).and_then(Value::as_u64);
    let threads = v["threads"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter_map(|th| {
                    let name = format!(
                        "{}/{}",
                        th.get("name").and_then(Value::as_str).unwrap_or("thread"),
                        th.get("threadId").and_then(Value::as_u64).unwrap_or(0)
                    );
                    Some((name, th.get("heapUsed")?.as_u64()?))
                })
                .collect()
        })
        .unwrap_or_default();
    let rss = num("rss");
    Sample {
        t,
        rss,
        heap_used: num("heapUsed"),
        heap_total: num("heapTotal"),
        external: num("external"),
        array_buffers: num("arrayBuffers"),
        threads,
        error: if rss.is_none() { Some("no memory.rss in the answer".into()) } else { None },
        ..Default::default()
    }
}

/// Samples `api` every `SAMPLE_EVERY` from `launched` until `stop` turns
/// true; with `pgid`, also the kernel's figures of that process group.
pub async fn sample_until(api: NodeApi, pgid: Option<u32>, launched: Instant, mut stop: watch::Receiver<bool>) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
        let t = launched.elapsed().as_secs_f64();
        // Read before the API call, which may take up to its 2 s timeout.
        let os = pgid.and_then(read_group_memory);
        let answer = api
            .op(json!({"operation":"system_information","attributes":["memory","threads"]}), Duration::from_secs(2))
            .await;
        let mut sample = match answer {
            Ok(v) => parse_sample(t, &v),
            Err(e) => {
                tracing::debug!(t, "memory sample failed: {e:#}");
                Sample { t, error: Some(crate::api::shorten(&e.root_cause().to_string(), 160)), ..Default::default() }
            }
        };
        sample.os_rss = os.as_ref().map(|g| g.rss);
        sample.os_hwm = os.as_ref().map(|g| g.hwm);
        samples.push(sample);
    }
    samples
}

/// The kernel's peak of a node: where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum OsPeakSource {
    /// The largest `VmRSS` sum sampled, at `t` seconds.
    Sampled { t: f64 },
    /// A member's `VmHWM`, read just before the node was stopped. It was
    /// reached after the sample at `after` and by the one at `by`, the first
    /// whose high-water mark had reached it (`by` is `None` when no sample
    /// saw it: the kernel folds a passing peak into VmHWM only lazily).
    HighWaterMark { pid: u32, after: Option<f64>, by: Option<f64> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OsPeak {
    pub bytes: u64,
    pub source: OsPeakSource,
}

const HWM_SLACK: u64 = 1 << 20;

/// The kernel's peak over the samples and the final read: the larger of the
/// largest sampled `VmRSS` sum and the final `VmHWM` (which also covers the
/// moments between samples). `None` if `/proc` gave nothing at all.
pub fn os_peak(samples: &[Sample], last: Option<&GroupMemory>) -> Option<OsPeak> {
    let sampled = samples
        .iter()
        .filter_map(|s| Some((s.os_rss?, s.t)))
        .fold(None, |m: Option<(u64, f64)>, x| if m.is_some_and(|m| m.0 >= x.0) { m } else { Some(x) });
    let hwm = last.map(|g| {
        // Within 1 MiB counts as reached: an idle node creeps up by a few pages,
        // and a peak placed "after the last sample" for 16 KiB would mislead.
        let first = samples.iter().position(|s| s.os_hwm.is_some_and(|h| h + HWM_SLACK >= g.hwm));
        let (after, by) = match first {
            Some(i) => (i.checked_sub(1).map(|j| samples[j].t), Some(samples[i].t)),
            None => (samples.iter().rev().find(|s| s.os_hwm.is_some()).map(|s| s.t), None),
        };
        OsPeak { bytes: g.hwm, source: OsPeakSource::HighWaterMark { pid: g.hwm_pid, after, by } }
    });
    let sampled = sampled.map(|(bytes, t)| OsPeak { bytes, source: OsPeakSource::Sampled { t } });
    match (sampled, hwm) {
        (Some(s), Some(h)) => Some(if h.bytes > s.bytes { h } else { s }),
        (s, h) => s.or(h),
    }
}

pub const CSV_HEADER: &str =
    "t_seconds,ok,rss_bytes,heap_used_bytes,heap_total_bytes,external_bytes,array_buffers_bytes,threads_heap_used_bytes,thread_heaps,os_rss_bytes,os_hwm_bytes,error";

/// The samples as CSV, one row per sample; a gap has ok=0 and empty API
/// numbers (the `os_` columns are the kernel's, filled whenever `/proc` was
/// readable). `error` stays last: it is free text.
pub fn to_csv(samples: &[Sample]) -> String {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    let n = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
    for x in samples {
        let threads_sum = if x.threads.is_empty() { None } else { Some(x.threads.iter().map(|(_, h)| h).sum()) };
        let heaps: Vec<String> = x.threads.iter().map(|(name, h)| format!("{name}={h}")).collect();
        let error = x.error.as_deref().unwrap_or("").replace('"', "'");
        let _ = writeln!(
            s,
            "{:.3},{},{},{},{},{},{},{},{},{},{},\"{}\"",
            x.t,
            u8::from(x.ok()),
            n(x.rss),
            n(x.heap_used),
            n(x.heap_total),
            n(x.external),
            n(x.array_buffers),
            n(threads_sum),
            heaps.join(";"),
            n(x.os_rss),
            n(x.os_hwm),
            error
        );
    }
    s
}

/// Splits a series into runs of consecutive successful samples, so the plot
/// shows gaps where sampling failed instead of drawing across them.
fn segments(samples: &[Sample], f: impl Fn(&Sample) -> Option<u64>) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for s in samples {
        match f(s) {
            Some(v) => out.last_mut().unwrap().push((s.t, v as f64 / (1024.0 * 1024.0))),
            None if !out.last().unwrap().is_empty() => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|seg| !seg.is_empty());
    out
}

/// Draws the kernel's RSS, the API's RSS and heap over time, the RSS limit as a dashed line and the
/// catch-up moment as a vertical line, into an SVG file.
pub fn write_svg(path: &Path, title: &str, samples: &[Sample], limit_bytes: u64, catch_up: Option<f64>) -> Result<()> {
    use plotters::prelude::*;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let t_max = samples.iter().map(|s| s.t).fold(catch_up.unwrap_or(1.0), f64::max).max(1.0) * 1.05;
    let y_max = samples
        .iter()
        .filter_map(|s| s.rss.max(s.heap_total).max(s.os_rss))
        .map(mib)
        .fold(mib(limit_bytes), f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..t_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc("seconds since node B was launched")
            .y_desc("MiB")
            .draw()?;
        type Field = fn(&Sample) -> Option<u64>;
        // The kernel's line is drawn first and wide, so the API's RSS (the
        // same figure once the API answers) runs visibly along it.
        let series: [(&str, RGBColor, u32, Field); 4] = [
            // The kernel's figure answers during the replay too, when the API does not.
            ("RSS (kernel, /proc)", RGBColor(200, 120, 220), 6, |s| s.os_rss),
            ("RSS (API)", RED, 2, |s| s.rss),
            ("heap used", BLUE, 2, |s| s.heap_used),
            ("heap total", RGBColor(120, 160, 230), 2, |s| s.heap_total),
        ];
        for (name, color, width, f) in series {
            let segs = segments(samples, f);
            for (i, seg) in segs.into_iter().enumerate() {
                let drawn = chart.draw_series(LineSeries::new(seg, color.stroke_width(width)))?;
                if i == 0 {
                    drawn.label(name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width)));
                }
            }
        }
        let gaps: Vec<(f64, f64)> = samples.iter().filter(|s| !s.ok()).map(|s| (s.t, 0.0)).collect();
        if !gaps.is_empty() {
            let grey = RGBColor(150, 150, 150);
            chart
                .draw_series(gaps.into_iter().map(|p| Circle::new(p, 3, grey.filled())))?
                .label("no answer from the API")
                .legend(move |(x, y)| Circle::new((x + 10, y), 3, grey.filled()));
        }
        let limit = mib(limit_bytes);
        chart
            .draw_series(DashedLineSeries::new(vec![(0.0, limit), (t_max, limit)], 8, 6, BLACK.stroke_width(1)))?
            .label(format!("RSS limit {:.0} MiB", limit))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        if let Some(c) = catch_up {
            let green = RGBColor(0, 140, 60);
            chart
                .draw_series(LineSeries::new(vec![(c, 0.0), (c, y_max)], green.stroke_width(2)))?
                .label(format!("caught up at {c:.1} s"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], green.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).position(SeriesLabelPosition::UpperLeft).draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("failed to draw {}: {e}", path.display()))
}

pub fn write_csv(path: &Path, samples: &[Sample]) -> Result<()> {
    std::fs::write(path, to_csv(samples)).with_context(|| format!("failed to write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // system_information from node B on harperdb 4.7.29 (trimmed).
    fn answer() -> Value {
        json!({"memory":{"total":25276514304u64,"free":22863712256u64,"rss":315908096,"heapTotal":134934528,
          "heapUsed":98500776,"external":25908681,"arrayBuffers":22077019},
          "threads":[{"threadId":1,"name":"http","heapTotal":134934528,"heapUsed":98388072,"externalMemory":25774632}]})
    }

    #[test]
    fn a_real_system_information_answer_becomes_a_sample() {
        let s = parse_sample(1.5, &answer());
        assert!(s.ok());
        assert_eq!(s.rss, Some(315908096));
        assert_eq!(s.heap_used, Some(98500776));
        assert_eq!(s.heap_total, Some(134934528));
        assert_eq!(s.threads, vec![("http/1".to_string(), 98388072)]);
    }

    #[test]
    fn an_answer_without_rss_is_a_gap() {
        let s = parse_sample(2.0, &json!({"memory":{}}));
        assert!(!s.ok());
        assert!(s.error.is_some());
    }

    #[test]
    fn csv_has_a_header_and_one_row_per_sample_with_gaps_empty() {
        let samples = vec![
            Sample { t: 0.0, error: Some("connection refused".into()), ..Default::default() },
            parse_sample(0.5, &answer()),
        ];
        let csv = to_csv(&samples);
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], CSV_HEADER);
        assert_eq!(rows[1], "0.000,0,,,,,,,,,,\"connection refused\"");
        assert_eq!(rows[2], "0.500,1,315908096,98500776,134934528,25908681,22077019,98388072,http/1=98388072,,,\"\"");
        let cols = CSV_HEADER.split(',').count();
        assert!(rows.iter().all(|r| r.split(',').count() == cols), "{csv}");
    }

    #[test]
    fn csv_keeps_the_kernels_figures_in_an_api_gap() {
        let s = Sample { t: 1.0, error: Some("connection refused".into()), os_rss: Some(200 << 20), os_hwm: Some(210 << 20), ..Default::default() };
        let csv = to_csv(&[s]);
        assert_eq!(csv.lines().nth(1).unwrap(), "1.000,0,,,,,,,,209715200,220200960,\"connection refused\"");
    }

    // From /proc/<pid>/status of a harperdb 4.7.29 node (trimmed).
    const STATUS: &str = "Name:\tnode\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t5408\nPid:\t5408\n\
        VmPeak:\t 11738504 kB\nVmSize:\t 11672968 kB\nVmLck:\t       0 kB\nVmHWM:\t  495408 kB\nVmRSS:\t  483800 kB\n\
        RssAnon:\t  401232 kB\nThreads:\t17\n";

    #[test]
    fn proc_status_gives_rss_and_high_water_mark_in_bytes() {
        assert_eq!(parse_proc_status(STATUS), Some(ProcMemory { rss: 483800 * 1024, hwm: 495408 * 1024 }));
        // A zombie has no Vm lines.
        assert_eq!(parse_proc_status("Name:\tnode\nState:\tZ (zombie)\n"), None);
    }

    #[test]
    fn our_own_proc_status_parses() {
        let own = parse_proc_status(&std::fs::read_to_string("/proc/self/status").unwrap()).expect("VmRSS and VmHWM in /proc/self/status");
        assert!(own.rss > 1 << 20 && own.hwm >= own.rss, "{own:?}");
    }

    #[test]
    fn stat_pgrp_is_read_after_the_command_name() {
        assert_eq!(parse_stat_pgrp("5408 (node) S 5188 5408 5408 0 -1 4194560 1 0"), Some(5408));
        assert_eq!(parse_stat_pgrp("77 (a) b (c) R 1 99 99 0"), Some(99));
        assert_eq!(parse_stat_pgrp("garbage"), None);
    }

    #[test]
    fn our_own_process_group_is_read_from_proc() {
        // The test binary is in some process group; reading it must find at least us.
        let own_pgrp = parse_stat_pgrp(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        let g = read_group_memory(own_pgrp).expect("our own group is readable");
        assert!(g.members >= 1 && g.rss > 0 && g.hwm > 0, "{g:?}");
        assert_eq!(read_group_memory(u32::MAX - 1), None, "a group that does not exist");
    }

    #[test]
    fn the_kernels_peak_is_the_larger_of_sampled_rss_and_the_final_high_water_mark() {
        const M: u64 = 1 << 20;
        let s = |t: f64, rss: u64, hwm: u64| Sample { t, os_rss: Some(rss * M), os_hwm: Some(hwm * M), ..Default::default() };
        let samples = [s(0.5, 100, 100), s(1.0, 300, 320), s(1.5, 250, 320)];
        let group = |hwm: u64, members: usize| GroupMemory { rss: 240 * M, hwm, hwm_pid: 9, members };
        let hwm = |after: Option<f64>, by: Option<f64>| OsPeakSource::HighWaterMark { pid: 9, after, by };
        assert_eq!(os_peak(&samples, Some(&group(320 * M, 1))), Some(OsPeak { bytes: 320 * M, source: hwm(Some(0.5), Some(1.0)) }));
        // Two members: their summed RSS can exceed either one's high-water mark.
        assert_eq!(
            os_peak(&samples, Some(&group(200 * M, 2))),
            Some(OsPeak { bytes: 300 * M, source: OsPeakSource::Sampled { t: 1.0 } })
        );
        // A high-water mark no sample saw: after the last one that read /proc.
        assert_eq!(os_peak(&samples, Some(&group(400 * M, 1))), Some(OsPeak { bytes: 400 * M, source: hwm(Some(1.5), None) }));
        // A few pages more than any sample saw is the plateau, not a new peak.
        assert_eq!(os_peak(&samples, Some(&group(320 * M + 16 * 1024, 1))).map(|p| p.source), Some(hwm(Some(0.5), Some(1.0))));
        assert_eq!(os_peak(&[], None), None);
    }

    #[test]
    fn plot_segments_break_at_gaps() {
        let ok = |t: f64| Sample { t, rss: Some(1024 * 1024), ..Default::default() };
        let gap = |t: f64| Sample { t, ..Default::default() };
        let segs = segments(&[gap(0.0), ok(0.5), ok(1.0), gap(1.5), ok(2.0)], |s| s.rss);
        assert_eq!(segs, vec![vec![(0.5, 1.0), (1.0, 1.0)], vec![(2.0, 1.0)]]);
    }

    #[test]
    fn the_svg_is_well_formed_and_shows_limit_and_catch_up() {
        let dir = std::env::temp_dir().join(format!("blobfail-svg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("memory.svg");
        let samples: Vec<Sample> =
            (0..20).map(|i| Sample { os_rss: Some(400 << 20), ..parse_sample(i as f64 * 0.5, &answer()) }).collect();
        write_svg(&path, "test", &samples, 1536 * 1024 * 1024, Some(7.0)).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", &svg[..100]);
        assert!(svg.contains("RSS limit 1536 MiB"));
        assert!(svg.contains("caught up at 7.0 s"));
        assert!(svg.contains("RSS (kernel, /proc)") && svg.contains("RSS (API)"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A stand-in operations API on a free loopback address: the first
    /// request gets a 503 (a gap), every later one a real 4.7.29 answer.
    async fn fake_node() -> (NodeApi, crate::cluster::address::ReservedAddress, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = crate::cluster::address::reserve_addresses(1).unwrap().pop().unwrap();
        let listener = tokio::net::TcpListener::bind((addr.ip, crate::api::OPS_PORT)).await.unwrap();
        let server = tokio::spawn(async move {
            let mut n = 0;
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                n += 1;
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let (status, body) = if n == 1 { ("503 Service Unavailable", "{}".to_string()) } else { ("200 OK", answer().to_string()) };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        (NodeApi::new("b", addr.ip, "admin", "pw").unwrap(), addr, server)
    }

    #[tokio::test]
    async fn the_sampler_keeps_failed_samples_as_gaps_and_stops_when_told() {
        let (api, _addr, server) = fake_node().await;
        let (stop_tx, stop_rx) = watch::channel(false);
        let launched = Instant::now();
        let own_pgrp = parse_stat_pgrp(&std::fs::read_to_string("/proc/self/stat").unwrap());
        let sampler = tokio::spawn(sample_until(api, own_pgrp, launched, stop_rx));
        // Stop once four samples' worth of time has passed (bounded).
        while launched.elapsed() < SAMPLE_EVERY * 3 + SAMPLE_EVERY / 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop_tx.send(true).unwrap();
        let samples = tokio::time::timeout(Duration::from_secs(5), sampler).await.expect("sampler stopped").unwrap();
        server.abort();
        // Ticks at 0, 0.5, 1.0, 1.5 s; a loaded machine may lose the last one.
        assert!((3..=4).contains(&samples.len()), "{samples:#?}");
        assert!(!samples[0].ok(), "the 503 must be a gap: {:?}", samples[0]);
        assert!(samples[0].error.as_deref().unwrap().contains("503"), "{:?}", samples[0].error);
        assert!(samples[1..].iter().all(|s| s.ok() && s.rss == Some(315908096)), "{samples:#?}");
        assert!(samples.iter().all(|s| s.os_rss.is_some_and(|r| r > 0)), "the kernel's figures, gap or not: {samples:#?}");
        for w in samples.windows(2) {
            let step = w[1].t - w[0].t;
            assert!((0.35..0.9).contains(&step), "samples {step:.3} s apart: {samples:#?}");
        }
    }
}
