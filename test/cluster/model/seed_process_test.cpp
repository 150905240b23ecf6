// The seed process's decision (model/seed_process.hpp): when the first seed forms a new
// cluster, when it waits and reports, and whom a joining node asks.
#include "troupe/cluster/model/seed_process.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace std::chrono_literals;
using troupe::cluster::model::address;
using troupe::cluster::model::seed_decision;
using troupe::cluster::model::seed_process;
using troupe::cluster::model::seed_process_settings;
using troupe::cluster::model::seed_reason;
using troupe::cluster::model::seed_step;

namespace {

address node(int i) { return {"sys", "10.0.0." + std::to_string(i), 2551}; }

seed_process_settings settings(bool alone = false) {
  seed_process_settings s;
  s.seed_node_timeout = 5s;
  s.form_cluster_when_alone = alone;
  s.report_interval = 60s;
  return s;
}

bool forms(const seed_decision& d) { return d.step == seed_step::form_cluster; }

}  // namespace

TEST_CASE("seed_process: the only seed forms a cluster at once", "[unit][seed]") {
  seed_process p{node(1), {node(1)}, {}, 0s};
  const auto d = p.step(settings(), 0s);
  CHECK(forms(d));
  CHECK(d.reason == seed_reason::only_seed);
  CHECK(p.probe_targets().empty());
}

TEST_CASE("seed_process: the only seed with remembered members asks them first", "[unit][seed]") {
  seed_process p{node(1), {node(1)}, {node(3)}, 0s};
  CHECK_FALSE(forms(p.step(settings(), 1s)));
  CHECK(p.probe_targets() == std::vector<address>{node(3)});
  SECTION("until they nack") {
    p.nacked(node(3));
    CHECK(p.step(settings(), 1s).reason == seed_reason::only_seed);
  }
  SECTION("or the timeout passes") { CHECK(forms(p.step(settings(), 5s))); }
}

TEST_CASE("seed_process: the first seed forms a cluster when every other seed nacks", "[unit][seed]") {
  seed_process p{node(1), {node(1), node(2), node(3)}, {}, 0s};
  p.nacked(node(2));
  CHECK(p.step(settings(), 100ms).step == seed_step::probe);
  p.nacked(node(3));
  const auto d = p.step(settings(), 200ms);
  CHECK(forms(d));
  CHECK(d.reason == seed_reason::seeds_nacked);
}

TEST_CASE("seed_process: nacks of remembered members do not stand for seeds", "[unit][seed]") {
  seed_process p{node(1), {node(1), node(2)}, {node(3)}, 0s};
  p.nacked(node(3));
  CHECK_FALSE(forms(p.step(settings(), 1s)));
  p.nacked(node(9));  // never asked: ignored
  CHECK_FALSE(forms(p.step(settings(), 1s)));
}

TEST_CASE("seed_process: with every seed nacking, the first seed waits for the remembered members until the timeout",
          "[unit][seed]") {
  seed_process p{node(1), {node(1), node(2)}, {node(3)}, 0s};
  p.nacked(node(2));
  CHECK(p.step(settings(), 1s).reason == seed_reason::asking);
  SECTION("they nack too") {
    p.nacked(node(3));
    CHECK(p.step(settings(), 1s).reason == seed_reason::seeds_nacked);
  }
  SECTION("they stay silent") { CHECK(p.step(settings(), 5s).reason == seed_reason::seeds_nacked); }
}

TEST_CASE("seed_process: a first seed nobody answers does not form a cluster by default and reports why, then rarely",
          "[unit][seed]") {
  seed_process p{node(1), {node(1), node(2), node(3)}, {node(4)}, 0s};
  const auto s = settings();
  // 1. Within the timeout it asks, without a report.
  auto d = p.step(s, 4s);
  CHECK(d.reason == seed_reason::asking);
  CHECK_FALSE(d.report);
  // 2. At the timeout: no cluster, one report.
  p.nacked(node(2));  // one seed answered, another stays silent: still no cluster
  d = p.step(s, 5s);
  CHECK(d.step == seed_step::probe);
  CHECK(d.reason == seed_reason::waiting_alone);
  CHECK(d.report);
  const auto notice = p.wait_notice(s, 5s);
  CHECK(notice.silent_seeds == std::vector<address>{node(3)});
  CHECK(notice.known_members == std::vector<address>{node(4)});
  const std::string text = to_string(notice);
  CHECK_THAT(text, Catch::Contains("does not form a new cluster"));
  CHECK_THAT(text, Catch::Contains("first-seed-forms-cluster-when-alone"));
  CHECK_THAT(text, Catch::Contains(to_string(node(3))));
  // 3. Every later tick asks again, reporting only once a report interval has passed.
  for (auto t = 6s; t < 65s; t += 1s) CHECK_FALSE(p.step(s, t).report);
  CHECK(p.step(s, 65s).report);
  CHECK_FALSE(p.step(s, 66s).report);
  // 4. Everyone is still asked, also the seed that nacked (it may have joined since).
  CHECK(p.probe_targets() == std::vector<address>{node(2), node(3), node(4)});
}

TEST_CASE("seed_process: with first-seed-forms-cluster-when-alone the first seed forms a cluster at the timeout",
          "[unit][seed]") {
  seed_process p{node(1), {node(1), node(2)}, {}, 10s};
  CHECK_FALSE(forms(p.step(settings(true), 14s)));
  const auto d = p.step(settings(true), 15s);
  CHECK(forms(d));
  CHECK(d.reason == seed_reason::timed_out_allowed);
  CHECK_FALSE(d.report);
}

TEST_CASE("seed_process: other nodes never form a cluster and ask the seeds and remembered members", "[unit][seed]") {
  seed_process p{node(2), {node(1), node(2)}, {node(3), node(1), node(2), node(3)}, 0s};
  CHECK_FALSE(p.is_first_seed());
  p.nacked(node(1));
  p.nacked(node(3));
  for (bool alone : {false, true}) {
    const auto d = p.step(settings(alone), 1h);
    CHECK(d.reason == seed_reason::not_first_seed);
    CHECK_FALSE(d.report);
  }
  // Itself and duplicates are left out; seeds first.
  CHECK(p.probe_targets() == std::vector<address>{node(1), node(3)});
}
