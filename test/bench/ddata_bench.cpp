// Distributed Data on five nodes: five actor systems in this process, a cluster over
// loopback, each with its replicator at Akka's intervals (gossip every 2 s, deltas every
// 200 ms). One workload per run, one JSON line (bench_common.hpp):
//
//   ddata_update_majority_5_p50 / _p99   latency of a majority write of a counter from one
//                                         node (microseconds; 1,000 writes one after another)
//   ddata_converge_5                      seconds from a local write on one node until all
//                                         five read it locally (median of 10 writes, each
//                                         from the next node)
//
// No peer runs here; Akka's intervals are the reference: a local write reaches the others
// with the next delta propagation (every 200 ms), or at worst the next gossip (2 s).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/model/membership_state.hpp>
#include <troupe/ddata/ddata.hpp>
#include <troupe/ddata/replicator.hpp>

#include "bench_common.hpp"
#include "inproc_cluster.hpp"

namespace {

using namespace std::chrono_literals;
namespace dd = troupe::ddata;
namespace tc = troupe::cluster;

constexpr std::size_t node_count = 5;
constexpr int majority_writes = 1'000;
constexpr int majority_warmup = 50;
constexpr int converge_rounds = 10;

constexpr const char* program = "ddata_bench";

struct node : bench::inproc::cluster_node {
  node() : cluster_node("ddbench", "ddata-bench-cookie-0123456789abcdef", program) {}
  dd::distributed_data& ddata() { return dd::distributed_data::get(system); }
  [[noreturn]] static void fail(const std::string& why) { bench::inproc::fail(program, why); }
};

/// Polls `done` every 100 us until it holds or `limit` passes; false on the limit.
template <class F>
bool poll(F&& done, std::chrono::seconds limit) {
  return bench::inproc::poll(std::forward<F>(done), limit, std::chrono::microseconds(100));
}

std::vector<std::unique_ptr<node>> start_cluster() {
  auto nodes = bench::inproc::form(
      node_count, [] { return std::make_unique<node>(); }, program);
  for (auto& n : nodes)
    if (!n->ddata().start()) node::fail("ddata start");  // Akka's intervals
  return nodes;
}

/// Adds 1 to the counter `key` on `n` with consistency `c`; false unless it succeeded.
bool increment(node& n, const std::string& key, dd::consistency c) {
  const dd::replica_id self = n.ddata().self();
  const auto r = n.ddata()
                     .ask_update(dd::update_of<dd::gcounter>(
                                     key, dd::gcounter{}, [self](dd::gcounter& g) { g.increment(self, 1); }, c),
                                 10s)
                     .get();
  return std::holds_alternative<dd::update_success>(r);
}

/// The counter `key` as `n` holds it locally (0 when absent).
std::uint64_t local_value(node& n, const std::string& key) {
  const auto r = n.ddata().ask_get({key, dd::consistency::local()}, 10s).get();
  const auto* ok = std::get_if<dd::get_success>(&r);
  if (!ok) return 0;
  const auto* c = dd::value_as<dd::gcounter>(*ok);
  return c ? c->value() : 0;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int run_majority(std::string_view w, double scale) {
  auto nodes = start_cluster();
  node& a = *nodes[0];
  const auto majority = dd::consistency::majority(3s);
  // The first majority write waits until every replicator knows the others.
  if (!poll([&] { return increment(a, "warm", majority); }, 30s)) node::fail("no majority write succeeded");
  const int writes = static_cast<int>(bench::scaled(majority_writes, scale));
  std::vector<double> micros;
  micros.reserve(static_cast<std::size_t>(writes));
  for (int i = 0; i < majority_warmup + writes; ++i) {
    const auto t0 = bench::clock::now();
    if (!increment(a, "majority", majority)) node::fail("a majority write failed");
    if (i >= majority_warmup) micros.push_back(bench::seconds_since(t0) * 1e6);
  }
  const bool p99 = w.ends_with("_p99");
  bench::report(w, "troupe", "us", percentile(micros, p99 ? 0.99 : 0.50), writes);
  return 0;
}

int run_converge(std::string_view w, double scale) {
  auto nodes = start_cluster();
  // The replicators must know each other before a delta can reach everyone.
  if (!poll([&] { return increment(*nodes[0], "warm", dd::consistency::all(3s)); }, 30s))
    node::fail("no all-write succeeded");
  const int rounds = static_cast<int>(bench::scaled(converge_rounds, scale));
  std::vector<double> seconds;
  for (int r = 0; r < rounds; ++r) {
    // A round ends just after a delta tick; without a pause the next write would wait a
    // whole interval every time. The pauses spread the writes over the 200 ms phase.
    ::usleep(static_cast<useconds_t>((r * 37'000) % 200'000));
    node& writer = *nodes[static_cast<std::size_t>(r) % node_count];
    const auto t0 = bench::clock::now();
    if (!increment(writer, "converge", dd::consistency::local())) node::fail("a local write failed");
    const auto want = static_cast<std::uint64_t>(r + 1);
    const bool seen = poll(
        [&] {
          return std::all_of(nodes.begin(), nodes.end(), [&](auto& n) { return local_value(*n, "converge") >= want; });
        },
        30s);
    if (!seen) node::fail("a write did not reach every node within 30 s");
    seconds.push_back(bench::seconds_since(t0));
  }
  bench::report(w, "troupe", "s", percentile(seconds, 0.5), rounds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bench::inproc::run_main(argc, argv, "ddata_update_majority_5_p50|ddata_update_majority_5_p99|ddata_converge_5",
                          "five in-process nodes", [](std::string_view w, double scale) -> std::optional<int> {
                            if (w == "ddata_update_majority_5_p50" || w == "ddata_update_majority_5_p99")
                              return run_majority(w, scale);
                            if (w == "ddata_converge_5") return run_converge(w, scale);
                            return std::nullopt;
                          });
}
