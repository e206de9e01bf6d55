#!/usr/bin/env bash
# serve-sandbox.sh: sandbox.sh's interface (tests/realdockerd/sandbox.sh),
# with `drydock serve` in place of a real dockerd. run.py --engine serve uses
# it to replay every scenario through the real docker CLI against drydock's
# own Engine API: the differential test of issue 17. No root needed.
#
#   serve-sandbox.sh check          exit 0 if it can run here (a drydock binary and the docker CLI); else say why
#   serve-sandbox.sh install        nothing to install (the docker CLI must be there)
#   serve-sandbox.sh start DIR      start `drydock serve` on DIR/docker.sock, state in DIR/data,
#                                   plugins found in DIR/run-plugins, DIR/etc-plugins, DIR/lib-plugins
#   serve-sandbox.sh stop DIR       SIGTERM it (it stops as dockerd stops) and wait (idempotent)
#   serve-sandbox.sh netns DIR      prints an empty line: there is no network namespace
#
# DOCKERD_FLAGS passes --authorization-plugin=NAME flags on, as to dockerd.
# The drydock binary: $DRYDOCK_BIN, else the workspace's target/debug/drydock.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
drydock=${DRYDOCK_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/drydock}

die() { echo "serve-sandbox.sh: $*" >&2; exit 1; }

why_not() {
  [ -x "$drydock" ] || { echo "no drydock binary at $drydock (cargo build)"; return; }
  command -v docker >/dev/null || { echo "no docker CLI"; return; }
}

# Same probe as sandbox.sh: an authz denial is an answer too.
answers() {
  local out
  out=$(docker version --format '{{.Server.Version}}' 2>&1) && return
  case $out in *"Error response from daemon"*) return 0 ;; esac
  return 1
}

start() {
  local dir=$1 flags=() f i
  [ -f "$dir/docker.pid" ] && kill -0 "$(cat "$dir/docker.pid")" 2>/dev/null && die "$dir: a daemon is already running"
  mkdir -p "$dir/run-plugins" "$dir/etc-plugins" "$dir/lib-plugins"
  for f in ${DOCKERD_FLAGS:-}; do
    case $f in
    --authorization-plugin=*) flags+=("$f") ;;
    *) die "DOCKERD_FLAGS: drydock serve has no $f" ;;
    esac
  done
  setsid "$drydock" serve -H "unix://$dir/docker.sock" --data-root "$dir/data" \
    --plugins-dir "$dir/run-plugins" --spec-dir "$dir/etc-plugins" --spec-dir "$dir/lib-plugins" \
    "${flags[@]}" >>"$dir/dockerd.log" 2>&1 </dev/null &
  echo $! >"$dir/docker.pid"
  export DOCKER_HOST="unix://$dir/docker.sock"
  for i in $(seq 80); do
    [ -S "$dir/docker.sock" ] && answers && break
    sleep 0.05
  done
  answers || { tail -n 20 "$dir/dockerd.log" >&2; die "$dir: drydock serve did not come up (log: $dir/dockerd.log)"; }
  echo "DOCKER_HOST=$DOCKER_HOST"
}

stop() {
  local dir=$1 pid i
  [ -f "$dir/docker.pid" ] || return 0
  pid=$(cat "$dir/docker.pid")
  if kill "$pid" 2>/dev/null; then
    for i in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/docker.pid"
}

cmd=${1:-}
case $cmd in
install) ;;
check)
  reason=$(why_not)
  [ -z "$reason" ] || { echo "$reason"; exit 1; }
  ;;
start | stop | netns)
  [ -n "${2:-}" ] || die "usage: $0 $cmd DIR"
  mkdir -p "$2"
  dir=$(cd "$2" && pwd)
  case $cmd in
  start) start "$dir" ;;
  stop) stop "$dir" ;;
  netns) echo ;;
  esac
  ;;
*) die "usage: $0 check | install | start DIR | stop DIR | netns DIR" ;;
esac
