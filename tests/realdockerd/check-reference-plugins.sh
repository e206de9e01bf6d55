#!/usr/bin/env bash
# check-reference-plugins.sh — prove that drydock's reference authz, IPAM and volume plugins work
# under a real dockerd 20.10, each in its own throw-away sandbox (tests/realdockerd/sandbox.sh,
# or $DOCKERD_SANDBOX). Needs root. Prints every command and its result; stops at the first check
# that fails with "FAIL: …" and exit status 1. Sandboxes and plugin processes are cleaned up on
# every exit (trap), including failures and Ctrl-C.
#
#   tests/realdockerd/check-reference-plugins.sh [--no-build]
#
# DRYDOCK_BIN=PATH runs another build of drydock (CI uses the debug one, with --no-build).
# KEEP=1 keeps the work directory (logs, state, audit file) for inspection.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
sandbox=${DOCKERD_SANDBOX:-$here/sandbox.sh}
bin=${DRYDOCK_BIN:-$repo/target/release/drydock}

# ---------------------------------------------------------------------------------------------
# Plumbing: logging, checks, cleanup
# ---------------------------------------------------------------------------------------------

step() { printf '\n=== %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
fail() {
  printf '\nFAIL: %s\n' "$*" >&2
  exit 1
}

# shquote ARG…: the arguments as one shell-readable line (quoted only where needed).
shquote() {
  local a s="" sq="'"
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      s+=" $a"
    else
      s+=" '${a//$sq/$sq\\$sq$sq}'"
    fi
  done
  printf '%s' "${s# }"
}

# run CMD…: print the command, run it, print its output (stdout+stderr) and status.
# Sets $out and $rc.
run() {
  printf '$ %s\n' "$(shquote "$@")"
  out=$("$@" 2>&1)
  rc=$?
  [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/  | /'
  printf '  [rc=%s]\n' "$rc"
}

# must CMD…: run it and fail unless it succeeds.
must() {
  run "$@"
  [ "$rc" -eq 0 ] || fail "\`$*\` exited $rc"
}

[ "$(id -u)" -eq 0 ] || fail "needs root (the sandbox runs its own dockerd, netns and mounts)"
[ -x "$sandbox" ] || fail "sandbox script not found: $sandbox (set DOCKERD_SANDBOX)"
command -v jq >/dev/null || fail "needs jq to read JSON (apt-get install jq)"

work=$(mktemp -d /tmp/drydock-realdockerd.XXXXXX)
sandboxes=()
plugin_pids=()

cleanup() {
  local status=$? d p
  trap - EXIT INT TERM
  for d in "${sandboxes[@]}"; do
    "$sandbox" stop "$d" >/dev/null 2>&1 || true
  done
  for p in "${plugin_pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null
      for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  if [ "${KEEP:-0}" = 1 ] || [ "$status" -ne 0 ]; then
    echo "work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_plugin LOG KIND ARGS…: start `drydock plugin KIND ARGS…` in the background and wait until
# its --socket exists. Sets $plugin_pid.
start_plugin() {
  local log=$1 sock="" a prev=""
  shift
  for a in "$@"; do
    [ "$prev" = --socket ] && sock=$a
    prev=$a
  done
  printf '$ %s &\n' "$(shquote "$bin" plugin "$@")"
  "$bin" plugin "$@" >"$log" 2>&1 &
  plugin_pid=$!
  plugin_pids+=("$plugin_pid")
  for _ in $(seq 100); do
    [ -S "$sock" ] && break
    kill -0 "$plugin_pid" 2>/dev/null || { cat "$log" >&2; fail "plugin $2 exited at start"; }
    sleep 0.1
  done
  [ -S "$sock" ] || { cat "$log" >&2; fail "plugin did not create $sock within 10 s"; }
  note "pid $plugin_pid; $(head -1 "$log")"
}

# stop_plugin PID SOCKET: SIGTERM, wait for a clean exit, and check the socket is gone.
stop_plugin() {
  local pid=$1 sock=$2 status
  printf '$ kill -TERM %s\n' "$pid"
  kill -TERM "$pid" || fail "plugin $pid was no longer running"
  wait "$pid"
  status=$?
  note "plugin exited with status $status"
  [ "$status" -eq 0 ] || fail "plugin $pid exited $status on SIGTERM (expected 0)"
  [ -e "$sock" ] && fail "plugin socket $sock still exists after SIGTERM"
  ok "socket $sock removed"
}

# start_sandbox DIR [DOCKERD_FLAGS]: start a private dockerd; exports DOCKER_HOST.
start_sandbox() {
  local dir=$1 flags=${2:-} line
  sandboxes+=("$dir")
  printf '$ DOCKERD_FLAGS=%q %s start %s\n' "$flags" "$sandbox" "$dir"
  line=$(DOCKERD_FLAGS=$flags "$sandbox" start "$dir") || {
    tail -20 "$dir/dockerd.log" >&2 2>/dev/null
    fail "the sandbox dockerd in $dir did not start"
  }
  note "$line"
  export DOCKER_HOST=${line#DOCKER_HOST=}
}

stop_sandbox() {
  local dir=$1 pid
  pid=$(cat "$dir/docker.pid" 2>/dev/null || true)
  printf '$ %s stop %s\n' "$sandbox" "$dir"
  "$sandbox" stop "$dir" || fail "stopping the sandbox in $dir failed"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    fail "dockerd $pid of $dir still runs after stop"
  fi
  unset DOCKER_HOST
}

# ---------------------------------------------------------------------------------------------
step "build"
# ---------------------------------------------------------------------------------------------
cd "$repo"
if [ "${1:-}" != --no-build ]; then
  must cargo build --release
else
  note "build skipped (--no-build)"
fi
[ -x "$bin" ] || fail "$bin missing (build failed?)"
note "binary: $bin"
note "work directory: $work"

# ---------------------------------------------------------------------------------------------
step "1. authz: drydock plugin authz guarding a real dockerd"
# ---------------------------------------------------------------------------------------------
d=$work/authz
mkdir -p "$d/run-plugins"
policy=$d/dryauthz.policy
audit=$d/audit.jsonl
deny_msg="volumes named secret* are not allowed here"
cat >"$policy" <<EOF
# The CLI pings before every command: /_ping must be allowed.
allow method=HEAD,GET path=/_ping
deny  method=POST path=/volumes/create body.Name^=secret "$deny_msg"
default allow
EOF
note "policy $policy:"
sed 's/^/      /' "$policy"
deny_line=$(grep -n '^deny' "$policy" | cut -d: -f1)

sock=$d/run-plugins/dryauthz.sock
# Before the daemon: dockerd validates (activates) its authz plugins when it starts.
start_plugin "$d/plugin.log" authz --name dryauthz --policy "$policy" --socket "$sock" --audit "$audit"
authz_pid=$plugin_pid
start_sandbox "$d" --authorization-plugin=dryauthz

must docker version --format 'client {{.Client.Version}} / server {{.Server.Version}} (API {{.Server.APIVersion}})'
must docker volume ls
must docker run --rm bb:latest true
must docker volume create public1
must docker volume rm public1

before=$(wc -l <"$audit")
run docker volume create secret-stuff
want="Error response from daemon: authorization denied by plugin dryauthz: $deny_msg"
[ "$rc" -ne 0 ] || fail "the denied command succeeded"
[ "$out" = "$want" ] || fail "denied command printed:
$out
expected exactly:
$want"
ok "denied with exactly: $want"
new=$(tail -n +"$((before + 1))" "$audit")
printf '%s\n' "$new" | sed 's/^/      audit: /'
printf '%s\n' "$new" | jq -e --arg msg "$deny_msg" --argjson line "$deny_line" -s '
  [.[] | select(.verdict == "deny")] | length == 1 and
  .[0].uri == "/v1.41/volumes/create" and .[0].method == "POST" and .[0].phase == "request" and
  .[0].msg == $msg and .[0].rule == $line' >/dev/null ||
  fail "the audit lines of the denied command do not hold exactly one request denial by rule $deny_line"
ok "audit: one deny line (rule $deny_line, POST /v1.41/volumes/create)"
must docker volume ls --format '{{.Name}}'
printf '%s\n' "$out" | grep -q '^secret' && fail "the denied volume exists anyway"
ok "no secret* volume was created"

stop_sandbox "$d"
stop_plugin "$authz_pid" "$sock"

# One JSON line per decision: every line parses and has a phase and a verdict; every allowed
# request was judged again at response time (dockerd calls AuthZRes after each handler).
lines=$(wc -l <"$audit")
jq -e -s 'all(.[]; (.phase == "request" or .phase == "response") and
  (.verdict == "allow" or .verdict == "deny") and (.uri | type == "string"))' "$audit" >/dev/null ||
  fail "audit file $audit has a line that is not a decision (JSON with phase, verdict, uri)"
[ "$(jq -c . "$audit" | wc -l)" -eq "$lines" ] || fail "audit file holds more or fewer JSON values than lines"
counts=$(jq -r -s '[
  ([.[] | select(.phase == "request" and .verdict == "allow")] | length),
  ([.[] | select(.phase == "request" and .verdict == "deny")] | length),
  ([.[] | select(.phase == "response")] | length)] | @tsv' "$audit")
read -r req_allow req_deny res <<<"$counts"
note "audit: $lines lines: $req_allow requests allowed, $req_deny denied, $res responses judged"
[ "$req_deny" -eq 1 ] || fail "expected exactly one denied request in the audit log, found $req_deny"
[ "$res" -eq "$req_allow" ] || fail "expected one response decision per allowed request ($req_allow), found $res"
ok "audit: one JSON line per decision"

# ---------------------------------------------------------------------------------------------
step "2. IPAM: drydock plugin ipam allocating for a real dockerd"
# ---------------------------------------------------------------------------------------------
d=$work/ipam
mkdir -p "$d/run-plugins"
state=$d/ipam-state
sock=$d/run-plugins/dryipam.sock
start_plugin "$d/plugin.log" ipam --name dryipam --state-dir "$state" --socket "$sock"
ipam_pid=$plugin_pid
start_sandbox "$d"
statefile=$state/ipam-state.json

must docker network create --ipam-driver dryipam n1
must docker network inspect n1 --format '{{json .IPAM}}'
subnet=$(jq -r '.Config[0].Subnet' <<<"$out")
gateway=$(jq -r '.Config[0].Gateway' <<<"$out")
[ "$(jq -r .Driver <<<"$out")" = dryipam ] || fail "n1's IPAM driver is not dryipam"
case $subnet in 10.200.*.0/24) ;; *) fail "n1's subnet $subnet is not a /24 of the plugin's default range 10.200.0.0/16" ;; esac
note "state: $(jq -c . "$statefile")"
jq -e --arg p "$subnet" --arg gw "${gateway%/*}" \
  'any(.pools[]; .pool == $p and (.held | any(. == $gw or startswith($gw + "/"))))' "$statefile" >/dev/null ||
  fail "the plugin's state has no pool $subnet holding gateway $gateway"
ok "n1 got pool $subnet (gateway $gateway) from dryipam, and the plugin's state holds it"
prefix=${subnet%.0/24}

must docker run --rm --network n1 bb:latest busybox ip -4 -o addr show eth0
addr=$(grep -o 'inet [0-9.]*/[0-9]*' <<<"$out" | cut -d' ' -f2)
[ -n "$addr" ] || fail "no IPv4 address on the container's eth0"
case $addr in "$prefix".*/24) ;; *) fail "container address $addr is not inside $subnet" ;; esac
ok "the container's eth0 is $addr, inside $subnet"

must docker run -d --name held1 --network n1 bb:latest sleep 60
must docker inspect held1 --format '{{.NetworkSettings.Networks.n1.IPAddress}}'
ip1=$out
jq -e --arg ip "$ip1" 'any(.pools[].held[]; . == $ip or startswith($ip + "/"))' "$statefile" >/dev/null ||
  fail "the plugin's state does not hold the running container's address $ip1"
ok "while held1 runs, the plugin's state holds its address $ip1"
must docker rm -f held1
jq -e --arg ip "$ip1" 'all(.pools[].held[]; . != $ip and (startswith($ip + "/") | not))' "$statefile" >/dev/null ||
  fail "the plugin's state still holds $ip1 after the container was removed"
ok "after docker rm -f, $ip1 is released"

must docker network create --ipam-driver dryipam --subnet 10.77.0.0/24 --gateway 10.77.0.254 n2
must docker network inspect n2 --format '{{json .IPAM}}'
[ "$(jq -r '.Config[0].Subnet + " " + .Config[0].Gateway' <<<"$out")" = "10.77.0.0/24 10.77.0.254" ] ||
  fail "n2 does not have subnet 10.77.0.0/24 with gateway 10.77.0.254"
must docker run --rm --network n2 --ip 10.77.0.7 bb:latest true
must docker run --rm --network n2 --ip 10.77.0.7 bb:latest busybox ip -4 -o addr show eth0
grep -q 'inet 10\.77\.0\.7/24' <<<"$out" || fail "the container with --ip 10.77.0.7 does not have that address"
ok "--ip 10.77.0.7 on n2 granted and configured"

must docker network rm n1 n2
note "state: $(jq -c . "$statefile")"
jq -e '(.pools | length) == 0' "$statefile" >/dev/null ||
  fail "the plugin's state still holds pools or addresses after docker network rm: $(jq -c . "$statefile")"
ok "the plugin's state holds no pools and no addresses"

stop_sandbox "$d"
stop_plugin "$ipam_pid" "$sock"

# ---------------------------------------------------------------------------------------------
step "3. volume: drydock plugin volume under a real dockerd"
# ---------------------------------------------------------------------------------------------
d=$work/volume
mkdir -p "$d/run-plugins"
sock=$d/run-plugins/dryvol.sock
start_plugin "$d/plugin.log" volume --name dryvol --state-dir "$d/vol-state" --socket "$sock"
vol_pid=$plugin_pid
start_sandbox "$d"

must docker volume create -d dryvol vol1
must docker volume inspect vol1 --format '{{.Driver}} {{.Mountpoint}}'
mp=${out#dryvol }
[ "${out%% *}" = dryvol ] || fail "vol1's driver is not dryvol"
case $mp in "$d/vol-state/"*) ;; *) fail "vol1's mountpoint $mp is not under the plugin's state dir" ;; esac
must docker run --rm -v vol1:/data bb:latest sh -c 'echo hi > /data/f'
run cat "$mp/f"
[ "$rc" -eq 0 ] && [ "$out" = hi ] || fail "the file written in the container is not $mp/f with 'hi'"
ok "the container's /data/f is $mp/f"
must docker volume rm vol1
[ -e "$mp" ] && fail "docker volume rm left $mp behind"
ok "docker volume rm removed $mp"

stop_sandbox "$d"
stop_plugin "$vol_pid" "$sock"

step "all checks passed (${SECONDS}s)"
