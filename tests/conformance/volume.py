#!/usr/bin/env python3
"""volume.py: replays volume scenarios against a real dockerd 20.10 and records what it asked of the plugins.

For every scenario that is replayable (no `#@ replay skip:`) and whose plugins are all of kind `golden-volume`:
a private real dockerd (/work/shared/tools/dockerd-sandbox.sh, overridable with $SANDBOX), the recording
plugin tests/golden/tools/recplug.py serving the scenario's plugins (each `NAME=VolumeDriver`) in the
sandbox's plugin directory, then the scenario's `docker` lines one by one (`#@ restart-daemon` restarts the
sandbox). The trace, in the golden format of ../golden (marks, results, one line per plugin request), goes
to tests/golden/conformance/<scenario-name>.jsonl. Needs root (the sandbox does).

Afterwards it runs the Rust test `conformance` (tests/it/conformance.rs), which runs each scenario in drydock
and compares its plugin calls with the recording, and prints one verdict per scenario.

    sudo python3 tests/conformance/volume.py                    # every scenario in scenarios/volume
    sudo python3 tests/conformance/volume.py scenarios/volume/in-use.scenario
    python3 tests/conformance/volume.py --list                  # what would be replayed, and why not
    python3 tests/conformance/volume.py --compare-only          # just compare the committed recordings

Commands run through `bash -c` in a scratch directory holding `notes.txt` and an empty `out/`, so that
`docker cp` lines with `./` host paths work the same in drydock and here.
"""

import argparse
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
RECPLUG = os.path.join(ROOT, "tests/golden/tools/recplug.py")
OUT = os.path.join(ROOT, "tests/golden/conformance")
SANDBOX = os.environ.get("SANDBOX", os.path.normpath(os.path.join(ROOT, "../shared/tools/dockerd-sandbox.sh")))
WORK = os.environ.get("CONFORMANCE_WORK", "/tmp/drydock-conformance")
# drydock's golden-volume plugin reports Mountpoints under this directory, as recplug does by default. Each
# replay keeps its volumes in a private directory instead (so parallel recorders never delete each other's
# data) and the trace is rewritten to the canonical prefix afterwards.
CANONICAL_DATADIR = "/srv/plugin-data"
RESTART = "#restart"


def parse(path):
    """Returns (commands, plugin specs, reason-not-replayable-or-None)."""
    cmds, specs, reason = [], [], None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if line.startswith("docker "):
            # A backslash at the end continues the command, as in sh.
            while line.endswith("\\") and not line.endswith("\\\\") and i < len(lines):
                line = line[:-1] + lines[i].strip()
                i += 1
            cmds.append(line)
        elif line.startswith("#@"):
            head = line[2:].split()
            if not head:
                continue
            if head[0] == "replay":  # free text, which sh would not have to parse
                reason = reason or line[2:].strip()
                continue
            words = shlex.split(line[2:])
            if words[0] == "plugin":
                if len(words) >= 3 and words[2] == "golden-volume" and len(words) == 3:
                    specs.append("%s=VolumeDriver" % words[1])
                else:
                    reason = reason or "plugin %s is of kind %s, not golden-volume" % (words[1], " ".join(words[2:]))
            elif words[0] == "restart-daemon":
                cmds.append(RESTART)
            else:
                reason = reason or "directive `%s` has no replay here" % words[0]
    if not specs and reason is None:
        reason = "no golden-volume plugin"
    return cmds, specs, reason


class Replay:
    def __init__(self, path, cmds, specs):
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.cmds, self.specs = cmds, specs
        self.dir = os.path.join(WORK, self.name)
        self.datadir = os.path.join(self.dir, "plugin-data")
        self.scratch = os.path.join(self.dir, "cwd")
        self.out = os.path.join(OUT, self.name + ".jsonl")
        self.env = dict(os.environ, DOCKER_HOST="unix://%s/docker.sock" % self.dir, DOCKERD_FLAGS="")

    def w(self, obj):
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(obj) + "\n")

    def sandbox(self, cmd):
        p = subprocess.run([SANDBOX, cmd, self.dir], env=self.env, capture_output=True, text=True)
        return p.returncode, (p.stdout + p.stderr).strip()

    def start(self, mark_after):
        rc, out = self.sandbox("start")
        if rc != 0:
            self.w({"mark": "#start-failed"})
            self.w({"result": {"rc": rc, "out": out[-400:]}})
            return False
        self.w({"mark": mark_after})
        return True

    def run(self, cmd):
        self.w({"mark": cmd})
        try:
            p = subprocess.run(["bash", "-c", cmd], env=self.env, cwd=self.scratch, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=120)
            rc, out = p.returncode, p.stdout
        except subprocess.TimeoutExpired as e:
            rc, out = 124, (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        self.w({"result": {"rc": rc, "out": out.rstrip()[-400:]}})
        time.sleep(0.2)  # let stray plugin calls of this command land before the next mark

    def record(self):
        self.sandbox("stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "run-plugins"))
        os.makedirs(os.path.join(self.scratch, "out"))
        with open(os.path.join(self.scratch, "notes.txt"), "w") as f:
            f.write("notes\n")
        os.makedirs(OUT, exist_ok=True)
        open(self.out, "w").close()
        plug = subprocess.Popen([sys.executable, RECPLUG, "--trace", self.out, "--sockdir",
                                 os.path.join(self.dir, "run-plugins"), "--datadir", self.datadir] + self.specs)
        try:
            for s in self.specs:
                sock = os.path.join(self.dir, "run-plugins", s.split("=")[0] + ".sock")
                for _ in range(50):
                    if os.path.exists(sock):
                        break
                    time.sleep(0.1)
            self.w({"mark": "#boot"})
            if not self.start("#start"):
                return False
            for cmd in self.cmds:
                if cmd == RESTART:
                    self.w({"mark": RESTART})
                    self.sandbox("stop")
                    if not self.start("#restarted"):
                        return False
                else:
                    self.run(cmd)
            time.sleep(0.5)
            self.w({"mark": "#stop"})
        finally:
            self.sandbox("stop")
            self.w({"mark": "#stopped"})
            plug.terminate()
            plug.wait()
            self.canonicalise()
        return True

    def canonicalise(self):
        with open(self.out, encoding="utf-8") as f:
            text = f.read()
        with open(self.out, "w", encoding="utf-8") as f:
            f.write(text.replace(self.datadir, CANONICAL_DATADIR))


def scenarios(args):
    paths = []
    for a in args or [os.path.join(ROOT, "scenarios/volume")]:
        if os.path.isdir(a):
            paths += sorted(glob.glob(os.path.join(a, "**/*.scenario"), recursive=True))
        else:
            paths.append(a)
    return paths


def compare():
    """Runs the Rust comparison of every committed recording with drydock; prints its verdicts."""
    p = subprocess.run(["cargo", "test", "--test", "tests", "conformance", "--", "--nocapture",
                        "--test-threads=1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout.splitlines():
        # libtest may print a test's name and its first output line on one line
        if "conformance: " in line:
            print(line[line.index("conformance: "):])
        elif "panicked" in line or line.startswith("test result"):
            print(line)
    return p.returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", help="scenario files or directories (default: scenarios/volume)")
    ap.add_argument("--list", action="store_true", help="show which scenarios would be replayed")
    ap.add_argument("--compare-only", action="store_true", help="do not record; compare the recordings")
    args = ap.parse_args()
    if args.compare_only:
        sys.exit(compare())
    todo = []
    for path in scenarios(args.paths):
        cmds, specs, reason = parse(path)
        if reason:
            print("%-32s skipped: %s" % (os.path.basename(path), reason))
        elif args.list:
            print("%-32s %d commands, plugins %s" % (os.path.basename(path), len(cmds), " ".join(specs)))
        else:
            todo.append((path, cmds, specs))
    if args.list:
        return
    if os.geteuid() != 0:
        sys.exit("recording needs root (the dockerd sandbox does)")
    for path, cmds, specs in todo:
        t = time.time()
        ok = Replay(path, cmds, specs).record()
        print("%-32s recorded in %5.1fs%s" % (os.path.basename(path), time.time() - t,
                                              "" if ok else " (sandbox failed to start)"), flush=True)
    sys.exit(compare())


if __name__ == "__main__":
    main()
