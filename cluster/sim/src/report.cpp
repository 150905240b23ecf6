#include "troupe/cluster/sim/report.hpp"

#include <cstdio>

namespace troupe::cluster::sim {
namespace {

nlohmann::json opt(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json rates_json(const traffic_rates& t) {
  return {{"window_s", t.window_s},
          {"gossip_messages_per_node_s", t.gossip_messages},
          {"gossip_full_per_node_s", t.gossip_full},
          {"gossip_status_per_node_s", t.gossip_status},
          {"gossip_bytes_per_node_s", t.gossip_bytes},
          {"heartbeat_messages_per_node_s", t.heartbeat_messages},
          {"heartbeat_bytes_per_node_s", t.heartbeat_bytes}};
}

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string fmt(const std::optional<double>& v) { return v ? fmt(*v) + " s" : "-"; }

}  // namespace

nlohmann::json to_json(const scenario_result& r) {
  nlohmann::json j;
  j["scenario"] = r.scenario;
  j["nodes"] = r.nodes;
  j["seeds"] = r.seeds;
  j["seed"] = r.seed;
  j["ok"] = r.ok;
  j["failure"] = r.failure.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.failure);
  j["convergence_s"] = opt(r.convergence_s);
  j["settle_after_fault_s"] = opt(r.settle_after_fault_s);
  auto victims = nlohmann::json::array();
  for (const auto& v : r.victims)
    victims.push_back({{"node", v.node},
                       {"detected_s", opt(v.detected_s)},
                       {"leader_detected_s", opt(v.leader_detected_s)},
                       {"downed_s", opt(v.downed_s)},
                       {"removed_s", opt(v.removed_s)},
                       {"removed_everywhere_s", opt(v.removed_everywhere_s)}});
  j["victims"] = victims;
  if (!r.victims.empty()) {
    // The slowest victim decides when the fault is dealt with; the fastest when it is seen.
    std::optional<double> detected, removed;
    bool all_removed = true;
    for (const auto& v : r.victims) {
      if (v.detected_s && (!detected || *v.detected_s < *detected)) detected = v.detected_s;
      if (!v.removed_s) all_removed = false;
      else if (!removed || *v.removed_s > *removed) removed = v.removed_s;
    }
    j["detection_s"] = opt(detected);
    j["removal_s"] = all_removed ? opt(removed) : nlohmann::json(nullptr);
  }
  j["false_unreachable"] = r.false_unreachable;
  j["unreachable_records"] = r.unreachable_records;
  j["gossip"] = {{"whole_run", rates_json(r.whole_run)},
                 {"forming", r.forming ? rates_json(*r.forming) : nlohmann::json(nullptr)},
                 {"steady", r.steady ? rates_json(*r.steady) : nlohmann::json(nullptr)},
                 {"largest_envelope_bytes", r.gossip_bytes_largest},
                 {"final_envelope_bytes", r.gossip_bytes_final}};
  j["figures"] = r.figures;
  j["outcomes"] = r.outcomes;
  nlohmann::json inv;
  inv["ok"] = !r.violation;
  inv["checked"] = {{"status_monotonic", r.checks.status_monotonic},
                    {"removed_stays_removed", r.checks.removed_stays_removed},
                    {"single_leader", r.checks.single_leader},
                    {"no_split_brain", r.checks.no_split_brain},
                    {"clock_monotonic", r.checks.clock_monotonic},
                    {"gossip_valid", r.checks.gossip_valid}};
  if (r.violation)
    inv["violation"] = {{"invariant", r.violation->invariant},
                        {"detail", r.violation->detail},
                        {"step", r.violation->step},
                        {"time_s", std::chrono::duration<double>(r.violation->at).count()}};
  else
    inv["violation"] = nullptr;
  j["invariants"] = inv;
  j["simulated_s"] = r.simulated_s;
  j["wall_s"] = r.wall_s;
  j["resident_mib"] = r.resident_mib;
  j["steps"] = r.steps;
  return j;
}

std::string to_text(const scenario_result& r) {
  std::string s = r.scenario + ": " + std::to_string(r.nodes) + " nodes, " +
                  std::to_string(r.seeds) + " seeds, seed " + std::to_string(r.seed) + " -> " +
                  (r.ok ? "ok" : "FAILED: " + r.failure) + "\n";
  s += "  all up and converged after " + fmt(r.convergence_s) + "\n";
  if (r.settle_after_fault_s) s += "  converged again " + fmt(r.settle_after_fault_s) + " after the fault\n";
  for (const auto& v : r.victims)
    s += "  " + v.node + ": detected " + fmt(v.detected_s) + ", downed " + fmt(v.downed_s) +
         ", removed " + fmt(v.removed_s) + ", everywhere " + fmt(v.removed_everywhere_s) + "\n";
  s += "  false unreachable " + std::to_string(r.false_unreachable) + " of " +
       std::to_string(r.unreachable_records) + " records\n";
  const traffic_rates& t = r.steady ? *r.steady : r.whole_run;
  s += std::string{"  gossip per node per s ("} + (r.steady ? "steady" : "whole run") + "): " +
       fmt(t.gossip_messages) + " messages, " + fmt(t.gossip_bytes) + " bytes; largest envelope " +
       std::to_string(r.gossip_bytes_largest) + " bytes\n";
  for (const auto& [k, v] : r.outcomes) s += "  " + k + ": " + (v ? "yes" : "NO") + "\n";
  for (const auto& [k, v] : r.figures) s += "  " + k + ": " + fmt(v) + "\n";
  s += "  invariants: " + std::string{r.violation ? "BROKEN" : "ok"} + "; " + fmt(r.simulated_s) +
       " s simulated in " + fmt(r.wall_s) + " s wall, " + std::to_string(r.steps) + " steps\n";
  return s;
}

}  // namespace troupe::cluster::sim
