#include "troupe/sharding/sim/shard_scenarios.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <utility>

#include "troupe/sharding/model/allocation.hpp"

namespace troupe::sharding::sim {
namespace {

using namespace std::chrono_literals;

double seconds(nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// Peak resident memory of this process in MiB (Linux's VmHWM), 0 where unknown.
double peak_resident_mib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmHWM:", 6) == 0) kib = std::strtod(line + 6, nullptr);
  std::fclose(f);
  return kib / 1024.0;
}

// The strategy's name in the model for a troupe-sim --allocation value ("" if unknown).
std::string strategy_of(const std::string& allocation) {
  if (allocation == "least-shard") return "least-shard";
  if (allocation == "ring" || allocation == "consistent-hash-ring") return "consistent-hash-ring";
  return "";
}

// The difference of two counts by kind (after - before), kinds with none left out.
std::map<std::string, std::uint64_t> minus(std::map<std::string, std::uint64_t> after,
                                           const std::map<std::string, std::uint64_t>& before) {
  for (const auto& [k, v] : before) after[k] -= v;
  std::erase_if(after, [](const auto& kv) { return kv.second == 0; });
  return after;
}

// A scenario in progress: the simulation, the balance check and the result so far.
class shard_run {
 public:
  shard_run(const shard_scenario_options& o, const std::string& strategy)
      : options_(o), sim_(settings_for(o, strategy)), rng_(o.seed), wall_start_(std::chrono::steady_clock::now()) {
    result_.scenario = o.name;
    result_.allocation = o.allocation;
    result_.nodes = o.nodes;
    result_.shards = o.shards;
    result_.virtual_nodes = o.virtual_nodes;
    result_.seed = o.seed;
    if (strategy == "consistent-hash-ring") ring_ = model::consistent_hash_ring(o.virtual_nodes, sim_.settings().limits);
  }

  shard_sim& sim() { return sim_; }
  shard_scenario_result& result() { return result_; }
  const shard_scenario_options& options() const { return options_; }
  std::mt19937_64& rng() { return rng_; }

  /// Regions running before the change, oldest first.
  const std::vector<region_id>& nodes() const { return nodes_; }
  std::vector<region_id>& nodes() { return nodes_; }

  /// A region not counted as a possible home (the one leaving).
  void exclude(std::optional<region_id> r) { excluded_ = std::move(r); }

  // Every shard local at one of the regions that may host it, and the lowest and highest
  // number of shards at such a region.
  struct placement {
    std::size_t homed = 0;
    std::size_t lo = 0, hi = 0;
    std::size_t regions = 0;
  };
  placement measure() const {
    placement p;
    p.lo = std::numeric_limits<std::size_t>::max();
    for (const auto& r : sim_.running_nodes()) {
      if (excluded_ && r == *excluded_) continue;
      const auto* core = sim_.region(r);
      if (!core || core->settings().proxy) continue;
      const auto k = core->local_shard_count();
      p.homed += k;
      p.lo = std::min(p.lo, k);
      p.hi = std::max(p.hi, k);
      ++p.regions;
    }
    if (p.regions == 0) p.lo = 0;
    return p;
  }

  bool balanced() {
    const auto* c = sim_.coordinator();
    if (!c || c->recovering() || !c->handoffs_in_progress().empty()) return false;
    const auto p = measure();
    if (p.regions == 0 || p.homed != options_.shards) return false;
    if (!ring_) return p.hi - p.lo <= 1;
    // The ring: nothing to move. Computed again only when the placement or the regions
    // changed.
    std::vector<region_id> regions;
    for (const auto& r : sim_.running_nodes()) {
      if (excluded_ && r == *excluded_) continue;
      const auto* core = sim_.region(r);
      if (core && !core->settings().proxy) regions.push_back(r);
    }
    if (ring_checked_at_ != sim_.placement_changes() || regions != ring_regions_) {
      model::allocation_view v;
      for (const auto& r : regions) {
        const auto& local = sim_.region(r)->local_shard_ids();
        v.regions.emplace(r, std::vector<model::shard_id>(local.begin(), local.end()));
      }
      ring_ok_ = ring_->rebalance(v, {}).empty();
      ring_checked_at_ = sim_.placement_changes();
      ring_regions_ = std::move(regions);
    }
    return ring_ok_;
  }

  /// Runs in slices of 100 ms until `done` or `deadline`; true if `done` held.
  bool wait(const std::function<bool()>& done, nanoseconds deadline) {
    while (!done()) {
      if (sim_.now() >= deadline || sim_.violation()) return false;
      sim_.run_until(std::min(deadline, sim_.now() + 100ms));
    }
    return true;
  }

  /// Waits until balanced; the time it became so (the last placement change before), or
  /// nullopt after `deadline`. `homed_at`: when every shard had a home again.
  std::optional<nanoseconds> until_balanced(nanoseconds deadline, std::optional<nanoseconds>* homed_at = nullptr) {
    const bool held = wait(
        [&] {
          if (homed_at && !*homed_at) {
            const auto p = measure();
            if (p.homed == options_.shards) *homed_at = sim_.last_placement_change();
          }
          return balanced();
        },
        deadline);
    if (!held) return std::nullopt;
    return sim_.last_placement_change();
  }

  /// Rebalance rounds in (from, to].
  std::size_t rounds_between(nanoseconds from, nanoseconds to) const {
    std::size_t n = 0;
    for (const auto& r : sim_.rebalance_rounds())
      if (r.at > from && r.at <= to) ++n;
    return n;
  }

  /// The home address of every shard, by shard number (empty: none).
  std::vector<cluster::model::address> homes() const {
    std::vector<cluster::model::address> out(options_.shards);
    for (std::uint32_t s = 0; s < options_.shards; ++s)
      if (const auto r = sim_.local_at(std::to_string(s))) out[s] = r->address;
    return out;
  }

  /// Starts the nodes, allocates every shard and waits until balanced.
  bool setup() {
    // 1. N nodes at once; the coordinator recovers once they have registered.
    for (std::size_t i = 0; i < options_.nodes; ++i) nodes_.push_back(sim_.start_node());
    sim_.run_for(3s);
    // 2. One message to one entity of every shard, from every node in turn.
    const auto entities = sim_.entity_per_shard();
    for (std::uint32_t s = 0; s < options_.shards; ++s) sim_.tell(nodes_[s % nodes_.size()], entities[s], s, 1);
    // 3. Settled: balanced, and nothing moves in one more rebalance interval.
    const auto settled = until_balanced(sim_.now() + options_.deadline);
    result_.setup_simulated_s = seconds(sim_.now());
    result_.setup_wall_s = wall();
    result_.setup_messages = sim_.protocol_messages();
    if (!settled) return fail("the allocation did not settle within " + std::to_string(seconds(options_.deadline)) + " s");
    report("settled: " + std::to_string(options_.shards) + " shards on " + std::to_string(options_.nodes) + " nodes");
    start_change();
    return true;
  }

  /// The change starts now: figures count from here.
  void start_change() {
    change_at_ = sim_.now();
    moved_before_ = sim_.shards_moved();
    messages_before_ = sim_.protocol_messages();
    by_kind_before_ = sim_.protocol_messages_by_kind();
    homes_before_ = homes();
    wall_change_ = std::chrono::steady_clock::now();
  }
  nanoseconds change_at() const { return change_at_; }

  /// Two more rebalance intervals: whether anything moves after balance.
  void settle_window() {
    const auto moved = sim_.shards_moved();
    sim_.run_for(2 * sim_.settings().coordinator.rebalance_interval + 1s);
    result_.outcomes["stays_balanced"] = sim_.shards_moved() == moved && balanced();
  }

  /// A progress line, with the simulated and wall time so far.
  void report(const std::string& what) const {
    if (!options_.progress) return;
    char times[96];
    std::snprintf(times, sizeof times, " (%.1f s simulated, %.1f s wall)", seconds(sim_.now()), wall());
    options_.progress(options_.name + ": " + what + times);
  }

  bool fail(const std::string& why) {
    if (result_.failure.empty()) result_.failure = why;
    return false;
  }

  double wall() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count(); }

  shard_scenario_result finish(bool completed) {
    sim_.check_table();
    result_.moved = sim_.shards_moved() - moved_before_;
    result_.messages = sim_.protocol_messages() - messages_before_;
    result_.messages_by_kind = minus(sim_.protocol_messages_by_kind(), by_kind_before_);
    if (!homes_before_.empty()) {
      const auto after = homes();
      for (std::size_t s = 0; s < after.size(); ++s) result_.changed_home += after[s] != homes_before_[s];
    }
    result_.figures["ratio"] = result_.ideal > 0 ? static_cast<double>(result_.moved) / result_.ideal : 0;
    result_.figures["limit_per_round"] = static_cast<double>(sim_.settings().limits.limit(options_.shards));
    const auto p = measure();
    result_.figures["shards_min"] = static_cast<double>(p.lo);
    result_.figures["shards_max"] = static_cast<double>(p.hi);
    result_.figures["coordinators_started"] = static_cast<double>(sim_.coordinators_started());
    result_.violation = sim_.violation();
    result_.table_checks = sim_.table_checks();
    result_.steps = sim_.events_run();
    result_.simulated_s = seconds(sim_.now() - change_at_);
    result_.wall_s = change_at_.count() > 0
                         ? std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_change_).count()
                         : 0;
    result_.peak_resident_mib = peak_resident_mib();
    if (result_.violation) fail("invariant broken (seed " + std::to_string(options_.seed) + "): " + *result_.violation);
    result_.ok = completed && !result_.violation && result_.failure.empty();
    return result_;
  }

 private:
  static shard_sim_settings settings_for(const shard_scenario_options& o, const std::string& strategy) {
    shard_sim_settings s;
    s.seed = o.seed;
    s.number_of_shards = o.shards;
    s.strategy = strategy;
    s.virtual_nodes = o.virtual_nodes;
    s.table = o.table;
    s.coordinator.remember_entities = true;
    s.region.remember_entities = true;
    s.region.idle_timeout = std::nullopt;
    return s;
  }

  shard_scenario_options options_;
  shard_sim sim_;
  std::mt19937_64 rng_;  ///< the scenario's own choices (victims), apart from the simulation's
  std::chrono::steady_clock::time_point wall_start_;
  std::chrono::steady_clock::time_point wall_change_;
  shard_scenario_result result_;
  std::vector<region_id> nodes_;
  std::optional<region_id> excluded_;
  std::unique_ptr<model::allocation_strategy> ring_;
  std::uint64_t ring_checked_at_ = std::numeric_limits<std::uint64_t>::max();
  std::vector<region_id> ring_regions_;  ///< of the last ring check
  bool ring_ok_ = false;
  nanoseconds change_at_{0};
  std::uint64_t moved_before_ = 0;
  std::uint64_t messages_before_ = 0;
  std::map<std::string, std::uint64_t> by_kind_before_;
  std::vector<cluster::model::address> homes_before_;
};

// A node other than the coordinator's (the oldest), chosen by the scenario's seed.
region_id pick_victim(shard_run& r) {
  const auto& n = r.nodes();
  return n[1 + std::uniform_int_distribution<std::size_t>(0, n.size() - 2)(r.rng())];
}

// Records the time to balance and the rounds it took, from the change.
void record_balance(shard_run& r, nanoseconds balanced_at) {
  r.result().balance_s = seconds(balanced_at - r.change_at());
  r.result().rounds_to_balance = r.rounds_between(r.change_at(), balanced_at);
}

shard_scenario_result join_scenario(shard_run& r) {
  const auto& o = r.options();
  r.result().ideal = static_cast<double>(o.shards) / static_cast<double>(o.nodes + 1);
  const auto newcomer = r.sim().start_node();
  const auto balanced = r.until_balanced(r.change_at() + o.deadline);
  if (!balanced) {
    r.fail("not balanced within " + std::to_string(seconds(o.deadline)) + " s of the join");
    return r.finish(false);
  }
  record_balance(r, *balanced);
  r.settle_window();
  auto result = r.finish(true);
  const auto* core = r.sim().region(newcomer);
  const auto gained = core ? core->local_shard_count() : 0;
  result.figures["newcomer_shards"] = static_cast<double>(gained);
  result.outcomes["moved_within_1_2_ideal"] = static_cast<double>(result.moved) <= 1.2 * result.ideal;
  result.outcomes["only_the_newcomer_gained"] = result.moved == gained;
  return result;
}

shard_scenario_result leave_scenario(shard_run& r) {
  const auto& o = r.options();
  r.result().ideal = static_cast<double>(o.shards) / static_cast<double>(o.nodes);
  const auto victim = pick_victim(r);
  const auto* core = r.sim().region(victim);
  r.result().figures["leaver_shards"] = static_cast<double>(core ? core->local_shard_count() : 0);
  r.exclude(victim);
  r.sim().leave(victim);
  std::optional<nanoseconds> homed_at;
  const auto balanced = r.until_balanced(r.change_at() + o.deadline, &homed_at);
  if (homed_at) r.result().rehomed_s = seconds(*homed_at - r.change_at());
  if (!balanced) {
    r.fail("not balanced within " + std::to_string(seconds(o.deadline)) + " s of the leave");
    return r.finish(false);
  }
  record_balance(r, *balanced);
  // Removed from the cluster, then two rebalance intervals more.
  if (!r.wait([&] { return !r.sim().is_member(victim); }, r.sim().now() + o.deadline)) {
    r.fail("the leaving node was not removed");
    return r.finish(false);
  }
  r.settle_window();
  return r.finish(true);
}

shard_scenario_result crash_scenario(shard_run& r) {
  const auto& o = r.options();
  r.result().ideal = static_cast<double>(o.shards) / static_cast<double>(o.nodes);
  const auto victim = pick_victim(r);
  const auto* core = r.sim().region(victim);
  r.result().figures["victim_shards"] = static_cast<double>(core ? core->local_shard_count() : 0);
  r.exclude(victim);
  r.sim().crash(victim);
  std::optional<nanoseconds> homed_at;
  const auto deadline = r.change_at() + r.sim().settings().failure_detection + o.deadline;
  const auto balanced = r.until_balanced(deadline, &homed_at);
  if (homed_at) r.result().rehomed_s = seconds(*homed_at - r.change_at());
  r.result().figures["failure_detection_s"] = seconds(r.sim().settings().failure_detection);
  if (!balanced) {
    r.fail("not balanced within " + std::to_string(seconds(deadline - r.change_at())) + " s of the crash");
    return r.finish(false);
  }
  record_balance(r, *balanced);
  r.settle_window();
  return r.finish(true);
}

shard_scenario_result rolling_restart_scenario(shard_run& r) {
  const auto& o = r.options();
  const std::size_t count = o.restarts ? std::min(o.restarts, o.nodes) : o.nodes;
  r.result().ideal = 2.0 * static_cast<double>(o.shards) / static_cast<double>(o.nodes) * static_cast<double>(count);
  r.result().figures["restarts"] = static_cast<double>(count);
  std::size_t rounds = 0, most_rounds = 0;
  double longest = 0;
  std::uint64_t most_moved = 0;
  nanoseconds last_balanced = r.change_at();
  // Youngest first: the coordinator (on the oldest) moves once, at the end.
  for (std::size_t k = 0; k < count; ++k) {
    auto& id = r.nodes()[o.nodes - 1 - k];
    const auto started = r.sim().now();
    const auto moved = r.sim().shards_moved();
    r.exclude(id);
    r.sim().leave(id);
    const auto old = id;
    if (!r.wait([&] { return !r.sim().is_member(old); }, started + o.deadline)) {
      r.fail("restart " + std::to_string(k + 1) + ": " + old.address.host + " was not removed after leaving");
      return r.finish(false);
    }
    r.exclude(std::nullopt);
    id = r.sim().restart_node(old);
    const auto balanced = r.until_balanced(r.sim().now() + o.deadline);
    if (!balanced) {
      r.fail("restart " + std::to_string(k + 1) + ": not balanced within " + std::to_string(seconds(o.deadline)) +
             " s after " + old.address.host + " came back");
      return r.finish(false);
    }
    const auto n = r.rounds_between(started, *balanced);
    rounds += n;
    most_rounds = std::max(most_rounds, n);
    longest = std::max(longest, seconds(*balanced - started));
    most_moved = std::max(most_moved, r.sim().shards_moved() - moved);
    last_balanced = std::max(last_balanced, *balanced);
    r.report("restart " + std::to_string(k + 1) + "/" + std::to_string(count) + " of " + old.address.host + ": " +
             std::to_string(r.sim().shards_moved() - moved) + " moved in " + std::to_string(n) + " rounds");
  }
  r.result().rounds_to_balance = rounds;
  r.result().balance_s = seconds(last_balanced - r.change_at());
  r.result().figures["rounds_max_per_restart"] = static_cast<double>(most_rounds);
  r.result().figures["restart_to_balanced_max_s"] = longest;
  r.result().figures["restart_to_balanced_mean_s"] = seconds(last_balanced - r.change_at()) / static_cast<double>(count);
  r.result().figures["moved_max_per_restart"] = static_cast<double>(most_moved);
  r.settle_window();
  return r.finish(true);
}

}  // namespace

std::vector<std::string> shard_scenario_names() {
  return {"shard-join", "shard-leave", "shard-crash", "shard-rolling-restart"};
}

bool is_shard_scenario(std::string_view name) { return name.starts_with("shard-"); }

shard_scenario_result run_shard_scenario(const shard_scenario_options& o) {
  const auto strategy = strategy_of(o.allocation);
  const auto names = shard_scenario_names();
  std::string problem;
  if (std::find(names.begin(), names.end(), o.name) == names.end())
    problem = "unknown scenario " + o.name;
  else if (strategy.empty())
    problem = "unknown allocation " + o.allocation + " (least-shard or ring)";
  else if (o.nodes < 1 || o.shards < 1 || o.virtual_nodes < 1)
    problem = "nodes, shards and virtual nodes must be at least 1";
  else if (o.nodes < 2 && (o.name == "shard-leave" || o.name == "shard-crash"))
    problem = o.name + " needs at least 2 nodes";
  if (!problem.empty()) {
    shard_scenario_result r;
    r.scenario = o.name;
    r.allocation = o.allocation;
    r.nodes = o.nodes;
    r.shards = o.shards;
    r.virtual_nodes = o.virtual_nodes;
    r.seed = o.seed;
    r.failure = problem;
    return r;
  }
  shard_run r{o, strategy};
  if (!r.setup()) return r.finish(false);
  if (o.name == "shard-join") return join_scenario(r);
  if (o.name == "shard-leave") return leave_scenario(r);
  if (o.name == "shard-crash") return crash_scenario(r);
  return rolling_restart_scenario(r);
}

}  // namespace troupe::sharding::sim
