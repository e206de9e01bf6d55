#!/usr/bin/env bash
# sandbox.sh: a throw-away real dockerd (Debian's docker.io, 20.10) that sees
# only the plugins we give it. drydock's conformance suite and the reference
# plugin checks run against it. Needs root.
#
#   sandbox.sh check          exit 0 if a sandbox can run here; else print why (one line) and exit 1
#   sandbox.sh install        install docker.io + busybox-static when missing (once, before parallel starts)
#   sandbox.sh start DIR      install docker.io + busybox-static when missing, then start a dockerd
#                             keeping all its state in DIR; prints DOCKER_HOST=unix://DIR/docker.sock
#   sandbox.sh stop DIR       stop that dockerd and remove its network namespace (idempotent)
#   sandbox.sh netns DIR      print the name of DIR's network namespace (for `ip netns exec`)
#
# Isolation: dockerd runs in its own network namespace (named after DIR, so
# plugins that must create interfaces next to it can enter it) and its own
# mount namespace, where the three plugin directories dockerd searches are
# bind mounts of DIR's:
#     /run/docker/plugins     <- DIR/run-plugins   (sockets)
#     /etc/docker/plugins     <- DIR/etc-plugins   (.spec / .json)
#     /usr/lib/docker/plugins <- DIR/lib-plugins
# so any number of sandboxes run side by side without seeing each other's
# plugins, bridges or the host's own. No iptables rules are written.
#
# DOCKERD_FLAGS adds flags (e.g. --authorization-plugin=NAME). Every sandbox
# has the image bb:latest: busybox with a few applets, imported from the
# host's busybox-static (no registry access needed).
set -euo pipefail

die() { echo "sandbox.sh: $*" >&2; exit 1; }

netns_of() { printf 'dd%s' "$(printf %s "$1" | md5sum | cut -c1-10)"; }

# Prints why a sandbox cannot run here, or nothing.
why_not() {
  [ "$(id -u)" = 0 ] || { echo "not root"; return; }
  command -v unshare >/dev/null && command -v nsenter >/dev/null || { echo "no unshare/nsenter (util-linux)"; return; }
  command -v ip >/dev/null || { echo "no ip (iproute2)"; return; }
  if ! command -v dockerd >/dev/null || ! [ -x /bin/busybox ]; then
    command -v apt-get >/dev/null || { echo "docker.io is not installed and there is no apt-get"; return; }
  fi
  local probe
  probe="sbxprobe$$"
  ip netns add "$probe" 2>/dev/null || { echo "cannot create a network namespace"; return; }
  ip netns del "$probe" 2>/dev/null || true
}

install_missing() {
  command -v dockerd >/dev/null && [ -x /bin/busybox ] && return
  echo "sandbox.sh: installing docker.io and busybox-static" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io busybox-static >/dev/null
}

# Imports bb:latest from the host's static busybox.
import_image() {
  docker image inspect bb:latest >/dev/null 2>&1 && { touch "$1/bb-imported"; return; }
  local root="$1/image-root"
  rm -rf "$root"; mkdir -p "$root/bin"
  cp /bin/busybox "$root/bin/busybox"
  local applet
  for applet in sh ls cat echo mkdir touch sleep true false; do ln -s busybox "$root/bin/$applet"; done
  tar -C "$root" -c . | docker import - bb:latest >/dev/null
  rm -rf "$root"
  touch "$1/bb-imported"
}

# Starts dockerd for DIR and waits until it answers.
launch() {
  local dir=$1 ns
  ns=$(netns_of "$dir")
  mkdir -p "$dir/run-plugins" "$dir/etc-plugins" "$dir/lib-plugins" \
    /run/docker/plugins /etc/docker/plugins /usr/lib/docker/plugins
  ip netns add "$ns" 2>/dev/null || true
  ip netns exec "$ns" ip link set lo up
  # `ip netns exec` would remount /sys and hide the cgroup hierarchy from
  # dockerd, hence nsenter for the network and unshare for a private mount
  # namespace in which the plugin directories are replaced.
  # shellcheck disable=SC2086
  nsenter --net="/run/netns/$ns" unshare --mount --propagation private sh -c '
      d=$1; shift
      mount --bind "$d/run-plugins" /run/docker/plugins &&
      mount --bind "$d/etc-plugins" /etc/docker/plugins &&
      mount --bind "$d/lib-plugins" /usr/lib/docker/plugins &&
      exec dockerd "$@"' sandbox "$dir" \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    -H "unix://$dir/docker.sock" --iptables=false --ip6tables=false --storage-driver=vfs \
    ${DOCKERD_FLAGS:-} >>"$dir/dockerd.log" 2>&1 &
  export DOCKER_HOST="unix://$dir/docker.sock"
  local i
  for i in $(seq 80); do
    answers && break
    sleep 0.25
  done
  answers || { tail -n 20 "$dir/dockerd.log" >&2; die "$dir: dockerd did not come up (log: $dir/dockerd.log)"; }
}

# Whether the daemon at $DOCKER_HOST answers (an authorization plugin may
# deny `docker version`: a denial is an answer too).
answers() {
  local out
  out=$(docker version --format '{{.Server.Version}}' 2>&1) && return
  case $out in *"Error response from daemon"*) return 0 ;; esac
  return 1
}

start() {
  local dir=$1 reason
  reason=$(why_not)
  [ -z "$reason" ] || die "cannot start a sandbox: $reason"
  install_missing
  [ -f "$dir/docker.pid" ] && kill -0 "$(cat "$dir/docker.pid")" 2>/dev/null && die "$dir: a dockerd is already running"
  if [ -z "${DOCKERD_FLAGS:-}" ]; then
    launch "$dir"
    import_image "$dir"
  else
    # The flags may put an authorization plugin in front of the import (and
    # its requests would show in the plugin's trace): import the image on a
    # plain daemon first, once.
    if ! [ -f "$dir/bb-imported" ]; then
      DOCKERD_FLAGS="" launch "$dir"
      import_image "$dir"
      stop "$dir"
    fi
    launch "$dir"
  fi
  echo "DOCKER_HOST=$DOCKER_HOST"
}

stop() {
  local dir=$1 pid i
  if [ -f "$dir/docker.pid" ]; then
    pid=$(cat "$dir/docker.pid")
    if kill "$pid" 2>/dev/null; then
      for i in $(seq 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/docker.pid"
  fi
  ip netns del "$(netns_of "$dir")" 2>/dev/null || true
}

cmd=${1:-}
case $cmd in
install)
  reason=$(why_not)
  [ -z "$reason" ] || die "$reason"
  install_missing
  ;;
check)
  reason=$(why_not)
  [ -z "$reason" ] || { echo "$reason"; exit 1; }
  ;;
start | stop | netns)
  [ -n "${2:-}" ] || die "usage: $0 $cmd DIR"
  mkdir -p "$2"
  dir=$(cd "$2" && pwd)
  case $cmd in
  start) start "$dir" ;;
  stop) stop "$dir" ;;
  netns) netns_of "$dir"; echo ;;
  esac
  ;;
*) die "usage: $0 check | install | start DIR | stop DIR | netns DIR" ;;
esac
