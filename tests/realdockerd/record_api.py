#!/usr/bin/env python3
"""record_api.py: record how a real dockerd's Engine API router answers raw HTTP requests.

Usage: python3 record_api.py SOCKET OUT.jsonl

SOCKET is the daemon's unix socket (e.g. /tmp/apirec/docker.sock, as printed
by sandbox.sh start). Before recording, every container, volume and
non-predefined network of that daemon is removed (unrecorded) so runs are
reproducible: use a throw-away sandbox only.

Then REQUESTS (below) are sent in order, each on its own connection, and one
JSON line per request is written to OUT.jsonl:

  {"name": ID,
   "request":  {"method", "uri", "headers": {headers we set explicitly},
                "body": string or null},
   "response": {"status": int, "headers": {every header except Date, names as
                received, in the order received}, "body": string (utf-8, exact bytes)},
   "elapsed_s": seconds from sending to the whole answer read (0.1 s resolution)}

On the wire each request also carries "Host: localhost" (added by
http.client, not recorded). The script sends no other implicit header:
Content-Length is set explicitly (and recorded) whenever a body is sent, and
never for bodiless requests. Every request has
"User-Agent: Docker-Client/28.2.2 (linux)".

A body too large to store literally (the 2 MiB ones) is recorded as
"body": null plus "body_generated": {"prefix", "repeat", "count", "suffix"}:
the body is prefix + repeat*count + suffix.

Standard library only.
"""

import http.client
import json
import socket
import sys
import time
import urllib.parse

UA = "Docker-Client/28.2.2 (linux)"
JSON = {"Content-Type": "application/json"}
V = "/v1.41"


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection to a unix socket; Host: localhost."""

    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def q(obj):
    """URL-encodes a filters object for a query string."""
    return urllib.parse.quote(json.dumps(obj, separators=(",", ":")), safe="")


BIG = {"prefix": '"', "repeat": "a", "count": 2 * 1024 * 1024, "suffix": '"'}
BIG_OBJ = {"prefix": '{"Name":"rvbig","DriverOpts":{"x":"', "repeat": "a", "count": 2 * 1024 * 1024,
           "suffix": '"}}'}
LONG_NAME = "a" * 10000

# Each entry: (name, method, uri, extra headers, body or None or a generator dict,
#              seconds to sleep before sending).  The comment says what it shows.
REQUESTS = [
    # --- ping ---------------------------------------------------------------
    ("ping-get", "GET", "/_ping", {}, None, 0),  # unversioned ping: body OK, ping headers
    ("ping-head", "HEAD", "/_ping", {}, None, 0),  # HEAD ping: headers, no body
    ("ping-get-v", "GET", V + "/_ping", {}, None, 0),  # versioned ping
    ("ping-head-v", "HEAD", V + "/_ping", {}, None, 0),  # versioned HEAD ping
    ("ping-post", "POST", "/_ping", {}, "", 0),  # wrong method on /_ping (405 or 404?)
    # --- version / API version negotiation ----------------------------------
    ("version", "GET", "/version", {}, None, 0),  # unversioned path = newest API
    ("version-v141", "GET", V + "/version", {}, None, 0),  # current version
    ("version-v124", "GET", "/v1.24/version", {}, None, 0),  # older but supported version
    ("version-v199", "GET", "/v1.99/version", {}, None, 0),  # too new
    ("version-v111", "GET", "/v1.11/version", {}, None, 0),  # too old (min 1.12)
    ("version-vabc", "GET", "/vabc/version", {}, None, 0),  # non-numeric version: no route
    ("version-v1", "GET", "/v1/version", {}, None, 0),  # "1" is numeric: too old?
    ("version-trailing-slash", "GET", V + "/version/", {}, None, 0),  # trailing slash: no route?
    ("version-double-slash", "GET", V + "//version", {}, None, 0),  # mux path cleaning: 301?
    ("version-options", "OPTIONS", V + "/version", {}, None, 0),  # OPTIONS on a GET route
    ("options-nope", "OPTIONS", "/nope", {}, None, 0),  # OPTIONS on an unknown path
    # --- unknown routes / wrong method --------------------------------------
    ("nope", "GET", "/nope", {}, None, 0),  # unknown unversioned path
    ("nope-v", "GET", V + "/nope", {}, None, 0),  # unknown versioned path
    ("volumes-put", "PUT", V + "/volumes", {}, "", 0),  # wrong method on a known path
    ("container-nope-json", "GET", V + "/containers/nope/json", {}, None, 0),  # no such container
    # --- volumes ------------------------------------------------------------
    ("vol-list-empty", "GET", V + "/volumes", {}, None, 0),  # empty list shape (Volumes null? [])
    ("vol-create-badjson", "POST", V + "/volumes/create", JSON, "{", 0),  # truncated JSON
    ("vol-create-empty", "POST", V + "/volumes/create", JSON, "", 0),  # empty body, JSON type, CL 0
    ("vol-create-noct", "POST", V + "/volumes/create", {}, '{"Name":"rv0"}', 0),  # no Content-Type
    ("vol-create-noct-empty", "POST", V + "/volumes/create", {}, "", 0),  # no Content-Type, no body
    ("vol-create-charset", "POST", V + "/volumes/create",
     {"Content-Type": "application/json; charset=utf-8"},
     '{"Name":"rvcs"}', 0),  # media type with parameters accepted?
    ("vol-create-textplain", "POST", V + "/volumes/create", {"Content-Type": "text/plain"},
     '{"Name":"rvtp"}', 0),  # wrong Content-Type
    ("vol-create-unknown-field", "POST", V + "/volumes/create", JSON,
     '{"Name":"rv1","Driver":"local","Unknown":1}', 0),  # unknown field ignored?
    ("vol-create-lowercase", "POST", V + "/volumes/create", JSON,
     '{"name":"rv2","driver":"local"}', 0),  # lowercase keys (Go matches case-insensitively)
    ("vol-create-existing", "POST", V + "/volumes/create", JSON, '{"Name":"rv1"}', 0),  # idempotent?
    ("vol-create-hostile", "POST", V + "/volumes/create", JSON, '{"Name":"../../etc"}', 0),  # bad name
    ("vol-create-nodriver", "POST", V + "/volumes/create", JSON,
     '{"Name":"rv3","Driver":"nosuchdriver"}', 0),  # unknown driver
    ("vol-list", "GET", V + "/volumes", {}, None, 0),  # list with volumes
    ("vol-inspect", "GET", V + "/volumes/rv1", {}, None, 0),  # inspect
    ("vol-inspect-nope", "GET", V + "/volumes/nope", {}, None, 0),  # no such volume
    ("vol-list-filters-notjson", "GET", V + "/volumes?filters=notjson", {}, None, 0),  # bad filters
    ("vol-list-filters-driver", "GET", V + "/volumes?filters=" + q({"driver": {"local": True}}),
     {}, None, 0),  # valid filter
    ("vol-list-filters-bogus", "GET", V + "/volumes?filters=" + q({"bogus": {"x": True}}),
     {}, None, 0),  # unknown filter key
    ("vol-rm-nope", "DELETE", V + "/volumes/nope", {}, None, 0),  # remove missing volume
    ("vol-rm-force", "DELETE", V + "/volumes/rv1?force=1", {}, None, 0),  # remove: 204
    ("vol-prune", "POST", V + "/volumes/prune", {}, "", 0),  # prune (removes rv0, rv2 in 20.10?)
    # --- containers ---------------------------------------------------------
    ("ctr-create-badjson", "POST", V + "/containers/create", JSON, "{", 0),  # truncated JSON
    ("ctr-create-textplain", "POST", V + "/containers/create", {"Content-Type": "text/plain"},
     '{"Image":"bb:latest"}', 0),  # wrong Content-Type
    ("ctr-create-noimage", "POST", V + "/containers/create", JSON, "{}", 0),  # no Image
    ("ctr-create-c1", "POST", V + "/containers/create?name=c1", JSON,
     '{"Image":"bb:latest","Cmd":["true"],"Unknown":1,'
     '"HostConfig":{"Binds":["cv1:/d"],"AutoRemove":false}}', 0),  # unknown field; named bind
    ("ctr-create-c2-lowercase", "POST", V + "/containers/create?name=c2", JSON,
     '{"image":"bb:latest","cmd":["true"]}', 0),  # lowercase keys
    ("ctr-create-hostile", "POST", V + "/containers/create?name=../../etc", JSON,
     '{"Image":"bb:latest","Cmd":["true"]}', 0),  # invalid name
    ("ctr-create-conflict", "POST", V + "/containers/create?name=c1", JSON,
     '{"Image":"bb:latest","Cmd":["true"]}', 0),  # name in use
    ("ctr-create-noimage-found", "POST", V + "/containers/create", JSON,
     '{"Image":"nosuchimage"}', 0),  # image not present locally
    ("ctr-create-relbind", "POST", V + "/containers/create", JSON,
     '{"Image":"bb:latest","HostConfig":{"Binds":["/relative:x"]}}', 0),  # relative target
    ("ctr-create-badrestart", "POST", V + "/containers/create", JSON,
     '{"Image":"bb:latest","HostConfig":{"RestartPolicy":{"Name":"bogus"}}}', 0),  # bad policy
    ("ctr-create-nonet", "POST", V + "/containers/create", JSON,
     '{"Image":"bb:latest","HostConfig":{"NetworkMode":"nosuchnet"}}', 0),  # unknown network
    ("ctr-create-c3-mount", "POST", V + "/containers/create?name=c3", JSON,
     '{"Image":"bb:latest","HostConfig":{"Mounts":[{"Type":"volume","Source":"mv1","Target":"/m"}]}}',
     0),  # Mounts API volume (as in the brief: the image has no CMD, so this fails)
    ("ctr-create-noimage-cmd", "POST", V + "/containers/create?name=c5", JSON,
     '{"Cmd":["true"]}', 0),  # Cmd but no Image: created!
    ("ctr-create-relbind-cmd", "POST", V + "/containers/create", JSON,
     '{"Image":"bb:latest","Cmd":["true"],"HostConfig":{"Binds":["/relative:x"]}}',
     0),  # relative bind target, past the "No command specified" check
    ("ctr-create-nonet-cmd", "POST", V + "/containers/create?name=c6", JSON,
     '{"Image":"bb:latest","Cmd":["true"],"HostConfig":{"NetworkMode":"nosuchnet"}}',
     0),  # unknown network, past the "No command specified" check: created (checked at start)
    ("ctr-create-c3-mount-cmd", "POST", V + "/containers/create?name=c3", JSON,
     '{"Image":"bb:latest","Cmd":["true"],'
     '"HostConfig":{"Mounts":[{"Type":"volume","Source":"mv1","Target":"/m"}]}}',
     0),  # Mounts API volume with a Cmd: created (and mv1 with it)
    ("ctr-create-c4", "POST", V + "/containers/create?name=c4", JSON,
     '{"Image":"bb:latest","Cmd":["sleep","60"]}', 0),  # long-running container
    ("ctr-list", "GET", V + "/containers/json", {}, None, 0),  # running only: []
    ("ctr-list-all", "GET", V + "/containers/json?all=1", {}, None, 0),  # all
    ("ctr-inspect-c1", "GET", V + "/containers/c1/json", {}, None, 0),  # inspect shape
    ("ctr-start-c1", "POST", V + "/containers/c1/start", {}, "", 0),  # start: 204
    ("ctr-start-c1-again", "POST", V + "/containers/c1/start", {}, "",
     1),  # after 1 s c1 has exited: starting an exited container runs it again (204, not 304)
    ("ctr-start-nope", "POST", V + "/containers/nope/start", {}, "", 0),  # no such container
    ("ctr-wait-c1", "POST", V + "/containers/c1/wait", {}, "", 1),  # wait after exit
    ("ctr-start-c6-nonet", "POST", V + "/containers/c6/start", {}, "", 0),  # network checked at start
    ("ctr-stop-c1", "POST", V + "/containers/c1/stop", {}, "", 0),  # stopped already: 304?
    ("ctr-start-c4", "POST", V + "/containers/c4/start", {}, "", 0),  # start: 204
    ("ctr-start-c4-again", "POST", V + "/containers/c4/start", {}, "", 0),  # running: 304
    ("ctr-list-running", "GET", V + "/containers/json", {}, None, 0),  # c4 running
    ("ctr-kill-c4", "POST", V + "/containers/c4/kill", {}, "", 0),  # kill running: 204
    ("ctr-wait-c4", "POST", V + "/containers/c4/wait", {}, "", 0),  # StatusCode 137
    ("ctr-stop-c4", "POST", V + "/containers/c4/stop", {}, "", 0),  # stopped: 304
    ("ctr-stop-nope", "POST", V + "/containers/nope/stop", {}, "", 0),  # no such container
    ("ctr-kill-c1", "POST", V + "/containers/c1/kill", {}, "", 0),  # not running: 409
    ("ctr-rm-nope", "DELETE", V + "/containers/nope", {}, None, 0),  # no such container
    ("ctr-rm-c1", "DELETE", V + "/containers/c1?v=1", {}, None, 0),  # rm with v (named cv1 stays)
    ("ctr-rm-c2", "DELETE", V + "/containers/c2?force=1", {}, None, 0),  # force rm
    ("ctr-rm-c3", "DELETE", V + "/containers/c3", {}, None, 0),  # rm (named mv1 stays)
    ("ctr-rm-c4", "DELETE", V + "/containers/c4", {}, None, 0),  # rm exited container
    ("ctr-rm-c5", "DELETE", V + "/containers/c5", {}, None, 0),  # rm the image-less container
    ("ctr-rm-c6", "DELETE", V + "/containers/c6", {}, None, 0),  # rm the never-started c6
    # --- networks -----------------------------------------------------------
    ("net-list", "GET", V + "/networks", {}, None, 0),  # bridge/host/none
    ("net-create-badjson", "POST", V + "/networks/create", JSON, "{", 0),  # truncated JSON
    ("net-create-noname", "POST", V + "/networks/create", JSON, "{}", 0),  # no Name
    ("net-create-rn1", "POST", V + "/networks/create", JSON,
     '{"Name":"rn1","Driver":"bridge","IPAM":{"Driver":"default",'
     '"Config":[{"Subnet":"10.99.0.0/24"}]}}', 0),  # create
    ("net-create-rn1-dup", "POST", V + "/networks/create", JSON,
     '{"Name":"rn1","CheckDuplicate":true,"Driver":"bridge","IPAM":{"Driver":"default",'
     '"Config":[{"Subnet":"10.99.0.0/24"}]}}', 0),  # duplicate name
    ("net-create-badcidr", "POST", V + "/networks/create", JSON,
     '{"Name":"rn2","IPAM":{"Config":[{"Subnet":"notacidr"}]}}', 0),  # bad subnet
    ("net-create-nodriver", "POST", V + "/networks/create", JSON,
     '{"Name":"rn3","Driver":"nosuchdriver"}', 0),  # unknown driver
    ("net-inspect-rn1", "GET", V + "/networks/rn1", {}, None, 0),  # inspect
    ("net-inspect-nope", "GET", V + "/networks/nope", {}, None, 0),  # no such network
    ("net-connect-nope-ctr", "POST", V + "/networks/rn1/connect", JSON,
     '{"Container":"nope"}', 0),  # no such container
    ("net-connect-nope-net", "POST", V + "/networks/nope/connect", JSON,
     '{"Container":"x"}', 0),  # no such network (checked first?)
    ("net-disconnect-nope-ctr", "POST", V + "/networks/rn1/disconnect", JSON,
     '{"Container":"nope"}', 0),  # no such container
    ("net-rm-nope", "DELETE", V + "/networks/nope", {}, None, 0),  # no such network
    ("net-rm-rn1", "DELETE", V + "/networks/rn1", {}, None, 0),  # remove: 204
    # --- size limits --------------------------------------------------------
    ("long-uri", "GET", V + "/volumes/" + LONG_NAME, {}, None, 0),  # 10000-char path segment
    ("huge-body", "POST", V + "/volumes/create", JSON, BIG, 0),  # 2 MiB JSON string body
    ("huge-object", "POST", V + "/volumes/create", JSON, BIG_OBJ,
     0),  # 2 MiB JSON object: parsed in full (the local driver then rejects the option)
    # --- clean-up of what the list created ----------------------------------
    ("cleanup-vol-cv1", "DELETE", V + "/volumes/cv1", {}, None, 0),  # bind-created named volume
    ("cleanup-vol-mv1", "DELETE", V + "/volumes/mv1", {}, None, 0),  # Mounts-created named volume
    ("cleanup-vol-list", "GET", V + "/volumes", {}, None, 0),  # back to empty
]


def body_bytes(body):
    if body is None:
        return None
    if isinstance(body, dict):
        return (body["prefix"] + body["repeat"] * body["count"] + body["suffix"]).encode()
    return body.encode()


def send(sock_path, method, uri, headers, body):
    """Sends one request; returns (status, [(name, value)], body bytes)."""
    conn = UnixHTTPConnection(sock_path)
    try:
        conn.putrequest(method, uri, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body is not None:
            conn.send(body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.getheaders(), data
    finally:
        conn.close()


def api(sock_path, method, uri, body=None):
    """Unrecorded helper for the clean-up before the list."""
    h = {"User-Agent": UA}
    b = None
    if body is not None:
        b = json.dumps(body).encode()
        h.update(JSON)
    if b is not None or method == "POST":
        b = b or b""
        h["Content-Length"] = str(len(b))
    status, _, data = send(sock_path, method, uri, h, b)
    return status, data


def clean(sock_path):
    _, data = api(sock_path, "GET", V + "/containers/json?all=1")
    for c in json.loads(data):
        api(sock_path, "DELETE", V + "/containers/" + c["Id"] + "?force=1&v=1")
    _, data = api(sock_path, "GET", V + "/networks")
    for n in json.loads(data):
        if n["Name"] not in ("bridge", "host", "none"):
            api(sock_path, "DELETE", V + "/networks/" + n["Id"])
    _, data = api(sock_path, "GET", V + "/volumes")
    for v in json.loads(data).get("Volumes") or []:
        api(sock_path, "DELETE", V + "/volumes/" + urllib.parse.quote(v["Name"], safe="") + "?force=1")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: record_api.py SOCKET OUT.jsonl")
    sock_path, out_path = sys.argv[1], sys.argv[2]
    names = [r[0] for r in REQUESTS]
    assert len(names) == len(set(names)), "duplicate request names"
    clean(sock_path)
    with open(out_path, "w", encoding="utf-8") as out:
        for name, method, uri, extra, body, pause in REQUESTS:
            if pause:
                time.sleep(pause)
            headers = {"User-Agent": UA}
            headers.update(extra)
            raw = body_bytes(body)
            if raw is not None:
                headers["Content-Length"] = str(len(raw))
            t0 = time.monotonic()
            status, rheaders, data = send(sock_path, method, uri, headers, raw)
            elapsed = round(time.monotonic() - t0, 1)
            hdrs = {}
            for k, v in rheaders:
                if k.lower() == "date":
                    continue
                hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
            req = {"method": method, "uri": uri, "headers": headers,
                   "body": body if isinstance(body, str) else None}
            if isinstance(body, dict):
                req["body_generated"] = body
            rec = {"name": name, "request": req,
                   "response": {"status": status, "headers": hdrs,
                                "body": data.decode("utf-8", errors="replace")},
                   "elapsed_s": elapsed}
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()
            print(f"{status} {method} {uri[:70]}", file=sys.stderr)


if __name__ == "__main__":
    main()
