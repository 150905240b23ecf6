// The runtime's counters (`actor_system::stats`) and the Prometheus text writer that the
// cluster's `/metrics` endpoint serves them with.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <troupe/actor.hpp>
#include <troupe/actor/metrics.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/counter_sink.hpp"
#include "support/quiet_settings.hpp"

using namespace std::chrono_literals;
using troupe::metric_type;
using troupe::metrics_text;
using troupe::testkit::await_condition;
using troupe::testkit::test_probe;
using troupe::test_support::quiet_manual;

namespace {

/// Echoes strings; "boom" throws, so its supervisor restarts it.
class fragile final : public troupe::actor {
 public:
  troupe::behavior make_behavior() override {
    return {[](const std::string& s) -> std::string {
      if (s == "boom") throw std::runtime_error("boom");
      return s;
    }};
  }
};

}  // namespace

TEST_CASE("metrics text: families keep their samples together, HELP and TYPE once, labels escaped",
          "[unit][metrics]") {
  metrics_text out;
  out.add("troupe_a_total", metric_type::counter, "Things\\done\nsofar", 3, {{"system", "shop"}});
  out.add("troupe_members", metric_type::gauge, "Members", 2, {{"status", "up"}});
  out.add("troupe_a_total", metric_type::counter, "ignored: the first help stays", 4,
          {{"system", "we\"ird\\na\nme"}});
  out.add("troupe_ratio", metric_type::gauge, "A ratio", 0.25);
  out.add("troupe_members", metric_type::gauge, "Members", 1, std::vector<std::pair<std::string, std::string>>{
                                                                    {"status", "joining"}, {"role", "backend"}});
  CHECK(out.text() ==
        "# HELP troupe_a_total Things\\\\done\\nsofar\n"
        "# TYPE troupe_a_total counter\n"
        "troupe_a_total{system=\"shop\"} 3\n"
        "troupe_a_total{system=\"we\\\"ird\\\\na\\nme\"} 4\n"
        "# HELP troupe_members Members\n"
        "# TYPE troupe_members gauge\n"
        "troupe_members{status=\"up\"} 2\n"
        "troupe_members{status=\"joining\",role=\"backend\"} 1\n"
        "# HELP troupe_ratio A ratio\n"
        "# TYPE troupe_ratio gauge\n"
        "troupe_ratio 0.25\n");
  CHECK(metrics_text{}.text().empty());
}

TEST_CASE("metrics text: large counters print whole, odd values as Prometheus spells them", "[unit][metrics]") {
  metrics_text out;
  out.add("big_total", metric_type::counter, "h", 18446744073709.0);
  out.add("nan", metric_type::gauge, "h", std::numeric_limits<double>::quiet_NaN());
  out.add("inf", metric_type::gauge, "h", std::numeric_limits<double>::infinity());
  const auto t = out.text();
  CHECK_THAT(t, Catch::Contains("big_total 18446744073709\n") && Catch::Contains("nan NaN\n") &&
                    Catch::Contains("inf +Inf\n"));
}

TEST_CASE("metrics text: a malformed name, label name or a second type is a programming error", "[unit][metrics]") {
  metrics_text out;
  CHECK_THROWS_AS(out.add("1bad", metric_type::gauge, "h", 1), std::invalid_argument);
  CHECK_THROWS_AS(out.add("bad-name", metric_type::gauge, "h", 1), std::invalid_argument);
  CHECK_THROWS_AS(out.add("ok", metric_type::gauge, "h", 1, {{"bad-label", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(out.add("ok2", metric_type::gauge, "h", 1, {{"__reserved", "v"}}), std::invalid_argument);
  out.add("x_total", metric_type::counter, "h", 1);
  CHECK_THROWS_AS(out.add("x_total", metric_type::gauge, "h", 1), std::invalid_argument);
}

TEST_CASE("system stats count messages handled, dead letters, restarts and stops", "[integration][metrics]") {
  troupe::actor_system sys("metrics");
  const auto before = sys.stats();
  test_probe probe(sys);
  auto a = sys.spawn<fragile>("fragile");
  for (int i = 0; i < 100; ++i) a.tell(std::to_string(i), probe.ref());
  for (int i = 0; i < 100; ++i) probe.expect_msg<std::string>(std::to_string(i));
  await_condition(sys, [&] { return sys.stats().messages_processed >= before.messages_processed + 100; }, 5s,
                  "100 messages counted");

  a.tell(std::string("boom"), probe.ref());  // the user guardian restarts it
  a.tell(std::string("after"), probe.ref());
  probe.expect_msg<std::string>("after");
  await_condition(sys, [&] { return sys.stats().actors_restarted == before.actors_restarted + 1; }, 5s,
                  "one restart counted");

  sys.stop(a);
  await_condition(sys, [&] { return sys.stats().actors_stopped >= before.actors_stopped + 1; }, 5s,
                  "the stop counted");
  a.tell(std::string("to the dead"));
  await_condition(sys, [&] { return sys.stats().dead_letters >= before.dead_letters + 1; }, 5s,
                  "a dead letter counted");
  CHECK(sys.stats().dead_letters == sys.dead_letter_count());
}

namespace {

/// Counts the ints it is sent.
using troupe::test_support::counter_sink;

}  // namespace

TEST_CASE("deepest mailboxes: a backlog is listed with its depth now, and leaves the list once drained",
          "[unit][metrics]") {
  troupe::actor_system sys("depth", quiet_manual());
  auto hot_seen = std::make_shared<int>(0);
  auto warm_seen = std::make_shared<int>(0);
  auto calm_seen = std::make_shared<int>(0);
  auto hot = sys.spawn<counter_sink>("hot", hot_seen);
  auto warm = sys.spawn<counter_sink>("warm", warm_seen);
  auto calm = sys.spawn<counter_sink>("calm", calm_seen);
  sys.run_until_idle();
  CHECK(sys.deepest_mailboxes().empty());

  for (int i = 0; i < 1000; ++i) hot.tell(i);
  for (int i = 0; i < 300; ++i) warm.tell(i);
  for (int i = 0; i < 10; ++i) calm.tell(i);  // never long enough to be listed
  // Turns of one message (manual mode) until both long mailboxes are listed:
  // about one turn in 8 that ends with a backlog lists its actor.
  int turns = 0;
  while (sys.deepest_mailboxes().size() < 2 && turns < 200) {
    REQUIRE(sys.run_one());
    ++turns;
  }
  auto listed = sys.deepest_mailboxes();
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].path == "troupe://depth/user/hot");
  CHECK(listed[0].depth == static_cast<std::uint32_t>(1000 - *hot_seen));
  CHECK(listed[1].path == "troupe://depth/user/warm");
  CHECK(listed[1].depth == static_cast<std::uint32_t>(300 - *warm_seen));
  CHECK(sys.deepest_mailboxes(1).size() == 1);

  // The depth is read when asked, not when listed.
  for (int i = 0; i < 5; ++i) REQUIRE(sys.run_one());
  listed = sys.deepest_mailboxes();
  REQUIRE(!listed.empty());
  for (const auto& m : listed) {
    const int seen = m.path == "troupe://depth/user/hot" ? *hot_seen : *warm_seen;
    CHECK(m.depth == static_cast<std::uint32_t>((m.path == "troupe://depth/user/hot" ? 1000 : 300) - seen));
  }

  sys.run_until_idle();
  CHECK(*hot_seen == 1000);
  CHECK(*warm_seen == 300);
  CHECK(sys.deepest_mailboxes().empty());
}

TEST_CASE("deepest mailboxes: a stopped actor leaves the list",
          "[unit][metrics]") {
  troupe::actor_system sys("depth-stop", quiet_manual());
  auto seen = std::make_shared<int>(0);
  auto a = sys.spawn<counter_sink>("a", seen);
  sys.run_until_idle();
  for (int i = 0; i < 500; ++i) a.tell(i);
  for (int turns = 0; sys.deepest_mailboxes().empty() && turns < 50; ++turns) REQUIRE(sys.run_one());
  REQUIRE(sys.deepest_mailboxes().size() == 1);
  sys.stop(a);
  sys.run_until_idle();
  CHECK(*seen < 500);  // the stop overtook the rest, which went to dead letters
  CHECK(sys.deepest_mailboxes().empty());
}

namespace {

/// Holds its first message until `gate` opens, then counts the rest.
class gated_sink final : public troupe::actor {
 public:
  gated_sink(std::shared_ptr<std::atomic<bool>> gate, std::shared_ptr<std::atomic<int>> seen)
      : gate_(std::move(gate)), seen_(std::move(seen)) {}
  troupe::behavior make_behavior() override {
    return {[this](int) {
      while (!gate_->load(std::memory_order_acquire)) std::this_thread::yield();
      seen_->fetch_add(1, std::memory_order_relaxed);
    }};
  }

 private:
  std::shared_ptr<std::atomic<bool>> gate_;
  std::shared_ptr<std::atomic<int>> seen_;
};

}  // namespace

TEST_CASE("deepest mailboxes: read while workers list and drain long mailboxes", "[integration][metrics]") {
  // For the sanitizers: the list is written on the workers' turns and read here at once.
  troupe::actor_system sys("depth-threads");
  auto gate = std::make_shared<std::atomic<bool>>(false);
  std::vector<troupe::actor_ref> sinks;
  std::vector<std::shared_ptr<std::atomic<int>>> seen;
  constexpr int per_sink = 3000;
  for (int i = 0; i < 4; ++i) {
    seen.push_back(std::make_shared<std::atomic<int>>(0));
    sinks.push_back(sys.spawn<gated_sink>("sink-" + std::to_string(i), gate, seen.back()));
  }
  for (int n = 0; n < per_sink; ++n) {
    for (auto& s : sinks) s.tell(n);
  }
  gate->store(true, std::memory_order_release);
  std::size_t max_listed = 0;
  await_condition(sys, [&] {
    const auto listed = sys.deepest_mailboxes();
    max_listed = std::max(max_listed, listed.size());
    for (const auto& m : listed) {
      CHECK(m.path.starts_with("troupe://depth-threads/user/sink-"));
      CHECK(m.depth <= static_cast<std::uint32_t>(per_sink));
      CHECK(m.depth > 0);
    }
    for (const auto& s : seen) {
      if (s->load(std::memory_order_relaxed) < per_sink) return false;
    }
    return true;
  }, 20s, "every sink drained", 100us);
  CHECK(max_listed <= 4);
  CHECK(sys.deepest_mailboxes().empty());
}
