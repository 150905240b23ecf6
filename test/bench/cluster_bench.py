#!/usr/bin/env python3
"""Cluster benchmarks with real processes: hello_cluster nodes on 127.0.0.1.

    test/bench/cluster_bench.py WORKLOAD BUILD_DIR

prints one JSON line {"value": ..., other figures...} (run-all runs it like the other
benchmark programs). Akka-equivalent failure detection (heartbeat 1 s, phi threshold 8,
acceptable pause 3 s) and keep-majority with stable-after 7 s, Akka's recommendation for
clusters of about 5 nodes. Seeds are the first two nodes.

Workloads:
  cluster_join_10, cluster_join_25  seconds from starting the processes to every node
                                    having seen every member up
  cluster_failover_5                seconds from kill -9 of one of 5 nodes (not a seed) to
                                    its removal from every survivor's view; also the first
                                    unreachable and downed times
  cluster_failover_5_sim            the simulator's crash-one at 5 nodes (median of seeds
                                    1-5), the same figures, for comparison
  cluster_partition_5               nodes on 127.0.0.11..15, iptables cuts {11,12} from
                                    {13,14,15}: seconds from the cut to the majority having
                                    removed both minority nodes everywhere (value), to the
                                    first unreachable, to the minority's downing; needs root
  cluster_partition_5_sim           the simulator's partition-2-3 at 5 nodes, likewise
  cluster_idle_10                   a 10-node cluster left idle for 20 s: CPU percent of one
                                    core per node (value) and bytes sent per node per second
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BASE_PORT = 27550  # away from the demo (2551..) and the tests
SETTLE_TIMEOUT_S = 90


def wall_ms():
    return int(time.time() * 1000)


class Node:
    """One hello_cluster process and the JSON lines it printed."""

    def __init__(self, exe, config, port, extra=(), host="127.0.0.1"):
        self.port = port
        self.host = host
        self.address = f"troupe://bench@{host}:{port}"
        self.lines = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([exe, "--config", config, "--host", host, "--port", str(port), "--json",
                                      *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
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

    def stop(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def write_config(directory, n_seeds=2, hosts=None):
    hosts = hosts or ["127.0.0.1"] * n_seeds
    seeds = [f"troupe://bench@{hosts[i]}:{BASE_PORT + i}" for i in range(n_seeds)]
    cfg = {
        "system": "bench",
        "remote": {"host": "127.0.0.1", "port": BASE_PORT, "cookie": "bench"},
        "seed-nodes": seeds,
        "downing": {"strategy": "keep-majority", "stable-after-ms": 7000, **DOWNING_EXTRA},
    }
    path = os.path.join(directory, "cluster.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def wait_for(cond, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")


def start_cluster(exe, directory, n, extra=(), hosts=None):
    config = write_config(directory, hosts=hosts)
    t0 = wall_ms()
    nodes = [Node(exe, config, BASE_PORT + i, extra, hosts[i] if hosts else "127.0.0.1") for i in range(n)]
    everyone = {x.address for x in nodes}
    wait_for(lambda: all(x.members_up() >= everyone for x in nodes), SETTLE_TIMEOUT_S,
             f"{n} nodes to see all members up")
    last = max(max(e["ts"] for e in x.events("member_up") if e["member"]["node"] in everyone)
               for x in nodes)
    return nodes, t0, last


def join(exe, n):
    with tempfile.TemporaryDirectory() as d:
        nodes, t0, last = start_cluster(exe, d, n)
        try:
            return {"value": (last - t0) / 1000.0}
        finally:
            for x in nodes:
                x.stop()


def failover(exe):
    with tempfile.TemporaryDirectory() as d:
        nodes, _, _ = start_cluster(exe, d, 5)
        try:
            victim, survivors = nodes[-1], nodes[:-1]
            victim.stop(signal.SIGKILL)
            killed = wall_ms()

            def first(x, kind):
                for e in x.events(kind):
                    if e.get("member", {}).get("node") == victim.address:
                        return e["ts"]
                return None

            wait_for(lambda: all(first(x, "member_removed") for x in survivors), 60,
                     "the victim's removal on every survivor")
            unreachable = min(t for t in (first(x, "unreachable_member") for x in survivors) if t)
            downed = min(t for t in (first(x, "member_downed") for x in survivors) if t)
            removed = max(first(x, "member_removed") for x in survivors)
            return {"value": (removed - killed) / 1000.0,
                    "unreachable_s": (unreachable - killed) / 1000.0,
                    "downed_s": (downed - killed) / 1000.0}
        finally:
            for x in nodes:
                x.stop()


DOWNING_EXTRA = json.loads(os.environ.get("TROUPE_BENCH_DOWNING", "{}"))

CHAIN = "TROUPE_BENCH"


def iptables(*args, check=True):
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=check)


def partition(exe):
    try:
        iptables("-L", "-n")
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError(f"iptables is not usable here (root and the iptables package needed): {e}")
    hosts = [f"127.0.0.{11 + i}" for i in range(5)]
    minority, majority = hosts[:2], hosts[2:]
    with tempfile.TemporaryDirectory() as d:
        nodes, _, _ = start_cluster(exe, d, 5, hosts=hosts)
        try:
            iptables("-N", CHAIN)
            iptables("-I", "INPUT", "-i", "lo", "-j", CHAIN)
            for a in minority:
                for b in majority:
                    iptables("-A", CHAIN, "-s", a, "-d", b, "-j", "DROP")
                    iptables("-A", CHAIN, "-s", b, "-d", a, "-j", "DROP")
            cut = wall_ms()
            small = [x for x in nodes if x.host in minority]
            big = [x for x in nodes if x.host in majority]

            def removed_all(x):
                gone = {e["member"]["node"] for e in x.events("member_removed")}
                return all(m.address in gone for m in small)

            wait_for(lambda: all(removed_all(x) for x in big), 60, "the minority's removal on the majority")
            wait_for(lambda: all(x.events("stopped") for x in small), 30, "the minority to stop")
            removed = max(max(e["ts"] for e in x.events("member_removed")) for x in big)
            unreachable = min(e["ts"] for x in big for e in x.events("unreachable_member"))
            downed = min(e["ts"] for x in big for e in x.events("member_downed"))
            stopped = max(x.events("stopped")[0]["ts"] for x in small)
            # Split brain safety: no minority node ever removed a majority node.
            for x in small:
                for e in x.events("member_removed"):
                    if e["member"]["node"] in {m.address for m in big}:
                        raise RuntimeError(f"{x.address} removed {e['member']['node']}: split brain")
            return {"value": (removed - cut) / 1000.0, "unreachable_s": (unreachable - cut) / 1000.0,
                    "downed_s": (downed - cut) / 1000.0, "minority_stopped_s": (stopped - cut) / 1000.0}
        finally:
            iptables("-D", "INPUT", "-i", "lo", "-j", CHAIN, check=False)
            iptables("-F", CHAIN, check=False)
            iptables("-X", CHAIN, check=False)
            for x in nodes:
                x.stop()


def simulated(build_dir, scenario):
    """The simulator's `scenario` at 5 nodes and 2 seeds, seeds 1-5: the medians over the
    runs of the latest removal everywhere (value), the first detection and the first downing."""
    sim = os.path.join(build_dir, "cluster", "sim", "troupe-sim")
    removal, detection, downed = [], [], []
    for seed in range(1, 6):
        p = subprocess.run([sim, "--nodes", "5", "--seeds", "2", "--scenario", scenario,
                            "--seed", str(seed), "--json"], capture_output=True, text=True, timeout=120)
        vs = json.loads(p.stdout)["victims"]
        removal.append(max(v["removed_everywhere_s"] for v in vs))
        detection.append(min(v["detected_s"] for v in vs))
        downed.append(min(v["downed_s"] for v in vs))
    return {"value": statistics.median(removal), "unreachable_s": statistics.median(detection),
            "downed_s": statistics.median(downed)}


def idle(exe, n=10, window_s=20):
    tick = os.sysconf("SC_CLK_TCK")

    def cpu_s(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    with tempfile.TemporaryDirectory() as d:
        nodes, _, _ = start_cluster(exe, d, n, extra=("--stats-interval-ms", "1000"))
        try:
            time.sleep(3)  # let the last gossip rounds of the join pass
            c0 = {x.port: cpu_s(x.proc.pid) for x in nodes}
            s0 = {x.port: x.events("stats")[-1] for x in nodes}
            t0 = time.monotonic()
            time.sleep(window_s)  # the measurement window itself
            c1 = {x.port: cpu_s(x.proc.pid) for x in nodes}
            s1 = {x.port: x.events("stats")[-1] for x in nodes}
            dt = time.monotonic() - t0
            cpu = statistics.median(100.0 * (c1[p] - c0[p]) / dt for p in c0)
            sent = statistics.median((s1[p]["bytes_sent"] - s0[p]["bytes_sent"]) /
                                     ((s1[p]["t_ms"] - s0[p]["t_ms"]) / 1000.0) for p in s0)
            msgs = statistics.median((s1[p]["messages_sent"] - s0[p]["messages_sent"]) /
                                     ((s1[p]["t_ms"] - s0[p]["t_ms"]) / 1000.0) for p in s0)
            return {"value": cpu, "bytes_sent_per_s": sent, "messages_sent_per_s": msgs}
        finally:
            for x in nodes:
                x.stop()


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    workload, build_dir = sys.argv[1], sys.argv[2]
    exe = os.path.join(build_dir, "samples", "hello_cluster", "hello_cluster")
    runs = {
        "cluster_join_10": lambda: join(exe, 10),
        "cluster_join_25": lambda: join(exe, 25),
        "cluster_failover_5": lambda: failover(exe),
        "cluster_failover_5_sim": lambda: simulated(build_dir, "crash-one"),
        "cluster_idle_10": lambda: idle(exe),
        "cluster_partition_5": lambda: partition(exe),
        "cluster_partition_5_sim": lambda: simulated(build_dir, "partition-2-3"),
    }
    if workload not in runs:
        print(f"cluster_bench: unknown workload {workload}; one of {', '.join(runs)}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(runs[workload]()), flush=True)
    except RuntimeError as e:
        print(f"cluster_bench: {workload}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
