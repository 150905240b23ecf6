// Distributed cache gets of keys that live on another node: two actor systems in this
// process, a cluster over loopback, the cache (troupe::cache, on sharding) started on both
// with its default buckets and shards (256 buckets in 32 shards, which sharding's
// least-shard allocation splits between the two nodes). One workload per run, one JSON
// line (bench_common.hpp):
//
//   cache_get_remote       gets per second from node 0, 64 in flight (50,000 gets after
//                          2,000 of warm-up)
//   cache_get_remote_p99   p99 latency of one get from node 0 with nothing else in flight,
//   cache_get_remote_p50   and its p50 (microseconds; 5,000 gets after 200 of warm-up)
//
// Which keys: 1,000 keys of 100-byte values are put through node 0; then each node's region
// says which buckets it hosts, and only the keys whose bucket lives on node 1 are read (about
// half). So every get measured crosses the network (node 0's region, node 1's region and
// bucket, the reply straight back to the asker on node 0), through the public API
// (`distributed_cache::get`, an ask per call). A cluster where the getting node hosts no
// bucket at all would be simpler, but a node without the cache's role cannot start the
// cache (distributed_cache::start needs a region, not a proxy), and every node that runs
// the cache hosts buckets. Rebalancing is off for the run (its interval is 10 minutes), so
// the buckets stay where the placement found them.
//
// Every reply is checked (found, and the value put under that key); a miss, a wrong value
// or an ask timeout (5 s) fails the run loudly. No peer runs here: remote_rtt_p50/_p99 are
// the transport's own round trip, the floor under a remote get.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/cache/cache.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/model/membership_state.hpp>
#include <troupe/sharding/sharding.hpp>

#include "bench_common.hpp"
#include "inproc_cluster.hpp"

namespace {

using namespace std::chrono_literals;
namespace tc = troupe::cluster;
namespace tcache = troupe::cache;

constexpr std::size_t node_count = 2;
constexpr int key_count = 1'000;
constexpr std::size_t value_size = 100;
constexpr std::size_t min_remote_keys = 100;
constexpr std::int64_t throughput_gets = 50'000;
constexpr std::int64_t throughput_warmup = 2'000;
constexpr std::size_t in_flight = 64;
constexpr std::int64_t latency_gets = 5'000;
constexpr std::int64_t latency_warmup = 200;
const std::string type_name = "bench";

[[noreturn]] void fail(const std::string& why) { bench::inproc::fail("cache_bench", why); }

struct node : bench::inproc::cluster_node {
  node() : cluster_node("cbench", "cache-bench-cookie-0123456789abcdef", "cache_bench") {}
  std::unique_ptr<tcache::distributed_cache> cache;
};

using bench::inproc::poll;

std::string key_of(int i) { return "user/" + std::to_string(i); }

/// The value put under key `i`: its key, then filler, `value_size` bytes.
std::string value_of(int i) {
  std::string v = key_of(i) + ":";
  v.resize(value_size, 'v');
  return v;
}

/// The buckets (entity ids) hosted on `n`, as its region reports them.
std::set<std::string> hosted_buckets(node& n) {
  const auto st = troupe::sharding::cluster_sharding::get(n.system).region_state(type_name, 5s);
  if (!st) fail("region state: " + st.error());
  std::set<std::string> out;
  for (const auto& s : st->shards) out.insert(s.entities.begin(), s.entities.end());
  return out;
}

/// Calls `issue(i)` for i in [0, count), at most `window` replies outstanding, and hands each
/// reply to `check(i, reply)` in issue order. An ask error fails the run.
template <class Issue, class Check>
void pipelined(std::int64_t count, std::size_t window, Issue&& issue, Check&& check) {
  using result = decltype(issue(std::int64_t{0}));
  std::deque<std::pair<std::int64_t, result>> waiting;
  auto take_oldest = [&] {
    auto& [i, r] = waiting.front();
    auto reply = r.result();
    if (!reply) fail("request " + std::to_string(i) + " failed: " + reply.error().what());
    check(i, *reply);
    waiting.pop_front();
  };
  for (std::int64_t i = 0; i < count; ++i) {
    if (waiting.size() >= window) take_oldest();
    waiting.emplace_back(i, issue(i));
  }
  while (!waiting.empty()) take_oldest();
}

struct two_nodes {
  std::vector<std::unique_ptr<node>> nodes;
  std::vector<int> remote_keys;  ///< indices of the keys whose bucket lives on node 1
};

/// Two nodes with the cache, 1,000 keys put, and the keys that live on node 1 found.
std::unique_ptr<two_nodes> start_cache() {
  auto t = std::make_unique<two_nodes>();
  auto& nodes = t->nodes;
  nodes = bench::inproc::form(
      node_count, [] { return std::make_unique<node>(); }, "cache_bench");
  // 1. The cache on both nodes; sharding's retries short so that it starts at once, and no
  //    rebalance during the run.
  const nlohmann::json settings = {{"type-name", type_name},
                                   {"sharding",
                                    {{"rebalance-interval-ms", 600000},
                                     {"retry-interval-ms", 200},
                                     {"shard-start-timeout-ms", 1000},
                                     {"coordinator-recovery-timeout-ms", 500}}}};
  const auto s = tcache::cache_settings::parse(settings);
  if (!s) fail("cache settings: " + std::string(s.error().what()));
  for (auto& n : nodes) {
    auto c = tcache::distributed_cache::start(n->system, *s);
    if (!c) fail("cache start: " + c.error());
    n->cache = std::make_unique<tcache::distributed_cache>(*c);
  }
  // 2. The keys, put through node 0 (the first puts wait for the coordinator and the shards'
  //    homes, in sharding's buffers).
  const auto& c0 = *nodes[0]->cache;
  pipelined(
      key_count, 256,
      [&](std::int64_t i) { return c0.put(key_of(static_cast<int>(i)), value_of(static_cast<int>(i))); },
      [](std::int64_t i, const tcache::put_reply& r) {
        if (!r.stored) fail("put " + std::to_string(i) + " refused: " + r.error);
      });
  // 3. Where each key's bucket lives: every bucket holding a key is started by now.
  const auto here = hosted_buckets(*nodes[0]);
  const auto there = hosted_buckets(*nodes[1]);
  for (int i = 0; i < key_count; ++i) {
    const auto b = c0.bucket_of(key_of(i));
    if (here.contains(b) && there.contains(b)) fail("bucket " + b + " is hosted on both nodes");
    if (!here.contains(b) && !there.contains(b)) fail("bucket " + b + " is hosted nowhere");
    if (there.contains(b)) t->remote_keys.push_back(i);
  }
  if (t->remote_keys.size() < min_remote_keys)
    fail("only " + std::to_string(t->remote_keys.size()) + " keys live on node 1 (node 0 hosts " +
         std::to_string(here.size()) + " buckets, node 1 " + std::to_string(there.size()) + ")");
  return t;
}

/// Gets `count` keys of `keys` (in turn) through `c`, `window` in flight, each reply checked.
void get_keys(const tcache::distributed_cache& c, const std::vector<int>& keys, std::int64_t offset, std::int64_t count,
              std::size_t window) {
  auto key_at = [&](std::int64_t i) { return keys[static_cast<std::size_t>(offset + i) % keys.size()]; };
  pipelined(
      count, window, [&](std::int64_t i) { return c.get(key_of(key_at(i))); },
      [&](std::int64_t i, const tcache::get_reply& r) {
        if (!r.found) fail("key " + key_of(key_at(i)) + " not found");
        if (r.value != value_of(key_at(i))) fail("key " + key_of(key_at(i)) + " has another value");
      });
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int run_throughput(std::string_view w, double scale) {
  auto t = start_cache();
  const auto& c0 = *t->nodes[0]->cache;
  const std::int64_t gets = bench::scaled(throughput_gets, scale);
  get_keys(c0, t->remote_keys, 0, bench::scaled(throughput_warmup, scale), in_flight);
  const auto t0 = bench::clock::now();
  get_keys(c0, t->remote_keys, 0, gets, in_flight);
  const double seconds = bench::seconds_since(t0);
  bench::report(w, "troupe", "gets/s", static_cast<double>(gets) / seconds, gets);
  (void)t.release();  // the nodes end with the process (main's _Exit), not by a graceful leave
  return 0;
}

int run_latency(std::string_view w, double scale) {
  auto t = start_cache();
  const auto& c0 = *t->nodes[0]->cache;
  get_keys(c0, t->remote_keys, 0, bench::scaled(latency_warmup, scale), 1);
  const std::int64_t gets = bench::scaled(latency_gets, scale);
  std::vector<double> micros;
  micros.reserve(static_cast<std::size_t>(gets));
  for (std::int64_t i = 0; i < gets; ++i) {
    const auto t0 = bench::clock::now();
    get_keys(c0, t->remote_keys, i, 1, 1);
    micros.push_back(bench::seconds_since(t0) * 1e6);
  }
  bench::report(w, "troupe", "us", percentile(micros, w.ends_with("_p99") ? 0.99 : 0.50), gets);
  (void)t.release();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bench::inproc::run_main(argc, argv, "cache_get_remote|cache_get_remote_p99|cache_get_remote_p50",
                          "two in-process nodes", [](std::string_view w, double scale) -> std::optional<int> {
                            if (w == "cache_get_remote") return run_throughput(w, scale);
                            if (w == "cache_get_remote_p99" || w == "cache_get_remote_p50")
                              return run_latency(w, scale);
                            return std::nullopt;
                          });
}
