//! The shim's words: the banner, warnings, the exit summary and the fault
//! log's JSON lines, each built in a fixed stack buffer (no allocation) so it
//! can go out as a single `write(2)`.

use core::fmt::{self, Write};

use crate::config::{errno_name, Calls, Config, Family, Problem, Scope, FAMILIES};

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

/// A duration as given: the largest of s, ms, us, ns that divides it.
pub fn push_duration(out: &mut impl Write, ns: u64) {
    let _ = match ns {
        0 => out.write_str("0"),
        n if n % 1_000_000_000 == 0 => write!(out, "{}s", n / 1_000_000_000),
        n if n % 1_000_000 == 0 => write!(out, "{}ms", n / 1_000_000),
        n if n % 1_000 == 0 => write!(out, "{}us", n / 1_000),
        n => write!(out, "{n}ns"),
    };
}

fn push_calls(out: &mut impl Write, calls: Calls) {
    let mut first = true;
    for f in FAMILIES.iter().filter(|&&f| calls.has(f)) {
        if !first {
            let _ = out.write_char(',');
        }
        first = false;
        let _ = out.write_str(f.name());
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

/// What was counted, for the exit summaries.
pub struct Totals {
    /// (matching, faults) per family, indexed by `Family as usize`.
    pub families: [(u64, u64); FAMILIES.len()],
    pub calls: Calls,
    /// (bytes used, writes cut short or refused) when SPACE is set.
    pub space: Option<(u64, u64)>,
}

impl Totals {
    fn sum(&self) -> (u64, u64) {
        self.families.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// The families worth naming: the chosen ones.
    fn named(&self) -> impl Iterator<Item = (Family, (u64, u64))> + '_ {
        FAMILIES.iter().filter(|&&f| self.calls.has(f)).map(|&f| (f, self.families[f as usize]))
    }
}

/// The exit summary on stderr: `blobfail: summary pid=… matching=… faults=…`
/// as ever, then per family (` open=70/10 write=140/20`) when more than
/// `open` is chosen, and the space used when SPACE is set.
pub fn summary(out: &mut impl Write, pid: i32, t: &Totals) {
    let (matching, faults) = t.sum();
    let _ = write!(out, "blobfail: summary pid={pid} matching={matching} faults={faults}");
    if t.calls != Calls::OPEN {
        for (f, (m, n)) in t.named() {
            let _ = write!(out, " {}={m}/{n}", f.name());
        }
    }
    if let Some((used, cut)) = t.space {
        let _ = write!(out, " space_used={used} space_faults={cut}");
    }
}

/// The same summary as the fault log's last line of this process (one
/// JSON object, no newline).
pub fn summary_json(out: &mut impl Write, pid: i32, t: &Totals, time_ns: u128) {
    let (matching, faults) = t.sum();
    let _ = write!(out, "{{\"summary\":true,\"pid\":{pid},\"matching\":{matching},\"faults\":{faults},\"calls\":{{");
    let mut first = true;
    for (f, (m, n)) in t.named() {
        let _ = write!(out, "{}\"{}\":{{\"matching\":{m},\"faults\":{n}}}", if first { "" } else { "," }, f.name());
        first = false;
    }
    let _ = out.write_char('}');
    if let Some((used, cut)) = t.space {
        let _ = write!(out, ",\"space_used\":{used},\"space_faults\":{cut}");
    }
    let _ = write!(out, ",\"time_ns\":{time_ns}}}");
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
    /// The family (`open`, `write`, ...).
    pub call: &'static str,
    pub function: &'static str,
    pub path: [&'a [u8]; 3],
    /// A rename's other path.
    pub new_path: Option<[&'a [u8]; 3]>,
    /// The descriptor, for calls on one.
    pub fd: Option<i32>,
    /// Open flags, for the open family.
    pub flags: Option<i32>,
    pub mode: Option<&'a [u8]>,
    /// A write against the space budget: (bytes asked, bytes let through).
    pub space: Option<(u64, u64)>,
    pub errno: i32,
    pub time_ns: u128,
}

/// A path as a JSON string member, cut at [`MAX_LOGGED_PATH`] bytes, saying
/// so and whether bytes were replaced, under `key`.
fn push_path_member(out: &mut impl Write, key: &str, path: [&[u8]; 3]) {
    let _ = write!(out, ",\"{key}\":\"");
    let mut budget = MAX_LOGGED_PATH;
    let mut lossy = false;
    let total: usize = path.iter().map(|p| p.len()).sum();
    for piece in path {
        let take = piece.len().min(budget);
        // Cutting may split a UTF-8 sequence: that shows as U+FFFD, which is
        // honest for a cut path.
        lossy |= push_json_str(out, &piece[..take]);
        budget -= take;
    }
    let _ = out.write_char('"');
    if total > MAX_LOGGED_PATH {
        let _ = write!(out, ",\"{key}_truncated_from\":{total}");
    }
    if lossy {
        let _ = write!(out, ",\"{key}_lossy\":true");
    }
}

/// Longest path (in bytes) a fault line carries; longer ones are cut and say so.
pub const MAX_LOGGED_PATH: usize = 1024;

/// One JSON object, no newline.
pub fn fault_line(out: &mut impl Write, r: &FaultRecord) {
    let _ = write!(
        out,
        "{{\"seq\":{},\"fault\":{},\"pid\":{},\"tid\":{},\"call\":\"{}\",\"function\":\"{}\"",
        r.seq, r.fault, r.pid, r.tid, r.call, r.function
    );
    if let Some(fd) = r.fd {
        let _ = write!(out, ",\"fd\":{fd}");
    }
    push_path_member(out, "path", r.path);
    if let Some(new_path) = r.new_path {
        push_path_member(out, "new_path", new_path);
    }
    if let Some(flags) = r.flags {
        let _ = write!(out, ",\"flags\":{flags}");
    }
    if let Some(mode) = r.mode {
        let _ = out.write_str(",\"mode\":\"");
        push_json_str(out, mode);
        let _ = out.write_char('"');
    }
    if let Some((asked, written)) = r.space {
        let _ = write!(out, ",\"space\":true,\"bytes\":{asked},\"written\":{written}");
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
            call: "open",
            function: "fopen64",
            path: [b"/tmp/a", b"/", b"blobs/\"q\"\xff\n"],
            new_path: None,
            fd: None,
            flags: Some(577),
            mode: Some(b"w"),
            space: None,
            errno: 2,
            time_ns: 5,
        };
        let mut b = StackBuf::<2048>::new();
        fault_line(&mut b, &rec);
        let v: serde_json::Value = serde_json::from_str(&text(&b)).unwrap();
        assert_eq!(v["path"], "/tmp/a/blobs/\"q\"\u{fffd}\n");
        assert_eq!(
            text(&b),
            r#"{"seq":14,"fault":2,"pid":10,"tid":11,"call":"open","function":"fopen64","path":"/tmp/a/blobs/\"q\"\ufffd\n","path_lossy":true,"flags":577,"mode":"w","errno":2,"time_ns":5}"#
        );
    }

    #[test]
    fn long_paths_are_cut_and_say_so() {
        let long = vec![b'a'; 3000];
        let rec = FaultRecord {
            seq: 1, fault: 1, pid: 1, tid: 1, call: "open", function: "open", path: [b"", b"", &long],
            new_path: None, fd: None, flags: Some(1), mode: None, space: None, errno: 2, time_ns: 0,
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
            seq: 3, fault: 1, pid: 5, tid: 6, call: "write", function: "pwrite64",
            path: [b"", b"", b"/x/blobs/f"], new_path: None, fd: Some(9), flags: None, mode: None,
            space: Some((10, 4)), errno: 28, time_ns: 7,
        };
        let mut b = StackBuf::<2048>::new();
        fault_line(&mut b, &rec);
        assert_eq!(
            text(&b),
            r#"{"seq":3,"fault":1,"pid":5,"tid":6,"call":"write","function":"pwrite64","fd":9,"path":"/x/blobs/f","space":true,"bytes":10,"written":4,"errno":28,"time_ns":7}"#
        );
        let rec = FaultRecord {
            call: "rename", function: "renameat2", fd: None, space: None, new_path: Some([b"/x", b"/", b"blobs/g"]), ..rec
        };
        let mut b = StackBuf::<2048>::new();
        fault_line(&mut b, &rec);
        let v: serde_json::Value = serde_json::from_str(&text(&b)).unwrap();
        assert_eq!((v["path"].as_str(), v["new_path"].as_str()), (Some("/x/blobs/f"), Some("/x/blobs/g")));
    }

    #[test]
    fn summaries() {
        let mut t = Totals { families: [(0, 0); 8], calls: Calls::OPEN, space: None };
        t.families[0] = (70, 10);
        let mut b = StackBuf::<512>::new();
        summary(&mut b, 4, &t);
        assert_eq!(text(&b), "blobfail: summary pid=4 matching=70 faults=10", "the default line as ever");
        t.calls = Calls(Family::Open.bit() | Family::Write.bit());
        t.families[1] = (140, 20);
        t.space = Some((100, 2));
        let mut b = StackBuf::<512>::new();
        summary(&mut b, 4, &t);
        assert_eq!(text(&b), "blobfail: summary pid=4 matching=210 faults=30 open=70/10 write=140/20 space_used=100 space_faults=2");
        let mut b = StackBuf::<512>::new();
        summary_json(&mut b, 4, &t, 9);
        assert_eq!(
            text(&b),
            r#"{"summary":true,"pid":4,"matching":210,"faults":30,"calls":{"open":{"matching":70,"faults":10},"write":{"matching":140,"faults":20}},"space_used":100,"space_faults":2,"time_ns":9}"#
        );
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
