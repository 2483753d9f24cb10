//! `blobfail exec`, `blobfail power-loss` and `blobfail ctl`: the shim for
//! any program, from the command line, in the driver's own plan words.
//!
//! - [`plan`]: the options, checked with the shared vocabulary, turned into
//!   the shim's environment;
//! - [`table`]: what the fault log says, per process and family;
//! - [`crash`]: `--crash-at` and `--crash-sweep` (a run killed at a call,
//!   its files rolled back by [`power_loss`]).

pub mod crash;
pub mod ctl;
pub mod plan;
pub mod power_loss;
pub mod table;

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, ExitStatus};

use anyhow::{bail, Context, Result};

pub use ctl::CtlArgs;
pub use plan::ExecArgs;
pub use power_loss::PowerLossArgs;

/// How a program ended, as the exec commands report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    /// Killed by a signal: crashed, not failed.
    Signaled(i32),
}

impl Ended {
    pub fn of(status: ExitStatus) -> Ended {
        match (status.code(), status.signal()) {
            (Some(c), _) => Ended::Exited(c),
            (None, Some(s)) => Ended::Signaled(s),
            _ => Ended::Exited(1),
        }
    }

    /// The exit code to pass on: the program's, or 128 + the signal (as a shell does).
    pub fn code(self) -> u8 {
        match self {
            Ended::Exited(c) => c.clamp(0, 255) as u8,
            Ended::Signaled(s) => (128 + s).clamp(0, 255) as u8,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Ended::Exited(c) => format!("exited with {c}"),
            Ended::Signaled(s) => format!("crashed: killed by {}", signal_name(s)),
        }
    }
}

pub fn signal_name(s: i32) -> String {
    nix::sys::signal::Signal::try_from(s).map(|s| s.as_str().to_string()).unwrap_or_else(|_| format!("signal {s}"))
}

/// Runs `program` with `env` added; a program that cannot be started is
/// an error whose exit code the caller passes on (127 not found, 126 not runnable).
/// `group`: in a process group of its own (for crashes that kill it whole).
pub fn spawn(program: &[OsString], env: &[(String, String)], group: bool) -> Result<Ended, (u8, String)> {
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..]);
    if group {
        // A crash (CRASH=group) kills this group whole, and not us.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    }
    for var in blobfail_vocab::vars::ALL {
        cmd.env_remove(var);
    }
    cmd.env_remove(blobfail_vocab::vars::TREE);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let name = program[0].to_string_lossy().into_owned();
    match cmd.status() {
        Ok(status) => Ok(Ended::of(status)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err((127, format!("{name}: command not found"))),
        Err(e) => Err((126, format!("{name}: cannot run it: {e}"))),
    }
}

/// `blobfail exec`: the program's exit code (or 128 + its signal), 127 for
/// a program not found, 2 for a bad plan, always with one line for a person.
pub fn exec(args: ExecArgs) -> ExitCode {
    match run_exec(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("blobfail: exec: {}", one_line(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn run_exec(args: ExecArgs) -> Result<u8> {
    let plan = plan::Plan::from_args(&args)?;
    if let Some(sweep) = &args.crash_sweep {
        return crash::sweep(&args, &plan, sweep);
    }
    if let Some(at) = &args.crash_at {
        return crash::crash_at(&args, &plan, at);
    }
    let scratch = tempfile::tempdir().context("failed to make a scratch folder")?;
    let log = args.log.clone().unwrap_or_else(|| scratch.path().join("faults.jsonl"));
    let env = plan.env(&plan::shim(args.shim.as_deref())?, &log, None);
    let ended = match spawn(&args.command, &env, false) {
        Ok(e) => e,
        Err((code, line)) => {
            eprintln!("blobfail: exec: {line}");
            return Ok(code);
        }
    };
    eprint!("{}", table::render(&args.command, ended, &table::read(&log)));
    Ok(ended.code())
}

/// `blobfail power-loss JOURNAL`.
pub fn power_loss(args: PowerLossArgs) -> ExitCode {
    match power_loss::run(&args) {
        Ok(()) => ExitCode::from(0),
        Err(e) => {
            eprintln!("blobfail: power-loss: {}", one_line(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

/// `blobfail ctl FILE …`.
pub fn ctl(args: CtlArgs) -> ExitCode {
    match ctl::run(&args) {
        Ok(said) => {
            println!("{said}");
            ExitCode::from(0)
        }
        Err(e) => {
            eprintln!("blobfail: ctl: {}", one_line(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

pub(crate) fn bail_if_empty(cmd: &[OsString]) -> Result<()> {
    if cmd.is_empty() {
        bail!("no command: give it after --, e.g. blobfail exec --calls write --interval 3 -- ./prog ARGS");
    }
    Ok(())
}
