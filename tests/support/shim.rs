//! Helpers for running real programs with the shim preloaded: a scratch
//! folder with `blobs/` and `other/`, the test programs built from
//! `tests/programs/`, and a runner that preloads and arms the shim.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use crate::artifacts::{profile_dir, shim_path};

/// Every variable the shim reads, cleared before each run so the caller's
/// environment cannot leak into a test.
pub const SHIM_VARS: &[&str] = &[
    "HARPER_TEST_BLOB_FAIL_INTERVAL",
    "HARPER_TEST_BLOB_FAIL_PATH",
    "HARPER_TEST_BLOB_FAIL_OPS",
    "HARPER_TEST_BLOB_FAIL_ERRNO",
    "HARPER_TEST_BLOB_FAIL_SKIP",
    "HARPER_TEST_BLOB_FAIL_MAX",
    "HARPER_TEST_BLOB_FAIL_LOG",
    "HARPER_TEST_BLOB_FAIL_CALLS",
    "HARPER_TEST_BLOB_FAIL_SPACE",
    "HARPER_TEST_BLOB_FAIL_DELAY",
    "HARPER_TEST_BLOB_FAIL_SCOPE",
    "HARPER_TEST_BLOB_FAIL_IO_URING",
    "HARPER_TEST_BLOB_FAIL_TREE",
    "HARPER_TEST_BLOB_FAIL_EFFECT",
    "HARPER_TEST_BLOB_FAIL_CORRUPT",
    "HARPER_TEST_BLOB_FAIL_SEED",
    "HARPER_TEST_BLOB_FAIL_JOURNAL",
    "HARPER_TEST_BLOB_FAIL_CONTROL",
    "UV_USE_IO_URING",
];

/// A scratch folder holding `blobs/` (where writes match) and `other/`.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("blobfail-test-").tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        std::fs::create_dir(dir.path().join("other")).unwrap();
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn blobs(&self) -> PathBuf {
        self.path().join("blobs")
    }

    pub fn log(&self) -> PathBuf {
        self.path().join("faults.jsonl")
    }

    /// The fault log's fault lines, each parsed as JSON (panics on a bad
    /// line), without the summary lines processes add at exit.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        self.all_log_lines().into_iter().filter(|l| l["summary"] != true).collect()
    }

    /// The fault log's summary lines (`"summary":true`), one per process
    /// that exited through exit().
    pub fn log_summaries(&self) -> Vec<serde_json::Value> {
        self.all_log_lines().into_iter().filter(|l| l["summary"] == true).collect()
    }

    /// Every line of the fault log, parsed as JSON.
    pub fn all_log_lines(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad fault log line {l:?}: {e}")))
            .collect()
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

/// What a finished program said.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// stderr lines the shim wrote (they all start with `blobfail:`).
    pub fn shim_lines(&self) -> Vec<String> {
        self.stderr().lines().filter(|l| l.starts_with("blobfail:")).map(str::to_owned).collect()
    }

    pub fn assert_success(&self) -> &Self {
        assert!(
            self.output.status.success(),
            "program failed: {}\nstdout:\n{}\nstderr:\n{}",
            self.output.status,
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// The 1-based numbers of the lines `<n> ... err <code>` in stdout,
    /// with their error code, for programs that print one line per call.
    pub fn failures(&self) -> Vec<(u64, String)> {
        self.stdout()
            .lines()
            .filter_map(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                let err = words.iter().position(|w| *w == "err")?;
                Some((words[0].parse().expect("line number"), words.get(err + 1)?.to_string()))
            })
            .collect()
    }

    /// How many calls the program reported, failed or not.
    pub fn calls(&self) -> usize {
        self.stdout().lines().filter(|l| l.ends_with(" ok") || l.contains(" err ")).count()
    }
}

/// Runs `cmd` with the shim preloaded and exactly `vars` set among the
/// shim's variables.
pub fn run_preloaded(cmd: Command, vars: &[(&str, &str)]) -> Run {
    run_with(cmd, vars)
}

/// Like [`run_preloaded`], with values that need not be UTF-8.
pub fn run_preloaded_os(cmd: Command, vars: &[(&str, &OsStr)]) -> Run {
    run_with(cmd, vars)
}

fn run_with<V: AsRef<OsStr>>(mut cmd: Command, vars: &[(&str, V)]) -> Run {
    for var in SHIM_VARS {
        cmd.env_remove(var);
    }
    cmd.env("LD_PRELOAD", shim_path());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let output = cmd.output().unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"));
    Run { output }
}

/// A C program from `tests/programs/`, compiled with the system `cc` (once
/// per test binary and set of flags).
pub fn c_program(name: &str, flags: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let key = format!("{name} {}", flags.join(" "));
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(&key) {
        return p.clone();
    }
    let src = programs_dir().join(format!("{name}.c"));
    let out_dir = profile_dir().join("blobfail-test-programs");
    std::fs::create_dir_all(&out_dir).unwrap();
    let tag: String = flags.concat().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let exe = out_dir.join(format!("{name}-{tag}-{}", std::process::id()));
    let status = Command::new("cc")
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .arg("-pthread")
        .status()
        .expect("run cc (install a C compiler: apt-get install gcc)");
    assert!(status.success(), "cc failed for {}", src.display());
    built.insert(key, exe.clone());
    exe
}

/// `tests/programs/`, where the test programs' sources are.
pub fn programs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("programs")
}

/// The real python3 executable (not a version manager's shim script, which
/// would run several processes, each with its own counter).
pub fn python3() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is needed for the Python tests");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
    .clone()
}

/// The numbers 1..=count that are multiples of `n`: where faults must land.
pub fn every_nth(n: u64, count: u64) -> Vec<u64> {
    (1..=count).filter(|k| k % n == 0).collect()
}

/// Runs `cmd` (already set up: its environment, any `pre_exec`) with its
/// stdout and stderr captured, and fails the test when it is still running
/// after `limit`: for anything that could hang, a hang must fail, not block
/// the suite. The program runs in its own process group, and on a timeout
/// the whole group is killed, so forked children go too.
pub fn output_within(mut cmd: Command, limit: std::time::Duration) -> Output {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    use std::sync::Arc;
    use std::time::Instant;

    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"));
    let collect = |mut pipe: Box<dyn Read + Send>| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        (buf, reader)
    };
    let (out, out_reader) = collect(Box::new(child.stdout.take().unwrap()));
    let (err, err_reader) = collect(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the program") {
            break status;
        }
        if start.elapsed() > limit {
            // The group's id is the child's pid (process_group(0)). The
            // shell's own kill, because procps-ng 4's /usr/bin/kill takes a
            // negative pid for an option and signals nothing.
            let pgid = child.id();
            assert!(pgid > 1, "unexpected child pid {pgid}");
            let _ = Command::new("sh").args(["-c", "kill -s KILL -- \"-$1\"", "sh", &pgid.to_string()]).status();
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(std::time::Duration::from_millis(100));
            panic!(
                "{cmd:?} was still running after {limit:?} (a hang?): killed it\nstdout so far:\n{}\nstderr so far:\n{}",
                String::from_utf8_lossy(&out.lock().unwrap()),
                String::from_utf8_lossy(&err.lock().unwrap()),
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    out_reader.join().unwrap();
    err_reader.join().unwrap();
    let stdout = std::mem::take(&mut *out.lock().unwrap());
    let stderr = std::mem::take(&mut *err.lock().unwrap());
    Output { status, stdout, stderr }
}

/// [`run_preloaded_os`] bounded in time by [`output_within`].
pub fn run_preloaded_within(mut cmd: Command, vars: &[(&str, &OsStr)], limit: std::time::Duration) -> Run {
    for var in SHIM_VARS {
        cmd.env_remove(var);
    }
    cmd.env("LD_PRELOAD", shim_path());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    Run { output: output_within(cmd, limit) }
}
