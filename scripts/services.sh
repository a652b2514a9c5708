#!/usr/bin/env bash
# Make sure the servers the tests need are installed (apt-get, when run as root) and that the
# local PostgreSQL answers. Tests start their own Mosquitto / influxd / victoria-metrics on
# free loopback ports; only PostgreSQL is shared (a throwaway database per test).
set -euo pipefail
need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v socat >/dev/null || need+=(socat)
command -v utmpdump >/dev/null || need+=(util-linux)  # writes the utmp files of the OS-login tests
command -v influxd >/dev/null || need+=(influxdb)
command -v victoria-metrics >/dev/null || need+=(victoria-metrics)
command -v psql >/dev/null || need+=(postgresql postgresql-client)
# The web console's browser tests (tests/e2e/test_console_browser.py) drive Debian's Chromium;
# its Chinese pages need a CJK font to render (and to be read on the screenshots).
command -v chromium >/dev/null || need+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: missing ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
    exit 2
  fi
  echo "installing ${need[*]} with apt-get" >&2
  # Keep the packages' own daemons from starting: tests start their own instances.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  [ "$created_policy" = 1 ] && rm -f "$policy"
fi
# PostgreSQL: the test suite creates and drops its own databases on 127.0.0.1:5432.
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_ready; then
  if [ "$(id -u)" = 0 ] && command -v pg_ctlcluster >/dev/null; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$version" ]; then
      echo "starting PostgreSQL $version" >&2
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    fi
  fi
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
fi
if ! pg_ready; then
  echo "error: PostgreSQL does not answer on 127.0.0.1:5432; start it (pg_ctlcluster <version> main start)" >&2
  exit 2
fi
# Tests connect as postgres over TCP without a password (trust), as on the development machines.
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    hba=$(su postgres -c "psql -Atc 'show hba_file'" 2>/dev/null || true)
    if [ -n "$hba" ] && ! grep -q 'jishi-tests' "$hba"; then
      echo "allowing trust auth for postgres on 127.0.0.1 (jishi tests)" >&2
      sed -i '1i host all postgres 127.0.0.1/32 trust # jishi-tests' "$hba"
      su postgres -c "psql -Atc 'select pg_reload_conf()'" >/dev/null
    fi
  fi
fi
