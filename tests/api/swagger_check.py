#!/usr/bin/env python3
"""swagger_check.py: check Engine API answers against moby's own API description.

Usage:
  python3 tests/api/swagger_check.py SWAGGER [--socket SOCKET] [--recorded FILE]...

SWAGGER is moby's api/swagger.yaml for API v1.41, as Debian's
golang-github-docker-docker-dev 20.10.24 installs it:
/usr/share/gocode/src/github.com/docker/docker/api/swagger.yaml.

--socket SOCKET  sends the requests of TABLE (below), in order, each on its own
                 connection, to the daemon on that unix socket (drydock serve;
                 a real dockerd works too). It makes and removes objects whose
                 names start with `swc-`, nothing else (its prunes are
                 filtered by the label `swc` the table's objects carry).
--record OUT     with --socket: also writes the exchanges to OUT, in the format
                 of --recorded (binary bodies as "body_base64").
                 tests/golden/api/swagger-table.jsonl is a real dockerd's.
--recorded FILE  checks the answers recorded in FILE instead of asking a daemon
                 (the JSON lines of tests/golden/api/raw-router.jsonl: a real
                 dockerd 20.10's answers). Repeatable; combinable with --socket.

For each answer the swagger operation is found from its method and path (the
`/vN.NN` prefix and the query stripped), then the response for its status
(or `default`). A JSON answer is validated with jsonschema's Draft4Validator
(swagger 2.0's schemas are draft 4) after `$ref`s to `#/definitions/...` are
resolved and `x-nullable: true` turned into "null allowed"; `format` is not
checked. Answers that are not JSON (ping's `OK`, logs, attach, archives) are
checked for their Content-Type only. An error status swagger does not list is
validated against ErrorResponse: swagger's introduction says every error body
is `{"message": ...}`.

Output: one line per request,
  ok METHOD PATH STATUS [(notes)]
  FAIL METHOD PATH STATUS: $.json.path: message [Operation]   (more errors indented below)
  skip METHOD PATH STATUS: why
then a summary. Exit status 1 on any FAIL, also when the daemon serves a
route that has no swagger operation, or a TABLE entry that must be served is
answered `404 page not found`; 2 on bad usage.

Where a real dockerd 20.10's own answer disagrees with swagger, the check does
not demand more of drydock than of dockerd: DEVIATIONS (below) lists those
(operation, JSON path, kind) and both modes accept them. A deviation applied is
named on the request's line as `allowed ...`.

Needs python3-yaml and python3-jsonschema (Debian packages; jsonschema 4.x).
"""

import argparse
import ast
import base64
import http.client
import io
import json
import re
import socket
import sys
import tarfile
import time
import urllib.parse
from collections import namedtuple

import jsonschema
import yaml

API = "1.41"
UA = "swagger_check.py"
TIMEOUT = 30

# ---------------------------------------------------------------------------
# The requests. One entry per request, sent in this order; adding an endpoint
# is adding entries here.
#
# R(method, path, ...): path without the version prefix (`/v1.41` is added
# unless `version` says otherwise: None for no prefix, "1.99" for another).
#   json=     a body sent as application/json
#   body=     raw body bytes (with headers= for its Content-Type)
#   expect=   the status this request is meant to show (an int or a tuple); a
#             different one is noted on the line, not a failure: the body is
#             validated for the status it got
#   optional= True for endpoints drydock does not serve yet: `skip` while the
#             daemon answers `404 page not found`, checked once it serves them
#   ctype=    accepted media types of a non-JSON body (default: the
#             operation's `produces`)
#   body_check= "skip": status and Content-Type only (attach hijacks the
#             connection); by default the body is checked as the schema says
#   no_operation= why swagger has no operation for this request (OPTIONS)
# ---------------------------------------------------------------------------

Req = namedtuple(
    "Req",
    "method path json body headers expect optional ctype body_check version no_operation",
)


def R(method, path, json=None, body=None, headers=None, expect=200, optional=False,
      ctype=None, body_check=None, version=API, no_operation=None):
    return Req(method, path, json, body, headers or {}, expect, optional, ctype,
               body_check, version, no_operation)


def q(obj):
    """A filters object, URL-encoded for a query string."""
    return urllib.parse.quote(json.dumps(obj, separators=(",", ":")), safe="")


def tar_of(name, data):
    """A tar archive holding one file, without tarfile's padding to 10 KiB."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 1700000000
        tar.addfile(info, io.BytesIO(data))
    blocks = 1 + (len(data) + 511) // 512 + 2  # header, data, end-of-archive
    return buf.getvalue()[:512 * blocks]


IMAGE = "bb:latest"
TAR = {"Content-Type": "application/x-tar"}
TAR_BODY = tar_of("swc.txt", b"swagger check\n")
# Logs: dockerd 20.10 sends none (DEVIATIONS); the types a newer dockerd or
# a server sniffing the stream would give are accepted. Attach: raw-stream.
LOGS = ("application/octet-stream", "application/vnd.docker.raw-stream",
        "application/vnd.docker.multiplexed-stream", "text/plain")
RAW_STREAM = ("application/vnd.docker.raw-stream", "application/vnd.docker.multiplexed-stream")

# Operations whose JSON answer is a sequence of JSON values, each validated.
JSON_STREAMS = {"SystemEvents"}

# Objects the table makes (removed before and after a run, unchecked).
OWN_CONTAINERS = ["swc-c1", "swc-c2", "swc-c2r"]
OWN_NETWORKS = ["swc-n1", "swc-n2"]
OWN_VOLUMES = ["swc-v1", "swc-v2", "swc-v3"]

# Prunes remove only what the table made: objects labelled `swc`.
OWN = q({"label": {"swc": True}})

C1 = {"Image": IMAGE, "Cmd": ["sleep", "300"], "Labels": {"swc": "1"},
      "HostConfig": {"Binds": ["swc-v1:/data"]}}

TABLE = [
    # --- system -------------------------------------------------------------
    R("GET", "/_ping", version=None, ctype=("text/plain",)),
    R("HEAD", "/_ping", ctype=("text/plain",)),
    R("GET", "/version"),
    R("GET", "/version", version=None),
    R("GET", "/version", version="1.99", expect=400),  # too new: JSON error
    R("GET", "/version", version="1.11", expect=400),  # too old: plain text (DEVIATIONS)
    R("OPTIONS", "/version", no_operation="CORS preflight: dockerd answers OPTIONS on any path"),
    R("GET", "/info", optional=True),
    R("GET", "/plugins", optional=True),
    R("GET", "/images/json", optional=True),
    R("GET", "/images/" + IMAGE + "/json", optional=True),
    R("GET", "/images/swc-nosuchimage/json", expect=404, optional=True),
    # --- volumes ------------------------------------------------------------
    R("GET", "/volumes"),
    R("POST", "/volumes/create", json={"Name": "swc-v1", "Labels": {"swc": "1"}}, expect=201),
    R("POST", "/volumes/create", json={"Name": "swc-v2", "DriverOpts": {}}, expect=201),
    R("POST", "/volumes/create", json={"Name": "swc-v1"}, expect=201),  # exists: same volume
    R("POST", "/volumes/create", json={"Name": "../../etc"}, expect=400),
    R("POST", "/volumes/create", body=b"{", headers={"Content-Type": "application/json"}, expect=400),
    R("GET", "/volumes"),
    R("GET", "/volumes?filters=" + q({"name": {"swc-v1": True}})),
    R("GET", "/volumes?filters=notjson", expect=400),
    R("GET", "/volumes/swc-v1"),
    R("GET", "/volumes/swc-nope", expect=404),
    R("DELETE", "/volumes/swc-nope", expect=404),
    # --- containers ---------------------------------------------------------
    R("POST", "/containers/create?name=swc-c1", json=C1, expect=201),
    R("POST", "/containers/create?name=swc-c1", json=C1, expect=409),
    R("POST", "/containers/create?name=swc-c2",
      json={"Image": IMAGE, "Cmd": ["echo", "swagger"], "Labels": {"swc": "2"}}, expect=201),
    R("POST", "/containers/create", json={}, expect=400),
    R("POST", "/containers/create", json={"Image": "swc-nosuchimage", "Cmd": ["true"]}, expect=404),
    R("POST", "/containers/create?name=../../etc", json={"Image": IMAGE, "Cmd": ["true"]}, expect=400),
    R("POST", "/containers/create", body=b"{", headers={"Content-Type": "application/json"}, expect=500),
    R("GET", "/containers/json"),
    R("GET", "/containers/json?all=1"),
    R("GET", "/containers/swc-c1/json"),
    R("GET", "/containers/swc-nope/json", expect=404),
    R("DELETE", "/volumes/swc-v1", expect=409),  # in use by swc-c1
    R("POST", "/containers/swc-c1/start", expect=204),
    R("POST", "/containers/swc-c1/start", expect=304),
    R("POST", "/containers/swc-nope/start", expect=404),
    R("GET", "/containers/json"),
    R("GET", "/containers/swc-c1/json"),
    R("GET", "/system/df", optional=True),  # with a running container and volumes
    R("DELETE", "/volumes/swc-v2", expect=204),
    R("GET", "/containers/swc-c1/logs?stdout=1&stderr=1", ctype=LOGS),
    R("POST", "/containers/swc-c2/start", expect=204),
    R("POST", "/containers/swc-c2/wait"),
    R("GET", "/containers/swc-c2/logs?stdout=1&stderr=1", ctype=LOGS),  # with output on dockerd
    R("GET", "/containers/swc-nope/logs?stdout=1", expect=404),
    # logs=1 without stream: dockerd sends the (empty) logs and ends.
    R("POST", "/containers/swc-c1/attach?logs=1&stdout=1&stderr=1", expect=(101, 200),
      ctype=RAW_STREAM, body_check="skip"),
    R("POST", "/containers/swc-nope/attach?stream=1&stdout=1", expect=404),
    R("PUT", "/containers/swc-c1/archive?path=/", body=TAR_BODY, headers=TAR),
    R("HEAD", "/containers/swc-c1/archive?path=/swc.txt"),
    R("GET", "/containers/swc-c1/archive?path=/swc.txt", ctype=("application/x-tar",)),
    R("HEAD", "/containers/swc-c1/archive?path=/swc-nope", expect=404),
    R("GET", "/containers/swc-c1/archive?path=/swc-nope", expect=404),
    R("PUT", "/containers/swc-c1/archive?path=/swc-nope", body=TAR_BODY, headers=TAR, expect=404),
    R("GET", "/containers/swc-nope/archive?path=/", expect=404),
    R("POST", "/containers/swc-c1/pause", expect=204, optional=True),
    R("POST", "/containers/swc-c1/unpause", expect=204, optional=True),
    R("POST", "/containers/swc-nope/pause", expect=404, optional=True),
    R("POST", "/containers/swc-c1/update", json={"CpuShares": 512}, optional=True),
    R("POST", "/containers/swc-nope/update", json={"CpuShares": 512}, expect=404, optional=True),
    R("POST", "/containers/swc-c2/rename?name=swc-c2r", expect=204, optional=True),
    R("POST", "/containers/swc-c2r/rename?name=swc-c2", expect=204, optional=True),
    R("POST", "/containers/swc-nope/rename?name=swc-x", expect=404, optional=True),
    R("POST", "/containers/swc-c1/restart?t=0", expect=204),
    R("POST", "/containers/swc-nope/restart", expect=404),
    R("POST", "/containers/swc-c1/kill", expect=204),
    R("POST", "/containers/swc-c1/kill", expect=409),  # not running
    R("POST", "/containers/swc-nope/kill", expect=404),
    R("POST", "/containers/swc-c1/wait"),
    R("POST", "/containers/swc-nope/wait", expect=404),
    R("POST", "/containers/swc-c1/start", expect=204),
    R("POST", "/containers/swc-c1/stop?t=0", expect=204),
    R("POST", "/containers/swc-c1/stop", expect=304),
    R("POST", "/containers/swc-nope/stop", expect=404),
    R("GET", "/containers/swc-c1/json"),  # exited
    # --- networks -----------------------------------------------------------
    R("GET", "/networks"),
    R("POST", "/networks/create", json={"Name": "swc-n1", "CheckDuplicate": True,
                                        "Labels": {"swc": "1"}}, expect=201),
    R("POST", "/networks/create", json={"Name": "swc-n1", "CheckDuplicate": True}, expect=409),
    R("POST", "/networks/create", json={}, expect=500),
    R("POST", "/networks/create", body=b"{", headers={"Content-Type": "application/json"}, expect=400),
    R("GET", "/networks/swc-n1"),
    R("GET", "/networks/swc-nope", expect=404),
    R("GET", "/networks?filters=" + q({"name": {"swc-n1": True}})),
    R("POST", "/networks/swc-n1/connect", json={"Container": "swc-c1"}),
    R("POST", "/networks/swc-n1/connect", json={"Container": "swc-nope"}, expect=404),
    # dockerd: 200 for a stopped container, whose networks are looked up at start.
    R("POST", "/networks/swc-nope/connect", json={"Container": "swc-c1"}),
    R("POST", "/networks/swc-nope/disconnect", json={"Container": "swc-c1"}),
    R("GET", "/networks/swc-n1"),  # with the container
    R("GET", "/containers/swc-c1/json"),  # on two networks
    R("POST", "/networks/swc-n1/disconnect", json={"Container": "swc-c1"}),
    R("POST", "/networks/swc-n1/disconnect", json={"Container": "swc-nope"}, expect=404),
    R("DELETE", "/networks/swc-n1", expect=204),
    R("DELETE", "/networks/swc-nope", expect=404),
    R("POST", "/networks/create", json={"Name": "swc-n2", "Labels": {"swc": "2"}}, expect=201),
    R("POST", "/networks/prune?filters=" + OWN, optional=True),  # removes swc-n2
    R("POST", "/networks/prune?filters=" + OWN, optional=True),  # nothing left
    R("DELETE", "/networks/swc-n2", expect=(204, 404)),  # 404 once prune removed it
    R("GET", "/events?since=0&until={now}", optional=True),  # all of the above
    # --- clean-up, prunes ---------------------------------------------------
    R("POST", "/containers/prune?filters=" + OWN, optional=True),  # removes swc-c1, swc-c2 (stopped)
    R("POST", "/containers/prune?filters=" + OWN, optional=True),  # nothing left
    R("DELETE", "/containers/swc-c1?v=1", expect=(204, 404)),
    R("DELETE", "/containers/swc-c2?force=1", expect=(204, 404)),
    R("DELETE", "/containers/swc-nope", expect=404),
    R("POST", "/volumes/create", json={"Name": "swc-v3", "Labels": {"swc": "3"}}, expect=201),
    R("POST", "/volumes/prune?filters=" + OWN),  # API 1.41: named volumes too (swc-v1, swc-v3)
    R("POST", "/volumes/prune?filters=" + OWN),  # nothing left
    R("DELETE", "/volumes/swc-v1", expect=(204, 404)),
    R("DELETE", "/volumes/swc-v3", expect=(204, 404)),
]

# ---------------------------------------------------------------------------
# Where real dockerd 20.10 disagrees with its own swagger.yaml, found by
# --recorded tests/golden/api/raw-router.jsonl (each entry names a recorded
# answer, by its "name", that shows it) and tests/golden/api/swagger-table.jsonl.
# Both modes accept these and nothing else; --recorded notes an entry no
# recorded answer needs (tests/it/swagger.rs fails on such a note).
#
# Dev(operation, status, path, kind[, body]): operation is swagger's
# operationId ("*": any); status None: any; path a JSON path where `[*]` is
# any index and `*` any key; kind:
#   "null"         null where swagger wants an array or object without
#                  x-nullable: Go encodes a nil slice, map or pointer as null
#                  (fields without `omitempty`)
#   "null-scalar"  null where swagger wants a string/number/boolean (a Go pointer)
#   "not-json"     a body that is not the JSON swagger describes
#   "no-content-type"  a body that is not JSON and has no Content-Type
#   "missing"      a `required` property absent
#   "status"       a success status swagger does not list
#   or a jsonschema keyword ("enum", "type", ...);
# body: a regex the answer's body must match too.
# ---------------------------------------------------------------------------

Dev = namedtuple("Dev", "op status path kind body", defaults=(None,))

DEVIATIONS = [
    # Volumes: volume.Volume's Labels and Options are maps, the list's
    # Warnings a slice, all without omitempty.
    Dev("VolumeList", 200, "$.Warnings", "null"),  # vol-list-empty, vol-list
    Dev("VolumeList", 200, "$.Volumes[*].Labels", "null"),  # vol-list
    Dev("VolumeList", 200, "$.Volumes[*].Options", "null"),  # vol-list
    Dev("VolumeCreate", 201, "$.Labels", "null"),  # vol-create-charset
    Dev("VolumeCreate", 201, "$.Options", "null"),  # vol-create-charset
    Dev("VolumeInspect", 200, "$.Labels", "null"),  # vol-inspect
    Dev("VolumeInspect", 200, "$.Options", "null"),  # vol-inspect
    # Containers. The list: Labels of a container made without an image;
    # the EndpointSettings' Links and Aliases of every network.
    Dev("ContainerList", 200, "$[*].Labels", "null"),  # ctr-list-all
    Dev("ContainerList", 200, "$[*].NetworkSettings.Networks.*.Links", "null"),  # ctr-list-all
    Dev("ContainerList", 200, "$[*].NetworkSettings.Networks.*.Aliases", "null"),  # ctr-list-all
    # Inspect: every unset slice/map of HostConfig (Binds, CapAdd, Dns,
    # Devices, Ulimits, PortBindings…) and of Config (Env, Volumes,
    # Entrypoint, OnBuild…) is null; MemorySwappiness is a nil *int64;
    # Isolation is "" on Linux, outside swagger's enum; GraphDriver.Data is
    # null for vfs.
    Dev("ContainerInspect", 200, "$.HostConfig.*", "null"),  # ctr-inspect-c1
    Dev("ContainerInspect", 200, "$.HostConfig.MemorySwappiness", "null-scalar"),  # ctr-inspect-c1
    Dev("ContainerInspect", 200, "$.HostConfig.Isolation", "enum", r'"Isolation":"",'),  # ctr-inspect-c1
    Dev("ContainerInspect", 200, "$.Config.*", "null"),  # ctr-inspect-c1
    Dev("ContainerInspect", 200, "$.GraphDriver.Data", "null"),  # ctr-inspect-c1
    Dev("ContainerInspect", 200, "$.NetworkSettings.Networks.*.Links", "null"),  # ctr-inspect-c1
    Dev("ContainerInspect", 200, "$.NetworkSettings.Networks.*.Aliases", "null"),  # ctr-inspect-c1
    # Wait: {"Error":null,"StatusCode":0}: Error is a nil *ContainerWaitOKBodyError.
    Dev("ContainerWait", 200, "$.Error", "null"),  # ctr-wait-c1, ctr-wait-c4
    # Networks: IPAM.Options is a nil map.
    Dev("NetworkList", 200, "$[*].IPAM.Options", "null"),  # net-list
    Dev("NetworkInspect", 200, "$.IPAM.Options", "null"),  # net-inspect-rn1
    # The version middleware refuses a too old /vN.NN/ prefix, on any path,
    # with a text/plain 400 (http.Error), not the JSON error body.
    Dev("*", 400, "$", "not-json", r"^client version \S+ is too old\."),  # version-v111, version-v1
    #
    # The endpoints drydock does not serve yet, shown by the table's own
    # requests to a real dockerd (tests/golden/api/swagger-table.jsonl,
    # entries named "table-N" by their place in TABLE: see the `uri`).
    #
    # Attach writes its errors on the hijacked connection as raw-stream text
    # ("No such container: swc-nope\r\n"), not as JSON.
    Dev("ContainerAttach", None, "$", "not-json"),
    # Logs: no Content-Type at all (headers flushed before the first byte,
    # chunked: Go sniffs nothing).
    Dev("ContainerLogs", 200, "$", "no-content-type"),
    # Container and network prunes that find nothing: {"ContainersDeleted":
    # null,…}. (A volume prune answers "VolumesDeleted":[]: swagger's array.)
    Dev("ContainerPrune", 200, "$.ContainersDeleted", "null"),
    Dev("NetworkPrune", 200, "$.NetworksDeleted", "null"),
    # Update: {"Warnings":null}.
    Dev("ContainerUpdate", 200, "$.Warnings", "null"),
    # /info: nil slices (DriverStatus, Warnings, GenericResources, the
    # Plugins lists: Authorization without authz plugins); Isolation "".
    Dev("SystemInfo", 200, "$.DriverStatus", "null"),
    Dev("SystemInfo", 200, "$.Warnings", "null"),
    Dev("SystemInfo", 200, "$.GenericResources", "null"),
    Dev("SystemInfo", 200, "$.Plugins.*", "null"),
    Dev("SystemInfo", 200, "$.Isolation", "enum", r'"Isolation":"",'),
    # Images: an image without digests or labels (bb:latest is imported).
    Dev("ImageList", 200, "$[*].RepoDigests", "null"),
    Dev("ImageList", 200, "$[*].Labels", "null"),
    Dev("ImageInspect", 200, "$.Config.*", "null"),
    Dev("ImageInspect", 200, "$.ContainerConfig.*", "null"),
    Dev("ImageInspect", 200, "$.GraphDriver.Data", "null"),
    # /system/df: the same nulls for its images and volumes, no build cache;
    # and swagger's bug: Containers is an array of ContainerSummary, which
    # v1.41's swagger defines as an array itself, so each container object
    # "is not an array".
    Dev("SystemDataUsage", 200, "$.Images[*].RepoDigests", "null"),
    Dev("SystemDataUsage", 200, "$.Images[*].Labels", "null"),
    Dev("SystemDataUsage", 200, "$.Volumes[*].Labels", "null"),
    Dev("SystemDataUsage", 200, "$.Volumes[*].Options", "null"),
    Dev("SystemDataUsage", 200, "$.BuildCache", "null"),
    Dev("SystemDataUsage", 200, "$.Containers[*]", "type"),
]

# ---------------------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection to a unix socket."""

    def __init__(self, path, timeout=TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def send(sock_path, method, uri, headers, body):
    """One request on its own connection: (status, [(header, value)], body bytes);
    `headers` gets the Content-Length and User-Agent sent."""
    conn = UnixHTTPConnection(sock_path)
    try:
        conn.putrequest(method, uri, skip_accept_encoding=True)
        headers.setdefault("User-Agent", UA)
        if body is not None or method in ("POST", "PUT"):
            headers["Content-Length"] = str(len(body or b""))
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.getheaders(), data
    finally:
        conn.close()


# --- the swagger document ----------------------------------------------------

NULLABLE = "x-swagger-check-nullable"
SCHEMA_MAPS = ("properties", "definitions", "patternProperties")
SCHEMA_ONE = ("items", "additionalProperties", "not")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def nullable(schema):
    """`schema` with every `x-nullable: true` turned into "null allowed"."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k in SCHEMA_MAPS and isinstance(v, dict):
            out[k] = {name: nullable(s) for name, s in v.items()}
        elif k in SCHEMA_ONE and isinstance(v, (dict, list)):
            out[k] = [nullable(s) for s in v] if isinstance(v, list) else nullable(v)
        elif k in SCHEMA_LISTS and isinstance(v, list):
            out[k] = [nullable(s) for s in v]
        else:
            out[k] = v
    if out.pop("x-nullable", None) is True:
        if "$ref" not in out and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = list(out["enum"]) + [None]
        else:
            out = {"anyOf": [{"type": "null"}, out], NULLABLE: True}
    return out


class Swagger:
    def __init__(self, path):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(path, encoding="utf-8") as f:
            doc = yaml.load(f, Loader=loader)
        if doc.get("swagger") != "2.0":
            raise SystemExit(f"{path}: not a swagger 2.0 document")
        self.version = doc["info"]["version"]
        self.definitions = nullable({"definitions": doc["definitions"]})["definitions"]
        self.produces = doc.get("produces", [])
        self.ops = []
        for template, item in doc["paths"].items():
            literal = len(re.findall(r"\{[^}]+\}", template))
            rx = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            for method, op in item.items():
                if method == "parameters":
                    continue
                self.ops.append((literal, method.upper(), rx, template, op))
        # Literal segments first: /containers/json before /containers/{id}.
        self.ops.sort(key=lambda o: o[0])
        self._validators = {}

    def operation(self, method, uri):
        """(template, operation) for a request, or None."""
        path = urllib.parse.unquote(uri.split("?", 1)[0])
        m = re.match(r"^/v[0-9.]+(/.*)$", path)
        if m:
            path = m.group(1)
        for _, meth, rx, template, op in self.ops:
            if meth == method and rx.match(path):
                return template, op
        return None

    def resolve(self, schema):
        """Follows a chain of `$ref`s to `#/definitions/...`."""
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/definitions/"):
                raise SystemExit(f"unsupported $ref {ref}")
            schema = self.definitions[ref[len("#/definitions/"):]]
            seen += 1
            if seen > 50:
                raise SystemExit(f"$ref loop at {ref}")
        return schema

    def validator(self, key, schema):
        """A Draft4Validator for `schema` with the definitions beside it."""
        v = self._validators.get(key)
        if v is None:
            wrapped = {"definitions": self.definitions, "allOf": [nullable(schema)]}
            v = jsonschema.Draft4Validator(wrapped)
            self._validators[key] = v
        return v


# --- checking one answer -------------------------------------------------------

Problem = namedtuple("Problem", "segments kind message")


def short(value, limit=120):
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def render_path(segments):
    out = "$"
    for s in segments:
        if isinstance(s, int):
            out += f"[{s}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", s):
            out += "." + s
        else:
            out += "[" + json.dumps(s) + "]"
    return out


def path_matches(pattern, segments):
    """Whether an allow-list path (`$.A[*].B.*`) names `segments`."""
    parts = re.findall(r"\.([^.\[\]]+)|\[(\*|\d+|\"[^\"]*\")\]", pattern[1:])
    if len(parts) != len(segments):
        return False
    for (key, idx), seg in zip(parts, segments):
        if idx:
            if idx == "*":
                ok = isinstance(seg, int)
            elif idx.startswith('"'):
                ok = seg == json.loads(idx)
            else:
                ok = seg == int(idx)
        elif key == "*":
            ok = isinstance(seg, str)
        else:
            ok = seg == key
        if not ok:
            return False
    return True


def flatten(err):
    """jsonschema errors, with our nullable wrappers looked through."""
    if err.validator == "anyOf" and isinstance(err.schema, dict) and err.schema.get(NULLABLE):
        inner = [e for e in err.context if e.relative_schema_path and e.relative_schema_path[0] == 1]
        for e in inner:
            yield from flatten(e)
        return
    yield err


def problem_of(err):
    segments = list(err.absolute_path)
    if err.validator == "required":
        name = err.message.rsplit(" is a required property", 1)[0]
        try:
            name = ast.literal_eval(name)
        except (ValueError, SyntaxError):
            pass
        return Problem(segments + [name], "missing", "required property missing")
    if err.validator == "type":
        want = err.validator_value
        wants = want if isinstance(want, list) else [want]
        kind = "type"
        if err.instance is None:
            kind = "null" if set(wants) <= {"array", "object"} else "null-scalar"
        want = " or ".join(wants)
        return Problem(segments, kind, f"expected {want}, got {short(err.instance)}")
    if err.validator == "enum":
        return Problem(segments, "enum", f"expected one of {short(err.validator_value)}, got {short(err.instance)}")
    msg = err.message
    if len(msg) > 200:
        msg = msg[:200] + "…"
    return Problem(segments, err.validator, msg)


def text_of(body):
    return body.decode("utf-8", "replace")


def media_type(headers):
    ct = headers.get("content-type")
    return ct.split(";", 1)[0].strip().lower() if ct else None


def is_page_not_found(status, body):
    if status != 404:
        return False
    try:
        return json.loads(body) == {"message": "page not found"}
    except ValueError:
        return False


class Result:
    def __init__(self, verdict, problems=(), notes=(), why=""):
        self.verdict, self.problems, self.notes, self.why = verdict, list(problems), list(notes), why


def check_answer(sw, method, uri, status, headers, body, entry=None):
    """Checks one answer; a Result ("ok", "FAIL" or "skip")."""
    entry_ctype = entry.ctype if entry else None
    body_check = entry.body_check if entry else None
    if entry and entry.no_operation:
        if body:
            return Result("FAIL", [Problem([], "not-empty", f"{entry.no_operation}; body not empty: {short(text_of(body))}")])
        return Result("ok", notes=[f"no swagger operation: {entry.no_operation}"])
    found = sw.operation(method, uri)
    if found is None:
        if is_page_not_found(status, body):
            return Result("skip", why="not served (404 page not found)")
        if status in (301, 308) and "location" in headers:
            return Result("skip", why=f"router redirect to {headers['location']}")
        if method == "OPTIONS":
            return Result("skip", why="CORS preflight (OPTIONS), no swagger operation")
        return Result("FAIL", [Problem([], "operation", f"no swagger operation for {method} {uri.split('?')[0]}")])
    template, op = found
    if is_page_not_found(status, body):
        return Result("skip", why="not served (404 page not found)")
    opname = op.get("operationId", f"{method} {template}")
    notes, problems = [], []
    responses = op.get("responses", {})
    if status in responses:
        response = responses[status]
    elif "default" in responses:
        response = responses["default"]
    elif status >= 400:
        response = {"schema": {"$ref": "#/definitions/ErrorResponse"}}
        notes.append(f"{status} not in swagger: checked as ErrorResponse")
    else:
        response = {}
        problems.append(Problem([], "status", f"status {status} not in swagger (lists {sorted(map(str, responses))})"))
    schema = response.get("schema")
    if schema is None and status >= 400 and media_type(headers) == "application/json":
        # e.g. the archive endpoints' 400: described, no schema.
        schema = {"$ref": "#/definitions/ErrorResponse"}
        notes.append("no schema for this status: checked as ErrorResponse")
    resolved = sw.resolve(schema) if schema is not None else None
    wants_json = resolved is not None and resolved.get("type") not in ("string", "file")
    mt = media_type(headers)
    if method == "HEAD" or status in (101, 204, 304) or body_check == "skip":
        # No body to validate: Content-Type only.
        if body_check == "skip" or method == "HEAD":
            allowed = entry_ctype or (("application/json",) if wants_json else op.get("produces", sw.produces))
            if mt is not None and mt not in allowed:
                problems.append(Problem([], "content-type", f"Content-Type {mt}, expected one of {list(allowed)}"))
        elif body:
            problems.append(Problem([], "body", f"a {status} answer with a body: {short(text_of(body))}"))
    elif wants_json:
        if mt != "application/json":
            problems.append(Problem([], "not-json", f"Content-Type {mt}, expected application/json (body {short(text_of(body), 80)})"))
        else:
            values = []
            text = text_of(body)
            if opname in JSON_STREAMS:
                dec, pos = json.JSONDecoder(), 0
                while True:
                    while pos < len(text) and text[pos].isspace():
                        pos += 1
                    if pos >= len(text):
                        break
                    try:
                        value, pos = dec.raw_decode(text, pos)
                    except ValueError as e:
                        problems.append(Problem([], "not-json", f"bad JSON in stream: {e}"))
                        break
                    values.append(value)
                if values:
                    notes.append(f"{len(values)} values")
            elif not text.strip():
                problems.append(Problem([], "not-json", "empty body, expected JSON"))
            else:
                try:
                    values.append(json.loads(text))
                except ValueError as e:
                    problems.append(Problem([], "not-json", f"not JSON: {e}"))
            v = sw.validator((opname, status), schema)
            for value in values:
                for err in v.iter_errors(value):
                    for e in flatten(err):
                        problems.append(problem_of(e))
    else:
        allowed = entry_ctype or op.get("produces", sw.produces)
        if body and mt is None:
            problems.append(Problem([], "no-content-type", f"no Content-Type, expected one of {list(allowed)}"))
        elif body and mt not in allowed:
            problems.append(Problem([], "content-type", f"Content-Type {mt}, expected one of {list(allowed)}"))
        elif not body and mt is not None and mt not in allowed:
            problems.append(Problem([], "content-type", f"Content-Type {mt}, expected one of {list(allowed)} or none"))
    # The deviations real dockerd shows.
    kept, allowed = [], {}
    for p in problems:
        dev = next((d for d in DEVIATIONS
                    if d.op in ("*", opname) and d.status in (None, status)
                    and d.kind == p.kind and path_matches(d.path, p.segments)
                    and (d.body is None or re.search(d.body, text_of(body)))), None)
        if dev is None:
            kept.append(p)
        else:
            USED.add(dev)
            allowed[dev] = allowed.get(dev, 0) + 1
    for dev, n in allowed.items():
        notes.append(f"allowed {dev.path} {dev.kind}" + (f" x{n}" if n > 1 else ""))
    result = Result("FAIL" if kept else "ok", kept, notes)
    result.op = opname
    return result


USED = set()

# --- running -------------------------------------------------------------------


class Tally:
    def __init__(self):
        self.counts = {"ok": 0, "FAIL": 0, "skip": 0}
        self.unexpected = 0
        self.undocumented = 0
        self.allowed = 0

    def report(self, method, uri, status, result, extra_notes=()):
        self.counts[result.verdict] += 1
        shown = uri if len(uri) <= 100 else uri[:100] + "…"
        notes = result.notes + list(extra_notes)
        self.undocumented += sum(1 for n in notes if "not in swagger" in n)
        self.allowed += sum(int(n.rsplit(" x", 1)[1]) if re.search(r" x\d+$", n) else 1
                            for n in notes if n.startswith("allowed "))
        tail = f" ({'; '.join(notes)})" if notes else ""
        if result.verdict == "ok":
            print(f"ok {method} {shown} {status}{tail}")
        elif result.verdict == "skip":
            print(f"skip {method} {shown} {status}: {result.why}{tail}")
        else:
            first, *rest = result.problems
            op = getattr(result, "op", None)
            opname = f" [{op}]" if op else ""
            print(f"FAIL {method} {shown} {status}: {render_path(first.segments)}: {first.message}{opname}{tail}")
            for p in rest:
                print(f"    {render_path(p.segments)}: {p.message}")
        sys.stdout.flush()


def unchecked(sock_path, method, path, body=None):
    try:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        return send(sock_path, method, f"/v{API}{path}", hdrs, data)[0]
    except OSError:
        return None


def clean(sock_path):
    for c in OWN_CONTAINERS:
        unchecked(sock_path, "DELETE", f"/containers/{c}?force=1&v=1")
    for n in OWN_NETWORKS:
        unchecked(sock_path, "DELETE", f"/networks/{n}")
    for v in OWN_VOLUMES:
        unchecked(sock_path, "DELETE", f"/volumes/{v}?force=1")


def body_fields(data):
    """A body as recorded: {"body": text}, or {"body_base64": ...} when it is
    binary (not UTF-8, or with NUL bytes: tar archives)."""
    if data is None:
        return {"body": None}
    try:
        if b"\0" not in data:
            return {"body": data.decode("utf-8")}
    except UnicodeDecodeError:
        pass
    return {"body": None, "body_base64": base64.b64encode(data).decode()}


def run_daemon(sw, sock_path, tally, record=None):
    print(f"== daemon at {sock_path}: {len(TABLE)} requests")
    clean(sock_path)
    try:
        for index, entry in enumerate(TABLE, 1):
            path = entry.path.replace("{now}", str(int(time.time()) + 1))
            uri = (f"/v{entry.version}" if entry.version else "") + path
            body = entry.body
            headers = dict(entry.headers)
            if entry.json is not None:
                body = json.dumps(entry.json).encode()
                headers.setdefault("Content-Type", "application/json")
            t0 = time.monotonic()
            try:
                status, header_list, data = send(sock_path, entry.method, uri, headers, body)
            except (OSError, http.client.HTTPException) as e:
                tally.report(entry.method, uri, "-", Result("FAIL", [Problem([], "io", f"no answer: {e!r}")]))
                continue
            if record is not None:
                response = {"status": status,
                            "headers": {k: v for k, v in header_list if k.lower() != "date"}}
                response.update(body_fields(data))
                request = {"method": entry.method, "uri": uri, "headers": headers}
                request.update(body_fields(body))
                record.write(json.dumps({"name": f"table-{index}", "request": request, "response": response,
                                         "elapsed_s": round(time.monotonic() - t0, 1)}) + "\n")
            rheaders = {k.lower(): v for k, v in header_list}
            result = check_answer(sw, entry.method, uri, status, rheaders, data, entry)
            extra = []
            expect = entry.expect if isinstance(entry.expect, tuple) else (entry.expect,)
            if result.verdict == "skip" and "not served" in result.why and not entry.optional:
                result = Result("FAIL", [Problem([], "served", "a route drydock serves answered 404 page not found")])
            elif result.verdict != "skip" and status not in expect:
                tally.unexpected += 1
                extra.append(f"expected status {'/'.join(map(str, expect))}")
            tally.report(entry.method, uri, status, result, extra)
    finally:
        clean(sock_path)


def run_recorded(sw, path, tally):
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    print(f"== recorded answers in {path}: {len(lines)} requests")
    for rec in lines:
        req, resp = rec["request"], rec["response"]
        headers = {k.lower(): v for k, v in resp["headers"].items()}
        if resp.get("body_base64"):
            body = base64.b64decode(resp["body_base64"])
        else:
            body = (resp.get("body") or "").encode("utf-8")
        result = check_answer(sw, req["method"], req["uri"], resp["status"], headers, body)
        tally.report(req["method"], req["uri"], resp["status"], result, [rec["name"]] if "name" in rec else [])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("swagger", help="moby's api/swagger.yaml (v1.41)")
    ap.add_argument("--socket", help="a daemon's unix socket: send TABLE to it")
    ap.add_argument("--recorded", action="append", default=[], help="JSON lines of recorded exchanges")
    ap.add_argument("--record", metavar="OUT", help="with --socket: write the exchanges to OUT (JSON lines)")
    args = ap.parse_args()
    if not args.socket and not args.recorded:
        ap.error("give --socket, --recorded or both")
    t0 = time.monotonic()
    sw = Swagger(args.swagger)
    if sw.version != API:
        print(f"note: {args.swagger} describes API {sw.version}, not {API}")
    tally = Tally()
    for path in args.recorded:
        run_recorded(sw, path, tally)
    if args.recorded:
        for d in DEVIATIONS:
            if d not in USED:
                print(f"note: allow-list entry {tuple(d)} is not shown by the recorded answers")
    if args.record and not args.socket:
        ap.error("--record needs --socket")
    if args.socket:
        if args.record:
            with open(args.record, "w", encoding="utf-8") as out:
                run_daemon(sw, args.socket, tally, out)
        else:
            run_daemon(sw, args.socket, tally)
    c = tally.counts
    print(f"summary: {c['ok']} ok, {c['FAIL']} FAIL, {c['skip']} skip; "
          f"{tally.allowed} allowed dockerd deviations, {tally.undocumented} error statuses swagger does not list, "
          f"{tally.unexpected} unexpected statuses; {time.monotonic() - t0:.1f}s")
    return 1 if c["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
