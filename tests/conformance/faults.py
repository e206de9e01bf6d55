#!/usr/bin/env python3
"""faults.py: replays the fault scenarios against a real dockerd 20.10, with the same faults, and checks them.

For every `scenarios/faults/*.scenario` whose plugins are all golden kinds (`golden-volume`, `golden-authz`,
`golden-ipam`, `golden-network`: they answer like tests/golden/tools/recplug.py) and which has no
`#@ replay skip:` line: a private real dockerd (tests/realdockerd/sandbox.sh, $SANDBOX overrides), one
tests/golden/tools/faultplug.py process per plugin, then the scenario's lines in order — `docker` lines run
through bash, `#@ fault …` directives become the same fault in faultplug (table below), `#@ restart-daemon`
restarts the sandbox, `#@ restart-plugin NAME` kills and restarts the plugin. The trace (format:
tests/golden/faults/README.md) goes to tests/golden/faults/conformance/<name>.jsonl. Needs root.

Afterwards it runs the Rust test `conformance_faults` (tests/it/conformance_faults.rs), which checks each
scenario's `#>` expectations against the real recording, and prints one verdict per scenario.

    sudo python3 tests/conformance/faults.py                       # every scenario in scenarios/faults
    sudo python3 tests/conformance/faults.py -j 3 scenarios/faults/mount-drop-after.scenario
    python3 tests/conformance/faults.py --list                     # what would be replayed, and how
    python3 tests/conformance/faults.py --compare-only             # just check the committed recordings

`#@ fault` → faultplug (`METHOD:KIND[*COUNT][=ARG]`, see tests/golden/tools/faultplug.py):

    PLUGIN M delay D            M:delay=SECONDS          PLUGIN M hang             M:hang
    PLUGIN M status C [BODY]    M:status=C BODY          PLUGIN M empty            M:empty
    PLUGIN M invalid-json       M:badjson={"Volume": {   PLUGIN M implements A B   M:implements=A+B
    PLUGIN M created-at T       M:badtime=T              PLUGIN M drop before-body M:drop-before
    PLUGIN M drop after-body    M:drop-after             PLUGIN M drop answer      M:drop-answer
    PLUGIN M crash [for D]      M:exit[=SECONDS]
    scope once / times N / always   *1 / *N / *always
    PLUGIN kill                 SIGKILL (socket stays)   PLUGIN kill for D         SIGKILL, restarted D later
    PLUGIN stale-socket         socket file, no listener PLUGIN late D             socket appears D later
    clear [PLUGIN]              faults disarmed
A fault before the first `docker` line that makes a plugin absent (`late`, `stale-socket`) keeps it from being
started before dockerd. Durations are real here: a scenario with a 2 minute timeout takes 2 minutes. After a
`hang` fault the next command (each later one for `always`) is cut off after 30 s (the Rust check reads that as "dockerd would hang here").
`#@ replay skip:` lines are not honoured (they are for run.py's plain replay); `busybox` is tagged from the
sandbox's bb:latest before the first line. Every plugin gets faultplug's `sdk_empty` option: drydock's golden
kinds are built on its SDK, which answers an empty request body (dockerd's retry after a drop) with a 400,
where recplug reads it as {}.
"""

import argparse
import glob
import os
import shlex
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(ROOT, "tests/golden/tools"))
import record_faults  # noqa: E402  (the recorder of tests/golden/faults)

OUT = os.path.join(ROOT, "tests/golden/faults/conformance")
WORK = os.environ.get("CONFORMANCE_WORK", "/tmp/drydock-conformance-faults")
KINDS = {"golden-volume": "VolumeDriver", "golden-authz": "authz", "golden-ipam": "IpamDriver",
         "golden-network": "NetworkDriver"}
INVALID_JSON = '{"Volume": {'  # what drydock's invalid-json sends (engine-sim/src/fault.rs INVALID_JSON)


def seconds(text):
    """`90s`, `2m`, `1m30s`, `500ms`, `1h` -> float seconds (ValueError if not a duration)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total, rest = 0.0, text
    if not rest:
        raise ValueError("empty duration")
    while rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        if digits == 0:
            raise ValueError("invalid duration %r" % text)
        n = int(rest[:digits])
        rest = rest[digits:]
        unit = "ms" if rest.startswith("ms") else rest[:1]
        if unit not in units:
            raise ValueError("invalid duration %r" % text)
        total += n * units[unit]
        rest = rest[len(unit):]
    return total


def call_fault(words):
    """`METHOD ACTION… [SCOPE]` (after the plugin name) -> faultplug's METHOD:KIND[*COUNT][=ARG]."""
    method, action, rest = words[0], words[1], words[2:]
    count = "1"
    if rest and rest[-1] == "always":
        count, rest = "always", rest[:-1]
    elif rest and rest[-1] == "once":
        rest = rest[:-1]
    elif len(rest) >= 2 and rest[-2] == "times":
        count, rest = rest[-1], rest[:-2]
    if action == "delay":
        kind = "delay=%g" % seconds(rest[0])
    elif action == "hang":
        kind = "hang"
    elif action == "status":
        # the BODY keeps its \n-style escapes: faultplug reads them the same way, and the control file is
        # line-based
        kind = "status=" + rest[0] + (" " + rest[1] if len(rest) > 1 else "")
    elif action == "empty":
        kind = "empty"
    elif action == "invalid-json":
        kind = "badjson=" + INVALID_JSON
    elif action == "implements":
        kind = "implements=" + "+".join(rest)
    elif action == "created-at":
        kind = "badtime=" + rest[0]
    elif action == "drop" and rest == ["before-body"]:
        kind = "drop-before"
    elif action == "drop" and rest == ["after-body"]:
        kind = "drop-after"
    elif action == "drop" and rest == ["answer"]:
        kind = "drop-answer"
    elif action == "crash":
        kind = "exit=%g" % seconds(rest[1]) if rest[:1] == ["for"] else "exit"
    else:
        raise ValueError("fault action %r has no faultplug translation" % " ".join(words[1:]))
    head, _, arg = kind.partition("=")
    return "%s:%s*%s%s" % (method, head, count, ("=" + arg) if _ else "")


def parse(path):
    """Returns (case for record_faults.Recorder, reason-not-replayable-or-None)."""
    name = os.path.splitext(os.path.basename(path))[0]
    specs, authz, steps, absent, reason = {}, [], [], set(), None
    seen_docker = False
    placed = set()  # plugins a `late` fault starts (a later `#@ plugin` line must not start them again)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if line.startswith("docker "):
            while line.endswith("\\") and not line.endswith("\\\\") and i < len(lines):
                line = line[:-1] + lines[i].strip()
                i += 1
            steps.append(line)
            seen_docker = True
            continue
        if not line.startswith("#@"):
            continue
        head = line[2:].split()
        if not head:
            continue
        if head[0] == "replay":
            # Not honoured: it marks files the plain replay (run.py) cannot do; faultplug applies the
            # faults, and anything it cannot reproduce is reported below as a reason of its own.
            continue
        try:
            words = shlex.split(line[2:])
        except ValueError as e:
            return None, "cannot split %r: %s" % (line, e)
        if words[0] == "plugin":
            if len(words) < 3 or words[2] not in KINDS:
                reason = reason or "plugin %s is of kind %s, not a golden kind" % (words[1], " ".join(words[2:]))
                continue
            # sdk_empty: drydock's golden kinds are built on its SDK, which refuses an empty body with a 400
            # where recplug reads it as {} (what a plugin answers to dockerd's empty-body retry)
            specs[words[1]] = ",".join(["%s=%s" % (words[1], KINDS[words[2]])] + words[3:] + ["sdk_empty"])
            if seen_docker:
                # declared between commands: it starts here (unless a `late` fault starts it)
                absent.add(words[1])
                if words[1] not in placed:
                    steps.append("!start " + words[1])
        elif words[0] == "authorization-plugin":
            authz += words[1:]
        elif words[0] == "sleep":
            try:
                steps.append("!sleep %g" % seconds(words[1]))
            except (IndexError, ValueError) as e:
                reason = reason or "directive `%s`: %s" % (line, e)
        elif words[0] == "restart-daemon":
            steps.append("#restart")
        elif words[0] == "restart-plugin":
            steps += ["!kill " + words[1], "!start " + words[1]]
        elif words[0] == "fault":
            args = words[1:]
            try:
                if args[0] == "clear":
                    targets = args[1:] or sorted(specs)
                    steps += ["!clear " + t for t in targets]
                elif args[1] == "kill":
                    steps.append("!kill-for %s %g" % (args[0], seconds(args[3])) if len(args) > 3
                                 else "!kill " + args[0])
                elif args[1] == "stale-socket":
                    if not seen_docker:
                        absent.add(args[0])
                    steps.append("!stale " + args[0])
                elif args[1] == "late":
                    if not seen_docker:
                        absent.add(args[0])
                    placed.add(args[0])
                    steps.append("!late %s %g" % (args[0], seconds(args[2])))
                else:
                    steps.append("!fault %s %s" % (args[0], call_fault(args[1:])))
            except (IndexError, ValueError) as e:
                reason = reason or "directive `%s`: %s" % (line, e)
        else:
            reason = reason or "directive `%s` has no replay here" % words[0]
    if not specs and reason is None:
        reason = "no golden plugin"
    case = record_faults.case(name, list(specs.values()), steps, authz=authz, absent=sorted(absent))
    # drydock knows `busybox` as an image; the sandbox has the same busybox imported as bb:latest
    case["setup"] = ["docker tag bb:latest busybox:latest"]
    if any(s.startswith("!fault") and ":hang" in s for s in steps):
        # a hang never ends on a real dockerd: the command after a hang fault (every later one for `always`) is
        # cut off after 30 s, which the check reads as "dockerd would hang here"
        out, next_only, always = [], False, False
        for s in steps:
            if s.startswith("!fault") and ":hang" in s:
                always = always or ":hang*always" in s
                next_only = True
            elif s.startswith("!clear"):
                always = False
            if (next_only or always) and not s.startswith(("!", "#")):
                out.append("!timeout 30")
                next_only = False
            out.append(s)
        case["steps"] = out
    return case, reason


def scenarios(args):
    paths = []
    for a in args or [os.path.join(ROOT, "scenarios/faults")]:
        if os.path.isdir(a):
            paths += sorted(glob.glob(os.path.join(a, "**/*.scenario"), recursive=True))
        else:
            paths.append(a)
    return paths


def compare():
    """Runs the Rust check of every committed recording; prints its verdicts."""
    p = subprocess.run(["cargo", "test", "--test", "tests", "conformance_faults", "--", "--nocapture",
                        "--test-threads=1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout.splitlines():
        if "conformance-faults: " in line:
            print(line[line.index("conformance-faults: "):])
        elif "panicked" in line or line.startswith("test result") or line.startswith("error"):
            print(line)
    return p.returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", help="scenario files or directories (default: scenarios/faults)")
    ap.add_argument("--list", action="store_true", help="show which scenarios would be replayed, and the steps")
    ap.add_argument("--compare-only", action="store_true", help="do not record; check the recordings")
    ap.add_argument("-j", type=int, default=1, help="scenarios replayed at once (each has its own sandbox)")
    args = ap.parse_args()
    if args.compare_only:
        sys.exit(compare())
    todo = []
    for path in scenarios(args.paths):
        case, reason = parse(path)
        if reason:
            print("%-36s skipped: %s" % (os.path.basename(path), reason))
        elif args.list:
            print("%-36s plugins %s%s" % (os.path.basename(path), " ".join(case["plugins"]),
                                          "; absent at start: " + " ".join(case["absent"]) if case["absent"] else ""))
            for s in case["steps"]:
                print("    " + s)
        else:
            todo.append(case)
    if args.list:
        return
    if os.geteuid() != 0:
        sys.exit("recording needs root (the dockerd sandbox does)")
    os.makedirs(OUT, exist_ok=True)
    sem = threading.Semaphore(args.j)

    def one(case):
        with sem:
            t = time.time()
            out = os.path.join(OUT, case["name"] + ".jsonl")
            ok = record_faults.Recorder(case, out=out, work=WORK).record()
            print("%-36s recorded in %6.1fs%s" % (case["name"], time.time() - t, "" if ok else " (sandbox failed)"),
                  flush=True)
    threads = [threading.Thread(target=one, args=(c,)) for c in todo]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    sys.exit(compare())


if __name__ == "__main__":
    main()
