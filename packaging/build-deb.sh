#!/usr/bin/env bash
# `make deb`: builds target/debian/pbxnet_<version>-1_<arch>.deb with cargo-deb.
#
# 1. release build of the daemon crates' binaries (the four daemons,
#    pbxnet-admind and pbxnetctl);
# 2. stages under target/pbxnet-deb/root/ every non-binary file exactly where
#    it is installed: units, the example site from etc/ (git-tracked files
#    only, so a local scratch file never ships), man pages rendered from the
#    clap definitions (pbxnet-xtask man), docs, sysusers/tmpfiles/sysctl;
# 3. cargo deb --no-build on crates/pbxnet-xtask, which holds the metadata.
# cargo-deb is installed from crates.io when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
CARGO=${CARGO:-cargo}
CARGO_DEB_VERSION=3.8.0

if ! $CARGO deb --version >/dev/null 2>&1; then
  echo "== installing cargo-deb $CARGO_DEB_VERSION (crates.io)"
  $CARGO install cargo-deb --version "$CARGO_DEB_VERSION" --locked
fi

echo "== release build"
$CARGO build --release -p pbxnet-dhcp -p pbxnet-tftp -p pbxnet-ntp -p pbxnet-license -p pbxnet-admin --bins

stage=target/pbxnet-deb
rm -rf "$stage"
root=$stage/root
mkdir -p "$root"/usr/lib/systemd/system "$root"/etc/pbxnet "$root"/usr/share/doc/pbxnet \
  "$root"/usr/lib/sysusers.d "$root"/usr/lib/tmpfiles.d "$root"/usr/lib/sysctl.d

echo "== staging"
install -m 644 systemd/pbxnet.target systemd/pbxnet-*.service "$root"/usr/lib/systemd/system/
install -m 644 packaging/sysusers.conf "$root"/usr/lib/sysusers.d/pbxnet.conf
install -m 644 packaging/tmpfiles.conf "$root"/usr/lib/tmpfiles.d/pbxnet.conf
install -m 644 packaging/sysctl.conf "$root"/usr/lib/sysctl.d/60-pbxnet.conf
mkdir -p "$root"/usr/share/lintian/overrides
install -m 644 packaging/lintian-overrides "$root"/usr/share/lintian/overrides/pbxnet

# The example site: tracked files only.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t etc_files < <(git ls-files etc)
else
  mapfile -t etc_files < <(find etc -type f | sort)
fi
for f in "${etc_files[@]}"; do
  dest="$root/etc/pbxnet/${f#etc/}"
  mkdir -p "$(dirname "$dest")"
  install -m 644 "$f" "$dest"
done
# Secret: the daemon refuses a key file other users can read (postinst
# gives it to the pbxnet user on first installation).
[ -f "$root/etc/pbxnet/ntp.keys" ] && chmod 600 "$root/etc/pbxnet/ntp.keys"

# Operator documentation: one page per daemon and the guides. A page
# missing here stops the build (a renamed page was once skipped silently:
# the package shipped no NTP page because the list said ntp.md).
for d in README.md docs/installer-guide.md docs/configuration.md docs/config-reference.md \
         docs/operations.md docs/troubleshooting.md docs/dhcp.md docs/tftp.md docs/ntpd.md \
         docs/pbxnet-licd.md docs/license-keys.md docs/api.md; do
  install -m 644 "$d" "$root/usr/share/doc/pbxnet/"
done

echo "== man pages (clap_mangen)"
man_tmp=$stage/man
$CARGO run -q -p pbxnet-xtask -- man --packaged "$man_tmp" >/dev/null
for page in "$man_tmp"/*; do
  [ -f "$page" ] || continue
  section=${page##*.}
  mkdir -p "$root/usr/share/man/man$section"
  gzip -9n -c "$page" > "$root/usr/share/man/man$section/$(basename "$page").gz"
  chmod 644 "$root/usr/share/man/man$section/$(basename "$page").gz"
done

echo "== cargo deb"
$CARGO deb -p pbxnet-xtask --no-build --strip "$@"
ls -1 target/debian/pbxnet_*.deb
