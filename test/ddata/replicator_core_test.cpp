// The replicator's pure core: several cores in one test, joined by an in-test network that
// loses, duplicates, reorders and partitions messages (a seeded std::mt19937), with simulated
// time only.
#include "troupe/ddata/replicator_core.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ddata/property.hpp"
#include "troupe/ddata/flag.hpp"
#include "troupe/ddata/gcounter.hpp"
#include "troupe/ddata/lww_register.hpp"
#include "troupe/ddata/orset.hpp"
#include "troupe/ddata/pncounter.hpp"
#include "troupe/ddata/pncounter_map.hpp"
#include "troupe/ddata/serializers.hpp"

namespace dd = troupe::ddata;
using dd::consistency;
using dd::gcounter;
using dd::replica_id;
using dd::replicated_data;
using dd::replicator_core;
using dd::replicator_tick;
using namespace std::chrono_literals;
using std::chrono::nanoseconds;
using troupe::ddata::testing::chance;
using troupe::ddata::testing::pick;
using troupe::ddata::testing::seed_for;
using troupe::ddata::testing::test_replica;

namespace {

/// Digests and sizes from the values' wire form, as the driver will do.
dd::value_hooks codec_hooks() {
  static const dd::data_codecs codecs;
  dd::value_hooks h;
  h.digest_of = [](const replicated_data& d) -> std::uint64_t {
    auto b = codecs.encode(d);
    REQUIRE(b);
    std::uint64_t x = 14695981039346656037ULL;
    for (char c : d.type_tag()) x = (x ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    for (std::uint8_t c : *b) x = (x ^ c) * 1099511628211ULL;
    return x;
  };
  h.size_of = [](const replicated_data& d) -> std::size_t {
    auto b = codecs.encode(d);
    return b ? b->size() : 0;
  };
  return h;
}

dd::replicator_settings test_settings() {
  dd::replicator_settings s;
  s.pruning_interval = 1s;
  s.max_pruning_dissemination = 3s;
  s.pruning_marker_time_to_live = 60s;
  return s;
}

/// Several cores and the network between them. Every `step` (100 ms) fires the ticks that
/// are due and delivers what is queued, message by message.
class cluster_sim {
 public:
  cluster_sim(std::size_t n, std::uint32_t seed, dd::replicator_settings s = test_settings())
      : settings_(s), rng_(seed), replies_(n) {
    for (std::size_t i = 0; i < n; ++i) {
      ids_.push_back(test_replica(static_cast<int>(i + 1)));
      cores_.push_back(std::make_unique<replicator_core>(s, ids_.back(), codec_hooks(), seed + i));
    }
    for (auto& c : cores_)
      for (const auto& id : ids_) c->member_up(id);
  }

  replicator_core& operator[](std::size_t i) { return *cores_[i]; }
  const replica_id& id(std::size_t i) const { return ids_[i]; }
  std::size_t size() const { return cores_.size(); }
  nanoseconds now() const { return now_; }

  double loss = 0, duplicate = 0;
  bool reorder = false;

  /// Cuts (or heals) the links between `side` and everyone else.
  void partition(const std::set<std::size_t>& side) { side_ = side; }
  void heal() { side_.clear(); }
  /// Drops everything addressed to node `i` while set.
  std::set<std::size_t> deaf;

  void command(std::size_t i, dd::command c) {
    cores_[i]->receive(std::move(c), now_);
    collect();
  }
  void tick(std::size_t i, replicator_tick t) {
    cores_[i]->on_tick(t, now_);
    collect();
  }

  /// Delivers queued messages until none is left (or `limit` deliveries).
  void deliver(std::size_t limit = 100000) {
    collect();
    while (!net_.empty() && limit-- > 0) {
      const std::size_t k = reorder ? pick(rng_, net_.size()) : 0;
      dd::peer_envelope env = net_[k];
      const bool keep = duplicate > 0 && chance(rng_, duplicate);
      if (!keep) net_.erase(net_.begin() + static_cast<std::ptrdiff_t>(k));
      const std::size_t to = index_of(env.to);
      const std::size_t from = index_of(env.from);
      if (to == npos) continue;  // a member this simulation does not run
      const bool cut = !side_.empty() && (side_.count(to) > 0) != (side_.count(from) > 0);
      if (cut || deaf.count(to) > 0 || (loss > 0 && chance(rng_, loss))) continue;
      delivered_.push_back(env);
      cores_[to]->receive(env, now_);
      collect();
    }
  }

  /// Runs `d` of simulated time in 100 ms steps.
  void run(nanoseconds d) {
    const nanoseconds end = now_ + d;
    while (now_ < end) {
      now_ += 100ms;
      for (std::size_t i = 0; i < cores_.size(); ++i) {
        auto due = [&](nanoseconds every) { return every.count() > 0 && now_.count() % every.count() == 0; };
        if (due(settings_.delta_propagation_interval)) cores_[i]->on_tick(replicator_tick::delta_propagation, now_);
        if (due(settings_.gossip_interval)) cores_[i]->on_tick(replicator_tick::gossip, now_);
        if (due(settings_.notify_subscribers_interval)) cores_[i]->on_tick(replicator_tick::notify, now_);
        if (due(settings_.pruning_interval)) cores_[i]->on_tick(replicator_tick::prune, now_);
        cores_[i]->on_tick(replicator_tick::timers, now_);
      }
      deliver();
    }
  }

  /// The replies node `i` produced so far.
  std::vector<dd::local_reply>& replies(std::size_t i) { return replies_[i]; }
  /// The reply to request `id` at node `i`, when it is an `R`.
  template <class R>
  const R* reply(std::size_t i, dd::request_id id) const {
    for (const auto& r : replies_[i])
      if (r.id == id) return std::get_if<R>(&r.message);
    return nullptr;
  }
  /// True when node `i` answered request `id` at all.
  bool answered(std::size_t i, dd::request_id id) const {
    for (const auto& r : replies_[i])
      if (r.id == id) return true;
    return false;
  }
  /// Every message delivered so far.
  const std::vector<dd::peer_envelope>& delivered() const { return delivered_; }
  /// Puts a message on the network again (a late duplicate).
  void inject(dd::peer_envelope env) { net_.push_back(std::move(env)); }

  /// Removes node `r` from everyone else's view.
  void remove_member(std::size_t r) {
    for (std::size_t i = 0; i < cores_.size(); ++i)
      if (i != r) cores_[i]->member_removed(ids_[r], now_);
  }

 private:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::size_t index_of(const replica_id& r) const {
    for (std::size_t i = 0; i < ids_.size(); ++i)
      if (ids_[i] == r) return i;
    return npos;
  }
  void collect() {
    for (std::size_t i = 0; i < cores_.size(); ++i) {
      for (auto& m : cores_[i]->take_outbox()) net_.push_back(std::move(m));
      for (auto& r : cores_[i]->take_replies()) replies_[i].push_back(std::move(r));
    }
  }

  dd::replicator_settings settings_;
  std::mt19937 rng_;
  nanoseconds now_{0};
  std::vector<replica_id> ids_;
  std::vector<std::unique_ptr<replicator_core>> cores_;
  std::vector<dd::peer_envelope> net_;
  std::vector<dd::peer_envelope> delivered_;
  std::vector<std::vector<dd::local_reply>> replies_;
  std::set<std::size_t> side_;
};

/// An update incrementing a gcounter at `self` by `n`.
dd::update_request increment(dd::request_id id, const std::string& key, const replica_id& self, std::uint64_t n,
                             consistency c = consistency::local()) {
  return dd::update_request{id, 1, key, replicated_data{gcounter{}},
                            dd::modify_as<gcounter>([self, n](gcounter& g) { g.increment(self, n); }), c};
}

std::uint64_t counter_at(replicator_core& core, const std::string& key) {
  const auto* e = core.entry(key);
  if (e == nullptr || e->deleted) return 0;
  const auto* g = e->data.get_if<gcounter>();
  REQUIRE(g != nullptr);
  return g->value();
}

}  // namespace

TEST_CASE("consistencies need N/2+1, min_cap and all as Akka counts them", "[unit][ddata][replicator]") {
  using dd::required_replicas;
  CHECK(required_replicas(consistency::local(), 5) == 1);
  // Majority: N/2+1 with self counted.
  CHECK(required_replicas(consistency::majority(1s), 1) == 1);
  CHECK(required_replicas(consistency::majority(1s), 2) == 2);
  CHECK(required_replicas(consistency::majority(1s), 3) == 2);
  CHECK(required_replicas(consistency::majority(1s), 4) == 3);
  CHECK(required_replicas(consistency::majority(1s), 5) == 3);
  CHECK(required_replicas(consistency::majority(1s), 6) == 4);
  // min_cap raises it, N caps it.
  CHECK(required_replicas(consistency::majority(1s, 4), 5) == 4);
  CHECK(required_replicas(consistency::majority(1s, 9), 5) == 5);
  CHECK(required_replicas(consistency::majority(1s, 2), 9) == 5);
  CHECK(required_replicas(consistency::all(1s), 4) == 4);
  CHECK(required_replicas(consistency::from(3, 1s), 5) == 3);
  CHECK(required_replicas(consistency::from(7, 1s), 5) == 7);  // cannot succeed: times out
  CHECK(required_replicas(consistency::from(0, 1s), 5) == 1);
}

TEST_CASE("a local update and get answer at once", "[unit][ddata][replicator]") {
  cluster_sim sim(3, 1);
  sim.command(0, increment(1, "hits", sim.id(0), 2));
  REQUIRE(sim.reply<dd::update_success>(0, 1) != nullptr);
  sim.command(0, dd::get_request{2, 1, "hits", consistency::local()});
  const auto* got = sim.reply<dd::get_success>(0, 2);
  REQUIRE(got != nullptr);
  CHECK(got->value.get_if<gcounter>()->value() == 2);
  sim.command(1, dd::get_request{3, 1, "hits", consistency::local()});
  CHECK(sim.reply<dd::not_found>(1, 3) != nullptr);
  CHECK(sim[0].take_outbox().empty());  // nothing sent before a tick
}

TEST_CASE("updates at from(n), majority and all succeed once enough replicas acknowledged",
          "[unit][ddata][replicator]") {
  cluster_sim sim(5, 2);
  const std::vector<std::pair<consistency, std::size_t>> cases{
      {consistency::from(3, 1s), 3}, {consistency::majority(1s), 3}, {consistency::all(1s), 5},
      {consistency::majority(1s, 4), 4}};
  dd::request_id id = 10;
  for (const auto& [c, needed] : cases) {
    CAPTURE(id, needed);
    const std::string key = "k" + std::to_string(id);
    sim.command(0, increment(id, key, sim.id(0), 1, c));
    CHECK_FALSE(sim.answered(0, id));  // waits for acks
    sim.deliver();
    REQUIRE(sim.reply<dd::update_success>(0, id) != nullptr);
    std::size_t holders = 0;
    for (std::size_t i = 0; i < sim.size(); ++i) holders += counter_at(sim[i], key) == 1 ? 1 : 0;
    CHECK(holders >= needed);
    CHECK(sim[0].pending_operations() == 0);
    ++id;
  }
  // And reads at the same levels see the value.
  sim.command(4, dd::get_request{99, 7, "k10", consistency::majority(1s)});
  sim.deliver();
  const auto* got = sim.reply<dd::get_success>(4, 99);
  REQUIRE(got != nullptr);
  CHECK(got->value.get_if<gcounter>()->value() == 1);
}

TEST_CASE("timeouts give clear failures and keep the local update", "[unit][ddata][replicator]") {
  cluster_sim sim(3, 3);
  sim.deaf = {1, 2};
  sim.command(0, increment(1, "x", sim.id(0), 5, consistency::majority(2s)));
  sim.command(0, dd::get_request{2, 1, "x", consistency::all(3s)});
  sim.command(0, increment(3, "x", sim.id(0), 1, consistency::from(7, 1s)));
  sim.command(0, dd::delete_request{4, 1, "y", consistency::all(1s)});
  sim.run(1s);
  CHECK_FALSE(sim.answered(0, 1));
  const auto* t3 = sim.reply<dd::update_timeout>(0, 3);
  REQUIRE(t3 != nullptr);
  CHECK(t3->needed == 7);
  CHECK(t3->reason.find("the cluster has 3") != std::string::npos);
  CHECK(sim.reply<dd::delete_timeout>(0, 4) != nullptr);
  sim.run(2s);
  const auto* t1 = sim.reply<dd::update_timeout>(0, 1);
  REQUIRE(t1 != nullptr);
  CHECK(t1->acknowledged == 1);
  CHECK(t1->needed == 2);
  CHECK(t1->reason == "1 of 2 replicas acknowledged in time");
  const auto* g = sim.reply<dd::get_failure>(0, 2);
  REQUIRE(g != nullptr);
  CHECK(g->needed == 3);
  CHECK(g->answered == 1);
  CHECK(counter_at(sim[0], "x") == 6);  // the local value changed anyway
  CHECK(sim[0].pending_operations() == 0);
  const auto& st = sim[0].stats();
  CHECK(st.updates == 2);
  CHECK(st.gets == 1);
  CHECK(st.deletes == 1);
  CHECK(st.update_timeouts == 2);
  CHECK(st.get_failures == 1);
  CHECK(st.delete_timeouts == 1);
}

TEST_CASE("stats count commands, failed updates by reply, messages sent and deleted keys",
          "[unit][ddata][replicator]") {
  const replica_id self = test_replica(1);
  const replica_id peer = test_replica(2);
  replicator_core core(test_settings(), self, codec_hooks(), 1);
  core.member_up(peer);
  const nanoseconds now = 1000s;
  auto inc = [&](dd::request_id id, const std::string& key, consistency c) {
    core.receive(dd::update_request{id, 1, key, replicated_data(gcounter{}),
                                    dd::modify_as<gcounter>([self](gcounter& g) { g.increment(self); }), c},
                 now);
  };
  inc(1, "a", consistency::local());
  inc(2, "b", consistency::local());
  core.receive(dd::update_request{3, 1, "a", replicated_data(dd::flag{}),
                                  dd::modify_as<dd::flag>([](dd::flag& f) { f.switch_on(); }), consistency::local()},
               now);  // a gcounter: modify_failure
  core.receive(dd::get_request{4, 1, "a", consistency::local()}, now);
  core.receive(dd::delete_request{5, 1, "b", consistency::local()}, now);
  inc(6, "b", consistency::local());  // data_deleted
  core.on_tick(replicator_tick::delta_propagation, now);
  core.on_tick(replicator_tick::gossip, now);
  const auto& st = core.stats();
  CHECK(st.updates == 4);
  CHECK(st.gets == 1);
  CHECK(st.deletes == 1);
  CHECK(st.modify_failures == 1);
  CHECK(st.updates_of_deleted == 1);
  CHECK(st.update_timeouts == 0);
  CHECK(st.deltas_sent == 1);  // "a" to the one peer
  CHECK(st.gossip_status_sent == 1);
  CHECK(st.gossip_sent == 0);
  CHECK(core.entries().size() == 2);
  CHECK(core.deleted_count() == 1);
  // A peer that holds nothing asks by a status: both entries go back in one gossip message.
  core.receive(dd::peer_envelope{peer, self, dd::gossip_status{0, 1, {}, true}}, now);
  CHECK(st.gossip_sent == 1);
  CHECK(st.gossip_entries_sent == 2);
  CHECK(st.gossip_bytes_sent > 0);
  // Entries read back from the durable store count too.
  core.load_durable("c", dd::data_envelope::deleted_entry());
  CHECK(core.deleted_count() == 2);
  core.load_durable("c", *core.entry("a"));
  CHECK(core.deleted_count() == 1);
}

TEST_CASE("a majority read merges the peers' values and repairs the local one", "[unit][ddata][replicator]") {
  cluster_sim sim(3, 4);
  sim.command(1, increment(1, "c", sim.id(1), 4));  // local only, no tick: node 0 does not know
  sim.command(2, increment(2, "c", sim.id(2), 3));
  REQUIRE(sim[0].entry("c") == nullptr);
  sim.command(0, dd::get_request{3, 9, "c", consistency::all(1s)});
  sim.deliver();
  const auto* got = sim.reply<dd::get_success>(0, 3);
  REQUIRE(got != nullptr);
  CHECK(got->value.get_if<gcounter>()->value() == 7);
  CHECK(counter_at(sim[0], "c") == 7);  // read repair
  // Nobody has it: not_found after the peers answered.
  sim.command(0, dd::get_request{4, 9, "none", consistency::majority(1s)});
  sim.deliver();
  CHECK(sim.reply<dd::not_found>(0, 4) != nullptr);
}

TEST_CASE("a modify that throws or changes the type fails and changes nothing", "[unit][ddata][replicator]") {
  cluster_sim sim(1, 5);
  sim.command(0, increment(1, "k", sim.id(0), 2));
  sim.command(0, dd::update_request{2, 1, "k", replicated_data{gcounter{}},
                                    [](const replicated_data&) -> replicated_data { throw std::runtime_error("no"); },
                                    consistency::local()});
  const auto* f2 = sim.reply<dd::modify_failure>(0, 2);
  REQUIRE(f2 != nullptr);
  CHECK(f2->reason == "modify threw: no");
  sim.command(0, dd::update_request{3, 1, "k", replicated_data{gcounter{}},
                                    [](const replicated_data&) { return replicated_data{dd::flag{true}}; },
                                    consistency::local()});
  const auto* f3 = sim.reply<dd::modify_failure>(0, 3);
  REQUIRE(f3 != nullptr);
  CHECK(f3->reason == "modify returned ddata.flag for a key holding ddata.gcounter");
  sim.command(0, dd::update_request{4, 1, "k", replicated_data{dd::flag{}},
                                    dd::modify_as<dd::flag>([](dd::flag& f) { f.switch_on(); }),
                                    consistency::majority(1s)});
  const auto* f4 = sim.reply<dd::modify_failure>(0, 4);
  REQUIRE(f4 != nullptr);
  CHECK(f4->reason.find("not ddata.flag") != std::string::npos);
  CHECK(counter_at(sim[0], "k") == 2);
  CHECK(sim[0].take_outbox().empty());
}

TEST_CASE("subscribers get the current value at most once per notify interval", "[unit][ddata][replicator]") {
  cluster_sim sim(2, 6);
  auto changes = [&](std::size_t node, dd::requester_id who) {
    std::vector<std::uint64_t> out;
    for (const auto& r : sim.replies(node))
      if (const auto* c = std::get_if<dd::changed>(&r.message); c != nullptr && r.to == who)
        out.push_back(c->value.get_if<gcounter>()->value());
    return out;
  };
  sim.command(0, dd::subscribe_request{50, "s"});
  sim.tick(0, replicator_tick::notify);
  CHECK(changes(0, 50).empty());  // no key yet: nothing
  for (int k = 0; k < 5; ++k) sim.command(0, increment(1 + k, "s", sim.id(0), 1));
  CHECK(changes(0, 50).empty());  // not before the tick
  sim.tick(0, replicator_tick::notify);
  CHECK(changes(0, 50) == std::vector<std::uint64_t>{5});
  sim.tick(0, replicator_tick::notify);
  CHECK(changes(0, 50).size() == 1);  // no change, no notification
  // A change from a peer (through deltas) is notified too; a late subscriber gets the
  // current value once.
  sim.command(1, increment(10, "s", sim.id(1), 2));
  sim.tick(1, replicator_tick::delta_propagation);
  sim.deliver();
  sim.command(0, dd::subscribe_request{51, "s"});
  sim.tick(0, replicator_tick::notify);
  CHECK(changes(0, 50) == std::vector<std::uint64_t>{5, 7});
  CHECK(changes(0, 51) == std::vector<std::uint64_t>{7});
  sim.command(0, dd::unsubscribe_request{50, "s"});
  sim.command(0, increment(11, "s", sim.id(0), 1));
  sim.tick(0, replicator_tick::notify);
  CHECK(changes(0, 50).size() == 2);
  CHECK(changes(0, 51) == std::vector<std::uint64_t>{7, 8});
  // Over simulated time with a stream of updates: one notification per 500 ms at most.
  std::size_t before = changes(0, 51).size();
  for (int k = 0; k < 30; ++k) {
    sim.command(0, increment(100 + k, "s", sim.id(0), 1));
    sim.run(100ms);
  }
  CHECK(changes(0, 51).size() - before == 6);  // 3 s / 500 ms
  CHECK(changes(0, 51).back() == 38);
}

TEST_CASE("deleted keys stay deleted everywhere", "[unit][ddata][replicator]") {
  cluster_sim sim(3, 7);
  sim.command(0, increment(1, "d", sim.id(0), 1, consistency::all(1s)));
  sim.deliver();
  REQUIRE(sim.reply<dd::update_success>(0, 1) != nullptr);
  const std::size_t before_delete = sim.delivered().size();
  sim.command(1, dd::subscribe_request{77, "d"});
  sim.command(0, dd::delete_request{2, 1, "d", consistency::majority(1s)});
  sim.deliver();
  CHECK(sim.reply<dd::delete_success>(0, 2) != nullptr);
  sim.command(0, increment(3, "d", sim.id(0), 1));
  CHECK(sim.reply<dd::data_deleted>(0, 3) != nullptr);
  sim.command(0, dd::get_request{4, 1, "d", consistency::local()});
  CHECK(sim.reply<dd::data_deleted>(0, 4) != nullptr);
  sim.command(0, dd::delete_request{5, 1, "d", consistency::local()});
  CHECK(sim.reply<dd::data_deleted>(0, 5) != nullptr);
  // Gossip takes the deletion to the node that did not acknowledge it.
  sim.run(10s);
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE(sim[i].entry("d") != nullptr);
    CHECK(sim[i].entry("d")->deleted);
  }
  bool told = false;
  for (const auto& r : sim.replies(1)) told = told || (r.to == 77 && std::holds_alternative<dd::deleted>(r.message));
  CHECK(told);
  // A late copy of the old write does not bring the value back.
  for (std::size_t k = 0; k < before_delete; ++k) sim.inject(sim.delivered()[k]);
  sim.deliver();
  for (std::size_t i = 0; i < 3; ++i) CHECK(sim[i].entry("d")->deleted);
  sim.command(2, dd::get_request{6, 1, "d", consistency::all(1s)});
  sim.deliver();
  CHECK(sim.reply<dd::data_deleted>(2, 6) != nullptr);
}

TEST_CASE("a peer's value of another type is refused, never merged", "[unit][ddata][replicator]") {
  cluster_sim sim(2, 8);
  sim.command(0, increment(1, "t", sim.id(0), 3));
  dd::orset<std::string> s;
  s.add(sim.id(1), "x");
  dd::data_envelope bad;
  bad.data = replicated_data{s};
  // A write: nack and a notice.
  sim[0].receive(dd::peer_envelope{sim.id(1), sim.id(0), dd::write{42, "t", bad}}, sim.now());
  auto out = sim[0].take_outbox();
  REQUIRE(out.size() == 1);
  const auto* nack = std::get_if<dd::write_nack>(&out[0].message);
  REQUIRE(nack != nullptr);
  CHECK(nack->op == 42);
  CHECK(nack->reason == "key t holds ddata.gcounter, the write carried ddata.orset<string>");
  // Gossip and deltas: dropped with a notice.
  sim[0].receive(dd::peer_envelope{sim.id(1), sim.id(0), dd::gossip{{{"t", bad}}, false}}, sim.now());
  sim[0].receive(dd::peer_envelope{sim.id(1), sim.id(0), dd::delta_propagation{{{"t", {bad.data, 1, 1}}}}},
                 sim.now());
  const auto notices = sim[0].take_notices();
  REQUIRE(notices.size() == 3);
  for (const auto& n : notices) {
    CHECK(n.peer == sim.id(1));
    CHECK(n.key == "t");
    CHECK(n.text.find("cannot merge") != std::string::npos);
  }
  CHECK(counter_at(sim[0], "t") == 3);
  CHECK(sim[0].stats().type_mismatches == 3);
  // A message meant for another incarnation is dropped unread.
  replica_id old = sim.id(0);
  old.uid += 1;
  sim[0].receive(dd::peer_envelope{sim.id(1), old, dd::gossip{{{"u", bad}}, false}}, sim.now());
  CHECK(sim[0].entry("u") == nullptr);
}

TEST_CASE("a delta after a gap is ignored until gossip brings the full state", "[unit][ddata][replicator]") {
  cluster_sim sim(2, 9);
  auto propagate = [&](bool drop) {
    sim.tick(0, replicator_tick::delta_propagation);
    if (drop) {
      sim.deaf = {1};
      sim.deliver();
      sim.deaf.clear();
    } else {
      sim.deliver();
    }
  };
  sim.command(0, increment(1, "g", sim.id(0), 1));
  propagate(false);
  CHECK(counter_at(sim[1], "g") == 1);
  sim.command(0, increment(2, "g", sim.id(0), 10));
  propagate(true);  // lost
  sim.command(0, increment(3, "g", sim.id(0), 100));
  propagate(false);  // arrives after a gap
  CHECK(counter_at(sim[1], "g") == 1);
  CHECK(sim[1].stats().deltas_ignored == 1);
  CHECK(sim[1].entry("g")->delta_versions.at(sim.id(0)) == 1);
  // One gossip exchange repairs it, and the numbers with it.
  sim.tick(1, replicator_tick::gossip);
  sim.deliver();
  CHECK(counter_at(sim[1], "g") == 111);
  CHECK(sim[1].entry("g")->delta_versions.at(sim.id(0)) == 3);
  CHECK(sim[1].digest_of("g") == sim[0].digest_of("g"));
  // Deltas flow again.
  sim.command(0, increment(4, "g", sim.id(0), 1000));
  propagate(false);
  CHECK(counter_at(sim[1], "g") == 1111);
  CHECK(sim[1].stats().deltas_ignored == 1);
}

TEST_CASE("gossip stays within its byte budget and still converges", "[unit][ddata][replicator]") {
  auto s = test_settings();
  s.gossip_max_bytes_per_round = 200;
  cluster_sim sim(2, 10, s);
  for (int k = 0; k < 40; ++k) sim.command(0, increment(1 + k, "key" + std::to_string(k), sim.id(0), 1));
  sim.tick(0, replicator_tick::gossip);  // node 0's status: node 1 lacks everything
  sim.deliver();
  // Node 1 asked for all 40 keys, node 0 sent what the budget allows.
  std::size_t got = 0;
  for (int k = 0; k < 40; ++k) got += sim[1].entry("key" + std::to_string(k)) != nullptr ? 1 : 0;
  CHECK(got > 0);
  CHECK(got < 40);
  sim.run(60s);
  for (int k = 0; k < 40; ++k) CHECK(counter_at(sim[1], "key" + std::to_string(k)) == 1);
}

namespace {

/// One random CRDT operation per type, as an update of key `key`.
struct workload {
  std::string key;
  replicated_data initial;
  /// The modify, and what it adds to a counter's value (0 for the other types).
  std::function<std::pair<dd::modify_function, std::int64_t>(const replica_id&, std::mt19937&, nanoseconds)> op;
};
using op_result = std::pair<dd::modify_function, std::int64_t>;

std::vector<workload> workloads() {
  std::vector<workload> w;
  w.push_back({"gcounter", replicated_data{gcounter{}}, [](const replica_id& self, std::mt19937& rng, nanoseconds) {
                 const auto n = pick(rng, 5);
                 return op_result{dd::modify_as<gcounter>([self, n](gcounter& g) { g.increment(self, n); }),
                                  static_cast<std::int64_t>(n)};
               }});
  w.push_back({"pncounter", replicated_data{dd::pncounter{}},
               [](const replica_id& self, std::mt19937& rng, nanoseconds) {
                 const auto n = static_cast<std::int64_t>(pick(rng, 7)) - 3;
                 return op_result{dd::modify_as<dd::pncounter>([self, n](dd::pncounter& c) { c.increment(self, n); }), n};
               }});
  w.push_back({"orset", replicated_data{dd::orset<std::string>{}},
               [](const replica_id& self, std::mt19937& rng, nanoseconds) {
                 const std::string e = "e" + std::to_string(pick(rng, 6));
                 const bool add = chance(rng, 0.6);
                 return op_result{dd::modify_as<dd::orset<std::string>>([self, e, add](dd::orset<std::string>& s) {
                                    if (add) s.add(self, e);
                                    else s.remove(e);
                                  }),
                                  0};
               }});
  w.push_back({"register", replicated_data{dd::lww_register<std::string>{}},
               [](const replica_id& self, std::mt19937& rng, nanoseconds now) {
                 const std::string v = "v" + std::to_string(pick(rng, 100));
                 return op_result{dd::modify_as<dd::lww_register<std::string>>(
                                      [self, v, now](dd::lww_register<std::string>& r) { r.set(self, v, now.count()); }),
                                  0};
               }});
  w.push_back({"pnmap", replicated_data{dd::pncounter_map<std::string>{}},
               [](const replica_id& self, std::mt19937& rng, nanoseconds) {
                 const std::string k = "m" + std::to_string(pick(rng, 3));
                 const auto n = static_cast<std::int64_t>(pick(rng, 4));
                 return op_result{dd::modify_as<dd::pncounter_map<std::string>>(
                                      [self, k, n](dd::pncounter_map<std::string>& m) { m.increment(self, k, n); }),
                                  0};
               }});
  w.push_back({"flag", replicated_data{dd::flag{}}, [](const replica_id&, std::mt19937& rng, nanoseconds) {
                 const bool on = chance(rng, 0.05);
                 return op_result{dd::modify_as<dd::flag>([on](dd::flag& f) {
                                    if (on) f.switch_on();
                                  }),
                                  0};
               }});
  return w;
}

}  // namespace

TEST_CASE("replicas converge under loss, duplication, reordering and a healed partition",
          "[unit][ddata][replicator]") {
  const auto loads = workloads();
  std::size_t diverged_runs = 0;
  std::uint64_t gaps = 0, gossiped = 0;
  for (std::uint32_t run = 0; run < 10; ++run) {
    const std::uint32_t seed = seed_for(100 + run);
    CAPTURE(run, seed);
    std::mt19937 rng(seed);
    const std::size_t n = 3 + run % 3;
    cluster_sim sim(n, seed);
    sim.loss = 0.1 + 0.1 * (run % 5);  // 10 % to 50 % lost
    sim.duplicate = 0.1;
    sim.reorder = true;
    dd::request_id id = 1;
    std::map<std::string, std::int64_t> sum;  // what the counters must add up to
    // 1. 20 s of random updates at random replicas, with a partition from 5 s to 15 s.
    for (int step = 0; step < 200; ++step) {
      if (step == 50) sim.partition({0, n - 1});
      if (step == 150) {
        bool differ = false;
        for (const auto& load : loads) {
          const auto* a = sim[0].entry(load.key);
          const auto* b = sim[1].entry(load.key);
          differ = differ || a == nullptr || b == nullptr || !(a->data == b->data);
        }
        diverged_runs += differ ? 1 : 0;
        sim.heal();
      }
      for (int k = 0; k < 2; ++k) {
        const auto& load = loads[pick(rng, loads.size())];
        const std::size_t at = pick(rng, n);
        const consistency c = chance(rng, 0.8) ? consistency::local() : consistency::majority(1s);
        auto [modify, adds] = load.op(sim.id(at), rng, sim.now());
        sum[load.key] += adds;
        sim.command(at, dd::update_request{id++, 1, load.key, load.initial, std::move(modify), c});
      }
      sim.run(100ms);
    }
    // 2. The network heals fully; gossip rounds.
    sim.loss = 0;
    sim.duplicate = 0;
    sim.run(30s);
    // 3. Every replica holds the same entries, and every request got exactly one answer.
    for (const auto& load : loads) {
      CAPTURE(load.key);
      REQUIRE(sim[0].entry(load.key) != nullptr);
      for (std::size_t i = 1; i < n; ++i) {
        REQUIRE(sim[i].entry(load.key) != nullptr);
        CHECK(sim[i].entry(load.key)->data == sim[0].entry(load.key)->data);
        CHECK(sim[i].digest_of(load.key) == sim[0].digest_of(load.key));
      }
    }
    // No update is lost: the counters hold every increment (local writes always apply).
    CHECK(static_cast<std::int64_t>(sim[0].entry("gcounter")->data.get_if<gcounter>()->value()) == sum["gcounter"]);
    CHECK(sim[0].entry("pncounter")->data.get_if<dd::pncounter>()->value() == sum["pncounter"]);
    std::size_t answers = 0;
    for (std::size_t i = 0; i < n; ++i) {
      answers += sim.replies(i).size();
      CHECK(sim[i].pending_operations() == 0);
    }
    CHECK(answers == id - 1);
    for (std::size_t i = 0; i < n; ++i) {
      gaps += sim[i].stats().deltas_ignored;
      gossiped += sim[i].stats().gossip_entries_merged;
    }
  }
  // The runs exercised what they claim: the partition split the values, deltas met gaps.
  CHECK(diverged_runs >= 8);
  CHECK(gaps > 0);
  CHECK(gossiped > 0);
}

TEST_CASE("a removed replica's entries are pruned without changing or resurrecting values",
          "[unit][ddata][replicator]") {
  cluster_sim sim(3, 11);
  // 1. Everyone counts and adds; node 2 adds "z" that node 0 removes after the pruning.
  for (std::size_t i = 0; i < 3; ++i) sim.command(i, increment(1 + i, "c", sim.id(i), 10 * (i + 1)));
  using set_t = dd::orset<std::string>;
  sim.command(2, dd::update_request{10, 1, "s", replicated_data{set_t{}},
                                    dd::modify_as<set_t>([&](set_t& s) {
                                      s.add(sim.id(2), "z");
                                      s.add(sim.id(2), "w");
                                    }),
                                    consistency::local()});
  sim.run(10s);
  for (std::size_t i = 0; i < 3; ++i) REQUIRE(counter_at(sim[i], "c") == 60);
  const std::vector<dd::peer_envelope> old_traffic = sim.delivered();
  // 2. Node 2 leaves; after max_pruning_dissemination the leader (node 0) prunes it.
  sim.remove_member(2);
  sim.deaf = {2};
  sim.run(15s);
  for (std::size_t i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(counter_at(sim[i], "c") == 60);
    CHECK_FALSE(sim[i].entry("c")->data.needs_pruning_from(sim.id(2)));
    CHECK_FALSE(sim[i].entry("s")->data.needs_pruning_from(sim.id(2)));
    const auto* set = sim[i].entry("s")->data.get_if<set_t>();
    REQUIRE(set != nullptr);
    CHECK(set->elements() == std::set<std::string>{"w", "z"});
    REQUIRE(sim[i].entry("c")->pruning.count(sim.id(2)) == 1);
    CHECK(std::holds_alternative<dd::pruning_performed>(sim[i].entry("c")->pruning.at(sim.id(2))));
  }
  CHECK(sim[0].stats().pruned == 2);
  CHECK(sim[0].entry("c")->data.get_if<gcounter>()->value_of(sim.id(0)) == 40);
  // 3. "z" is removed; then the old traffic (with node 2's entries) arrives again: from
  //    node 1 it is cleaned before merging, from node 2 it is dropped.
  sim.command(0, dd::update_request{20, 1, "s", replicated_data{set_t{}},
                                    dd::modify_as<set_t>([](set_t& s) { s.remove("z"); }), consistency::all(1s)});
  sim.deliver();
  REQUIRE(sim.reply<dd::update_success>(0, 20) != nullptr);
  sim.deaf.clear();
  for (const auto& env : old_traffic)
    if (!(env.to == sim.id(2))) sim.inject(env);
  sim.deliver();
  sim.deaf = {2};
  sim.run(6s);
  for (std::size_t i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(counter_at(sim[i], "c") == 60);
    const auto* set = sim[i].entry("s")->data.get_if<set_t>();
    REQUIRE(set != nullptr);
    CHECK(set->elements() == std::set<std::string>{"w"});
    CHECK_FALSE(sim[i].entry("c")->data.needs_pruning_from(sim.id(2)));
  }
  CHECK(sim[0].stats().dropped_from_removed + sim[1].stats().dropped_from_removed > 0);
  // 4. The markers expire after their time to live; values stay.
  sim.run(70s);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(sim[i].entry("c")->pruning.empty());
    CHECK(counter_at(sim[i], "c") == 60);
    CHECK(sim[i].removed_replicas().empty());
  }
}

TEST_CASE("pruning waits for reachability and for every member to see it", "[unit][ddata][replicator]") {
  cluster_sim sim(4, 12);
  for (std::size_t i = 0; i < 4; ++i) sim.command(i, increment(1 + i, "c", sim.id(i), 1));
  sim.run(10s);
  REQUIRE(counter_at(sim[0], "c") == 4);
  sim.remove_member(3);
  sim.deaf = {3};
  // 1. Node 2 is unreachable from the leader: nothing starts.
  sim[0].member_unreachable(sim.id(2));
  sim.run(10s);
  CHECK(sim[0].entry("c")->pruning.empty());
  // 2. Reachable, but node 2 hears nothing: started, not performed (it has not seen it).
  sim[0].member_reachable(sim.id(2));
  sim.deaf = {2, 3};
  sim.run(10s);
  REQUIRE(sim[0].entry("c")->pruning.count(sim.id(3)) == 1);
  const auto& state = sim[0].entry("c")->pruning.at(sim.id(3));
  REQUIRE(std::holds_alternative<dd::pruning_initialized>(state));
  CHECK(std::get<dd::pruning_initialized>(state).seen == std::set<replica_id>{sim.id(1)});
  CHECK(sim[0].entry("c")->data.needs_pruning_from(sim.id(3)));
  // 3. Node 2 hears again: pruning completes, the value is kept everywhere.
  sim.deaf = {3};
  sim.run(20s);
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(counter_at(sim[i], "c") == 4);
    CHECK_FALSE(sim[i].entry("c")->data.needs_pruning_from(sim.id(3)));
  }
  // 4. A message from the removed node is dropped.
  gcounter extra;
  extra.increment(sim.id(3), 100);
  dd::data_envelope env;
  env.data = replicated_data{extra};
  sim[0].receive(dd::peer_envelope{sim.id(3), sim.id(0), dd::write{1, "c", env}}, sim.now());
  CHECK(counter_at(sim[0], "c") == 4);
  CHECK(sim[0].take_outbox().empty());
  CHECK(sim[0].stats().dropped_from_removed >= 1);
}

TEST_CASE("a role limits the replicas to the members that have it", "[unit][ddata][replicator]") {
  auto s = test_settings();
  s.role = "cache";
  replicator_core core(s, test_replica(1), codec_hooks(), 1);
  core.member_up(test_replica(2), {"cache"});
  core.member_up(test_replica(3), {"web"});
  core.member_up(test_replica(4));
  core.member_up(test_replica(1), {"cache"});  // self
  CHECK(core.peers() == std::set<replica_id>{test_replica(2)});
  // A majority of 2 is 2: the write goes to the one peer only.
  core.receive(increment(1, "k", test_replica(1), 1, consistency::majority(1s)), 0s);
  const auto out = core.take_outbox();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to == test_replica(2));
  CHECK(std::holds_alternative<dd::write>(out[0].message));
}

TEST_CASE("replicas found in values but not members are pruned, unless they come up", "[unit][ddata][replicator]") {
  cluster_sim sim(2, 13);
  const replica_id ghost = test_replica(9), late = test_replica(8);
  sim.command(0, increment(1, "c", ghost, 3));  // as if merged from an old incarnation
  sim.command(0, increment(2, "c", late, 4));   // a node not up here yet
  sim.run(2s);
  sim[0].member_up(late);
  sim[1].member_up(late);
  sim.run(15s);
  // 1. The ghost's pruning started, and waits for the silent member `late` to see it;
  //    `late` is up, so nothing of it is pruned.
  CHECK(sim[0].removed_replicas().count(ghost) == 1);
  CHECK(sim[0].removed_replicas().count(late) == 0);
  for (std::size_t i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(counter_at(sim[i], "c") == 7);
    CHECK(sim[i].entry("c")->data.needs_pruning_from(late));
    REQUIRE(sim[i].entry("c")->pruning.count(ghost) == 1);
    const auto* init = std::get_if<dd::pruning_initialized>(&sim[i].entry("c")->pruning.at(ghost));
    REQUIRE(init != nullptr);
    CHECK(init->owner == sim.id(0));
    CHECK(init->seen == std::set<replica_id>{sim.id(1)});
  }
  // 2. Once `late` is removed too, both are pruned and the value stays.
  sim[0].member_removed(late, sim.now());
  sim[1].member_removed(late, sim.now());
  sim.run(15s);
  for (std::size_t i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(counter_at(sim[i], "c") == 7);
    CHECK_FALSE(sim[i].entry("c")->data.needs_pruning_from(ghost));
    CHECK_FALSE(sim[i].entry("c")->data.needs_pruning_from(late));
  }
  CHECK(sim[0].entry("c")->data.get_if<gcounter>()->value_of(sim.id(0)) == 7);
}

TEST_CASE("durable keys: every change of a durable entry is listed once, and loaded entries are not",
          "[unit][ddata][replicator]") {
  auto s = test_settings();
  s.durable_keys = {"cart-*", "total"};
  cluster_sim sim(2, 7, s);
  CHECK(sim[0].is_durable("cart-1"));
  CHECK(sim[0].is_durable("cart-"));
  CHECK(sim[0].is_durable("total"));
  CHECK_FALSE(sim[0].is_durable("totals"));
  CHECK_FALSE(sim[0].is_durable("car"));

  sim.command(0, increment(1, "cart-1", sim.id(0), 2));
  sim.command(0, increment(2, "cart-1", sim.id(0), 1));
  sim.command(0, increment(3, "hits", sim.id(0), 1));
  auto w = sim[0].take_durable_writes();
  REQUIRE(w.size() == 1);  // two changes of one key, listed once; "hits" is not durable
  CHECK(w[0].first == "cart-1");
  CHECK(w[0].second.data.get_if<gcounter>()->value() == 3);
  CHECK(sim[0].take_durable_writes().empty());

  // A change that arrives from a peer is listed there too.
  sim.run(1s);
  auto at_peer = sim[1].take_durable_writes();
  REQUIRE(at_peer.size() == 1);
  CHECK(at_peer[0].second.data.get_if<gcounter>()->value() == 3);

  // A delete is listed as a deleted entry.
  sim.command(0, dd::delete_request{4, 1, "cart-1", consistency::local()});
  w = sim[0].take_durable_writes();
  REQUIRE(w.size() == 1);
  CHECK(w[0].second.deleted);

  // Loading (a restart) sets the entry without listing it or sending it as a delta.
  replicator_core fresh(s, test_replica(9), codec_hooks(), 1);
  fresh.member_up(test_replica(10));
  dd::data_envelope e;
  gcounter g;
  g.increment(test_replica(9), 5);
  e.data = replicated_data(g);
  fresh.load_durable("total", e);
  REQUIRE(fresh.entry("total") != nullptr);
  CHECK(fresh.entry("total")->data.get_if<gcounter>()->value() == 5);
  CHECK(fresh.take_durable_writes().empty());
  fresh.on_tick(replicator_tick::delta_propagation, 1s);
  CHECK(fresh.take_outbox().empty());
}
