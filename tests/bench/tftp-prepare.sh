#!/usr/bin/env bash
# Unpacks the two TFTP servers the tftp benchmark compares against, without
# installing them: tftpd-hpa and atftpd conflict as Debian packages (both
# ship /usr/sbin/in.tftpd), so each is fetched with `apt-get download` and
# unpacked with `dpkg -x` into its own directory. Idempotent.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)/tftp-lockstep.c
cache=${PBXNET_BENCH_CACHE:-/var/cache/pbxnet-bench}
mkdir -p "$cache"
cd "$cache"
fetch() { # package dir binary
  if [ -x "$2/$3" ]; then return; fi
  rm -f "$1"_*.deb
  apt-get download "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$1" >/dev/null; }
  rm -rf "$2"
  dpkg -x "$1"_*.deb "$2"
}
fetch tftpd-hpa tftpd-hpa usr/sbin/in.tftpd
fetch atftpd atftpd usr/sbin/atftpd
# The minimal lock-step reference server (benchmark only, never shipped),
# rebuilt when its source is newer.
if [ ! -x tftp-lockstep ] || [ "$src" -nt tftp-lockstep ]; then
  cc -O2 -Wall -Wextra -Werror -pthread -o tftp-lockstep "$src"
fi
"$cache/tftpd-hpa/usr/sbin/in.tftpd" -V 2>&1 | head -1
"$cache/atftpd/usr/sbin/atftpd" --version 2>&1 | head -1 || true
