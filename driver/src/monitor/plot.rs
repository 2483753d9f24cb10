//! The plots: `memory.svg` (one catch-up: the kernel's anonymous and
//! file-backed memory of node B stacked, its RSS, the V8 heaps, the limit
//! and the catch-up moment) and `memory-growth.svg` (a sweep: peak memory
//! by kind and catch-up time against backlog size).

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use super::Sample;

const MIB: f64 = 1024.0 * 1024.0;

fn mib(b: u64) -> f64 {
    b as f64 / MIB
}

/// Splits a series into runs of consecutive successful samples, so the plot
/// shows gaps where sampling failed instead of drawing across them.
pub fn segments(samples: &[Sample], f: impl Fn(&Sample) -> Option<u64>) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for s in samples {
        match f(s) {
            Some(v) => out.last_mut().unwrap().push((s.t, mib(v))),
            None if !out.last().unwrap().is_empty() => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|seg| !seg.is_empty());
    out
}

/// A filled band between `low` and `high` (MiB) over each run of samples
/// that has both, as polygons.
fn bands(samples: &[Sample], low: impl Fn(&Sample) -> Option<u64>, high: impl Fn(&Sample) -> Option<u64>) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new()];
    for s in samples {
        match (low(s), high(s)) {
            (Some(l), Some(h)) => runs.last_mut().unwrap().push((s.t, mib(l), mib(h))),
            _ if !runs.last().unwrap().is_empty() => runs.push(Vec::new()),
            _ => {}
        }
    }
    runs.into_iter()
        .filter(|r| r.len() > 1)
        .map(|r| r.iter().map(|p| (p.0, p.2)).chain(r.iter().rev().map(|p| (p.0, p.1))).collect())
        .collect()
}

type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draws one catch-up's memory over time into an SVG file: the kernel's
/// anonymous memory and file-backed memory of B's process group stacked as
/// areas, its RSS as a line over them, the API's RSS and V8 heaps as lines,
/// the limit dashed and the catch-up moment as a vertical line.
pub fn write_svg(path: &Path, title: &str, samples: &[Sample], limit_bytes: u64, catch_up: Option<f64>) -> Result<()> {
    let t_max = samples.iter().map(|s| s.t).fold(catch_up.unwrap_or(1.0), f64::max).max(1.0) * 1.05;
    let y_max = samples
        .iter()
        .filter_map(|s| s.rss.max(s.heap_total).max(s.os_rss))
        .map(mib)
        .fold(mib(limit_bytes), f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    let draw = || -> Drawn {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..t_max, 0f64..y_max)?;
        chart.configure_mesh().x_desc("seconds since node B was launched").y_desc("MiB").draw()?;
        // Anonymous memory at the bottom (what runs a node out of memory),
        // file-backed pages on top of it (reclaimable: the database's maps).
        let anon = RGBColor(230, 120, 60);
        let file = RGBColor(120, 180, 230);
        type Field = fn(&Sample) -> Option<u64>;
        let stacked: [(&str, RGBColor, Field, Field); 2] = [
            ("anonymous (kernel RssAnon)", anon, |_| Some(0), |s| s.os_anon),
            ("file-backed (kernel RssFile)", file, |s| s.os_anon, |s| Some(s.os_anon? + s.os_file?)),
        ];
        for (name, color, low, high) in stacked {
            let polys = bands(samples, low, high);
            for (i, poly) in polys.into_iter().enumerate() {
                let drawn = chart.draw_series(std::iter::once(Polygon::new(poly, color.mix(0.45).filled())))?;
                if i == 0 {
                    drawn.label(name).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.mix(0.45).filled()));
                }
            }
        }
        // The kernel's RSS outlines the stack; the API's RSS (the same figure
        // once the API answers) runs along it.
        let series: [(&str, RGBColor, u32, Field); 5] = [
            ("RSS (kernel, /proc)", RGBColor(200, 120, 220), 4, |s| s.os_rss),
            ("RSS (API)", RED, 2, |s| s.rss),
            ("V8 heap used (answering thread)", BLUE, 2, |s| s.heap_used),
            ("V8 heap total (answering thread)", RGBColor(120, 160, 230), 2, |s| s.heap_total),
            ("V8 heaps used, all worker threads", RGBColor(0, 90, 40), 2, Sample::heaps_used),
        ];
        for (name, color, width, f) in series {
            for (i, seg) in segments(samples, f).into_iter().enumerate() {
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
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("failed to draw {}: {e}", path.display()))
}

/// One backlog size of a sweep, as `memory-growth.svg` plots it.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthPoint {
    pub records: u64,
    pub peak_anon: Option<u64>,
    pub peak_file: Option<u64>,
    pub peak_heap: Option<u64>,
    pub catch_up_seconds: Option<f64>,
}

/// Draws a sweep: peak anonymous, file-backed and heap memory against the
/// backlog size (top), catch-up time against it (bottom).
pub fn write_growth_svg(path: &Path, title: &str, points: &[GrowthPoint]) -> Result<()> {
    let x_max = points.iter().map(|p| p.records as f64 / 1000.0).fold(1.0, f64::max) * 1.08;
    let y_max = points.iter().flat_map(|p| [p.peak_anon, p.peak_file, p.peak_heap]).flatten().map(mib).fold(1.0, f64::max) * 1.15;
    let t_max = points.iter().filter_map(|p| p.catch_up_seconds).fold(1.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (960, 720)).into_drawing_area();
    let draw = || -> Drawn {
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 20))?;
        let (top, bottom) = root.split_vertically(440);
        let mut mem = ChartBuilder::on(&top)
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        mem.configure_mesh().x_desc("backlog (thousands of records)").y_desc("peak MiB").draw()?;
        type Field = fn(&GrowthPoint) -> Option<u64>;
        let series: [(&str, RGBColor, Field); 3] = [
            ("peak anonymous (RssAnon)", RGBColor(230, 120, 60), |p| p.peak_anon),
            ("peak file-backed (RssFile)", RGBColor(70, 140, 210), |p| p.peak_file),
            ("peak V8 heaps (worker threads)", RGBColor(0, 90, 40), |p| p.peak_heap),
        ];
        for (name, color, f) in series {
            let pts: Vec<(f64, f64)> = points.iter().filter_map(|p| Some((p.records as f64 / 1000.0, mib(f(p)?)))).collect();
            mem.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
            mem.draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        mem.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).position(SeriesLabelPosition::UpperLeft).draw()?;
        let mut time = ChartBuilder::on(&bottom)
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max, 0f64..t_max)?;
        time.configure_mesh().x_desc("backlog (thousands of records)").y_desc("catch-up s").draw()?;
        let black = RGBColor(40, 40, 40);
        let pts: Vec<(f64, f64)> = points.iter().filter_map(|p| Some((p.records as f64 / 1000.0, p.catch_up_seconds?))).collect();
        time.draw_series(pts.iter().map(|&p| Circle::new(p, 4, black.filled())))?;
        time.draw_series(LineSeries::new(pts, black.stroke_width(2)))?
            .label("catch-up time (B launched until its count matched A's)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], black.stroke_width(2)));
        time.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).position(SeriesLabelPosition::UpperLeft).draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("failed to draw {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_segments_break_at_gaps() {
        let ok = |t: f64| Sample { t, rss: Some(1024 * 1024), ..Default::default() };
        let gap = |t: f64| Sample { t, ..Default::default() };
        let segs = segments(&[gap(0.0), ok(0.5), ok(1.0), gap(1.5), ok(2.0)], |s| s.rss);
        assert_eq!(segs, vec![vec![(0.5, 1.0), (1.0, 1.0)], vec![(2.0, 1.0)]]);
    }

    #[test]
    fn a_band_goes_along_its_top_and_back_along_its_bottom() {
        let s = |t: f64, anon: u64, file: u64| Sample { t, os_anon: Some(anon << 20), os_file: Some(file << 20), ..Default::default() };
        let b = bands(&[s(0.0, 1, 2), s(1.0, 3, 4)], |s| s.os_anon, |s| Some(s.os_anon? + s.os_file?));
        assert_eq!(b, vec![vec![(0.0, 3.0), (1.0, 7.0), (1.0, 3.0), (0.0, 1.0)]]);
    }

    #[test]
    fn the_svg_is_well_formed_and_shows_limit_kinds_and_catch_up() {
        let dir = std::env::temp_dir().join(format!("blobfail-svg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("memory.svg");
        let samples: Vec<Sample> = (0..20)
            .map(|i| Sample {
                t: i as f64 * 0.5,
                rss: Some(400 << 20),
                heap_used: Some(90 << 20),
                os_rss: Some(400 << 20),
                os_anon: Some(250 << 20),
                os_file: Some(150 << 20),
                threads: vec![("http/1".into(), 90 << 20)],
                ..Default::default()
            })
            .collect();
        write_svg(&path, "test", &samples, 1536 * 1024 * 1024, Some(7.0)).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", &svg[..100]);
        for label in ["RSS limit 1536 MiB", "caught up at 7.0 s", "RSS (kernel, /proc)", "RSS (API)", "anonymous (kernel RssAnon)", "file-backed (kernel RssFile)", "V8 heaps used, all worker threads"] {
            assert!(svg.contains(label), "no {label:?} in the SVG");
        }
        assert!(svg.matches("<polygon").count() >= 2, "the two stacked areas");
        let growth = dir.join("memory-growth.svg");
        let point = |records: u64, anon: u64, secs: f64| GrowthPoint {
            records,
            peak_anon: Some(anon << 20),
            peak_file: Some(anon << 21),
            peak_heap: Some(80 << 20),
            catch_up_seconds: Some(secs),
        };
        write_growth_svg(&growth, "sweep", &[point(20000, 200, 4.0), point(80000, 210, 12.0), point(320000, 230, 50.0)]).unwrap();
        let svg = std::fs::read_to_string(&growth).unwrap();
        for label in ["peak anonymous (RssAnon)", "peak file-backed (RssFile)", "peak V8 heaps (worker threads)", "catch-up time"] {
            assert!(svg.contains(label), "no {label:?} in the growth SVG");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
