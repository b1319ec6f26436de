#!/bin/sh
# The compose demo's SimpleSAMLphp IdP (Debian's simplesamlphp 1.19 under `php -S`).
# compose's `idp` service runs this file; tests/deploy/test_idp_start.py runs it on the host
# with the same variables, since the build machines have no Docker.
#
#   IDP_PORT (8080)             port php -S listens on, on IDP_LISTEN (0.0.0.0)
#   IDP_BASE_URL                the URL browsers reach the IdP at (http://localhost:$IDP_PORT);
#                               its entity id is $IDP_BASE_URL/saml2/idp/metadata.php
#   BROKER_BASE_URL             the broker's public URL: the SP is $BROKER_BASE_URL/saml/metadata
#                               with its ACS at $BROKER_BASE_URL/saml/acs (or set IDP_SP_ENTITY_ID
#                               and IDP_SP_ACS_URL)
#   IDP_USERS                   demo users, space-separated `name:password:group,group`
#                               (no `:` or blanks in names and passwords)
#   IDP_STATE_DIR (/var/lib/idp) sessions, logs, the generated secrets and signing key (a volume)
#   IDP_SIGNING_KEY, IDP_SIGNING_CERT  a mounted PEM key and certificate; made (RSA 3072,
#                               self-signed) under IDP_STATE_DIR/cert when both are missing
#   IDP_METADATA_FILE           where to write the IdP's metadata once it serves (the broker's
#                               metadata_dir: the broker registers NAME.xml as provider NAME)
#   IDP_START_SECONDS (30)      how long to wait for php -S to serve the metadata
# The configuration is fixed PHP (config/, metadata/ beside this file) reading these variables
# with getenv(): php -S hands its environment to every request, and no value is spliced into PHP.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${IDP_PORT:=8080}" "${IDP_LISTEN:=0.0.0.0}" "${IDP_STATE_DIR:=/var/lib/idp}" "${IDP_START_SECONDS:=30}"
: "${IDP_BASE_URL:=http://localhost:$IDP_PORT}" "${IDP_METADATA_FILE:=}"
: "${IDP_USERS:=alice:alice-idp:admins,developers bob:bob-idp:developers carol:carol-idp:}"
: "${SIMPLESAMLPHP_DIR:=/usr/share/simplesamlphp}"
IDP_BASE_URL=${IDP_BASE_URL%/}
if [ -z "${IDP_SP_ENTITY_ID:-}" ] || [ -z "${IDP_SP_ACS_URL:-}" ]; then
    : "${BROKER_BASE_URL:?the broker's public URL (or IDP_SP_ENTITY_ID and IDP_SP_ACS_URL)}"
    IDP_SP_ENTITY_ID=${IDP_SP_ENTITY_ID:-${BROKER_BASE_URL%/}/saml/metadata}
    IDP_SP_ACS_URL=${IDP_SP_ACS_URL:-${BROKER_BASE_URL%/}/saml/acs}
fi

for dir in cert data tmp log sessions; do mkdir -p "$IDP_STATE_DIR/$dir"; done
umask 077
# Generated once and kept in the state volume: a new salt would change every persistent NameID.
for secret in secretsalt adminpassword; do
    [ -s "$IDP_STATE_DIR/$secret" ] || openssl rand -hex 24 >"$IDP_STATE_DIR/$secret"
done
: "${IDP_SIGNING_KEY:=$IDP_STATE_DIR/cert/idp.key}" "${IDP_SIGNING_CERT:=$IDP_STATE_DIR/cert/idp.crt}"
if [ ! -e "$IDP_SIGNING_KEY" ] && [ ! -e "$IDP_SIGNING_CERT" ]; then
    echo "idp: making a signing key and self-signed certificate in $(dirname "$IDP_SIGNING_KEY")" >&2
    host=${IDP_BASE_URL#*://}
    openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=${host%%[:/]*} demo IdP" \
        -keyout "$IDP_SIGNING_KEY" -out "$IDP_SIGNING_CERT" 2>/dev/null
fi
for file in "$IDP_SIGNING_KEY" "$IDP_SIGNING_CERT"; do
    [ -r "$file" ] || { echo "idp: cannot read $file (mount both IDP_SIGNING_KEY and IDP_SIGNING_CERT, or neither)" >&2; exit 1; }
done
umask 022

export IDP_BASE_URL IDP_STATE_DIR IDP_USERS IDP_SP_ENTITY_ID IDP_SP_ACS_URL IDP_SIGNING_KEY IDP_SIGNING_CERT SIMPLESAMLPHP_DIR
export SIMPLESAMLPHP_CONFIG_DIR="$here/config"
# One php process (no PHP_CLI_SERVER_WORKERS): forked workers outlive a SIGTERM to their parent.
unset PHP_CLI_SERVER_WORKERS
php -d display_errors=stderr -d log_errors=0 -d date.timezone=UTC \
    -S "$IDP_LISTEN:$IDP_PORT" -t "$SIMPLESAMLPHP_DIR/www" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || :' TERM INT

metadata_url="http://127.0.0.1:$IDP_PORT/saml2/idp/metadata.php"
waited=0
until metadata=$(php -r '$x = @file_get_contents($argv[1]); if ($x === false || strpos($x, "IDPSSODescriptor") === false) exit(1); echo $x;' "$metadata_url"); do
    if ! kill -0 "$server" 2>/dev/null || [ "$waited" -ge "$((IDP_START_SECONDS * 5))" ]; then
        echo "idp: SimpleSAMLphp did not serve its metadata at $metadata_url within ${IDP_START_SECONDS}s" >&2
        kill -TERM "$server" 2>/dev/null || :
        exit 1
    fi
    sleep 0.2
    waited=$((waited + 1))
done
if [ -n "$IDP_METADATA_FILE" ]; then
    # Renamed into place: the broker never reads half a file.
    printf '%s\n' "$metadata" >"$IDP_METADATA_FILE.tmp"
    mv "$IDP_METADATA_FILE.tmp" "$IDP_METADATA_FILE"
    echo "idp: metadata of $IDP_BASE_URL/saml2/idp/metadata.php written to $IDP_METADATA_FILE" >&2
fi
echo "idp: serving on $IDP_LISTEN:$IDP_PORT for $IDP_SP_ENTITY_ID" >&2

status=0
wait "$server" || status=$?
while kill -0 "$server" 2>/dev/null; do # a signal interrupted the wait: wait for php to stop
    status=0
    wait "$server" || status=$?
done
exit "$status"
