#!/usr/bin/env bash
# The bank demo: three nodes on 127.0.0.1:2551..2553 sharing one SQLite file host the
# accounts; then a client on 2560 deposits to five accounts and prints each answer
# ("account amount balance") and every balance.
#
#   samples/bank/run-demo.sh [path/to/bank] [path/to/db]
#
# Run the client again (the line printed below) and the balances go on from where they
# were: they are in the database. kill -9 a node while a client runs: its accounts answer
# again from the others, with their balances, about 12 s later. Ctrl-C stops the nodes.
set -euo pipefail
bin="${1:-build/release/samples/bank/bank}"
db="${2:-bank-demo.db}"
if [[ ! -x "$bin" ]]; then
  echo "run-demo.sh: $bin is not built (cmake --build <build dir> --target bank)" >&2
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
  "$bin" --port "$port" --db "$db" &
  pids+=("$!")
  echo "--- bank node 127.0.0.1:$port runs as pid $!"
done
client="$bin client --port 2560 --accounts 5 --deposits 50 --interval-ms 100"
echo "--- client: TROUPE_COOKIE=$TROUPE_COOKIE $client"
$client </dev/null || true
echo "--- the client is done; run it again from another terminal with the line above; Ctrl-C stops the nodes"
wait || true
