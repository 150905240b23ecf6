// shard_report: a shard scenario's result as one JSON object (troupe-sim --json) or as a few
// lines of text, in the shape of the cluster scenarios' report (troupe/cluster/sim/report.hpp).
//
//   std::cout << to_json(run_shard_scenario(options)).dump(2) << "\n";
//
// The JSON object: scenario, nodes, shards, allocation, virtual_nodes, seed, ok, failure;
// moved, ideal, ratio, changed_home, rounds_to_balance, balance_s, rehomed_s, messages,
// messages_by_kind; figures, outcomes; invariants {ok, checked {placement, table},
// violation}; setup {simulated_s, wall_s, messages}; simulated_s, wall_s,
// peak_resident_mib, steps. Absent values are null.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "troupe/sharding/sim/shard_scenarios.hpp"

namespace troupe::sharding::sim {

/// The result as one JSON object; absent values are null.
nlohmann::json to_json(const shard_scenario_result& r);

/// A short human-readable summary, one figure per line.
std::string to_text(const shard_scenario_result& r);

}  // namespace troupe::sharding::sim
