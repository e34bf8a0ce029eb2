#!/usr/bin/env bash
# Unpacks the two TFTP servers the tftp benchmark compares against, without
# installing them: tftpd-hpa and atftpd conflict as Debian packages (both
# ship /usr/sbin/in.tftpd), so each is fetched with `apt-get download` and
# unpacked with `dpkg -x` into its own directory; the libraries they link
# (libwrap0) are installed from their Depends. Idempotent. Root.
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
# The unpacked servers' own dependencies (tftpd-hpa and atftpd need
# libwrap0, which nothing else installs): every first alternative of each
# package's Depends that is not installed, installed with apt (they do not
# conflict; only the two servers do).
need_libs() { # dir binary
  ldd "$1/$2" 2>/dev/null | grep -q 'not found'
}
install_depends() { # package dir binary
  need_libs "$2" "$3" || return 0
  [ -f "$(ls "$1"_*.deb 2>/dev/null | head -1)" ] || apt-get download "$1" >/dev/null
  missing=()
  for d in $(dpkg-deb -f "$(ls "$1"_*.deb | head -1)" Depends | tr ',' '\n' |
             sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/ //g'); do
    dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" || missing+=("$d")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
    echo "installed for $1: ${missing[*]}"
  fi
  if need_libs "$2" "$3"; then
    echo "tftp-prepare: $2/$3 still misses libraries:" >&2
    ldd "$2/$3" | grep 'not found' >&2
    exit 1
  fi
}
fetch tftpd-hpa tftpd-hpa usr/sbin/in.tftpd
fetch atftpd atftpd usr/sbin/atftpd
install_depends tftpd-hpa tftpd-hpa usr/sbin/in.tftpd
install_depends atftpd atftpd usr/sbin/atftpd
# The minimal lock-step reference server (benchmark only, never shipped),
# rebuilt when its source is newer.
if [ ! -x tftp-lockstep ] || [ "$src" -nt tftp-lockstep ]; then
  cc -O2 -Wall -Wextra -Werror -pthread -o tftp-lockstep "$src"
fi
"$cache/tftpd-hpa/usr/sbin/in.tftpd" -V 2>&1 | head -1
"$cache/atftpd/usr/sbin/atftpd" --version 2>&1 | head -1 || true
