# shellcheck shell=bash
# Sourced by .ci/run (`. .ci/services.sh`): makes sure a PostgreSQL server is running on
# 127.0.0.1:5432, creates the test database and exports SDL_GATE_TEST_DATABASE_URL, so that the
# store and service test suites also run against PostgreSQL (with CI=true they fail without it).
# Idempotent: safe to source twice. Needs root (or the postgres user) on a Debian/Ubuntu machine.

sdl_gate_services() {
    local db=sdl_gate_test
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        echo "services.sh: PostgreSQL not installed; installing it" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    if [ -z "$version" ]; then
        echo "services.sh: no cluster under /etc/postgresql" >&2
        return 1
    fi
    if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || return 1
    fi
    local i
    for i in $(seq 1 60); do
        pg_isready -h 127.0.0.1 -p 5432 -q && break
        sleep 0.5
    done
    if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
        echo "services.sh: PostgreSQL did not become ready" >&2
        return 1
    fi
    # Trust authentication for local TCP connections is the Debian default on this machine;
    # check it, so a failure names the cause instead of surfacing later as a test failure.
    if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
        echo "services.sh: cannot connect as postgres@127.0.0.1 without a password (pg_hba.conf needs 'trust' for 127.0.0.1/32)" >&2
        return 1
    fi
    if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -Atqc "select 1 from pg_database where datname = '$db'")" != 1 ]; then
        psql -h 127.0.0.1 -U postgres -d postgres -qc "create database $db" || return 1
    fi
    export SDL_GATE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
    echo "services.sh: PostgreSQL $version ready, SDL_GATE_TEST_DATABASE_URL=$SDL_GATE_TEST_DATABASE_URL" >&2
}

sdl_gate_services
