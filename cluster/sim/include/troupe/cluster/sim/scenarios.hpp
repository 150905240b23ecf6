// scenarios: the named runs of troupe-sim, each a script of faults over a simulation.
//
// - join: all nodes start at once and join through the seeds; time to all up and converged.
// - crash-one: a formed cluster loses one node (not a seed); detection, downing, removal.
// - freeze-one: one node pauses for `freeze_for` (SIGSTOP), then resumes.
// - partition-K (partition-2-3 is partition-2 on 5 nodes): K random nodes are cut off both
//   ways; keep-majority downs one side, the other converges; then the network heals.
// - one-way: one node cannot send to the others but still hears them.
// - churn: random joins, graceful leaves, crashes and restarts for `duration`, then calm;
//   a crash waits until the previous one is dealt with unless `overlapping_crashes`.
// - rolling-restart: `restarts` nodes, one by one, stopped and started with a new uid.
// Every scenario ends by checking that the surviving nodes converge (all up, one version).
//
//   scenario_options o; o.name = "partition-2-3"; o.settings.nodes = 5; o.settings.seed = 7;
//   scenario_result r = run_scenario(o);
//   if (!r.ok) std::cerr << r.failure << "\n";
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "troupe/cluster/sim/simulation.hpp"

namespace troupe::cluster::sim {

/// What to run.
/// Where a long run stands (`scenario_options::on_progress`).
struct progress_report {
  double simulated_s = 0;  ///< simulated time now
  double phase_end_s = 0;  ///< the simulated time the current phase runs to at most
  double wall_s = 0;       ///< wall-clock seconds since the run started
  /// Wall-clock seconds the current phase takes at most at the pace so far (it ends
  /// sooner when its condition holds, e.g. every node up).
  double phase_left_s = 0;
  std::size_t running = 0;  ///< nodes running
  std::size_t members = 0;  ///< of them, welcomed members
  std::size_t up = 0;       ///< members up in the view of the first running member
};

struct scenario_options {
  std::string name = "join";  ///< a scenario name (see the file comment)
  sim_settings settings;      ///< nodes, seeds, seed, intervals, network
  /// Simulated time to keep running after the scenario's own end (steady-state window).
  nanoseconds extra = std::chrono::seconds{10};
  /// churn: how long the churn lasts; join: total simulated time if longer than needed.
  std::optional<nanoseconds> duration;
  nanoseconds freeze_for = std::chrono::seconds{10};  ///< freeze-one
  std::size_t restarts = 0;                           ///< rolling-restart; 0: min(nodes, 10)
  /// churn: mean time between churn events (exponential). Much below stable-after, and the
  /// resolver's down-all-when-unstable ends the cluster, as Akka's would.
  nanoseconds churn_interval = std::chrono::seconds{10};
  /// churn: crash nodes while an earlier crash is still being dealt with.
  bool overlapping_crashes = false;
  double max_wall_seconds = 0;                        ///< stop early past this (0: no limit)
  double max_rss_mib = 0;                             ///< stop early past this memory (0: no limit)
  /// Called about every `progress_every` of wall-clock time while the run lasts (never for
  /// runs shorter than that); troupe-sim prints it on stderr when that is a terminal.
  std::function<void(const progress_report&)> on_progress;
  std::chrono::duration<double> progress_every = std::chrono::seconds{1};
};

/// Times about one faulty node, in seconds after the fault.
struct victim_times {
  std::string node;                          ///< its unique address
  std::optional<double> detected_s;          ///< first unreachable record
  std::optional<double> leader_detected_s;   ///< the leader's view has it unreachable
  std::optional<double> downed_s;            ///< first view with it down
  std::optional<double> removed_s;           ///< the leader removed it
  std::optional<double> removed_everywhere_s;///< no running node holds it any more
};

/// Message rates over a window, per running node per simulated second.
struct traffic_rates {
  double window_s = 0;                 ///< simulated seconds in the window
  double gossip_messages = 0;          ///< full gossips and statuses
  double gossip_full = 0;              ///< full gossips (envelopes and welcomes)
  double gossip_status = 0;            ///< statuses
  double gossip_bytes = 0;             ///< bytes of both
  double heartbeat_messages = 0;       ///< heartbeats and responses
  double heartbeat_bytes = 0;
};

/// What a scenario found.
struct scenario_result {
  std::string scenario;
  std::size_t nodes = 0, seeds = 0;
  std::uint64_t seed = 0;
  bool ok = false;                     ///< expectations met and no invariant broken
  std::string failure;                 ///< why not, with seed and step
  std::optional<double> convergence_s; ///< join: start to all up and converged
  std::optional<double> settle_after_fault_s;  ///< fault to survivors converged again
  std::vector<victim_times> victims;
  std::map<std::string, double> figures;  ///< scenario-specific numbers
  std::map<std::string, bool> outcomes;   ///< scenario-specific expectations
  std::uint64_t false_unreachable = 0;
  std::uint64_t unreachable_records = 0;
  traffic_rates whole_run;
  std::optional<traffic_rates> forming;   ///< from the start until all up and converged
  std::optional<traffic_rates> steady;    ///< after the scenario's end, when measured
  std::size_t gossip_bytes_largest = 0;   ///< largest full gossip envelope sent
  std::size_t gossip_bytes_final = 0;     ///< envelope size of the final view
  invariant_counts checks;
  std::optional<invariant_violation> violation;
  double simulated_s = 0;
  double wall_s = 0;
  double resident_mib = 0;                ///< memory of the process (not part of the replay)
  std::uint64_t steps = 0;
};

/// The scenario names understood by `run_scenario` ("partition-K" for any K).
std::vector<std::string> scenario_names();

/// Runs one scenario; an unknown name gives `ok == false` with the reason.
scenario_result run_scenario(const scenario_options& options);

}  // namespace troupe::cluster::sim
