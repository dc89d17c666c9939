#!/usr/bin/env bash
# Installs what the production tier runs beside Airflow: Debian's PostgreSQL (the metadata DB) and
# Redis (the Celery broker). Only the packages: the tier's fixtures create, start and stop private
# instances of both, on loopback, and the system's own services are left alone.
set -euo pipefail
missing=()
command -v redis-server > /dev/null || missing+=(redis-server)
# The server's binaries and the user it runs as: a machine with only part of it gets the package again.
{ compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null && id postgres > /dev/null 2>&1; } || missing+=(postgresql)
if ((${#missing[@]})); then
    as_root=()
    [[ $(id -u) == 0 ]] || as_root=(sudo)
    echo "installing ${missing[*]}"
    "${as_root[@]}" apt-get update -qq
    # Debian's maintainer scripts start the system services; nothing of the tier uses them.
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi
command -v runuser > /dev/null && id postgres > /dev/null
