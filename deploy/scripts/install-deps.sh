#!/usr/bin/env bash
# Installs what the tests need and is missing (idempotent):
#   - nats-server            (Debian package nats-server)
#   - PostgreSQL server      (Debian package postgresql) when no initdb exists
#   - psql                   (Debian package postgresql-client) when absent
#   - openssl                (Debian package openssl; the TLS test makes its certificates with it)
# cargo-nextest is never installed: deploy/scripts/test.sh falls back to cargo test.
# Needs no apt at all when everything is already present.
set -euo pipefail

log() { printf 'install-deps: %s\n' "$*"; }

have_nats() {
    { [ -n "${NATS_SERVER_BIN:-}" ] && [ -x "$NATS_SERVER_BIN" ]; } ||
        command -v nats-server >/dev/null 2>&1 ||
        [ -x /usr/sbin/nats-server ]
}

# Same search as gongkai-testkit: $PG_BIN, PATH, /usr/lib/postgresql/*/bin.
have_pg_program() {
    local name=$1 dir
    if [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/$name" ]; then return 0; fi
    if command -v "$name" >/dev/null 2>&1; then return 0; fi
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/$name" ]; then return 0; fi
    done
    return 1
}

missing=()
if have_nats; then log "nats-server: present"; else missing+=(nats-server); fi
if have_pg_program initdb && have_pg_program pg_ctl; then
    log "PostgreSQL server (initdb, pg_ctl): present"
else
    missing+=(postgresql)
fi
if have_pg_program psql; then log "psql: present"; else missing+=(postgresql-client); fi
if command -v openssl >/dev/null 2>&1; then log "openssl: present"; else missing+=(openssl); fi
if cargo nextest --version >/dev/null 2>&1; then
    log "cargo-nextest: present (tests run with nextest)"
else
    log "cargo-nextest: absent, not installing (tests run with cargo test)"
fi

if [ ${#missing[@]} -eq 0 ]; then
    log "nothing to install"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    log "missing: ${missing[*]}, and apt-get is unavailable; install them by hand" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi

log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

have_nats || { log "nats-server still missing after install" >&2; exit 1; }
have_pg_program initdb || { log "initdb still missing after install" >&2; exit 1; }
have_pg_program psql || { log "psql still missing after install" >&2; exit 1; }
log "installed: ${missing[*]}"
