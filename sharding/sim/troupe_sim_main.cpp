// troupe-sim: runs one scenario of the deterministic cluster simulator, or one of the
// sharding allocation scenarios (`--scenario shard-*`) on shard_sim.
//
//   troupe-sim --nodes 1000 --seeds 3 --scenario crash-one --seed 7 --json
//   troupe-sim --scenario shard-join --nodes 1000 --shards 10000 --allocation ring --json
//
// Exit status: 0 when the scenario met its expectations and no invariant broke, 1 when
// not (the seed and step are printed on stderr), 2 for a bad command line.
#include <algorithm>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "troupe/cluster/sim/cli.hpp"
#include "troupe/sharding/sim/shard_report.hpp"
#include "troupe/sharding/sim/shard_scenarios.hpp"

namespace {

using namespace troupe::sharding::sim;

constexpr const char* shard_usage =
    "       troupe-sim --scenario shard-join|shard-leave|shard-crash|shard-rolling-restart\n"
    "                  [--nodes N] [--shards S] [--allocation least-shard|ring]\n"
    "                  [--virtual-nodes R] [--seed SEED] [--restarts N] [--json]\n"
    "                  [--check-table-every-step] [--progress]\n"
    "shard scenarios (docs/simulation.md, \"Sharding\"): N nodes (default 20) host S shards\n"
    "           (default 400), then one node joins, leaves, crashes, or every node (or\n"
    "           --restarts N of them) restarts at its address; least-shard is Akka's default\n"
    "           strategy, ring the consistent-hash ring (R points per region, default 100).\n";

// The shard-* scenarios' command line.
int shard_main(int argc, char** argv) {
  shard_scenario_options o;
  bool json = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
        return argv[++i];
      };
      if (arg == "--scenario") o.name = value();
      else if (arg == "--nodes") o.nodes = std::stoul(value());
      else if (arg == "--shards") o.shards = static_cast<std::uint32_t>(std::stoul(value()));
      else if (arg == "--allocation") o.allocation = value();
      else if (arg == "--virtual-nodes") o.virtual_nodes = std::stoul(value());
      else if (arg == "--seed") o.seed = std::stoull(value());
      else if (arg == "--restarts") o.restarts = std::stoul(value());
      else if (arg == "--json") json = true;
      else if (arg == "--check-table-every-step") o.table = table_check::every_step;
      else if (arg == "--progress") o.progress = [](const std::string& line) { std::cerr << line << std::endl; };
      else throw std::invalid_argument("unknown option " + arg + " for a shard scenario");
    }
    if (o.allocation == "external")
      throw std::invalid_argument(
          "--allocation external is not simulated: its placement is whatever the user assigns, "
          "and without assignments no shard is allocated");
    if (o.allocation != "least-shard" && o.allocation != "ring")
      throw std::invalid_argument("--allocation must be least-shard or ring");
    const auto names = shard_scenario_names();
    if (std::find(names.begin(), names.end(), o.name) == names.end())
      throw std::invalid_argument("unknown scenario " + o.name);
    if (o.nodes < 1 || o.shards < 1 || o.virtual_nodes < 1)
      throw std::invalid_argument("--nodes, --shards and --virtual-nodes must be >= 1");
    if (o.nodes < 2 && o.name != "shard-join" && o.name != "shard-rolling-restart")
      throw std::invalid_argument(o.name + " needs --nodes >= 2");
  } catch (const std::exception& e) {
    std::cerr << "troupe-sim: " << e.what() << "\n" << troupe::cluster::sim::cli_usage << shard_usage;
    return 2;
  }

#if defined(__GLIBC__)
  // Each region set the coordinator core sends names every region, and it sends one to
  // every region: ~80 MB allocated and freed at once at 1,000 regions. By default glibc
  // hands that back to the kernel and faults it in again the next time, which took two
  // thirds of the wall time of a rolling restart; keep it instead.
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
#endif
  const shard_scenario_result r = run_shard_scenario(o);
  if (json)
    std::cout << to_json(r).dump(2) << "\n";
  else
    std::cout << to_text(r);
  if (!r.ok) {
    std::cerr << "troupe-sim: " << r.scenario << " failed (seed " << r.seed << "): " << r.failure << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::cout << troupe::cluster::sim::cli_usage << shard_usage;
      return 0;
    }
  }
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--scenario") == 0 && is_shard_scenario(argv[i + 1])) return shard_main(argc, argv);
  return troupe::cluster::sim::run_cli(argc, argv);
}
