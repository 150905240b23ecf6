// The mediator on a running cluster: three actor systems on loopback in one process, each a
// cluster node with its mediator, gossiping every 50 ms so the whole case takes seconds.
// Every wait polls a condition with a deadline.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/model/membership_state.hpp>
#include <troupe/pubsub/pubsub.hpp>

#include "support/test_cluster.hpp"

using namespace std::chrono_literals;
using troupe::testkit::await_condition;
using troupe::testkit::test_probe;
namespace ps = troupe::pubsub;

namespace {

ps::distributed_pubsub_settings fast_pubsub() {
  auto s = ps::distributed_pubsub_settings::parse(
      nlohmann::json{{"gossip-interval-ms", 50}, {"routing-logic", "round-robin"}, {"max-delta-elements", 50}});
  REQUIRE(s);
  return *s;
}

/// An actor that takes anything and does nothing.
class silent final : public troupe::actor {
 public:
  troupe::behavior make_behavior() override {
    return {[](troupe::message&) {}};
  }
};

/// A cluster node with its mediator's queries.
struct node : troupe::test::cluster_node {
  explicit node(const nlohmann::json& settings) : cluster_node(settings) {}
  ps::distributed_pubsub& pubsub() { return ps::distributed_pubsub::get(system); }
  troupe::actor_ref mediator() { return pubsub().mediator(); }
  std::size_t count(const std::string& topic) { return pubsub().ask_count(topic, 5s).get().count; }
  std::size_t registered(const std::string& path) { return pubsub().ask_registered(path, 5s).get().count; }
  ps::pubsub_stats stats() { return pubsub().ask_stats(5s).get(); }
};

using troupe::test::metric;

/// Three nodes in one cluster, each with a started mediator.
std::vector<std::unique_ptr<node>> start_nodes(std::size_t n = 3) {
  auto nodes = troupe::test::form_cluster<node>(n, "pstest");
  for (auto& x : nodes) REQUIRE(x->pubsub().start(fast_pubsub()));
  return nodes;
}

}  // namespace

TEST_CASE("pubsub: settings name the bad key", "[unit]") {
  auto bad = ps::distributed_pubsub_settings::parse(R"({"routing-logic": "broadcast"})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().key == "routing-logic");
  CHECK(std::string(bad.error().what()).find("round-robin") != std::string::npos);
  auto zero = ps::distributed_pubsub_settings::parse(R"({"gossip-interval-ms": 0})");
  REQUIRE_FALSE(zero);
  CHECK(zero.error().key == "gossip-interval-ms");
  auto unknown = ps::distributed_pubsub_settings::parse(R"({"gossip-intervall-ms": 10})");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().key == "gossip-intervall-ms");
  auto good = ps::distributed_pubsub_settings::parse(
      R"({"role": "backend", "max-delta-elements": 20, "removed-time-to-live-ms": 5000, "routing-logic": "round-robin"})");
  REQUIRE(good);
  CHECK(good->mediator.role == "backend");
  CHECK(good->mediator.max_delta_elements == 20);
  CHECK(good->mediator.removed_time_to_live == 5s);
  CHECK(good->mediator.routing_logic == ps::routing_logic::round_robin);
  CHECK(good->mediator.gossip_interval == 1s);  // Akka's default kept
}

TEST_CASE("pubsub: publish, groups, put and send, deaths and a leaving node on three nodes", "[integration]") {
  auto nodes = start_nodes();
  node& a = *nodes[0];
  node& b = *nodes[1];
  node& c = *nodes[2];

  {
    INFO("/metrics counts the registry, publishes, sends and deliveries (nothing happened before)");
    test_probe m1(a.system);
    test_probe m2(a.system);
    test_probe svc(a.system, "metered");
    m1.send(a.mediator(), ps::subscribe{"metered", m1.ref()});
    m1.expect_msg<ps::subscribe_ack>(5s);
    m2.send(a.mediator(), ps::subscribe{"metered", m2.ref()});
    m2.expect_msg<ps::subscribe_ack>(5s);
    a.mediator().tell(ps::put{svc.ref()});
    for (int i = 0; i < 5; ++i) a.mediator().tell(ps::publish::of("metered", std::to_string(i)));
    a.mediator().tell(ps::publish::of("metered-by-nobody", std::string("lost")));
    for (int i = 0; i < 2; ++i) a.mediator().tell(ps::send::of("/system/metered", std::string("sent")));
    for (int i = 0; i < 5; ++i) {
      CHECK(m1.expect_msg<std::string>(5s) == std::to_string(i));
      CHECK(m2.expect_msg<std::string>(5s) == std::to_string(i));
    }
    for (int i = 0; i < 2; ++i) CHECK(svc.expect_msg<std::string>(5s) == "sent");
    // The figures are stored after the deliveries: wait for the last command's.
    await_condition(
        a.system, [&] { return metric(a, "troupe_pubsub_sent_total{command=\"send\"}") == 2; }, 5s,
        "two sends counted");
    CHECK(metric(a, "troupe_pubsub_sent_total{command=\"send_to_all\"}") == 0);
    CHECK(metric(a, "troupe_pubsub_published_total") == 6);
    CHECK(metric(a, "troupe_pubsub_delivered_total{to=\"local\"}") == 12);
    CHECK(metric(a, "troupe_pubsub_delivered_total{to=\"remote\"}") == 0);
    CHECK(metric(a, "troupe_pubsub_dead_letters_total") == 1);
    CHECK(metric(a, "troupe_pubsub_topics") == 1);
    CHECK(metric(a, "troupe_pubsub_local_subscribers") == 2);
    CHECK(metric(a, "troupe_pubsub_registry_entries") == 3);
    // The registry reaches b by gossip; b's publish goes straight to a's subscribers.
    await_condition(
        b.system, [&] { return metric(b, "troupe_pubsub_registry_entries") == 3; }, 5s, "a's entries seen on b");
    CHECK(metric(b, "troupe_pubsub_entries_merged_total") == 3);
    CHECK(metric(b, "troupe_pubsub_topics") == 0);
    // Deltas answer statuses: somebody asked, and a or c answered.
    CHECK(metric(a, "troupe_pubsub_deltas_sent_total") + metric(c, "troupe_pubsub_deltas_sent_total") >= 1);
    CHECK(metric(b, "troupe_pubsub_gossip_status_sent_total") + metric(c, "troupe_pubsub_gossip_status_sent_total") >=
          1);
    b.mediator().tell(ps::publish::of("metered", std::string("from b")));
    CHECK(m1.expect_msg<std::string>(5s) == "from b");
    CHECK(m2.expect_msg<std::string>(5s) == "from b");
    await_condition(
        b.system, [&] { return metric(b, "troupe_pubsub_delivered_total{to=\"remote\"}") == 2; }, 5s,
        "two remote deliveries counted");
    CHECK(metric(b, "troupe_pubsub_published_total") == 1);
  }
  {
    INFO("subscribers on two nodes both get what the third publishes");
    test_probe pa(a.system);
    test_probe pb(b.system);
    pa.send(a.mediator(), ps::subscribe{"news", pa.ref()});
    CHECK(pa.expect_msg<ps::subscribe_ack>(5s).subscribe.topic == "news");
    pb.send(b.mediator(), ps::subscribe{"news", pb.ref()});
    CHECK(pb.expect_msg<ps::subscribe_ack>(5s).subscribe.topic == "news");
    await_condition(c.system, [&] { return c.count("news") == 2; }, 10s, "both subscribers seen on c");
    c.mediator().tell(ps::publish::of("news", std::string("hello")));
    c.mediator().tell(ps::publish::of("news", std::string("again")));
    CHECK(pa.expect_msg<std::string>(5s) == "hello");  // in order per publisher and subscriber
    CHECK(pa.expect_msg<std::string>(5s) == "again");
    CHECK(pb.expect_msg<std::string>(5s) == "hello");
    CHECK(pb.expect_msg<std::string>(5s) == "again");
    pa.send(a.mediator(), ps::unsubscribe{"news", pa.ref()});
    CHECK(pa.expect_msg<ps::unsubscribe_ack>(5s).unsubscribe.topic == "news");
    await_condition(c.system, [&] { return c.count("news") == 1; }, 10s, "the unsubscribe seen on c");
  }
  {
    INFO("a group gets each message once, in turn");
    test_probe ga(a.system);
    test_probe gb(b.system);
    ga.send(a.mediator(), ps::subscribe{"jobs", ga.ref(), "workers"});
    ga.expect_msg<ps::subscribe_ack>(5s);
    gb.send(b.mediator(), ps::subscribe{"jobs", gb.ref(), "workers"});
    gb.expect_msg<ps::subscribe_ack>(5s);
    await_condition(c.system, [&] { return c.count("jobs") == 2; }, 10s, "the group seen on c");
    for (int i = 0; i < 4; ++i) c.mediator().tell(ps::publish::of("jobs", "job " + std::to_string(i)));
    for (int i = 0; i < 2; ++i) {
      ga.expect_msg<std::string>(5s);
      gb.expect_msg<std::string>(5s);
    }
    ga.expect_no_msg(200ms);
    gb.expect_no_msg(0ms);
  }
  {
    INFO("send prefers the local actor put under a path; send_to_all reaches every one");
    test_probe sa(a.system, "svc");
    test_probe sb(b.system, "svc");
    a.mediator().tell(ps::put{sa.ref()});
    b.mediator().tell(ps::put{sb.ref()});
    await_condition(c.system, [&] { return c.registered("/system/svc") == 2; }, 10s, "both puts seen on c");
    for (int i = 0; i < 3; ++i) a.mediator().tell(ps::send::of("/system/svc", std::string("to a"), true));
    for (int i = 0; i < 3; ++i) CHECK(sa.expect_msg<std::string>(5s) == "to a");
    c.mediator().tell(ps::send_to_all::of("/system/svc", std::string("all")));
    CHECK(sa.expect_msg<std::string>(5s) == "all");
    CHECK(sb.expect_msg<std::string>(5s) == "all");
    sb.expect_no_msg(100ms);
  }
  {
    INFO("a publish to a topic nobody subscribed is a dead letter, counted");
    const auto before = a.stats().counters.dead_letters;
    a.mediator().tell(ps::publish::of("nobody", std::string("lost")));
    await_condition(a.system, [&] { return a.stats().counters.dead_letters == before + 1; }, 5s, "dead letter counted");
  }
  {
    INFO("a subscriber that terminates is removed everywhere");
    auto doomed = b.system.spawn<silent>("doomed");
    b.mediator().tell(ps::subscribe{"doom", doomed});
    await_condition(a.system, [&] { return a.count("doom") == 1; }, 10s, "the subscriber seen on a");
    b.system.stop(doomed);
    await_condition(a.system, [&] { return a.count("doom") == 0; }, 10s, "the dead subscriber gone from a");
    CHECK(b.count("doom") == 0);
  }
  {
    INFO("the subscribers of a node that leaves vanish");
    auto leaver = c.system.spawn<silent>("listener");
    c.mediator().tell(ps::subscribe{"leaving", leaver});
    await_condition(a.system, [&] { return a.count("leaving") == 1; }, 10s, "c's subscriber seen on a");
    const auto c_node = c.cl().self_unique_address();
    CHECK(a.stats().versions.count(c_node) == 1);
    c.cl().leave();
    CHECK(c.system.await_termination(15s));
    await_condition(a.system, [&] { return a.count("leaving") == 0 && a.stats().versions.count(c_node) == 0; }, 15s,
                    "c's bucket gone from a");
    await_condition(b.system, [&] { return b.count("leaving") == 0; }, 15s, "c's subscriber gone from b");
  }
}
