#!/usr/bin/env bash
# The demo behind `make demo`: the hub in dev mode in the background, then the simulator in the
# foreground (50 drivers, 5 stores on 5 platforms, 2 webhooks/s with a lunch burst, until
# Ctrl-C). Ctrl-C ends the simulator, which prints its report; the hub is then stopped.
#
#   scripts/demo.sh [extra sim flags, e.g. --seed 7 --city grid]
#
# Expects PostgreSQL and Redis up (make services-up) and bin/dispatchhub built (make build);
# `make demo` does both first. The hub's log goes to .data/demo/hub.log.
# DISPATCHHUB_HTTP_HOST/PORT and DISPATCHHUB_MQTT_TCP_ADDR move the addresses printed, as
# they move the hub's.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${DISPATCHHUB_BIN:-bin/dispatchhub} # make demo builds bin/dispatchhub
DEMO_DIR=.data/demo
LOG=$DEMO_DIR/hub.log
TOKEN_FILE=$DEMO_DIR/dispatcher.token
# A tenant of its own per demo: a run that crashed never leaves orders for the next one.
TENANT="sim-$(date -u +%Y%m%d-%H%M%S)"
HTTP="http://${DISPATCHHUB_HTTP_HOST:-127.0.0.1}:${DISPATCHHUB_HTTP_PORT:-8080}"
MQTT_ADDR=${DISPATCHHUB_MQTT_TCP_ADDR:-127.0.0.1:1883}
READY_TIMEOUT=${DEMO_READY_TIMEOUT:-120} # seconds
HUB_PID=

say() { printf 'demo: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# stop_hub sends SIGTERM to the hub, waits for its graceful shutdown, then kills it.
stop_hub() {
	[ -n "$HUB_PID" ] || return 0
	if kill -0 "$HUB_PID" 2>/dev/null; then
		say "stopping the hub (pid $HUB_PID)"
		kill -TERM "$HUB_PID" 2>/dev/null || true
		for _ in $(seq 1 60); do
			kill -0 "$HUB_PID" 2>/dev/null || break
			sleep 0.5
		done
		if kill -0 "$HUB_PID" 2>/dev/null; then
			say "the hub did not stop within 30 s: killing it"
			kill -KILL "$HUB_PID" 2>/dev/null || true
		fi
	fi
	wait "$HUB_PID" 2>/dev/null || true
	HUB_PID=
	say "the hub's log: $LOG"
}

command -v curl >/dev/null || die "curl is needed to wait for the hub"
[ -x "$BIN" ] || die "$BIN is missing: run make build (make demo builds it)"
if ! "$BIN" sim --help >/dev/null 2>&1; then
	die "$BIN has no sim command: rebuild it (make build) from a tree that has dispatchhub sim"
fi
if curl -fsS -o /dev/null --max-time 2 "$HTTP/healthz" 2>/dev/null; then
	die "something already answers on $HTTP: stop that hub (make run?) first"
fi

mkdir -p "$DEMO_DIR"
trap stop_hub EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The hub gets a session of its own, so that Ctrl-C at the terminal reaches the simulator only
# and the hub is stopped afterwards, in order.
say "starting the hub: $BIN serve --dev (log: $LOG)"
if command -v setsid >/dev/null; then
	setsid "$BIN" serve --dev >"$LOG" 2>&1 </dev/null &
else
	"$BIN" serve --dev >"$LOG" 2>&1 </dev/null &
fi
HUB_PID=$!

deadline=$((SECONDS + READY_TIMEOUT))
until curl -fsS -o /dev/null --max-time 2 "$HTTP/readyz" 2>/dev/null; do
	if ! kill -0 "$HUB_PID" 2>/dev/null; then
		say "the hub exited while starting; the end of $LOG:"
		tail -n 20 "$LOG" >&2 || true
		HUB_PID=
		exit 1
	fi
	if ((SECONDS >= deadline)); then
		say "the hub is not ready after ${READY_TIMEOUT}s; what it is waiting for:"
		curl -sS --max-time 2 "$HTTP/readyz" >&2 || true
		echo >&2
		exit 1
	fi
	sleep 0.5
done
say "the hub is ready at $HTTP"

"$BIN" token --tenant "$TENANT" --role dispatcher --sub demo-watch --ttl 12h >"$TOKEN_FILE.tmp"
chmod 600 "$TOKEN_FILE.tmp"
mv "$TOKEN_FILE.tmp" "$TOKEN_FILE"

mqtt_host=${MQTT_ADDR%:*}
mqtt_port=${MQTT_ADDR##*:}
cat <<EOF

== dispatchhub demo: tenant "$TENANT", the simulated city ==
Where to look, from another terminal in $(pwd):

  the whole tenant live over MQTT (a dispatcher token, 12 h, is in $TOKEN_FILE):
    mosquitto_sub -h $mqtt_host -p $mqtt_port -V mqttv5 -i $TENANT.demo-watch -P "\$(cat $TOKEN_FILE)" -t 'tenants/$TENANT/#' -v
  only offers and assignments:   ... -t 'tenants/$TENANT/drivers/+/jobs'
  drivers' positions:            ... -t 'tenants/$TENANT/drivers/+/location'
  orders as they change:         ... -t 'tenants/$TENANT/orders/+'
  connector health (retained):   ... -t 'tenants/$TENANT/connectors/+'

  the hub's metrics:
    curl -s $HTTP/metrics | grep dispatchhub_
  the platforms' sync:
    curl -s -H "Authorization: Bearer \$(cat $TOKEN_FILE)" $HTTP/v1/connectors
  the orders, newest changes last:
    curl -s -H "Authorization: Bearer \$(cat $TOKEN_FILE)" '$HTTP/v1/orders?limit=20'

  the hub's log: $LOG (its dev banner, for the "demo" tenant, is at the top)

The simulator runs until Ctrl-C, then prints its report; the hub is stopped after it.

EOF

sim=("$BIN" sim --tenant "$TENANT" --drivers 50 --stores 5 --rate 0.15 --lunch --dwell 10s --speed 12 --duration 0 "$@")
say "running: ${sim[*]}"
set +e
"${sim[@]}"
rc=$?
set -e
case $rc in
0 | 130) say "the simulator ended" ;;
*)
	say "the simulator failed (exit status $rc); the hub's log is $LOG"
	exit "$rc"
	;;
esac
