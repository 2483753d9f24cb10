//! The shim's words: the banner, warnings, the exit summary and the fault
//! log's JSON lines, each built in a fixed stack buffer (no allocation) so it
//! can go out as a single `write(2)`.

use core::fmt::{self, Write};

pub use blobfail_vocab::log::{
    fault_line, push_calls, push_duration, push_errno, summary, summary_json, FaultRecord, Totals,
};

use crate::config::{Calls, Config, Problem, Scope};

/// A fixed-capacity byte buffer; what does not fit is dropped, and the last
/// byte is kept for the newline so a line always ends as one.
pub struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    pub const fn new() -> Self {
        StackBuf { buf: [0; N], len: 0 }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let room = N.saturating_sub(1 + self.len);
        let n = bytes.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    /// Ends the line: always a newline, even when the text was cut.
    pub fn finish_line(&mut self) -> &[u8] {
        if N > 0 {
            self.buf[self.len] = b'\n';
            self.len += 1;
        }
        &self.buf[..self.len]
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Default for StackBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Bytes for a human: printable ASCII as is, the rest as `\xNN`, cut at `max`.
pub fn push_shown(out: &mut impl Write, bytes: &[u8], max: usize) {
    for &b in bytes.iter().take(max) {
        let _ = match b {
            b'"' | b'\\' => write!(out, "\\{}", b as char),
            0x20..=0x7e => out.write_char(b as char),
            _ => write!(out, "\\x{b:02x}"),
        };
    }
    if bytes.len() > max {
        let _ = write!(out, "...({} bytes)", bytes.len());
    }
}

/// `blobfail: armed pid=… interval=7 path=/blobs/ ops=write errno=ENOENT skip=0 max=none log=none`,
/// then only what differs from the defaults of the later variables
/// (` calls=open,write space=1048576 delay=50ms scope=tree io_uring=allow`).
pub fn banner(out: &mut impl Write, cfg: &Config, pid: i32) {
    let plan = &cfg.plan;
    let _ = write!(out, "blobfail: armed pid={pid} interval=");
    let _ = match plan.interval {
        0 => out.write_str("none"),
        n => write!(out, "{n}"),
    };
    let _ = out.write_str(" path=");
    push_shown(out, cfg.needle(), 256);
    let _ = write!(out, " ops={} errno=", cfg.ops.name());
    push_errno(out, cfg.errno);
    let _ = write!(out, " skip={} max=", plan.skip);
    let _ = match plan.max {
        Some(m) => write!(out, "{m}"),
        None => out.write_str("none"),
    };
    let _ = out.write_str(" log=");
    match cfg.log_path() {
        Some(p) => push_shown(out, p, 512),
        None => {
            let _ = out.write_str("none");
        }
    }
    if cfg.calls != Calls::OPEN {
        let _ = out.write_str(" calls=");
        push_calls(out, cfg.calls);
    }
    if let Some(space) = cfg.space {
        let _ = write!(out, " space={space}");
    }
    if cfg.delay_ns > 0 {
        let _ = out.write_str(" delay=");
        push_duration(out, cfg.delay_ns);
    }
    if cfg.scope == Scope::Tree {
        let _ = out.write_str(" scope=tree");
    }
    if !cfg.deny_io_uring {
        let _ = out.write_str(" io_uring=allow");
    }
}

/// One line per invalid variable, naming it, its value, and what to do.
pub fn problem(out: &mut impl Write, p: &Problem) {
    let _ = write!(out, "blobfail: ignoring {}=\"", p.var);
    push_shown(out, p.value, 64);
    let _ = write!(
        out,
        "\": {}; fault injection is off until it is fixed or unset",
        p.what
    );
}

/// For `UV_USE_IO_URING` set to a value libuv takes as "on" while the shim
/// leaves io_uring alone (`HARPER_TEST_BLOB_FAIL_IO_URING=allow`).
pub fn io_uring_warning(out: &mut impl Write, value: &[u8]) {
    let _ = out.write_str("blobfail: warning: UV_USE_IO_URING=\"");
    push_shown(out, value, 32);
    let _ = out.write_str(
        "\" lets libuv open and write files through io_uring, which no preload library sees, \
         and HARPER_TEST_BLOB_FAIL_IO_URING=allow leaves it on; unset that (deny) or set UV_USE_IO_URING=0 \
         for faults to be injected",
    );
}

/// Under SCOPE=tree, when the shared counters cannot be set up.
pub fn tree_warning(out: &mut impl Write) {
    let _ = out.write_str(
        "blobfail: warning: HARPER_TEST_BLOB_FAIL_SCOPE=tree: cannot share the counters \
         (memfd_create or mmap failed); this process counts on its own",
    );
}

/// A control file that cannot be used: the plan stays the environment's.
pub fn control_warning(out: &mut impl Write, path: &[u8], why: &str) {
    let _ = out.write_str("blobfail: warning: HARPER_TEST_BLOB_FAIL_CONTROL=\"");
    push_shown(out, path, 512);
    let _ = write!(out, "\" is {why}; the plan stays the environment's, with no runtime control");
}

pub fn log_warning(out: &mut impl Write, path: &[u8], errno: i32) {
    let _ = out.write_str("blobfail: warning: cannot write the fault log HARPER_TEST_BLOB_FAIL_LOG=\"");
    push_shown(out, path, 512);
    let _ = out.write_str("\" (");
    push_errno(out, errno);
    let _ = out.write_str("); faults are still injected, but not logged");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Family, Parsed};
    use blobfail_vocab::{log::MAX_LOGGED_PATH, Effect};

    fn text<const N: usize>(b: &StackBuf<N>) -> String {
        String::from_utf8(b.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn stack_buf_always_ends_lines() {
        let mut b = StackBuf::<8>::new();
        b.push(b"0123456789");
        assert_eq!(b.finish_line(), b"0123456\n");
    }

    #[test]
    fn banner_text() {
        let vars: [(&str, &[u8]); 2] = [("HARPER_TEST_BLOB_FAIL_INTERVAL", b"7"), ("HARPER_TEST_BLOB_FAIL_MAX", b"3")];
        let Parsed::Armed(cfg) = parse(|n| vars.iter().find(|v| v.0 == n).map(|v| v.1)) else { panic!() };
        let mut b = StackBuf::<512>::new();
        banner(&mut b, &cfg, 42);
        assert_eq!(
            text(&b),
            "blobfail: armed pid=42 interval=7 path=/blobs/ ops=write errno=ENOENT skip=0 max=3 log=none"
        );
    }

    #[test]
    fn problem_text_shows_hostile_bytes_safely() {
        let p = Problem { var: "HARPER_TEST_BLOB_FAIL_INTERVAL", value: b"7\n\xff\"", what: "not a number" };
        let mut b = StackBuf::<512>::new();
        problem(&mut b, &p);
        assert_eq!(
            text(&b),
            "blobfail: ignoring HARPER_TEST_BLOB_FAIL_INTERVAL=\"7\\x0a\\xff\\\"\": not a number; \
             fault injection is off until it is fixed or unset"
        );
    }

    #[test]
    fn long_paths_are_cut_and_say_so() {
        let long = vec![b'a'; 3000];
        let rec = FaultRecord {
            seq: 1, fault: 1, pid: 1, tid: 1, family: Family::Open, function: "open", path: [b"", b"", &long],
            new_path: None, fd: None, flags: Some(1), mode: None, space: None, effect: Effect::Fail, corrupt: None,
            errno: 2, time_ns: 0,
        };
        let mut b = StackBuf::<8192>::new();
        fault_line(&mut b, &rec);
        let t = text(&b);
        assert!(t.contains(&format!("\"{}\"", "a".repeat(MAX_LOGGED_PATH))), "{t}");
        assert!(t.contains("\"path_truncated_from\":3000"), "{t}");
    }

    #[test]
    fn descriptor_and_rename_lines() {
        let rec = FaultRecord {
            seq: 3, fault: 1, pid: 5, tid: 6, family: Family::Write, function: "pwrite64",
            path: [b"", b"", b"/x/blobs/f"], new_path: None, fd: Some(9), flags: None, mode: None,
            space: Some((10, 4)), effect: Effect::Fail, corrupt: None, errno: 28, time_ns: 7,
        };
        let mut b = StackBuf::<2048>::new();
        fault_line(&mut b, &rec);
        assert_eq!(
            text(&b),
            r#"{"seq":3,"fault":1,"pid":5,"tid":6,"call":"write","function":"pwrite64","fd":9,"path":"/x/blobs/f","space":true,"bytes":10,"written":4,"errno":28,"time_ns":7}"#
        );
        let rec = FaultRecord {
            family: Family::Rename, function: "renameat2", fd: None, space: None, new_path: Some([b"/x", b"/", b"blobs/g"]), ..rec
        };
        let mut b = StackBuf::<2048>::new();
        fault_line(&mut b, &rec);
        let v: serde_json::Value = serde_json::from_str(&text(&b)).unwrap();
        assert_eq!((v["path"].as_str(), v["new_path"].as_str()), (Some("/x/blobs/f"), Some("/x/blobs/g")));
    }

    #[test]
    fn durations_and_uring_warning() {
        for (ns, want) in [(0, "0"), (50_000_000, "50ms"), (2_000_000_000, "2s"), (1_500, "1500ns"), (3_000, "3us")] {
            let mut b = StackBuf::<64>::new();
            push_duration(&mut b, ns);
            assert_eq!(text(&b), want);
        }
        let mut b = StackBuf::<512>::new();
        io_uring_warning(&mut b, b" 1");
        assert!(text(&b).starts_with("blobfail: warning: UV_USE_IO_URING=\" 1\" lets libuv"), "{}", text(&b));
    }
}
