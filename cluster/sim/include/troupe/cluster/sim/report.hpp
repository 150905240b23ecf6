// report: a scenario result as one JSON object (troupe-sim --json) or as a few lines of text.
//
//   std::cout << to_json(run_scenario(options)).dump(2) << "\n";
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "troupe/cluster/sim/scenarios.hpp"

namespace troupe::cluster::sim {

/// The result as one JSON object; absent times are null.
nlohmann::json to_json(const scenario_result& r);

/// A short human-readable summary, one figure per line.
std::string to_text(const scenario_result& r);

}  // namespace troupe::cluster::sim
