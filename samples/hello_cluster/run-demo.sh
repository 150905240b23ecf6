#!/usr/bin/env bash
# The cluster demo: three hello_cluster nodes on 127.0.0.1:2551..2553 form a cluster
# from their seed list (2551 and 2552) and print member events and the leader.
#
#   samples/hello_cluster/run-demo.sh [path/to/hello_cluster]
#
# While it runs, from another terminal:
#   kill -9 <pid of one node>   # it goes unreachable, is downed by keep-majority after
#                               # stable-after (7 s), and is removed
#   TROUPE_COOKIE=<as printed> build/release/samples/hello_cluster/hello_cluster --port 2554
#                               # a fourth node joins
# Ctrl-C makes every node leave gracefully, then the script ends.
set -euo pipefail
bin="${1:-build/release/samples/hello_cluster/hello_cluster}"
if [[ ! -x "$bin" ]]; then
  echo "run-demo.sh: $bin is not built (run 'make demo')" >&2
  exit 2
fi
# The cookie in cluster.json is public; each run gets its own secret instead (keep yours
# by exporting TROUPE_COOKIE before starting the script).
export TROUPE_COOKIE="${TROUPE_COOKIE:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
pids=()
stop_all() {
  trap - INT TERM
  echo "--- leaving: SIGTERM to ${pids[*]}"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait || true
  echo "--- all nodes stopped"
}
trap stop_all INT TERM
for port in 2551 2552 2553; do
  "$bin" --port "$port" &
  pids+=("$!")
  echo "--- node 127.0.0.1:$port runs as pid $!"
done
echo "--- kill -9 one of ${pids[*]} to see failure detection, downing and removal;"
echo "--- 'TROUPE_COOKIE=$TROUPE_COOKIE $bin --port 2554' in another terminal adds a node;"
echo "--- Ctrl-C leaves and stops."
wait || true
