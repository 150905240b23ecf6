// data_node: one cluster node running Distributed Data, Distributed Pub-Sub, a cluster
// group router and the distributed cache (one replica), for the partition-and-heal process
// test (partition_heal_test.cpp starts three of them).
//
//   data_node --host 127.80.1.1 --port 2701 --seeds troupe://dfault@127.80.1.1:2701,...
//             --commands /tmp/dir/node1.cmd
//
// Cluster timing is five times Akka's; downing keeps its defaults (keep-majority once the
// partition has been stable for 20 s, longer than the test's), so a node cut off by a
// partition comes back when it heals (fenced meanwhile: its cache buckets stop). The node reads commands appended to the --commands
// file (stdin is not available to the test's children), one per line, and answers each
// with a JSON line on stdout:
//   incr KEY N             local increment of the counter KEY   {"event":"incr","key","ok"}
//   incr-majority KEY N    majority write, 1 s timeout           {"event":"incr-majority","key","ok"}
//   read KEY               the local value (-1: none)            {"event":"value","key","value"}
//   subscribe TOPIC        a local listener subscribes           {"event":"subscribed","topic"}
//   publish TOPIC TEXT     through the mediator                  {"event":"published","topic"}
//   count TOPIC            subscribers in this node's registry   {"event":"count","topic","n"}
//   put-many P N           cache puts of P0..P(N-1), value "v-i" {"event":"put-many","stored"}
//   get-many P N           cache gets of the same, all at once   {"event":"get-many","found",
//                          (1 s timeout each)                      "missing","wrong","timeouts"}
//   shards                 the cache region's local shards       {"event":"shards","ok","shards",
//                          and entities, and its counters          "buffered","forwarded",...}
// TROUPE_DATA_NODE_LOG=info (or debug) logs to stderr (warnings only by default).
// and prints what its listener receives ({"event":"got","topic","text"}). Every 200 ms a
// status line: {"event":"status","up":N,"unreachable":M,"routees":R}, R being the routees
// of its round-robin group router over /user/worker on every member. SIGTERM or SIGINT
// ends it. Bad options exit with 2.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/cache/cache.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/ddata/ddata.hpp>
#include <troupe/ddata/replicator.hpp>
#include <troupe/pubsub/pubsub.hpp>
#include <troupe/remote/transport.hpp>
#include <troupe/routers/cluster_router.hpp>
#include <troupe/sharding/sharding.hpp>

#include "support/node_program.hpp"

namespace tc = troupe::cluster;
namespace dd = troupe::ddata;
namespace ps = troupe::pubsub;
using namespace std::chrono_literals;
using json = nlohmann::json;
using troupe::test_support::json_printer;
using troupe::test_support::node_options;

namespace {

std::atomic<int> signal_received{0};
extern "C" void on_signal(int sig) { signal_received = sig; }

/// What a publish carries (registered with the transport).
struct note {
  std::string text;
};
void to_json(json& j, const note& n) { j = {{"text", n.text}}; }
void from_json(const json& j, note& n) { j.at("text").get_to(n.text); }

/// Prints every note it gets, with its topic.
class listener final : public troupe::actor {
 public:
  listener(std::shared_ptr<json_printer> out, std::string topic) : out_(std::move(out)), topic_(std::move(topic)) {}
  troupe::behavior make_behavior() override {
    return {[this](const note& n) {
              out_->say({{"event", "got"}, {"topic", topic_}, {"text", n.text}});
            },
            [](const ps::subscribe_ack&) {}};
  }

 private:
  std::shared_ptr<json_printer> out_;
  std::string topic_;
};

/// The routers' routee on every node: counts what it gets.
class worker final : public troupe::actor {
 public:
  troupe::behavior make_behavior() override {
    return {[this](troupe::message&) { ++handled_; }};
  }

 private:
  std::uint64_t handled_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  const auto opts = node_options::parse(argc, argv, {"--host", "--port", "--seeds", "--commands"}, {}, error);
  if (!opts) {
    std::cerr << "data_node: " << error << '\n';
    return 2;
  }
  auto settings = tc::cluster_settings::parse(opts->cluster_json("dfault", "troupe-data-fault-test-cookie"));
  if (!settings) {
    std::cerr << "data_node: " << settings.error().what() << '\n';
    return 2;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  troupe::actor_system_settings system_settings;
  system_settings.log_min_level = troupe::log_level::warning;
  // TROUPE_DATA_NODE_LOG=info (or debug) for a transcript with the cluster's and sharding's logs.
  if (const char* level = std::getenv("TROUPE_DATA_NODE_LOG"))
    if (auto l = troupe::parse_log_level(level)) system_settings.log_min_level = *l;
  troupe::actor_system system("dfault", system_settings);
  auto out = std::make_shared<json_printer>();
  auto& cluster = tc::cluster::get(system);
  auto started = cluster.start(*settings);
  if (!started) {
    std::cerr << "data_node: " << started.error() << '\n';
    return 2;
  }
  out->say({{"event", "started"}, {"node", tc::model::to_string(*started)}});
  system.extension<troupe::remote::transport>().serialization().register_json<note>("dfault.note");

  // The services, once this node is up (the replicator and mediator count members from then).
  while (cluster.self_member().status() != tc::model::member_status::up) {
    if (signal_received != 0 || system.is_terminated()) return 0;
    system.await_termination(50ms);
  }
  auto& ddata = dd::distributed_data::get(system);
  auto ds = dd::distributed_data_settings::parse(json{{"gossip-interval-ms", 500},
                                                      {"delta-propagation-interval-ms", 100},
                                                      {"operation-timeout-check-interval-ms", 50}});
  auto& pubsub = ps::distributed_pubsub::get(system);
  auto pss = ps::distributed_pubsub_settings::parse(json{{"gossip-interval-ms", 200}});
  if (!ds || !pss || !ddata.start(*ds) || !pubsub.start(*pss)) {
    std::cerr << "data_node: cannot start ddata or pub-sub\n";
    return 2;
  }
  auto cache_settings = troupe::cache::cache_settings::parse(
      json{{"replicas", 1}, {"ask-timeout-ms", 1000}, {"sharding", {{"retry-interval-ms", 200}}}});
  if (!cache_settings) {
    std::cerr << "data_node: " << cache_settings.error().what() << '\n';
    return 2;
  }
  auto cache = troupe::cache::distributed_cache::start(system, *cache_settings);
  if (!cache) {
    std::cerr << "data_node: cannot start the cache: " << cache.error() << '\n';
    return 2;
  }
  system.spawn(troupe::props::of<worker>(), "worker");
  troupe::routers::cluster_router_settings rs;
  rs.routees_paths = {"/user/worker"};
  auto router = system.spawn(troupe::routers::cluster_group(rs, troupe::routing::round_robin()), "workers");
  out->say({{"event", "services"}});

  const dd::replica_id self = ddata.self();
  auto increment = [&](const std::string& key, std::uint64_t n, dd::consistency c) {
    const auto r = ddata
                       .ask_update(dd::update_of<dd::gcounter>(
                                       key, dd::gcounter{}, [self, n](dd::gcounter& g) { g.increment(self, n); }, c),
                                   5s)
                       .result();
    return r && std::holds_alternative<dd::update_success>(*r);
  };
  auto run = [&](const std::string& line) {
    std::istringstream in(line);
    std::string cmd, a, b;
    in >> cmd >> a;
    std::getline(in >> std::ws, b);
    if (cmd == "incr" || cmd == "incr-majority") {
      const auto c = cmd == "incr" ? dd::consistency::local() : dd::consistency::majority(1s);
      out->say({{"event", cmd}, {"key", a}, {"ok", increment(a, std::stoull(b), c)}});
    } else if (cmd == "read") {
      auto r = ddata.ask_get({a, dd::consistency::local()}, 5s).result();
      long long v = -1;
      if (r)
        if (const auto* ok = std::get_if<dd::get_success>(&*r))
          if (const auto* g = dd::value_as<dd::gcounter>(*ok)) v = static_cast<long long>(g->value());
      out->say({{"event", "value"}, {"key", a}, {"value", v}});
    } else if (cmd == "subscribe") {
      auto l = system.spawn(troupe::props::of<listener>(out, a));
      pubsub.mediator().tell(ps::subscribe{a, l}, l);
      out->say({{"event", "subscribed"}, {"topic", a}});
    } else if (cmd == "publish") {
      pubsub.mediator().tell(ps::publish::of(a, note{b}));
      out->say({{"event", "published"}, {"topic", a}});
    } else if (cmd == "count") {
      auto r = pubsub.ask_count(a, 5s).result();
      out->say({{"event", "count"}, {"topic", a}, {"n", r ? static_cast<long long>(r->count) : -1}});
    } else if (cmd == "put-many" || cmd == "get-many") {
      // All at once, then every answer: at most one timeout's wait in all.
      const int n = std::stoi(b);
      auto value_of = [](int i) { return "v-" + std::to_string(i); };
      if (cmd == "put-many") {
        std::vector<troupe::ask_result<troupe::cache::put_reply>> puts;
        for (int i = 0; i < n; ++i) puts.push_back(cache->put(a + std::to_string(i), value_of(i)));
        int stored = 0;
        for (auto& p : puts)
          if (auto r = p.result(); r && r->stored) ++stored;
        out->say({{"event", cmd}, {"stored", stored}});
      } else {
        std::vector<troupe::ask_result<troupe::cache::get_reply>> gets;
        for (int i = 0; i < n; ++i) gets.push_back(cache->get(a + std::to_string(i)));
        int found = 0, missing = 0, wrong = 0, timeouts = 0;
        for (int i = 0; i < n; ++i) {
          auto r = gets[static_cast<std::size_t>(i)].result();
          if (!r)
            ++timeouts;
          else if (!r->found)
            ++missing;
          else
            ++(r->value == value_of(i) ? found : wrong);
        }
        out->say({{"event", cmd}, {"found", found}, {"missing", missing}, {"wrong", wrong}, {"timeouts", timeouts}});
      }
    } else if (cmd == "shards") {
      auto st = troupe::sharding::cluster_sharding::get(system).region_state("cache", 2s);
      json shards = json::array();
      if (st)
        for (const auto& sh : st->shards) shards.push_back({{"shard", sh.shard}, {"entities", sh.entities}});
      out->say({{"event", "shards"},
                {"ok", st.has_value()},
                {"shards", shards},
                {"buffered", st ? st->buffered : 0},
                {"forwarded", st ? st->stats.forwarded : 0},
                {"rejected", st ? st->stats.rejected : 0},
                {"handoffs", st ? st->stats.handoffs : 0}});
    } else {
      out->say({{"event", "error"}, {"line", line}});
    }
  };

  std::ifstream commands;
  std::string pending;
  auto next_status = std::chrono::steady_clock::now();
  while (!system.is_terminated() && signal_received == 0) {
    // 1. New commands (the file may not exist yet; lines are complete once they end in \n).
    if (!commands.is_open()) commands.open(opts->text("--commands"));
    if (commands.is_open()) {
      std::string chunk;
      char buf[4096];
      while (commands.read(buf, sizeof buf) || commands.gcount() > 0)
        chunk.append(buf, static_cast<std::size_t>(commands.gcount()));
      commands.clear();  // at the end: ready for what is appended next
      pending += chunk;
      for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
        const std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (!line.empty()) run(line);
      }
    }
    // 2. The status line.
    if (std::chrono::steady_clock::now() >= next_status) {
      next_status += 200ms;
      const auto st = cluster.state();
      std::size_t up = 0;
      for (const auto& m : st.members) up += m.status() == tc::model::member_status::up;
      auto r = troupe::ask<troupe::routing::routees>(system, router, troupe::routing::get_routees{}, 1s).result();
      out->say({{"event", "status"},
                {"up", up},
                {"unreachable", st.unreachable.size()},
                {"routees", r ? static_cast<long long>(r->refs.size()) : -1}});
    }
    system.await_termination(20ms);
  }
  return 0;
}
