//! Sampling a node's memory over time (`system_information` every 500 ms,
//! failed samples kept as gaps), and writing the samples as `memory.csv` and
//! `memory.svg`.

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
    }
}

/// Samples `api` every `SAMPLE_EVERY` from `launched` until `stop` turns true.
pub async fn sample_until(api: NodeApi, launched: Instant, mut stop: watch::Receiver<bool>) -> Vec<Sample> {
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
        let answer = api
            .op(json!({"operation":"system_information","attributes":["memory","threads"]}), Duration::from_secs(2))
            .await;
        samples.push(match answer {
            Ok(v) => parse_sample(t, &v),
            Err(e) => {
                tracing::debug!(t, "memory sample failed: {e:#}");
                Sample { t, error: Some(crate::api::shorten(&e.root_cause().to_string(), 160)), ..Default::default() }
            }
        });
    }
    samples
}

pub const CSV_HEADER: &str =
    "t_seconds,ok,rss_bytes,heap_used_bytes,heap_total_bytes,external_bytes,array_buffers_bytes,threads_heap_used_bytes,thread_heaps,error";

/// The samples as CSV, one row per sample; a gap has ok=0 and empty numbers.
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
            "{:.3},{},{},{},{},{},{},{},{},\"{}\"",
            x.t,
            u8::from(x.ok()),
            n(x.rss),
            n(x.heap_used),
            n(x.heap_total),
            n(x.external),
            n(x.array_buffers),
            n(threads_sum),
            heaps.join(";"),
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

/// Draws RSS and heap over time, the RSS limit as a dashed line and the
/// catch-up moment as a vertical line, into an SVG file.
pub fn write_svg(path: &Path, title: &str, samples: &[Sample], limit_bytes: u64, catch_up: Option<f64>) -> Result<()> {
    use plotters::prelude::*;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let t_max = samples.iter().map(|s| s.t).fold(catch_up.unwrap_or(1.0), f64::max).max(1.0) * 1.05;
    let y_max = samples
        .iter()
        .filter_map(|s| s.rss.max(s.heap_total))
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
        let series: [(&str, RGBColor, Field); 3] = [
            ("RSS", RED, |s| s.rss),
            ("heap used", BLUE, |s| s.heap_used),
            ("heap total", RGBColor(120, 160, 230), |s| s.heap_total),
        ];
        for (name, color, f) in series {
            let segs = segments(samples, f);
            for (i, seg) in segs.into_iter().enumerate() {
                let drawn = chart.draw_series(LineSeries::new(seg, color.stroke_width(2)))?;
                if i == 0 {
                    drawn.label(name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
                }
            }
        }
        let gaps: Vec<(f64, f64)> = samples.iter().filter(|s| !s.ok()).map(|s| (s.t, 0.0)).collect();
        if !gaps.is_empty() {
            let grey = RGBColor(150, 150, 150);
            chart
                .draw_series(gaps.into_iter().map(|p| Circle::new(p, 3, grey.filled())))?
                .label("no answer (sample failed)")
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
        assert_eq!(rows[1], "0.000,0,,,,,,,,\"connection refused\"");
        assert_eq!(rows[2], "0.500,1,315908096,98500776,134934528,25908681,22077019,98388072,http/1=98388072,\"\"");
        let cols = CSV_HEADER.split(',').count();
        assert!(rows.iter().all(|r| r.split(',').count() == cols), "{csv}");
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
        let samples: Vec<Sample> = (0..20).map(|i| parse_sample(i as f64 * 0.5, &answer())).collect();
        write_svg(&path, "test", &samples, 1536 * 1024 * 1024, Some(7.0)).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", &svg[..100]);
        assert!(svg.contains("RSS limit 1536 MiB"));
        assert!(svg.contains("caught up at 7.0 s"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A stand-in operations API on a free loopback address: the first
    /// request gets a 503 (a gap), every later one a real 4.7.29 answer.
    async fn fake_node() -> (NodeApi, crate::cluster::ReservedAddress, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = crate::cluster::reserve_addresses(1).unwrap().pop().unwrap();
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
        let sampler = tokio::spawn(sample_until(api, launched, stop_rx));
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
        for w in samples.windows(2) {
            let step = w[1].t - w[0].t;
            assert!((0.35..0.9).contains(&step), "samples {step:.3} s apart: {samples:#?}");
        }
    }
}
