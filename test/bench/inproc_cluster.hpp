// In-process clusters for the benchmarks of the layers above the cluster (ddata_bench,
// pubsub_bench, cache_bench): actor systems in one process, joined over loopback with short
// gossip and leader intervals so that the cluster forms in about a second; each layer keeps
// its own intervals. Setup only: nothing here is timed.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/model/membership_state.hpp>

#include "bench_common.hpp"

namespace bench::inproc {

/// Ends the program with `why`, prefixed by its name (a benchmark that cannot set up has
/// no figure to give).
[[noreturn]] inline void fail(const char* program, const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", program, why.c_str());
  std::_Exit(1);
}

/// One node: the actor system `system_name` with its cluster started on 127.0.0.1, any port.
struct cluster_node {
  cluster_node(const std::string& system_name, const std::string& cookie, const char* program) : system(system_name) {
    const nlohmann::json settings = {
        {"system", system_name},
        {"remote", {{"host", "127.0.0.1"}, {"port", 0}, {"cookie", cookie}}},
        {"gossip-interval-ms", 100},
        {"leader-actions-interval-ms", 100},
    };
    auto s = troupe::cluster::cluster_settings::parse(settings);
    if (!s) fail(program, "cluster settings: " + std::string(s.error().what()));
    auto started = cl().start(*s);
    if (!started) fail(program, "cluster start: " + started.error());
    address = *started;
  }
  troupe::cluster::cluster& cl() { return troupe::cluster::cluster::get(system); }

  troupe::actor_system system;
  troupe::cluster::model::address address;
};

/// True once `n` sees `count` members, all up, and its gossip has converged.
inline bool sees_all_up(cluster_node& n, std::size_t count) {
  namespace model = troupe::cluster::model;
  const auto st = n.cl().state();
  if (st.members.size() != count) return false;
  for (const auto& m : st.members)
    if (m.status() != model::member_status::up) return false;
  return model::membership_state{n.cl().latest_gossip(), n.cl().self_unique_address()}.convergence();
}

/// Polls `done` every `step` until it holds or `limit` passes; false on the limit.
template <class F>
bool poll(F&& done, std::chrono::seconds limit, std::chrono::microseconds step = std::chrono::milliseconds(1)) {
  const auto end = clock::now() + limit;
  while (!done()) {
    if (clock::now() > end) return false;
    ::usleep(static_cast<useconds_t>(step.count()));
  }
  return true;
}

/// `count` nodes made by `make()`, the first joining itself and the others through it,
/// returned once every node sees them all up (or the program ends, after 30 s).
template <class Make>
auto form(std::size_t count, Make make, const char* program) {
  std::vector<decltype(make())> nodes;
  for (std::size_t i = 0; i < count; ++i) nodes.push_back(make());
  nodes[0]->cl().join(nodes[0]->address);
  for (std::size_t i = 1; i < count; ++i) nodes[i]->cl().join_seed_nodes({nodes[0]->address});
  const bool formed =
      poll([&] { return std::all_of(nodes.begin(), nodes.end(), [&](auto& n) { return sees_all_up(*n, count); }); },
           std::chrono::seconds(30));
  if (!formed) fail(program, "the cluster did not form within 30 s");
  return nodes;
}

/// The main of such a program, `<program> <workload> [scale]`: runs the workload once and
/// ends the process with its exit code (the nodes' graceful leave is not part of any
/// measurement). `run(workload, scale)` returns that code, or nullopt for a workload it
/// does not know; `workloads` and `where` make the usage line. A run that hangs is ended
/// by an alarm after 100 s, which run-all reports.
template <class Run>
[[noreturn]] void run_main(int argc, char** argv, const char* workloads, const char* where, Run run) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s %s [scale]\n  runs the workload once on %s and prints one JSON line.\n", argv[0],
                 workloads, where);
    std::_Exit(2);
  }
  ::alarm(100);
  const std::string_view w = argv[1];
  const double scale = argc == 3 ? std::strtod(argv[2], nullptr) : 1.0;
  const std::optional<int> rc = run(w, scale);
  if (!rc) std::fprintf(stderr, "%s: unknown workload %.*s\n", argv[0], static_cast<int>(w.size()), w.data());
  std::_Exit(rc.value_or(2));
}

}  // namespace bench::inproc
