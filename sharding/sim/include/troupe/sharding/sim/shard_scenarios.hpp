// shard_scenarios: troupe-sim's allocation scenarios, the shipped sharding cores in shard_sim
// at scale (N regions, S shards), one placement change each, for one strategy.
//
// Every scenario first starts N nodes at once, lets the regions register, tells one message
// to one entity of every shard (so every shard is allocated), and waits until the placement
// is balanced. Then:
// - shard-join: one node joins. Ideal moves: S / (N + 1), the newcomer's share.
// - shard-leave: one node (not the coordinator's) leaves gracefully: its region hands its
//   shards off, then the node is removed. Ideal: S / N, its share.
// - shard-crash: one node (not the coordinator's) crashes; once it is removed (the
//   simulator's failure detection, 15 s) its shards get new homes. Ideal: S / N.
// - shard-rolling-restart: `restarts` nodes (every node by default), youngest first so the
//   coordinator moves once, each: a graceful leave, its removal, then a new incarnation at
//   the same address (`shard_sim::restart_node`), then wait until balanced again. Ideal:
//   2 x S / N per restart (its share out, and a share back to the new incarnation).
//
// Remember-entities is on (coordinator and regions), so a shard that loses its home is
// given a new one at once, without traffic, and its entities start there again; idle
// passivation is off. The coordinator, regions and limits keep Akka's defaults otherwise
// (rebalance every 10 s, at most min(20, 10% of S) shards per round).
//
// Balanced means: every shard is local at exactly one region that may host (running, not
// leaving), the coordinator exists, is not recovering and hands nothing off, and
// - least-shard: every region is within one shard of every other;
// - ring: a consistent_hash_ring with the same settings moves nothing (every shard lives
//   where the ring puts it).
// `rounds_to_balance` counts the coordinator's rebalance ticks that started hand-offs from
// the change until balanced; `balance_s` is the simulated time of the last placement change
// before it was balanced (checked every 100 ms of simulated time, when the placement changed).
//
// Checked throughout: shard_sim's invariants (no shard local at two regions at once, the
// coordinator's table; `table` says how often), and the table once more at the end.
//
//   shard_scenario_options o;
//   o.name = "shard-join"; o.nodes = 1000; o.shards = 10000; o.allocation = "ring";
//   const shard_scenario_result r = run_shard_scenario(o);
//   std::cout << to_json(r).dump(2);   // shard_report.hpp
//
// Deterministic: the same options give the same figures (not the wall times).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/sharding/sim/shard_sim.hpp"

namespace troupe::sharding::sim {

/// What to run.
struct shard_scenario_options {
  std::string name = "shard-join";         ///< one of `shard_scenario_names()`
  std::size_t nodes = 20;                  ///< N, started before the change
  std::uint32_t shards = 400;              ///< S, all allocated before the change
  std::string allocation = "least-shard";  ///< least-shard or ring (the consistent-hash ring)
  std::size_t virtual_nodes = 100;         ///< ring: points per region
  std::uint64_t seed = 1;                  ///< the simulation's seed, and the victim's choice
  std::size_t restarts = 0;                ///< shard-rolling-restart: nodes restarted; 0: all
  table_check table = table_check::on_change;  ///< see shard_sim
  /// Simulated time allowed for each wait (settling, removal, balancing) before failing.
  nanoseconds deadline = std::chrono::seconds{600};
  /// When set, one line after the setup and after each restart (troupe-sim --progress
  /// prints them on stderr).
  std::function<void(const std::string&)> progress;
};

/// What a scenario found. Counts are over the change (from it until balanced, plus a
/// settling window of two rebalance intervals), not the setup.
struct shard_scenario_result {
  std::string scenario;
  std::string allocation;
  std::size_t nodes = 0;
  std::uint32_t shards = 0;
  std::size_t virtual_nodes = 0;
  std::uint64_t seed = 0;
  bool ok = false;       ///< balanced in time, every shard homed, no invariant broken
  std::string failure;   ///< why not

  std::uint64_t moved = 0;         ///< times a shard became local at a region after being local elsewhere
  double ideal = 0;                ///< the moves the change needs at least (see the file comment)
  std::uint64_t changed_home = 0;  ///< shards whose home address differs between before and after
  std::optional<std::size_t> rounds_to_balance;  ///< rebalance rounds until balanced
  std::optional<double> balance_s;  ///< simulated seconds from the change until balanced
  std::optional<double> rehomed_s;  ///< simulated seconds until every shard had a home again
  std::uint64_t messages = 0;       ///< protocol messages over the change
  std::map<std::string, std::uint64_t> messages_by_kind;
  std::map<std::string, double> figures;  ///< scenario-specific numbers
  std::map<std::string, bool> outcomes;   ///< scenario-specific expectations (not part of `ok`)

  std::optional<std::string> violation;  ///< shard_sim's first violation
  std::uint64_t table_checks = 0;        ///< full checks of the coordinator's table
  std::uint64_t steps = 0;               ///< simulator events run, setup included

  double setup_simulated_s = 0;  ///< start to settled
  double setup_wall_s = 0;
  std::uint64_t setup_messages = 0;
  double simulated_s = 0;  ///< of the change, settling window included
  double wall_s = 0;       ///< of the change (the setup's is apart)
  double peak_resident_mib = 0;  ///< of the process (not part of the replay)
};

/// shard-join, shard-leave, shard-crash, shard-rolling-restart.
std::vector<std::string> shard_scenario_names();

/// True for a name that starts with "shard-" (troupe-sim sends those here).
bool is_shard_scenario(std::string_view name);

/// Runs one scenario; an unknown name or strategy gives `ok == false` with the reason.
shard_scenario_result run_shard_scenario(const shard_scenario_options& options);

}  // namespace troupe::sharding::sim
