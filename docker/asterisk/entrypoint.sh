#!/bin/sh
# Start Asterisk in the foreground as the unprivileged `asterisk` user, once the controller has
# rendered its configuration into the shared volume.
set -eu
inst=/var/lib/ivr-asterisk
for i in $(seq 1 120); do
  [ -f /etc/asterisk-rendered/extensions.conf ] && break
  [ "$i" = 1 ] && echo "ivr-asterisk: waiting for the controller to render /etc/asterisk-rendered"
  sleep 1
done
[ -f /etc/asterisk-rendered/extensions.conf ] || { echo "ivr-asterisk: no rendered config" >&2; exit 1; }
# multiarch module folder (the image may be built for arm64 too); node name for call ids
moddir=$(dirname "$(find /usr/lib -name chan_pjsip.so -print -quit)")
# Asterisk's module folder holds only what the rendered modules.conf loads: hard links (not
# symbolic ones: AMI ModuleLoad, a reload too, refuses a module whose real path is elsewhere)
mods=/usr/local/lib/ivr-asterisk-modules
rm -rf "$mods" && mkdir -p "$mods"
sed -n 's/^[[:space:]]*load[[:space:]]*=>*[[:space:]]*\([^[:space:];]*\).*/\1/p' \
  /etc/asterisk-rendered/modules.conf | while read -r m; do
  m="${m%.so}.so"
  ln "$moddir/$m" "$mods/$m" 2>/dev/null || cp "$moddir/$m" "$mods/$m"
done
node=$(printf '%s' "${IVR_NODE_NAME:-$(hostname)}" | tr -c 'A-Za-z0-9_-' '_')
mkdir -p "$inst/log/cel-custom" "$inst/spool" "$inst/lib" "$inst/cache" /var/run/asterisk
sed -e "s|@MODDIR@|$mods|" -e "s|@NODE@|$node|" /etc/asterisk/asterisk.conf \
  > /var/run/asterisk/asterisk.conf
chown -R asterisk:asterisk "$inst/log" "$inst/spool" "$inst/lib" "$inst/cache" /var/run/asterisk
# Asterisk and everything it forks can never run a program (AGI(/bin/sh,…) through AMI)
exec python3 /usr/local/lib/ivr/noexec.py / /usr/sbin/asterisk -f -U asterisk -G asterisk \
  -C /var/run/asterisk/asterisk.conf
