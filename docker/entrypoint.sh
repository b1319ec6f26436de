#!/bin/sh
# The broker container's one start-up path. Docker runs it as the image's ENTRYPOINT;
# tests/deploy/test_entrypoint.py runs this same file on the host, with the same environment
# variables, since the build machines have no Docker.
#
#   entrypoint.sh [serve]   wait for the database, bring it to this broker's schema (instances
#                           starting together take turns), then exec `broker serve`
#   entrypoint.sh setup     the same set-up, then exit: a one-shot job before the instances
#   entrypoint.sh ARGS...   exec `broker ARGS...` (bootstrap-admin, audit verify, ...)
#
# Settings come from BROKER_* variables and from BROKER_CONFIG, a mounted TOML file
# (docs/configuration.md). Every instance of one installation must use the same keys: mount
# them at BROKER_CERTS_DIR. Keys are generated only when BROKER_GENERATE_KEYS=1 (the one-shot
# setup job, or a lone demo instance); otherwise missing keys stop the start with one line.
# BROKER_DATABASE_WAIT_SECONDS (default 60) bounds the wait for a database that is starting.
set -eu

broker=${BROKER_EXECUTABLE:-broker}
generate=${BROKER_GENERATE_KEYS:-0}
limit=${BROKER_DATABASE_WAIT_SECONDS:-60}
# These three are this script's own: the broker refuses BROKER_* names it does not know.
unset BROKER_EXECUTABLE BROKER_GENERATE_KEYS BROKER_DATABASE_WAIT_SECONDS
command=${1:-serve}

case "$command" in
serve | setup) [ "$#" -gt 0 ] && shift ;;
*) exec "$broker" "$@" ;;
esac

keys=--require-keys
if [ "$generate" = 1 ]; then keys=; fi

# As the container's PID 1, sh ignores a signal it has no handler for: without these, `docker
# stop` during the wait below would wait out the grace period and end in SIGKILL. (Once `exec`
# has run, broker serve handles its own signals.)
trap 'exit 143' TERM
trap 'exit 130' INT

waited=0
while ! output=$("$broker" init $keys 2>&1); do
    case "$output" in
    *"cannot connect to the database"*)
        if [ "$waited" -ge "$limit" ]; then
            printf '%s\n' "$output" >&2
            echo "broker: gave up waiting ${limit}s for the database" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
        ;;
    *)
        printf '%s\n' "$output" >&2
        exit 1
        ;;
    esac
done
printf '%s\n' "$output"

if [ "$command" = setup ]; then exit 0; fi
exec "$broker" serve "$@"
