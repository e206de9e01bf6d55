#!/usr/bin/env python3
"""One docker-py container lifecycle on a plugin's volume, against
`drydock serve` and against a real dockerd 20.10, in one run.

    sudo python3 benches/serve_vs_dockerd.py [-n 20] [--durability buffered|fsync] [--drydock PATH] [--keep]

Starts the reference volume plugin (`drydock plugin volume --name dryvol`)
once, with its socket in a throw-away sandbox's plugin directory
(tests/realdockerd/sandbox.sh: a real dockerd in its own network and mount
namespaces, needs root), and `drydock serve --plugins-dir` on the same
directory: both daemons call the same plugin process. On each it creates
the volume `v1` on `dryvol`, runs one unmeasured lifecycle, then N measured
ones, alternating between the daemons so that a change in the machine's
load hits both:

    client.containers.run("bb:latest", "true",
        mounts=[docker.types.Mount("/data", "v1", driver_config=docker.types.DriverConfig("dryvol"))],
        remove=True)

(seven API requests: create, inspect, start, logs, inspect, wait, remove;
the plugin sees Get, Mount, Get, Unmount), and prints p50 and mean per
lifecycle for each daemon and their ratio; then how much of drydock's
lifecycle is drydock serve's own time (from its --trace; the rest is
docker-py and the socket), docker-py's smallest request (`ping`) against
drydock serve, and the ratio of the daemons' own times that follows if
docker-py costs the same against both.
Everything it started is stopped, and its directory removed, on every exit,
Ctrl-C and SIGTERM included (--keep keeps the directory: logs, plugin state).

The drydock binary: --drydock, else $DRYDOCK, else target/release/drydock
(build it with `cargo build --release`), else `drydock` on PATH.
Numbers: docs/performance.md ("drydock serve").
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import docker

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANDBOX = os.path.join(REPO, "tests", "realdockerd", "sandbox.sh")
MOUNTS = [docker.types.Mount("/data", "v1", driver_config=docker.types.DriverConfig("dryvol"))]


def drydock_binary(given):
    if given and not os.access(given, os.X_OK):
        sys.exit(f"--drydock {given}: not an executable")
    for candidate in (given, os.environ.get("DRYDOCK"), os.path.join(REPO, "target", "release", "drydock")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("drydock")
    if not found:
        sys.exit("drydock not found: build it (cargo build --release) or pass --drydock PATH")
    return found


def wait_for(path, proc, what, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before {path} appeared")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: {path} did not appear within {timeout} s")
        time.sleep(0.02)


def lifecycle(client):
    started = time.perf_counter()
    out = client.containers.run("bb:latest", "true", mounts=MOUNTS, remove=True)
    elapsed = time.perf_counter() - started
    assert out == b"", out
    return elapsed


def server_time(trace, offset):
    """Seconds drydock serve spent in the API requests its trace has after `offset`."""
    with open(trace, "rb") as f:
        f.seek(offset)
        records = [json.loads(line) for line in f]
    return sum(r["micros"] for r in records if "api" in r) / 1e6


def ms(seconds):
    return f"{seconds * 1e3:.2f} ms" if seconds < 0.1 else f"{seconds * 1e3:.0f} ms"


def stop(proc):
    """SIGTERM, as a user would stop it; SIGKILL if it is still there after 35 s."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=35)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Run:
    """What this run starts, all stopped by close() whatever happened."""

    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="drydock-vs-dockerd.")
        self.sandbox = os.path.join(self.work, "sandbox")
        self.trace = os.path.join(self.work, "trace.jsonl")
        self.plugin = self.served = None
        self.sandbox_started = False
        self.clients = []

    def start(self, drydock):
        """Starts the plugin, drydock serve and the real dockerd; their DOCKER_HOSTs."""
        plugins = os.path.join(self.sandbox, "run-plugins")
        os.makedirs(plugins)
        plugin_socket = os.path.join(plugins, "dryvol.sock")
        self.plugin = subprocess.Popen([
            drydock, "plugin", "volume", "--name", "dryvol",
            "--state-dir", os.path.join(self.work, "vol-state"),
            "--socket", plugin_socket, "--durability", self.args.durability,
        ], stdout=open(os.path.join(self.work, "plugin.log"), "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(plugin_socket, self.plugin, "drydock plugin volume")

        self.served = subprocess.Popen([
            drydock, "serve", "-H", "unix://" + os.path.join(self.work, "drydock.sock"),
            "--plugins-dir", plugins, "--trace", self.trace,
        ], stdout=subprocess.PIPE, start_new_session=True)
        line = self.served.stdout.readline().decode().strip()
        if not line.startswith("export DOCKER_HOST="):
            raise RuntimeError(f"drydock serve printed {line!r}, not its export line")
        drydock_host = line.split("=", 1)[1]

        print(f"starting a sandboxed dockerd in {self.sandbox} (sandbox.sh; the first start installs docker.io)",
              file=sys.stderr)
        self.sandbox_started = True
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKERD_FLAGS")}
        out = subprocess.run(["bash", SANDBOX, "start", self.sandbox], env=env, check=True,
                             stdout=subprocess.PIPE, text=True, start_new_session=True).stdout
        dockerd_host = next(l.split("=", 1)[1] for l in out.splitlines() if l.startswith("DOCKER_HOST="))
        return drydock_host, dockerd_host

    def client(self, host):
        client = docker.DockerClient(base_url=host, version="auto", timeout=120)
        self.clients.append(client)
        return client

    def close(self):
        for client in self.clients:
            client.close()
        stop(self.served)
        if self.sandbox_started:
            subprocess.run(["bash", SANDBOX, "stop", self.sandbox], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
        stop(self.plugin)  # last: both daemons use it
        if self.args.keep:
            print(f"kept {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=20, help="measured lifecycles per daemon (default 20)")
    parser.add_argument("--durability", choices=["buffered", "fsync"], default="buffered",
                        help="the plugin's --durability (default buffered: the disk is not what is compared)")
    parser.add_argument("--drydock", help="the drydock binary")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: the real dockerd runs in a sandbox of its own (tests/realdockerd/sandbox.sh)")
    drydock = drydock_binary(args.drydock)

    # Ctrl-C raises KeyboardInterrupt; SIGTERM is made to unwind the same way.
    # What it starts is in sessions of its own, so that a Ctrl-C reaches
    # only this script, which stops them in order.
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`&`)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = Run(args)
    try:
        hosts = run.start(drydock)
        daemons = [("drydock serve", run.client(hosts[0])), ("real dockerd", run.client(hosts[1]))]
        for name, client in daemons:
            # Made beforehand: dockerd would create v1 on the Mount's
            # DriverConfig, drydock serve does not read DriverConfig yet (it
            # would make a `local` v1), and the lifecycles compared must be
            # the same.
            client.volumes.create(name="v1", driver="dryvol")
            lifecycle(client)  # unmeasured: first-use costs (plugin activation, caches)
        times = {name: [] for name, _ in daemons}
        traced_from = os.path.getsize(run.trace)
        for i in range(args.runs):
            for name, client in daemons if i % 2 == 0 else reversed(daemons):
                times[name].append(lifecycle(client))
        served = server_time(run.trace, traced_from)
        pings = []  # docker-py's floor: its smallest request, against drydock
        for _ in range(200):
            started = time.perf_counter()
            daemons[0][1].api.ping()
            pings.append(time.perf_counter() - started)
        for name, client in daemons:
            mounts = client.volumes.get("v1").attrs.get("Status", {}).get("mounts")
            assert mounts == [], f"{name}: v1 still has mounts {mounts}"
        versions = {name: client.version()["Version"] for name, client in daemons}
    finally:
        run.close()

    print(f'docker-py {docker.__version__}: containers.run("bb:latest", "true", '
          f'mounts=[v1 on dryvol], remove=True), {args.runs} runs on each daemon, alternating; '
          f"plugin: drydock plugin volume --durability {args.durability}")
    print(f"{'daemon':<30} {'p50':>10} {'mean':>10} {'min':>10} {'max':>10}")
    for name, ts in times.items():
        print(f"{name + ' (' + versions[name] + ')':<30} {ms(statistics.median(ts)):>10} "
              f"{ms(statistics.mean(ts)):>10} {ms(min(ts)):>10} {ms(max(ts)):>10}")
    fast, slow = times["drydock serve"], times["real dockerd"]
    own = served / args.runs
    client = statistics.mean(fast) - own
    print(f"of which drydock serve's own time (the API requests' micros in its --trace): {ms(own)} a lifecycle; "
          f"the other {ms(client)} are docker-py and the socket")
    print(f"docker-py's floor: client.api.ping() against drydock serve, p50 {ms(statistics.median(pings))} "
          f"(a lifecycle makes 7 requests)")
    print(f"ratio real dockerd / drydock serve: p50 {statistics.median(slow) / statistics.median(fast):.0f}x, "
          f"mean {statistics.mean(slow) / statistics.mean(fast):.0f}x (goal >= 100x)")
    print(f"daemons only (estimate: the same {ms(client)} of docker-py taken off both means): "
          f"{(statistics.mean(slow) - client) / own:.0f}x")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; everything it started is stopped", file=sys.stderr)
        sys.exit(130)
