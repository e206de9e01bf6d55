#!/usr/bin/env python3
"""record_api.py: record how a real dockerd's Engine API router answers raw HTTP requests.

Usage: python3 record_api.py SOCKET OUT.jsonl
       python3 record_api.py --set more [--drydock BIN] [--plugins-dir DIR] SOCKET OUT.jsonl

Without --set (or with --set router) the list REQUESTS is sent (the recording
tests/golden/api/raw-router.jsonl). `--set more` sends REQUESTS_MORE instead
(tests/golden/api/raw-more.jsonl: info, system/df, plugins, images, events,
container rename/update/pause/kill signals/wait conditions/logs/top/stats/exec,
prunes, network connect/disconnect, build, swarm). That set starts drydock's
reference volume plugin `dryvol` for a few entries: BIN (default
target/release/drydock) is run as `BIN plugin volume --name dryvol` with its
socket in DIR (default: SOCKET's directory + /run-plugins, the sandbox's
plugin directory) and its state in SOCKET's directory + /record-api-dryvol
(emptied first), and stopped again inside the set. Requests of REQUESTS_MORE
are the ones docker CLI 28.2.2 sends (bodies byte for byte, with their
trailing newline) unless the comment says otherwise; its records are written
in list order, though a few are sent in the background and answered later
(see "bg" below). A daemon that has seen dryvol once keeps listing it (and
takes 15 s per GET /volumes once its socket is gone): record `--set more` on
a freshly started daemon.

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
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
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


# --- the second set: `--set more` (tests/golden/api/raw-more.jsonl) ----------
#
# Entries are (name, method, uri, extra headers, body, seconds to sleep before
# sending[, options]) as above, except that
#   - uri may be a function of ctx (a dict: "t0"/"t1", the event window, and
#     "json": {entry name: its parsed JSON answer}); the URI actually sent is recorded;
#   - options {"bg": True} sends the request on its own thread and goes on with
#     the list at once (for `wait` calls that block); its record still takes its
#     place in the list order, and ("@join", NAME) waits for its answer;
#   - tuples starting with "@" are unrecorded steps: ("@t0",) / ("@t1",) sleep to
#     the next full second and take it as ctx "t0" / "t1" (so the events request
#     since=t0&until=t1 sees exactly the events of the list, and returns at once);
#     ("@plugin-start",) / ("@plugin-stop",) start / stop the reference volume
#     plugin dryvol.

def go_json(obj):
    """JSON as Go's json.Encoder writes it (compact, <>& escaped, trailing newline)."""
    text = json.dumps(obj, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


# The body docker CLI 28.2.2 sends for `docker run -d --name N bb:latest CMD…`
# (`docker create` sets AttachStdout/AttachStderr to true); @CMD@, @LABELS@,
# @BINDS@ are filled in by cli_create.
CLI_CREATE = (
    '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":@ATTACH@,'
    '"AttachStderr":@ATTACH@,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":@CMD@,'
    '"Image":"bb:latest","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":@LABELS@,'
    '"HostConfig":{"Binds":@BINDS@,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},'
    '"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},'
    '"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,'
    '"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,'
    '"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,'
    '"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"",'
    '"ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,'
    '"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],'
    '"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,'
    '"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,'
    '"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,'
    '"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,'
    '"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,'
    '"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"",'
    '"EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"",'
    '"GlobalIPv6PrefixLen":0,"DNSNames":null}}}}\n')


def cli_create(cmd, attach=False, labels=None, binds=None):
    return (CLI_CREATE.replace("@ATTACH@", "true" if attach else "false")
            .replace("@CMD@", go_json(cmd).strip())
            .replace("@LABELS@", go_json(labels or {}).strip())
            .replace("@BINDS@", go_json(binds).strip()))


# `docker update …`: every resource field, only the given ones set; RestartPolicy
# Name "" = unchanged.
def cli_update(memory=0, swap=0, restart=""):
    return ('{"CpuShares":0,"Memory":%d,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,'
            '"BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,'
            '"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,'
            '"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":null,'
            '"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":%d,'
            '"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":null,"CpuCount":0,'
            '"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,'
            '"RestartPolicy":{"Name":"%s","MaximumRetryCount":0}}\n' % (memory, swap, restart))


# `docker exec m1 true` / `docker exec -d m1 true`
CLI_EXEC = ('{"User":"","Privileged":false,"Tty":false,"AttachStdin":false,"AttachStderr":true,'
            '"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["true"]}\n')
CLI_EXEC_D = ('{"User":"","Privileged":false,"Tty":false,"AttachStdin":false,"AttachStderr":false,'
              '"AttachStdout":false,"Detach":true,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["true"]}\n')


# `docker network create NAME`
def cli_net_create(name):
    return ('{"Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":[]},'
            '"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,'
            '"Options":{},"Labels":{},"Name":"%s","CheckDuplicate":true}\n' % name)


# `docker network connect NET CTR`
def cli_connect(ctr):
    return ('{"Container":"%s","EndpointConfig":{"IPAMConfig":{},"Links":null,"Aliases":[],"MacAddress":"",'
            '"DriverOpts":{},"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"",'
            '"IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,'
            '"DNSNames":null}}\n' % ctr)


def ctr_list(filters, all_=True):
    """GET /containers/json as `docker ps [-a] --filter …` sends it."""
    return V + "/containers/json?" + ("all=1&" if all_ else "") + "filters=" + q(filters)


def events_uri(extra=""):
    return lambda ctx: V + "/events?" + extra + "since=%d&until=%d" % (ctx["t0"], ctx["t1"])


def exec_uri(entry, tail):
    return lambda ctx: V + "/exec/" + ctx["json"][entry]["Id"] + tail


CTR = V + "/containers/"
M1 = {"name": {"m1": True}}
BG = {"bg": True}

REQUESTS_MORE = [
    ("@t0",),
    # --- system -------------------------------------------------------------
    ("info", "GET", V + "/info", {}, None, 0),  # docker info (no plugin seen yet by this daemon)
    ("system-df", "GET", V + "/system/df", {}, None, 0),  # docker system df: image only
    ("plugins", "GET", V + "/plugins", {}, None, 0),  # docker plugin ls: managed plugins only
    # --- images -------------------------------------------------------------
    ("img-list", "GET", V + "/images/json", {}, None, 0),  # docker images
    ("img-list-all", "GET", V + "/images/json?all=1", {}, None, 0),  # docker images -a
    ("img-inspect", "GET", V + "/images/bb:latest/json", {}, None, 0),  # docker image inspect bb:latest
    ("img-inspect-notag", "GET", V + "/images/bb/json", {}, None, 0),  # not CLI: no tag = latest
    ("img-inspect-nosuch", "GET", V + "/images/nosuch:latest/json", {}, None,
     0),  # docker image inspect nosuch:latest
    ("img-create-local", "POST", V + "/images/create?fromImage=bb&tag=latest", {}, "",
     0),  # docker-py style pull of the local image (no X-Registry-Auth): goes to the registry anyway
    ("img-create-cli", "POST", V + "/images/create?fromImage=docker.io%2Flibrary%2Fbb&tag=latest",
     {"X-Registry-Auth": "e30="}, "", 0),  # docker pull bb:latest (exactly)
    ("img-create-nosuch", "POST", V + "/images/create?fromImage=nosuchimage&tag=latest", {}, "",
     0),  # an image that exists nowhere (no registry access here)
    ("img-create-noparams", "POST", V + "/images/create", {}, "", 0),  # neither fromImage nor fromSrc
    # --- containers: m1 runs `sleep 1000`; m2 (volume lv1 at /d) prints two lines and
    # exits; m3 (label a=b) is only created
    ("ctr-create-m1", "POST", CTR + "create?name=m1", JSON, cli_create(["sleep", "1000"]),
     0),  # docker run -d --name m1 bb:latest sleep 1000 (create part)
    ("ctr-start-m1", "POST", CTR + "m1/start", {}, "", 0),  # (the CLI starts by Id)
    ("ctr-create-m2", "POST", CTR + "create?name=m2", JSON,
     cli_create(["sh", "-c", "echo out; echo err >&2"], binds=["lv1:/d"]),
     0),  # docker run -d --name m2 -v lv1:/d bb:latest sh -c 'echo out; echo err >&2' (creates lv1)
    ("ctr-start-m2", "POST", CTR + "m2/start", {}, "", 0),
    ("ctr-create-m3", "POST", CTR + "create?name=m3", JSON, cli_create(["true"], attach=True, labels={"a": "b"}),
     0),  # docker create --name m3 --label a=b bb:latest true
    # --- container list filters (after 0.5 s m2 has exited)
    ("ctr-list-exited", "GET", ctr_list({"status": {"exited": True}}, all_=False), {}, None,
     0.5),  # docker ps --filter status=exited (no -a: the status filter alone widens the list)
    ("ctr-list-name", "GET", ctr_list(M1), {}, None, 0),  # docker ps -a --filter name=m1
    ("ctr-list-name-substr", "GET", ctr_list({"name": {"m": True}}), {}, None,
     0),  # docker ps -a --filter name=m: a substring/regexp match (m1, m2, m3)
    ("ctr-list-label", "GET", ctr_list({"label": {"a=b": True}}), {}, None, 0),  # --filter label=a=b
    ("ctr-list-label-key", "GET", ctr_list({"label": {"a": True}}), {}, None, 0),  # --filter label=a
    ("ctr-list-status-bogus", "GET", ctr_list({"status": {"bogus": True}}, all_=False), {}, None,
     0),  # docker ps --filter status=bogus
    ("ctr-list-filters-bogus", "GET", ctr_list({"bogus": {"x": True}}), {}, None, 0),  # unknown key
    # --- logs ---------------------------------------------------------------
    ("ctr-logs-stdout", "GET", CTR + "m2/logs?stdout=1", {}, None, 0),  # stdout stream only
    ("ctr-logs-cli", "GET", CTR + "m2/logs?stderr=1&stdout=1&tail=all", {}, None,
     0),  # docker logs m2 (the CLI inspects m2 first and then uses the Id)
    ("ctr-logs-nostream", "GET", CTR + "m2/logs", {}, None, 0),  # neither stdout nor stderr
    ("ctr-logs-nope", "GET", CTR + "nope/logs?stdout=1", {}, None, 0),  # no such container
    # --- top / stats --------------------------------------------------------
    ("ctr-top-m1", "GET", CTR + "m1/top", {}, None, 0),  # docker top m1
    ("ctr-top-m2", "GET", CTR + "m2/top", {}, None, 0),  # not running
    ("ctr-top-nope", "GET", CTR + "nope/top", {}, None, 0),  # no such container
    ("ctr-stats-m1", "GET", CTR + "m1/stats?stream=0", {}, None, 0),  # docker stats --no-stream m1
    ("ctr-stats-m1-oneshot", "GET", CTR + "m1/stats?stream=0&one-shot=1", {}, None,
     0),  # API 1.41 one-shot: no wait for a second sample (not sent by the CLI)
    ("ctr-stats-m2", "GET", CTR + "m2/stats?stream=0", {}, None, 0),  # not running
    ("ctr-stats-nope", "GET", CTR + "nope/stats?stream=0", {}, None, 0),  # no such container
    # --- exec (drydock does not simulate it) --------------------------------
    ("ctr-exec-m1", "POST", CTR + "m1/exec", JSON, CLI_EXEC, 0),  # docker exec m1 true (create part)
    ("ctr-exec-m1-detach", "POST", CTR + "m1/exec", JSON, CLI_EXEC_D, 0),  # docker exec -d m1 true
    ("exec-start-detach", "POST", exec_uri("ctr-exec-m1-detach", "/start"), JSON,
     '{"Detach":true,"Tty":false}\n', 0),  # ... and its start
    ("exec-inspect", "GET", exec_uri("ctr-exec-m1-detach", "/json"), {}, None, 0.3),  # after it ran
    ("exec-inspect-nope", "GET", V + "/exec/nope/json", {}, None, 0),  # no such exec instance
    ("ctr-exec-m2", "POST", CTR + "m2/exec", JSON, CLI_EXEC, 0),  # container not running
    ("ctr-exec-nope", "POST", CTR + "nope/exec", JSON, CLI_EXEC, 0),  # no such container
    # --- kill with signals: m1's PID 1 is busybox sleep (no handlers) -------
    ("ctr-kill-m1-SIGHUP", "POST", CTR + "m1/kill?signal=SIGHUP", {}, "", 0),  # docker kill -s SIGHUP m1
    ("ctr-list-after-SIGHUP", "GET", ctr_list(M1), {}, None, 0.3),  # still running?
    ("ctr-kill-m1-HUP", "POST", CTR + "m1/kill?signal=HUP", {}, "", 0),  # docker kill -s HUP m1
    ("ctr-kill-m1-1", "POST", CTR + "m1/kill?signal=1", {}, "", 0),  # docker kill -s 1 m1
    ("ctr-kill-m1-sighup-lower", "POST", CTR + "m1/kill?signal=sighup", {}, "", 0),  # lower case
    ("ctr-kill-m1-bogus", "POST", CTR + "m1/kill?signal=bogus", {}, "", 0),  # docker kill -s bogus m1
    ("ctr-kill-m1-0", "POST", CTR + "m1/kill?signal=0", {}, "", 0),  # signal 0
    ("ctr-kill-m1-99", "POST", CTR + "m1/kill?signal=99", {}, "", 0),  # out of range
    ("ctr-list-after-signals", "GET", ctr_list(M1), {}, None, 0.3),  # still running?
    ("ctr-kill-m2-HUP", "POST", CTR + "m2/kill?signal=HUP", {}, "", 0),  # not running
    # --- pause / unpause ----------------------------------------------------
    ("ctr-pause-m1", "POST", CTR + "m1/pause", {}, "", 0),  # docker pause m1
    ("ctr-list-paused", "GET", ctr_list(M1), {}, None, 0),  # State/Status while paused
    ("ctr-pause-m1-again", "POST", CTR + "m1/pause", {}, "", 0),  # already paused
    ("ctr-unpause-m1", "POST", CTR + "m1/unpause", {}, "", 0),  # docker unpause m1
    ("ctr-unpause-m1-again", "POST", CTR + "m1/unpause", {}, "", 0),  # not paused
    ("ctr-pause-m1-2", "POST", CTR + "m1/pause", {}, "", 0),  # paused again, for:
    ("ctr-kill-m1-paused", "POST", CTR + "m1/kill?signal=HUP", {}, "", 0),  # a signal to a paused container
    ("ctr-list-after-kill-paused", "GET", ctr_list(M1), {}, None, 0.3),  # (it unpaused m1)
    ("ctr-pause-m2", "POST", CTR + "m2/pause", {}, "", 0),  # not running
    ("ctr-unpause-m2", "POST", CTR + "m2/unpause", {}, "", 0),  # not running, not paused
    ("ctr-pause-nope", "POST", CTR + "nope/pause", {}, "", 0),  # no such container
    ("ctr-unpause-nope", "POST", CTR + "nope/unpause", {}, "", 0),  # no such container
    # --- update -------------------------------------------------------------
    ("ctr-update-restart", "POST", CTR + "m1/update", JSON, cli_update(restart="always"),
     0),  # docker update --restart=always m1
    ("ctr-update-memory", "POST", CTR + "m1/update", JSON, cli_update(memory=64 << 20),
     0),  # docker update --memory 64m m1
    ("ctr-update-memory-swap", "POST", CTR + "m1/update", JSON, cli_update(memory=64 << 20, swap=128 << 20),
     0),  # docker update --memory 64m --memory-swap 128m m1
    ("ctr-update-m2-restart", "POST", CTR + "m2/update", JSON, cli_update(restart="on-failure"),
     0),  # docker update --restart=on-failure m2 (an exited container)
    ("ctr-update-badpolicy", "POST", CTR + "m2/update", JSON, cli_update(restart="bogus"),
     0),  # not CLI (it checks the name first)
    ("ctr-update-nope", "POST", CTR + "nope/update", JSON, cli_update(restart="always"),
     0),  # no such container
    ("ctr-update-badjson", "POST", CTR + "m1/update", JSON, "{", 0),  # truncated JSON
    ("ctr-inspect-m1-updated", "GET", CTR + "m1/json", {}, None, 0),  # HostConfig after the updates
    # --- rename -------------------------------------------------------------
    ("ctr-rename-m1", "POST", CTR + "m1/rename?name=m1r", {}, "", 0),  # docker rename m1 m1r (running)
    ("ctr-rename-conflict", "POST", CTR + "m1r/rename?name=m2", {}, "", 0),  # name in use
    ("ctr-rename-same", "POST", CTR + "m1r/rename?name=m1r", {}, "", 0),  # its own name
    ("ctr-rename-empty", "POST", CTR + "m1r/rename?name=", {}, "", 0),  # empty (the CLI refuses it)
    ("ctr-rename-noname", "POST", CTR + "m1r/rename", {}, "", 0),  # no name parameter
    ("ctr-rename-invalid", "POST", CTR + "m1r/rename?name=..%2Fbad", {}, "", 0),  # invalid name
    ("ctr-rename-nope", "POST", CTR + "nope/rename?name=x", {}, "", 0),  # no such container
    ("ctr-rename-slash", "POST", CTR + "m1r/rename?name=%2Fm1s", {}, "", 0),  # leading slash
    ("ctr-list-renamed", "GET", ctr_list({"name": {"m1": True}}), {}, None, 0),  # m1s (or m1r)
    ("ctr-rename-back", "POST", lambda ctx: CTR + ctx["json"]["ctr-list-renamed"][0]["Id"] + "/rename?name=m1",
     {}, "", 0),  # back to m1, by Id
    # --- wait conditions ----------------------------------------------------
    ("ctr-wait-m2-notrunning", "POST", CTR + "m2/wait?condition=not-running", {}, "",
     0),  # exited: answers at once
    ("ctr-wait-m2", "POST", CTR + "m2/wait", {}, "", 0),  # docker wait m2 (no condition)
    ("ctr-wait-m3-notrunning", "POST", CTR + "m3/wait?condition=not-running", {}, "", 0),  # created only
    ("ctr-wait-bogus", "POST", CTR + "m2/wait?condition=bogus", {}, "", 0),  # unknown condition
    ("ctr-wait-nope", "POST", CTR + "nope/wait", {}, "", 0),  # no such container
    ("ctr-create-m4", "POST", CTR + "create?name=m4", JSON, cli_create(["sleep", "1000"]), 0),
    ("ctr-start-m4", "POST", CTR + "m4/start", {}, "", 0),
    ("ctr-wait-m4-nextexit", "POST", CTR + "m4/wait?condition=next-exit", {}, "", 0,
     BG),  # blocks until the kill below
    ("ctr-wait-m4-notrunning", "POST", CTR + "m4/wait?condition=not-running", {}, "", 0, BG),  # same
    ("ctr-wait-m4-removed", "POST", CTR + "m4/wait?condition=removed", {}, "", 0,
     BG),  # blocks until the DELETE below
    ("ctr-kill-m4", "POST", CTR + "m4/kill", {}, "", 0.5),  # docker kill m4
    ("@join", "ctr-wait-m4-nextexit"),
    ("@join", "ctr-wait-m4-notrunning"),
    ("ctr-wait-m4-nextexit-exited", "POST", CTR + "m4/wait?condition=next-exit", {}, "", 0,
     BG),  # on an exited container: waits for the next exit, which never comes; then the DELETE
    ("ctr-rm-m4", "DELETE", CTR + "m4", {}, None, 0.5),  # docker rm m4
    ("@join", "ctr-wait-m4-removed"),
    ("@join", "ctr-wait-m4-nextexit-exited"),
    # --- a legacy volume plugin (drydock's reference plugin dryvol) ---------
    ("@plugin-start",),
    ("vol-create-pv1", "POST", V + "/volumes/create", JSON, '{"Driver":"dryvol","Name":"pv1"}\n',
     0),  # docker volume create -d dryvol pv1
    ("info-plugin", "GET", V + "/info", {}, None, 0),  # Plugins.Volume now lists dryvol
    ("plugins-plugin", "GET", V + "/plugins", {}, None, 0),  # still [] (legacy plugins are not listed)
    ("system-df-full", "GET", V + "/system/df", {}, None,
     0),  # m1 running, m2 exited (lv1 bound), m3 created, volumes lv1 (local) and pv1 (dryvol)
    ("vol-list-plugin", "GET", V + "/volumes", {}, None, 0),  # lv1 and pv1
    ("vol-rm-pv1", "DELETE", V + "/volumes/pv1", {}, None, 0),  # docker volume rm pv1
    ("@plugin-stop",),
    ("info-plugin-gone", "GET", V + "/info", {}, None, 0.3),  # plugin stopped, socket gone
    # --- prune --------------------------------------------------------------
    ("ctr-prune", "POST", CTR + "prune", {}, "", 0),  # docker container prune -f: m2 and m3
    ("ctr-prune-again", "POST", CTR + "prune", {}, "", 0),  # nothing left to prune
    ("vol-rm-lv1", "DELETE", V + "/volumes/lv1", {}, None, 0),  # docker volume rm lv1
    # --- networks -----------------------------------------------------------
    ("net-create-mn1", "POST", V + "/networks/create", JSON, cli_net_create("mn1"), 0),  # docker network create mn1
    ("net-create-mn2", "POST", V + "/networks/create", JSON, cli_net_create("mn2"), 0),  # docker network create mn2
    ("net-connect-m1", "POST", V + "/networks/mn1/connect", JSON, cli_connect("m1"),
     0),  # docker network connect mn1 m1 (running)
    ("net-connect-m1-again", "POST", V + "/networks/mn1/connect", JSON, cli_connect("m1"), 0),  # already
    ("net-disconnect-m1", "POST", V + "/networks/mn1/disconnect", JSON, '{"Container":"m1","Force":false}\n',
     0),  # docker network disconnect mn1 m1
    ("net-disconnect-m1-again", "POST", V + "/networks/mn1/disconnect", JSON,
     '{"Container":"m1","Force":false}\n', 0),  # not connected
    ("net-connect-m1-keep", "POST", V + "/networks/mn1/connect", JSON, cli_connect("m1"), 0),  # again
    ("net-prune", "POST", V + "/networks/prune", {}, "", 0),  # docker network prune -f: mn2 (mn1 in use)
    ("net-disconnect-m1-force", "POST", V + "/networks/mn1/disconnect", JSON,
     '{"Container":"m1","Force":true}\n', 0),  # docker network disconnect -f mn1 m1
    ("net-prune-mn1", "POST", V + "/networks/prune", {}, "", 0),  # mn1 now
    ("net-prune-again", "POST", V + "/networks/prune", {}, "", 0),  # nothing left
    # --- build / swarm (drydock does not simulate them) ---------------------
    ("build-empty", "POST", V + "/build", {}, "", 0),  # no context at all
    ("build-empty-tar", "POST", V + "/build?dockerfile=Dockerfile&version=1",
     {"Content-Type": "application/x-tar"}, "", 0),  # the CLI's query and type, empty body
    ("swarm", "GET", V + "/swarm", {}, None, 0),  # docker swarm ca (inspect)
    ("swarm-nodes", "GET", V + "/nodes", {}, None, 0),  # docker node ls
    # --- events of everything above -----------------------------------------
    ("@t1",),
    ("events", "GET", events_uri(), {}, None, 0),  # docker events --since T0 --until T1
    ("events-type", "GET", events_uri("filters=" + q({"type": {"container": True}}) + "&"), {}, None,
     0),  # docker events --filter type=container --since T0 --until T1
    ("events-since-after-until", "GET",
     lambda ctx: V + "/events?since=%d&until=%d" % (ctx["t1"], ctx["t0"]), {}, None, 0),  # 400
    # --- clean-up -----------------------------------------------------------
    ("cleanup-rm-m1", "DELETE", CTR + "m1?force=1", {}, None, 0),  # docker rm -f m1
    ("cleanup-ctr-list", "GET", V + "/containers/json?all=1", {}, None, 0),  # []
    ("cleanup-vol-list", "GET", V + "/volumes", {}, None, 0),  # empty
    ("cleanup-net-list", "GET", V + "/networks", {}, None, 0),  # bridge, host, none
]


def exchange(sock_path, name, method, uri, extra, body):
    """Sends one entry; returns its record (the format documented above)."""
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
    return {"name": name, "request": req,
            "response": {"status": status, "headers": hdrs,
                         "body": data.decode("utf-8", errors="replace")},
            "elapsed_s": elapsed}


class VolumePlugin:
    """drydock's reference volume plugin dryvol, for the part of the list that needs one."""

    def __init__(self, drydock, plugins_dir, state):
        self.drydock, self.sock = drydock, os.path.join(plugins_dir, "dryvol.sock")
        self.proc, self.state = None, state

    def start(self):
        shutil.rmtree(self.state, ignore_errors=True)
        os.makedirs(self.state)
        self.proc = subprocess.Popen(
            [self.drydock, "plugin", "volume", "--name", "dryvol", "--state-dir", self.state,
             "--durability", "buffered", "--socket", self.sock],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(self.sock):
                return
            time.sleep(0.05)
        self.stop()
        sys.exit("record_api.py: %s plugin volume did not create %s" % (self.drydock, self.sock))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def next_second():
    """Sleeps to just after the next full second; returns it (unix seconds)."""
    time.sleep(1.05 - time.time() % 1)
    return int(time.time())


def main_more(sock_path, out_path, drydock, plugins_dir):
    names = [r[0] for r in REQUESTS_MORE if not r[0].startswith("@")]
    assert len(names) == len(set(names)), "duplicate request names"
    sandbox = os.path.dirname(os.path.abspath(sock_path))
    plugins_dir = plugins_dir or os.path.join(sandbox, "run-plugins")
    plugin = VolumePlugin(drydock, plugins_dir, os.path.join(sandbox, "record-api-dryvol"))
    clean(sock_path)
    ctx = {"json": {}}
    records, threads = {}, {}

    def run(entry):
        name, method, uri, extra, body = entry[:5]
        if callable(uri):
            uri = uri(ctx)
        rec = exchange(sock_path, name, method, uri, extra, body)
        records[name] = rec
        try:
            ctx["json"][name] = json.loads(rec["response"]["body"])
        except ValueError:
            pass
        print(f"{rec['response']['status']} {method} {uri[:70]}", file=sys.stderr)

    try:
        for entry in REQUESTS_MORE:
            step = entry[0]
            if step in ("@t0", "@t1"):
                ctx[step[1:]] = next_second()
            elif step == "@plugin-start":
                plugin.start()
            elif step == "@plugin-stop":
                plugin.stop()
            elif step == "@join":
                threads.pop(entry[1]).join(90)
            else:
                if entry[5]:
                    time.sleep(entry[5])
                if len(entry) > 6 and entry[6].get("bg"):
                    threads[step] = threading.Thread(target=run, args=(entry,), daemon=True)
                    threads[step].start()
                    time.sleep(0.2)  # let the daemon register the waiter before the next request
                else:
                    run(entry)
    finally:
        plugin.stop()
    assert not threads, "entries sent in the background but never joined: %s" % sorted(threads)
    with open(out_path, "w", encoding="utf-8") as out:
        for name in names:
            out.write(json.dumps(records[name], ensure_ascii=False) + "\n")


def parse_args(argv):
    """Returns (set name, drydock binary, plugins dir or None, socket, out path)."""
    usage = "usage: record_api.py [--set router|more] [--drydock BIN] [--plugins-dir DIR] SOCKET OUT.jsonl"
    opts = {"--set": "router", "--drydock": "target/release/drydock", "--plugins-dir": None}
    pos = []
    i = 0
    while i < len(argv):
        if argv[i] in opts:
            if i + 1 >= len(argv):
                sys.exit(usage)
            opts[argv[i]] = argv[i + 1]
            i += 2
        else:
            pos.append(argv[i])
            i += 1
    if len(pos) != 2 or opts["--set"] not in ("router", "more"):
        sys.exit(usage)
    return opts["--set"], opts["--drydock"], opts["--plugins-dir"], pos[0], pos[1]


def main():
    which, drydock, plugins_dir, sock_path, out_path = parse_args(sys.argv[1:])
    if which == "more":
        return main_more(sock_path, out_path, drydock, plugins_dir)
    names = [r[0] for r in REQUESTS]
    assert len(names) == len(set(names)), "duplicate request names"
    clean(sock_path)
    with open(out_path, "w", encoding="utf-8") as out:
        for name, method, uri, extra, body, pause in REQUESTS:
            if pause:
                time.sleep(pause)
            rec = exchange(sock_path, name, method, uri, extra, body)
            status = rec["response"]["status"]
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()
            print(f"{status} {method} {uri[:70]}", file=sys.stderr)


if __name__ == "__main__":
    main()
