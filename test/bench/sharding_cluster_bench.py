#!/usr/bin/env python3
"""Cluster sharding benchmarks with real processes: sharding_node nodes on 127.0.0.1.

    test/bench/sharding_cluster_bench.py WORKLOAD BUILD_DIR

prints one JSON line {"value": ..., other figures...} (run-all runs it as it runs
cluster_bench.py). The cluster settings are cluster_bench.py's: Akka's failure detector
defaults (heartbeat 1 s, phi threshold 8, acceptable pause 3 s), keep-majority with
stable-after 7 s, the first two nodes as seeds. The client runs in the first node (a seed,
the oldest member, hence the coordinator's node) and sends through that node's region.

Workloads:
  sharding_failover_5      5 nodes, 100 shards, remember-entities; the client asks
                           e0 .. e99999 (activating them), then node 5 is killed (kill -9)
                           and the client asks all 100,000 again, each again every 500 ms
                           until it answers: seconds from the kill to the last answer
                           (value), to the first answer from an entity's new home
                           (first_new_home_s), to the victim's removal everywhere
                           (removed_s); remember-entities' store is in memory per process
                           (the durable stores come later), so the victim's entities start
                           again on their next message, not by themselves
  sharding_rebalance_join  3 nodes, 1,000 shards, traffic of 5,000 msg/s over 20,000
                           entities from the client; a 4th node joins: seconds from it
                           being up (in the coordinator node's view) to every node holding
                           250 shards (value); then the traffic stops and the answers are
                           counted: lost, duplicated, reordered (each must be 0)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_bench as cb  # noqa: E402  (its cluster settings and helpers)

BASE_PORT = 27650  # away from cluster_bench.py's nodes (27550..)

FAILOVER_ENTITIES = 100_000
FAILOVER_SHARDING = {"number-of-shards": 100, "remember-entities": True,
                     "passivation": {"idle-timeout-ms": "off"}}
RESEND_MS = 500

REBALANCE_SHARDS = 1000
REBALANCE_ENTITIES = 20_000  # e0..e9999 leave one of the 1,000 shards unused
REBALANCE_RATE = 5000
# Akka's defaults except: a rebalance round every 2 s (not 10 s) moving at most 100 shards
# (10 % of 1,000; Akka's relative limit) rather than 20, so 250 shards move in 3 rounds.
REBALANCE_SHARDING = {"number-of-shards": REBALANCE_SHARDS, "rebalance-interval-ms": 2000,
                      "rebalance-absolute-limit": 100, "rebalance-relative-limit": 0.1,
                      "passivation": {"idle-timeout-ms": "off"}}


class Node:
    """One sharding_node process, its JSON lines, and its stdin for commands."""

    def __init__(self, exe, config, sharding, port, extra=()):
        self.port = port
        self.address = f"troupe://bench@127.0.0.1:{port}"
        self.lines = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([exe, "--config", config, "--sharding", sharding, "--port", str(port), *extra],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                with self.lock:
                    self.lines.append(j)

    def events(self, kind=None):
        with self.lock:
            return [l for l in self.lines if kind is None or l.get("event") == kind]

    def members_up(self):
        return {e["member"]["node"] for e in self.events("member_up")}

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def wait_event(self, kind, count, timeout_s):
        """The `count`-th event of `kind` (1-based), waiting up to `timeout_s`."""
        cb.wait_for(lambda: len(self.events(kind)) >= count, timeout_s, f"{kind} #{count} from {self.address}")
        return self.events(kind)[count - 1]

    def member_event_ts(self, kind, node):
        for e in self.events(kind):
            if e.get("member", {}).get("node") == node:
                return e["ts"]
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def write_files(directory, sharding):
    cluster = os.path.join(directory, "cluster.json")
    seeds = [f"troupe://bench@127.0.0.1:{BASE_PORT + i}" for i in range(2)]
    with open(cluster, "w") as f:
        json.dump({"system": "bench", "remote": {"host": "127.0.0.1", "port": BASE_PORT, "cookie": "bench"},
                   "seed-nodes": seeds, "downing": {"strategy": "keep-majority", "stable-after-ms": 7000}}, f)
    path = os.path.join(directory, "sharding.json")
    with open(path, "w") as f:
        json.dump(sharding, f)
    return cluster, path


def start_nodes(exe, files, indices, extra=()):
    nodes = [Node(exe, files[0], files[1], BASE_PORT + i, extra) for i in indices]
    return nodes


def wait_all_up(nodes, timeout_s=cb.SETTLE_TIMEOUT_S):
    everyone = {x.address for x in nodes}
    cb.wait_for(lambda: all(x.members_up() >= everyone for x in nodes), timeout_s,
                f"{len(nodes)} nodes to see all members up")


def failover(exe):
    with tempfile.TemporaryDirectory() as d:
        files = write_files(d, FAILOVER_SHARDING)
        nodes = start_nodes(exe, files, range(5))
        try:
            wait_all_up(nodes)
            client, victim, survivors = nodes[0], nodes[-1], nodes[:-1]
            # 1. Activate (and so remember) every entity; the victim must host some.
            asked_at = cb.wall_ms()
            client.send(f"ask 0 {FAILOVER_ENTITIES} {RESEND_MS}")
            first = client.wait_event("asked", 1, 120)
            on_victim = first["by_node"].get(victim.address, 0)
            if on_victim == 0:
                raise RuntimeError("no entity runs on the node to be killed")
            # 2. Kill it and ask everyone again.
            victim.proc.send_signal(signal.SIGKILL)
            killed = cb.wall_ms()
            client.send(f"ask 0 {FAILOVER_ENTITIES} {RESEND_MS}")
            again = client.wait_event("asked", 2, 120)
            removed = [x.member_event_ts("member_removed", victim.address) for x in survivors]
            unreachable = [t for t in (x.member_event_ts("unreachable_member", victim.address) for x in survivors) if t]
            downed = [t for t in (x.member_event_ts("member_downed", victim.address) for x in survivors) if t]
            if again["moved"] < on_victim:
                raise RuntimeError(f"{on_victim} entities ran on the victim but only {again['moved']} moved")
            return {"value": (again["last_ts"] - killed) / 1000.0,
                    "first_new_home_s": (again["first_moved_ts"] - killed) / 1000.0,
                    "removed_s": (max(removed) - killed) / 1000.0 if all(removed) else None,
                    "unreachable_s": (min(unreachable) - killed) / 1000.0 if unreachable else None,
                    "downed_s": (min(downed) - killed) / 1000.0 if downed else None,
                    "entities_on_victim": on_victim, "moved": again["moved"],
                    "activation_s": (first["last_ts"] - asked_at) / 1000.0,
                    "asks_sent_after_kill": again["sent"]}
        finally:
            for x in nodes:
                x.stop()


def balanced_at(nodes, shards):
    """The wall time at which every node first held shards/len(nodes) (within one), from
    their "shards" lines; None if never."""
    lines = sorted((e["ts"], i, e["count"]) for i, x in enumerate(nodes) for e in x.events("shards"))
    latest = {}
    for ts, i, count in lines:
        latest[i] = count
        if len(latest) == len(nodes) and sum(latest.values()) == shards and \
                max(latest.values()) - min(latest.values()) <= 1:
            return ts
    return None


def rebalance(exe):
    with tempfile.TemporaryDirectory() as d:
        files = write_files(d, REBALANCE_SHARDING)
        nodes = start_nodes(exe, files, range(3), ("--shard-events",))
        try:
            wait_all_up(nodes)
            client = nodes[0]
            client.send(f"traffic {REBALANCE_RATE} 0 {REBALANCE_ENTITIES}")

            def hosted():
                counts = [x.events("shards") for x in nodes]
                return sum(c[-1]["count"] for c in counts if c)

            cb.wait_for(lambda: hosted() == REBALANCE_SHARDS, 60, f"all {REBALANCE_SHARDS} shards hosted")
            cb.wait_for(lambda: balanced_at(nodes, REBALANCE_SHARDS), 60, "3 nodes balanced")
            # The 4th node.
            nodes += start_nodes(exe, files, [3], ("--shard-events",))
            newcomer = nodes[3]
            cb.wait_for(lambda: client.member_event_ts("member_up", newcomer.address), 60, "the 4th node up")
            up = client.member_event_ts("member_up", newcomer.address)
            cb.wait_for(lambda: (balanced_at(nodes, REBALANCE_SHARDS) or 0) > up, 120, "4 nodes balanced")
            balanced = balanced_at(nodes, REBALANCE_SHARDS)
            time.sleep(1)  # traffic after the last move, so that it is checked too
            client.send("stop_traffic 10000")
            t = client.wait_event("traffic", 1, 30)
            return {"value": (balanced - up) / 1000.0, "lost": t["lost"], "duplicated": t["duplicated"],
                    "reordered": t["reordered"], "sent": t["sent"],
                    "shards_on_new_node": newcomer.events("shards")[-1]["count"]}
        finally:
            for x in nodes:
                x.stop()


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    workload, build_dir = sys.argv[1], sys.argv[2]
    exe = os.path.join(build_dir, "test", "bench", "sharding_node")
    runs = {"sharding_failover_5": lambda: failover(exe), "sharding_rebalance_join": lambda: rebalance(exe)}
    if workload not in runs:
        print(f"sharding_cluster_bench: unknown workload {workload}; one of {', '.join(runs)}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(runs[workload]()), flush=True)
    except RuntimeError as e:
        print(f"sharding_cluster_bench: {workload}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
