#!/usr/bin/env bash
# Installs the Debian packages the tests, the demo and the benchmarks need:
# the real peers every daemon is tested against, and the lab tools.
# Idempotent and quick when everything is already there.
#
# The TFTP anchors tftpd-hpa and atftpd conflict as Debian packages (both ship
# /usr/sbin/in.tftpd), so neither is installed here: the benchmarks unpack
# both side by side with tests/bench/tftp-prepare.sh.
set -euo pipefail

packages=(
  iproute2 iputils-ping util-linux procps         # namespace lab
  isc-dhcp-client udhcpc dhcpcd-base kea-admin    # DHCP clients, perfdhcp
  kea-dhcp4-server                                # DHCP anchor (benchmarks)
  chrony ntpsec-ntpdig                            # NTP peers and anchor
  tftp-hpa atftp busybox curl                     # TFTP clients
  wget openssl                                    # HTTP(S) peers: wget, s_client, the lab's CA and client certificates
  nginx-light                                     # HTTP(S) anchor (bench-http); policy-rc.d keeps it stopped
  sqlite3 tcpdump
  chromium chromium-driver                        # web view browser test (pbxnet-admin-web tests/browser.rs)
  postgresql-15                                   # PostgreSQL lease store tests: a scratch cluster each (initdb, pg_ctl)
  libtss2-dev pkg-config swtpm swtpm-tools         # licd TPM anchor: tss-esapi build, software TPM for its test
  systemd strace                                  # systemd-analyze, syscall audit: unit checks (pbxnet-xtask tests)
  prometheus                                      # promtool check metrics, and the Prometheus that scrapes the lab (metrics tests)
  groff-base man-db                               # man pages render without warnings, whatis entries (pbxnet-xtask tests)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})" >&2
  exit 1
fi
# Packages such as chrony, kea and tftpd-hpa ship services: keep apt from
# starting them (the tests start their own, in namespaces).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
