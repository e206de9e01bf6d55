#!/usr/bin/env python3
"""record_faults.py: records what a real dockerd 20.10 does when a legacy plugin misbehaves.

For each case: a fresh sandbox (tests/realdockerd/sandbox.sh, overridable with $SANDBOX), one
faultplug.py process per plugin (so one can be killed and restarted alone), then the case's steps. Writes
tests/golden/faults/<case>.jsonl; the format and the findings are in tests/golden/faults/README.md. Needs root.

    python3 tests/golden/tools/record_faults.py              # every case, one after the other
    python3 tests/golden/tools/record_faults.py -j 3 f-a f-b # some cases, three at a time
    python3 tests/golden/tools/record_faults.py --list

A step is a shell command (run with DOCKER_HOST set, timed, output kept) or a directive:
    !fault NAME FAULT     arm FAULT (faultplug syntax METHOD:KIND[*COUNT][=ARG]) in plugin NAME
    !kill NAME            SIGKILL plugin NAME's process; its socket file stays (stale)
    !start NAME [LATE]    start plugin NAME again (its case spec, faults of the spec included); with LATE
                          seconds its socket appears only that much later (the step does not wait)
    !stale NAME           (kill NAME if it runs and) leave a socket file NAME.sock that nobody listens on
    !kill-for NAME S      SIGKILL NAME now and start it again S seconds later (the step does not wait)
    !late NAME S          (kill NAME if it runs,) remove its socket, start it so that the socket appears in S s
    !clear NAME           disarm NAME's faults
    !sleep S              wait S seconds
    !timeout S            the next command is killed after S seconds (rc 124; default 200)
    !bg CMD               start CMD in the background (its result line comes at !wait, with "cmd")
    !wait                 wait for the background commands
    #restart              restart dockerd (as record.py)
Case plugins listed in `absent` are not started before dockerd (a `!start` or `!stale` brings them).
"""

import argparse
import calendar
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.dirname(HERE)
OUT = os.path.join(GOLDEN, "faults")
FAULTPLUG = os.path.join(HERE, "faultplug.py")
SANDBOX = os.environ.get("SANDBOX", os.path.normpath(os.path.join(GOLDEN, "../realdockerd/sandbox.sh")))
WORK = os.environ.get("FAULTS_WORK", "/tmp/drydock-faults")
CANONICAL_DATADIR = "/srv/plugin-data"
BB = "bb:latest"
OUT_CHARS = 2000


def case(name, plugins, steps, authz=None, absent=(), what=""):
    return {"name": name, "plugins": plugins, "steps": steps, "authz": authz or [], "absent": list(absent),
            "what": what}


V = "fvol=VolumeDriver"
RUN = "docker run --rm -v vol:/d %s true" % BB

CASES = [
    # ------------------------------------------------------------ volume plugin answering errors
    case("f-create-errors", [V], [
        "!fault fvol VolumeDriver.Create:err=create failed here",
        "docker volume create -d fvol va",
        "!fault fvol VolumeDriver.Create:noerr",
        "docker volume create -d fvol vb",
        "!fault fvol VolumeDriver.Create:text=plain create failure",
        "docker volume create -d fvol vc",
        "!fault fvol VolumeDriver.Create:404",
        "docker volume create -d fvol vd",
        "!fault fvol VolumeDriver.Create:empty",
        "docker volume create -d fvol ve",
        "!fault fvol VolumeDriver.Create:badjson",
        "docker volume create -d fvol vf",
        "docker volume ls",
        "!fault fvol VolumeDriver.Create:err=implicit create failed",
        "docker run --rm -v vg:/d --volume-driver fvol %s true" % BB,
    ], what="Create answering 500 {Err}, 500 {}, 500 text, 404, empty 200, invalid JSON; implicit create by run"),
    case("f-get-errors", [V], [
        "docker volume create -d fvol vol",
        "!fault fvol VolumeDriver.Get:err=get failed here",
        "docker volume inspect vol",
        "docker volume ls",
        "!fault fvol VolumeDriver.Get:text=plain get failure",
        "docker volume inspect vol",
        "!fault fvol VolumeDriver.Get:empty",
        "docker volume inspect vol",
        "!fault fvol VolumeDriver.Get:badjson",
        "docker volume inspect vol",
        "!fault fvol VolumeDriver.Get:badtime",
        "docker volume inspect vol",
        "!fault fvol VolumeDriver.Get:404",
        "docker volume inspect vol",
        "docker volume ls",
        "!fault fvol VolumeDriver.Get:err=get failed before mount",
        RUN,
        "docker volume ls",
        "docker volume create -d fvol vol2",
        "!fault fvol VolumeDriver.Get:err=get failed in rm",
        "docker volume rm vol2",
        "docker volume ls",
    ], what="Get answering each error kind and a bad CreatedAt: inspect, run -v, rm (is the volume forgotten?)"),
    case("f-list-errors", [V], [
        "docker volume create -d fvol vol",
        "!fault fvol VolumeDriver.List:err=list failed here",
        "docker volume ls",
        "!fault fvol VolumeDriver.List:text=plain list failure",
        "docker volume ls",
        "!fault fvol VolumeDriver.List:empty",
        "docker volume ls",
        "!fault fvol VolumeDriver.List:badjson",
        "docker volume ls",
        "!fault fvol VolumeDriver.List:badtime",
        "docker volume ls",
        "!fault fvol VolumeDriver.List:404",
        "docker volume ls",
        "docker volume ls",
    ], what="List answering each error kind and a bad CreatedAt: warnings in volume ls"),
    case("f-mount-errors", [V], [
        "docker volume create -d fvol vol",
        "!fault fvol VolumeDriver.Mount:err=mount failed here",
        RUN,
        "!fault fvol VolumeDriver.Mount:noerr",
        RUN,
        "!fault fvol VolumeDriver.Mount:404",
        RUN,
        "!fault fvol VolumeDriver.Mount:empty",
        RUN,
        "!fault fvol VolumeDriver.Mount:badjson",
        RUN,
        RUN,
    ], what="Mount answering each error kind: docker run's error text, Unmount or not"),
    case("f-unmount-remove-errors", [V], [
        "docker volume create -d fvol vol",
        "!fault fvol VolumeDriver.Unmount:err=unmount failed here",
        RUN,
        "docker volume inspect vol --format '{{json .Status}}'",
        "!fault fvol VolumeDriver.Unmount:empty",
        RUN,
        "!fault fvol VolumeDriver.Remove:err=remove failed here",
        "docker volume rm vol",
        "docker volume ls",
        "!fault fvol VolumeDriver.Remove:text=plain remove failure",
        "docker volume rm vol",
        "!fault fvol VolumeDriver.Remove:empty",
        "docker volume rm vol",
        "docker volume ls",
        "docker volume rm vol",
    ], what="Unmount errors (surfaced?) and Remove errors (text, volume kept?)"),
    case("f-caps-errors", ["fvol=VolumeDriver,fault=VolumeDriver.Capabilities:err=caps failed here"], [
        "docker volume create -d fvol va",
        "docker volume ls",
        "!fault fvol VolumeDriver.Capabilities:empty",
        "docker volume inspect va",
        "!fault fvol VolumeDriver.Capabilities:badjson",
        "docker volume inspect va",
        "docker volume inspect va",
        "docker volume ls",
    ], what="Capabilities answering 500, empty, invalid JSON: ignored? retried?"),
    case("f-caps-always", ["fvol=VolumeDriver,fault=VolumeDriver.Capabilities:err*always=caps failed here"], [
        "docker volume create -d fvol va",
        "docker volume create -d fvol vb",
        "docker volume ls",
        "docker volume inspect va --format '{{.Scope}}'",
        "docker volume rm va",
    ], what="Capabilities always answering 500: asked again on every scope need, never surfaced"),
    case("f-activate-errors", ["fvol=VolumeDriver,fault=Plugin.Activate:err=activate failed here"], [
        "docker volume create -d fvol va",
        "!fault fvol Plugin.Activate:text=plain activate failure",
        "docker volume create -d fvol va",
        "!fault fvol Plugin.Activate:empty",
        "docker volume create -d fvol va",
        "!fault fvol Plugin.Activate:badjson",
        "docker volume create -d fvol va",
        "!fault fvol Plugin.Activate:404",
        "docker volume create -d fvol va",
        "docker volume create -d fvol va",
    ], what="Activate answering 500 {Err}, 500 text, empty, invalid JSON, 404: retried on the next command?"),
    case("f-activate-implements", ["fvol=VolumeDriver,fault=Plugin.Activate:implements=authz"], [
        "docker volume create -d fvol va",
        "docker volume create -d fvol va",
        "docker volume ls",
    ], what="Activate answering a wrong Implements: sticky for the daemon's lifetime?"),
    # ------------------------------------------------------------ dropped connections and retries
    case("f-activate-drop-once", ["fvol=VolumeDriver,fault=Plugin.Activate:drop-after,"
                                  "fault=VolumeDriver.Capabilities:drop-before"], [
        "docker volume create -d fvol va",
        "docker volume ls",
    ], what="Activate drops after the body once, Capabilities before it once: one retry each, 1 s later"),
    case("f-activate-drop-always", ["fvol=VolumeDriver,fault=Plugin.Activate:drop-after*always"], [
        "docker volume create -d fvol va",
    ], what="Activate drops the connection every time: retries, give-up time, CLI error"),
    case("f-activate-dropbefore-always", ["fvol=VolumeDriver,fault=Plugin.Activate:drop-before*always"], [
        "docker volume create -d fvol va",
    ], what="Activate closes before reading the (empty) body every time"),
    case("f-mount-drop", [V], [
        "docker volume create -d fvol vol",
        "!fault fvol VolumeDriver.Mount:drop-answer",
        RUN,
        "!fault fvol VolumeDriver.Mount:drop-before",
        RUN,
        "!fault fvol VolumeDriver.Mount:drop-after",
        RUN,
        "!fault fvol VolumeDriver.Create:drop-answer",
        "docker volume create -d fvol vol2",
        "docker volume ls",
        "docker volume inspect vol2",
    ], what="Mount/Create drop the connection once (answer lost / before / after the body): the retry is EMPTY"),
    case("f-mount-drop-always", [V], [
        "docker volume create -d fvol vol",
        "!fault fvol VolumeDriver.Mount:drop-after*always",
        RUN,
    ], what="Mount drops the connection every time: retries, give-up time, docker run's error"),
    # ------------------------------------------------------------ timeouts (slow: minutes)
    case("f-get-timeout", [V], [
        "docker volume create -d fvol vol",
        "!fault fvol VolumeDriver.Get:delay=75",
        "docker volume inspect vol",
        "docker volume ls",
    ], what="Get slower than its 1 min timeout"),
    case("f-create-timeout", [V], [
        "!fault fvol VolumeDriver.Create:delay=135",
        "docker volume create -d fvol vol",
        "docker volume ls",
    ], what="Create slower than its 2 min timeout"),
    case("f-mount-timeout", [V], [
        "docker volume create -d fvol vol",
        "!fault fvol VolumeDriver.Mount:delay=135",
        RUN,
    ], what="Mount slower than its 2 min timeout"),
    case("f-unmount-delay", [V], [
        "docker volume create -d fvol vol",
        "!fault fvol VolumeDriver.Unmount:delay=20",
        RUN,
        "!fault fvol VolumeDriver.Get:delay=20",
        "docker volume inspect vol --format '{{.Name}}'",
    ], what="a 20 s delay below the timeouts: the command just waits"),
    # ------------------------------------------------------------ sockets: late, stale, killed, restarted
    case("f-late", ["late5=VolumeDriver", "late30=VolumeDriver"], [
        "!start late5 5",
        "docker volume create -d late5 va",
        "!start late30 30",
        "docker volume create -d late30 vb",
        "!sleep 15",
        "docker volume create -d late30 vb",
    ], absent=["late5", "late30"], what="the socket appears 5 s / 30 s after the command started"),
    case("f-stale", [V], [
        "!stale fvol",
        "docker volume create -d fvol va",
        "docker volume ls",
        "!start fvol",
        "docker volume create -d fvol va",
    ], absent=["fvol"], what="a socket file with no listener: volume create and ls; then the plugin comes up"),
    case("f-kill-restart", [V, "other=VolumeDriver"], [
        "docker volume create -d fvol vol",
        "docker volume create -d other ovol",
        "!kill fvol",
        "docker volume create -d other ovol2",
        "docker volume inspect vol --format '{{.Name}}'",
        "docker volume ls",
        "!start fvol",
        "docker volume inspect vol --format '{{.Name}}'",
        "!kill fvol",
        "!bg docker volume inspect vol --format '{{.Name}}'",
        "!sleep 4",
        "!start fvol",
        "!wait",
        "docker volume ls",
    ], what="plugin killed: calls to it (15 s, then?), calls to another plugin meanwhile; restarted: no re-Activate"),
    case("f-dead-concurrent", [V, "other=VolumeDriver"], [
        "docker volume create -d fvol vol",
        "docker volume create -d other ovol",
        "!kill fvol",
        "!bg docker volume inspect vol --format '{{.Name}}'",
        "!sleep 1",
        "docker volume create -d other ovol2",
        "docker volume inspect ovol --format '{{.Name}}'",
        "!wait",
    ], what="while a call to a dead plugin is retrying (15 s), calls to another plugin go through at once"),
    case("f-restart-dead", [V, "other=VolumeDriver"], [
        "docker volume create -d fvol vol",
        "docker volume create -d other ovol",
        "!kill fvol",
        "#restart",
        "docker volume ls",
        "docker volume create -d other ovol2",
        "!start fvol",
        "docker volume inspect vol --format '{{.Name}}'",
    ], what="dockerd restarted while a volume plugin is dead: start-up, ls, the other plugin, the plugin back"),
    case("f-kill-midcall", [V], [
        "docker volume create -d fvol vol",
        "!fault fvol VolumeDriver.Mount:exit",
        "!bg docker run --rm -v vol:/d %s true" % BB,
        "!sleep 2",
        "!start fvol",
        "!wait",
        "!fault fvol VolumeDriver.Create:exit",
        "!bg docker volume create -d fvol vol2",
        "!sleep 2",
        "!start fvol",
        "!wait",
        "docker volume ls",
    ], what="plugin dies while answering Mount / Create and comes back 2 s later: retry with an empty body"),
    # ------------------------------------------------------------ authz
    case("f-authz-errors", ["fauthz=authz"], [
        "!fault fauthz AuthZPlugin.AuthZReq~/volumes:noerr",
        "docker volume ls -q",
        "!fault fauthz AuthZPlugin.AuthZReq~/volumes:text=plain authz failure",
        "docker volume ls -q",
        "!fault fauthz AuthZPlugin.AuthZReq~/volumes:404",
        "docker volume ls -q",
        "!fault fauthz AuthZPlugin.AuthZReq~/volumes:empty",
        "docker volume ls -q",
        "!fault fauthz AuthZPlugin.AuthZReq~/volumes:badjson",
        "docker volume ls -q",
        "!fault fauthz AuthZPlugin.AuthZRes~/volumes:err=res failed here",
        "docker volume create avol",
        "docker volume ls -q",
        "!fault fauthz AuthZPlugin.AuthZRes~/volumes:empty",
        "docker volume ls -q",
        "docker volume ls -q",
    ], authz=["fauthz"], what="authz answering 500 {} / text / 404 / empty / invalid JSON: fails closed, texts"),
    case("f-authz-drop", ["fauthz=authz"], [
        "!fault fauthz AuthZPlugin.AuthZReq~/volumes:drop-after",
        "docker volume ls -q",
        "!fault fauthz AuthZPlugin.AuthZReq~/volumes:drop-after*always",
        "docker volume ls -q",
    ], authz=["fauthz"], what="authz drops the connection once (retry, empty body) and always (give up)"),
    case("f-authz-drop-always", ["fauthz=authz"], [
        "!fault fauthz AuthZPlugin.AuthZReq:drop-after*always",
        "curl -sS -w ' HTTP %{http_code}' --unix-socket ${DOCKER_HOST#unix://} http://localhost/v1.41/volumes",
    ], authz=["fauthz"], what="authz drops every connection (curl: one API request, no /_ping): give up, text"),
    case("f-authz-drop-deny", ["fauthz=authz,deny_req=/volumes"], [
        "docker volume ls -q",
        "!fault fauthz AuthZPlugin.AuthZReq~/volumes:drop-after",
        "docker volume ls -q",
    ], authz=["fauthz"], what="a denying authz plugin drops once: the retry's empty body is not denied"),
    case("f-authz-hang", ["fauthz=authz"], [
        "!fault fauthz AuthZPlugin.AuthZReq~/volumes:hang",
        "!timeout 30",
        "docker volume ls -q",
        "!fault fauthz AuthZPlugin.AuthZReq~/volumes:delay=40",
        "!timeout 60",
        "docker volume ls -q",
        "docker volume ls -q",
    ], authz=["fauthz"], what="authz hangs: the API request hangs (no timeout); a 40 s delay just waits"),
    # ------------------------------------------------------------ IPAM
    case("f-ipam-errors", ["fipam=IpamDriver"], [
        "!fault fipam IpamDriver.RequestPool:err=pool failed here",
        "docker network create --ipam-driver fipam n",
        "docker network create --ipam-driver fipam n",
        "!fault fipam IpamDriver.RequestAddress:err=address failed here",
        "docker run --rm --network n %s true" % BB,
        "!fault fipam IpamDriver.RequestAddress:empty",
        "docker run --rm --network n %s true" % BB,
        "!fault fipam IpamDriver.RequestAddress:text=plain address failure",
        "docker run --rm --network n %s true" % BB,
        "docker run --rm --network n %s true" % BB,
        "!fault fipam IpamDriver.ReleaseAddress:err=release failed here",
        "docker run --rm --network n %s true" % BB,
        "docker network rm n",
    ], what="IPAM RequestPool/RequestAddress/ReleaseAddress answering errors"),
    case("f-ipam-drop", ["fipam=IpamDriver"], [
        "docker network create --ipam-driver fipam n",
        "!fault fipam IpamDriver.RequestAddress:drop-answer",
        "docker run --rm --network n %s true" % BB,
        "!fault fipam IpamDriver.RequestPool:drop-answer",
        "docker network create --ipam-driver fipam m",
        "docker network ls --format '{{.Name}}'",
    ], what="IPAM RequestAddress / RequestPool drop once: the empty-body retry"),
    case("f-ipam-hang", ["fipam=IpamDriver"], [
        "docker network create --ipam-driver fipam n",
        "!fault fipam IpamDriver.RequestAddress:hang",
        "!timeout 30",
        "docker run --rm --network n %s true" % BB,
        "!kill fipam",
        "!sleep 2",
        "docker ps -a --format '{{.Names}} {{.Status}}'",
    ], what="IPAM RequestAddress hangs: docker run hangs (cut at 30 s); killing the plugin ends it"),
]


class Recorder:
    def __init__(self, c, out=None, work=WORK):
        self.c = c
        self.dir = os.path.join(work, c["name"])
        self.datadir = os.path.join(self.dir, "plugin-data")
        self.sockdir = os.path.join(self.dir, "run-plugins")
        self.out = out or os.path.join(OUT, c["name"] + ".jsonl")
        self.env = dict(os.environ, DOCKER_HOST="unix://%s/docker.sock" % self.dir)
        self.env["DOCKERD_FLAGS"] = " ".join("--authorization-plugin=" + p for p in c["authz"])
        self.netns = "dd" + hashlib.md5(self.dir.encode()).hexdigest()[:8]
        self.specs = {s.split("=")[0]: s for s in c["plugins"]}
        self.procs = {}
        self.bg = []
        self.timers = []
        self.lock = threading.Lock()
        self.timeout = 200

    def w(self, obj):
        with self.lock, open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(obj) + "\n")

    def mark(self, text):
        self.w({"mark": text, "t": time.time()})

    def sandbox(self, cmd):
        p = subprocess.run([SANDBOX, cmd, self.dir], env=self.env, capture_output=True, text=True)
        return p.returncode, (p.stdout + p.stderr).strip()

    def plugin(self, name, late=0.0, stale=False):
        args = [sys.executable, FAULTPLUG, "--trace", self.out, "--sockdir", self.sockdir, "--datadir", self.datadir,
                "--netns", self.netns, "--control", os.path.join(self.dir, "control-" + name)]
        if late:
            args += ["--late", str(late)]
        if stale:
            args.append("--stale")
        open(os.path.join(self.dir, "control-" + name), "w").close()  # a restarted plugin starts with no faults armed
        sock = os.path.join(self.sockdir, name + ".sock")
        if not late and os.path.exists(sock):
            os.unlink(sock)  # so that waiting for the socket below waits for the new listener, not a stale file
        p = subprocess.Popen(args + [self.specs[name]])
        if stale:
            p.wait()
            return
        self.procs[name] = p
        if not late:
            for _ in range(50):
                if os.path.exists(sock):
                    break
                time.sleep(0.1)

    def stop_plugin(self, name):
        """SIGKILL plugin NAME if it runs (its socket file stays)."""
        p = self.procs.pop(name, None)
        if p:
            p.send_signal(signal.SIGKILL)
            p.wait()

    def command(self, cmd, timeout):
        t = time.time()

        def text(b):
            return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")
        try:
            p = subprocess.run(["bash", "-c", cmd], env=self.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout)
            rc, out, err = p.returncode, text(p.stdout), text(p.stderr)
        except subprocess.TimeoutExpired as e:
            rc, out, err = 124, text(e.stdout), text(e.stderr)
        return {"rc": rc, "out": (out + err).rstrip()[-OUT_CHARS:], "stdout": out[-OUT_CHARS:],
                "stderr": err[-OUT_CHARS:], "secs": round(time.time() - t, 3)}

    def step(self, s):
        if not s.startswith("!"):
            self.mark(s)
            self.w({"result": self.command(s, self.timeout)})
            self.timeout = 200
            time.sleep(0.3)  # let stray plugin calls of this command land before the next mark
            return
        word, _, rest = s[1:].partition(" ")
        self.mark(s)
        if word == "fault":
            name = rest.partition(" ")[0]
            with open(os.path.join(self.dir, "control-" + name), "a", encoding="utf-8") as f:
                f.write(rest + "\n")
        elif word == "kill":
            self.stop_plugin(rest)
        elif word == "start":
            name, _, late = rest.partition(" ")
            old = self.procs.pop(name, None)
            if old:
                old.wait()
            self.plugin(name, late=float(late or 0))
        elif word == "stale":
            self.stop_plugin(rest)
            self.plugin(rest, stale=True)
        elif word == "kill-for":
            name, _, secs = rest.partition(" ")
            self.stop_plugin(name)
            timer = threading.Timer(float(secs), lambda: self.plugin(name))
            timer.start()
            self.timers.append(timer)
        elif word == "late":
            name, _, secs = rest.partition(" ")
            self.stop_plugin(name)
            sock = os.path.join(self.sockdir, name + ".sock")
            if os.path.exists(sock):
                os.unlink(sock)
            self.plugin(name, late=float(secs))
        elif word == "clear":
            with open(os.path.join(self.dir, "control-" + rest), "a", encoding="utf-8") as f:
                f.write(rest + " clear\n")
        elif word == "sleep":
            time.sleep(float(rest))
        elif word == "timeout":
            self.timeout = float(rest)
        elif word == "bg":
            timeout = self.timeout
            self.timeout = 200

            def run(cmd=rest):
                r = self.command(cmd, timeout)
                r["cmd"] = cmd
                self.w({"result": r})
            th = threading.Thread(target=run)
            th.start()
            self.bg.append(th)
        elif word == "wait":
            for th in self.bg:
                th.join()
            self.bg = []
        else:
            raise ValueError("unknown step %r" % s)

    def start(self, mark_after):
        rc, out = self.sandbox("start")
        if rc != 0:
            self.mark("#start-failed")
            self.w({"result": {"rc": rc, "out": out[-400:]}})
            return False
        self.mark(mark_after)
        return True

    def record(self):
        c = self.c
        self.sandbox("stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.sockdir)
        os.makedirs(OUT, exist_ok=True)
        open(self.out, "w").close()
        try:
            for name in self.specs:
                if name not in c["absent"]:
                    self.plugin(name)
            self.mark("#boot")
            if not self.start("#start"):
                return False
            for cmd in c.get("setup", []):  # harness preparation, not a step of the case
                self.mark("#setup " + cmd)
                self.w({"result": self.command(cmd, 60)})
            for s in c["steps"]:
                if s == "#restart":
                    self.mark(s)
                    self.sandbox("stop")
                    if not self.start("#restarted"):
                        return False
                else:
                    self.step(s)
            for th in self.bg:
                th.join()
            time.sleep(0.5)
            self.mark("#stop")
        finally:
            for t in self.timers:
                t.join()
            # plugins first: a request hung in a plugin would otherwise keep dockerd from stopping
            for p in self.procs.values():
                p.terminate()
                p.wait()
            self.sandbox("stop")
            self.mark("#stopped")
            self.finish()
        return True

    def finish(self):
        """Adds dt (seconds since the latest mark) to request lines, keeps dockerd's plugin log lines, and
        rewrites the private data directory to the canonical one."""
        with open(self.out, encoding="utf-8") as f:
            lines = [json.loads(ln) for ln in f if ln.strip()]
        lines = merge(lines, retry_events(os.path.join(self.dir, "dockerd.log")))
        last = None
        for ln in lines:
            if "mark" in ln:
                last = ln.get("t", last)
            elif "t" in ln and last is not None:
                ln["dt"] = round(ln["t"] - last, 3)
        try:
            with open(os.path.join(self.dir, "dockerd.log"), encoding="utf-8", errors="replace") as f:
                log = [ln.rstrip() for ln in f
                       if re.search(r"plugin|authz|ipam|VolumeDriver|volume", ln, re.I) and "containerd" not in ln]
        except OSError:
            log = []
        lines.append({"dockerd_log": [re.sub(r'^time="[^"]*" ', "", ln) for ln in log][-80:]})
        text = "".join(json.dumps(ln) + "\n" for ln in lines).replace(self.datadir, CANONICAL_DATADIR)
        with open(self.out, "w", encoding="utf-8") as f:
            f.write(text)


RETRY = re.compile(r'^time="([^"]+)" .*Unable to connect to plugin: (?:[^ ]*/)?([^/ ]+)\.sock(/[^:]+): (.*), '
                   r'retrying in ([0-9.]+)(ms|s)"?')


def retry_events(log_path):
    """dockerd's `Unable to connect to plugin: …, retrying in Ns` log lines as trace events: the attempts the
    plugin never saw (a refused dial) are visible only there."""
    out = []
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            for ln in f:
                m = RETRY.match(ln)
                if not m:
                    continue
                stamp, frac = m.group(1).rstrip("Z"), 0.0
                if "." in stamp:
                    stamp, digits = stamp.split(".")
                    frac = float("0." + digits)
                t = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) + frac
                wait = float(m.group(5)) / (1000 if m.group(6) == "ms" else 1)
                out.append({"event": "dockerd-retry", "t": t, "plugin": m.group(2), "path": m.group(3),
                            "error": m.group(4).replace('\\"', '"'), "retry_in": wait})
    except OSError:
        pass
    return out


def merge(lines, events):
    """Inserts timed EVENTS among LINES after the last line (with a time) that is not later."""
    if not events:
        return lines
    out, events = [], sorted(events, key=lambda e: e["t"])
    for ln in lines:
        while events and "t" in ln and events[0]["t"] < ln["t"]:
            out.append(events.pop(0))
        out.append(ln)
    return out + events


def short(v, n=160):
    s = v if isinstance(v, str) else json.dumps(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def show(path, log=False):
    """Prints a fault trace one event per line: marks, results (with seconds), requests (with dt, fault, empty)."""
    with open(path, encoding="utf-8") as f:
        for ln in f:
            d = json.loads(ln)
            if "mark" in d:
                print("$ " + d["mark"])
            elif "result" in d:
                r = d["result"]
                cmd = " (%s)" % r["cmd"] if "cmd" in r else ""
                print("  => rc=%s %.1fs%s %s" % (r["rc"], r.get("secs", 0), cmd, r["out"].replace("\n", " | ")))
            elif "event" in d:
                extra = " (%s, retrying in %gs)" % (d["error"][-60:], d["retry_in"]) if "retry_in" in d else ""
                print("  %+8.3f %s %s %s%s" % (d.get("dt", 0), d["plugin"], d.get("path", "/")[1:], d["event"], extra))
            elif "dockerd_log" in d:
                if log:
                    for x in d["dockerd_log"]:
                        print("  log: " + x)
            else:
                flags = []
                if d.get("fault"):
                    flags.append("FAULT " + d["fault"])
                if d.get("empty") and not d["path"].endswith(("Activate", "GetCapabilities", "GetDefaultAddressSpaces")):
                    flags.append("EMPTY BODY")
                print("  %+8.3f %s %s %s -> %s %s%s" % (d.get("dt", 0), d["plugin"], d["path"][1:],
                                                       short(d["raw"].rstrip("\n") if d["raw"] is not None else "<unread>", 70),
                                                       d["status"], short(d["resp"].rstrip("\n") if isinstance(d["resp"], str) else d["resp"], 90),
                                                       ("  [" + "; ".join(flags) + "]") if flags else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--show", metavar="FILE", help="print a recorded trace one event per line")
    ap.add_argument("--log", action="store_true", help="with --show: also the dockerd log lines")
    ap.add_argument("-j", type=int, default=1, help="cases recorded at once (each has its own sandbox)")
    args = ap.parse_args()
    if args.show:
        show(args.show, args.log)
        return
    if args.list:
        for c in CASES:
            print("%-28s %s" % (c["name"], c["what"]))
        return
    names = {c["name"] for c in CASES}
    unknown = [a for a in args.cases if a not in names]
    if unknown:
        sys.exit("unknown case(s): %s" % " ".join(unknown))
    todo = [c for c in CASES if not args.cases or c["name"] in args.cases]
    sem = threading.Semaphore(args.j)

    def one(c):
        with sem:
            t = time.time()
            ok = Recorder(c).record()
            print("%-28s %6.1fs%s" % (c["name"], time.time() - t, "" if ok else " (sandbox failed)"), flush=True)
    threads = [threading.Thread(target=one, args=(c,)) for c in todo]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


if __name__ == "__main__":
    main()
