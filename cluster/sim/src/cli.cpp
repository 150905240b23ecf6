#include "troupe/cluster/sim/cli.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "troupe/cluster/sim/report.hpp"
#include "troupe/cluster/sim/scenarios.hpp"

namespace troupe::cluster::sim {

const char* const cli_usage =
    "usage: troupe-sim [--nodes N] [--seeds S] [--scenario NAME] [--seed SEED] [--json]\n"
    "                  [--duration SECONDS] [--extra SECONDS] [--freeze SECONDS]\n"
    "                  [--restarts N] [--churn-interval SECONDS] [--overlapping-crashes]\n"
    "                  [--loss P] [--latency-ms MS] [--jitter-ms MS]\n"
    "                  [--stable-after SECONDS] [--down-all-when-unstable SECONDS]\n"
    "                  [--downing-gossips N]\n"
    "                  [--max-wall SECONDS] [--max-rss-mib MIB]\n"
    "                  [--check-gossip] [--no-invariants]\n"
    "scenarios: join, crash-one, freeze-one, partition-K (e.g. partition-2), partition-2-3,\n"
    "           one-way, churn, rolling-restart\n";

namespace {

std::chrono::nanoseconds secs(double s) {
  return std::chrono::nanoseconds{static_cast<std::int64_t>(s * 1e9)};
}

}  // namespace

int run_cli(int argc, char** argv) {
  const char* const usage = cli_usage;
  scenario_options o;
  bool json = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
        return argv[++i];
      };
      if (arg == "--nodes") o.settings.nodes = std::stoul(value());
      else if (arg == "--seeds") o.settings.seeds = std::stoul(value());
      else if (arg == "--scenario") o.name = value();
      else if (arg == "--seed") o.settings.seed = std::stoull(value());
      else if (arg == "--json") json = true;
      else if (arg == "--duration") o.duration = secs(std::stod(value()));
      else if (arg == "--extra") o.extra = secs(std::stod(value()));
      else if (arg == "--freeze") o.freeze_for = secs(std::stod(value()));
      else if (arg == "--restarts") o.restarts = std::stoul(value());
      else if (arg == "--churn-interval") o.churn_interval = secs(std::stod(value()));
      else if (arg == "--overlapping-crashes") o.overlapping_crashes = true;
      else if (arg == "--loss") o.settings.network.loss = std::stod(value());
      else if (arg == "--latency-ms") o.settings.network.base_latency = secs(std::stod(value()) / 1e3);
      else if (arg == "--jitter-ms") o.settings.network.jitter_mean = secs(std::stod(value()) / 1e3);
      else if (arg == "--stable-after") o.settings.sbr.stable_after = secs(std::stod(value()));
      else if (arg == "--down-all-when-unstable") o.settings.sbr.down_all_when_unstable = secs(std::stod(value()));
      else if (arg == "--downing-gossips") o.settings.gossips_on_downing = std::stoul(value());
      else if (arg == "--max-wall") o.max_wall_seconds = std::stod(value());
      else if (arg == "--max-rss-mib") o.max_rss_mib = std::stod(value());
      else if (arg == "--check-gossip") o.settings.check_gossip_invariants = true;
      else if (arg == "--no-invariants") o.settings.check_invariants = false;
      else if (arg == "--help" || arg == "-h") {
        std::cout << usage;
        return 0;
      } else {
        throw std::invalid_argument("unknown option " + arg);
      }
    }
    if (o.settings.nodes < 1) throw std::invalid_argument("--nodes must be >= 1");
    if (o.settings.seeds < 1) throw std::invalid_argument("--seeds must be >= 1");
    if (!(o.settings.network.loss >= 0 && o.settings.network.loss < 1))
      throw std::invalid_argument("--loss must be in [0, 1)");
    if (auto why = troupe::cluster::model::validate(o.settings.sbr)) throw std::invalid_argument(*why);
  } catch (const std::exception& e) {
    std::cerr << "troupe-sim: " << e.what() << "\n" << usage;
    return 2;
  }

  // Runs that take long show where they stand, on a terminal only (not in logs or pipes).
  if (::isatty(STDERR_FILENO) == 1) {
    o.on_progress = [](const progress_report& p) {
      std::fprintf(stderr,
                   "\r\033[Ktroupe-sim: %.1f s simulated; %zu running, %zu members, %zu up; %.0f s so far, at most "
                   "%.0f s more for this phase",
                   p.simulated_s, p.running, p.members, p.up, p.wall_s, p.phase_left_s);
      std::fflush(stderr);
    };
  }
  const scenario_result r = run_scenario(o);
  if (o.on_progress) std::fputs("\r\033[K", stderr);  // the last progress line gives way to the result
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

}  // namespace troupe::cluster::sim
