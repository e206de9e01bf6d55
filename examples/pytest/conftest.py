"""Fixtures for testing a Docker plugin with docker-py against `drydock serve`.

Copy this file beside your plugin's tests and change `PLUGIN` to start your
plugin on `{socket}`; here the plugin is drydock's reference volume plugin.
Each test gets its own plugin, its own simulated dockerd and a docker-py
client on it, all stopped with SIGTERM after the test. The `drydock` binary
is $DRYDOCK, or `drydock` on PATH.
"""

import json
import os
import shutil
import signal
import subprocess
import time

import docker
import pytest

NAME = "dryvol"
# Your plugin's command line: it must listen on the unix socket {socket}.
PLUGIN = ["{drydock}", "plugin", "volume", "--name", NAME,
          "--socket", "{socket}", "--state-dir", "{state_dir}"]


def _drydock():
    path = os.environ.get("DRYDOCK") or shutil.which("drydock")
    if not path:
        pytest.fail("drydock not found: set DRYDOCK=/path/to/drydock or put it on PATH", pytrace=False)
    return path


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def plugin(tmp_path):
    """The plugin under test, listening where the daemon looks for plugins."""
    socket = tmp_path / "plugins" / f"{NAME}.sock"
    socket.parent.mkdir()
    state_dir = tmp_path / "state"
    argv = [a.format(drydock=_drydock(), socket=socket, state_dir=state_dir) for a in PLUGIN]
    proc = subprocess.Popen(argv)
    deadline = time.monotonic() + 10
    while not socket.exists():
        assert proc.poll() is None, f"the plugin exited with status {proc.returncode}"
        assert time.monotonic() < deadline, f"the plugin did not create {socket}"
        time.sleep(0.02)
    yield {"name": NAME, "socket": socket, "state_dir": state_dir}
    _stop(proc)


@pytest.fixture
def daemon(tmp_path, plugin):
    """`drydock serve` finding the plugin; its DOCKER_HOST and --trace file."""
    trace = tmp_path / "trace.jsonl"
    proc = subprocess.Popen(
        [_drydock(), "serve", "-H", f"unix://{tmp_path / 'docker.sock'}",
         "--plugins-dir", str(plugin["socket"].parent), "--trace", str(trace)],
        stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()  # export DOCKER_HOST=unix://…
    assert line.startswith("export DOCKER_HOST="), line
    yield {"host": line.split("=", 1)[1], "trace": trace}
    _stop(proc)  # before the plugin: the daemon unmounts what still runs


@pytest.fixture
def client(daemon):
    """A docker-py client on the simulated dockerd."""
    client = docker.DockerClient(base_url=daemon["host"], version="auto")
    yield client
    client.close()


@pytest.fixture
def plugin_calls(daemon):
    """The plugin calls made so far, from the daemon's --trace, as
    `(method, request)` pairs."""
    def calls():
        records = (json.loads(line) for line in daemon["trace"].read_text().splitlines())
        return [(r["method"], r["request"]) for r in records if r.get("plugin") == NAME]
    return calls
