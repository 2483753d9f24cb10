//! `blobfail`: runs fault-injection scenarios against a real Harper cluster.
//!
//! `main` only dispatches a command and maps its outcome to an exit code: 0
//! when every check passed, 1 when a check failed, 2 when the cluster could
//! not be run (bad input included) or no check failed but one could not be
//! decided (the run was interrupted: Ctrl-C, SIGTERM, SIGHUP, a node stopped
//! from outside). The module map is in the driver's README.

mod api;
mod backend;
mod cli;
mod cluster;
mod cluster_status;
mod doctor;
mod embedded;
mod exec;
mod fault;
mod harper_log;
mod events;
mod journal;
mod judge;
mod junit;
mod model;
mod monitor;
mod net;
mod observations;
mod nemesis;
mod ports;
mod progress;
mod report;
mod runner;
mod scenario;
mod text;
mod topology;
mod workload;

use std::process::ExitCode;

use anyhow::Result;

use cli::Command;
use model::Status;

fn main() -> ExitCode {
    let (cli, matches) = match cli::parse() {
        Ok(parsed) => parsed,
        Err(e) => return clap_error(e),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BLOBFAIL_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome: Result<Status> = match cli.command {
        // These pass a program's exit status through, or their own.
        Command::Exec(args) => return exec::exec(args),
        Command::PowerLoss(args) => return exec::power_loss(args),
        Command::Ctl(args) => return exec::ctl(args),
        Command::Judge(cmd) => judge::judge(cmd),
        Command::Run(args) => cli::request(args, &matches).and_then(|req| {
            // Before the async runtime: its threads must start inside the namespace.
            net::session::prepare(&req)?;
            runner::run(req)
        }),
        Command::Component { out } => cluster::install::write_component(&out).map(|()| {
            let files: Vec<&str> = cluster::install::COMPONENT_FILES.iter().map(|(f, _)| *f).collect();
            println!(
                "wrote the blobfail component ({}) to {}\n\
                 deploy it on every node: copy the folder to <harper root>/components/{}/ and restart Harper",
                files.join(", "),
                out.display(),
                cluster::install::COMPONENT_NAME
            );
            Status::Pass
        }),
        Command::Completions { shell } => {
            let mut cmd = <cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "blobfail", &mut std::io::stdout());
            Ok(Status::Pass)
        }
        Command::ShimPath => embedded::shim_path().map(|path| {
            println!("{}", path.display());
            Status::Pass
        }),
        Command::Doctor { shim, harper_version } => {
            let findings = doctor::examine(shim.as_deref(), &harper_version);
            for f in &findings {
                println!("{}", f.line());
            }
            Ok(if findings.iter().all(|f| f.ok || f.optional) { Status::Pass } else { Status::Fail })
        }
    };
    match outcome {
        Ok(Status::Pass) => ExitCode::from(0),
        // Trade-off: an undecided check (with none failed) exits 2, like a run
        // that could not be done, not 1: 1 stays "blobfail found something"
        // (a regression to look at), 2 "no answer, rerun or fix the setup".
        // A failure outranks undecided checks beside it, except in an
        // interrupted run, whose verdict is unknown whatever it had found.
        Ok(Status::Fail) => ExitCode::from(1),
        Ok(Status::Unknown) => ExitCode::from(2),
        Err(e) => {
            eprintln!("blobfail: {}", one_line(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

/// `--help` and `--version` print as clap has them (exit 0); a bad command
/// line is one line naming what was wrong and where to look (exit 2).
fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        let _ = e.print();
        return ExitCode::from(if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand { 2 } else { 0 });
    }
    // clap's own text, up to its usage and "for more information" lines.
    let text = e.render().to_string();
    let what: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let what = what.join(" ");
    // The command's own help when the line named one (clap's list of them,
    // so a new command needs no edit here), the top help otherwise.
    let named = std::env::args().nth(1).filter(|c| {
        use clap::CommandFactory;
        cli::Cli::command().get_subcommands().any(|s| s.get_name() == c)
    });
    let help = match named {
        Some(command) => format!("blobfail {command} --help"),
        None => "blobfail --help".into(),
    };
    eprintln!("blobfail: {}; see `{help}`", what.strip_prefix("error: ").unwrap_or(&what));
    ExitCode::from(2)
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join(" ")
}
