#!/usr/bin/env bash
# record_compose.sh: what `docker-compose up -d` / `down -v` make a real dockerd
# 20.10 ask of a volume and an IPAM plugin, and which Engine API requests
# docker-compose (1.29.2, docker-py) sends. Ground truth for `drydock serve`.
#
#   sudo tests/realdockerd/record_compose.sh [--drydock BIN] [--out DIR] [--keep]
#
# On a fresh sandbox (sandbox.sh, this directory; its own dockerd, network and
# mount namespace, image bb:latest) in a new work directory W=/tmp/drydock-compose.XXXXXX:
#   1. drydock's reference plugins `BIN plugin volume --name dryvol` and
#      `BIN plugin ipam --name dryipam` listen in W/upstream; a `BIN record`
#      proxy per plugin listens in W/run-plugins (where the sandbox's dockerd
#      looks for plugin sockets) and records every call (as
#      tests/conformance/run.py does);
#   2. the sandbox starts; a logging relay (Python, below) listens on W/api.sock
#      in front of W/docker.sock and records every Engine API request;
#   3. with DOCKER_HOST=unix://W/api.sock:
#        docker-compose -p ddc -f tests/golden/compose/compose.yml up -d
#        docker-compose -p ddc -f tests/golden/compose/compose.yml down -v
#   4. the sandbox stops, then the recorders and plugins (SIGTERM).
# Outputs, in DIR (default tests/golden/compose):
#   real-dockerd.jsonl  marks, results and plugin calls, merged by time
#   api-requests.jsonl  marks, results and Engine API requests, in the order sent
# (formats: tests/golden/compose/README.md). BIN defaults to
# target/release/drydock; COMPOSE (env) to docker-compose. Needs root. --keep
# keeps W (logs, raw recordings); on failure W is always kept.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SANDBOX=${DOCKERD_SANDBOX:-$HERE/sandbox.sh}
COMPOSE=${COMPOSE:-docker-compose}
DRYDOCK=$ROOT/target/release/drydock
OUT=$ROOT/tests/golden/compose
COMPOSE_FILE=$ROOT/tests/golden/compose/compose.yml
KEEP=0
SETTLE=0.3 # seconds after a command for stray plugin calls to land before the next mark

die() { echo "record_compose.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case $1 in
  --drydock) DRYDOCK=$2; shift 2 ;;
  --out) OUT=$2; shift 2 ;;
  --keep) KEEP=1; shift ;;
  *) die "usage: $0 [--drydock BIN] [--out DIR] [--keep]" ;;
  esac
done
[ -x "$DRYDOCK" ] || die "no drydock binary at $DRYDOCK (build it or pass --drydock)"
DRYDOCK=$(cd "$(dirname "$DRYDOCK")" && pwd)/$(basename "$DRYDOCK")
command -v "$COMPOSE" >/dev/null || die "no $COMPOSE"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

W=$(mktemp -d /tmp/drydock-compose.XXXXXX)
mkdir -p "$W/upstream" "$W/run-plugins" "$W/state-dryvol" "$W/state-dryipam"
PIDS=()
OK=0

cleanup() {
  bash "$SANDBOX" stop "$W" >/dev/null 2>&1 || true
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do wait "${PIDS[i]}" 2>/dev/null || true; done
  if [ "$OK" = 1 ] && [ "$KEEP" = 0 ]; then
    rm -rf "$W"
  else
    echo "record_compose.sh: work directory kept: $W" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {
  local s i
  for s in "$@"; do
    for i in $(seq 300); do [ -S "$s" ] && break; sleep 0.05; done
    [ -S "$s" ] || die "socket $s did not appear (logs in $W)"
  done
}

# mark JSON: appends {"t": now, ...JSON} to W/marks.jsonl
mark() {
  python3 -c 'import json, sys, time; print(json.dumps(dict(t=time.time(), **json.loads(sys.argv[1]))))' "$1" \
    >>"$W/marks.jsonl"
}

# run NAME CMD...: mark NAME, run CMD (stdout+stderr to W/NAME.out), record its result.
run() {
  local name=$1 rc=0
  shift
  mark "{\"mark\": \"$name\"}"
  echo "\$ $*" >&2
  "$@" >"$W/$name.out" 2>&1 || rc=$?
  sed 's/^/  | /' "$W/$name.out" >&2
  echo "  [rc=$rc]" >&2
  sleep "$SETTLE"
  python3 -c 'import json, sys, time
out = open(sys.argv[2], encoding="utf-8", errors="replace").read().rstrip()
print(json.dumps({"t": time.time(), "result": {"rc": int(sys.argv[1]), "out": out}}))' "$rc" "$W/$name.out" \
    >>"$W/marks.jsonl"
}

# --- the Engine API logging relay (stdlib Python) ---------------------------
cat >"$W/apiproxy.py" <<'PY'
"""apiproxy.py LISTEN UPSTREAM OUT.jsonl: an HTTP/1.1 relay between unix sockets that logs
every request: {"seq", "t", "method", "uri", "headers", "body", "status", "resp_headers",
"resp_body"} (one line when the request is sent on; a second line {"seq", "status", ...,
"resp_body"} when the answer is complete). Upgraded/hijacked connections (attach, exec
start) are piped raw after the answer's head."""
import json, os, socket, sys, threading, time

LISTEN, UPSTREAM, OUT = sys.argv[1:4]
lock = threading.Lock()
counter = [0]
out = open(OUT, "a", encoding="utf-8")


def log(obj):
    with lock:
        out.write(json.dumps(obj) + "\n")
        out.flush()


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n")
        ln, self.buf = self.buf[:i], self.buf[i + 2:]
        return ln

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def head(self):
        first, hdrs = self.line(), []
        while True:
            ln = self.line()
            if not ln:
                return first, hdrs
            k, _, v = ln.partition(b":")
            hdrs.append((k.decode(), v.strip().decode()))


def hget(hdrs, name):
    for k, v in hdrs:
        if k.lower() == name.lower():
            return v
    return None


def raw_head(first, hdrs):
    return first + b"\r\n" + b"".join(("%s: %s\r\n" % kv).encode() for kv in hdrs) + b"\r\n"


def relay_body(rd, dst, hdrs, to_eof=False):
    """Copies one message body (chunked, Content-Length or up to EOF); returns it."""
    got = []
    if "chunked" in (hget(hdrs, "Transfer-Encoding") or "").lower():
        while True:
            ln = rd.line()
            n = int(ln.split(b";")[0], 16)
            d = rd.exact(n + 2)
            dst.sendall(ln + b"\r\n" + d)
            got.append(d[:-2])
            if n == 0:
                break
    elif hget(hdrs, "Content-Length") is not None:
        left = int(hget(hdrs, "Content-Length"))
        while left:
            if not rd.buf:
                rd.fill()
            d, rd.buf = rd.buf[:left], rd.buf[left:]
            dst.sendall(d)
            got.append(d)
            left -= len(d)
    elif to_eof:
        try:
            while True:
                if rd.buf:
                    dst.sendall(rd.buf)
                    got.append(rd.buf)
                    rd.buf = b""
                rd.fill()
        except EOFError:
            pass
    return b"".join(got)


def pipe(src, rd, dst):
    try:
        if rd.buf:
            dst.sendall(rd.buf)
        while True:
            d = src.recv(65536)
            if not d:
                break
            dst.sendall(d)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def text(b):
    return b.decode("utf-8", "replace")


def handle(cli):
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    up.connect(UPSTREAM)
    crd, urd = Reader(cli), Reader(up)
    try:
        while True:
            first, hdrs = crd.head()
            t = time.time()
            with lock:
                counter[0] += 1
                seq = counter[0]
            method, uri, _ = text(first).split(" ", 2)
            up.sendall(raw_head(first, hdrs))
            body = relay_body(crd, up, hdrs)
            log({"seq": seq, "t": t, "method": method, "uri": uri, "headers": dict(hdrs),
                 "body": text(body) if body or hget(hdrs, "Content-Length") is not None else None})
            rfirst, rhdrs = urd.head()
            status = int(rfirst.split()[1])
            cli.sendall(raw_head(rfirst, rhdrs))
            ctype = hget(rhdrs, "Content-Type") or ""
            if status == 101 or ctype.startswith("application/vnd.docker.raw-stream") \
                    or ctype.startswith("application/vnd.docker.multiplexed-stream"):
                log({"seq": seq, "status": status, "resp_headers": dict(rhdrs), "hijacked": True})
                th = threading.Thread(target=pipe, args=(up, urd, cli), daemon=True)
                th.start()
                pipe(cli, crd, up)
                th.join()
                return
            nobody = method == "HEAD" or status in (204, 304) or status < 200
            rb = b"" if nobody else relay_body(urd, cli, rhdrs, to_eof=True)
            log({"seq": seq, "status": status, "resp_headers": dict(rhdrs), "resp_body": text(rb)})
    except (EOFError, OSError, ValueError):
        pass
    finally:
        cli.close()
        up.close()


def main():
    if os.path.exists(LISTEN):
        os.unlink(LISTEN)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(LISTEN)
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


main()
PY

# --- plugins behind recording proxies ---------------------------------------
echo "work directory: $W" >&2
mark '{"mark": "#boot"}'
"$DRYDOCK" plugin volume --name dryvol --state-dir "$W/state-dryvol" --socket "$W/upstream/dryvol.sock" \
  >"$W/dryvol.log" 2>&1 &
PIDS+=($!)
"$DRYDOCK" plugin ipam --name dryipam --state-dir "$W/state-dryipam" --socket "$W/upstream/dryipam.sock" \
  >"$W/dryipam.log" 2>&1 &
PIDS+=($!)
wait_for "$W/upstream/dryvol.sock" "$W/upstream/dryipam.sock"
for p in dryvol dryipam; do
  "$DRYDOCK" record --quiet --plugin "$p" --upstream "$W/upstream/$p.sock" --plugins-dir "$W/run-plugins" \
    --out "$W/rec-$p.jsonl" >"$W/record-$p.log" 2>&1 &
  PIDS+=($!)
done
wait_for "$W/run-plugins/dryvol.sock" "$W/run-plugins/dryipam.sock"

# --- the daemon and the API relay -------------------------------------------
DOCKERD_FLAGS="" bash "$SANDBOX" start "$W" >"$W/sandbox.log" 2>&1 || { cat "$W/sandbox.log" >&2; die "the sandbox did not start"; }
python3 "$W/apiproxy.py" "$W/api.sock" "$W/docker.sock" "$W/api.jsonl" >"$W/apiproxy.log" 2>&1 &
PIDS+=($!)
wait_for "$W/api.sock"
export DOCKER_HOST="unix://$W/api.sock"
mark '{"mark": "#start"}'

# --- the recorded commands ----------------------------------------------------
cd "$ROOT"
run up "$COMPOSE" -p ddc -f "$COMPOSE_FILE" up -d
run down "$COMPOSE" -p ddc -f "$COMPOSE_FILE" down -v

mark '{"mark": "#stop"}'
bash "$SANDBOX" stop "$W"
mark '{"mark": "#stopped"}'
for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; wait "${PIDS[i]}" 2>/dev/null || true; done
PIDS=()

# --- merge --------------------------------------------------------------------
python3 - "$W" "$OUT" "$ROOT" <<'PY'
import datetime, json, os, sys

W, OUT, ROOT = sys.argv[1:4]


def canon(text):
    """Run-specific paths -> placeholders (the work directory is random)."""
    for name in ("dryvol", "dryipam"):
        text = text.replace(os.path.join(W, "state-" + name), "<state-dir>/" + name)
    return text.replace(W, "<sandbox>").replace(ROOT, "<repo>")


def rfc3339(s):
    t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


marks = [json.loads(l) for l in open(os.path.join(W, "marks.jsonl")) if l.strip()]

# real-dockerd.jsonl: marks/results and plugin calls, by time
events = [(m["t"], {k: v for k, v in m.items() if k != "t"}) for m in marks]
for name in ("dryvol", "dryipam"):
    path = os.path.join(W, "rec-%s.jsonl" % name)
    if not os.path.exists(path):
        continue
    for raw in open(path, encoding="utf-8"):
        if not raw.strip():
            continue
        c = json.loads(raw)
        t = rfc3339(c["start"])
        line = {"t": t, "plugin": c["plugin"], "method": c["method"], "request": c.get("request"),
                "response": c.get("response"), "status": c.get("status")}
        if c.get("error"):
            line["error"] = c["error"]
        events.append((t, line))
events.sort(key=lambda e: e[0])  # stable: a mark at the same instant as a call stays first
with open(os.path.join(OUT, "real-dockerd.jsonl"), "w", encoding="utf-8") as f:
    f.write(canon("".join(json.dumps(o) + "\n" for _, o in events)))

# api-requests.jsonl: marks/results and Engine API requests, in the order sent
reqs = {}
for raw in open(os.path.join(W, "api.jsonl"), encoding="utf-8"):
    if raw.strip():
        r = json.loads(raw)
        reqs.setdefault(r["seq"], {}).update(r)


def body(s):
    if s is None or s == "":
        return s
    try:
        return json.loads(s)
    except ValueError:
        return s


events = [(m["t"], 0, {k: v for k, v in m.items() if k != "t"}) for m in marks]
for seq, r in reqs.items():
    line = {"t": r["t"], "seq": seq, "method": r["method"], "uri": r["uri"], "status": r.get("status"),
            "headers": r["headers"],
            "body": body(r["body"])}
    if r.get("hijacked"):
        line["hijacked"] = True
    else:
        line["resp_body"] = body(r.get("resp_body"))
    events.append((r["t"], seq, line))
events.sort(key=lambda e: (e[0], e[1]))
with open(os.path.join(OUT, "api-requests.jsonl"), "w", encoding="utf-8") as f:
    f.write(canon("".join(json.dumps(o) + "\n" for _, _, o in events)))
print("wrote %s/real-dockerd.jsonl and %s/api-requests.jsonl" % (OUT, OUT), file=sys.stderr)
PY
OK=1
