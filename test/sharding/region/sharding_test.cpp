// Cluster sharding in one process: several actor systems on loopback, each a cluster node
// with a region (or a proxy), with intervals shortened so a test takes seconds. A journal
// shared by every node records which entity runs where, when it starts and stops, and
// every message it gets, so the tests can prove that nothing is lost, duplicated or
// reordered and that no entity ever runs twice at once.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/remote/transport.hpp>
#include <troupe/sharding/model/ids.hpp>
#include <troupe/sharding/sharding.hpp>

using namespace std::chrono_literals;
using troupe::actor_system;
using troupe::testkit::await_condition;
namespace model = troupe::cluster::model;
namespace tc = troupe::cluster;
namespace ts = troupe::sharding;

namespace {

/// Message `seq` of client `sender` (each client sends through one node, in order).
struct seq_msg {
  int sender = 0;
  int seq = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(seq_msg, sender, seq)

/// Asks an entity where it runs; the answer is the node's address.
struct where {
  int n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(where, n)

/// What every entity of every node did, shared by the whole process.
struct journal {
  std::mutex mutex;
  std::map<std::string, std::vector<seq_msg>> received;  ///< by entity
  std::map<std::string, std::vector<std::string>> starts;  ///< by entity: nodes, in order
  std::map<std::string, int> running;                    ///< by entity
  int stops = 0;
  bool twice = false;                                    ///< an entity ran twice at once
  std::size_t total = 0;

  void started(const std::string& id, const std::string& node) {
    std::lock_guard lock(mutex);
    starts[id].push_back(node);
    if (++running[id] > 1) twice = true;
  }
  void stopped(const std::string& id) {
    std::lock_guard lock(mutex);
    --running[id];
    ++stops;
  }
  void got(const std::string& id, const seq_msg& m) {
    std::lock_guard lock(mutex);
    received[id].push_back(m);
    ++total;
  }
  std::size_t delivered() {
    std::lock_guard lock(mutex);
    return total;
  }
  int running_now() {
    std::lock_guard lock(mutex);
    int n = 0;
    for (const auto& [id, r] : running) n += r;
    return n;
  }
  /// Lost, duplicated and reordered messages against `sent` (by sender: the last seq).
  struct report {
    std::size_t lost = 0, duplicated = 0, reordered = 0;
  };
  report check(const std::map<std::pair<std::string, int>, int>& sent) {
    std::lock_guard lock(mutex);
    report r;
    for (const auto& [key, last] : sent) {
      std::set<int> seen;
      int highest = 0;
      for (const auto& m : received[key.first]) {
        if (m.sender != key.second) continue;
        if (!seen.insert(m.seq).second) ++r.duplicated;
        if (m.seq < highest) ++r.reordered;
        highest = std::max(highest, m.seq);
      }
      r.lost += static_cast<std::size_t>(last) - seen.size();
    }
    return r;
  }
};

class counter_entity final : public troupe::actor {
 public:
  counter_entity(std::string id, std::string node, journal* j) : id_(std::move(id)), node_(std::move(node)), j_(j) {}
  void pre_start() override { j_->started(id_, node_); }
  void post_stop() override { j_->stopped(id_); }
  troupe::behavior make_behavior() override {
    return {[this](const seq_msg& m) { j_->got(id_, m); },
            [this](const where&) { return node_; }};
  }

 private:
  std::string id_;
  std::string node_;
  journal* j_;
};

nlohmann::json fast_cluster() {
  return {
      {"system", "stest"},
      {"remote", {{"host", "127.0.0.1"}, {"port", 0}, {"cookie", "c00kie"}}},
      {"gossip-interval-ms", 200},
      {"heartbeat-interval-ms", 200},
      {"leader-actions-interval-ms", 200},
      {"unreachable-nodes-reaper-interval-ms", 200},
      {"seed-node-timeout-ms", 1000},
      {"retry-unsuccessful-join-after-ms", 2000},
      {"failure-detector",
       {{"acceptable-heartbeat-pause-ms", 1000}, {"expected-response-after-ms", 200}, {"min-std-deviation-ms", 50}}},
      {"downing", {{"strategy", "keep-majority"}, {"stable-after-ms", 1500}}},
  };
}

nlohmann::json fast_sharding() {
  return {{"number-of-shards", 20},
          {"rebalance-interval-ms", 500},
          {"retry-interval-ms", 200},
          {"handoff-timeout-ms", 5000},
          {"shard-start-timeout-ms", 1000},
          {"coordinator-recovery-timeout-ms", 500},
          {"passivation", {{"idle-timeout-ms", "off"}}}};
}

ts::message_extractor extractor(std::uint32_t shards = 20) {
  return ts::message_extractor::hashing(shards);
}

/// One node: an actor system, its cluster, and (once started) its region of "counter".
struct node {
  explicit node(journal& log, const nlohmann::json& cluster_json = fast_cluster()) : system("stest"), j(&log) {
    auto s = tc::cluster_settings::parse(cluster_json);
    REQUIRE(s);
    auto started = cl().start(*s);
    REQUIRE(started);
    address = *started;
    auto& ser = system.extension<troupe::remote::transport>().serialization();
    ser.register_json<seq_msg>("test.seq");
    ser.register_json<where>("test.where");
  }
  ~node() {
    system.terminate();
    system.await_termination(10s);
  }
  tc::cluster& cl() { return tc::cluster::get(system); }
  ts::cluster_sharding& sharding() { return ts::cluster_sharding::get(system); }

  void start_sharding(const nlohmann::json& settings = fast_sharding(), bool proxy = false) {
    auto s = ts::sharding_settings::parse(settings);
    REQUIRE(s);
    const std::string name = model::to_string(address);
    journal* jj = j;
    auto r = proxy ? sharding().start_proxy("counter", *s, extractor(s->number_of_shards))
                   : sharding().start(
                         "counter",
                         [name, jj](const std::string& id) { return troupe::props::of<counter_entity>(id, name, jj); },
                         *s, extractor(s->number_of_shards));
    REQUIRE(r);
  }
  /// Sends message `seq` of `sender` to `entity` through this node's region.
  void send(const std::string& entity, int sender, int seq) { REQUIRE(try_send(entity, sender, seq)); }
  /// `send` for other threads than the test's (Catch's assertions are not thread-safe).
  bool try_send(const std::string& entity, int sender, int seq) {
    auto e = sharding().entity_ref("counter", entity);
    if (!e) return false;
    e->tell(seq_msg{sender, seq});
    return true;
  }
  std::size_t local_shards() {
    auto st = sharding().region_state("counter", 3s);
    return st ? st->shards.size() : 0;
  }

  actor_system system;
  journal* j;
  model::address address;
};

bool all_up(node& n, std::size_t count) {
  const auto st = n.cl().state();
  if (st.members.size() != count) return false;
  for (const auto& m : st.members)
    if (m.status() != model::member_status::up) return false;
  return model::membership_state{n.cl().latest_gossip(), n.cl().self_unique_address()}.convergence();
}

/// `n` nodes in one cluster (the first forms it), each with a region.
std::vector<std::unique_ptr<node>> start_nodes(journal& j, std::size_t n, const nlohmann::json& sharding = fast_sharding()) {
  std::vector<std::unique_ptr<node>> nodes;
  for (std::size_t i = 0; i < n; ++i) nodes.push_back(std::make_unique<node>(j));
  nodes[0]->cl().join(nodes[0]->address);
  for (std::size_t i = 1; i < n; ++i) nodes[i]->cl().join_seed_nodes({nodes[0]->address});
  for (auto& x : nodes) await_condition(x->system, [&] { return all_up(*x, n); }, 20s, "all members up");
  for (auto& x : nodes) x->start_sharding(sharding);
  return nodes;
}

/// Clients: sender k sends through node k % nodes, to entities "e0".."e<entities-1>" in turn,
/// from a thread of its own, until stopped.
struct traffic {
  std::vector<node*> via;
  std::map<std::pair<std::string, int>, int> sent;  ///< (entity, sender) -> last seq
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};  ///< sends for which entity_ref failed (checked by require_no_loss)
  std::thread thread;
  std::size_t count = 0;

  traffic(std::vector<node*> nodes, int entities) : via(std::move(nodes)) {
    thread = std::thread([this, entities] {
      int round = 0;
      while (!stop) {
        for (int k = 0; k < static_cast<int>(via.size()); ++k) {
          const std::string e = "e" + std::to_string((round * static_cast<int>(via.size()) + k) % entities);
          const int seq = ++seqs[k][e];
          if (!via[static_cast<std::size_t>(k)]->try_send(e, k, seq)) {
            ++refused;
            continue;
          }
          std::lock_guard lock(mutex);
          sent[{e, k}] = seq;
          ++count;
        }
        ++round;
        std::this_thread::sleep_for(2ms);  // pacing the load, not waiting for an effect
      }
    });
  }
  ~traffic() { finish(); }
  void finish() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
  std::size_t total() {
    std::lock_guard lock(mutex);
    return count;
  }
  std::mutex mutex;
  std::map<int, std::map<std::string, int>> seqs;
};

/// How many of the 20 shards the entities "e0".."e<n-1>" use.
std::size_t shards_in_use(int n) {
  std::set<std::string> shards;
  for (int i = 0; i < n; ++i) shards.insert(troupe::sharding::model::default_shard_of("e" + std::to_string(i), 20));
  return shards.size();
}

void require_no_loss(journal& j, traffic& t, actor_system& sys) {
  t.finish();
  REQUIRE(t.refused == 0);
  const auto expected = t.total();
  await_condition(sys, [&] { return j.delivered() >= expected; }, 20s, "every message delivered");
  const auto r = j.check(t.sent);
  INFO("sent " << expected << " lost " << r.lost << " duplicated " << r.duplicated << " reordered " << r.reordered);
  CHECK(r.lost == 0);
  CHECK(r.duplicated == 0);
  CHECK(r.reordered == 0);
  CHECK(j.delivered() == expected);
}

}  // namespace

TEST_CASE("sharding: an entity runs once, where its shard lives, and answers tell and ask from any node",
          "[integration][sharding]") {
  journal j;
  auto nodes = start_nodes(j, 3);
  for (int i = 0; i < 30; ++i) nodes[static_cast<std::size_t>(i) % 3]->send("e" + std::to_string(i), 0, 1);
  await_condition(nodes[0]->system, [&] { return j.delivered() == 30; }, 10s, "30 messages delivered");
  {
    std::lock_guard lock(j.mutex);
    CHECK(j.starts.size() == 30);
    for (const auto& [id, where_started] : j.starts) CHECK(where_started.size() == 1);
  }
  CHECK_FALSE(j.twice);
  // Asked from each node, an entity answers from the one node it runs on.
  const std::string home = [&] {
    std::lock_guard lock(j.mutex);
    return j.starts["e7"].front();
  }();
  for (auto& n : nodes) {
    auto e = n->sharding().entity_ref("counter", "e7");
    REQUIRE(e);
    CHECK(e->ask<std::string>(where{}, 5s).get() == home);
  }
  // Every node hosts some of the 20 shards, and the cluster's stats add up.
  std::size_t shards = 0;
  for (auto& n : nodes) shards += n->local_shards();
  CHECK(shards > 0);
  auto stats = nodes[1]->sharding().cluster_stats("counter", 5s);
  REQUIRE(stats);
  CHECK(stats->failed.empty());
  std::size_t entities = 0;
  for (const auto& r : stats->regions)
    for (const auto& [shard, count] : r.shards) entities += count;
  CHECK(entities == 30);
  // /metrics tells the same: each node its own region's shards and entities.
  auto metric = [](node& n, const std::string& name) {
    const std::string text = n.cl().metrics();
    const std::string key = name + "{type=\"counter\"} ";
    const auto at = text.find("\n" + key);
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + 1 + key.size()));
  };
  await_condition(nodes[0]->system, [&] {
    double e = 0, s = 0;
    for (auto& n : nodes) e += metric(*n, "troupe_sharding_entities"), s += metric(*n, "troupe_sharding_shards");
    return e == 30 && s == static_cast<double>(shards);
  }, 5s, "the metrics count 30 entities and every shard");
  double started = 0;
  for (auto& n : nodes) started += metric(*n, "troupe_sharding_entities_started_total");
  CHECK(started == 30);
}

TEST_CASE("sharding: a node that joins takes shards by rebalance while traffic flows, losing nothing",
          "[integration][sharding]") {
  journal j;
  auto nodes = start_nodes(j, 3);
  traffic t({nodes[0].get(), nodes[1].get(), nodes[2].get()}, 40);
  await_condition(nodes[0]->system, [&] { return j.delivered() > 200; }, 10s, "traffic flowing");
  nodes.push_back(std::make_unique<node>(j));
  nodes[3]->cl().join_seed_nodes({nodes[0]->address});
  await_condition(nodes[3]->system, [&] { return all_up(*nodes[3], 4); }, 20s, "the fourth node up");
  nodes[3]->start_sharding();
  // The shards in use spread over 4 regions, within one of each other once balanced (at
  // most 2 move per round).
  await_condition(nodes[3]->system, [&] {
    std::size_t lo = SIZE_MAX, hi = 0;
    for (auto& n : nodes) {
      const auto k = n->local_shards();
      lo = std::min(lo, k);
      hi = std::max(hi, k);
    }
    return lo > 0 && hi - lo <= 1;
  }, 20s, "the shards balanced over four nodes");
  require_no_loss(j, t, nodes[0]->system);
  CHECK_FALSE(j.twice);
}

TEST_CASE("sharding: a graceful leave hands the node's shards off without losing a message",
          "[integration][sharding]") {
  journal j;
  auto nodes = start_nodes(j, 4);
  traffic t({nodes[0].get(), nodes[1].get(), nodes[2].get()}, 40);
  await_condition(nodes[0]->system, [&] { return j.delivered() > 200; }, 10s, "traffic flowing");
  REQUIRE(nodes[3]->local_shards() > 0);
  (void)nodes[3]->system.coordinated_shutdown().run("test: leave");
  REQUIRE(nodes[3]->system.await_termination(30s));
  await_condition(nodes[0]->system, [&] { return all_up(*nodes[0], 3); }, 20s, "the leaver removed");
  require_no_loss(j, t, nodes[0]->system);
  // Every shard in use lives on the three that stayed.
  std::size_t shards = 0;
  for (std::size_t i = 0; i < 3; ++i) shards += nodes[i]->local_shards();
  CHECK(shards == shards_in_use(40));
  CHECK_FALSE(j.twice);
}

TEST_CASE("sharding: a proxy node routes to entities it never hosts", "[integration][sharding]") {
  journal j;
  auto nodes = start_nodes(j, 2);
  auto client = std::make_unique<node>(j);
  client->cl().join_seed_nodes({nodes[0]->address});
  await_condition(client->system, [&] { return all_up(*client, 3); }, 20s, "the client up");
  client->start_sharding(fast_sharding(), /*proxy=*/true);
  for (int i = 0; i < 20; ++i) client->send("p" + std::to_string(i), 0, 1);
  await_condition(client->system, [&] { return j.delivered() == 20; }, 10s, "through the proxy");
  auto st = client->sharding().region_state("counter", 3s);
  REQUIRE(st);
  CHECK(st->proxy);
  CHECK(st->shards.empty());
  auto e = client->sharding().entity_ref("counter", "p3");
  REQUIRE(e);
  CHECK(e->ask<std::string>(where{}, 5s).get() != model::to_string(client->address));
}

TEST_CASE("sharding: entities passivate when idle and when over the active-entity limit, and come back",
          "[integration][sharding]") {
  journal j;
  auto settings = fast_sharding();
  settings["passivation"] = {{"idle-timeout-ms", 600}, {"active-entity-limit", 3}};
  auto nodes = start_nodes(j, 1, settings);
  auto& n = *nodes[0];
  for (int i = 0; i < 5; ++i) n.send("e" + std::to_string(i), 0, 1);
  await_condition(n.system, [&] { return j.delivered() == 5; }, 5s, "delivered");
  // Never more than three run: two were passivated to make room.
  await_condition(n.system, [&] { return j.running_now() <= 3; }, 5s, "at most the limit running");
  // All go idle and are passivated; a new message starts one again.
  await_condition(n.system, [&] { return j.running_now() == 0; }, 5s, "idle entities passivated");
  n.send("e0", 0, 2);
  await_condition(n.system, [&] { return j.delivered() == 6; }, 5s, "delivered after passivation");
  std::lock_guard lock(j.mutex);
  CHECK(j.starts["e0"].size() == 2);
}

TEST_CASE("sharding: an entity may passivate itself, messages meanwhile start it again", "[integration][sharding]") {
  journal j;
  auto nodes = start_nodes(j, 1);
  auto& n = *nodes[0];
  n.send("x", 0, 1);
  await_condition(n.system, [&] { return j.delivered() == 1; }, 5s, "started");
  // Ask the entity's parent to passivate it, as the entity would.
  auto state = n.sharding().region_state("counter", 3s);
  REQUIRE(state);
  REQUIRE(state->shards.size() == 1);
  auto child = n.system.resolve("/system/sharding/counter/x");
  REQUIRE(child);
  auto region = n.sharding().region("counter");
  REQUIRE(region);
  region->tell(ts::passivate{}, *child);
  n.send("x", 0, 2);
  await_condition(n.system, [&] { return j.delivered() == 2; }, 5s, "delivered after it stopped");
  std::lock_guard lock(j.mutex);
  CHECK(j.starts["x"].size() == 2);
  CHECK(j.stops == 1);
}

TEST_CASE("sharding: an isolated region's entities come back on the majority, never running twice",
          "[integration][sharding]") {
  journal j;
  auto nodes = start_nodes(j, 3);
  for (int i = 0; i < 30; ++i) nodes[0]->send("e" + std::to_string(i), 0, 1);
  await_condition(nodes[0]->system, [&] { return j.delivered() == 30; }, 10s, "delivered");
  // Cut node 2 off both ways: it is on the losing side (fenced, then downed); the
  // majority removes it, then its shards find a new home.
  auto& t0 = nodes[0]->system.extension<troupe::remote::transport>();
  auto& t1 = nodes[1]->system.extension<troupe::remote::transport>();
  auto& t2 = nodes[2]->system.extension<troupe::remote::transport>();
  const auto r2 = troupe::remote::address{nodes[2]->address.system, nodes[2]->address.host, nodes[2]->address.port};
  t0.blackhole(r2, troupe::remote::direction::both);
  t1.blackhole(r2, troupe::remote::direction::both);
  for (auto* n : {nodes[0].get(), nodes[1].get()})
    t2.blackhole({n->address.system, n->address.host, n->address.port}, troupe::remote::direction::both);
  REQUIRE(nodes[2]->system.await_termination(30s));
  await_condition(nodes[0]->system, [&] { return all_up(*nodes[0], 2); }, 20s, "the isolated node removed");
  for (int i = 0; i < 30; ++i) nodes[1]->send("e" + std::to_string(i), 0, 2);
  await_condition(nodes[0]->system, [&] {
    std::lock_guard lock(j.mutex);
    std::size_t second = 0;
    for (const auto& [id, ms] : j.received) second += std::count_if(ms.begin(), ms.end(), [](const seq_msg& m) { return m.seq == 2; });
    return second == 30;
  }, 20s, "every entity answers again");
  CHECK_FALSE(j.twice);
}

TEST_CASE("sharding: the coordinator's node is lost, the next oldest takes over without a second home",
          "[integration][sharding]") {
  journal j;
  auto nodes = start_nodes(j, 3);
  for (int i = 0; i < 30; ++i) nodes[1]->send("e" + std::to_string(i), 0, 1);
  await_condition(nodes[1]->system, [&] { return j.delivered() == 30; }, 10s, "delivered");
  const auto r0 = troupe::remote::address{nodes[0]->address.system, nodes[0]->address.host, nodes[0]->address.port};
  nodes[1]->system.extension<troupe::remote::transport>().blackhole(r0, troupe::remote::direction::both);
  nodes[2]->system.extension<troupe::remote::transport>().blackhole(r0, troupe::remote::direction::both);
  for (auto* n : {nodes[1].get(), nodes[2].get()})
    nodes[0]->system.extension<troupe::remote::transport>().blackhole(
        {n->address.system, n->address.host, n->address.port}, troupe::remote::direction::both);
  REQUIRE(nodes[0]->system.await_termination(30s));
  await_condition(nodes[1]->system, [&] { return all_up(*nodes[1], 2); }, 20s, "the old coordinator's node removed");
  for (int i = 0; i < 30; ++i) nodes[2]->send("e" + std::to_string(i), 0, 2);
  await_condition(nodes[1]->system, [&] { return j.delivered() >= 60; }, 20s, "every entity answers again");
  CHECK_FALSE(j.twice);
  std::size_t shards = 0;
  for (std::size_t i = 1; i < 3; ++i) shards += nodes[i]->local_shards();
  CHECK(shards == shards_in_use(30));
}

TEST_CASE("sharding: remembered entities start again on the survivors without a message",
          "[integration][sharding]") {
  journal j;
  auto settings = fast_sharding();
  settings["remember-entities"] = true;
  auto store = std::make_shared<ts::in_memory_remember_store>();
  std::vector<std::unique_ptr<node>> nodes;
  for (std::size_t i = 0; i < 3; ++i) nodes.push_back(std::make_unique<node>(j));
  nodes[0]->cl().join(nodes[0]->address);
  for (std::size_t i = 1; i < 3; ++i) nodes[i]->cl().join_seed_nodes({nodes[0]->address});
  for (auto& x : nodes) await_condition(x->system, [&] { return all_up(*x, 3); }, 20s, "all members up");
  for (auto& x : nodes) {
    auto s = ts::sharding_settings::parse(settings);
    REQUIRE(s);
    s->remember_store = store;
    const std::string name = model::to_string(x->address);
    journal* jj = &j;
    REQUIRE(x->sharding().start(
        "counter", [name, jj](const std::string& id) { return troupe::props::of<counter_entity>(id, name, jj); }, *s,
        extractor()));
  }
  for (int i = 0; i < 30; ++i) nodes[0]->send("e" + std::to_string(i), 0, 1);
  await_condition(nodes[0]->system, [&] { return j.delivered() == 30; }, 10s, "delivered");
  const std::string lost = model::to_string(nodes[2]->address);
  std::vector<std::string> on_lost;
  {
    std::lock_guard lock(j.mutex);
    for (const auto& [id, where_started] : j.starts)
      if (where_started.back() == lost) on_lost.push_back(id);
  }
  REQUIRE_FALSE(on_lost.empty());
  const auto r2 = troupe::remote::address{nodes[2]->address.system, nodes[2]->address.host, nodes[2]->address.port};
  nodes[0]->system.extension<troupe::remote::transport>().blackhole(r2, troupe::remote::direction::both);
  nodes[1]->system.extension<troupe::remote::transport>().blackhole(r2, troupe::remote::direction::both);
  for (auto* n : {nodes[0].get(), nodes[1].get()})
    nodes[2]->system.extension<troupe::remote::transport>().blackhole(
        {n->address.system, n->address.host, n->address.port}, troupe::remote::direction::both);
  REQUIRE(nodes[2]->system.await_termination(30s));
  // Without any message, each of them starts again on a survivor.
  await_condition(nodes[0]->system, [&] {
    std::lock_guard lock(j.mutex);
    for (const auto& id : on_lost)
      if (j.starts[id].back() == lost || j.running[id] != 1) return false;
    return true;
  }, 20s, "the remembered entities running again");
  CHECK_FALSE(j.twice);
}

TEST_CASE("sharding: bad input gets a clear error or a dead letter, never a crash", "[integration][sharding]") {
  journal j;
  auto nodes = start_nodes(j, 1);
  auto& n = *nodes[0];
  auto unknown = n.sharding().entity_ref("nope", "a");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().find("nope") != std::string::npos);
  auto empty = n.sharding().entity_ref("counter", "");
  REQUIRE_FALSE(empty);
  CHECK(empty.error().find("empty") != std::string::npos);
  auto bad = n.sharding().start("bad/name", [](const std::string&) { return troupe::props::of<counter_entity>("", "", nullptr); },
                                ts::sharding_settings{});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().find("bad/name") != std::string::npos);
  auto twice = n.sharding().start("counter", [](const std::string&) { return troupe::props::of<counter_entity>("", "", nullptr); },
                                  ts::sharding_settings{});
  REQUIRE_FALSE(twice);
  // Messages the extractor cannot map, or with an empty id, go to dead letters.
  auto region = n.sharding().region("counter");
  REQUIRE(region);
  const auto before = n.system.dead_letter_count();
  region->tell(std::string("not for an entity"));
  region->tell(ts::envelope_for("", seq_msg{0, 1}));
  await_condition(n.system, [&] { return n.system.dead_letter_count() >= before + 2; }, 5s, "two dead letters");
  auto st = n.sharding().region_state("counter", 3s);
  REQUIRE(st);
  CHECK(st->unmapped == 2);
  // An odd entity id is still an entity (its actor name is encoded).
  region->tell(ts::envelope_for("a/b #c@d", seq_msg{0, 1}));
  await_condition(n.system, [&] { return j.delivered() == 1; }, 5s, "an odd id delivered");
  auto odd = n.system.resolve("/system/sharding/counter/a%2Fb%20%23c%40d");
  REQUIRE(odd);
  // The region knows it by its encoded name: it passivates, and a message starts it again.
  region->tell(ts::passivate{}, *odd);
  await_condition(n.system, [&] { return odd->is_terminated(); }, 5s, "the odd entity passivated");
  region->tell(ts::envelope_for("a/b #c@d", seq_msg{0, 2}));
  await_condition(n.system, [&] { return j.delivered() == 2; }, 5s, "the odd entity started again");
  std::lock_guard lock(j.mutex);
  CHECK(j.starts["a/b #c@d"].size() == 2);
}

TEST_CASE("sharding: with the external strategy shards live where they are assigned, and move when reassigned",
          "[integration][sharding]") {
  journal j;
  auto settings = fast_sharding();
  settings["allocation-strategy"] = "external";
  auto nodes = start_nodes(j, 3, settings);
  const std::string shard = troupe::sharding::model::default_shard_of("x", 20);
  auto where_is_x = [&]() -> std::string {
    auto e = nodes[0]->sharding().entity_ref("counter", "x");
    auto r = e->ask<std::string>(where{}, 500ms).result();
    return r ? r.value() : "";
  };
  // Unassigned, the shard waits; assigned to node 2, x runs there (assignments sent again
  // until the coordinator, starting up, has one).
  await_condition(nodes[0]->system, [&] {
    nodes[0]->sharding().assign("counter", shard, nodes[2]->address);
    return where_is_x() == model::to_string(nodes[2]->address);
  }, 20s, "x on the node it is assigned to");
  // Reassigned to node 1: the next rebalance round moves it there.
  nodes[1]->sharding().assign("counter", shard, nodes[1]->address);
  await_condition(nodes[0]->system, [&] { return where_is_x() == model::to_string(nodes[1]->address); }, 20s,
                  "x moved to its new assignment");
  CHECK_FALSE(j.twice);
}

TEST_CASE("sharding: forwarded messages go straight to running entities, in order, through passivations",
          "[integration][sharding]") {
  journal j;
  auto settings = fast_sharding();
  settings["passivation"] = {{"idle-timeout-ms", 800}};
  auto nodes = start_nodes(j, 1, settings);
  auto& host = *nodes[0];
  auto client = std::make_unique<node>(j);
  client->cl().join_seed_nodes({host.address});
  await_condition(
      client->system, [&] { return all_up(*client, 2); }, 20s, "the client up");
  client->start_sharding(settings, /*proxy=*/true);
  std::map<std::pair<std::string, int>, int> sent;  // (entity, sender) -> last seq
  auto burst = [&](int n, const std::string& prefix, int entities) {
    for (int i = 0; i < n; ++i) {
      const std::string e = prefix + std::to_string(i % entities);
      const int s = ++sent[{e, 0}];
      client->send(e, 0, s);
    }
  };
  auto all_delivered = [&](std::size_t n) {
    await_condition(
        client->system, [&] { return j.delivered() == n; }, 10s, "every message delivered");
    const auto r = j.check(sent);
    INFO("lost " << r.lost << " duplicated " << r.duplicated << " reordered " << r.reordered);
    CHECK(r.lost == 0);
    CHECK(r.duplicated == 0);
    CHECK(r.reordered == 0);
  };

  // (Bursts stay within the proxy's outbound queue: remoting drops what does not fit.)
  // 1. Once an entity runs, what the proxy forwards to it skips the hosting region's turn.
  burst(2000, "d", 20);
  all_delivered(2000);
  auto st = host.sharding().region_state("counter", 3s);
  REQUIRE(st);
  CHECK(st->handed_over > 0);

  // 2. An entity that passivates itself in the middle of a stream gets every message, in
  //    order: the region closes the door before it sends the stop message, and what comes
  //    after waits in the region and starts the entity again.
  auto region = host.sharding().region("counter");
  REQUIRE(region);
  for (int round = 0; round < 5; ++round) {
    burst(1, "d", 1);  // all to d0, which this starts again after a passivation
    await_condition(
        host.system,
        [&] {
          std::lock_guard lock(j.mutex);
          return j.running["d0"] > 0;
        },
        5s, "d0 running");
    auto child = host.system.resolve("/system/sharding/counter/d0");
    REQUIRE(child);
    burst(1000, "d", 1);
    region->tell(ts::passivate{}, *child);  // while the burst is on its way
    burst(1000, "d", 1);
    all_delivered(2000 + static_cast<std::size_t>(round + 1) * 2001);
  }
  {
    std::lock_guard lock(j.mutex);
    CHECK(j.starts["d0"].size() >= 2);  // it did stop and start again
  }

  // 3. Messages the door handed over count as use: an entity that gets them keeps running
  //    past the idle timeout while the others are passivated.
  const auto before = host.sharding().region_state("counter", 3s)->handed_over;
  const auto until = std::chrono::steady_clock::now() + 2500ms;
  std::size_t n = 2000 + 5 * 2001;
  while (std::chrono::steady_clock::now() < until) {
    burst(1, "hot", 1);
    ++n;
    std::this_thread::sleep_for(50ms);  // pacing the load, not waiting for an effect
  }
  all_delivered(n);
  CHECK(host.sharding().region_state("counter", 3s)->handed_over > before);
  await_condition(
      host.system, [&] { return j.running_now() == 1; }, 5s, "the idle entities passivated");
  std::lock_guard lock(j.mutex);
  CHECK(j.starts["hot0"].size() == 1);
  CHECK(j.running["hot0"] == 1);
  CHECK_FALSE(j.twice);
}
