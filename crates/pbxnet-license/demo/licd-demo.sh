#!/bin/sh
# pbxnet-licd demo, no root needed: a throwaway vendor key pair, keys issued on
# the fly for demo serial 000068DA, the validator started on a scratch
# directory, `pbxnet-licd status` before and after a key for another CPU is
# dropped in. Usage: crates/pbxnet-license/demo/licd-demo.sh [BIN_DIR]
# (BIN_DIR defaults to target/debug; build first: cargo build -p pbxnet-license).
set -eu
BIN=$(cd "${1:-target/debug}" && pwd)
D=$(mktemp -d /tmp/pbxnet-licd-demo.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT INT TERM
cd "$D"
mkdir keys
"$BIN/pbxnet-keygen" keypair vendor >/dev/null
cat > main.toml <<'TOML'
serial = "000068DA"
type = "main"
software-major-version = 3
edition = 1
ack-code = "BEEF"
[services]
utl = 120
open-sip-phones = 40
voip-trunk-channels = 60
voice-mail-ports = 4
acd-agents = 10
TOML
cat > cti.toml <<'TOML'
serial = "000068DA"
type = "cti"
software-major-version = 3
edition = 1
[services]
counter2 = 20
csta6-sessions = 2
csta6-monitors = 100
TOML
"$BIN/pbxnet-keygen" issue main.toml -k vendor.key.pem --out-dir keys >/dev/null
"$BIN/pbxnet-keygen" issue cti.toml -k vendor.key.pem --out-dir keys >/dev/null
cat > license.toml <<'TOML'
serial = "000068DA"
software-major-version = 3
key-directory = "keys"
public-key = "vendor.pub.pem"
state-directory = "state"
runtime-directory = "run"
[hardware-limits]
voip-trunk-channels = 32
TOML
echo "== issued keys"; cat keys/000068DA.msl keys/000068DA.csl
echo "== pbxnet-keygen inspect (main)"
"$BIN/pbxnet-keygen" inspect keys/000068DA.msl --public-key vendor.pub.pem | head -6
"$BIN/pbxnet-licd" -c license.toml run 2>licd.log &
PID=$!
# The daemon binds its socket before it answers; give it up to 5 s.
i=0; until "$BIN/pbxnet-licd" -c license.toml status --json >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 50 ] || { cat licd.log; exit 1; }; sleep 0.1; done
echo "== status (valid keys; Try-and-Buy not used yet, so PIMphony Pro/Team show 200)"
"$BIN/pbxnet-licd" -c license.toml status | grep -E 'serial|ALARM|VALID|GRACE|LIMITED|utl |open-sip|voip-trunk|counter2 |csta6-'
echo "== a key for another CPU (0000BEEF) copied over 000068DA.msl"
sed 's/000068DA/0000BEEF/' main.toml > other.toml
"$BIN/pbxnet-keygen" issue other.toml -k vendor.key.pem > keys/.new && mv keys/.new keys/000068DA.msl
i=0; until "$BIN/pbxnet-licd" -c license.toml status --json | grep -q '"wrong-serial"'; do
  i=$((i+1)); [ $i -lt 50 ] || exit 1; sleep 0.1; done
"$BIN/pbxnet-licd" -c license.toml status --json | python3 -c '
import json,sys; s=json.load(sys.stdin); k=s["keys"][0]
print("system-mode:", s["system-mode"]); print("alarm:", s["alarm"])
print(k["file"], k["verdict"], k["state"], "until", k["grace-until"], "levels from", k["granted-from"])'
