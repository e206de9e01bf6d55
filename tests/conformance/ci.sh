#!/usr/bin/env bash
# ci.sh: the real-dockerd part of CI. Runs the conformance suite (run.py:
# every replayable scenario on a fresh real dockerd, compared with drydock)
# and the reference plugin checks (tests/realdockerd/check-reference-plugins.sh).
#
# Where no dockerd can run (not root, no network namespaces, no docker.io and
# no apt-get) it prints "conformance: SKIPPED: <reason>" and exits 0 —
# unless DRYDOCK_REQUIRE_ALL=1 (set by .ci/run), which makes that a failure;
# when it runs, any difference or failed check exits non-zero. Sandboxes and plugin
# processes are stopped on every exit. Expects the debug build of drydock
# (`cargo test` made it) and builds it otherwise.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
sandbox=$repo/tests/realdockerd/sandbox.sh
work=${CONFORMANCE_WORK:-/tmp/drydock-conformance-ci}
target=${CARGO_TARGET_DIR:-$repo/target}

if ! reason=$("$sandbox" check); then
  if [ "${DRYDOCK_REQUIRE_ALL:-}" = 1 ]; then
    printf 'conformance: FAILED: no dockerd can run here (%s), and DRYDOCK_REQUIRE_ALL=1\n' "$reason"
    exit 1
  fi
  printf '\n!!!!!!!!!!\nconformance: SKIPPED: %s\n!!!!!!!!!!\n' "$reason"
  exit 0
fi

pgid=""
cleanup() {
  # run.py's own clean-up may not have run (a signal, a crash): stop what is left.
  [ -n "$pgid" ] && kill -TERM -- "-$pgid" 2>/dev/null
  local d
  for d in "$work"/*/; do
    # Also without a pid file: a dockerd that got the signal removes it, its
    # network namespace stays until `stop`.
    [ -d "$d/data" ] && "$sandbox" stop "$d"
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$work"
mkdir -p "$work"
"$sandbox" install || exit 1

start=$(date +%s)
setsid python3 "$here/run.py" --work "$work" --jobs "${CONFORMANCE_JOBS:-3}" &
pgid=$!
wait "$pgid"
suite=$?
pgid=""
echo "conformance: suite took $(($(date +%s) - start))s"

start=$(date +%s)
DRYDOCK_BIN=$target/debug/drydock bash "$repo/tests/realdockerd/check-reference-plugins.sh" --no-build
reference=$?
echo "conformance: reference plugin checks took $(($(date +%s) - start))s"

[ "$suite" -eq 0 ] && [ "$reference" -eq 0 ]
