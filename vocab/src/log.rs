//! The fault log's lines and the exit summary: their keys, and the
//! functions that write them (into any `core::fmt::Write`, so the shim
//! builds each in a stack buffer and sends it with one `write(2)`).
//!
//! The fault log (`HARPER_TEST_BLOB_FAIL_LOG`) holds JSON objects, one a line:
//! - a fault: `{"seq":14,"fault":2,"pid":…,"tid":…,"call":"open","function":"fopen64","path":"…",…,"errno":2,"time_ns":…}`;
//!   with an effect other than `fail`, `"effect":"corrupt"` and, for
//!   `corrupt`, where and how many bytes changed;
//! - a process's last line, when it exits having seen a matching call:
//!   `{"summary":true,"pid":…,"matching":…,"faults":…,"calls":{"open":{"matching":…,"faults":…}},…}`.
//!   A process killed by `crash-before`/`crash-after` never writes one: its
//!   last line is the fault line of the crash, on disk before the SIGKILL;
//! - a runtime control change: `{"control":true,"pid":…,"generation":…,"action":"heal","time_ns":…}`.

use core::fmt::{self, Write};

use crate::{errno, units, Calls, CorruptMode, Effect, Family, FAMILIES};

pub const KEY_SEQ: &str = "seq";
pub const KEY_FAULT: &str = "fault";
pub const KEY_PID: &str = "pid";
pub const KEY_TID: &str = "tid";
pub const KEY_CALL: &str = "call";
pub const KEY_FUNCTION: &str = "function";
pub const KEY_FD: &str = "fd";
pub const KEY_PATH: &str = "path";
pub const KEY_NEW_PATH: &str = "new_path";
pub const KEY_FLAGS: &str = "flags";
pub const KEY_MODE: &str = "mode";
pub const KEY_SPACE: &str = "space";
pub const KEY_BYTES: &str = "bytes";
pub const KEY_WRITTEN: &str = "written";
pub const KEY_EFFECT: &str = "effect";
pub const KEY_CORRUPT_MODE: &str = "corrupt";
pub const KEY_CORRUPT_AT: &str = "corrupt_at";
pub const KEY_CORRUPT_BYTES: &str = "corrupt_bytes";
pub const KEY_ERRNO: &str = "errno";
pub const KEY_TIME_NS: &str = "time_ns";
pub const KEY_SUMMARY: &str = "summary";
pub const KEY_MATCHING: &str = "matching";
pub const KEY_FAULTS: &str = "faults";
pub const KEY_CALLS: &str = "calls";
pub const KEY_SPACE_USED: &str = "space_used";
pub const KEY_SPACE_FAULTS: &str = "space_faults";
pub const KEY_CONTROL: &str = "control";
pub const KEY_GENERATION: &str = "generation";
pub const KEY_ACTION: &str = "action";

/// How the stderr summary line starts: `blobfail: summary pid=4 matching=70 faults=10`.
pub const SUMMARY_PREFIX: &str = "blobfail: summary ";
/// How the stderr banner starts: `blobfail: armed pid=…`.
pub const ARMED_PREFIX: &str = "blobfail: armed ";

/// Longest path (in bytes) a fault line carries; longer ones are cut and say so.
pub const MAX_LOGGED_PATH: usize = 1024;

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

/// An errno by name when it has one, else its number.
pub fn push_errno(out: &mut impl Write, e: i32) {
    let _ = match errno::name(e) {
        Some(name) => out.write_str(name),
        None => write!(out, "{e}"),
    };
}

/// A duration as given: the largest of s, ms, us, ns that divides it.
pub fn push_duration(out: &mut impl Write, ns: u64) {
    let _ = units::write_duration(out, ns);
}

/// The chosen families as a comma list (`open,write`).
pub fn push_calls(out: &mut impl Write, calls: Calls) {
    for (i, f) in calls.iter().enumerate() {
        let _ = write!(out, "{}{}", if i == 0 { "" } else { "," }, f.name());
    }
}

/// What one fault log line says.
#[derive(Clone, Copy)]
pub struct FaultRecord<'a> {
    pub seq: u64,
    pub fault: u64,
    pub pid: i32,
    pub tid: i64,
    pub family: Family,
    pub function: &'static str,
    /// The path, in up to three pieces joined as they are (base, `/`, rest).
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
    pub effect: Effect,
    /// `corrupt`: the mode, the offset in the call's data of the first
    /// changed byte, and how many bytes changed.
    pub corrupt: Option<(CorruptMode, u64, u64)>,
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

/// One fault line: a JSON object, no newline.
pub fn fault_line(out: &mut impl Write, r: &FaultRecord) {
    let _ = write!(
        out,
        "{{\"seq\":{},\"fault\":{},\"pid\":{},\"tid\":{},\"call\":\"{}\",\"function\":\"{}\"",
        r.seq,
        r.fault,
        r.pid,
        r.tid,
        r.family.name(),
        r.function
    );
    if let Some(fd) = r.fd {
        let _ = write!(out, ",\"fd\":{fd}");
    }
    push_path_member(out, KEY_PATH, r.path);
    if let Some(new_path) = r.new_path {
        push_path_member(out, KEY_NEW_PATH, new_path);
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
    if r.effect != Effect::Fail {
        let _ = write!(out, ",\"effect\":\"{}\"", r.effect.name());
    }
    if let Some((mode, at, n)) = r.corrupt {
        let _ = write!(out, ",\"corrupt\":\"{}\",\"corrupt_at\":{at},\"corrupt_bytes\":{n}", mode.name());
    }
    let _ = write!(out, ",\"errno\":{},\"time_ns\":{}}}", r.errno, r.time_ns);
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
    pub fn sum(&self) -> (u64, u64) {
        self.families.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// The families worth naming: the chosen ones.
    fn named(&self) -> impl Iterator<Item = (Family, (u64, u64))> + '_ {
        self.calls.iter().map(|f| (f, self.families[f as usize]))
    }
}

/// The exit summary on stderr: `blobfail: summary pid=… matching=… faults=…`
/// as ever, then per family (` open=70/10 write=140/20`) when more than
/// `open` is chosen, and the space used when SPACE is set.
pub fn summary(out: &mut impl Write, pid: i32, t: &Totals) {
    let (matching, faults) = t.sum();
    let _ = write!(out, "{SUMMARY_PREFIX}pid={pid} matching={matching} faults={faults}");
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
    for (i, (f, (m, n))) in t.named().enumerate() {
        let _ = write!(out, "{}\"{}\":{{\"matching\":{m},\"faults\":{n}}}", if i == 0 { "" } else { "," }, f.name());
    }
    let _ = out.write_char('}');
    if let Some((used, cut)) = t.space {
        let _ = write!(out, ",\"space_used\":{used},\"space_faults\":{cut}");
    }
    let _ = write!(out, ",\"time_ns\":{time_ns}}}");
}

/// A runtime control change as this process saw it (one JSON object).
pub fn control_line(out: &mut impl Write, pid: i32, generation: u64, action: &str, time_ns: u128) -> fmt::Result {
    write!(out, "{{\"control\":true,\"pid\":{pid},\"generation\":{generation},\"action\":\"")?;
    push_json_str(out, action.as_bytes());
    write!(out, "\",\"time_ns\":{time_ns}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> FaultRecord<'static> {
        FaultRecord {
            seq: 14,
            fault: 2,
            pid: 10,
            tid: 11,
            family: Family::Open,
            function: "fopen64",
            path: [b"/tmp/a", b"/", b"blobs/\"q\"\xff\n"],
            new_path: None,
            fd: None,
            flags: Some(577),
            mode: Some(b"w"),
            space: None,
            effect: Effect::Fail,
            corrupt: None,
            errno: 2,
            time_ns: 5,
        }
    }

    #[test]
    fn fault_lines_are_json() {
        let mut s = String::new();
        fault_line(&mut s, &rec());
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["path"], "/tmp/a/blobs/\"q\"\u{fffd}\n");
        assert_eq!(
            s,
            r#"{"seq":14,"fault":2,"pid":10,"tid":11,"call":"open","function":"fopen64","path":"/tmp/a/blobs/\"q\"\ufffd\n","path_lossy":true,"flags":577,"mode":"w","errno":2,"time_ns":5}"#
        );
    }

    #[test]
    fn effects_and_corruption_are_logged() {
        let r = FaultRecord {
            family: Family::Write,
            function: "write",
            path: [b"", b"", b"/x/blobs/f"],
            fd: Some(9),
            flags: None,
            mode: None,
            effect: Effect::Corrupt,
            corrupt: Some((CorruptMode::Zero, 100, 16)),
            errno: 0,
            ..rec()
        };
        let mut s = String::new();
        fault_line(&mut s, &r);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v[KEY_EFFECT], "corrupt");
        assert_eq!((v[KEY_CORRUPT_MODE].as_str(), v[KEY_CORRUPT_AT].as_u64(), v[KEY_CORRUPT_BYTES].as_u64()), (Some("zero"), Some(100), Some(16)));
    }

    #[test]
    fn summaries() {
        let mut t = Totals { families: [(0, 0); FAMILIES.len()], calls: Calls::OPEN, space: None };
        t.families[0] = (70, 10);
        let mut s = String::new();
        summary(&mut s, 4, &t);
        assert_eq!(s, "blobfail: summary pid=4 matching=70 faults=10", "the default line as ever");
        t.calls = Calls(Family::Open.bit() | Family::Write.bit());
        t.families[1] = (140, 20);
        t.space = Some((100, 2));
        let mut s = String::new();
        summary(&mut s, 4, &t);
        assert_eq!(s, "blobfail: summary pid=4 matching=210 faults=30 open=70/10 write=140/20 space_used=100 space_faults=2");
        let mut s = String::new();
        summary_json(&mut s, 4, &t, 9);
        assert_eq!(
            s,
            r#"{"summary":true,"pid":4,"matching":210,"faults":30,"calls":{"open":{"matching":70,"faults":10},"write":{"matching":140,"faults":20}},"space_used":100,"space_faults":2,"time_ns":9}"#
        );
        let mut s = String::new();
        control_line(&mut s, 3, 2, "heal", 8).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&s).unwrap()[KEY_ACTION], "heal");
    }
}
