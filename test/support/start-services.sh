#!/usr/bin/env bash
# Installs (from Debian's packages) and starts what the test suites need, as root: Redis, PostgreSQL
# with trust auth on loopback and a database `test`, MariaDB with root reachable over TCP without a
# password and a database `test`. Leaves running servers alone. `.ci/run` calls it; `npm test`
# names it when a server does not answer.
set -euo pipefail

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
if ! command -v redis-server >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi
if ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 50); do redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

# PostgreSQL with trust auth on loopback and a database `test`, for the PostgresStore suites.
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! psql "$DATABASE_URL" -c 'SELECT 1' >/dev/null 2>&1; then
  command -v pg_ctlcluster >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }
  version=$(ls /etc/postgresql | sort -n | tail -1)
  sed -i -E 's#^(host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+)[^[:space:]]+#\1trust#' "/etc/postgresql/$version/main/pg_hba.conf"
  pg_ctlcluster "$version" main restart || pg_ctlcluster "$version" main start
  for _ in $(seq 1 100); do pg_isready -h 127.0.0.1 -q && break; sleep 0.1; done
  psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE test' >/dev/null 2>&1 || true
fi

# MariaDB with root reachable over TCP without a password and a database `test`, for the MysqlStore suites.
export MYSQL_URL="${MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
mysql_answers() { mariadb -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1' test >/dev/null 2>&1; }
if ! mysql_answers; then
  [ -x /usr/sbin/mariadbd ] || { apt-get update -qq && apt-get install -y -qq mariadb-server >/dev/null; }
  install -d -o mysql -g mysql /run/mysqld
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 100); do mariadb-admin ping --silent >/dev/null 2>&1 && break; sleep 0.1; done
  # A fresh Debian install lets root in over the Unix socket only.
  mariadb -u root -e "CREATE DATABASE IF NOT EXISTS test; ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')" >/dev/null
  for _ in $(seq 1 100); do mysql_answers && break; sleep 0.1; done
fi
