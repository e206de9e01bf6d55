#!/usr/bin/env python3
"""record.py: records golden traces of a real dockerd 20.10 talking to recplug.py plugins.

For each case: a fresh sandbox (tests/realdockerd/sandbox.sh, overridable with $SANDBOX),
recplug serving the case's plugins on DIR/run-plugins, then the case's docker CLI commands one by one.
Writes tests/golden/<case>.jsonl.  Needs root (the sandbox does).

    python3 tests/golden/tools/record.py            # every case
    python3 tests/golden/tools/record.py v-cp a-dup  # some cases
    python3 tests/golden/tools/record.py --list

Marks written besides the golden ones: "#boot" (before the sandbox starts: what follows up to "#start" is the
daemon's start-up plus the sandbox's own `docker version`/`image inspect`/`import`), "#restart" (before stopping
dockerd for an in-case restart), "#restarted" (after it is up again), "#stop" (before the final stop).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.dirname(HERE)
SANDBOX = os.environ.get("SANDBOX", os.path.normpath(os.path.join(GOLDEN, "../realdockerd/sandbox.sh")))
WORK = os.environ.get("GOLDEN_WORK", "/tmp/drydock-golden")
# where recplug keeps volume directories (the Mountpoints in the traces); wiped before every case, so two
# recorders running at once must not share it
DATADIR = os.environ.get("GOLDEN_DATADIR", "/srv/plugin-data")
REC_AUTHZ = "rec-authz"

R = "#restart"
BB = "bb:latest"


def case(name, plugins, cmds, authz=None, rec_authz=True, what=""):
    """authz: the case's own --authorization-plugin chain; rec_authz: prepend the allow-all recorder."""
    return {"name": name, "plugins": plugins, "cmds": cmds, "authz": authz or [], "rec_authz": rec_authz,
            "what": what}


CASES = [
    # ---------------------------------------------------------------- volumes
    case("v-named", ["gvol=VolumeDriver"], [
        "docker volume create -d gvol vol",
        "docker volume inspect vol",
        "docker volume ls",
        "docker volume rm vol",
        "docker volume ls -q",
    ], what="named volume create/inspect/ls/rm"),
    case("v-create-opts", ["gvol=VolumeDriver"], [
        "docker volume create -d gvol -o a=b --label l=1 vol",
        "docker volume inspect vol",
        "docker volume ls",
        "docker volume rm vol",
    ], what="create with -o and --label: Opts {a:b}, labels never reach the plugin"),
    case("v-implicit", ["gvol=VolumeDriver"], [
        "docker run --rm -v vol:/d --volume-driver gvol %s true" % BB,
        "docker volume inspect vol",
        "docker volume rm vol",
    ], what="implicit create by run --volume-driver (Opts null), named volume survives --rm"),
    case("v-drive-letter", ["gvol=VolumeDriver"], [
        "docker run --name ctr -v v:/d --volume-driver gvol %s true" % BB,
        "docker inspect -f '{{json .Mounts}}' ctr",
        "docker rm -v ctr",
        "docker volume ls -q",
    ], what="CLI 28 parses the one-letter source of -v v:/d as a Windows drive: an anonymous volume"),
    case("v-copyup", ["gvol=VolumeDriver"], [
        "docker run --rm -v cu:/bin --volume-driver gvol %s true" % BB,
        "ls /srv/plugin-data/vols-gvol/cu | head -3",
        "docker volume rm cu",
    ], what="volume over a non-empty image path: copy-up Mount/Unmount at create with its own ID"),
    case("v-anon-rm", ["gvol=VolumeDriver"], [
        "docker run --rm -v /d --volume-driver gvol %s true" % BB,
        "docker volume ls -q",
    ], what="anonymous volume with run --rm: created, mounted, removed"),
    case("v-anon-rmv", ["gvol=VolumeDriver"], [
        "docker run -v /d --volume-driver gvol --name ctr %s true" % BB,
        "docker volume ls -q",
        "docker rm -v ctr",
        "docker volume ls -q",
    ], what="anonymous volume kept by a stopped container, removed by rm -v"),
    case("v-volumes-from", ["gvol=VolumeDriver"], [
        "docker run --name c1 -v /d --volume-driver gvol %s true" % BB,
        "docker run --rm --volumes-from c1 %s true" % BB,
        "docker rm -fv c1",
        "docker volume ls -q",
    ], what="--volumes-from mounts the same volume with its own ID; rm -fv removes the anonymous volume"),
    case("v-cp", ["gvol=VolumeDriver"], [
        "rm -rf /tmp/x && mkdir -p /tmp/x",
        "docker volume create -d gvol vol",
        "docker run -d --name ctr -v vol:/d %s sleep 30" % BB,
        "docker cp ctr:/d/. /tmp/x",
        "docker cp /etc/hostname ctr:/d/",
        "docker kill ctr",
        "docker cp ctr:/d/hostname /tmp/x/",
        "docker rm ctr",
        "docker volume rm vol",
    ], what="docker cp while running re-mounts with the running ID; kill; cp on a stopped container"),
    case("v-lifecycle", ["gvol=VolumeDriver"], [
        "docker volume create -d gvol vol",
        "docker run -d --name ctr -v vol:/d %s sleep 30" % BB,
        "docker stop -t 1 ctr",
        "docker start ctr",
        "docker restart -t 1 ctr",
        "docker kill ctr",
        "docker start ctr",
        "docker rm -f ctr",
        "docker volume rm vol",
    ], what="stop/start/restart/kill/rm -f of a running container: Mount/Unmount IDs"),
    case("v-in-use", ["gvol=VolumeDriver"], [
        "docker volume create -d gvol vol",
        "docker run -d --name ctr -v vol:/d %s sleep 30" % BB,
        "docker volume rm vol",
        "docker volume rm -f vol",
        "docker rm -f ctr",
        "docker volume rm -f vol",
        "docker volume rm -f vol",
    ], what="volume rm (-f) of an in-use volume; rm -f of a gone name"),
    case("v-unknown", ["gvol=VolumeDriver", "gvol2=VolumeDriver"], [
        "docker volume rm nosuch",
        "docker volume rm -f nosuch",
        "docker volume inspect nosuch",
        "docker run --rm -v unknown:/d %s true" % BB,
        "docker volume ls",
        "docker volume inspect unknown",
        "docker volume rm unknown",
    ], what="unknown names with two volume plugins: probing Gets, then a local volume"),
    case("v-conflict", ["gvol=VolumeDriver"], [
        "docker volume create -d gvol vol",
        "docker volume create -d gvol vol",
        "docker volume create -d gvol -o a=b vol",
        "docker volume create -d local vol",
        "docker volume create vol",
        "docker volume inspect vol",
        "docker volume create -d local vol2",
        "docker volume create -d gvol vol2",
        "docker volume rm vol vol2",
    ], what="create twice, create with other opts, conflicts local<->gvol"),
    case("v-ls-ipam", ["gvol=VolumeDriver", "gvol2=VolumeDriver+IpamDriver"], [
        "docker volume create -d gvol va",
        "docker volume ls",
        "docker volume ls -f driver=gvol",
        "docker volume ls",
        "docker network create --ipam-driver gvol2 n",
        "docker network rm n",
    ], what="volume ls with two plugins; the second also IpamDriver is registered with libnetwork by ls"),
    case("v-mount-err", ["gvol=VolumeDriver,mount_err=invalid argument"], [
        "docker volume create -d gvol vol",
        "docker run --rm -v vol:/d %s true" % BB,
        "docker run --rm -w /d -v vol:/d %s true" % BB,
        "docker run -v vol2:/d --volume-driver gvol --name ctr %s true" % BB,
        "docker rm ctr",
        "docker create --name ctr2 -v vol:/d %s true" % BB,
        "curl -sS -w ' HTTP %{http_code}' --unix-socket ${DOCKER_HOST#unix://} -X POST"
        " http://localhost/v1.41/containers/ctr2/start",
        "docker rm ctr2",
        "docker volume ls",
        "docker volume rm vol vol2",
    ], what="Mount answers 500 text 'invalid argument': run fails, no Unmount; raw API error JSON via curl"),
    case("v-nocaps", ["gvol=VolumeDriver,nocaps"], [
        "docker volume create -d gvol va",
        "docker volume create -d gvol vb",
        "docker volume ls",
        "docker volume inspect va",
        "docker volume ls",
        "docker volume rm va vb",
    ], what="Capabilities answers 404: retried on every scope need (per listed volume)"),
    case("v-restart-running", ["gvol=VolumeDriver"], [
        "docker volume create -d gvol vol",
        "docker volume create -d gvol vol2",
        "docker run -d --name run1 -v vol:/d %s sleep 30" % BB,
        "docker run -d --name always1 --restart always -v vol2:/d %s sleep 30" % BB,
        R,
        "docker ps -a --format '{{.Names}} {{.Status}}'",
        "docker start run1",
        "docker rm -f run1 always1",
        "docker volume rm vol vol2",
    ], what="daemon restart with running containers (one --restart always): shutdown Unmounts, restore Gets"),
    case("v-restart-stopped", ["gvol=VolumeDriver"], [
        "docker volume create -d gvol vol",
        "docker create --name c1 -v vol:/d %s true" % BB,
        "docker run --name c2 -v vol2:/d --volume-driver gvol %s true" % BB,
        R,
        "docker volume ls",
        "docker volume rm vol",
        "docker start -a c1",
        "docker start -a c2",
        "docker rm c1 c2",
        "docker volume rm vol vol2",
    ], what="daemon restart with stopped containers holding volumes: refs restored, then start"),
    case("v-prune-df", ["gvol=VolumeDriver"], [
        "docker volume create -d gvol vol",
        "docker volume create lvol",
        "docker run --rm -v vol:/d %s true" % BB,
        "docker volume prune -f",
        "docker volume prune -af",
        "docker system df",
        "docker volume ls",
        "docker volume rm vol",
    ], what="volume prune (-a) and system df with a plugin volume"),
    # ---------------------------------------------------------------- authz (the case's plugin records the API)
    case("a-allow-basic", ["gauthz=authz"], [
        "docker version --format '{{.Server.Version}}'",
        "docker ps",
        "docker ps -a",
        "docker volume ls",
        "docker volume create xvol",
        "docker volume inspect xvol",
        "docker volume rm xvol",
    ], authz=["gauthz"], rec_authz=False, what="allow-all: API requests of version, ps, volume commands"),
    case("a-allow-containers", ["gauthz=authz"], [
        "docker create --name ctr %s sleep 30" % BB,
        "docker start ctr",
        "docker stop -t 1 ctr",
        "docker wait ctr",
        "docker rm ctr",
        "docker run --rm %s true" % BB,
        "docker run -d --name ctr2 %s true" % BB,
        "docker wait ctr2",
        "docker rm ctr2",
    ], authz=["gauthz"], rec_authz=False, what="allow-all: create/start/stop/wait/rm, run --rm, run -d"),
    case("a-allow-network", ["gauthz=authz"], [
        "docker network create n",
        "docker network ls",
        "docker network inspect n",
        "docker run -d --name ctr %s sleep 30" % BB,
        "docker network connect n ctr",
        "docker network disconnect n ctr",
        "docker rm -f ctr",
        "docker network rm n",
    ], authz=["gauthz"], rec_authz=False, what="allow-all: network create/ls/inspect/connect/disconnect/rm"),
    case("a-deny", ["gauthz=authz,deny_req=/volumes/create,deny_res=/containers/json,deny_res=/volumes/dx"], [
        "docker volume create xvol",
        "docker ps",
        "docker run --rm -v dx:/d %s true" % BB,
        "docker volume ls -q",
        "docker volume rm dx",
        "docker volume ls",
    ], authz=["gauthz"], rec_authz=False,
        what="deny at AuthZReq (volume create) and at AuthZRes (ps; volume rm that already happened)"),
    case("a-err", ["gauthz=authz,err_req=/volumes/create,err_res=/containers/json"], [
        "docker volume create xvol",
        "docker ps",
        "docker volume ls",
    ], authz=["gauthz"], rec_authz=False, what="plugin answers 500 {Err} at AuthZReq / AuthZRes"),
    case("a-errok", ["gauthz=authz,errok_req=/volumes/create,errok_res=/containers/json"], [
        "docker volume create xvol",
        "docker ps",
        "docker volume ls",
    ], authz=["gauthz"], rec_authz=False, what="plugin answers 200 {Allow:false, Err} (no Msg) at Req / Res"),
    case("a-chain", ["a1=authz,err_req=/containers/json", "a2=authz,deny_req=/volumes/create,deny_res=/networks"], [
        "docker version --format '{{.Server.Version}}'",
        "docker volume create xvol",
        "docker ps",
        "docker network ls",
    ], authz=["a1", "a2"], rec_authz=False, what="chain a1,a2: order, deny in a2 (Req and Res), error in a1"),
    case("a-dup", ["a1=authz"], [
        "docker version --format '{{.Server.Version}}'",
        "docker volume ls",
    ], authz=["a1", "a1"], rec_authz=False, what="--authorization-plugin=a1 twice: called once per phase"),
    case("a-missing", ["gvol=VolumeDriver"], [
        "docker version --format '{{.Server.Version}}'",
    ], authz=["nosuch"], rec_authz=False, what="--authorization-plugin naming no plugin: dockerd does not start"),
    # ---------------------------------------------------------------- IPAM (bridge driver, remote IPAM)
    case("i-basic", ["gipam=IpamDriver"], [
        "docker network create --ipam-driver gipam n1",
        "docker network create --ipam-driver gipam --subnet 198.18.9.0/24 --gateway 198.18.9.254 n2",
        "docker run --rm --network n1 %s true" % BB,
        "docker run --rm --network n2 --ip 198.18.9.7 %s true" % BB,
        "docker network rm n1 n2",
    ], what="the s-ipam flow, with the API requests"),
    case("i-options", ["gipam=IpamDriver"], [
        "docker network create --ipam-driver gipam --subnet 10.99.0.0/16 --ip-range 10.99.5.0/24"
        " --aux-address a=10.99.0.5 --ipam-opt k=v n",
        "docker network inspect n",
        "docker run --rm --network n %s true" % BB,
        "docker network rm n",
    ], what="--ip-range (SubPool), --aux-address, --ipam-opt (Options)"),
    case("i-ipv6", ["gipam=IpamDriver"], [
        "docker network create --ipam-driver gipam --ipv6 --subnet fd00:1::/64 n6",
        "docker network create --ipam-driver gipam --ipv6 --subnet 10.98.0.0/24 --subnet fd00:2::/64 n46",
        "docker run --rm --network n46 %s true" % BB,
        "docker network inspect n46",
        "docker network rm n6 n46",
    ], what="--ipv6 with a v6 subnet only, and with v4+v6 subnets"),
    case("i-connect", ["gipam=IpamDriver"], [
        "docker network create --ipam-driver gipam --subnet 198.18.5.0/24 n",
        "docker run -d --name ctr %s sleep 30" % BB,
        "docker network connect n ctr",
        "docker network disconnect n ctr",
        "docker network connect --ip 198.18.5.50 n ctr",
        "docker network disconnect n ctr",
        "docker rm -f ctr",
        "docker network rm n",
    ], what="network connect/disconnect on a running container, with and without --ip"),
    case("i-ip-nosubnet", ["gipam=IpamDriver"], [
        "docker network create --ipam-driver gipam n",
        "docker run --rm --network n --ip 198.18.0.9 %s true" % BB,
        "docker network rm n",
    ], what="--ip on a network without a user subnet: dockerd's error"),
    case("i-two", ["gipam=IpamDriver"], [
        "docker network create --ipam-driver gipam n",
        "docker run -d --name c1 --network n %s sleep 30" % BB,
        "docker run -d --name c2 --network n %s sleep 30" % BB,
        "docker network rm n",
        "docker rm -f c1 c2",
        "docker network rm n",
    ], what="two containers on one network; network rm while attached"),
    case("i-restart", ["gipam=IpamDriver"], [
        "docker network create --ipam-driver gipam n",
        "docker run -d --name ctr --network n --restart always %s sleep 30" % BB,
        R,
        "docker network inspect n --format '{{json .IPAM}} {{json .Containers}}'",
        "docker run --rm --network n %s true" % BB,
        "docker rm -f ctr",
        "docker network rm n",
    ], what="daemon restart with a network and a --restart always container on it"),
    # ---------------------------------------------------------------- remote network driver
    case("n-basic", ["gnet=NetworkDriver"], [
        "docker network create -d gnet n",
        "docker network create -d gnet -o k=v m",
        "docker network ls",
        "docker network inspect m",
        "docker run --rm --network n %s true" % BB,
        "docker run -d --name ctr %s sleep 30" % BB,
        "docker network connect n ctr",
        "docker network disconnect n ctr",
        "docker rm -f ctr",
        "docker network rm n m",
    ], what="remote driver whose Join names a link that does not exist"),
    case("n-veth", ["gnet=NetworkDriver,veth"], [
        "docker network create -d gnet -o k=v n",
        "docker run --rm --network n %s busybox ip addr" % BB,
        "docker run -d --name ctr %s sleep 30" % BB,
        "docker network connect n ctr",
        "docker network disconnect n ctr",
        "docker rm -f ctr",
        "docker network rm n",
    ], what="remote driver that really creates the veth pair: full connect/disconnect flow"),
    case("n-ipam-combo", ["gnet=NetworkDriver+IpamDriver,veth"], [
        "docker network create -d gnet --ipam-driver gnet n",
        "docker network inspect n --format '{{json .IPAM}}'",
        "docker run --rm --network n %s busybox ip addr" % BB,
        "docker network rm n",
    ], what="one plugin as network driver and IPAM driver"),
    case("n-restart", ["gnet=NetworkDriver,veth"], [
        "docker network create -d gnet n",
        "docker run -d --name ctr --network n %s sleep 30" % BB,
        R,
        "docker start ctr",
        "docker rm -f ctr",
        "docker network rm n",
    ], what="daemon restart with a remote-driver network and a container on it"),
]


class Recorder:
    def __init__(self, c):
        self.c = c
        self.dir = os.path.join(WORK, c["name"])
        self.out = os.path.join(GOLDEN, c["name"] + ".jsonl")
        self.env = dict(os.environ, DOCKER_HOST="unix://%s/docker.sock" % self.dir)
        chain = ([REC_AUTHZ] if c["rec_authz"] else []) + c["authz"]
        self.env["DOCKERD_FLAGS"] = " ".join("--authorization-plugin=" + p for p in chain)
        self.netns = "dd" + hashlib.md5(self.dir.encode()).hexdigest()[:8]

    def w(self, obj):
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(obj) + "\n")

    def sandbox(self, cmd):
        p = subprocess.run([SANDBOX, cmd, self.dir], env=self.env, capture_output=True, text=True)
        return p.returncode, (p.stdout + p.stderr).strip()

    def run(self, cmd):
        self.w({"mark": cmd})
        try:
            p = subprocess.run(["bash", "-c", cmd], env=self.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=120)
            rc, out = p.returncode, p.stdout
        except subprocess.TimeoutExpired as e:
            rc, out = 124, (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        self.w({"result": {"rc": rc, "out": out.rstrip()[-400:]}})
        time.sleep(0.2)  # let stray plugin calls of this command land before the next mark

    def start(self, mark_after):
        rc, out = self.sandbox("start")
        if rc != 0:
            self.w({"mark": "#start-failed"})
            try:  # the useful part of dockerd's log: no info lines (containerd is chatty)
                with open(os.path.join(self.dir, "dockerd.log"), encoding="utf-8", errors="replace") as f:
                    log = [ln.rstrip() for ln in f if "level=info" not in ln and "level=debug" not in ln]
            except OSError:
                log = []
            self.w({"result": {"rc": rc, "out": out[-400:], "log": [ln for ln in log if "containerd" not in ln][-8:]}})
            return False
        self.w({"mark": mark_after})
        return True

    def record(self):
        c = self.c
        self.sandbox("stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(DATADIR, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "run-plugins"))
        open(self.out, "w").close()
        specs = list(c["plugins"]) + ([REC_AUTHZ + "=authz"] if c["rec_authz"] else [])
        plug = subprocess.Popen([sys.executable, os.path.join(HERE, "recplug.py"), "--trace", self.out,
                                 "--sockdir", os.path.join(self.dir, "run-plugins"), "--datadir", DATADIR,
                                 "--netns", self.netns] + specs)
        try:
            for s in specs:
                sock = os.path.join(self.dir, "run-plugins", s.split("=")[0] + ".sock")
                for _ in range(50):
                    if os.path.exists(sock):
                        break
                    time.sleep(0.1)
            self.w({"mark": "#boot"})
            if not self.start("#start"):
                return
            for cmd in c["cmds"]:
                if cmd == R:
                    self.w({"mark": R})
                    self.sandbox("stop")
                    if not self.start("#restarted"):
                        return
                else:
                    self.run(cmd)
            time.sleep(0.5)
            self.w({"mark": "#stop"})
        finally:
            self.sandbox("stop")
            self.w({"mark": "#stopped"})
            plug.terminate()
            plug.wait()


def main():
    args = sys.argv[1:]
    if args == ["--list"]:
        for c in CASES:
            print("%-20s %s" % (c["name"], c["what"]))
        return
    names = {c["name"] for c in CASES}
    unknown = [a for a in args if a not in names]
    if unknown:
        sys.exit("unknown case(s): %s" % " ".join(unknown))
    for c in CASES:
        if not args or c["name"] in args:
            t = time.time()
            Recorder(c).record()
            print("%-20s %5.1fs" % (c["name"], time.time() - t), flush=True)


if __name__ == "__main__":
    main()
