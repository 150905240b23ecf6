#include "troupe/cluster/sim/scenarios.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>
#include <utility>

#include "troupe/cluster/model/gossip_target_selector.hpp"
#include "troupe/cluster/sim/wire_size.hpp"

namespace troupe::cluster::sim {
namespace {

using namespace std::chrono_literals;
using model::uniform_below;

double seconds(nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// Resident memory of this process in MiB (Linux), 0 where unknown.
double resident_mib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long pages = 0, resident = 0;
  const int got = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return got == 2 ? static_cast<double>(resident) * 4096.0 / (1024.0 * 1024.0) : 0;
}

std::optional<double> since(const std::optional<nanoseconds>& t, nanoseconds from) {
  if (!t) return std::nullopt;
  return seconds(*t - from);
}

// A scenario in progress: the simulation, the wall-clock budget and the result so far.
class run {
 public:
  explicit run(const scenario_options& o)
      : options_(o), sim_(o.settings), wall_start_(std::chrono::steady_clock::now()) {
    if (o.max_wall_seconds > 0 || o.max_rss_mib > 0) sim_.set_interrupt([this] { return out_of_time(); });
    result_.scenario = o.name;
    result_.nodes = o.settings.nodes;
    result_.seeds = o.settings.seeds;
    result_.seed = o.settings.seed;
  }

  simulation& sim() { return sim_; }
  scenario_result& result() { return result_; }

  bool out_of_time() {
    if (options_.max_rss_mib > 0) {
      const double rss = resident_mib();
      peak_rss_ = std::max(peak_rss_, rss);
      if (rss > options_.max_rss_mib) {
        budget_reason_ = "memory budget of " + std::to_string(options_.max_rss_mib) + " MiB";
        return true;
      }
    }
    if (options_.max_wall_seconds <= 0) return false;
    const std::chrono::duration<double> spent = std::chrono::steady_clock::now() - wall_start_;
    if (spent.count() > options_.max_wall_seconds) {
      budget_reason_ = "wall-clock budget of " + std::to_string(options_.max_wall_seconds) + " s";
      return true;
    }
    return false;
  }

  // Tells `on_progress` where the run stands, at most every `progress_every`.
  void report_progress(nanoseconds phase_start, std::chrono::steady_clock::time_point phase_wall_start,
                       nanoseconds deadline) {
    const auto wall_now = std::chrono::steady_clock::now();
    if (!options_.on_progress || wall_now - last_progress_ < options_.progress_every) return;
    last_progress_ = wall_now;
    progress_report p;
    p.simulated_s = seconds(sim_.now());
    p.phase_end_s = seconds(deadline);
    p.wall_s = std::chrono::duration<double>(wall_now - wall_start_).count();
    const double phase_sim = seconds(sim_.now() - phase_start);
    const double phase_wall = std::chrono::duration<double>(wall_now - phase_wall_start).count();
    p.phase_left_s = phase_sim > 0 ? (p.phase_end_s - p.simulated_s) * phase_wall / phase_sim : 0;
    for (const auto& n : sim_.nodes()) {
      if (n.life != node_life::running) continue;
      ++p.running;
      if (!n.member()) continue;
      if (p.members++ == 0) {
        for (const auto& m : n.view->gossip().members()) p.up += m.status() == model::member_status::up ? 1 : 0;
      }
    }
    options_.on_progress(p);
  }

  // Runs until `done` or `deadline` (or the wall budget); true if `done` held.
  bool until(const std::function<bool()>& done, nanoseconds deadline) {
    bool budget_hit = false;
    const nanoseconds phase_start = sim_.now();
    const auto phase_wall_start = std::chrono::steady_clock::now();
    const bool held = sim_.run_until(
        [&] {
          if (out_of_time()) budget_hit = true;
          report_progress(phase_start, phase_wall_start, deadline);
          return budget_hit || done();
        },
        deadline);
    if (budget_hit || sim_.interrupted()) {
      out_of_budget_ = true;
      return false;
    }
    return held;
  }

  void for_duration(nanoseconds d) {
    until([] { return false; }, sim_.now() + d);
  }

  bool out_of_budget() const { return out_of_budget_; }

  // Starts every node and waits until they are all up and converged.
  bool form(nanoseconds limit) {
    sim_.start_all();
    const bool ok = until([&] { return sim_.settled(); }, sim_.now() + limit);
    if (ok) {
      result_.convergence_s = seconds(sim_.now());
      result_.forming = rates(traffic{}, 0, nanoseconds::zero());
    }
    return ok;
  }

  // A random running member slot that is not a seed, if there is one.
  std::optional<std::size_t> pick_non_seed() {
    std::vector<std::size_t> candidates;
    for (const auto& n : sim_.nodes())
      if (n.life == node_life::running && n.member() && !n.is_seed) candidates.push_back(n.index);
    if (candidates.empty()) return std::nullopt;
    return candidates[uniform_below(sim_.rng(), candidates.size())];
  }

  // A random running member slot, preferring non-seed nodes.
  std::size_t pick() {
    if (auto i = pick_non_seed()) return *i;
    std::vector<std::size_t> candidates;
    for (const auto& n : sim_.nodes())
      if (n.life == node_life::running && n.member()) candidates.push_back(n.index);
    return candidates[uniform_below(sim_.rng(), candidates.size())];
  }

  void mark_window_start() {
    window_traffic_ = sim_.sent();
    window_node_seconds_ = sim_.node_seconds();
    window_start_ = sim_.now();
  }

  void record_window() {
    result_.steady = rates(window_traffic_, window_node_seconds_, window_start_);
  }

  traffic_rates rates(const traffic& from, double node_seconds_from, nanoseconds start) const {
    const traffic& t = sim_.sent();
    const double ns = sim_.node_seconds() - node_seconds_from;
    traffic_rates r;
    r.window_s = seconds(sim_.now() - start);
    if (ns <= 0) return r;
    r.gossip_full = static_cast<double>(t.gossip_full - from.gossip_full) / ns;
    r.gossip_status = static_cast<double>(t.gossip_status - from.gossip_status) / ns;
    r.gossip_messages = r.gossip_full + r.gossip_status;
    r.gossip_bytes = static_cast<double>(t.gossip_bytes - from.gossip_bytes) / ns;
    r.heartbeat_messages = static_cast<double>(t.heartbeat - from.heartbeat) / ns;
    r.heartbeat_bytes = static_cast<double>(t.heartbeat_bytes - from.heartbeat_bytes) / ns;
    return r;
  }

  void watch(std::size_t slot) { sim_.watch_victim(slot); }

  // True if no running member's view has an unreachability record.
  bool all_reachable() const {
    return std::all_of(sim_.nodes().begin(), sim_.nodes().end(), [](const sim_node& n) {
      return n.life != node_life::running || !n.view || n.view->gossip().reachability().is_all_reachable();
    });
  }

  // Survivors converge: all running nodes up on one converged version.
  bool survivors_converge(nanoseconds limit, const std::string& after_what) {
    if (until([&] { return sim_.settled(); }, sim_.now() + limit)) return true;
    if (!out_of_budget_)
      sim_.fail("survivors_converge", "no convergence within " + std::to_string(seconds(limit)) +
                                          " s " + after_what + ": " + sim_.unsettled_reason());
    return false;
  }

  scenario_result finish(bool expectations_met) {
    const auto wall = std::chrono::steady_clock::now() - wall_start_;
    result_.wall_s = std::chrono::duration<double>(wall).count();
    result_.simulated_s = seconds(sim_.now());
    result_.steps = sim_.steps();
    result_.checks = sim_.checks();
    result_.violation = sim_.violation();
    result_.false_unreachable = sim_.false_unreachable();
    result_.unreachable_records = sim_.unreachable_records();
    result_.whole_run = rates(traffic{}, 0, nanoseconds::zero());
    result_.gossip_bytes_largest = sim_.largest_gossip_bytes();
    for (const auto& n : sim_.nodes())
      if (n.life == node_life::running && n.view)
        result_.gossip_bytes_final = std::max(result_.gossip_bytes_final, n.view->envelope_bytes());
    for (const auto& v : sim_.victims()) {
      victim_times t;
      t.node = to_string(v.node);
      t.detected_s = since(v.unreachable_at, v.fault_at);
      t.leader_detected_s = since(v.leader_unreachable_at, v.fault_at);
      t.downed_s = since(v.downed_at, v.fault_at);
      t.removed_s = since(v.removed_at, v.fault_at);
      t.removed_everywhere_s = since(v.removed_everywhere_at, v.fault_at);
      result_.victims.push_back(std::move(t));
    }
    result_.figures["sbr_decisions"] = static_cast<double>(sim_.sbr_decisions());
    result_.figures["sbr_down_all_unstable"] = static_cast<double>(sim_.sbr_down_all_unstable());
    result_.figures["messages_lost"] = static_cast<double>(sim_.sent().lost);
    result_.figures["members_at_end"] = static_cast<double>(sim_.running_members());
    result_.resident_mib = std::max(peak_rss_, resident_mib());
    result_.ok = expectations_met && !result_.violation && !out_of_budget_;
    if (result_.violation) {
      const auto& v = *result_.violation;
      result_.failure = "invariant " + v.invariant + " broken at step " + std::to_string(v.step) +
                        " (t=" + std::to_string(seconds(v.at)) + " s, seed " +
                        std::to_string(options_.settings.seed) + "): " + v.detail;
    } else if (out_of_budget_) {
      result_.failure = "stopped at the " + budget_reason_ + ", t=" +
                        std::to_string(seconds(sim_.now())) + " s simulated";
    } else if (!expectations_met && result_.failure.empty()) {
      result_.failure = "expectations not met (seed " + std::to_string(options_.settings.seed) + ")";
    }
    return std::move(result_);
  }

  const scenario_options& options() const { return options_; }

 private:
  scenario_options options_;
  simulation sim_;
  scenario_result result_;
  std::chrono::steady_clock::time_point wall_start_;
  std::chrono::steady_clock::time_point last_progress_ = std::chrono::steady_clock::now();
  bool out_of_budget_ = false;
  std::string budget_reason_;
  double peak_rss_ = 0;
  traffic window_traffic_;
  double window_node_seconds_ = 0;
  nanoseconds window_start_{0};
};

// Limit for forming a cluster: generous, the target is far below.
nanoseconds formation_limit(std::size_t nodes) {
  return std::chrono::seconds{120 + static_cast<std::int64_t>(nodes / 10)};
}

scenario_result join_scenario(run& r) {
  const bool formed = r.form(formation_limit(r.sim().settings().nodes));
  if (!formed) {
    if (!r.out_of_budget())
      r.sim().fail("survivors_converge", "the cluster did not form within " +
                                             std::to_string(seconds(formation_limit(r.sim().settings().nodes))) + " s");
    return r.finish(false);
  }
  r.mark_window_start();
  nanoseconds window = r.options().extra;
  if (r.options().duration && *r.options().duration > r.sim().now() + window)
    window = *r.options().duration - r.sim().now();
  r.for_duration(window);
  r.record_window();
  r.result().outcomes["all_up_converged"] = true;
  return r.finish(r.sim().settled());
}

// Waits a random bit after formation, so the fault hits at a random heartbeat phase.
void pause_before_fault(run& r) {
  r.for_duration(5s + nanoseconds{static_cast<std::int64_t>(uniform_below(r.sim().rng(), 1'000'000'000))});
}

scenario_result crash_one_scenario(run& r) {
  if (!r.form(formation_limit(r.sim().settings().nodes))) return r.finish(false);
  pause_before_fault(r);
  const std::size_t victim = r.pick();
  const nanoseconds fault = r.sim().now();
  r.watch(victim);
  r.sim().crash(victim);
  const auto& v = r.sim().victims().back();
  const bool removed = r.until([&] { return v.removed_everywhere_at.has_value(); }, fault + 120s);
  const bool converged = removed && r.survivors_converge(60s, "after the crash");
  if (converged) r.result().settle_after_fault_s = seconds(r.sim().now() - fault);
  r.result().outcomes["victim_removed"] = removed;
  r.result().outcomes["survivors_converged"] = converged;
  r.mark_window_start();
  r.for_duration(r.options().extra);
  r.record_window();
  return r.finish(removed && converged);
}

scenario_result freeze_one_scenario(run& r) {
  if (!r.form(formation_limit(r.sim().settings().nodes))) return r.finish(false);
  pause_before_fault(r);
  const std::size_t victim = r.pick();
  const nanoseconds fault = r.sim().now();
  r.watch(victim);
  r.sim().freeze(victim);
  r.for_duration(r.options().freeze_for);
  r.sim().thaw(victim);
  const bool converged = r.survivors_converge(120s, "after the thaw");
  if (converged) r.result().settle_after_fault_s = seconds(r.sim().now() - fault);
  const auto& n = r.sim().nodes()[victim];
  r.result().outcomes["survivors_converged"] = converged;
  r.result().outcomes["frozen_node_kept"] = n.life == node_life::running;
  r.result().figures["freeze_s"] = seconds(r.options().freeze_for);
  return r.finish(converged);
}

// K random nodes on one side, the rest on the other; keep-majority keeps the larger side
// (on a tie the side with the lowest address).
scenario_result partition_scenario(run& r, std::size_t k) {
  const std::size_t n = r.sim().settings().nodes;
  if (k == 0 || k >= n) {
    r.result().failure = "partition-K needs 0 < K < nodes";
    return r.finish(false);
  }
  if (!r.form(formation_limit(n))) return r.finish(false);
  pause_before_fault(r);

  // 1. Draw the minority side.
  std::vector<std::size_t> all;
  for (std::size_t i = 0; i < n; ++i) all.push_back(i);
  for (std::size_t i = 0; i < k; ++i)
    std::swap(all[i], all[i + uniform_below(r.sim().rng(), all.size() - i)]);
  std::vector<std::size_t> side_a(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k));
  std::vector<std::size_t> side_b(all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
  std::sort(side_a.begin(), side_a.end());
  std::sort(side_b.begin(), side_b.end());

  // 2. Which side keep-majority should keep.
  auto lowest = [&](const std::vector<std::size_t>& side) {
    model::unique_address best = r.sim().nodes()[side.front()].self;
    for (const std::size_t i : side) best = std::min(best, r.sim().nodes()[i].self);
    return best;
  };
  const bool keep_a = side_a.size() > side_b.size() ||
                      (side_a.size() == side_b.size() && lowest(side_a) < lowest(side_b));
  const auto& kept = keep_a ? side_a : side_b;
  const auto& downed = keep_a ? side_b : side_a;

  // 3. Cut, and wait until the downed side has stopped and the kept side has converged.
  const nanoseconds fault = r.sim().now();
  for (const std::size_t i : downed) r.watch(i);
  r.sim().network().split({side_a, side_b});
  auto all_stopped = [&] {
    return std::all_of(downed.begin(), downed.end(), [&](std::size_t i) {
      return r.sim().nodes()[i].life == node_life::stopped;
    });
  };
  const bool resolved = r.until([&] { return all_stopped() && r.sim().settled(); }, fault + 120s);
  const double resolved_after = seconds(r.sim().now() - fault);
  bool kept_alive = std::all_of(kept.begin(), kept.end(), [&](std::size_t i) {
    return r.sim().nodes()[i].life == node_life::running;
  });
  r.result().outcomes["minority_downed"] = all_stopped();
  r.result().outcomes["majority_converged"] = resolved && kept_alive;
  if (resolved) r.result().settle_after_fault_s = resolved_after;
  r.result().figures["kept_side"] = static_cast<double>(kept.size());
  r.result().figures["downed_side"] = static_cast<double>(downed.size());

  // 4. Heal: the survivors stay converged, the downed stay stopped.
  r.sim().network().heal();
  r.for_duration(r.options().extra);
  const bool healed = r.survivors_converge(60s, "after healing the partition");
  r.result().outcomes["survivors_converged_after_heal"] = healed;
  return r.finish(resolved && kept_alive && healed);
}

// One node cannot send to anyone (its side is blocked outward) but hears everyone.
scenario_result one_way_scenario(run& r) {
  if (!r.form(formation_limit(r.sim().settings().nodes))) return r.finish(false);
  pause_before_fault(r);
  const std::size_t victim = r.pick();
  const nanoseconds fault = r.sim().now();
  r.watch(victim);
  r.sim().network().set_side(victim, 1);
  r.sim().network().block(1, 0);
  const auto& v = r.sim().victims().back();
  const bool removed = r.until([&] { return v.removed_everywhere_at.has_value(); }, fault + 120s);
  const bool converged = removed && r.survivors_converge(60s, "after the one-way partition");
  if (converged) r.result().settle_after_fault_s = seconds(r.sim().now() - fault);
  r.sim().network().heal();
  r.result().outcomes["victim_removed"] = removed;
  r.result().outcomes["survivors_converged"] = converged;
  return r.finish(removed && converged);
}

scenario_result churn_scenario(run& r) {
  if (!r.form(formation_limit(r.sim().settings().nodes))) return r.finish(false);
  const nanoseconds start = r.sim().now();
  const nanoseconds end = start + r.options().duration.value_or(120s);
  std::vector<std::pair<nanoseconds, std::size_t>> restarts;  // (when, slot)
  std::size_t joins = 0, leaves = 0, crashes = 0, restarted = 0;
  auto& rng = r.sim().rng();
  std::optional<model::unique_address> last_victim;
  auto held_anywhere = [&](const std::optional<model::unique_address>& node) {
    if (!node) return false;
    for (const auto& n : r.sim().nodes())
      if (n.life == node_life::running && n.view && n.view->gossip().has_member(*node)) return true;
    return false;
  };
  while (r.sim().now() < end && !r.sim().violation() && !r.out_of_budget()) {
    // 1. Next churn event after an exponential pause.
    const double u = model::uniform_unit(rng);
    const nanoseconds pause{static_cast<std::int64_t>(
        -std::log1p(-u) * static_cast<double>(r.options().churn_interval.count()))};
    r.until([] { return false; }, std::min(end, r.sim().now() + pause));
    for (auto it = restarts.begin(); it != restarts.end();) {
      if (it->first <= r.sim().now()) {
        r.sim().start(it->second);
        ++restarted;
        it = restarts.erase(it);
      } else {
        ++it;
      }
    }
    if (r.sim().now() >= end) break;
    // 2. A join of a new node, a graceful leave, or a crash (restarted 5-20 s later).
    switch (uniform_below(rng, 3)) {
      case 0:
        r.sim().start(r.sim().add_slot());
        ++joins;
        break;
      case 1:
        // Seeds stay: without any, new nodes could not join (as in a real cluster).
        if (r.sim().running_members() > r.sim().settings().seeds + 2) {
          if (const auto i = r.pick_non_seed()) {
            r.sim().leave(*i);
            ++leaves;
          }
        }
        break;
      default:
        // Unless asked for overlapping failures, a crash waits until the previous one has
        // been dealt with (detected and its node removed from every view, not only "all
        // reachable", which also holds before the detector notices): with stable-after 7 s,
        // a second failure detected within 12.25 s of the first is instability, and the
        // resolver downs every node.
        if (!r.options().overlapping_crashes && (!r.all_reachable() || held_anywhere(last_victim))) break;
        if (r.sim().running_members() > r.sim().settings().seeds + 2) {
          const auto picked = r.pick_non_seed();
          if (!picked) break;
          const std::size_t victim = *picked;
          last_victim = r.sim().nodes()[victim].self;
          r.sim().crash(victim);
          ++crashes;
          restarts.emplace_back(r.sim().now() + 5s + nanoseconds{static_cast<std::int64_t>(
                                                           uniform_below(rng, 15'000'000'000))},
                                victim);
        }
        break;
    }
  }
  for (const auto& [when, slot] : restarts) {
    r.sim().start(slot);
    ++restarted;
  }
  r.result().figures["joins"] = static_cast<double>(joins);
  r.result().figures["leaves"] = static_cast<double>(leaves);
  r.result().figures["crashes"] = static_cast<double>(crashes);
  r.result().figures["restarts"] = static_cast<double>(restarted);
  const nanoseconds calm = r.sim().now();
  const bool converged = r.survivors_converge(180s, "after the churn stopped");
  if (converged) r.result().settle_after_fault_s = seconds(r.sim().now() - calm);
  r.result().outcomes["survivors_converged"] = converged;
  return r.finish(converged);
}

scenario_result rolling_restart_scenario(run& r) {
  const std::size_t n = r.sim().settings().nodes;
  if (!r.form(formation_limit(n))) return r.finish(false);
  const std::size_t count = r.options().restarts ? std::min(r.options().restarts, n) : std::min<std::size_t>(n, 10);
  double worst = 0, total = 0;
  bool all_ok = true;
  for (std::size_t k = 0; k < count && all_ok; ++k) {
    const std::size_t slot = n - 1 - k;  // youngest addresses first, seeds last
    const nanoseconds fault = r.sim().now();
    r.sim().crash(slot);
    r.for_duration(2s);
    r.sim().start(slot);
    all_ok = r.survivors_converge(120s, "after restarting " + r.sim().nodes()[slot].address.host);
    const double took = seconds(r.sim().now() - fault);
    worst = std::max(worst, took);
    total += took;
  }
  r.result().figures["restarts"] = static_cast<double>(count);
  r.result().figures["restart_to_converged_mean_s"] = count ? total / static_cast<double>(count) : 0;
  r.result().figures["restart_to_converged_max_s"] = worst;
  r.result().outcomes["survivors_converged"] = all_ok;
  return r.finish(all_ok);
}

}  // namespace

std::vector<std::string> scenario_names() {
  return {"join", "crash-one", "freeze-one", "partition-K", "partition-2-3", "one-way", "churn",
          "rolling-restart"};
}

scenario_result run_scenario(const scenario_options& options) {
  scenario_options o = options;
  std::optional<std::size_t> partition_k;
  if (o.name == "partition-2-3") {
    partition_k = 2;
  } else if (o.name.rfind("partition-", 0) == 0) {
    const std::string k = o.name.substr(10);
    if (!k.empty() && std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; }))
      partition_k = static_cast<std::size_t>(std::stoul(k));
  }
  run r{o};
  if (o.name == "join") return join_scenario(r);
  if (o.name == "crash-one") return crash_one_scenario(r);
  if (o.name == "freeze-one") return freeze_one_scenario(r);
  if (o.name == "one-way") return one_way_scenario(r);
  if (o.name == "churn") return churn_scenario(r);
  if (o.name == "rolling-restart") return rolling_restart_scenario(r);
  if (partition_k) return partition_scenario(r, *partition_k);
  r.result().failure = "unknown scenario '" + o.name + "'";
  return r.finish(false);
}

}  // namespace troupe::cluster::sim
