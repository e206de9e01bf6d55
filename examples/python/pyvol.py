#!/usr/bin/env python3
"""Step 5: a Docker volume plugin in Python, standard library only.

    python3 examples/python/pyvol.py SOCKET STATE_DIR

A legacy plugin is an HTTP server on a unix socket: dockerd POSTs JSON to
/Plugin.Activate, /VolumeDriver.Create, ... and reads JSON back. Any language
that can do that can be a plugin; drydock tests it the same way
(pyvol.scenario beside this file).
"""
import json
import os
import shutil
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler

SOCKET, STATE_DIR = sys.argv[1], sys.argv[2]
volumes = {}  # name -> {"dir": its directory, "mounts": {mount ID: count}}
lock = threading.Lock()  # dockerd may call on several connections at once


def volume_rpc(method, req):
    """Answers one RPC. An "Err" in a 200 answer is an error dockerd shows."""
    name = req.get("Name", "")
    vol = volumes.get(name)
    if method == "Plugin.Activate":
        return {"Implements": ["VolumeDriver"]}
    if method == "VolumeDriver.Capabilities":
        return {"Capabilities": {"Scope": "local"}}
    if method == "VolumeDriver.List":
        return {"Volumes": [{"Name": n, "Mountpoint": v["dir"]} for n, v in volumes.items()]}
    if method == "VolumeDriver.Create":
        path = os.path.join(STATE_DIR, name)
        os.makedirs(path, exist_ok=True)
        volumes.setdefault(name, {"dir": path, "mounts": {}})
        return {}
    if vol is None:  # every other method names an existing volume
        return {"Err": f"no such volume: {name}"}
    if method == "VolumeDriver.Get":
        return {"Volume": {"Name": name, "Mountpoint": vol["dir"]}}
    if method == "VolumeDriver.Path":
        return {"Mountpoint": vol["dir"]}
    if method == "VolumeDriver.Mount":
        # Count per ID: `docker cp` into a running container mounts again
        # with the container's ID, and unmounts once per mount.
        vol["mounts"][req["ID"]] = vol["mounts"].get(req["ID"], 0) + 1
        return {"Mountpoint": vol["dir"]}
    if method == "VolumeDriver.Unmount":
        left = vol["mounts"].get(req["ID"], 0) - 1
        if left > 0:
            vol["mounts"][req["ID"]] = left
        else:
            vol["mounts"].pop(req["ID"], None)
        return {}
    if method == "VolumeDriver.Remove":
        if vol["mounts"]:
            return {"Err": f"volume {name} is mounted"}
        shutil.rmtree(vol["dir"], ignore_errors=True)
        del volumes[name]
        return {}
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # dockerd keeps connections open

    def do_POST(self):
        # Activate has an empty body; the others are JSON ending in "\n".
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        method = self.path.lstrip("/")
        if not body.strip() and method != "Plugin.Activate":
            # dockerd's retry after a dropped connection has no body: refuse
            # it, or a retried Create would make a volume named "".
            self.answer(400, {"Err": f"{method}: empty request body"})
            return
        with lock:
            answer = volume_rpc(method, json.loads(body or b"{}"))
        if answer is None:
            self.send_error(404)
            return
        self.answer(200, answer)  # only 200 is success to dockerd

    def answer(self, status, answer):
        data = json.dumps(answer).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # unix sockets have no client address to log
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if __name__ == "__main__":
    if os.path.exists(SOCKET):
        os.unlink(SOCKET)  # a stale socket from an earlier run
    Server(SOCKET, Handler).serve_forever()
