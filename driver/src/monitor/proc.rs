//! The kernel's view of a node's memory: `/proc/<pid>/status` of every
//! member of its process group, summed, by kind (anonymous, file-backed,
//! shared), with the high-water mark; and the kernel's peak over a run.

use super::Sample;

/// The kernel's memory figures of one process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcMemory {
    pub rss: u64,
    /// `VmHWM`: the most the process was ever resident, between samples too.
    pub hwm: u64,
    /// `RssAnon`: anonymous memory (heaps, stacks): what runs a node out of memory.
    pub anon: Option<u64>,
    /// `RssFile`: file-backed pages (the database's memory-mapped files),
    /// which the kernel can reclaim under pressure.
    pub file: Option<u64>,
    /// `RssShmem`: shared memory.
    pub shmem: Option<u64>,
}

/// Reads `VmRSS`, `VmHWM` and `RssAnon`/`RssFile`/`RssShmem` (given in kB)
/// out of a `/proc/<pid>/status` text; `None` for a process without the
/// first two (a zombie, a kernel thread).
pub fn parse_proc_status(text: &str) -> Option<ProcMemory> {
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|k| k * 1024)
    };
    Some(ProcMemory { rss: kib("VmRSS")?, hwm: kib("VmHWM")?, anon: kib("RssAnon"), file: kib("RssFile"), shmem: kib("RssShmem") })
}

/// The process group of a `/proc/<pid>/stat` line: the fifth field, counted
/// after the `)` that ends the command name (which may hold spaces and `)`).
pub fn parse_stat_pgrp(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // state, ppid, pgrp
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// The memory of a node's process group, summed over its members.

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupMemory {
    pub rss: u64,
    /// The largest member `VmHWM`, and whose it is.
    pub hwm: u64,
    pub hwm_pid: u32,
    pub members: usize,
    /// Summed `RssAnon`, `RssFile`, `RssShmem` (`None` if a member lacks them).
    pub anon: Option<u64>,
    pub file: Option<u64>,
    pub shmem: Option<u64>,
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
        let g = group.get_or_insert(GroupMemory {
            rss: 0,
            hwm: 0,
            hwm_pid: pid,
            members: 0,
            anon: Some(0),
            file: Some(0),
            shmem: Some(0),
        });
        g.rss += m.rss;
        g.members += 1;
        let add = |sum: Option<u64>, part: Option<u64>| Some(sum? + part?);
        g.anon = add(g.anon, m.anon);
        g.file = add(g.file, m.file);
        g.shmem = add(g.shmem, m.shmem);
        if m.hwm > g.hwm {
            g.hwm = m.hwm;
            g.hwm_pid = pid;
        }
    }
    group
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

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tnode\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t5408\nPid:\t5408\n\
        VmPeak:\t 11738504 kB\nVmSize:\t 11672968 kB\nVmLck:\t       0 kB\nVmHWM:\t  495408 kB\nVmRSS:\t  483800 kB\n\
        RssAnon:\t  401232 kB\nRssFile:\t   82568 kB\nRssShmem:\t       0 kB\nThreads:\t17\n";

    #[test]
    fn proc_status_gives_rss_high_water_mark_and_kinds_in_bytes() {
        assert_eq!(
            parse_proc_status(STATUS),
            Some(ProcMemory {
                rss: 483800 * 1024,
                hwm: 495408 * 1024,
                anon: Some(401232 * 1024),
                file: Some(82568 * 1024),
                shmem: Some(0),
            })
        );
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
        // Every kind is there on this kernel, and they add up to the RSS.
        let kinds = g.anon.unwrap() + g.file.unwrap() + g.shmem.unwrap();
        assert!(kinds.abs_diff(g.rss) <= g.rss / 10 + (1 << 20), "{g:?}");
        assert_eq!(read_group_memory(u32::MAX - 1), None, "a group that does not exist");
    }

    #[test]
    fn the_kernels_peak_is_the_larger_of_sampled_rss_and_the_final_high_water_mark() {
        const M: u64 = 1 << 20;
        let s = |t: f64, rss: u64, hwm: u64| Sample { t, os_rss: Some(rss * M), os_hwm: Some(hwm * M), ..Default::default() };
        let samples = [s(0.5, 100, 100), s(1.0, 300, 320), s(1.5, 250, 320)];
        let group = |hwm: u64, members: usize| GroupMemory { rss: 240 * M, hwm, hwm_pid: 9, members, anon: None, file: None, shmem: None };
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

}
