#!/usr/bin/env bash
# Proves the Docker image's runtime layout without a Docker engine: builds a minimal Debian
# root with debootstrap, gives it only the compiled binary, a config at
# /etc/parrotrouter/config.yaml and an empty /data, and runs the server there as a non-root
# user, then checks /health, the CLI and a chat completion. Needs root (chroot, mount).
#
#   bash packaging/rootfs-check.sh            # uses ./parrotrouter (built if missing)
#
# The Debian mirror is the one apt on this machine already uses.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOTFS=${ROOTFS:-/tmp/parrotrouter-rootfs}
PORT=${PORT:-18931}
USER_ID=10001

command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
# Always the current source: a stale ./parrotrouter would prove an old layout.
npm run build >/dev/null

mirror=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1)
[ -n "$mirror" ] || { echo "no apt mirror configured" >&2; exit 1; }

if [ ! -x "$ROOTFS/bin/sh" ]; then
  echo "debootstrap (minbase) into $ROOTFS from the configured mirror…"
  debootstrap --variant=minbase bookworm "$ROOTFS" "$mirror" >/tmp/parrotrouter-debootstrap.log 2>&1 || { tail -20 /tmp/parrotrouter-debootstrap.log; exit 1; }
fi

# Exactly what the Dockerfile's final stage provides: the binary, the config, /data.
install -m 0755 ./parrotrouter "$ROOTFS/usr/local/bin/parrotrouter"
mkdir -p "$ROOTFS/etc/parrotrouter" "$ROOTFS/data"
cp packaging/docker-config.yaml "$ROOTFS/etc/parrotrouter/config.yaml"
rm -f "$ROOTFS"/data/parrotrouter.db*
chown -R "$USER_ID:$USER_ID" "$ROOTFS/data"

mountpoint -q "$ROOTFS/proc" || mount -t proc proc "$ROOTFS/proc"
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  # The server runs under chroot in a child of that subshell: stop it by its user too.
  pkill -TERM -u "$USER_ID" -f "parrotrouter serve" 2>/dev/null || true
  sleep 0.3
  wait 2>/dev/null || true
  umount "$ROOTFS/proc" 2>/dev/null || true
}
trap cleanup EXIT

in_root() {
  chroot --userspec="$USER_ID:$USER_ID" "$ROOTFS" /usr/bin/env -i HOME=/data PATH=/usr/local/bin:/usr/bin:/bin \
    PARROTROUTER_CONFIG=/etc/parrotrouter/config.yaml PARROTROUTER_ADMIN_TOKEN=rootfs-admin-token PORT="$PORT" \
    sh -c "cd /data && exec $*"
}

in_root parrotrouter check-config >/dev/null
in_root parrotrouter serve >/tmp/parrotrouter-rootfs.log 2>&1 &
server_pid=$!

for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/health" | grep -q '"ok"'
in_root parrotrouter healthcheck
in_root parrotrouter projects create rootfs --json >/dev/null
key=$(in_root parrotrouter keys create --project rootfs --json | sed -n 's/.*"key": "\(pr-live-[a-z0-9]*\)".*/\1/p')
answer=$(curl -fsS "http://127.0.0.1:$PORT/v1/chat/completions" -H "authorization: Bearer $key" \
  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from a minimal root"}]}')
echo "$answer" | grep -q '"chat.completion"'
[ -f "$ROOTFS/data/parrotrouter.db" ]
[ "$(stat -c %u "$ROOTFS/data/parrotrouter.db")" = "$USER_ID" ]
echo "rootfs check passed: the binary serves from a minimal Debian root as uid $USER_ID with only its config and /data"
