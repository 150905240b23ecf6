// Event-sourced actors: persist, stash, recover (with and without snapshots), one writer
// per id, bad stored data, upgrades of old event versions, and queries by tag.
#include <catch2/catch.hpp>

#include <mutex>

#include <troupe/actor.hpp>
#include <troupe/persistence.hpp>

using namespace std::chrono_literals;
namespace tp = troupe::persistence;
using troupe::testkit::test_probe;

namespace {

struct deposit {
  std::int64_t amount;
};
struct get_balance {};
struct balance {
  std::int64_t amount;
  std::int64_t sequence_nr;
  int recovered_events;
};
struct deposited {
  std::int64_t amount = 0;
  std::string memo;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(deposited, amount, memo)
struct balance_snapshot {
  std::int64_t balance = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(balance_snapshot, balance)
struct deposit_many {
  std::vector<std::int64_t> amounts;
};
struct done {
  std::int64_t balance;
};

class account final : public tp::persistent_actor {
 public:
  explicit account(std::string id) : persistent_actor("account-" + id) {}

  troupe::behavior receive_recover() override {
    return {[this](const deposited& e) {
              balance_ += e.amount;
              ++recovered_;
            },
            [this](const balance_snapshot& s) { balance_ = s.balance; }};
  }
  troupe::behavior receive_command() override {
    return {[this](const deposit& d) {
              persist(deposited{d.amount, "cash"}, [this, to = sender()](const deposited& e) {
                balance_ += e.amount;
                to.tell(done{balance_});
              });
            },
            [this](const deposit_many& d) {
              std::vector<deposited> events;
              for (auto a : d.amounts) events.push_back(deposited{a, "batch"});
              persist_all(std::move(events), [this, to = sender(), last = d.amounts.size(), n = std::size_t{0}](
                                                 const deposited& e) mutable {
                balance_ += e.amount;
                if (++n == last) to.tell(done{balance_});
              });
            },
            [this](const get_balance&) { return balance{balance_, last_sequence_nr(), recovered_}; }};
  }
  troupe::message snapshot_state() const override { return troupe::make_message(balance_snapshot{balance_}); }
  std::vector<std::string> tags_of(const troupe::message& e) const override {
    const auto* d = e.get_if<deposited>();
    return d && d->amount >= 100 ? std::vector<std::string>{"large"} : std::vector<std::string>{};
  }

 private:
  std::int64_t balance_ = 0;
  int recovered_ = 0;
};

/// Registers the bank's types and uses `store` (shared by systems that share it).
void start_persistence(troupe::actor_system& sys, const tp::plugin& store, std::int64_t snapshot_every = 0) {
  auto& p = tp::persistence::get(sys);
  p.register_type<deposited>("test.deposited");
  p.register_type<balance_snapshot>("test.balance-snapshot");
  tp::persistence_settings s;
  s.snapshot_every = snapshot_every;
  p.use(store, s);
}

/// Collects the log lines of the test, for checking what a failure said.
class captured_log {
 public:
  captured_log() {
    troupe::logger::set_sink([this](const troupe::log_record& r) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(r.text);
    });
  }
  ~captured_log() { troupe::logger::set_sink({}); }
  bool contains(const std::string& needle) const {
    std::lock_guard lock(mutex_);
    for (const auto& l : lines_)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

/// A journal that holds back write acknowledgements until released (the in-memory one
/// answers at once, which would hide the stash).
class gated_journal final : public tp::journal {
 public:
  explicit gated_journal(std::shared_ptr<tp::journal> inner) : inner_(std::move(inner)) {}
  void write(std::vector<tp::persistent_repr> events, tp::done_fn done) override {
    inner_->write(std::move(events), [this, done = std::move(done)](std::optional<tp::store_error> e) mutable {
      std::lock_guard lock(mutex_);
      held_.push_back([done = std::move(done), e = std::move(e)]() mutable { done(std::move(e)); });
    });
  }
  void release() {
    std::vector<std::function<void()>> now;
    {
      std::lock_guard lock(mutex_);
      now.swap(held_);
    }
    for (auto& f : now) f();
  }
  std::size_t held() const {
    std::lock_guard lock(mutex_);
    return held_.size();
  }
  void read(std::string id, std::int64_t from, std::int64_t to, std::int64_t limit,
            tp::result_fn<std::vector<tp::persistent_repr>> done) override {
    inner_->read(std::move(id), from, to, limit, std::move(done));
  }
  void highest_sequence_nr(std::string id, tp::result_fn<std::int64_t> done) override {
    inner_->highest_sequence_nr(std::move(id), std::move(done));
  }
  void delete_to(std::string id, std::int64_t to, tp::done_fn done) override {
    inner_->delete_to(std::move(id), to, std::move(done));
  }
  void events_by_tag(std::string tag, std::int64_t after, std::int64_t limit,
                     tp::result_fn<std::vector<tp::tagged_event>> done) override {
    inner_->events_by_tag(std::move(tag), after, limit, std::move(done));
  }
  void persistence_ids(std::string after, std::int64_t limit, tp::result_fn<std::vector<std::string>> done) override {
    inner_->persistence_ids(std::move(after), limit, std::move(done));
  }

 private:
  std::shared_ptr<tp::journal> inner_;
  mutable std::mutex mutex_;
  std::vector<std::function<void()>> held_;
};

/// The amount of a deposited event in `e` (fails the test when it holds something else).
std::int64_t amount_of(const tp::event_envelope& e) {
  const auto* d = e.event.get_if<deposited>();
  if (!d) throw std::runtime_error("not a deposited event: " + e.event.type_name());
  return d->amount;
}

template <class T>
T wait_for(std::function<void(std::function<void(T)>)> call) {
  std::promise<T> p;
  auto f = p.get_future();
  call([&p](T v) { p.set_value(std::move(v)); });
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}

}  // namespace

TEST_CASE("a persistent actor gets its events back after a stop and a restart", "[unit][persistence]") {
  troupe::actor_system sys("persist");
  const auto store = tp::make_in_memory_plugin();
  start_persistence(sys, store);
  test_probe probe(sys);

  auto a = sys.spawn<account>("a1", "1");
  for (int i = 1; i <= 5; ++i) {
    probe.send(a, deposit{10});
    CHECK(probe.expect_msg<done>().balance == 10 * i);
  }
  probe.watch(a);
  sys.stop(a);
  probe.expect_terminated(a);

  auto again = sys.spawn<account>("a1-again", "1");
  probe.send(again, get_balance{});
  const auto b = probe.expect_msg<balance>();
  CHECK(b.amount == 50);
  CHECK(b.sequence_nr == 5);
  CHECK(b.recovered_events == 5);

  SECTION("persist_all is one atomic write whose handlers run in order") {
    probe.send(again, deposit_many{{1, 2, 3}});
    CHECK(probe.expect_msg<done>().balance == 56);
    const auto events = wait_for<troupe::expected<std::vector<tp::persistent_repr>, tp::store_error>>(
        [&](auto cb) { store.journal->read("account-1", 6, 100, 100, cb); });
    REQUIRE(events);
    REQUIRE(events->size() == 3);
    CHECK(events->back().sequence_nr == 8);
    CHECK(events->back().payload.manifest == "test.deposited");
  }
}

TEST_CASE("commands arriving while events are written wait, and run in their order", "[unit][persistence]") {
  troupe::actor_system sys("persist");
  auto store = tp::make_in_memory_plugin();
  auto gate = std::make_shared<gated_journal>(store.journal);
  store.journal = gate;
  start_persistence(sys, store);
  test_probe probe(sys);

  auto a = sys.spawn<account>("a", "stash");
  probe.send(a, deposit{1});
  troupe::testkit::await_condition(sys, [&] { return gate->held() == 1; }, 3s, "the first write");
  probe.send(a, get_balance{});
  probe.send(a, deposit{2});
  probe.expect_no_msg(50ms);  // both wait behind the write in flight
  gate->release();
  CHECK(probe.expect_msg<done>().balance == 1);
  CHECK(probe.expect_msg<balance>().amount == 1);
  troupe::testkit::await_condition(sys, [&] { return gate->held() == 1; }, 3s, "the second write");
  gate->release();
  CHECK(probe.expect_msg<done>().balance == 3);
}

TEST_CASE("with snapshot-every, recovery starts at the latest snapshot and replays only later events",
          "[unit][persistence]") {
  troupe::actor_system sys("persist");
  const auto store = tp::make_in_memory_plugin();
  start_persistence(sys, store, 10);
  test_probe probe(sys);

  auto a = sys.spawn<account>("a", "snap");
  for (int i = 1; i <= 25; ++i) {
    probe.send(a, deposit{i});
    probe.expect_msg<done>();
  }
  probe.watch(a);
  sys.stop(a);
  probe.expect_terminated(a);
  const auto snap = wait_for<troupe::expected<std::optional<tp::snapshot_repr>, tp::store_error>>(
      [&](auto cb) { store.snapshots->load("account-snap", 1'000, cb); });
  REQUIRE(snap);
  REQUIRE(snap->has_value());
  CHECK((*snap)->sequence_nr == 20);

  auto again = sys.spawn<account>("again", "snap");
  probe.send(again, get_balance{});
  const auto b = probe.expect_msg<balance>();
  CHECK(b.amount == 25 * 26 / 2);
  CHECK(b.recovered_events == 5);
  CHECK(b.sequence_nr == 25);
}

TEST_CASE("a second writer of the same id fails and stops, and the store keeps the first writer's events",
          "[unit][persistence]") {
  captured_log log;
  const auto store = tp::make_in_memory_plugin();
  troupe::actor_system one("one"), two("two");
  start_persistence(one, store);
  start_persistence(two, store);
  test_probe p1(one), p2(two);

  // Both incarnations recover the same (empty) history, as after a split brain.
  auto first = one.spawn<account>("acc", "split");
  auto second = two.spawn<account>("acc", "split");
  p1.send(first, get_balance{});
  p1.expect_msg<balance>();
  p2.send(second, get_balance{});
  p2.expect_msg<balance>();

  p1.send(first, deposit{7});
  CHECK(p1.expect_msg<done>().balance == 7);
  p2.watch(second);
  p2.send(second, deposit{1000});
  p2.expect_terminated(second);
  CHECK(log.contains("persistence id \"account-split\": persisting events 1..1 failed (conflict"));

  const auto events = wait_for<troupe::expected<std::vector<tp::persistent_repr>, tp::store_error>>(
      [&](auto cb) { store.journal->read("account-split", 1, 100, 100, cb); });
  REQUIRE(events);
  REQUIRE(events->size() == 1);
  CHECK(nlohmann::json::from_cbor(events->front().payload.data)["amount"] == 7);
}

TEST_CASE("an event that cannot be read stops recovery, naming the id and sequence number", "[unit][persistence]") {
  captured_log log;
  troupe::actor_system sys("persist");
  const auto store = tp::make_in_memory_plugin();
  start_persistence(sys, store);
  test_probe probe(sys);
  auto a = sys.spawn<account>("a", "bad");
  probe.send(a, deposit{5});
  probe.expect_msg<done>();
  probe.watch(a);
  sys.stop(a);
  probe.expect_terminated(a);

  SECTION("an unknown manifest") {
    auto err = wait_for<std::optional<tp::store_error>>([&](auto cb) {
      store.journal->write({tp::persistent_repr{"account-bad", 2, {1, "test.withdrawn", 1, {0xa0}}, {}, "x", 0}}, cb);
    });
    REQUIRE_FALSE(err);
  }
  SECTION("a payload that does not decode") {
    auto err = wait_for<std::optional<tp::store_error>>([&](auto cb) {
      store.journal->write({tp::persistent_repr{"account-bad", 2, {1, "test.deposited", 1, {0xff, 0x00}}, {}, "x", 0}},
                           cb);
    });
    REQUIRE_FALSE(err);
  }
  auto again = sys.spawn<account>("again", "bad");
  probe.watch(again);
  probe.send(again, get_balance{});
  probe.expect_terminated(again);
  CHECK(log.contains("persistence id \"account-bad\": recovery failed: the event at sequence number 2 cannot be read"));
}

TEST_CASE("old event versions are upgraded on read", "[unit][persistence]") {
  troupe::actor_system sys("persist");
  const auto store = tp::make_in_memory_plugin();
  start_persistence(sys, store);
  auto& p = tp::persistence::get(sys);
  p.register_type<deposited>("test.deposited", 2);  // version 2 has a memo; version 1 stored cents
  p.add_json_upgrade("test.deposited", 1, [](nlohmann::json& j) {
    j["amount"] = j["cents"].get<std::int64_t>() / 100;
    j.erase("cents");
    j["memo"] = "upgraded";
  });
  const auto v1 = nlohmann::json::to_cbor(nlohmann::json{{"cents", 4200}});
  auto err = wait_for<std::optional<tp::store_error>>([&](auto cb) {
    store.journal->write({tp::persistent_repr{"account-old", 1, {1, "test.deposited", 1, v1}, {}, "x", 0}}, cb);
  });
  REQUIRE_FALSE(err);

  test_probe probe(sys);
  auto a = sys.spawn<account>("a", "old");
  probe.send(a, get_balance{});
  CHECK(probe.expect_msg<balance>().amount == 42);
  probe.send(a, deposit{1});
  CHECK(probe.expect_msg<done>().balance == 43);
  const auto events = wait_for<troupe::expected<std::vector<tp::persistent_repr>, tp::store_error>>(
      [&](auto cb) { store.journal->read("account-old", 2, 2, 1, cb); });
  REQUIRE(events);
  REQUIRE(events->size() == 1);
  CHECK(events->front().payload.version == 2);

  SECTION("a version newer than the program's is refused") {
    p.register_type<deposited>("test.deposited", 1);
    captured_log log;
    probe.watch(a);
    sys.stop(a);
    probe.expect_terminated(a);
    auto again = sys.spawn<account>("again", "old");
    probe.watch(again);
    probe.expect_terminated(again);
    CHECK(log.contains("version 2 is newer than this program's version 1"));
  }
}

TEST_CASE("deleted events keep the numbering, and a persistent actor without a started plugin stops",
          "[unit][persistence]") {
  troupe::actor_system sys("persist");
  test_probe probe(sys);
  SECTION("delete_to") {
    const auto store = tp::make_in_memory_plugin();
    start_persistence(sys, store);
    auto a = sys.spawn<account>("a", "del");
    for (int i = 0; i < 4; ++i) {
      probe.send(a, deposit{1});
      probe.expect_msg<done>();
    }
    auto err = wait_for<std::optional<tp::store_error>>([&](auto cb) { store.journal->delete_to("account-del", 4, cb); });
    REQUIRE_FALSE(err);
    probe.watch(a);
    sys.stop(a);
    probe.expect_terminated(a);
    auto again = sys.spawn<account>("again", "del");
    probe.send(again, deposit{1});
    CHECK(probe.expect_msg<done>().balance == 1);
    probe.send(again, get_balance{});
    CHECK(probe.expect_msg<balance>().sequence_nr == 5);
  }
  SECTION("not started") {
    captured_log log;
    auto a = sys.spawn<account>("a", "nothing");
    probe.watch(a);
    probe.expect_terminated(a);
    CHECK(log.contains("persistence is not started on this actor system"));
  }
}

TEST_CASE("events_by_tag gives what is stored and then what is written, resuming after an offset",
          "[unit][persistence]") {
  troupe::actor_system sys("persist");
  const auto store = tp::make_in_memory_plugin();
  start_persistence(sys, store);
  test_probe probe(sys), reader(sys);
  auto a = sys.spawn<account>("a", "q1");
  auto b = sys.spawn<account>("b", "q2");
  for (auto [who, amount] : std::vector<std::pair<troupe::actor_ref, int>>{{a, 100}, {b, 5}, {b, 200}, {a, 300}}) {
    probe.send(who, deposit{amount});
    probe.expect_msg<done>();
  }
  tp::read_journal q(sys);
  const auto now = wait_for<troupe::expected<std::vector<tp::event_envelope>, std::string>>(
      [&](auto cb) { q.current_events_by_tag("large", 0, 100, cb); });
  REQUIRE(now);
  REQUIRE(now->size() == 3);
  CHECK((*now)[0].persistence_id == "account-q1");
  CHECK((*now)[1].persistence_id == "account-q2");
  CHECK(amount_of((*now)[1]) == 200);

  auto stream = q.events_by_tag("large", (*now)[0].offset, reader.ref(), 20ms);
  CHECK(amount_of(reader.expect_msg<tp::event_envelope>()) == 200);
  CHECK(amount_of(reader.expect_msg<tp::event_envelope>()) == 300);
  probe.send(b, deposit{400});
  probe.expect_msg<done>();
  const auto live = reader.expect_msg<tp::event_envelope>();
  CHECK(live.persistence_id == "account-q2");
  CHECK(live.sequence_nr == 3);
  CHECK(amount_of(live) == 400);

  auto by_id = q.events_by_persistence_id("account-q1", 2, reader.ref(), 20ms);
  CHECK(reader.expect_msg<tp::event_envelope>().sequence_nr == 2);
  sys.stop(stream);
  sys.stop(by_id);
}
