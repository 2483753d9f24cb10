#!/usr/bin/env bash
# Mutation testing with cargo-mutants: applies small deliberate bugs to the
# code that decides (the shim's "does this call fail?", the driver's checks
# and verdicts) and runs the tests that should notice each one. A mutant the
# tests let through is a missing or loose assertion; TESTING.md keeps the
# latest result and why any survivor is harmless.
#
#   scripts/mutants.sh shim   [cargo-mutants args...]   the shim's decision code
#   scripts/mutants.sh driver [cargo-mutants args...]   the driver's checks, injector, verdict model
#   scripts/mutants.sh driver-unit [args...]            the same code against the driver's unit tests
#                                                       only (minutes, not hours: see TESTING.md)
#   scripts/mutants.sh shim-unit [args...]              the shim's pure decision files against the
#                                                       shim's unit tests only (MUTANTS_PROFILE=dev)
#   scripts/mutants.sh all                              both, one after the other
#
# Extra arguments go to cargo-mutants, e.g. `-F 'counter|fds'` to examine only
# mutants whose name matches, `--shard 1/4` to split a run, `--list` to see
# the mutants without running them. Results: target/mutants/<target>/mutants.out/
# (outcomes.json, caught.txt, missed.txt, unviable.txt, timeout.txt).
#
# Not part of CI: the shim target alone takes hours on 2 cores (TESTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/mutants

if ! command -v cargo-mutants >/dev/null 2>&1; then
  echo "mutants: cargo-mutants is not installed: run \`cargo install cargo-mutants --locked\`" >&2
  exit 2
fi

which=${1:-}
case "$which" in
  shim | shim-unit | driver | driver-unit | all) shift ;;
  *)
    echo "mutants: say which code to mutate: scripts/mutants.sh shim|shim-unit|driver|driver-unit|all [cargo-mutants args...]" >&2
    exit 2
    ;;
esac

listing=0
for arg in "$@"; do
  if [ "$arg" = --list ] || [ "$arg" = --list-files ]; then listing=1; fi
done

# cargo-mutants runs `cargo test` only, which does not rebuild the preload
# library or the driver binary the integration tests run: with this set, the
# tests build them when they are older than their sources (instead of
# refusing, as they do for a person).
export BLOBFAIL_TEST_BUILD=1

# The release profile, as the README's test command: the integration tests
# take the artifacts from target/release, and the copied target/ saves
# building the dependencies again. Timeouts: a mutant that makes a test
# hang counts as a timeout, not as caught; the shim group bounds its own
# runs, so a hang there fails fast.
# The baseline (the tests pass on the unmutated tree) is run here, not by
# cargo-mutants: its own baseline (27.1) tests the mutated package only,
# where the shim group (in the root package) does not exist.
common=(
  --profile release
  --copy-target true
  --baseline skip
  --build-timeout "${MUTANTS_BUILD_TIMEOUT:-900}"
)

# The unmutated tree must pass the same tests first: a failure here would
# count every mutant as caught.
baseline() {
  if [ "$listing" = 1 ]; then return; fi
  echo "mutants: baseline: cargo test --release $*" >&2
  cargo build --release --quiet
  if ! cargo test --release --quiet "$@" >/dev/null 2>&1; then
    echo "mutants: the unmutated tree fails \`cargo test --release $*\`: fix that first" >&2
    exit 1
  fi
}

run_shim() {
  # The decision code: the counter, the configuration, the path matcher,
  # the descriptor table, and the space and effect accounting (lib.rs today;
  # the globs also take the files it may move to). Not the unsafe glue
  # (hooks.rs, sys.rs) nor the words (format.rs).
  # Tests: the shim's unit tests and the shim group (real programs with the
  # library preloaded). The hermetic group never preloads the shim.
  # `--lib --test shim` goes to the build too (`--cargo-arg`, not after
  # `--`, which reaches the test run only): else cargo-mutants' build
  # (`cargo test --no-run`) compiles every test group of the suite, and
  # without the driver in the build tokio lacks the `net` feature
  # tests/net needs, so every mutant failed to build and counted as
  # unviable.
  baseline -p blobfail-shim -p blobfail-suite --lib --test shim
  cargo mutants "${common[@]}" --timeout "${MUTANTS_TIMEOUT:-300}" -o target/mutants/shim \
    -p blobfail-shim \
    -f 'shim/src/counter.rs' -f 'shim/src/config.rs' -f 'shim/src/config/*.rs' \
    -f 'shim/src/matcher.rs' -f 'shim/src/fds.rs' -f 'shim/src/lib.rs' \
    -f 'shim/src/space*.rs' -f 'shim/src/effect*.rs' -f 'shim/src/decide*.rs' \
    --test-package blobfail-shim --test-package blobfail-suite \
    --cargo-arg=--lib --cargo-arg=--test=shim \
    "$@"
}

# decide.rs's functions behind `armed()`: `scripts/mutants.sh shim -F "$SHIM_HOOKS"`
# runs just these against the shim group.
SHIM_HOOKS='decide\.rs.*\b(family_armed|armed_or|check|check_path_call|check_rename|check_fd_call|check_write|corrupt_data|check_read|warn_log_once)\b'

run_shim_unit() {
  # The shim's decision files that its unit tests reach (the configuration,
  # the matcher, the decisions, the counter, the descriptor table, the
  # corruption of data) against those unit tests alone: no preload, so no
  # release library is needed and MUTANTS_PROFILE=dev (one incremental test
  # binary per mutant) makes each mutant cost seconds. lib.rs (load, control,
  # the process tree) has no unit tests: only the `shim` target sees it.
  # Left out too: decide.rs's entry points that read the process's armed
  # configuration (`armed()`, which a unit test process never arms) and
  # warn_log_once (a line on the host's stderr): only a preloaded process
  # reaches them, so they are the `shim` target's (SHIM_HOOKS below).
  # A mutant this target misses may still be caught by the shim group:
  # re-run it there with `scripts/mutants.sh shim -F NAME`.
  local profile=${MUTANTS_PROFILE:-release}
  # At opt-level 0 the configuration's property tests (4000 cases each)
  # take 4 s of CPU per mutant; at opt-level 1, 0.2 s, for about 1 s more
  # to build: four times fewer CPU seconds a mutant on this machine.
  if [ "$profile" = dev ]; then
    export CARGO_PROFILE_DEV_OPT_LEVEL=${CARGO_PROFILE_DEV_OPT_LEVEL:-1}
    export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-0}
  fi
  local unit=(--profile "$profile" --copy-target true --baseline skip
    --build-timeout "${MUTANTS_BUILD_TIMEOUT:-900}" --timeout "${MUTANTS_TIMEOUT:-120}")
  if [ "$listing" = 0 ]; then
    echo "mutants: baseline: cargo test --profile $profile -p blobfail-shim --lib" >&2
    if ! cargo test --profile "$profile" --quiet -p blobfail-shim --lib >/dev/null 2>&1; then
      echo "mutants: the unmutated tree fails \`cargo test -p blobfail-shim --lib\`: fix that first" >&2
      exit 1
    fi
  fi
  cargo mutants "${unit[@]}" -o target/mutants/shim-unit \
    -p blobfail-shim \
    -f 'shim/src/counter.rs' -f 'shim/src/config.rs' -f 'shim/src/config/*.rs' \
    -f 'shim/src/matcher.rs' -f 'shim/src/fds.rs' -f 'shim/src/corrupt.rs' \
    -f 'shim/src/space*.rs' -f 'shim/src/effect*.rs' -f 'shim/src/decide*.rs' \
    -E "$SHIM_HOOKS" \
    --test-package blobfail-shim \
    "$@" -- --lib
}

# The driver's decision code, as mutated by run_driver: every scenario's
# checks (corrupt-blob's, crash-recovery's join over crash points and
# backlog-memory's sweep live in their checks.rs too), and blob-save's
# nemesis-in-time checks (`came_back`, `caught_up`, and `both`, which adds
# the load's halves) less `load_around`, which drives a cluster.
driver_files=(
  -f 'driver/src/**/checks.rs' -f 'driver/src/**/checks/*.rs' -f 'driver/src/**/fault_checks.rs'
  -f 'driver/src/**/injector.rs' -f 'driver/src/model.rs' -f 'driver/src/**/verdict*.rs'
  -f 'driver/src/scenario/blob_save/in_time.rs' -E 'blob_save/in_time\.rs:.*\bload_around\b'
)

run_driver_unit() {
  # The same mutants against the driver's unit tests alone: the checks are
  # pure functions, and their unit tests are where each branch is pinned.
  # No release artifact is involved, so MUTANTS_PROFILE=dev (an incremental
  # build of one test binary per mutant) is several times faster than the
  # release profile on 2 cores; its first run builds the dependencies once.
  local profile=${MUTANTS_PROFILE:-release}
  # Under the dev profile clap runs its debug assertions, which the CLI's
  # own tests trip today ("Argument group name must be unique: 'Args'"):
  # they test no check, so they are left out there.
  local skip=()
  if [ "$profile" = dev ]; then skip=(-- --skip cli::tests::); fi
  local unit=(--profile "$profile" --copy-target true --baseline skip
    --build-timeout "${MUTANTS_BUILD_TIMEOUT:-900}" --timeout "${MUTANTS_TIMEOUT:-120}")
  if [ "$listing" = 0 ]; then
    echo "mutants: baseline: cargo test --profile $profile -p blobfail-driver --bins" >&2
    if ! cargo test --profile "$profile" --quiet -p blobfail-driver --bins "${skip[@]}" >/dev/null 2>&1; then
      echo "mutants: the unmutated tree fails \`cargo test -p blobfail-driver --bins\`: fix that first" >&2
      exit 1
    fi
  fi
  cargo mutants "${unit[@]}" -o target/mutants/driver-unit \
    -p blobfail-driver "${driver_files[@]}" \
    --test-package blobfail-driver \
    "$@" -- --bins "${skip[@]}"
}

run_driver() {
  # The checks (each scenario's, and the fault plans'), the injector check
  # and the verdict model, wherever the reshaping puts them.
  # Tests: the driver's unit tests and the hermetic group (the cluster group
  # needs a real Harper for minutes per run: far too slow per mutant).
  # The test timeout covers the hermetic group's own build of the mutated
  # release driver (BLOBFAIL_TEST_BUILD): minutes on a loaded 2-core
  # machine, where 300 s turned an equivalent mutant into a timeout.
  baseline -p blobfail-driver -p blobfail-suite --bins --lib --test hermetic
  # The install test is left out: in a mutant the tests build the driver
  # with `cargo build -p blobfail-driver` (BLOBFAIL_TEST_BUILD), whose
  # features differ from the workspace build it expects `cargo install` to
  # reuse, so it failed on every mutant, an equivalent one too: a false kill.
  cargo mutants "${common[@]}" --timeout "${MUTANTS_TIMEOUT:-900}" -o target/mutants/driver \
    -p blobfail-driver "${driver_files[@]}" \
    --test-package blobfail-driver --test-package blobfail-suite \
    "$@" -- --bins --lib --test hermetic -- --skip install::the_installed_blobfail
}

case "$which" in
  shim) run_shim "$@" ;;
  shim-unit) run_shim_unit "$@" ;;
  driver) run_driver "$@" ;;
  driver-unit) run_driver_unit "$@" ;;
  all)
    status=0
    run_shim "$@" || status=$?
    run_driver "$@" || status=$?
    exit "$status"
    ;;
esac
