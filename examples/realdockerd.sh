#!/usr/bin/env bash
# realdockerd.sh — run the examples' plugins under a real dockerd 20.10, to show that what
# their tests check in the simulated engine holds with Docker too. Needs root; uses
# tests/realdockerd/sandbox.sh (a throw-away dockerd with private plugin directories).
#
#   examples/realdockerd.sh [--no-build]
#
# Checks, each with the exact output expected:
#   1. the Python plugin (examples/python/pyvol.py): volume create, a container writing into the
#      volume through `docker cp`, the file in the plugin's directory, stop, rm, volume rm;
#      recorded with `drydock record` and replayed through the engine: IDENTICAL;
#   2. memvol (step 1): a container writes a file into a memvol volume;
#   3. ipam_pool (step 4): the pool and the container's address come from the plugin, and
#      --subnet is refused with the text the example's test pins;
#   4. authz_policy (step 3) with TLS client certificates: `intern` may not `docker volume rm`,
#      with the text the example's test pins; `admin` may.
# Stops at the first failure ("FAIL: …", exit 1). Cleans up sandboxes and plugins on every exit.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
sandbox=$repo/tests/realdockerd/sandbox.sh
bin=$repo/target/release
work=$(mktemp -d /tmp/drydock-examples-XXXXXX)
pids=()
sandboxes=()

cleanup() {
  local d p
  for d in "${sandboxes[@]}"; do "$sandbox" stop "$d" >/dev/null 2>&1; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }
step() { printf '\n=== %s\n' "$*"; }

# expect WANT CMD…: runs CMD, prints it with its output, and fails unless the output is WANT.
expect() {
  local want=$1 got
  shift
  got=$("$@" 2>&1)
  printf '$ %s\n%s\n' "$*" "$got"
  [ "$got" = "$want" ] || fail "expected: $want"
}

# background NAME CMD…: starts a plugin process and waits for its socket (the last argument ending in .sock).
background() {
  local sock=$1
  shift
  "$@" >"$work/$(basename "$sock").log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$sock" ] && return; sleep 0.1; done
  fail "no socket at $sock"
}

"$sandbox" check || exit 1
if [ "${1:-}" != "--no-build" ]; then
  (cd "$repo" && cargo build --release --bins --examples) || fail "build"
fi

step "1. the Python plugin, recorded and replayed"
d=$work/py; sandboxes+=("$d"); mkdir -p "$d/run-plugins"
background "$work/pyvol-real.sock" python3 "$repo/examples/python/pyvol.py" "$work/pyvol-real.sock" "$work/pyvol-state"
"$bin/drydock" record --plugin pyvol --upstream "$work/pyvol-real.sock" --plugins-dir "$d/run-plugins" \
  --out "$work/pyvol.jsonl" --commands "$work/pyvol.cmds" -q &
pids+=($!)
for _ in $(seq 100); do [ -S "$d/run-plugins/pyvol.sock" ] && break; sleep 0.1; done
"$sandbox" start "$d" >/dev/null || fail "sandbox"
export DOCKER_HOST=unix://$d/docker.sock
eval "$("$bin/drydock" record --shell-function --commands "$work/pyvol.cmds")"
echo hello >"$work/todo.txt"
expect notes docker volume create -d pyvol notes
docker run -d --name editor -v notes:/notes bb:latest sleep 60 >/dev/null || fail "run"
expect "" docker cp "$work/todo.txt" editor:/notes/todo.txt
expect hello cat "$work/pyvol-state/notes/todo.txt"
expect "$work/pyvol-state/notes" docker volume inspect -f '{{.Mountpoint}}' notes
expect editor docker stop -t 1 editor
expect editor docker rm editor
expect notes docker volume rm notes
unset -f docker
"$sandbox" stop "$d"
rm -rf "$work/pyvol-state"
# The replay's plugin keeps its volumes where the recorded one did, so Mountpoints compare equal.
out=$("$bin/drydock" replay "$work/pyvol.jsonl" --plugin pyvol \
  --exec -- python3 "$repo/examples/python/pyvol.py" '{socket}' "$work/pyvol-state")
printf '%s\n' "$out" | tail -n 1
[[ $out == *"IDENTICAL: 7 command(s)"* ]] || fail "the replay differs"

step "2. memvol"
d=$work/mem; sandboxes+=("$d"); mkdir -p "$d/run-plugins"
background "$d/run-plugins/memvol.sock" "$bin/examples/memvol" "$d/run-plugins/memvol.sock"
"$sandbox" start "$d" >/dev/null || fail "sandbox"
export DOCKER_HOST=unix://$d/docker.sock
expect data docker volume create -d memvol data
expect "" docker run --rm -v data:/srv bb:latest sh -c 'echo hi > /srv/f'
expect hi cat "${TMPDIR:-/tmp}/memvol/data/f"
expect data docker volume rm data
"$sandbox" stop "$d"

step "3. ipam_pool"
d=$work/ipam; sandboxes+=("$d"); mkdir -p "$d/run-plugins"
background "$d/run-plugins/pool.sock" "$bin/examples/ipam_pool" "$d/run-plugins/pool.sock"
"$sandbox" start "$d" >/dev/null || fail "sandbox"
export DOCKER_HOST=unix://$d/docker.sock
docker network create --ipam-driver pool n1 >/dev/null || fail "network create"
expect '[{"Subnet":"10.123.0.0/24","Gateway":"10.123.0.1"}]' docker network inspect -f '{{json .IPAM.Config}}' n1
docker run -d --name web --network n1 bb:latest sleep 60 >/dev/null || fail "run"
expect 10.123.0.2 docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' web
expect web docker rm -f web
expect n1 docker network rm n1
expect "Error response from daemon: IpamDriver.RequestPool: this plugin chooses IPv4 pools itself: omit --subnet and --ipv6" \
  docker network create --ipam-driver pool --subnet 192.168.5.0/24 n4
"$sandbox" stop "$d"

step "4. authz_policy, with TLS client certificates"
d=$work/authz; sandboxes+=("$d"); mkdir -p "$d/run-plugins"; c=$work/certs; mkdir -p "$c"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$c/ca-key.pem" -out "$c/ca.pem" -days 1 -subj /CN=drydock-ca 2>/dev/null
cert() { # cert NAME CN EXTENSIONS
  openssl req -newkey rsa:2048 -nodes -keyout "$c/$1-key.pem" -out "$c/$1.csr" -subj "/CN=$2" 2>/dev/null
  printf '%s\n' "$3" >"$c/$1.ext"
  openssl x509 -req -in "$c/$1.csr" -CA "$c/ca.pem" -CAkey "$c/ca-key.pem" -CAcreateserial \
    -out "$c/$1.pem" -days 1 -extfile "$c/$1.ext" 2>/dev/null
}
cert server localhost $'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
cert intern intern extendedKeyUsage=clientAuth
cert admin admin extendedKeyUsage=clientAuth
# An authorization plugin must be up before dockerd starts.
background "$d/run-plugins/policy.sock" "$bin/examples/authz_policy" "$d/run-plugins/policy.sock"
DOCKERD_FLAGS="--authorization-plugin=policy --tlsverify --tlscacert $c/ca.pem --tlscert $c/server.pem \
--tlskey $c/server-key.pem -H tcp://127.0.0.1:2376" "$sandbox" start "$d" >/dev/null || fail "sandbox"
ns=$("$sandbox" netns "$d")
as() { # as USER docker-args…: a TLS client whose certificate names USER
  local u=$1
  shift
  ip netns exec "$ns" docker -H tcp://127.0.0.1:2376 --tlsverify --tlscacert "$c/ca.pem" \
    --tlscert "$c/$u.pem" --tlskey "$c/$u-key.pem" "$@"
}
expect scratch as intern volume create scratch
expect "Error response from daemon: authorization denied by plugin policy: interns may not remove volumes" \
  as intern volume rm scratch
expect scratch as admin volume rm scratch
"$sandbox" stop "$d"

printf '\nall examples behave under a real dockerd as their tests say\n'
