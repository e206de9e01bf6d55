#!/usr/bin/env python3
"""run.py: the conformance suite. Replays scenario files on a real dockerd 20.10 and compares with drydock.

For every scenario under scenarios/volume, scenarios/authz and scenarios/ipam (or the paths given) that is
replayable (no `#@ replay skip: <reason>` line, only directives and plugin kinds this script can reproduce):

1. a fresh private dockerd (tests/realdockerd/sandbox.sh) in WORK/<dir>-<name>, with
   `--authorization-plugin` flags from `#@ authorization-plugin`;
2. each `#@ plugin NAME KIND` running for real, behind `drydock record` (the recording proxy listens as
   NAME.sock in the sandbox's plugin directory): golden-* kinds are served by
   tests/golden/tools/recplug.py (drydock's golden kinds answer exactly like it), the reference kinds
   `volume`, `authz` and `ipam` by `drydock plugin …`;
3. the scenario's `docker` lines, one by one, in a scratch directory holding `notes.txt` and `out/`;
   `#@ restart-daemon` restarts the sandbox, `#@ restart-plugin NAME` the plugin process;
4. the calls of all recorders, merged by time with a mark before and a result after each command, in the
   golden format (tests/golden/README.md) as OUT/[<dir>/]<name>.jsonl (volume at the top, like the
   committed tests/golden/conformance);
5. then the Rust comparison (tests/it/conformance.rs, run with DRYDOCK_CONFORMANCE_DIR=OUT) runs each
   scenario in drydock, checks its `#>` expectations against the real trace, and compares the calls
   step by step, allowing only dockerd's nondeterminism (random IDs, order among volumes and plugins).

The report lists every scenario: identical, its first difference, or skipped with the reason; then totals.
Exit status 0 only if nothing differs. Needs root (the sandbox does); parallel sandboxes are isolated.

    sudo python3 tests/conformance/run.py                   # record everything fresh, compare, report
    sudo python3 tests/conformance/run.py scenarios/ipam/run-network.scenario
    python3 tests/conformance/run.py --list                 # what would be replayed, and why not
    sudo python3 tests/conformance/run.py --update          # record into tests/golden/conformance (commit them)
    python3 tests/conformance/run.py --engine serve         # the same through the real docker CLI against
                                                            # `drydock serve`: its plugin calls must equal
                                                            # `drydock run`'s (no root)
    python3 tests/conformance/run.py --compare-only         # compare the committed recordings, no dockerd
"""

import argparse
import concurrent.futures
import datetime
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
RECPLUG = os.path.join(ROOT, "tests/golden/tools/recplug.py")
COMMITTED = os.path.join(ROOT, "tests/golden/conformance")
SANDBOX = os.environ.get("SANDBOX", os.path.join(ROOT, "tests/realdockerd/sandbox.sh"))
# `--engine serve`: the same replay with `drydock serve` in place of dockerd (no root).
SERVE_SANDBOX = os.path.join(HERE, "serve-sandbox.sh")
DEFAULT_DIRS = ["scenarios/volume", "scenarios/authz", "scenarios/ipam"]
# drydock's golden-volume kind reports Mountpoints under this directory; each replay keeps recplug's
# volumes in a private directory and the trace is rewritten to it afterwards.
CANONICAL_DATADIR = "/srv/plugin-data"
# The recplug implementation behind each golden kind, and the kinds `drydock plugin` runs.
GOLDEN = {"golden-volume": "VolumeDriver", "golden-authz": "authz", "golden-ipam": "IpamDriver",
          "golden-network": "NetworkDriver"}
REFERENCE = {"volume", "authz", "ipam"}
# What the recordings say instead of a reference plugin's private state directory (tests/it/conformance.rs
# writes the same for drydock's).
STATE_DIR = "<state-dir>"
SETTLE = 0.2  # seconds after a command for its stray plugin calls to land before the next mark


class NotReplayable(Exception):
    pass


class Scenario:
    """What run.py needs of a scenario file: its steps, plugins and daemon flags."""

    def __init__(self, path):
        self.path = path
        self.dir = os.path.basename(os.path.dirname(path))
        self.name = os.path.splitext(os.path.basename(path))[0]
        # Volume recordings sit at the top of the output (as committed before authz and ipam came).
        self.key = self.name if self.dir == "volume" else "%s/%s" % (self.dir, self.name)
        self.steps = []  # ("docker", line) | ("restart-daemon",) | ("restart-plugin", name)
        self.plugins = []  # (name, kind, {setting: [values]})
        self.chain = []
        self.reason = None
        try:
            self._parse()
        except NotReplayable as e:
            self.reason = str(e)

    def _parse(self):
        with open(self.path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        skip = problem = None  # the file's own reason wins over what this script finds
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            if line.startswith("docker "):
                while line.endswith("\\") and i < len(lines):  # sh's line continuation
                    line = line[:-1] + lines[i].strip()
                    i += 1
                self.steps.append(("docker", line))
                continue
            if not line.startswith("#@"):
                continue
            body = line[2:].strip()
            if body.startswith("replay"):
                skip = skip or body.partition(":")[2].strip() or body
                continue
            words = shlex.split(body)
            if not words:
                continue
            try:
                problem = problem or self._directive(words)
            except NotReplayable as e:
                problem = problem or str(e)
        if skip:
            raise NotReplayable(skip)
        if problem:
            raise NotReplayable(problem)
        if not self.plugins:
            raise NotReplayable("no plugin")
        if not any(s[0] == "docker" for s in self.steps):
            raise NotReplayable("no docker command")

    def _directive(self, words):
        """Takes in one directive; returns why it cannot be replayed, or None."""
        if words[0] == "plugin":
            self._plugin(words[1:])
        elif words[0] == "authorization-plugin":
            self.chain += words[1:]
        elif words[0] == "restart-daemon":
            self.steps.append(("restart-daemon",))
        elif words[0] == "restart-plugin":
            kind = dict((p[0], p[1]) for p in self.plugins).get(words[1])
            if kind not in REFERENCE:
                return "`#@ restart-plugin` of a %s plugin: recplug keeps no state across a restart" % kind
            self.steps.append(("restart-plugin", words[1]))
        elif words[0] == "fault":
            return self._fault(words[1:])
        elif words[0] == "user":
            return "`#@ user` needs a TLS client certificate per user; the sandbox's dockerd listens on a " \
                "plain unix socket"
        else:
            return "directive `#@ %s` has no replay on a real dockerd" % words[0]
        return None

    def _fault(self, words):
        """The one fault recplug can apply itself: a golden-volume plugin whose every Mount fails with a text
        (recplug's mount_err: HTTP 500, the text and a newline), set before any command. Other faults are
        replayed by faults.py."""
        kinds = dict((p[0], p) for p in self.plugins)
        if (len(words) == 6 and words[1:4] == ["VolumeDriver.Mount", "status", "500"] and words[5] == "always"
                and kinds.get(words[0], (None, None))[1] == "golden-volume"
                and not any(s[0] == "docker" for s in self.steps)):
            kinds[words[0]][2].setdefault("mount_err", []).append(words[4])
            return None
        return "`#@ fault %s` has no recplug equivalent (tests/conformance/faults.py replays faults)" % " ".join(words)

    def _plugin(self, words):
        if len(words) < 2:
            raise NotReplayable("`#@ plugin %s` has no kind" % " ".join(words))
        name, kind, settings = words[0], words[1], {}
        if kind not in GOLDEN and kind not in REFERENCE:
            raise NotReplayable("plugin %s is of kind %s, which has no real counterpart here" % (name, kind))
        for w in words[2:]:
            k, eq, v = w.partition("=")
            if not eq:
                raise NotReplayable("plugin %s: setting %r is not KEY=VALUE" % (name, w))
            settings.setdefault(k, []).append(v)
        self.plugins.append((name, kind, settings))


class Replay:
    """One scenario on one fresh sandbox; writes the merged recording."""

    def __init__(self, sc, work, out, drydock, log):
        self.sc, self.drydock, self.log = sc, drydock, log
        self.dir = os.path.join(work, sc.key.replace("/", "-"))
        self.upstream = os.path.join(self.dir, "upstream")  # where the real plugins listen
        self.datadir = os.path.join(self.dir, "plugin-data")
        self.scratch = os.path.join(self.dir, "cwd")
        self.out = os.path.join(out, sc.key + ".jsonl")
        flags = " ".join("--authorization-plugin=%s" % p for p in sc.chain)
        self.env = dict(os.environ, DOCKER_HOST="unix://%s/docker.sock" % self.dir, DOCKERD_FLAGS=flags)
        self.events = []  # (time, json object): marks and results
        self.procs = {}  # plugin name -> Popen of its real plugin (reference kinds)
        self.others = []  # recplug and the recorders

    def mark(self, obj):
        self.events.append((time.time(), obj))

    def sandbox(self, cmd):
        p = subprocess.run([SANDBOX, cmd, self.dir], env=self.env, capture_output=True, text=True)
        return p.returncode, (p.stdout + p.stderr).strip()

    def start_daemon(self):
        rc, out = self.sandbox("start")
        if rc != 0:
            self.mark({"mark": "#start-failed"})
            self.mark({"result": {"rc": rc, "out": out[-400:]}})
            return False
        return True

    def reference_plugin(self, name, kind, settings):
        sock = os.path.join(self.upstream, name + ".sock")
        state = os.path.join(self.dir, "state-" + name)
        os.makedirs(state, exist_ok=True)
        cmd = [self.drydock, "plugin", kind, "--name", name, "--socket", sock]
        if kind == "volume":
            cmd += ["--state-dir", state] + sum((["--root", v] for v in settings.pop("root", [])), [])
        elif kind == "ipam":
            cmd += ["--state-dir", state] + sum((["--pool", v] for v in settings.pop("pool", [])), [])
        elif kind == "authz":
            for policy in settings.pop("policy", []):
                cmd += ["--policy", os.path.join(os.path.dirname(self.sc.path), policy)]
            for audit in settings.pop("audit", []):
                cmd += ["--audit", os.path.join(state, os.path.basename(audit))]
        if settings:
            raise NotReplayable("plugin %s: settings %s have no `drydock plugin %s` flag"
                                % (name, ", ".join(sorted(settings)), kind))
        return cmd

    def start_reference(self, name):
        if os.path.exists(os.path.join(self.upstream, name + ".sock")):
            os.unlink(os.path.join(self.upstream, name + ".sock"))
        self.procs[name] = subprocess.Popen(self.ref_cmds[name], stdout=self.log, stderr=self.log)

    def wait_for(self, socks):
        deadline = time.time() + 15
        while time.time() < deadline and not all(os.path.exists(s) for s in socks):
            time.sleep(0.05)
        missing = [s for s in socks if not os.path.exists(s)]
        if missing:
            raise RuntimeError("sockets did not appear: %s" % ", ".join(missing))

    def start_plugins(self):
        specs, self.ref_cmds = [], {}
        for name, kind, settings in self.sc.plugins:
            if kind in GOLDEN:
                opts = ["%s=%s" % (k, v) if v else k for k, vs in settings.items() for v in vs]
                if kind == "golden-network":
                    # Same answers; the interface named in Join's answer then exists, so the
                    # container really starts (drydock's golden-network answers the same way).
                    opts.append("veth")
                specs.append(",".join([name + "=" + GOLDEN[kind]] + opts))
            else:
                self.ref_cmds[name] = self.reference_plugin(name, kind, dict(settings))
        if specs:
            self.others.append(subprocess.Popen(
                [sys.executable, RECPLUG, "--trace", os.path.join(self.dir, "recplug.jsonl"), "--sockdir",
                 self.upstream, "--datadir", self.datadir, "--netns", self.netns()] + specs,
                stdout=self.log, stderr=self.log))
        for name in self.ref_cmds:
            self.start_reference(name)
        names = [p[0] for p in self.sc.plugins]
        self.wait_for([os.path.join(self.upstream, n + ".sock") for n in names])
        for name in names:
            self.others.append(subprocess.Popen(
                [self.drydock, "record", "--quiet", "--plugin", name, "--upstream",
                 os.path.join(self.upstream, name + ".sock"), "--plugins-dir",
                 os.path.join(self.dir, "run-plugins"), "--out", self.rec_file(name)],
                stdout=self.log, stderr=self.log))
        self.wait_for([os.path.join(self.dir, "run-plugins", n + ".sock") for n in names])

    def netns(self):
        p = subprocess.run([SANDBOX, "netns", self.dir], capture_output=True, text=True)
        return p.stdout.strip()

    def rec_file(self, name):
        return os.path.join(self.dir, "rec-%s.jsonl" % name)

    def run_command(self, cmd):
        self.mark({"mark": cmd})
        try:
            p = subprocess.run(["bash", "-c", cmd], env=self.env, cwd=self.scratch, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=120)
            rc, out = p.returncode, p.stdout
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            rc = 124
        time.sleep(SETTLE)
        self.mark({"result": {"rc": rc, "out": out.rstrip()[-400:]}})

    def record(self):
        """Runs the scenario on the sandbox; returns None or the reason it could not."""
        self.sandbox("stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        for d in ("run-plugins", "upstream", "cwd/out"):
            os.makedirs(os.path.join(self.dir, d))
        with open(os.path.join(self.scratch, "notes.txt"), "w") as f:
            f.write("notes\n")
        try:
            self.mark({"mark": "#boot"})
            self.start_plugins()
            if not self.start_daemon():
                return "the sandbox did not start (log: %s/dockerd.log)" % self.dir
            for step in self.sc.steps:
                if step[0] == "docker":
                    self.run_command(step[1])
                elif step[0] == "restart-daemon":
                    self.mark({"mark": "#restart"})
                    self.sandbox("stop")
                    # What the daemon asks while it starts (the sandbox's own readiness requests
                    # included) is told apart from what it asked while it stopped.
                    self.mark({"mark": "#restarted"})
                    if not self.start_daemon():
                        return "the sandbox did not restart (log: %s/dockerd.log)" % self.dir
                else:
                    self.mark({"mark": "#restart-plugin " + step[1]})
                    self.stop_proc(self.procs.pop(step[1]))
                    self.start_reference(step[1])
                    self.wait_for([os.path.join(self.upstream, step[1] + ".sock")])
            time.sleep(0.3)
            self.mark({"mark": "#stop"})
        finally:
            self.sandbox("stop")
            self.mark({"mark": "#stopped"})
            for p in list(self.procs.values()) + self.others:
                self.stop_proc(p)
            self.write()
        return None

    @staticmethod
    def stop_proc(p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def write(self):
        """Merges marks, results and every recorder's calls by time into the golden format."""
        lines = list(self.events)
        for name, _, _ in self.sc.plugins:
            path = self.rec_file(name)
            if not os.path.exists(path):
                continue
            with open(path, encoding="utf-8") as f:
                for raw in f:
                    if raw.strip():
                        call = json.loads(raw)
                        lines.append((parse_time(call["start"]), golden_line(call)))
        lines.sort(key=lambda e: e[0])  # stable: a mark written before a call at the same µs stays first
        text = "".join(json.dumps(obj) + "\n" for _, obj in lines)
        os.makedirs(os.path.dirname(self.out), exist_ok=True)
        text = text.replace(self.datadir, CANONICAL_DATADIR)
        for name, kind, _ in self.sc.plugins:
            if kind in REFERENCE:
                # A reference plugin's state directory is private to each run, here as in drydock.
                text = text.replace(os.path.join(self.dir, "state-" + name), "%s/%s" % (STATE_DIR, name))
        with open(self.out, "w", encoding="utf-8") as f:
            f.write(text)


def parse_time(rfc3339):
    t = datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def golden_line(call):
    """A `drydock record` line as a line of tests/golden's format (what recplug writes)."""
    line = {"t": parse_time(call["start"]), "plugin": call["plugin"], "path": "/" + call["method"],
            "req": call.get("request"), "status": call.get("status")}
    if call.get("request") is None:
        line["clen"] = 0
    if call.get("response") is not None or call.get("status") is not None:
        line["resp"] = call.get("response")
    if call.get("error"):
        line["error"] = call["error"]
    if call.get("http_method"):
        line["method"] = call["http_method"]
    return line


def scenario_paths(args):
    paths = []
    for a in args or [os.path.join(ROOT, d) for d in DEFAULT_DIRS]:
        if os.path.isdir(a):
            paths += sorted(glob.glob(os.path.join(a, "*.scenario")))
        else:
            paths.append(a)
    return [os.path.abspath(p) for p in paths]


def build_drydock():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--quiet", "--bin", "drydock"], cwd=ROOT, check=True)
    return os.path.join(target, "debug", "drydock")


def compare(recordings):
    """Runs the Rust comparison on a recordings directory; returns (verdicts by key, exit status, output)."""
    env = dict(os.environ, DRYDOCK_CONFORMANCE_DIR=recordings)
    p = subprocess.run(["cargo", "test", "--quiet", "--test", "tests", "--", "--exact",
                        "it::conformance::every_recording_matches_its_scenario", "--nocapture"],
                       cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    verdicts = {}
    for line in p.stdout.splitlines():
        m = re.search(r"conformance: (\S+) \((\w+)\): (.*)$", line)
        if m:
            key, transport, verdict = m.groups()
            if verdict != "identical" or key not in verdicts:
                verdicts[key] = verdict if verdict == "identical" else "%s: %s" % (transport, verdict)
    return verdicts, p.returncode, p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", help="scenario files or directories (default: %s)" % " ".join(DEFAULT_DIRS))
    ap.add_argument("--list", action="store_true", help="show which scenarios would be replayed, and why not")
    ap.add_argument("--compare-only", action="store_true", help="compare the committed recordings; no dockerd")
    ap.add_argument("--update", action="store_true", help="write the recordings into tests/golden/conformance")
    ap.add_argument("--out", help="directory for the recordings (default: a fresh one under WORK)")
    ap.add_argument("--work", default=os.environ.get("CONFORMANCE_WORK", "/tmp/drydock-conformance"),
                    help="sandboxes' parent directory (default: %(default)s)")
    ap.add_argument("--record-only", action="store_true", help="record, do not compare")
    ap.add_argument("--jobs", "-j", type=int, default=3, help="sandboxes at a time (default: %(default)s)")
    ap.add_argument("--engine", choices=["dockerd", "serve"], default="dockerd",
                    help="what the docker CLI talks to: a real dockerd sandbox, or `drydock serve` "
                         "(default: %(default)s)")
    args = ap.parse_args()
    if args.engine == "serve":
        global SANDBOX
        SANDBOX = SERVE_SANDBOX
        if args.update:
            sys.exit("conformance: --update records real dockerd only, not --engine serve")

    scenarios = [Scenario(p) for p in scenario_paths(args.paths)]
    todo = [s for s in scenarios if s.reason is None]
    if args.list:
        for s in scenarios:
            print("%-40s %s" % (s.key, "skipped: " + s.reason if s.reason else "%d steps, plugins %s" % (
                len(s.steps), " ".join("%s(%s)" % (p[0], p[1]) for p in s.plugins))))
        return 0
    if args.compare_only:
        out = COMMITTED
    else:
        if os.geteuid() != 0 and args.engine == "dockerd":
            sys.exit("conformance: recording needs root (the dockerd sandbox does); --compare-only does not")
        os.makedirs(args.work, exist_ok=True)
        out = COMMITTED if args.update else (args.out or tempfile.mkdtemp(prefix="recordings-", dir=args.work))
        drydock = build_drydock()
        failed = record_all(todo, args.work, out, drydock, args.jobs)
        if args.record_only:
            return 1 if failed else 0
    t = time.time()
    verdicts, rc, output = compare(out)
    print("conformance: compared in %.0fs (recordings in %s)" % (time.time() - t, out), flush=True)
    return report(scenarios, todo, verdicts, rc, output, {} if args.compare_only else failed, args.compare_only)


def record_all(todo, work, out, drydock, jobs):
    """Records every scenario (several sandboxes at a time); returns {key: why it could not}."""
    failed = {}
    lock = threading.Lock()
    t0 = time.time()
    subprocess.run([SANDBOX, "install"], check=True)  # once: parallel apt-get runs would fight over its lock

    def one(sc):
        t = time.time()
        with open(os.path.join(work, sc.key.replace("/", "-") + ".log"), "w") as log:
            try:
                why = Replay(sc, work, out, drydock, log).record()
            except (NotReplayable, RuntimeError, OSError) as e:
                why = str(e)
        with lock:
            if why:
                failed[sc.key] = why
            print("conformance: recorded %-36s %5.1fs%s" % (sc.key, time.time() - t, " (" + why + ")" if why else ""),
                  flush=True)

    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        list(pool.map(one, todo))
    print("conformance: recorded %d scenarios in %.0fs with %d sandboxes at a time" % (
        len(todo), time.time() - t0, jobs), flush=True)
    return failed


def report(scenarios, todo, verdicts, rc, output, failed, compare_only):
    identical, differ, skipped = [], [], []
    print("\n==== conformance report")
    keys = [s.key for s in todo]
    if compare_only:
        keys = sorted(verdicts)
    for s in scenarios:
        if s.reason is not None:
            skipped.append(s)
    for key in keys:
        verdict = failed.get(key) or verdicts.get(key) or "no verdict (see the comparison's output above)"
        if verdict == "identical":
            identical.append(key)
            print("  identical  %s" % key)
        else:
            differ.append(key)
            print("  DIFFERS    %s: %s" % (key, verdict.strip().split("\n")[0][:600]))
    for s in skipped:
        print("  skipped    %s: %s" % (s.key, s.reason))
    by_dir = {}
    for key in identical:
        d = key.split("/")[0] if "/" in key else "volume"
        by_dir[d] = by_dir.get(d, 0) + 1
    print("conformance: %d identical (%s), %d differ, %d skipped" % (
        len(identical), ", ".join("%s %d" % kv for kv in sorted(by_dir.items())), len(differ), len(skipped)))
    if (differ or rc != 0) and not verdicts:
        print(output[-4000:])
    return 1 if differ or rc != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
