#!/usr/bin/env bash
# Install kiosk-appliance as a systemd service on the kiosk. Idempotent: run it
# again after an update. Run as root from a checkout:  sudo systemd/install.sh
#
#   PREFIX=/opt/kiosk-appliance   code and venv
#   /etc/kiosk-appliance          the technician's settings (kept if present)
#   /var/lib/kiosk-appliance      database, models (owned by the service user, 0700)
#   ROOT_DIR=/some/dir            install into a staging root instead of / (for tests, images)
#   NO_SYSTEMCTL=1                do not call systemctl (images, containers)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT_DIR=${ROOT_DIR:-}
PREFIX=${PREFIX:-/opt/kiosk-appliance}
USER_NAME=${USER_NAME:-kiosk-appliance}
ETC=$ROOT_DIR/etc/kiosk-appliance
STATE=$ROOT_DIR/var/lib/kiosk-appliance
UNIT_DIR=$ROOT_DIR/etc/systemd/system
SYSTEM_SITE=${SYSTEM_SITE:-auto}   # Raspberry Pi OS: the venv must see python3-picamera2

say() { printf '[install] %s\n' "$*"; }
[[ $(id -u) == 0 ]] || { say "run as root (sudo)"; exit 1; }

if ! getent passwd "$USER_NAME" >/dev/null; then
  say "creating system user $USER_NAME"
  useradd --system --home-dir /var/lib/kiosk-appliance --no-create-home --shell /usr/sbin/nologin \
    --user-group "$USER_NAME"
fi
for group in video audio; do
  getent group "$group" >/dev/null && usermod -a -G "$group" "$USER_NAME"
done

say "code into $ROOT_DIR$PREFIX"
mkdir -p "$ROOT_DIR$PREFIX"
if [[ $SRC != "$ROOT_DIR$PREFIX" ]]; then
  tar -C "$SRC" --exclude=.venv --exclude=.git --exclude=var --exclude=models -cf - . | tar -C "$ROOT_DIR$PREFIX" -xf -
fi
venv_flags=()
if [[ $SYSTEM_SITE == yes || ( $SYSTEM_SITE == auto && -e /usr/lib/python3/dist-packages/picamera2 ) ]]; then
  venv_flags+=(--system-site-packages)
fi
[[ -x $ROOT_DIR$PREFIX/.venv/bin/python ]] || python3 -m venv "${venv_flags[@]}" "$ROOT_DIR$PREFIX/.venv"
"$ROOT_DIR$PREFIX/.venv/bin/python" -m pip install -q --upgrade pip
"$ROOT_DIR$PREFIX/.venv/bin/python" -m pip install -q "$ROOT_DIR$PREFIX"

say "settings in $ETC (existing files are kept)"
install -d -m 0755 "$ETC"
for f in appliance.toml services.toml; do
  [[ -e $ETC/$f ]] || install -m 0640 -g "$USER_NAME" "$SRC/firmware-config/$f" "$ETC/$f"
done

say "data in $STATE"
install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" "$STATE" "$STATE/models"
APPLIANCE_CONFIG=$ETC/appliance.toml APPLIANCE_PATHS_MODELS_DIR=$STATE/models \
  "$ROOT_DIR$PREFIX/.venv/bin/appliance" models fetch
chown -R "$USER_NAME:$USER_NAME" "$STATE"

say "unit into $UNIT_DIR"
install -d -m 0755 "$UNIT_DIR"
sed "s#/opt/kiosk-appliance#$PREFIX#g" "$SRC/systemd/kiosk-appliance.service" > "$UNIT_DIR/kiosk-appliance.service"
chmod 0644 "$UNIT_DIR/kiosk-appliance.service"
if [[ -z ${NO_SYSTEMCTL:-} && -z $ROOT_DIR ]] && command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  systemctl enable kiosk-appliance.service
  systemctl restart kiosk-appliance.service
  say "started; check: systemctl status kiosk-appliance; appliance doctor"
else
  say "installed (systemctl not used); enable with: systemctl enable --now kiosk-appliance"
fi
