// Scenario runs over many seeds. Each failure prints the seed and the troupe-sim command
// that replays it.
#include "troupe/cluster/sim/scenarios.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace troupe::cluster::sim;
using namespace std::chrono_literals;

namespace {

scenario_result run(const std::string& name, std::size_t nodes, std::uint64_t seed,
                    double loss = 0.0) {
  scenario_options o;
  o.name = name;
  o.settings.nodes = nodes;
  o.settings.seed = seed;
  o.settings.network.loss = loss;
  o.duration = 60s;
  o.extra = 5s;
  return run_scenario(o);
}

std::string replay(const std::string& name, std::size_t nodes, std::uint64_t seed, double loss) {
  return "troupe-sim --scenario " + name + " --nodes " + std::to_string(nodes) + " --seed " +
         std::to_string(seed) + (loss > 0 ? " --loss " + std::to_string(loss) : "");
}

void check_many(const std::string& name, std::size_t nodes, int seeds, double loss = 0.0) {
  const std::uint64_t base = Catch::rngSeed() * 1000003ULL;
  for (int k = 0; k < seeds; ++k) {
    const std::uint64_t seed = base + static_cast<std::uint64_t>(k);
    const scenario_result r = run(name, nodes, seed, loss);
    if (!r.ok) FAIL_CHECK(r.failure << "\n  replay: " << replay(name, nodes, seed, loss));
  }
}

}  // namespace

TEST_CASE("every scenario passes on a small cluster", "[integration][sim_scenarios]") {
  for (const auto& [name, nodes] : std::vector<std::pair<std::string, std::size_t>>{
           {"join", 9}, {"crash-one", 7}, {"freeze-one", 7}, {"partition-2-3", 5},
           {"partition-3", 9}, {"one-way", 7}, {"churn", 10}, {"rolling-restart", 6}}) {
    const scenario_result r = run(name, nodes, 1);
    INFO(name << ": " << r.failure);
    CHECK(r.ok);
  }
}

TEST_CASE("an unknown scenario is an error, not a crash", "[unit][sim_scenarios]") {
  const scenario_result r = run("no-such-thing", 3, 1);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.failure, Catch::Contains("unknown scenario"));
}

TEST_CASE("partition-2-3: minority downed, majority converged, no invariant broken, 1,000 seeds",
          "[integration][sim_scenarios]") {
  const std::uint64_t base = Catch::rngSeed() * 1000003ULL;
  int minority_downed = 0, majority_converged = 0;
  for (int k = 0; k < 1000; ++k) {
    const std::uint64_t seed = base + static_cast<std::uint64_t>(k);
    const scenario_result r = run("partition-2-3", 5, seed);
    if (!r.ok) FAIL_CHECK(r.failure << "\n  replay: " << replay("partition-2-3", 5, seed, 0));
    minority_downed += r.outcomes.at("minority_downed") ? 1 : 0;
    majority_converged += r.outcomes.at("majority_converged") ? 1 : 0;
  }
  CHECK(minority_downed == 1000);
  CHECK(majority_converged == 1000);
}

TEST_CASE("randomized faults over many seeds keep every invariant", "[integration][sim_scenarios]") {
  check_many("crash-one", 6, 100);
  check_many("freeze-one", 6, 100);
  check_many("one-way", 6, 60);
  check_many("partition-1", 4, 100);
  check_many("partition-3", 7, 100);
  check_many("partition-2", 4, 100);  // a tie: the side with the lowest address stays
  check_many("rolling-restart", 5, 20);
  check_many("churn", 8, 30);
  check_many("crash-one", 6, 50, 0.02);  // with message loss
  check_many("partition-2-3", 5, 50, 0.02);
  check_many("churn", 8, 10, 0.02);
}

TEST_CASE("a run reports its progress: simulated time forward, members among running nodes", "[unit][sim]") {
  scenario_options o;
  o.name = "join";
  o.settings.nodes = 20;
  o.settings.seed = Catch::rngSeed();
  o.extra = 5s;
  o.progress_every = std::chrono::duration<double>::zero();  // every check, so a short run reports too
  std::vector<progress_report> seen;
  o.on_progress = [&](const progress_report& p) { seen.push_back(p); };
  const scenario_result r = run_scenario(o);
  REQUIRE(r.ok);
  REQUIRE(seen.size() > 10);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const auto& p = seen[i];
    CHECK(p.members <= p.running);
    CHECK(p.up <= 20);
    CHECK(p.running <= 20);
    CHECK(p.simulated_s <= p.phase_end_s);
    CHECK(p.phase_left_s >= 0);
    if (i > 0) CHECK(p.simulated_s >= seen[i - 1].simulated_s);
  }
  CHECK(seen.back().members == 20);
  CHECK(seen.back().up == 20);
}
