#!/usr/bin/env bash
# The sharding demo: three greeter hosts on 127.0.0.1:2551..2553 form a cluster (the
# hello_cluster settings), and a client on 2560 says hello to five names every second;
# each name's greeter lives on one host, which prints the greeting.
#
#   samples/hello_sharding/run-demo.sh [path/to/hello_sharding]
#
# While it runs, from another terminal: kill -9 the pid of the host that answers for a
# name. About 12 s later (failure detection, then keep-majority after stable-after 7 s)
# it is removed, and the same names answer from the other hosts. Ctrl-C makes every node
# leave gracefully (hosts hand their shards off first), then the script ends.
set -euo pipefail
bin="${1:-build/release/samples/hello_sharding/hello_sharding}"
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
  echo "--- greeter host 127.0.0.1:$port runs as pid $!"
done
"$bin" client --port 2560 --names 5 </dev/null &
pids+=("$!")
echo "--- client 127.0.0.1:2560 runs as pid $!; kill -9 a host to see its names move; Ctrl-C leaves"
echo "--- 'TROUPE_COOKIE=$TROUPE_COOKIE $bin --port 2554' in another terminal adds a host"
wait || true
