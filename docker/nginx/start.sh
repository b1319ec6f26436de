#!/bin/sh
# Render nginx.conf.template from the environment and run nginx in the foreground.
#   NGINX_LISTEN (443), NGINX_SERVER_NAME (localhost), NGINX_TLS_CERT and NGINX_TLS_KEY (a
#   self-signed development certificate is made there when both are missing),
#   BROKER_UPSTREAM_1 and BROKER_UPSTREAM_2 (host:port of the brokers), NGINX_RUN_DIR (/run/nginx)
set -eu
here=$(dirname "$0")
: "${NGINX_LISTEN:=443}" "${NGINX_SERVER_NAME:=localhost}" "${NGINX_RUN_DIR:=/run/nginx}"
: "${NGINX_TLS_CERT:=$NGINX_RUN_DIR/dev.crt}" "${NGINX_TLS_KEY:=$NGINX_RUN_DIR/dev.key}"
: "${BROKER_UPSTREAM_1:?host:port of the first broker}" "${BROKER_UPSTREAM_2:?host:port of the second broker}"
export NGINX_LISTEN NGINX_SERVER_NAME NGINX_RUN_DIR NGINX_TLS_CERT NGINX_TLS_KEY BROKER_UPSTREAM_1 BROKER_UPSTREAM_2
mkdir -p "$NGINX_RUN_DIR"
if [ ! -e "$NGINX_TLS_CERT" ] && [ ! -e "$NGINX_TLS_KEY" ]; then
    echo "nginx: making a self-signed development certificate for $NGINX_SERVER_NAME" >&2
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=$NGINX_SERVER_NAME" -addext "subjectAltName=DNS:$NGINX_SERVER_NAME,IP:127.0.0.1" \
        -keyout "$NGINX_TLS_KEY" -out "$NGINX_TLS_CERT" 2>/dev/null
fi
envsubst '${NGINX_LISTEN} ${NGINX_SERVER_NAME} ${NGINX_RUN_DIR} ${NGINX_TLS_CERT} ${NGINX_TLS_KEY} ${BROKER_UPSTREAM_1} ${BROKER_UPSTREAM_2}' \
    <"$here/nginx.conf.template" >"$NGINX_RUN_DIR/nginx.conf"
nginx -t -q -c "$NGINX_RUN_DIR/nginx.conf" -e stderr
exec nginx -c "$NGINX_RUN_DIR/nginx.conf" -e stderr -g 'daemon off;'
