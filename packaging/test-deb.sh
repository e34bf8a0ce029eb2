#!/usr/bin/env bash
# `make test-deb`: checks the package built by `make deb`.
#
#  1. lintian reports no error (warnings are printed; justified ones are
#     overridden in packaging/lintian-overrides);
#  2. the package installs into a scratch root with
#     `dpkg --root=DIR --force-script-chrootless`: dpkg runs the maintainer
#     scripts on this machine with DPKG_ROOT=DIR, and they touch only DIR
#     (sysusers/tmpfiles --root, systemctl --root). Nothing is installed
#     into, enabled in or started on the real root;
#  3. the user, directories, modes, conffiles, docs, man pages (sections 1,
#     5 and 8) and the enablement
#     policy (tftpd + licd + target enabled; dhcpd and ntpd NOT enabled) are
#     as documented;
#  4. each daemon's `check` runs on the installed example configuration,
#     chrooted into DIR (the host's libc copied in, nothing else), so that
#     the absolute paths in the files (/etc/pbxnet/...) are the installed
#     ones; pbxnet-licd's check first fails without the vendor public key,
#     then (the chroot has no /sys, like hardware without DMI) fails naming
#     the missing machine identity; with serial = "machine-id" it fails
#     while no keys are installed (limited mode), and passes once Main and
#     CTI keys for the serial `pbxnet-licd serial` prints, issued by the
#     installed pbxnet-keygen with a throwaway vendor key pair, are in the
#     key directory (what an installer does with the real keys);
#  5. purge removes the state directory and the conffiles.
# Needs root (chroot, chown). Prints "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED test-deb: needs root (dpkg --root, chroot)"
  exit 0
fi

deb=$(ls -1t target/debian/pbxnet_*.deb 2>/dev/null | head -n 1 || true)
[ -n "$deb" ] || { echo "no target/debian/pbxnet_*.deb: run make deb first" >&2; exit 1; }
echo "== $deb"

passed=0
failed=0
ok()   { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

echo "== lintian"
if ! command -v lintian >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian >/dev/null
fi
lintian_out=$(lintian --fail-on error "$deb" 2>&1) && lintian_rc=0 || lintian_rc=$?
echo "$lintian_out" | grep -v '^running with root privileges' || true
check "lintian reports no error" test "$lintian_rc" -eq 0

root=$(mktemp -d /tmp/pbxnet-deb-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
touch "$root/var/lib/dpkg/status"

echo "== dpkg --root $root -i"
dpkg_root() {
  dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null "$@"
}
check "package installs into a scratch root" dpkg_root -i "$deb"

uid=$(awk -F: '$1 == "pbxnet" { print $3 }' "$root/etc/passwd" 2>/dev/null || true)
check "postinst created the pbxnet user" test -n "$uid"
check "pbxnet user has no login shell" grep -q '^pbxnet:.*:/usr/sbin/nologin$' "$root/etc/passwd"
check "/var/lib/pbxnet is owned by pbxnet, mode 750" \
  test "$(stat -c '%u %a' "$root/var/lib/pbxnet")" = "$uid 750"
check "/etc/pbxnet/licenses exists" test -d "$root/etc/pbxnet/licenses"
check "ntp.keys is pbxnet's, mode 600" \
  test "$(stat -c '%u %a' "$root/etc/pbxnet/ntp.keys")" = "$uid 600"
for b in usr/sbin/pbxnet-dhcpd usr/sbin/pbxnet-tftpd usr/sbin/pbxnet-ntpd usr/sbin/pbxnet-licd usr/bin/pbxnet-keygen \
         usr/sbin/pbxnet-admind usr/bin/pbxnetctl; do
  check "$b installed, executable" test -x "$root/$b"
done
for u in pbxnet.target pbxnet-dhcpd.service pbxnet-tftpd.service pbxnet-ntpd.service pbxnet-licd.service \
         pbxnet-admind.service; do
  check "unit $u installed" test -f "$root/usr/lib/systemd/system/$u"
done

conffiles=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}\n' pbxnet)
for f in site.toml dhcp.toml tftp.toml ntp.toml license.toml admin.toml ntp.keys; do
  check "/etc/pbxnet/$f is a conffile" grep -q "/etc/pbxnet/$f " <<<"$conffiles"
done

# The operator documentation: the guides and one page per daemon (the pages
# the man pages and README point to).
for d in README.md installer-guide.md configuration.md config-reference.md operations.md \
         troubleshooting.md dhcp.md tftp.md ntpd.md pbxnet-licd.md license-keys.md api.md; do
  check "/usr/share/doc/pbxnet/$d installed" test -s "$root/usr/share/doc/pbxnet/$d"
done

# Every man page pbxnet-xtask renders is installed (the daemons' and tools'
# from their clap definitions, the configuration files' in section 5); binaries without one are
# listed (their crate does not expose its clap Command yet).
man_list=$(mktemp -d)
cargo run -q -p pbxnet-xtask -- man --packaged "$man_list" 2>"$man_list.missing" >/dev/null
for page in "$man_list"/*; do
  [ -f "$page" ] || continue
  name=$(basename "$page"); section=${name##*.}
  check "man page $name installed" test -f "$root/usr/share/man/man$section/$name.gz"
done
while read -r line; do [ -n "$line" ] && echo "WARNING: $line"; done <"$man_list.missing"
rm -rf "$man_list" "$man_list.missing"

wants=$root/etc/systemd/system/pbxnet.target.wants
check "pbxnet.target enabled (multi-user.target wants it)" test -L "$root/etc/systemd/system/multi-user.target.wants/pbxnet.target"
check "pbxnet-tftpd enabled" test -L "$wants/pbxnet-tftpd.service"
check "pbxnet-licd enabled" test -L "$wants/pbxnet-licd.service"
check "pbxnet-admind enabled (localhost, tokens only)" test -L "$wants/pbxnet-admind.service"
check "pbxnet-dhcpd NOT enabled (no DHCP on an unknown network)" test ! -e "$wants/pbxnet-dhcpd.service"
check "pbxnet-ntpd NOT enabled (port 123 and the clock)" test ! -e "$wants/pbxnet-ntpd.service"

echo "== check on the installed configuration (chroot $root)"
# The daemons are dynamically linked against libc only: copy the host's
# loader and libraries in.
for b in "$root"/usr/sbin/pbxnet-* "$root"/usr/bin/pbxnet-keygen; do
  ldd "$b" | grep -oE '/[^ ]+' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -n "$lib" "$root$lib"
  done
done
in_root() { chroot "$root" "$@"; }
for d in dhcpd tftpd ntpd admind; do
  check "pbxnet-$d check on /etc/pbxnet" in_root /usr/sbin/pbxnet-$d check --config /etc/pbxnet
done
check "pbxnet-licd check fails without the vendor public key" \
  bash -c "! chroot '$root' /usr/sbin/pbxnet-licd check --config /etc/pbxnet >/dev/null 2>&1"
mkdir -p "$root/root"
in_root /usr/bin/pbxnet-keygen keypair /root/vendor >/dev/null
cp "$root/root/vendor.pub.pem" "$root/etc/pbxnet/license-vendor.pub.pem"
# The serial is the machine's (DMI, read from /sys). The chroot has no /sys,
# as hardware without DMI has none: check must say so and name the remedy...
licd_out=$(chroot "$root" /usr/sbin/pbxnet-licd check --config /etc/pbxnet 2>&1) && licd_rc=0 || licd_rc=$?
names_the_identity() {
  [ "$licd_rc" -ne 0 ] && grep -q 'no machine identity' <<<"$licd_out" &&
    grep -q 'serial = "machine-id"' <<<"$licd_out"
}
check "pbxnet-licd check fails without a machine identity, naming it" names_the_identity
# ...and then passes after the documented installer step for such hardware
# (serial = "machine-id", the first 8 hex digits of /etc/machine-id).
printf '%s\n' "$(cat /etc/machine-id 2>/dev/null || echo 0123456789abcdef0123456789abcdef)" > "$root/etc/machine-id"
sed -i 's/^# serial = "machine"$/serial = "machine-id"/' "$root/etc/pbxnet/license.toml"
check "license.toml: serial = \"machine-id\" set" grep -q '^serial = "machine-id"$' "$root/etc/pbxnet/license.toml"
# No keys yet: the system would be limited, and check says so (exit 1).
check "pbxnet-licd check fails while no keys are installed" \
  bash -c "! chroot '$root' /usr/sbin/pbxnet-licd check --config /etc/pbxnet >/dev/null 2>&1"
# The installer orders keys for the serial `pbxnet-licd serial` prints and
# drops them in; here the throwaway vendor key plays the vendor.
serial=$(in_root /usr/sbin/pbxnet-licd serial --config /etc/pbxnet)
check "pbxnet-licd serial prints 8 hex digits" grep -qE '^[0-9A-F]{8}$' <<<"$serial"
for kind in main cti; do
  printf 'serial = "%s"\ntype = "%s"\nsoftware-major-version = 3\nedition = 1\nack-code = "BEEF"\n' \
    "$serial" "$kind" > "$root/root/order-$kind.toml"
  [ "$kind" = main ] && printf '[services]\nutl = 20\n' >> "$root/root/order-$kind.toml"
  check "pbxnet-keygen issues the $kind key for $serial" \
    in_root /usr/bin/pbxnet-keygen issue /root/order-$kind.toml -k /root/vendor.key.pem --out-dir /etc/pbxnet/licenses
done
check "pbxnet-licd check passes once both keys for this machine are installed" \
  in_root /usr/sbin/pbxnet-licd check --config /etc/pbxnet

echo "== dpkg --root $root --purge"
check "package purges" dpkg_root --purge pbxnet
check "purge removed /var/lib/pbxnet" test ! -e "$root/var/lib/pbxnet"
check "purge removed the conffiles" test ! -e "$root/etc/pbxnet/dhcp.toml"
check "purge removed the units" test ! -e "$root/usr/lib/systemd/system/pbxnet-dhcpd.service"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
