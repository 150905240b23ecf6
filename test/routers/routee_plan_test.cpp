// The routee plan: eligibility by status, role and reachability; group slots; the pool's
// spread over nodes.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <troupe/routers/routee_plan.hpp>

namespace tr = troupe::routers;
namespace model = troupe::cluster::model;

namespace {

model::unique_address node(std::uint16_t port) { return {{"rt", "127.0.0.1", port}, port * 7u}; }

std::size_t total(const std::map<model::unique_address, std::size_t>& m) {
  std::size_t n = 0;
  for (const auto& [k, v] : m) n += v;
  return n;
}

}  // namespace

TEST_CASE("routee plan: a group has every path on every eligible node, capped", "[unit]") {
  tr::cluster_router_settings s;
  s.routees_paths = {"/user/a", "/user/b"};
  s.total_instances = 5;
  tr::routee_plan plan(s, node(1));
  CHECK(plan.group_slots().empty());
  CHECK(plan.member_up(node(2), {}));
  CHECK(plan.member_up(node(1), {}));
  CHECK_FALSE(plan.member_up(node(1), {}));  // already up: no change
  CHECK(plan.member_up(node(3), {}));
  const auto slots = plan.group_slots();
  REQUIRE(slots.size() == 5);  // 3 nodes x 2 paths, capped at 5
  CHECK(slots[0] == tr::routee_slot{node(1), "/user/a"});
  CHECK(slots[1] == tr::routee_slot{node(1), "/user/b"});
  CHECK(slots[4] == tr::routee_slot{node(3), "/user/a"});
}

TEST_CASE(
    "routee plan: role, local routees, reachability and removal decide "
    "eligibility",
    "[unit]") {
  tr::cluster_router_settings s;
  s.routees_paths = {"/user/w"};
  s.use_role = "backend";
  s.allow_local_routees = false;
  tr::routee_plan plan(s, node(1));
  CHECK_FALSE(plan.member_up(node(1), {"backend"}));  // this node, local routees not allowed
  CHECK_FALSE(plan.member_up(node(2), {"frontend"}));
  CHECK(plan.member_up(node(3), {"backend", "x"}));
  CHECK(plan.member_up(node(4), {"backend"}));
  CHECK(plan.eligible_nodes() == std::vector<model::unique_address>{node(3), node(4)});

  CHECK(plan.member_unreachable(node(3)));
  CHECK_FALSE(plan.member_unreachable(node(3)));
  CHECK(plan.eligible_nodes() == std::vector<model::unique_address>{node(4)});
  CHECK(plan.member_reachable(node(3)));
  CHECK(plan.eligible_nodes().size() == 2);

  CHECK(plan.member_gone(node(4)));
  CHECK_FALSE(plan.member_gone(node(4)));
  CHECK_FALSE(plan.member_gone(node(2)));  // never eligible
  CHECK(plan.eligible_nodes() == std::vector<model::unique_address>{node(3)});
}

TEST_CASE(
    "routee plan: a pool fills the node with the fewest first, within "
    "both caps",
    "[unit]") {
  tr::cluster_router_settings s;
  s.max_instances_per_node = 3;
  s.total_instances = 7;
  tr::routee_plan plan(s, node(1));
  for (std::uint16_t p = 1; p <= 2; ++p) plan.member_up(node(p), {});

  auto t = plan.pool_targets({});
  CHECK(t[node(1)] == 3);
  CHECK(t[node(2)] == 3);  // 6: both nodes full before the total of 7

  plan.member_up(node(3), {});
  t = plan.pool_targets(t);
  CHECK(t[node(1)] == 3);  // kept
  CHECK(t[node(3)] == 1);  // the seventh
  CHECK(total(t) == 7);

  // Node 2 removed: its routees are gone, the pool spreads over what is left.
  plan.member_gone(node(2));
  auto current = t;
  current.erase(node(2));
  t = plan.pool_targets(current);
  CHECK(t[node(1)] == 3);
  CHECK(t[node(3)] == 3);
  CHECK(total(t) == 6);

  // Unreachable: its routees stay counted (they come back), it gets no more.
  plan.member_unreachable(node(3));
  current = {{node(1), 1}, {node(3), 1}};
  t = plan.pool_targets(current);
  CHECK(t[node(1)] == 3);
  CHECK(t[node(3)] == 1);
}

TEST_CASE("routee plan: the same inputs give the same routees in any order", "[unit]") {
  tr::cluster_router_settings s;
  s.routees_paths = {"/user/w"};
  s.max_instances_per_node = 2;
  s.total_instances = 5;
  tr::routee_plan a(s, node(1));
  tr::routee_plan b(s, node(1));
  for (std::uint16_t p : {1, 2, 3, 4}) a.member_up(node(p), {});
  for (std::uint16_t p : {4, 2, 1, 3}) b.member_up(node(p), {});
  CHECK(a.group_slots() == b.group_slots());
  CHECK(a.pool_targets({}) == b.pool_targets({}));
  // One each, then the fifth to the lowest address among the fewest.
  const auto t = a.pool_targets({});
  CHECK(t.at(node(1)) == 2);
  CHECK(t.at(node(2)) == 1);
  CHECK(t.at(node(4)) == 1);
}

TEST_CASE("cluster router settings: keys, defaults and errors naming the key", "[unit]") {
  auto good = tr::cluster_router_settings::parse(nlohmann::json{{"routees-paths", {"/user/w"}},
                                                                {"max-instances-per-node", 2},
                                                                {"use-role", "backend"},
                                                                {"allow-local-routees", false}});
  REQUIRE(good);
  CHECK(good->routees_paths == std::vector<std::string>{"/user/w"});
  CHECK(good->max_instances_per_node == 2);
  CHECK(good->total_instances == 10'000);
  CHECK(good->use_role == "backend");
  CHECK_FALSE(good->allow_local_routees);
  CHECK(good->load_report_interval == std::chrono::milliseconds(500));  // the default

  auto interval = tr::cluster_router_settings::parse(nlohmann::json{{"load-report-interval-ms", 50}});
  REQUIRE(interval);
  CHECK(interval->load_report_interval == std::chrono::milliseconds(50));
  auto too_fast = tr::cluster_router_settings::parse(nlohmann::json{{"load-report-interval-ms", 5}});
  REQUIRE_FALSE(too_fast);
  CHECK(too_fast.error().key == "load-report-interval-ms");

  auto relative = tr::cluster_router_settings::parse(nlohmann::json{{"routees-paths", {"user/w"}}});
  REQUIRE_FALSE(relative);
  CHECK(relative.error().key == "routees-paths");
  auto zero = tr::cluster_router_settings::parse(nlohmann::json{{"max-instances-per-node", 0}});
  REQUIRE_FALSE(zero);
  CHECK(zero.error().key == "max-instances-per-node");
  auto unknown = tr::cluster_router_settings::parse(nlohmann::json{{"total-instance", 3}});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().key == "total-instance");
}
