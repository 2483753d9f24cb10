//! Sampling a node's memory over time (`system_information` every 500 ms,
//! failed samples kept as gaps; and, for a node run here, the kernel's view
//! of its process group by kind from `/proc`, which answers even while the
//! node's API does not), and writing the samples as `memory.csv`. `proc`
//! reads `/proc`; `plot` draws `memory.svg` and `memory-growth.svg`.

pub mod plot;
pub mod proc;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::api::NodeApi;
pub use proc::{os_peak, read_group_memory, GroupMemory, OsPeak, OsPeakSource};

pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// One memory sample of a node; `None` fields mean the sample failed (a gap).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
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
    /// The group's `RssAnon`, `RssFile` and `RssShmem` at the same tick.
    pub os_anon: Option<u64>,
    pub os_file: Option<u64>,
    pub os_shmem: Option<u64>,
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
        sample.os_anon = os.as_ref().and_then(|g| g.anon);
        sample.os_file = os.as_ref().and_then(|g| g.file);
        sample.os_shmem = os.as_ref().and_then(|g| g.shmem);
        samples.push(sample);
    }
    samples
}

impl Sample {
    /// The V8 heaps the API reports: every worker thread's `heapUsed`
    /// summed, or the answering thread's when there is no thread list
    /// (4.7.29 lists its worker threads; the main thread's heap is not
    /// reported apart).
    pub fn heaps_used(&self) -> Option<u64> {
        if self.threads.is_empty() {
            self.heap_used
        } else {
            Some(self.threads.iter().map(|(_, h)| h).sum())
        }
    }
}

/// The largest value of `f` over the samples, and when it was.
pub fn peak_of(samples: &[Sample], f: impl Fn(&Sample) -> Option<u64>) -> Option<(u64, f64)> {
    samples.iter().filter_map(|s| Some((f(s)?, s.t))).fold(None, |m, x| if m.is_some_and(|m: (u64, f64)| m.0 >= x.0) { m } else { Some(x) })
}

pub const CSV_HEADER: &str = "t_seconds,ok,rss_bytes,heap_used_bytes,heap_total_bytes,external_bytes,array_buffers_bytes,\
threads_heap_used_bytes,thread_heaps,os_rss_bytes,os_hwm_bytes,os_anon_bytes,os_file_bytes,os_shmem_bytes,error";

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
            "{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},\"{}\"",
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
            n(x.os_anon),
            n(x.os_file),
            n(x.os_shmem),
            error
        );
    }
    s
}

pub fn write_csv(path: &Path, samples: &[Sample]) -> Result<()> {
    std::fs::write(path, to_csv(samples)).with_context(|| format!("failed to write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::proc::parse_stat_pgrp;
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
        assert_eq!(rows[1], "0.000,0,,,,,,,,,,,,,\"connection refused\"");
        assert_eq!(rows[2], "0.500,1,315908096,98500776,134934528,25908681,22077019,98388072,http/1=98388072,,,,,,\"\"");
        let cols = CSV_HEADER.split(',').count();
        assert!(rows.iter().all(|r| r.split(',').count() == cols), "{csv}");
    }

    #[test]
    fn csv_keeps_the_kernels_figures_by_kind_in_an_api_gap() {
        let s = Sample {
            t: 1.0,
            error: Some("connection refused".into()),
            os_rss: Some(200 << 20),
            os_hwm: Some(210 << 20),
            os_anon: Some(150 << 20),
            os_file: Some(50 << 20),
            os_shmem: Some(0),
            ..Default::default()
        };
        let csv = to_csv(&[s]);
        assert_eq!(csv.lines().nth(1).unwrap(), "1.000,0,,,,,,,,209715200,220200960,157286400,52428800,0,\"connection refused\"");
    }

    #[test]
    fn the_heaps_are_the_worker_threads_summed_and_peaks_say_when() {
        let s = parse_sample(0.5, &answer());
        assert_eq!(s.heaps_used(), Some(98388072));
        let bare = Sample { heap_used: Some(7), ..Default::default() };
        assert_eq!(bare.heaps_used(), Some(7));
        let at = |t: f64, v: u64| Sample { t, os_anon: Some(v), ..Default::default() };
        assert_eq!(peak_of(&[at(0.5, 3), at(1.0, 9), at(1.5, 9), at(2.0, 4)], |s| s.os_anon), Some((9, 1.0)));
        assert_eq!(peak_of(&[Sample::default()], |s| s.os_anon), None);
    }

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