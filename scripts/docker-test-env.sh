#!/usr/bin/env bash
# A Docker Engine and a local test image for the agent's container runtime tests
# (agent/tests/docker.rs). Idempotent: each step is skipped when already done.
#
#   scripts/docker-test-env.sh          as root (CI runs it from .ci/run)
#
# 1. installs Debian's docker.io and busybox-static when dockerd or a static busybox is missing;
# 2. starts dockerd in the background when `docker info` does not answer, and waits for it
#    (log: $REMOTEGPU_DOCKERD_LOG, default /var/log/remotegpu-dockerd.log). Flags are tried in
#    order until one set starts: the defaults (overlay2, iptables, userland proxy), then the
#    vfs storage driver, then vfs without iptables. The userland proxy (docker-proxy) is what
#    makes a port published on 127.0.0.1 reachable from the host itself;
# 3. imports $REMOTEGPU_TEST_IMAGE (default remotegpu-test/busybox:latest) when absent: a
#    rootfs holding only /bin/busybox and its applet links, with `busybox httpd` serving /www
#    on port 8888 in the foreground as its command. No image registry is needed.
set -euo pipefail

IMAGE="${REMOTEGPU_TEST_IMAGE:-remotegpu-test/busybox:latest}"
LOG="${REMOTEGPU_DOCKERD_LOG:-/var/log/remotegpu-dockerd.log}"
SOCKET=/var/run/docker.sock

say() { printf 'docker-test-env: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    if docker info >/dev/null 2>&1 && docker image inspect "$IMAGE" >/dev/null 2>&1; then
        say "dockerd is running and $IMAGE exists; nothing to do"
        exit 0
    fi
    say "must run as root to install packages, start dockerd or import the image" >&2
    exit 1
fi

# 1. Packages.
if ! command -v dockerd >/dev/null 2>&1 || ! dpkg -s busybox-static >/dev/null 2>&1; then
    say "installing docker.io and busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends docker.io busybox-static
fi

# 2. dockerd.
wait_for_docker() { # pid seconds: 0 once `docker info` answers, 1 if dockerd exited or time ran out
    local pid=$1 seconds=$2
    for _ in $(seq 1 "$seconds"); do
        docker info >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 1
    done
    return 1
}

if docker info >/dev/null 2>&1; then
    say "dockerd is already running"
else
    started=""
    for flags in \
        "--userland-proxy=true" \
        "--userland-proxy=true --storage-driver=vfs" \
        "--userland-proxy=true --storage-driver=vfs --iptables=false --ip-masq=false"; do
        say "starting dockerd $flags (log: $LOG)"
        # shellcheck disable=SC2086 # the flags are meant to split
        setsid dockerd --host "unix://$SOCKET" $flags >>"$LOG" 2>&1 </dev/null &
        pid=$!
        if wait_for_docker "$pid" 60; then
            started="$flags"
            break
        fi
        say "dockerd did not come up with $flags; last log lines:"
        tail -n 5 "$LOG" | sed 's/^/    /'
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -z "$started" ]; then
        say "could not start dockerd (see $LOG)" >&2
        exit 1
    fi
    say "dockerd is up ($started)"
fi

# 3. The test image.
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "$IMAGE is present"
else
    say "importing $IMAGE"
    root="$(mktemp -d)"
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/bin" "$root/www" "$root/tmp"
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for applet in sh cat echo env ls mkdir nc ps sleep httpd wget; do
        ln -s busybox "$root/bin/$applet"
    done
    echo "remotegpu test image" >"$root/www/index.html"
    tar -C "$root" -c . | docker import \
        --change 'ENV PATH=/bin' \
        --change 'WORKDIR /' \
        --change 'CMD ["/bin/busybox", "httpd", "-f", "-p", "8888", "-h", "/www"]' \
        - "$IMAGE" >/dev/null
    say "$IMAGE imported"
fi
