// The postgresql discovery method on the tests' own PostgreSQL server (the CTest fixture
// postgres:start-server; TROUPE_PG_CONNECTION_FILE names its connection string): rows
// registered, read back by system, withdrawn and aged out; then three in-process nodes
// that find each other through the table form one cluster. Each case uses a system name
// of its own, so runs never see each other's rows.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/discovery.hpp>

using namespace std::chrono_literals;
using troupe::cluster::cluster;
using troupe::cluster::cluster_settings;
using troupe::cluster::postgres_lookup;
using troupe::cluster::postgres_seed_provider;
using troupe::testkit::await_condition;
namespace model = troupe::cluster::model;

namespace {

/// The connection string of the fixture's server; a missing file fails the case (never skips).
std::string fixture_connection() {
  const char* file = std::getenv("TROUPE_PG_CONNECTION_FILE");
  if (file == nullptr || *file == '\0') {
    FAIL("TROUPE_PG_CONNECTION_FILE is not set: run these cases through ctest (the fixture "
         "postgres:start-server starts the server)");
  }
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.empty()) FAIL("no connection string in " << file << ": did postgres:start-server fail?");
  return s;
}

/// A system name no other case, nor another run, uses.
std::string unique_system(const std::string& what) {
  return what + "-" + std::to_string(std::random_device{}()) + std::to_string(std::random_device{}());
}

/// The rows of `system`, read with libpq directly.
int rows_of(const std::string& connection, const std::string& system) {
  PGconn* c = PQconnectdb(connection.c_str());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  const char* params[] = {system.c_str()};
  PGresult* r = PQexecParams(c, "SELECT count(*) FROM troupe_discovery WHERE system = $1", 1, nullptr, params, nullptr,
                             nullptr, 0);
  REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
  const int n = std::atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(c);
  return n;
}

std::vector<model::address> sorted(std::vector<model::address> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("discovery postgresql: nodes register, find their system's rows, withdraw and age out",
          "[postgres][discovery]") {
  const std::string conn = fixture_connection();
  const std::string sys = unique_system("pgd");
  const model::address a{sys, "10.0.0.1", 2552}, b{sys, "10.0.0.2", 2552}, other{sys + "x", "10.0.0.3", 2552};
  postgres_seed_provider pa{a, {conn, 10s}}, pb{b, {conn, 10s}}, po{other, {conn, 10s}};

  // 1. Each lookup registers its node first, so a node finds itself.
  auto found = pa.lookup();
  if (!found) FAIL(found.error());
  CHECK(*found == std::vector<model::address>{a});
  REQUIRE(po.lookup());  // another system's row
  found = pb.lookup();
  REQUIRE(found);
  CHECK(sorted(*found) == std::vector<model::address>{a, b});
  CHECK(rows_of(conn, sys) == 2);

  // 2. A node that stops withdraws its row.
  CHECK_FALSE(pa.withdraw());
  found = pb.lookup();
  REQUIRE(found);
  CHECK(*found == std::vector<model::address>{b});

  // 3. A row not refreshed within the TTL is a node gone (by the database's clock).
  postgres_seed_provider pa_short{a, {conn, 300ms}};
  REQUIRE(pa_short.lookup());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool b_aged_out = false;
  while (!b_aged_out && std::chrono::steady_clock::now() < deadline) {
    found = pa_short.lookup();  // refreshes a, never b
    REQUIRE(found);
    b_aged_out = *found == std::vector<model::address>{a};
    std::this_thread::sleep_for(20ms);
  }
  CHECK(b_aged_out);
  CHECK_FALSE(pa_short.refresh());
  CHECK_FALSE(pa_short.withdraw());
  CHECK_FALSE(pb.withdraw());
  CHECK_FALSE(po.withdraw());
  CHECK(rows_of(conn, sys) == 0);
}

TEST_CASE("discovery postgresql: a server that cannot be reached fails the lookup", "[postgres][discovery]") {
  postgres_seed_provider p{{"pgd", "10.0.0.1", 2552}, {"host=/nonexistent-troupe-socket-dir connect_timeout=2", 10s}};
  auto found = p.lookup();
  REQUIRE_FALSE(found);
  CHECK_THAT(found.error(), Catch::Contains("cannot connect to PostgreSQL"));
  CHECK(p.refresh());
}

TEST_CASE("discovery postgresql: three nodes find each other in the table and form one cluster",
          "[postgres][discovery][integration]") {
  const std::string conn = fixture_connection();
  const std::string sys = unique_system("pgc");
  struct node {
    node(const std::string& system, const std::string& connection) : sys(system) {
      const nlohmann::json j = {
          {"system", system},
          {"remote", {{"host", "127.0.0.1"}, {"port", 0}, {"cookie", "c00kie"}}},
          {"gossip-interval-ms", 200},
          {"heartbeat-interval-ms", 200},
          {"leader-actions-interval-ms", 200},
          {"unreachable-nodes-reaper-interval-ms", 200},
          {"seed-node-timeout-ms", 1000},
          {"discovery",
           {{"method", "postgresql"},
            {"connection", connection},
            {"required-contact-points", 3},
            {"stable-margin-ms", 300},
            {"interval-ms", 50},
            {"ttl-ms", 2000}}},
      };
      auto s = cluster_settings::parse(j);
      REQUIRE(s);
      auto started = cluster::get(sys).start(*s);
      REQUIRE(started);
      address = *started;
    }
    ~node() {
      sys.terminate();
      sys.await_termination(10s);
    }
    troupe::actor_system sys;
    model::address address;
  };
  std::vector<std::unique_ptr<node>> nodes;
  for (int i = 0; i < 3; ++i) nodes.push_back(std::make_unique<node>(sys, conn));
  std::vector<model::address> all;
  for (const auto& n : nodes) all.push_back(n->address);
  std::sort(all.begin(), all.end());
  for (auto& n : nodes) {
    await_condition(
        n->sys,
        [&] {
          const auto st = cluster::get(n->sys).state();
          return st.members.size() == 3 &&
                 std::all_of(st.members.begin(), st.members.end(),
                             [](const model::member& m) { return m.status() == model::member_status::up; });
        },
        20s, "three members up");
    CHECK(cluster::get(n->sys).state().leader == all.front());
  }
  // The rows stay while the nodes run (refreshed after the join), and go when they stop.
  CHECK(rows_of(conn, sys) == 3);
  nodes.clear();
  CHECK(rows_of(conn, sys) == 0);
}
