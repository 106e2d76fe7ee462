#!/usr/bin/env bash
# Provision an Asterisk 22 for ivr's demo, tests and benchmarks.
#
# Prints, on its last line of stdout, the root under which asterisk runs:
#   "/"            when a system asterisk (>= 20) is installed, or
#   "<cache>/asterisk-sid"  a Debian sid chroot built with debootstrap (bookworm has no asterisk).
# The chroot is cached: a trimmed zstd tarball in $IVR_CACHE (default ~/.cache/ivr) is unpacked
# when the directory is missing; it is built only when neither exists. Idempotent; safe to rerun.
set -euo pipefail

cache="${IVR_CACHE:-$HOME/.cache/ivr}"
root="$cache/asterisk-sid"
tarball="$cache/asterisk-sid.tar.zst"
mkdir -p "$cache"
log() { echo "provision-asterisk: $*" >&2; }

if command -v asterisk >/dev/null 2>&1 && [ -z "${IVR_FORCE_CHROOT:-}" ]; then
  if asterisk -V 2>/dev/null | grep -qE 'Asterisk (2[0-9]|[3-9][0-9])'; then
    log "using system $(asterisk -V)"; echo /; exit 0
  fi
fi

if [ -x "$root/usr/sbin/asterisk" ]; then
  echo "$root"; exit 0
fi

# Serialise concurrent provisioning (tests, demo and bench may start together).
exec 9>"$cache/.provision.lock"
flock 9
if [ -x "$root/usr/sbin/asterisk" ]; then echo "$root"; exit 0; fi

need() { command -v "$1" >/dev/null 2>&1 || { log "installing $2"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2 || { apt-get update -qq >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2; }; }; }
need zstd zstd

if [ -f "$tarball" ]; then
  log "unpacking cached chroot $tarball"
  rm -rf "$root.tmp"; mkdir -p "$root.tmp"
  tar -C "$root.tmp" --zstd -xf "$tarball"
  mv "$root.tmp" "$root"
  echo "$root"; exit 0
fi

need debootstrap debootstrap
mirror="${IVR_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror=$(grep -rhoE '^(URIs:|deb)\s+\S+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
             | awk '{print $2}' | grep -E 'debian/?$' | grep -v security | head -1 || true)
fi
mirror="${mirror:-http://deb.debian.org/debian}"
log "building Debian sid chroot with asterisk from $mirror (about a minute)"
rm -rf "$root.tmp"
debootstrap --variant=minbase --include=asterisk,asterisk-modules,asterisk-core-sounds-en \
  sid "$root.tmp" "$mirror" >&2
# Trim what a PBX in a chroot never reads.
rm -rf "$root.tmp"/var/lib/apt/lists/* "$root.tmp"/var/cache/apt/archives/*.deb \
       "$root.tmp"/usr/share/doc/* "$root.tmp"/usr/share/man/* "$root.tmp"/usr/share/locale/*
tar -C "$root.tmp" --zstd -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
mv "$root.tmp" "$root"
log "chroot ready at $root ($(du -sh "$tarball" | cut -f1) cached)"
echo "$root"
