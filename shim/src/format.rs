//! The shim's words: the banner, warnings, the exit summary and the fault
//! log's JSON lines, each built in a fixed stack buffer (no allocation) so it
//! can go out as a single `write(2)`.

use core::fmt::{self, Write};

use crate::config::{errno_name, Config, Problem};

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

/// Bytes as the inside of a JSON string: valid UTF-8 kept, invalid bytes as
/// U+FFFD. Returns whether anything was replaced.
pub fn push_json_str(out: &mut impl Write, bytes: &[u8]) -> bool {
    let mut lossy = false;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let _ = match c {
                '"' => out.write_str("\\\""),
                '\\' => out.write_str("\\\\"),
                '\n' => out.write_str("\\n"),
                '\t' => out.write_str("\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\u{:04x}", c as u32),
                c => out.write_char(c),
            };
        }
        if !chunk.invalid().is_empty() {
            lossy = true;
            let _ = out.write_str("\\ufffd");
        }
    }
    lossy
}

fn push_errno(out: &mut impl Write, errno: i32) {
    let _ = match errno_name(errno) {
        Some(name) => out.write_str(name),
        None => write!(out, "{errno}"),
    };
}

/// `blobfail: armed pid=… interval=7 path=/blobs/ ops=write errno=ENOENT skip=0 max=none log=none`
pub fn banner(out: &mut impl Write, cfg: &Config, pid: i32) {
    let plan = &cfg.plan;
    let _ = write!(out, "blobfail: armed pid={pid} interval={} path=", plan.interval);
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

/// The exit summary.
pub fn summary(out: &mut impl Write, pid: i32, matching: u64, faults: u64) {
    let _ = write!(out, "blobfail: summary pid={pid} matching={matching} faults={faults}");
}

pub fn io_uring_warning(out: &mut impl Write) {
    let _ = out.write_str(
        "blobfail: warning: UV_USE_IO_URING=1 lets libuv open files through io_uring, \
         which no preload library sees; set UV_USE_IO_URING=0 for faults to be injected",
    );
}

pub fn log_warning(out: &mut impl Write, path: &[u8], errno: i32) {
    let _ = out.write_str("blobfail: warning: cannot write the fault log HARPER_TEST_BLOB_FAIL_LOG=\"");
    push_shown(out, path, 512);
    let _ = out.write_str("\" (");
    push_errno(out, errno);
    let _ = out.write_str("); faults are still injected, but not logged");
}

/// What one fault log line says.
pub struct FaultRecord<'a> {
    pub seq: u64,
    pub fault: u64,
    pub pid: i32,
    pub tid: i64,
    pub function: &'static str,
    pub path: [&'a [u8]; 3],
    pub flags: i32,
    pub mode: Option<&'a [u8]>,
    pub errno: i32,
    pub time_ns: u128,
}

/// Longest path (in bytes) a fault line carries; longer ones are cut and say so.
pub const MAX_LOGGED_PATH: usize = 1024;

/// One JSON object, no newline.
pub fn fault_line(out: &mut impl Write, r: &FaultRecord) {
    let _ = write!(
        out,
        "{{\"seq\":{},\"fault\":{},\"pid\":{},\"tid\":{},\"function\":\"{}\",\"path\":\"",
        r.seq, r.fault, r.pid, r.tid, r.function
    );
    let mut budget = MAX_LOGGED_PATH;
    let mut lossy = false;
    let total: usize = r.path.iter().map(|p| p.len()).sum();
    for piece in r.path {
        let take = piece.len().min(budget);
        // Cutting may split a UTF-8 sequence: that shows as U+FFFD, which is
        // honest for a cut path.
        lossy |= push_json_str(out, &piece[..take]);
        budget -= take;
    }
    let _ = out.write_char('"');
    if total > MAX_LOGGED_PATH {
        let _ = write!(out, ",\"path_truncated_from\":{total}");
    }
    if lossy {
        let _ = out.write_str(",\"path_lossy\":true");
    }
    let _ = write!(out, ",\"flags\":{}", r.flags);
    if let Some(mode) = r.mode {
        let _ = out.write_str(",\"mode\":\"");
        push_json_str(out, mode);
        let _ = out.write_char('"');
    }
    let _ = write!(out, ",\"errno\":{},\"time_ns\":{}}}", r.errno, r.time_ns);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Parsed};

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
    fn fault_lines_are_json() {
        let rec = FaultRecord {
            seq: 14,
            fault: 2,
            pid: 10,
            tid: 11,
            function: "fopen64",
            path: [b"/tmp/a", b"/", b"blobs/\"q\"\xff\n"],
            flags: 577,
            mode: Some(b"w"),
            errno: 2,
            time_ns: 5,
        };
        let mut b = StackBuf::<2048>::new();
        fault_line(&mut b, &rec);
        let v: serde_json::Value = serde_json::from_str(&text(&b)).unwrap();
        assert_eq!(v["path"], "/tmp/a/blobs/\"q\"\u{fffd}\n");
        assert_eq!(
            text(&b),
            r#"{"seq":14,"fault":2,"pid":10,"tid":11,"function":"fopen64","path":"/tmp/a/blobs/\"q\"\ufffd\n","path_lossy":true,"flags":577,"mode":"w","errno":2,"time_ns":5}"#
        );
    }

    #[test]
    fn long_paths_are_cut_and_say_so() {
        let long = vec![b'a'; 3000];
        let rec = FaultRecord {
            seq: 1, fault: 1, pid: 1, tid: 1, function: "open", path: [b"", b"", &long],
            flags: 1, mode: None, errno: 2, time_ns: 0,
        };
        let mut b = StackBuf::<8192>::new();
        fault_line(&mut b, &rec);
        let t = text(&b);
        assert!(t.contains(&format!("\"{}\"", "a".repeat(MAX_LOGGED_PATH))), "{t}");
        assert!(t.contains("\"path_truncated_from\":3000"), "{t}");
    }
}
