#!/usr/bin/env bash
# Project-private PostgreSQL and Redis for development and tests.
#
# Everything lives under $ROOT/.data/ (git-ignored); nothing touches a system
# PostgreSQL or Redis that the Debian packages may have started on the default
# ports. See usage() for the commands and environment variables.
set -euo pipefail

# A minimal root environment may lack the sbin directories (runuser, useradd).
for _dir in /usr/local/sbin /usr/sbin /sbin; do
	case ":$PATH:" in *":$_dir:"*) ;; *) PATH="$PATH:$_dir" ;; esac
done
unset _dir
export PATH

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd -P)"
DATA="$ROOT/.data"

PG_PORT="${DISPATCHHUB_PG_PORT:-55432}"
REDIS_PORT="${DISPATCHHUB_REDIS_PORT:-56379}"
PG_SUPERUSER=postgres
WAIT_SECONDS=30

ROOT_HASH="$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
IS_ROOT=0
if [[ "$(id -u)" -eq 0 ]]; then IS_ROOT=1; fi

# Filled in by find_pg_bin / pg_layout.
PG_BIN=""
PGDATA_DIR=""
PG_SOCK_DIR=""
PG_CONFIG_CHANGED=0
REDIS_DIR="$DATA/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_LOGFILE="$REDIS_DIR/redis.log"

usage() {
	cat <<EOF
usage: scripts/services.sh up|down|status

Runs a project-private PostgreSQL cluster and Redis server for development and
tests, with their data under .data/ in the repository root.

  up      install missing packages (as root; otherwise print the command),
          start both services if needed, apply scripts/bootstrap.sql and
          print the connection strings. Safe to run repeatedly.
  down    stop both services (data is kept; 'make clean' removes it).
  status  print one line per service; exit 0 only if both are up.

environment:
  DISPATCHHUB_PG_PORT     PostgreSQL TCP port on 127.0.0.1 (default 55432)
  DISPATCHHUB_REDIS_PORT  Redis TCP port on 127.0.0.1 (default 56379)
EOF
}

log() { printf '%s\n' "$*"; }
die() {
	printf 'services.sh: %s\n' "$*" >&2
	exit 1
}

check_port() {
	local name="$1" value="$2"
	if ! [[ "$value" =~ ^[0-9]+$ ]] || ((value < 1 || value > 65535)); then
		die "$name must be a TCP port number, got '$value'"
	fi
}

# ---------------------------------------------------------------------------
# Installation

find_pg_bin() {
	PG_BIN=""
	local dir best="" best_ver=-1 ver
	for dir in /usr/lib/postgresql/*/bin; do
		[[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]] || continue
		ver="$(basename "$(dirname "$dir")")"
		ver="${ver%%.*}"
		[[ "$ver" =~ ^[0-9]+$ ]] || continue
		if ((ver > best_ver)); then
			best_ver="$ver"
			best="$dir"
		fi
	done
	PG_BIN="$best"
	[[ -n "$PG_BIN" ]]
}

have_redis() {
	command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1
}

ensure_installed() {
	local missing=()
	find_pg_bin || missing+=(postgresql)
	have_redis || missing+=(redis-server)
	if ((${#missing[@]} > 0)); then
		if ((IS_ROOT == 0)); then
			printf 'services.sh: missing packages: %s; install them with:\n' "${missing[*]}" >&2
			printf '  sudo apt-get update && sudo apt-get install -y postgresql redis-server\n' >&2
			exit 1
		fi
		log "installing ${missing[*]} ..."
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
		find_pg_bin || die "postgresql installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
		have_redis || die "redis-server installed but redis-server/redis-cli not on PATH"
	fi
	if ((IS_ROOT == 1)) && ! command -v runuser >/dev/null 2>&1; then
		die "runuser (util-linux) not found; it is needed to run PostgreSQL as the postgres user"
	fi
	if ((IS_ROOT == 1)) && ! getent passwd postgres >/dev/null; then
		# The Debian package creates this user; only a hand-made install lacks it.
		useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
	fi
}

# ---------------------------------------------------------------------------
# PostgreSQL

# Runs a command as the user that owns the cluster: postgres when we are root
# (PostgreSQL refuses to run as root), ourselves otherwise. The working
# directory is / so that the postgres user never trips over an unreadable cwd.
as_pg() {
	if ((IS_ROOT == 1)); then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

pg_owner() {
	if ((IS_ROOT == 1)); then echo postgres; else id -un; fi
}

# Creates (or checks) a directory private to the cluster owner.
private_dir() {
	local dir="$1"
	mkdir -p "$dir"
	if ((IS_ROOT == 1)); then chown postgres:postgres "$dir"; fi
	chmod 0700 "$dir"
}

# Decides where the cluster and its socket live. Sets PGDATA_DIR/PG_SOCK_DIR.
# Creates directories only when $1 is "create".
pg_layout() {
	local mode="${1:-}" link="$DATA/postgres"
	local fallback_base="/var/lib/postgresql/dispatchhub-$ROOT_HASH"

	if [[ -L "$link" ]]; then
		PGDATA_DIR="$(readlink "$link")"
		PG_SOCK_DIR="$(dirname "$PGDATA_DIR")/run"
	else
		PGDATA_DIR="$link"
		PG_SOCK_DIR="$DATA/postgres-run"
		# Unix socket paths are limited to ~107 bytes.
		if ((${#PG_SOCK_DIR} + ${#PG_PORT} + 10 > 100)); then
			PG_SOCK_DIR="/tmp/dispatchhub-pg-$ROOT_HASH"
		fi
	fi
	[[ "$mode" == create ]] || return 0

	if [[ ! -d "$DATA" ]]; then
		mkdir -p "$DATA"
		chmod 0755 "$DATA"
	fi

	if ((IS_ROOT == 1)) && [[ ! -L "$link" ]] &&
		! (cd / && runuser -u postgres -- test -x "$DATA"); then
		# The postgres user cannot reach $ROOT/.data (e.g. a checkout under a
		# 0700 /root): keep the cluster in postgres's home and link to it.
		if [[ -e "$link" ]]; then
			die "$link exists but the postgres user cannot reach it; remove .data/postgres (make clean) and retry"
		fi
		if [[ -e "$fallback_base" ]]; then
			# Left over from a .data/ that has since been removed: start afresh,
			# as an in-tree cluster would.
			if [[ -f "$fallback_base/data/postmaster.pid" ]]; then
				as_pg "$PG_BIN/pg_ctl" stop -D "$fallback_base/data" -m fast -w >/dev/null 2>&1 || true
			fi
			rm -rf "$fallback_base"
		fi
		mkdir -p "$fallback_base"
		chown postgres:postgres "$fallback_base"
		chmod 0700 "$fallback_base"
		private_dir "$fallback_base/data"
		ln -s "$fallback_base/data" "$link"
		log "note: postgres cannot traverse $DATA; cluster lives in $fallback_base/data (.data/postgres links to it)"
		PGDATA_DIR="$fallback_base/data"
		PG_SOCK_DIR="$fallback_base/run"
	fi

	private_dir "$PGDATA_DIR"
	if [[ "$PG_SOCK_DIR" == /tmp/* && -d "$PG_SOCK_DIR" ]] &&
		[[ "$(stat -c %U "$PG_SOCK_DIR")" != "$(pg_owner)" ]]; then
		die "socket directory $PG_SOCK_DIR exists but is not owned by $(pg_owner)"
	fi
	private_dir "$PG_SOCK_DIR"
}

pg_initialised() {
	[[ -f "$PGDATA_DIR/PG_VERSION" ]]
}

# True when the process named in pidfile $1 is alive (not a zombie) and its
# command name starts with $2. Stronger than kill -0, which a zombie or a
# recycled pid also passes.
pid_alive() {
	local pidfile="$1" comm="$2" pid state
	[[ -r "$pidfile" ]] || return 1
	pid="$(head -n1 "$pidfile" 2>/dev/null || true)"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)"
	[[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
	[[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == "$comm"* ]]
}

pg_running() {
	[[ -n "$PG_BIN" && -d "$PGDATA_DIR" ]] || return 1
	pid_alive "$PGDATA_DIR/postmaster.pid" postgres || return 1
	as_pg "$PG_BIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

# Removes postmaster.pid (and socket lock files) left behind by a postmaster
# that is gone, e.g. after a machine restart or a kill -9.
pg_clean_stale() {
	local pidfile="$PGDATA_DIR/postmaster.pid"
	[[ -f "$pidfile" ]] || return 0
	pid_alive "$pidfile" postgres && return 0
	log "removing stale $pidfile"
	rm -f "$pidfile" "$PG_SOCK_DIR"/.s.PGSQL.*
}

sql_quote() {
	local s="${1//\'/\'\'}"
	printf "'%s'" "$s"
}

pg_write_config() {
	local conf="$PGDATA_DIR/dispatchhub.conf" hba="$PGDATA_DIR/pg_hba.conf" tmp changed=1
	tmp="$(mktemp)"
	cat >"$tmp" <<EOF
# Written by scripts/services.sh on every 'up'; edits here are overwritten.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = $(sql_quote "$PG_SOCK_DIR")
unix_socket_permissions = 0700
max_connections = 300
shared_buffers = 128MB
password_encryption = 'scram-sha-256'
# Durability stays on: tests must see the same semantics as production.
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
	if [[ -f "$conf" ]] && cmp -s "$tmp" "$conf"; then changed=0; fi
	install -m 0600 "$tmp" "$conf"
	cat >"$tmp" <<'EOF'
# Written by scripts/services.sh on every 'up'; edits here are overwritten.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
EOF
	if [[ -f "$hba" ]] && ! cmp -s "$tmp" "$hba"; then changed=1; fi
	install -m 0600 "$tmp" "$hba"
	rm -f "$tmp"
	if ((IS_ROOT == 1)); then chown postgres:postgres "$conf" "$hba"; fi
	if ! grep -qxF "include_if_exists = 'dispatchhub.conf'" "$PGDATA_DIR/postgresql.conf"; then
		printf "\n# dispatchhub: project settings (scripts/services.sh)\ninclude_if_exists = 'dispatchhub.conf'\n" \
			>>"$PGDATA_DIR/postgresql.conf"
		changed=1
	fi
	PG_CONFIG_CHANGED=$changed
}

pg_log_tail() {
	local logfile="$PGDATA_DIR/postgresql.log"
	if [[ -f "$logfile" ]]; then
		printf -- '--- last lines of %s ---\n' "$logfile" >&2
		tail -n 30 "$logfile" >&2
	fi
}

pg_wait_ready() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
		if as_pg "$PG_BIN/pg_isready" -q -h "$PG_SOCK_DIR" -p "$PG_PORT" -U "$PG_SUPERUSER" &&
			"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER"; then
			return 0
		fi
		sleep 0.5
	done
	pg_log_tail
	die "postgres did not become ready on 127.0.0.1:$PG_PORT within ${WAIT_SECONDS}s"
}

pg_up() {
	pg_layout create
	if ! pg_initialised; then
		log "initialising postgres cluster in ${PGDATA_DIR/#"$ROOT"\//}"
		as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U "$PG_SUPERUSER" -E UTF8 --locale=C.UTF-8 \
			--auth-local=trust --auth-host=scram-sha-256 >"$DATA/initdb.log" 2>&1 || {
			cat "$DATA/initdb.log" >&2
			die "initdb failed"
		}
	fi
	pg_write_config

	if pg_running; then
		if ((PG_CONFIG_CHANGED == 1)); then
			log "postgres: configuration changed, restarting"
			as_pg "$PG_BIN/pg_ctl" restart -D "$PGDATA_DIR" -m fast -w -t "$WAIT_SECONDS" \
				-l "$PGDATA_DIR/postgresql.log" >/dev/null || {
				pg_log_tail
				die "postgres restart failed"
			}
		else
			log "postgres: already running"
		fi
	else
		pg_clean_stale
		if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
			die "port $PG_PORT is already served by another postgres; set DISPATCHHUB_PG_PORT"
		fi
		log "postgres: starting on 127.0.0.1:$PG_PORT"
		as_pg "$PG_BIN/pg_ctl" start -D "$PGDATA_DIR" -w -t "$WAIT_SECONDS" \
			-l "$PGDATA_DIR/postgresql.log" >/dev/null || {
			pg_log_tail
			die "postgres failed to start"
		}
	fi
	pg_wait_ready

	as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK_DIR" -p "$PG_PORT" \
		-U "$PG_SUPERUSER" -d postgres -f - <"$ROOT/scripts/bootstrap.sql" ||
		die "applying scripts/bootstrap.sql failed"
}

pg_down() {
	find_pg_bin || {
		log "postgres: not installed"
		return 0
	}
	pg_layout
	if pg_running; then
		as_pg "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t "$WAIT_SECONDS" >/dev/null ||
			die "postgres did not stop"
		log "postgres: stopped"
	else
		[[ -d "$PGDATA_DIR" ]] && pg_clean_stale
		log "postgres: not running"
	fi
}

pg_status() {
	if find_pg_bin && pg_layout && pg_running &&
		"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
		log "postgres: up (127.0.0.1:$PG_PORT, data ${DATA#"$ROOT"/}/postgres)"
		return 0
	fi
	log "postgres: down"
	return 1
}

# ---------------------------------------------------------------------------
# Redis

redis_cli() {
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# True when our redis (the one whose dir is $REDIS_DIR) answers on the port.
redis_ours() {
	have_redis || return 1
	[[ "$(redis_cli ping 2>/dev/null)" == PONG ]] || return 1
	local dir
	dir="$(redis_cli --raw config get dir 2>/dev/null | sed -n 2p)"
	[[ "$dir" == "$REDIS_DIR" ]]
}

redis_answers() {
	[[ "$(redis_cli ping 2>/dev/null)" == PONG ]]
}

redis_clean_stale() {
	[[ -f "$REDIS_PIDFILE" ]] || return 0
	pid_alive "$REDIS_PIDFILE" redis && return 0
	log "removing stale $REDIS_PIDFILE"
	rm -f "$REDIS_PIDFILE"
}

# Stops the redis recorded in our pidfile with SIGTERM (a graceful shutdown),
# for when it does not answer on the configured port (e.g. the port changed).
redis_stop_by_pid() {
	local pid i
	pid_alive "$REDIS_PIDFILE" redis || return 0
	pid="$(head -n1 "$REDIS_PIDFILE")"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
		pid_alive "$REDIS_PIDFILE" redis || return 0
		sleep 0.5
	done
	die "redis (pid $pid) did not stop"
}

redis_up() {
	if redis_ours; then
		log "redis: already running"
		return 0
	fi
	if pid_alive "$REDIS_PIDFILE" redis; then
		log "redis: running but not on port $REDIS_PORT, restarting"
		redis_stop_by_pid
	fi
	if redis_answers; then
		die "port $REDIS_PORT is already served by another redis; set DISPATCHHUB_REDIS_PORT"
	fi
	mkdir -p "$REDIS_DIR"
	chmod 0700 "$REDIS_DIR"
	redis_clean_stale
	log "redis: starting on 127.0.0.1:$REDIS_PORT"
	redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" \
		--protected-mode yes --dir "$REDIS_DIR" --pidfile "$REDIS_PIDFILE" \
		--logfile "$REDIS_LOGFILE" --appendonly yes --appendfsync everysec ||
		die "redis-server failed to start"
	local i
	for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
		if redis_ours; then return 0; fi
		sleep 0.5
	done
	if [[ -f "$REDIS_LOGFILE" ]]; then
		printf -- '--- last lines of %s ---\n' "$REDIS_LOGFILE" >&2
		tail -n 30 "$REDIS_LOGFILE" >&2
	fi
	die "redis did not answer PONG on 127.0.0.1:$REDIS_PORT within ${WAIT_SECONDS}s"
}

redis_down() {
	if redis_ours; then
		redis_cli shutdown >/dev/null 2>&1 || true
		local i
		for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
			redis_answers || break
			sleep 0.5
		done
		redis_answers && die "redis did not stop"
		log "redis: stopped"
	elif pid_alive "$REDIS_PIDFILE" redis; then
		redis_stop_by_pid
		log "redis: stopped"
	else
		log "redis: not running"
	fi
	[[ -d "$REDIS_DIR" ]] && redis_clean_stale
	return 0
}

redis_status() {
	if redis_ours; then
		log "redis: up (127.0.0.1:$REDIS_PORT, data ${DATA#"$ROOT"/}/redis)"
		return 0
	fi
	log "redis: down"
	return 1
}

# ---------------------------------------------------------------------------

cmd_up() {
	ensure_installed
	pg_up
	redis_up
	echo
	echo "postgres (app):     postgres://dispatchhub_app:dispatchhub_app@127.0.0.1:$PG_PORT/dispatchhub?sslmode=disable"
	echo "postgres (migrate): postgres://dispatchhub:dispatchhub@127.0.0.1:$PG_PORT/dispatchhub?sslmode=disable"
	echo "redis:              redis://127.0.0.1:$REDIS_PORT/0"
}

cmd_down() {
	pg_down
	redis_down
}

cmd_status() {
	local rc=0
	pg_status || rc=1
	redis_status || rc=1
	return "$rc"
}

main() {
	check_port DISPATCHHUB_PG_PORT "$PG_PORT"
	check_port DISPATCHHUB_REDIS_PORT "$REDIS_PORT"
	case "${1:-}" in
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	"" | -h | --help | help)
		usage
		[[ -n "${1:-}" ]] || exit 2
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
