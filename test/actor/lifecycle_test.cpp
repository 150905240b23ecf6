// Stopping (ordered, poison_pill, kill), identification, selections, children and names.
#include <catch2/catch.hpp>

#include <algorithm>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <troupe/actor/actor.hpp>
#include <troupe/actor/actor_system.hpp>
#include <troupe/actor/messages.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/quiet_settings.hpp"

using namespace std::chrono_literals;
using troupe::actor_ref;
using troupe::behavior;
using troupe::props;
using troupe::testkit::test_probe;
using troupe::test_support::quiet_manual;
using troupe::test_support::quiet_threads;

namespace {

class order_log {
 public:
  void add(std::string e) {
    std::lock_guard lock(mutex_);
    entries_.push_back(std::move(e));
  }
  std::vector<std::string> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  long index_of(const std::string& e) const {
    std::lock_guard lock(mutex_);
    auto it = std::find(entries_.begin(), entries_.end(), e);
    return it == entries_.end() ? -1 : static_cast<long>(it - entries_.begin());
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> entries_;
};

/// A node of a tree: spawns `fanout` children down to `depth`, logs its post_stop.
class tree_node : public troupe::actor {
 public:
  tree_node(std::string label, int depth, int fanout, std::shared_ptr<order_log> log)
      : label_(std::move(label)), depth_(depth), fanout_(fanout), log_(std::move(log)) {}
  behavior make_behavior() override {
    return {[this](const std::string& s) { return label_ + ":" + s; }};
  }
  void pre_start() override {
    if (depth_ == 0) return;
    for (int i = 0; i < fanout_; ++i) {
      const std::string n = "c" + std::to_string(i);
      spawn<tree_node>(n, label_ + "/" + n, depth_ - 1, fanout_, log_);
    }
  }
  void post_stop() override {
    // Every child is gone by now.
    log_->add(label_ + (children().empty() ? "" : " (children alive!)"));
  }

 private:
  std::string label_;
  int depth_;
  int fanout_;
  std::shared_ptr<order_log> log_;
};

struct get_children {};
struct spawn_named {
  std::string name;
};
struct lookup {
  std::string name;
};
struct stop_child {
  std::string name;
};

/// Spawns children on request and answers questions about them.
class family : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {
        [this](const spawn_named& s) { return spawn(props::of<family>(), s.name); },
        [this](const get_children&) {
          std::vector<std::string> names;
          for (const auto& c : children()) names.push_back(c.name());
          std::sort(names.begin(), names.end());
          return names;
        },
        [this](const lookup& l) { return child(l.name); },
        [this](const stop_child& s) { stop(child(s.name)); },
        [](int n) { return n; },
    };
  }
};

}  // namespace

TEST_CASE("stop is ordered: every child stops before its parent's post_stop", "[unit][lifecycle]") {
  const bool manual = GENERATE(true, false);
  INFO((manual ? "manual dispatcher" : "worker threads"));
  auto log = std::make_shared<order_log>();
  troupe::actor_system sys("order", manual ? quiet_manual() : quiet_threads());
  test_probe probe(sys);
  auto root = sys.spawn<tree_node>("root", std::string("root"), 3, 3, log);  // 1 + 3 + 9 + 27 nodes
  probe.send(root, std::string("ping"));
  CHECK(probe.expect_msg<std::string>() == "root:ping");
  probe.watch(root);
  sys.stop(root);
  probe.expect_terminated(root);

  const auto entries = log->entries();
  REQUIRE(entries.size() == 40);
  for (const auto& e : entries) {
    INFO(e);
    CHECK(e.find("children alive") == std::string::npos);
    // Each node's parent is logged after it.
    const auto slash = e.rfind('/');
    if (slash != std::string::npos) CHECK(log->index_of(e.substr(0, slash)) > log->index_of(e));
  }
  CHECK(entries.back() == "root");
}

TEST_CASE("poison_pill stops after the messages queued before it", "[unit][lifecycle]") {
  troupe::actor_system sys("pill", quiet_manual());
  test_probe probe(sys);
  test_probe dead(sys);
  sys.events().subscribe<troupe::dead_letter>(dead.ref());
  auto echo = sys.spawn(props::of<family>(), "echo");
  sys.run_until_idle();
  probe.watch(echo);
  probe.send(echo, 1);
  probe.send(echo, 2);
  probe.send(echo, troupe::poison_pill{});
  probe.send(echo, 3);

  CHECK(probe.expect_msg<int>(0ms) == 1);
  CHECK(probe.expect_msg<int>(0ms) == 2);
  probe.expect_terminated(echo, 0ms);
  auto d = dead.expect_msg<troupe::dead_letter>(0ms);
  REQUIRE(d.msg->is<int>());
  CHECK(*d.msg->get_if<int>() == 3);
  CHECK(d.recipient == echo);
  CHECK(d.reason == "recipient stopped");
}

TEST_CASE("kill fails the actor with actor_killed_error, which stops it by default", "[unit][lifecycle]") {
  troupe::actor_system sys("kill", quiet_manual());
  test_probe probe(sys);
  test_probe failures(sys);
  sys.events().subscribe<troupe::actor_failed>(failures.ref());
  auto victim = sys.spawn(props::of<family>(), "victim");
  probe.watch(victim);
  probe.send(victim, troupe::kill{});
  probe.send(victim, 1);  // behind the kill: never processed

  probe.expect_terminated(victim, 0ms);
  auto f = failures.expect_msg<troupe::actor_failed>(0ms);
  CHECK(f.actor == victim);
  CHECK_THAT(f.error, Catch::Contains("was killed"));
  probe.expect_no_msg(0ms);
}

TEST_CASE("identify answers with the actor's ref and the correlation id", "[unit][lifecycle]") {
  troupe::actor_system sys("ident", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<family>(), "a");
  probe.send(a, troupe::identify{42});
  auto id = probe.expect_msg<troupe::actor_identity>(0ms);
  CHECK(id.correlation_id == 42);
  CHECK(id.ref == a);
  CHECK(probe.last_sender() == a);

  sys.select("/user/a").tell(troupe::identify{7});  // no sender: nobody to answer
  probe.expect_no_msg(0ms);
}

TEST_CASE("identify sent to a stopped actor answers with an empty ref", "[unit][lifecycle]") {
  // messages.hpp: "it answers actor_identity (also a stopped one: empty ref)".
  troupe::actor_system sys("ident", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<family>(), "a");
  probe.watch(a);
  sys.stop(a);
  probe.expect_terminated(a, 0ms);
  probe.send(a, troupe::identify{9});
  auto id = probe.expect_msg<troupe::actor_identity>(0ms);
  CHECK(id.correlation_id == 9);
  CHECK_FALSE(id.ref);
  // The same from the dead letters ref.
  sys.dead_letters().tell(troupe::identify{10}, probe.ref());
  auto none = probe.expect_msg<troupe::actor_identity>(0ms);
  CHECK(none.correlation_id == 10);
  CHECK_FALSE(none.ref);
}

TEST_CASE("an actor_selection resolves the path each time it sends", "[unit][lifecycle]") {
  troupe::actor_system sys("sel", quiet_manual());
  test_probe probe(sys);
  test_probe dead(sys);
  sys.events().subscribe<troupe::dead_letter>(dead.ref());
  auto parent = sys.spawn(props::of<family>(), "parent");
  probe.send(parent, spawn_named{"kid"});
  auto kid = probe.expect_msg<actor_ref>(0ms);

  auto sel = sys.select("/user/parent/kid");
  CHECK(sel.path() == "/user/parent/kid");
  REQUIRE(sel.resolve().has_value());
  CHECK(*sel.resolve() == kid);
  CHECK(sys.select("troupe://sel/user/parent/kid").resolve() == kid);
  CHECK(sys.select("/user/parent/../parent/./kid").resolve() == kid);
  CHECK_FALSE(sys.select("troupe://other/user/parent/kid").resolve().has_value());

  // Told from outside any actor the message has no sender, so the kid's reply is a dead letter.
  sel.tell(5);
  probe.expect_no_msg(0ms);
  auto r = dead.expect_msg<troupe::dead_letter>(0ms);
  CHECK(*r.msg->get_if<int>() == 5);
  CHECK(r.reason == "sent to an empty actor_ref");

  // Stop the kid: the selection now finds nothing and sends to dead letters...
  probe.send(parent, stop_child{"kid"});
  sys.run_until_idle();
  CHECK(kid.is_terminated());
  CHECK_FALSE(sel.resolve().has_value());
  const auto before = sys.dead_letter_count();
  sel.tell(6);
  CHECK(sys.dead_letter_count() == before + 1);
  auto d = dead.expect_msg<troupe::dead_letter>(0ms);
  CHECK(*d.msg->get_if<int>() == 6);
  CHECK(d.reason == "no actor at the selected path");

  // ...until a new actor lives there.
  probe.send(parent, spawn_named{"kid"});
  auto kid2 = probe.expect_msg<actor_ref>(0ms);
  CHECK(kid2 != kid);
  CHECK(sel.resolve() == kid2);
  sel.tell(troupe::identify{3});
  probe.expect_no_msg(0ms);
}

namespace {
struct go {};
/// Identifies /user/target through a selection and passes the answer on to `report_to`.
class asker : public troupe::actor {
 public:
  explicit asker(actor_ref report_to) : report_to_(std::move(report_to)) {}
  behavior make_behavior() override {
    return {
        [this](const go&) { system().select("/user/target").tell(troupe::identify{77}); },
        [this](const troupe::actor_identity& id) { report_to_.tell(id); },
    };
  }

 private:
  actor_ref report_to_;
};
}  // namespace

TEST_CASE("an actor_selection told from inside an actor keeps that actor as the sender",
          "[unit][lifecycle]") {
  troupe::actor_system sys("sel", quiet_manual());
  test_probe probe(sys);
  auto target = sys.spawn(props::of<family>(), "target");
  auto a = sys.spawn(props::of<asker>(probe.ref()), "asker");
  a.tell(go{});
  auto id = probe.expect_msg<troupe::actor_identity>(0ms);
  CHECK(id.correlation_id == 77);
  CHECK(id.ref == target);
  CHECK(probe.last_sender() == a);
}

TEST_CASE("children() and child(name) see living children only", "[unit][lifecycle]") {
  troupe::actor_system sys("kids", quiet_manual());
  test_probe probe(sys);
  auto parent = sys.spawn(props::of<family>(), "parent");
  for (const char* n : {"b", "a", "c"}) {
    probe.send(parent, spawn_named{n});
    probe.expect_msg<actor_ref>(0ms);
  }
  probe.send(parent, get_children{});
  CHECK(probe.expect_msg<std::vector<std::string>>(0ms) == std::vector<std::string>{"a", "b", "c"});
  probe.send(parent, lookup{"b"});
  auto b = probe.expect_msg<actor_ref>(0ms);
  CHECK(b.path() == "troupe://kids/user/parent/b");
  probe.send(parent, lookup{"nobody"});
  CHECK_FALSE(probe.expect_msg<actor_ref>(0ms));

  probe.send(parent, stop_child{"b"});
  probe.send(parent, get_children{});
  CHECK(probe.expect_msg<std::vector<std::string>>(0ms) == std::vector<std::string>{"a", "c"});
  CHECK(b.is_terminated());
  probe.send(parent, lookup{"b"});
  CHECK_FALSE(probe.expect_msg<actor_ref>(0ms));
  // The name is free again.
  probe.send(parent, spawn_named{"b"});
  auto b2 = probe.expect_msg<actor_ref>(0ms);
  CHECK(b2 != b);
  CHECK(b2.path() == b.path());
}

TEST_CASE("generated names are unique, start with '$' and are reserved", "[unit][lifecycle]") {
  troupe::actor_system sys("names", quiet_manual());
  test_probe probe(sys);
  std::set<std::string> names;
  std::vector<actor_ref> refs;
  for (int i = 0; i < 100; ++i) {
    auto r = sys.spawn(props::of<family>());
    CHECK(r.name().front() == '$');
    CHECK(r.path() == "troupe://names/user/" + r.name());
    names.insert(r.name());
    refs.push_back(r);
  }
  CHECK(names.size() == 100);
  CHECK(refs[0].name() == "$a");
  CHECK(refs[1].name() == "$b");
  CHECK_THROWS_AS(sys.spawn(props::of<family>(), "$mine"), std::invalid_argument);
  CHECK_THROWS_AS(sys.spawn(props::of<family>(), "with space"), std::invalid_argument);
  CHECK_THROWS_AS(sys.spawn(props::of<family>(), "a#b"), std::invalid_argument);
  // Inside an actor too; the generated name does not clash with the user's names.
  auto parent = sys.spawn(props::of<family>(), "parent");
  probe.send(parent, spawn_named{""});
  auto kid = probe.expect_msg<actor_ref>(0ms);
  CHECK(kid.name() == "$a");
  CHECK(kid.path() == "troupe://names/user/parent/$a");
  CHECK(sys.resolve("/user/parent/$a") == kid);
}

TEST_CASE("a ref stays usable after its actor stopped: messages become dead letters",
          "[unit][lifecycle]") {
  troupe::actor_system sys("stale", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<family>(), "a");
  probe.watch(a);
  sys.stop(a);
  probe.expect_terminated(a, 0ms);
  CHECK(a.is_terminated());
  CHECK_FALSE(sys.resolve("/user/a").has_value());
  const auto before = sys.dead_letter_count();
  for (int i = 0; i < 10; ++i) a.tell(i);
  CHECK(sys.dead_letter_count() == before + 10);
  CHECK(a.path() == "troupe://stale/user/a");
}
