#!/usr/bin/env python3
"""recplug: a recording Docker legacy (v1) plugin server, stdlib only.

Serves one or more plugins, each on its own unix socket ``SOCKDIR/NAME.sock``, and appends one JSON line
per request to a trace file (format: tests/golden/README.md).  The answers are deliberately simple and
deterministic so that a simulator's test plugin can answer the same way; see the README for the rules.

Usage:
    recplug.py --trace FILE --sockdir DIR [--datadir DIR] [--netns NS] SPEC [SPEC ...]

SPEC is ``NAME=Impl[+Impl...][,option[=value]]...`` with Impl one of VolumeDriver, IpamDriver,
authz, NetworkDriver, and options:
    deny_req=S / deny_res=S    authz: answer Allow:false when RequestUri contains S (AuthZReq / AuthZRes)
    err_req=S  / err_res=S     authz: answer HTTP 500 {"Err": ...} when RequestUri contains S
    errok_req=S / errok_res=S  authz: answer HTTP 200 {"Allow": false, "Err": ...} (no Msg)
    mount_err=TEXT             volume: Mount answers HTTP 500 with the plain-text body TEXT + "\\n"
    nocaps                     volume: Capabilities answers 404 "404 page not found\\n" (not implemented)
    veth                       network: Join creates a veth pair inside network namespace --netns, so that
                               dockerd can move the SrcName end into the container
Options may repeat (e.g. two deny_req).  Unknown endpoints answer 404 like Go's default mux.
"""

import argparse
import datetime
import http.server
import ipaddress
import json
import os
import shutil
import socketserver
import subprocess
import sys
import threading
import time

LOCK = threading.Lock()  # serialises plugin state changes *and* trace writes, so line order = answer order
NOT_FOUND = (404, "404 page not found\n")


class Trace:
    """Appends JSON lines; opened per write in append mode because the driver writes marks to the same file."""

    def __init__(self, path):
        self.path = path

    def write(self, obj):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(obj) + "\n")
            f.flush()


class Plugin:
    """State and answering rules of one named plugin (possibly implementing several protocols)."""

    def __init__(self, spec, datadir, netns):
        head, *opts = spec.split(",")
        self.name, impls = head.split("=", 1)
        self.implements = impls.split("+")
        self.opts = {}
        for o in opts:
            k, _, v = o.partition("=")
            self.opts.setdefault(k, []).append(v)
        self.datadir = os.path.join(datadir, "vols-" + self.name)
        self.netns = netns
        self.vols = {}  # name -> {"mp", "created", "mounts": [ids]}
        self.pools = {}  # pool id -> {"net", "sub", "addrs": set}
        self.links = {}  # endpoint id -> peer link name (veth mode)

    def opt(self, key):
        return self.opts.get(key, [])

    # ---- dispatch -------------------------------------------------------------------------------

    def handle(self, path, req):
        """Returns (status, body) where body is a JSON-able object or a str sent as text."""
        if path == "/Plugin.Activate":
            return 200, {"Implements": self.implements}
        service, _, method = path[1:].partition(".")
        table = {
            "VolumeDriver": self.volume,
            "IpamDriver": self.ipam,
            "AuthZPlugin": self.authz,
            "NetworkDriver": self.network,
        }
        impl = {"AuthZPlugin": "authz"}.get(service, service)
        if impl not in self.implements or service not in table:
            return NOT_FOUND
        return table[service](method, req if isinstance(req, dict) else {})

    # ---- VolumeDriver ---------------------------------------------------------------------------

    def _vol(self, name):
        v = self.vols[name]
        return {
            "Name": name,
            "Mountpoint": v["mp"],
            "CreatedAt": v["created"],
            "Status": {"mounts": list(v["mounts"])},
        }

    def volume(self, method, req):
        name = req.get("Name", "")
        missing = {"Err": "no such volume: %s" % name}
        if method == "Capabilities":
            if "nocaps" in self.opts:
                return NOT_FOUND
            return 200, {"Capabilities": {"Scope": "local"}}
        if method == "List":
            vols = [{"Name": n, "Mountpoint": v["mp"]} for n, v in self.vols.items()]
            return 200, {"Volumes": vols, "Err": ""}
        if method == "Create":
            if name not in self.vols:
                mp = os.path.join(self.datadir, name)
                os.makedirs(mp, exist_ok=True)
                now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                self.vols[name] = {"mp": mp, "created": now, "mounts": []}
            return 200, {"Err": ""}
        if method not in ("Get", "Path", "Mount", "Unmount", "Remove"):
            return NOT_FOUND
        if name not in self.vols:
            return 200, missing
        v = self.vols[name]
        if method == "Get":
            return 200, {"Volume": self._vol(name), "Err": ""}
        if method == "Path":
            return 200, {"Mountpoint": v["mp"], "Err": ""}
        if method == "Mount":
            if self.opt("mount_err"):
                return 500, self.opt("mount_err")[0] + "\n"
            if req.get("ID") not in v["mounts"]:
                v["mounts"].append(req.get("ID"))
            return 200, {"Mountpoint": v["mp"], "Err": ""}
        if method == "Unmount":
            if req.get("ID") in v["mounts"]:
                v["mounts"].remove(req.get("ID"))
            return 200, {"Err": ""}
        # Remove
        if v["mounts"]:
            return 200, {"Err": "volume %s is in use" % name}
        shutil.rmtree(v["mp"], ignore_errors=True)
        del self.vols[name]
        return 200, {"Err": ""}

    # ---- IpamDriver -----------------------------------------------------------------------------

    def ipam(self, method, req):
        if method == "GetCapabilities":
            return 200, {"RequiresMACAddress": False, "RequiresRequestReplay": False}
        if method == "GetDefaultAddressSpaces":
            return 200, {"LocalDefaultAddressSpace": "rec-local", "GlobalDefaultAddressSpace": "rec-global"}
        if method == "RequestPool":
            if req.get("Pool"):
                net = ipaddress.ip_network(req["Pool"], strict=False)
            else:
                n = len(self.pools)
                while True:  # "N = pools held", skipping one still held after an out-of-order release
                    cidr = ("fd18:%x::/64" % n) if req.get("V6") else ("198.18.%d.0/24" % n)
                    if "rec/" + cidr not in self.pools:
                        break
                    n += 1
                net = ipaddress.ip_network(cidr)
            pid = "rec/" + str(net)
            if pid in self.pools:
                return 200, {"Error": "pool %s is already allocated" % net}
            sub = ipaddress.ip_network(req["SubPool"], strict=False) if req.get("SubPool") else None
            self.pools[pid] = {"net": net, "sub": sub, "addrs": set()}
            return 200, {"PoolID": pid, "Pool": str(net), "Data": {}}
        if method == "ReleasePool":
            self.pools.pop(req.get("PoolID"), None)
            return 200, {}
        if method in ("RequestAddress", "ReleaseAddress"):
            pool = self.pools.get(req.get("PoolID"))
            if pool is None:
                return 200, {"Error": "no such pool: %s" % req.get("PoolID")}
            if method == "ReleaseAddress":
                pool["addrs"].discard(req.get("Address"))
                return 200, {}
            if req.get("Address"):
                ip = str(ipaddress.ip_address(req["Address"]))
                if ip in pool["addrs"]:
                    return 200, {"Error": "address %s is already allocated" % ip}
            else:
                ip = next((str(h) for h in (pool["sub"] or pool["net"]).hosts() if str(h) not in pool["addrs"]), None)
                if ip is None:
                    return 200, {"Error": "no free address in %s" % req.get("PoolID")}
            pool["addrs"].add(ip)
            return 200, {"Address": "%s/%d" % (ip, pool["net"].prefixlen), "Data": {}}
        return NOT_FOUND

    # ---- authz ----------------------------------------------------------------------------------

    def authz(self, method, req):
        if method not in ("AuthZReq", "AuthZRes"):
            return NOT_FOUND
        phase = "req" if method == "AuthZReq" else "res"
        uri = req.get("RequestUri", "")
        if any(s in uri for s in self.opt("err_" + phase)):
            return 500, {"Err": "recplug error at %s: %s" % (method, uri)}
        if any(s in uri for s in self.opt("errok_" + phase)):
            return 200, {"Allow": False, "Err": "recplug in-band error at %s: %s" % (method, uri)}
        if any(s in uri for s in self.opt("deny_" + phase)):
            return 200, {"Allow": False, "Msg": "denied by recplug: %s" % uri}
        return 200, {"Allow": True}

    # ---- NetworkDriver --------------------------------------------------------------------------

    def network(self, method, req):
        eid = req.get("EndpointID", "")
        if method == "GetCapabilities":
            return 200, {"Scope": "local"}
        if method == "Join":
            src = "gn" + eid[:10]
            if "veth" in self.opts and self.netns:
                peer = "gp" + eid[:10]
                subprocess.run(["ip", "netns", "exec", self.netns, "ip", "link", "add", src, "type", "veth",
                                "peer", "name", peer], check=False)
                self.links[eid] = peer
            return 200, {"InterfaceName": {"SrcName": src, "DstPrefix": "eth"}}
        if method in ("Leave", "DeleteEndpoint"):
            peer = self.links.pop(eid, None)
            if peer:
                subprocess.run(["ip", "netns", "exec", self.netns, "ip", "link", "del", peer], check=False,
                               stderr=subprocess.DEVNULL)
            return 200, {}
        if method == "EndpointOperInfo":
            return 200, {"Value": {}}
        if method in ("CreateNetwork", "DeleteNetwork", "CreateEndpoint", "ProgramExternalConnectivity",
                      "RevokeExternalConnectivity", "DiscoverNew", "DiscoverDelete", "AllocateNetwork",
                      "FreeNetwork"):
            return 200, {}
        return NOT_FOUND


def make_handler(plugin, trace):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as dockerd's Go client expects

        def log_message(self, *args):  # unix sockets have no client address; stay quiet
            pass

        def _serve(self):
            t = time.time()
            clen = self.headers.get("Content-Length")
            raw = self.rfile.read(int(clen)) if clen else b""
            try:
                req = json.loads(raw) if raw.strip() else {}
            except ValueError:
                req = None
            with LOCK:
                status, body = plugin.handle(self.path, req)
                line = {
                    "t": t,
                    "plugin": plugin.name,
                    "path": self.path,
                    "accept": self.headers.get("Accept"),
                    "ctype": self.headers.get("Content-Type"),
                    "req": req,
                    "resp": body,
                    "status": status,
                    "host": self.headers.get("Host"),
                    "clen": int(clen) if clen is not None else None,
                    "raw": raw.decode("utf-8", "replace"),
                }
                if self.command != "POST":
                    line["method"] = self.command
                trace.write(line)
            if isinstance(body, str):
                data, ctype = body.encode(), "text/plain; charset=utf-8"
            else:
                data, ctype = json.dumps(body).encode(), "application/vnd.docker.plugins.v1+json"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = _serve
        do_GET = _serve

    return Handler


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--sockdir", required=True)
    ap.add_argument("--datadir", default="/srv/plugin-data")
    ap.add_argument("--netns", default="")
    ap.add_argument("specs", nargs="+")
    args = ap.parse_args()
    trace = Trace(args.trace)
    os.makedirs(args.sockdir, exist_ok=True)
    servers = []
    for spec in args.specs:
        plugin = Plugin(spec, args.datadir, args.netns)
        path = os.path.join(args.sockdir, plugin.name + ".sock")
        if os.path.exists(path):
            os.unlink(path)
        srv = UnixServer(path, make_handler(plugin, trace))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    print("recplug: serving %s" % ", ".join(s.split(",")[0] for s in args.specs), file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
