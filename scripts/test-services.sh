#!/bin/sh
# Installs the servers the test suite starts privately (PostgreSQL, Redis) when they are missing.
# The tests run their own instances on free ports in temporary directories; nothing is started
# here and no system service is configured. Needs root (apt-get); otherwise says what to install.
set -eu
missing=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    # Debian's packages start system instances; the tests do not use them.
    service redis-server stop >/dev/null 2>&1 || true
    service postgresql stop >/dev/null 2>&1 || true
else
    echo "the tests need:$missing (install them, e.g. apt-get install$missing)" >&2
    exit 1
fi
