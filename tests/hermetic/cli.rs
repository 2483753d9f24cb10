//! The command line around the runs: `--help` with examples for every
//! command, shell completions generated from the CLI definition, `doctor`
//! on this machine, and `component`. No cluster needed.

use std::path::Path;
use std::time::Duration;

use blobfail_suite::driver::*;

fn ok(args: &[&str]) -> String {
    let run = run_bounded(blobfail(args), Duration::from_secs(30));
    assert_eq!(run.code(), Some(0), "blobfail {args:?}: {}", run.stderr);
    run.stdout
}

#[test]
fn every_command_has_help_with_examples() {
    let main = ok(&["--help"]);
    for want in ["Examples:", "blobfail run blob-save", "blobfail doctor", "blobfail completions bash"] {
        assert!(main.contains(want), "blobfail --help lacks {want:?}:\n{main}");
    }
    let run = ok(&["run", "--help"]);
    for want in ["Examples:", "blobfail run all --junit junit.xml", "--attach", "--node-b <URL>", "BLOBFAIL_PASSWORD", "Exit codes:"] {
        assert!(run.contains(want), "blobfail run --help lacks {want:?}:\n{run}");
    }
    assert!(ok(&["doctor", "--help"]).contains("Examples:\n  blobfail doctor\n"));
    assert!(ok(&["completions", "--help"]).contains("blobfail completions zsh >"));
    assert!(ok(&["component", "--help"]).contains("blobfail component --out ./blobfail-component"));
}

/// The commands `blobfail --help` lists, in its order.
fn help_commands() -> Vec<String> {
    let help = ok(&["--help"]);
    let section = help.split_once("Commands:\n").expect("a Commands: section").1;
    section.lines().take_while(|l| !l.trim().is_empty()).map(|l| l.split_whitespace().next().unwrap().to_string()).collect()
}

/// The long options `blobfail run --help` lists (`--out`, ...), sorted.
fn run_options() -> Vec<String> {
    let mut opts: Vec<String> = ok(&["run", "--help"])
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("-h, ").unwrap_or(l);
            let long = l.strip_prefix("--")?;
            Some(format!("--{}", long.split([' ', '=']).next().unwrap()))
        })
        .collect();
    opts.sort();
    opts.dedup();
    opts
}

const SCENARIOS: [&str; 7] =
    ["blob-save", "backlog-memory", "crash-recovery", "corrupt-blob", "fault-heal", "partition-heal", "all"];

/// What bash offers after `line` with the generated script sourced: the
/// completion function run as bash runs it on <TAB>.
fn bash_completes(script: &Path, line: &str) -> Vec<String> {
    let run = std::process::Command::new("bash")
        .args([
            "--norc",
            "-c",
            r#"source "$1"; read -ra COMP_WORDS <<< "$2"; [[ "$2" == *" " ]] && COMP_WORDS+=("");
               COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE="$2"; COMP_POINT=${#2};
               _blobfail blobfail "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"; printf '%s\n' "${COMPREPLY[@]}""#,
            "bash",
        ])
        .arg(script)
        .arg(line)
        .output()
        .expect("run bash");
    assert!(run.status.success(), "bash on {line:?}: {}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8(run.stdout).unwrap().lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The bash script, run by bash, offers exactly the commands, options and
/// values the CLI defines (read from its own --help, so a new option needs
/// no edit here); zsh and fish (not installed here) declare the same
/// commands and `run` options, each in its own syntax.
#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    let commands = help_commands();
    assert_eq!(
        commands,
        ["run", "component", "completions", "shim-path", "doctor", "exec", "power-loss", "ctl", "judge", "help"],
        "blobfail --help"
    );
    let run_opts = run_options();
    for want in ["--out", "--junit", "--attach", "--node-b", "--fault", "--rss-limit", "--help"] {
        assert!(run_opts.iter().any(|o| o == want), "run --help lacks {want}: {run_opts:?}");
    }

    let dir = run_folder();
    let bash = dir.path().join("blobfail.bash");
    std::fs::write(&bash, ok(&["completions", "bash"])).unwrap();
    let top: Vec<String> = ["-h", "-V", "--help", "--version"].iter().map(|s| s.to_string()).chain(commands.clone()).collect();
    assert_eq!(sorted(bash_completes(&bash, "blobfail ")), sorted(top));
    let run_words: Vec<String> = run_opts.iter().cloned().chain(["-h".into()]).chain(SCENARIOS.map(String::from)).collect();
    assert_eq!(sorted(bash_completes(&bash, "blobfail run ")), sorted(run_words));
    assert_eq!(bash_completes(&bash, "blobfail completions "), ["-h", "--help", "bash", "elvish", "fish", "powershell", "zsh"]);
    assert_eq!(bash_completes(&bash, "blobfail run blob-save --jun"), ["--junit"]);

    // zsh: the top level's `commands=(...)` block names each command with
    // its description; the `(run)` arm declares each of run's options.
    let zsh = ok(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef blobfail\n"), "{}", &zsh[..zsh.len().min(200)]);
    let block = zsh.split_once("commands=(\n").expect("zsh commands block").1.split_once("\n    )").unwrap().0;
    let zsh_commands: Vec<String> = block.lines().map(|l| l.trim_start_matches('\'').split(':').next().unwrap().to_string()).collect();
    assert_eq!(zsh_commands, commands);
    let run_arm = zsh.split_once("(run)\n").expect("zsh (run) arm").1.split_once("\n;;").unwrap().0;
    let zsh_run: Vec<String> = run_arm
        .lines()
        .filter_map(|l| l.trim_start_matches(['\'', '*']).strip_prefix("--"))
        .map(|l| format!("--{}", l.split(['=', '[']).next().unwrap()))
        .collect();
    assert_eq!(sorted(zsh_run), run_opts);
    let values = run_arm.split_once("':scenario -- ").expect("zsh: run's scenario argument").1;
    let values = values.split_once(":((").unwrap().1.split_once("))").unwrap().0;
    let zsh_scenarios: Vec<&str> = values.lines().map(|l| l.split_once("\\:").unwrap().0).collect();
    assert_eq!(zsh_scenarios, SCENARIOS, "zsh: run's scenarios");

    // fish: one `complete` line per command while none is given yet, and one
    // per option of `run`.
    let fish = ok(&["completions", "fish"]);
    let fish_commands: Vec<String> = fish
        .lines()
        .filter_map(|l| l.strip_prefix("complete -c blobfail -n \"__fish_blobfail_needs_command\" -f -a \""))
        .map(|l| l.split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(fish_commands, commands);
    let fish_run: Vec<String> = fish
        .lines()
        .filter_map(|l| l.strip_prefix("complete -c blobfail -n \"__fish_blobfail_using_subcommand run\" "))
        // `-s h -l help`: a short option first, when there is one.
        .filter_map(|l| l.strip_prefix("-s h ").unwrap_or(l).strip_prefix("-l "))
        .map(|l| format!("--{}", l.split(' ').next().unwrap()))
        .collect();
    assert_eq!(sorted(fish_run), run_opts);

    let run = run_bounded(blobfail(&["completions", "powerpc"]), Duration::from_secs(30));
    assert_eq!(run.code(), Some(2));
    assert_eq!(
        run.stderr.trim_end(),
        "blobfail: invalid value 'powerpc' for '<SHELL>' [possible values: bash, elvish, fish, powershell, zsh] \
         tip: a similar value exists: 'powershell'; see `blobfail completions --help`"
    );
    assert_eq!(run.stdout, "");
}

/// A cache folder holding what `doctor` takes for an installed harperdb.
fn fake_cache(version: &str) -> tempfile::TempDir {
    let dir = run_folder();
    let pkg = dir.path().join(format!("blobfail/harperdb-{version}/node_modules/harperdb"));
    std::fs::create_dir_all(pkg.join("bin")).unwrap();
    std::fs::write(pkg.join("bin/harperdb.js"), "// stand-in\n").unwrap();
    std::fs::write(pkg.join("package.json"), format!("{{\"name\":\"harperdb\",\"version\":\"{version}\"}}\n")).unwrap();
    dir
}

fn doctor(cache: &Path, path_var: Option<&str>, args: &[&str]) -> (Option<i32>, Vec<String>) {
    let mut all = vec!["doctor"];
    all.extend(args);
    let mut cmd = blobfail(&all);
    cmd.env("XDG_CACHE_HOME", cache);
    if let Some(p) = path_var {
        cmd.env("PATH", p);
    }
    let run = run_bounded(cmd, Duration::from_secs(60));
    (run.code(), run.stdout.lines().map(str::to_string).collect())
}

/// The items a local run needs (the last line, `network`, is for the
/// network nemeses only: ok as root with iptables, and never the exit code).
fn items(lines: &[String]) -> Vec<(String, String)> {
    let (network, needed) = lines.split_last().expect("doctor printed nothing");
    assert!(network.starts_with("ok       network   ") || network.starts_with("MISSING  network   "), "{network}");
    needed
        .iter()
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap().to_string(), w.next().unwrap().to_string())
        })
        .collect()
}

fn expect(states: [&str; 5]) -> Vec<(String, String)> {
    ["node", "npm", "shim", "loopback", "harper"].iter().zip(states).map(|(i, s)| (s.to_string(), i.to_string())).collect()
}

#[test]
fn doctor_on_this_machine_finds_everything_and_exits_0() {
    let cache = fake_cache("4.7.29");
    let (code, lines) = doctor(cache.path(), None, &[]);
    assert_eq!(items(&lines), expect(["ok"; 5]), "{lines:#?}");
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(lines[0].contains(" v2") || lines[0].contains(" v3"), "{}", lines[0]);
    assert!(lines[2].ends_with("libblobfail.so"), "{}", lines[2]);
    assert!(lines[3].contains("free (ports 9925, 9926, 9933, 1883, 8883)"), "{}", lines[3]);
}

#[test]
fn doctor_says_what_is_missing_and_exits_1() {
    let empty = run_folder();
    let (code, lines) = doctor(empty.path(), None, &["--harper-version", "4.7.28"]);
    assert_eq!(code, Some(1));
    assert_eq!(items(&lines), expect(["ok", "ok", "ok", "ok", "MISSING"]), "{lines:#?}");
    assert!(lines[4].contains("harperdb 4.7.28 is not cached in "), "{}", lines[4]);
    assert!(lines[4].contains("the first `blobfail run` installs it with npm"), "{}", lines[4]);

    let cache = fake_cache("4.7.29");
    let (code, lines) = doctor(cache.path(), Some("/nonexistent"), &["--shim", "/nonexistent/libblobfail.so"]);
    assert_eq!(code, Some(1));
    assert_eq!(items(&lines), expect(["MISSING", "MISSING", "MISSING", "ok", "ok"]), "{lines:#?}");
    assert!(lines[0].contains("node is not on PATH: install Node.js 20 or newer"), "{}", lines[0]);
    assert!(lines[2].contains("the preload shim /nonexistent/libblobfail.so does not exist"), "{}", lines[2]);
}

#[test]
fn component_writes_the_files_to_deploy() {
    let dir = run_folder();
    let out = dir.path().join("component");
    let said = ok(&["component", "--out", out.to_str().unwrap()]);
    assert!(said.contains("copy the folder to <harper root>/components/blobfail/"), "{said}");
    let mut files: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["config.yaml", "package.json", "resources.js", "schema.graphql"]);
    let schema = std::fs::read_to_string(out.join("schema.graphql")).unwrap();
    assert!(schema.contains("type LargeLocation @table @export"), "{schema}");
}

/// `--node NAME=URL`: every bad one is one line naming what is wrong and
/// what to pass, exit 2, before any folder is made or node is reached.
#[test]
fn a_bad_node_by_name_is_refused_with_one_line() {
    let out = tempfile::tempdir().unwrap();
    let folder = out.path().join("run");
    let (a, b) = ("a=http://127.0.0.1:9925", "b=http://127.0.0.1:9925");
    for (args, expect) in [
        (
            vec!["--node", "x=http://127.0.0.1:9925", "--node", b],
            "blobfail: invalid value 'x=http://127.0.0.1:9925' for '--node <NAME=URL>': \"x\" is not a node name: nodes are a, b, c, d, e (one letter each); see `blobfail run --help`",
        ),
        (
            vec!["--node", "http://127.0.0.1:9925", "--node", b],
            "blobfail: invalid value 'http://127.0.0.1:9925' for '--node <NAME=URL>': \"http://127.0.0.1:9925\" is not NAME=URL (e.g. a=http://10.0.0.1:9925); see `blobfail run --help`",
        ),
        (
            vec!["--node", "a", "--node", b],
            "blobfail: invalid value 'a' for '--node <NAME=URL>': \"a\" is not NAME=URL (e.g. a=http://10.0.0.1:9925); see `blobfail run --help`",
        ),
        (
            vec!["--node", "a=", "--node", b],
            "blobfail: invalid value 'a=' for '--node <NAME=URL>': node a has no URL (e.g. a=http://10.0.0.1:9925); see `blobfail run --help`",
        ),
        (vec!["--node", a, "--node", b, "--node", "B=http://127.0.0.2:9925"], "blobfail: --node b is given twice: name each node once"),
        (vec!["--node", b, "--node", "c=http://127.0.0.3:9925"], "blobfail: --attach needs node a (it serves the load): pass --node a=URL"),
        (vec!["--node", a], "blobfail: --attach needs node b (it runs with the shim preloaded): pass --node b=URL"),
        (
            vec!["--node", a, "--node-b", "http://127.0.0.1:9925"],
            "blobfail: --node and --rest cannot be mixed with --node-a, --node-b, --rest-a or --rest-b: name every node one way, e.g. --node a=URL --node b=URL",
        ),
        (
            vec!["--node-a", "http://127.0.0.1:9925", "--node-b", "http://127.0.0.1:9925", "--rest", "b=http://127.0.0.1:9926"],
            "blobfail: --node and --rest cannot be mixed with --node-a, --node-b, --rest-a or --rest-b: name every node one way, e.g. --node a=URL --node b=URL",
        ),
        (vec!["--node", a, "--node", b, "--rest", "c=http://127.0.0.3:9926"], "blobfail: --rest c=… names no node given: pass --node c=URL too"),
        (
            vec!["--node", a, "--node", b, "--rest", "b=http://127.0.0.1:9926", "--rest", "b=http://127.0.0.1:9927"],
            "blobfail: --rest b is given twice: name each node once",
        ),
    ] {
        let mut all = vec!["run", "blob-save", "--attach", "--password", "x", "--out", folder.to_str().unwrap()];
        all.extend(&args);
        let run = run_bounded(blobfail(&all), Duration::from_secs(30));
        assert_eq!(run.code(), Some(2), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.trim_end(), expect, "{args:?}");
        assert!(run.stdout.is_empty() && !folder.exists(), "{args:?}: {}", run.stdout);
    }
    // Without --attach, --node is refused like every attach option.
    let run = run_bounded(blobfail(&["run", "blob-save", "--node", a]), Duration::from_secs(30));
    assert_eq!((run.code(), run.stderr.trim_end()), (Some(2), "blobfail: --node applies with --attach only (to reach an existing cluster)"));
}

/// backlog-memory takes `--nodes` (2 to 5: b is stopped and measured, the
/// others stay up unfaulted) but not `--faulted`: one line, exit 2.
#[test]
fn backlog_memory_s_nodes_are_bounded_and_only_b_is_measured() {
    for (args, expect) in [
        (
            vec!["run", "backlog-memory", "--nodes", "6"],
            "blobfail: invalid value '6' for '--nodes <N>': 6 is not in 2..=5; see `blobfail run --help`",
        ),
        (vec!["run", "backlog-memory", "--nodes", "3", "--faulted", "c"], "blobfail: --faulted does not apply to backlog-memory: it is an option of blob-save"),
    ] {
        let run = run_bounded(blobfail(&args), Duration::from_secs(30));
        assert_eq!(run.code(), Some(2), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.trim_end(), expect, "{args:?}");
    }
}
