#!/usr/bin/env bash
# The installed system integration files, as a package would ship them:
# installs this build into a temporary DESTDIR, then
#   - systemd-analyze verify accepts the installed units (ExecStart included),
#   - systemd-analyze security --offline=true scores the installed unit 3.0 or lower,
#   - systemd-sysusers creates the users and groups of the installed sysusers.d file,
#   - systemd-tmpfiles creates the settings directory 0700 for the tether user.
# Everything happens inside the temporary root: nothing on this machine changes.
# Usage: check-installed-units.sh MESON BUILD_DIR (TAP on standard output)
set -uo pipefail

meson=$1
builddir=$2
root=$(mktemp -d "${TMPDIR:-/tmp}/tether-installed-XXXXXX")
trap 'rm -rf "$root"' EXIT

n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n $1"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n $1"
}
skip() {
	n=$((n + 1))
	echo "ok $n $1 # SKIP $2"
}
note() {
	sed 's/^/# /'
}

echo "1..5"

if ! "$meson" install -C "$builddir" --destdir "$root" --no-rebuild --quiet 2>&1 | note; then
	not_ok "meson install into a DESTDIR"
	exit 1
fi
unit=$(find "$root" -path '*/systemd/system/tetherd.service' -print -quit)
activation=$(find "$root" -path '*/dbus-1/system-services/org.tether.Tether1.service' -print -quit)
if [ -n "$unit" ] && [ -n "$activation" ]; then
	ok "installed: ${unit#"$root"}, ${activation#"$root"}"
else
	not_ok "installed: tetherd.service and the D-Bus activation file"
	exit 1
fi

# systemd-analyze resolves the unit's dependencies (sysinit.target, ...) under
# the root: give it this machine's own units there
mkdir -p "$root/usr/lib/systemd" "$root/etc"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"

# a warning (an unknown key, a bad value) is a failure too
out=$(systemd-analyze verify --man=no --root="$root" tetherd.service 2>&1)
status=$?
echo "$out" | note
if [ "$status" -eq 0 ] && [ -z "$out" ]; then
	ok "systemd-analyze verify accepts the installed tetherd.service"
else
	not_ok "systemd-analyze verify accepts the installed tetherd.service"
fi

# the threshold is the exposure times ten: 30 is 3.0
out=$(systemd-analyze security --offline=true --root="$root" --threshold=30 tetherd.service 2>&1)
status=$?
echo "$out" | grep 'Overall exposure' | note
if [ "$status" -eq 0 ]; then
	ok "systemd-analyze security scores the installed unit 3.0 or lower"
else
	echo "$out" | note
	not_ok "systemd-analyze security scores the installed unit 3.0 or lower"
fi

out=$(systemd-sysusers --root="$root" 2>&1)
status=$?
echo "$out" | note
if [ "$status" -eq 0 ] && grep -q '^tether:' "$root/etc/passwd" &&
	grep -q '^tether-publish:' "$root/etc/group"; then
	ok "systemd-sysusers creates the tether user and the tether-publish group"
else
	not_ok "systemd-sysusers creates the tether user and the tether-publish group"
fi

if [ "$(id -u)" -ne 0 ]; then
	skip "systemd-tmpfiles creates the settings directory" "needs root to chown"
else
	out=$(systemd-tmpfiles --root="$root" --create 2>&1)
	status=$?
	echo "$out" | note
	uid=$(awk -F: '$1 == "tether" { print $3 }' "$root/etc/passwd")
	confdir=$(sed -n 's/^ReadWritePaths=//p' "$unit")
	got=$(stat -c '%a %u' "$root$confdir" 2>&1)
	echo "$confdir: $got" | note
	if [ "$status" -eq 0 ] && [ "$got" = "700 $uid" ]; then
		ok "systemd-tmpfiles creates $confdir, 0700, for the tether user"
	else
		not_ok "systemd-tmpfiles creates $confdir, 0700, for the tether user"
	fi
fi

[ "$failed" -eq 0 ]
