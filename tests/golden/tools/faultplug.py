#!/usr/bin/env python3
"""faultplug: recplug's plugins with injectable faults, for recording what a real dockerd does when a plugin fails.

Serves each SPEC like recplug.py (same answers, same trace line format; it reuses recplug's Plugin class) and adds
faults per method. Stdlib only. Format of the trace and of the faults: tests/golden/faults/README.md.

Usage:
    faultplug.py --trace FILE --sockdir DIR [--datadir D] [--control FILE] [--late SECONDS] [--stale]
                 SPEC [SPEC ...]

SPEC is recplug's ``NAME=Impl[+Impl...][,option[=value]]...`` plus the option ``fault=FAULT`` (repeatable; a
FAULT given here cannot contain a comma: use the control file for that).

FAULT is ``METHOD[~TEXT]:KIND[*COUNT][=ARG]``:
    METHOD   the path without its slash (``VolumeDriver.Mount``, ``Plugin.Activate``, ``AuthZPlugin.AuthZReq``)
             or ``*`` for every method
    ~TEXT    only calls whose raw request body contains TEXT (e.g. ``AuthZPlugin.AuthZReq~/volumes``, which
             spares the CLI's /_ping); not with drop-before, which must decide before reading the body
    COUNT    how many matching calls the fault applies to: a number (default 1, i.e. the next call) or ``always``
    KIND     what the plugin does instead of its normal answer:
      delay=S        wait S seconds (float), then answer normally; stops waiting when the client goes away
      hang           never answer; hold the connection until the client closes it
      err=TEXT       HTTP 500 {"Err": TEXT}                    (default TEXT: "faultplug: injected error")
      noerr=BODY     HTTP 500 with the JSON body BODY, no Err  (default BODY: {})
      text=TEXT      HTTP 500 text/plain TEXT + "\\n"           (default TEXT: "faultplug: injected text error")
      404            HTTP 404 text "404 page not found\\n"     (Go's default mux)
      status=CODE BODY HTTP CODE with exactly BODY, in which \\n, \\t, \\r and \\\\ stand for what they mean
                     (as in drydock's `#@ fault … status`; default BODY: Go's 404 text for 404, else empty);
                     sent as JSON if it parses as JSON, else as text/plain
      empty          HTTP 200 with an empty body
      badjson=BODY   HTTP 200 with BODY as an application/json body   (default BODY: {"Err": "unterminated)
      implements=L   Activate only: HTTP 200 {"Implements": L split on '+'} (empty L: [])
      badtime=VALUE  Get/List: the normal answer with every CreatedAt set to VALUE (default "yesterday")
      drop-before    close the connection after the request headers, without reading the body (the trace line
                     has what had arrived of it as "unread")
      drop-after     read the whole request, then close the connection without answering (nor acting on it)
      drop-answer    read and handle the request (the plugin's state changes), then close the connection
                     instead of sending the answer
      exit[=S]       the plugin process dies on receiving the request (after reading it, before handling it):
                     every connection closes and the socket file stays behind, refusing connections. With S,
                     the process replaces itself (exec) with a copy whose socket comes back S seconds later,
                     keeping the volumes and the faults still armed: a crash and a supervisor's restart
--control FILE: every line appended to FILE while the plugin runs is ``NAME FAULT`` and adds that fault to
plugin NAME (``NAME clear`` removes NAME's faults); it is read before each request is answered, so a driver can
arm a fault between two commands.
--late S: wait S seconds before creating the sockets (nothing exists before).
--stale: create the sockets, close them at once without listening and exit: socket files with no listener.
Plugin option ``sdk_empty``: a request that needs a body but arrives empty (dockerd's retry after a drop) is
answered as drydock's SDK (and so drydock's golden-* test plugins) answers it — 400 {"Err": "<Method>: empty
request body (…)"} — instead of being read as {} the way recplug does.
Volume state is kept in DATADIR/state-NAME.json and reloaded at start, so a killed and restarted plugin still
knows its volumes (and their mount IDs), like a persistent real plugin.
"""

import argparse
import json
import os
import select
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recplug  # noqa: E402  (same directory)

LOCK = recplug.LOCK
NOT_FOUND = recplug.NOT_FOUND
KINDS = ("delay", "hang", "err", "noerr", "text", "404", "status", "empty", "badjson", "implements", "badtime",
         "drop-before", "drop-after", "drop-answer", "exit")


# The methods whose body drydock's SDK decodes (plugins/sdk/src/plugin.rs decode_request), and its text.
SDK_BODY_METHODS = {
    "VolumeDriver": {"Create", "Remove", "Mount", "Path", "Unmount", "Get"},
    "AuthZPlugin": {"AuthZReq", "AuthZRes"},
    "IpamDriver": {"RequestPool", "ReleasePool", "RequestAddress", "ReleaseAddress"},
    "NetworkDriver": {"CreateNetwork", "AllocateNetwork", "FreeNetwork", "DeleteNetwork", "CreateEndpoint",
                      "EndpointOperInfo", "DeleteEndpoint", "Join", "Leave", "ProgramExternalConnectivity",
                      "RevokeExternalConnectivity", "DiscoverNew", "DiscoverDelete"},
}
SDK_EMPTY = ("%s: empty request body (dockerd sends an empty body when it retries after a connection dropped "
             "mid-request)")


def unescape(text):
    """\\n, \\t, \\r and \\\\ in a status BODY stand for newline, tab, CR and backslash."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "ntr\\":
            out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_fault(text):
    """``METHOD[~TEXT]:KIND[*COUNT][=ARG]`` -> dict(method, only, kind, arg, left, text); ValueError if bad."""
    method, sep, rest = text.partition(":")
    method, tilde, only = method.partition("~")
    if not sep or not method:
        raise ValueError("fault %r: expected METHOD[~TEXT]:KIND[*COUNT][=ARG]" % text)
    head, eq, arg = rest.partition("=")
    kind, star, count = head.partition("*")
    if kind not in KINDS:
        raise ValueError("fault %r: unknown kind %r (known: %s)" % (text, kind, ", ".join(KINDS)))
    if not star:
        left = 1
    elif count == "always":
        left = None
    elif count.isdigit() and int(count) > 0:
        left = int(count)
    else:
        raise ValueError("fault %r: count must be a positive number or 'always', not %r" % (text, count))
    if kind == "delay":
        float(arg)  # raises ValueError for a bad number
    if kind == "status" and not (arg or "").split(" ", 1)[0].isdigit():
        raise ValueError("fault %r: status needs =CODE[ BODY]" % text)
    if tilde and kind == "drop-before":
        raise ValueError("fault %r: drop-before cannot have a ~TEXT filter (the body is never read)" % text)
    return {"method": method, "only": only.encode() if tilde else None, "kind": kind, "arg": arg if eq else None,
            "left": left, "text": text}


class FaultPlugin(recplug.Plugin):
    """recplug's plugin, with a list of armed faults and volume state persisted across restarts."""

    def __init__(self, spec, datadir, netns):
        keep = [o for o in spec.split(",") if not o.startswith("fault=")]
        super().__init__(",".join(keep), datadir, netns)
        self.faults = [parse_fault(o[len("fault="):]) for o in spec.split(",")[1:] if o.startswith("fault=")]
        self.state_file = os.path.join(datadir, "state-%s.json" % self.name)
        try:
            with open(self.state_file, encoding="utf-8") as f:
                self.vols = json.load(f)
        except (OSError, ValueError):
            pass

    def save(self):
        os.makedirs(os.path.dirname(self.state_file), exist_ok=True)
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.vols, f)
        os.replace(tmp, self.state_file)

    def answer(self, path, req, raw):
        """recplug's answer, or with ``sdk_empty`` the SDK's 400 for an empty body where one is needed."""
        service, _, method = path[1:].partition(".")
        if "sdk_empty" in self.opts and not raw.strip() and method in SDK_BODY_METHODS.get(service, ()):
            return 400, {"Err": SDK_EMPTY % path[1:]}
        return self.handle(path, req)

    def take(self, method, raw):
        """The fault for this call of METHOD (and one use of it consumed), or None. RAW None (body not read yet)
        looks at the faults without a filter, else at the filtered ones whose text RAW contains."""
        for f in self.faults:
            if raw is None and f["only"] is not None or raw is not None and (f["only"] is None or f["only"] not in raw):
                continue
            if f["method"] in (method, "*") and f["left"] != 0:
                if f["left"] is not None:
                    f["left"] -= 1
                return f
        return None


class Control:
    """Reads the lines appended to the control file since the last look and arms their faults."""

    def __init__(self, path, plugins):
        self.path, self.plugins, self.offset = path, plugins, 0

    def poll(self):
        if not self.path:
            return
        try:
            with open(self.path, encoding="utf-8") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        complete = data[: data.rfind("\n") + 1]
        self.offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            name, _, fault = line.strip().partition(" ")
            if name in self.plugins and fault.strip() == "clear":
                self.plugins[name].faults = []
            elif name in self.plugins:
                try:
                    self.plugins[name].faults.append(parse_fault(fault.strip()))
                except ValueError as e:
                    print("faultplug: control: %s" % e, file=sys.stderr, flush=True)


def client_gone(conn, seconds):
    """Waits up to SECONDS (None: forever) for the peer to close CONN; True if it did."""
    end = None if seconds is None else time.time() + seconds
    while True:
        wait = 1.0 if end is None else min(1.0, end - time.time())
        if wait <= 0:
            return False
        r, _, _ = select.select([conn], [], [], wait)
        if r:
            try:
                if conn.recv(1, socket.MSG_PEEK) == b"":
                    return True
            except OSError:
                return True
            time.sleep(wait)  # readable but not closed: a pipelined request; keep waiting


def crash(control, back_after):
    """The process dies now; with BACK_AFTER seconds it execs a copy of itself that listens again that much later
    with the same armed faults (sockets and connections do not survive exec: Python opens them close-on-exec)."""
    if back_after is None:
        os._exit(9)
    with LOCK:
        state = {"offset": control.offset,
                 "faults": {n: [dict(f, only=f["only"].decode() if f["only"] is not None else None)
                                for f in p.faults] for n, p in control.plugins.items()}}
        path = os.path.join(os.path.dirname(next(iter(control.plugins.values())).state_file),
                            "faultplug-resume-%d.json" % os.getpid())
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(state, f)
    argv, skip = [], False
    for a in sys.argv[1:]:  # drop an earlier --late/--resume: the new ones come first and must win
        if skip:
            skip = False
        elif a in ("--late", "--resume"):
            skip = True
        elif not a.startswith(("--late=", "--resume=")):
            argv.append(a)
    os.execv(sys.executable, [sys.executable, sys.argv[0], "--late=%s" % back_after, "--resume=" + path] + argv)


def make_handler(plugin, trace, control):
    class Handler(recplug.http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def line(self, t, req, raw, clen, status, body, fault):
            out = {
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
                "raw": raw.decode("utf-8", "replace") if raw is not None else None,
                "empty": raw == b"" if raw is not None else None,
                "fault": fault["text"] if fault else None,
            }
            if self.command != "POST":
                out["method"] = self.command
            return out

        def _serve(self):
            t = time.time()
            clen = self.headers.get("Content-Length")
            with LOCK:
                control.poll()
                fault = plugin.take(self.path[1:], None)
            kind = fault["kind"] if fault else None
            if kind == "drop-before":
                # The plugin does not read the body; the trace still shows what had arrived ("unread"), so a
                # check can tell which body dockerd sent first.
                n = int(clen) if clen else 0
                pending = self.rfile.peek(n)[:n] if n else b""
                line = self.line(t, None, None, clen, None, None, fault)
                line["unread"] = pending.decode("utf-8", "replace")
                with LOCK:
                    trace.write(line)
                self.close_connection = True
                self.connection.close()
                return
            raw = self.rfile.read(int(clen)) if clen else b""
            try:
                req = json.loads(raw) if raw.strip() else {}
            except ValueError:
                req = None
            if fault is None:
                with LOCK:
                    fault = plugin.take(self.path[1:], raw)
                kind = fault["kind"] if fault else None
            if kind in ("drop-after", "drop-answer", "exit", "hang"):
                with LOCK:
                    trace.write(self.line(t, req, raw, clen, None, None, fault))
                    if kind == "drop-answer":
                        plugin.answer(self.path, req, raw)
                        plugin.save()
                        plugin.save()
                if kind == "exit":
                    crash(control, fault["arg"])
                if kind == "hang" and client_gone(self.connection, None):
                    trace.write({"event": "client-gone", "t": time.time(), "plugin": plugin.name, "path": self.path})
                self.close_connection = True
                self.connection.close()
                return
            status, body = 0, None
            if kind in (None, "delay", "badtime"):  # an error answer changes nothing in the plugin
                with LOCK:
                    status, body = plugin.answer(self.path, req, raw)
                    if self.path[1:] in ("VolumeDriver.Create", "VolumeDriver.Remove", "VolumeDriver.Mount",
                                         "VolumeDriver.Unmount"):
                        plugin.save()
            ctype = "application/vnd.docker.plugins.v1+json"
            data = None
            if kind == "err":
                status, body = 500, {"Err": fault["arg"] if fault["arg"] is not None else "faultplug: injected error"}
            elif kind == "noerr":
                status, data = 500, (fault["arg"] or "{}").encode()
                body = data.decode()
            elif kind == "text":
                status, body = 500, (fault["arg"] or "faultplug: injected text error") + "\n"
            elif kind == "404":
                status, body = NOT_FOUND
            elif kind == "status":
                code, _, text = fault["arg"].partition(" ")
                text = unescape(text)
                status = int(code)
                if not text and status == 404:
                    text = NOT_FOUND[1]
                data = text.encode()
                try:
                    body = json.loads(text)
                except ValueError:
                    body, ctype = text, "text/plain; charset=utf-8"
            elif kind == "empty":
                status, data, body = 200, b"", ""
            elif kind == "badjson":
                data = (fault["arg"] or '{"Err": "unterminated').encode()
                status, body = 200, data.decode()
                ctype = "application/json"
            elif kind == "implements":
                status, body = 200, {"Implements": [x for x in (fault["arg"] or "").split("+") if x]}
            elif kind == "badtime" and status == 200 and isinstance(body, dict):
                value = fault["arg"] if fault["arg"] is not None else "yesterday"
                body = json.loads(json.dumps(body))
                if isinstance(body.get("Volume"), dict):
                    body["Volume"]["CreatedAt"] = value
                for v in body.get("Volumes") or []:
                    v["CreatedAt"] = value
            with LOCK:
                trace.write(self.line(t, req, raw, clen, status, body, fault))
            if kind == "delay" and client_gone(self.connection, float(fault["arg"])):
                with LOCK:
                    trace.write({"event": "client-gone", "t": time.time(), "plugin": plugin.name, "path": self.path})
                self.close_connection = True
                return
            if data is None:
                if isinstance(body, str):
                    data, ctype = body.encode(), "text/plain; charset=utf-8"
                else:
                    data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                self.close_connection = True

        do_POST = _serve
        do_GET = _serve

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--sockdir", required=True)
    ap.add_argument("--datadir", default="/srv/plugin-data")
    ap.add_argument("--netns", default="")
    ap.add_argument("--control", default="")
    ap.add_argument("--late", type=float, default=0.0)
    ap.add_argument("--stale", action="store_true")
    ap.add_argument("--resume", default="", help=argparse.SUPPRESS)  # state handed over by exit=S
    ap.add_argument("specs", nargs="+")
    args = ap.parse_args()
    trace = recplug.Trace(args.trace)
    plugins = {}
    for spec in args.specs:
        try:
            p = FaultPlugin(spec, args.datadir, args.netns)
        except ValueError as e:
            sys.exit("faultplug: %s" % e)
        plugins[p.name] = p
    if args.control:
        open(args.control, "a").close()
    control = Control(args.control, plugins)
    if args.resume:
        with open(args.resume, encoding="utf-8") as f:
            state = json.load(f)
        os.unlink(args.resume)
        control.offset = state["offset"]
        for name, faults in state["faults"].items():
            plugins[name].faults = [dict(f, only=f["only"].encode() if f["only"] is not None else None)
                                    for f in faults]
    control.poll()  # faults armed before the start apply too; later lines are read as they come
    if args.late:
        time.sleep(args.late)
    os.makedirs(args.sockdir, exist_ok=True)
    for name, plugin in plugins.items():
        path = os.path.join(args.sockdir, name + ".sock")
        if os.path.exists(path):
            os.unlink(path)
        if args.stale:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.close()  # the file stays; connecting to it is refused
            continue
        srv = recplug.UnixServer(path, make_handler(plugin, trace, control))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    if args.stale:
        return
    if args.resume:
        for name in plugins:
            trace.write({"event": "listening-again", "t": time.time(), "plugin": name})
    print("faultplug: serving %s" % ", ".join(plugins), file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
