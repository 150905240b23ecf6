#include "troupe/sharding/sim/shard_report.hpp"

#include <cstdio>

namespace troupe::sharding::sim {
namespace {

template <class T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string fmt_s(const std::optional<double>& v) { return v ? fmt(*v) + " s" : "-"; }

}  // namespace

nlohmann::json to_json(const shard_scenario_result& r) {
  nlohmann::json j;
  j["scenario"] = r.scenario;
  j["nodes"] = r.nodes;
  j["shards"] = r.shards;
  j["allocation"] = r.allocation;
  j["virtual_nodes"] = r.virtual_nodes;
  j["seed"] = r.seed;
  j["ok"] = r.ok;
  j["failure"] = r.failure.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.failure);
  j["moved"] = r.moved;
  j["ideal"] = r.ideal;
  j["ratio"] = r.ideal > 0 ? nlohmann::json(static_cast<double>(r.moved) / r.ideal) : nlohmann::json(nullptr);
  j["changed_home"] = r.changed_home;
  j["rounds_to_balance"] = opt(r.rounds_to_balance);
  j["balance_s"] = opt(r.balance_s);
  j["rehomed_s"] = opt(r.rehomed_s);
  j["messages"] = r.messages;
  j["messages_by_kind"] = r.messages_by_kind;
  j["figures"] = r.figures;
  j["outcomes"] = r.outcomes;
  nlohmann::json inv;
  inv["ok"] = !r.violation;
  inv["checked"] = {{"placement_every_step", true}, {"table", r.table_checks}};
  inv["violation"] = opt(r.violation);
  j["invariants"] = inv;
  j["setup"] = {{"simulated_s", r.setup_simulated_s}, {"wall_s", r.setup_wall_s}, {"messages", r.setup_messages}};
  j["simulated_s"] = r.simulated_s;
  j["wall_s"] = r.wall_s;
  j["peak_resident_mib"] = r.peak_resident_mib;
  j["steps"] = r.steps;
  return j;
}

std::string to_text(const shard_scenario_result& r) {
  std::string s = r.scenario + ": " + std::to_string(r.nodes) + " nodes, " + std::to_string(r.shards) + " shards, " +
                  r.allocation + ", seed " + std::to_string(r.seed) + " -> " +
                  (r.ok ? "ok" : "FAILED: " + r.failure) + "\n";
  s += "  moved " + std::to_string(r.moved) + " (ideal " + fmt(r.ideal) + ", ratio " +
       (r.ideal > 0 ? fmt(static_cast<double>(r.moved) / r.ideal) : "-") + "), home changed for " +
       std::to_string(r.changed_home) + "\n";
  s += "  balanced after " + fmt_s(r.balance_s) + " in " +
       (r.rounds_to_balance ? std::to_string(*r.rounds_to_balance) : "-") + " rebalance rounds";
  if (r.rehomed_s) s += "; every shard homed again after " + fmt_s(r.rehomed_s);
  s += "\n  messages " + std::to_string(r.messages) + "\n";
  for (const auto& [k, v] : r.outcomes) s += "  " + k + ": " + (v ? "yes" : "NO") + "\n";
  for (const auto& [k, v] : r.figures) s += "  " + k + ": " + fmt(v) + "\n";
  s += "  invariants: " + std::string{r.violation ? "BROKEN: " + *r.violation : "ok"} + "; setup " +
       fmt(r.setup_simulated_s) + " s simulated in " + fmt(r.setup_wall_s) + " s wall; change " +
       fmt(r.simulated_s) + " s simulated in " + fmt(r.wall_s) + " s wall, " + std::to_string(r.steps) + " steps\n";
  return s;
}

}  // namespace troupe::sharding::sim
