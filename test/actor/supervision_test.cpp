// Supervision: every directive under one-for-one and all-for-one, restart budgets with
// manual time, escalation, failures in hooks, hook order, and the failure event.
// All of it runs on the manual dispatcher, so each step is deterministic.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <troupe/actor/actor.hpp>
#include <troupe/actor/actor_system.hpp>
#include <troupe/actor/messages.hpp>
#include <troupe/actor/supervision.hpp>
#include <troupe/actor/system_messages.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/quiet_settings.hpp"

using namespace std::chrono_literals;
using troupe::actor_ref;
using troupe::behavior;
using troupe::directive;
using troupe::props;
using troupe::testkit::test_probe;
using scope = troupe::supervisor_strategy::scope;
using troupe::test_support::quiet_manual;

namespace {

// ---- shared doubles of this file ----

/// Lifecycle events of every actor of a test, in the order they happened.
class journal {
 public:
  int next_instance(const std::string& name) {
    std::lock_guard lock(mutex_);
    return ++instances_[name];
  }
  void add(std::string e) {
    std::lock_guard lock(mutex_);
    entries_.push_back(std::move(e));
  }
  std::vector<std::string> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  /// Entries starting with `prefix`.
  std::vector<std::string> with_prefix(const std::string& prefix) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& e : entries_)
      if (e.rfind(prefix, 0) == 0) out.push_back(e);
    return out;
  }
  int instances(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = instances_.find(name);
    return it == instances_.end() ? 0 : it->second;
  }
  /// Position of `e` in the journal, or -1.
  long index_of(const std::string& e) const {
    std::lock_guard lock(mutex_);
    auto it = std::find(entries_.begin(), entries_.end(), e);
    return it == entries_.end() ? -1 : static_cast<long>(it - entries_.begin());
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> entries_;
  std::map<std::string, int> instances_;
};

struct boom : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct add {
  int n;
};
struct get_state {};
struct fail_now {
  std::string what = "boom";
};
struct throw_non_std {};

/// A counter that journals its lifecycle as "<name>:<hook>:<instance>".
class journaled_worker : public troupe::actor {
 public:
  journaled_worker(std::string name, std::shared_ptr<journal> j)
      : name_(std::move(name)), j_(std::move(j)), id_(j_->next_instance(name_)) {
    note("ctor");
  }
  ~journaled_worker() override { note("dtor"); }
  behavior make_behavior() override {
    return {
        [this](const add& a) { state_ += a.n; },
        [this](const get_state&) { return state_; },
        [](const fail_now& f) -> void { throw boom(f.what); },
        [](const throw_non_std&) -> void { throw 42; },
    };
  }
  void pre_start() override { note("pre_start"); }
  void post_stop() override { note("post_stop"); }
  void pre_restart(const std::exception_ptr& e) override {
    note("pre_restart");
    actor::pre_restart(e);
  }
  void post_restart(const std::exception_ptr& e) override {
    note("post_restart");
    actor::post_restart(e);
  }

 private:
  void note(const char* hook) { j_->add(name_ + ":" + hook + ":" + std::to_string(id_)); }
  std::string name_;
  std::shared_ptr<journal> j_;
  int id_;
  int state_ = 0;
};

struct child_spec {
  std::string name;
  props recipe;
};

props worker_props(const std::string& name, const std::shared_ptr<journal>& j) {
  return props::of<journaled_worker>(name, j);
}

/// Spawns its children in pre_start (so again after a default restart), supervises them
/// with the strategy it was given, and can fail itself.
class parent_actor : public troupe::actor {
 public:
  parent_actor(std::string name, troupe::supervisor_strategy s, std::vector<child_spec> kids,
               std::shared_ptr<journal> j)
      : name_(std::move(name)), strategy_(std::move(s)), kids_(std::move(kids)), j_(std::move(j)),
        id_(j_->next_instance(name_)) {
    note("ctor");
  }
  behavior make_behavior() override {
    return {
        [](const fail_now& f) -> void { throw boom(f.what); },
        [this](const get_state&) { return static_cast<int>(children().size()); },
    };
  }
  void pre_start() override {
    note("pre_start");
    for (const auto& k : kids_) spawn(k.recipe, k.name);
  }
  void post_stop() override { note("post_stop"); }
  troupe::supervisor_strategy supervisor_strategy() const override { return strategy_; }

 private:
  void note(const char* hook) { j_->add(name_ + ":" + hook + ":" + std::to_string(id_)); }
  std::string name_;
  troupe::supervisor_strategy strategy_;
  std::vector<child_spec> kids_;
  std::shared_ptr<journal> j_;
  int id_;
};

/// `d` for `boom` failures (other failures get the default decider), in scope `s`.
troupe::supervisor_strategy on_boom(scope s, directive d, int max_restarts = -1,
                                    std::chrono::nanoseconds within = {}) {
  troupe::decider dec;
  dec.on<boom>(d);
  return s == scope::one_for_one ? troupe::supervisor_strategy::one_for_one(max_restarts, within, std::move(dec))
                                 : troupe::supervisor_strategy::all_for_one(max_restarts, within, std::move(dec));
}

props parent_props(const std::string& name, troupe::supervisor_strategy s, std::vector<child_spec> kids,
                   const std::shared_ptr<journal>& j) {
  return props::of<parent_actor>(name, std::move(s), std::move(kids), j);
}

const char* scope_name(scope s) { return s == scope::one_for_one ? "one_for_one" : "all_for_one"; }

actor_ref must_resolve(troupe::actor_system& sys, const std::string& path) {
  auto r = sys.resolve(path);
  if (!r) throw std::runtime_error("nothing lives at " + path);
  return *r;
}

int ask_state(test_probe& probe, const actor_ref& r) {
  probe.send(r, get_state{});
  return probe.expect_msg<int>(100ms);
}

/// Restores the default log sink when it goes; collects every record's text meanwhile.
class log_capture {
 public:
  log_capture() {
    troupe::logger::set_sink([this](const troupe::log_record& r) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(r.text);
    });
  }
  ~log_capture() { troupe::logger::set_sink({}); }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;
  bool contains(const std::string& s) const {
    std::lock_guard lock(mutex_);
    return std::any_of(lines_.begin(), lines_.end(),
                       [&](const std::string& l) { return l.find(s) != std::string::npos; });
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

}  // namespace

// ---- the directives, under both scopes ----

TEST_CASE("resume keeps the failed child's instance and state", "[unit][supervision]") {
  const scope s = GENERATE(scope::one_for_one, scope::all_for_one);
  INFO(scope_name(s));
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto j = std::make_shared<journal>();
  sys.spawn(parent_props("p", on_boom(s, directive::resume), {{"a", worker_props("a", j)}, {"b", worker_props("b", j)}}, j),
            "p");
  sys.run_until_idle();
  auto a = must_resolve(sys, "/user/p/a");
  auto b = must_resolve(sys, "/user/p/b");
  b.tell(add{7});
  a.tell(add{5});
  a.tell(fail_now{});
  a.tell(add{1});

  CHECK(ask_state(probe, a) == 6);
  CHECK(ask_state(probe, b) == 7);
  CHECK(j->instances("a") == 1);
  CHECK(j->instances("b") == 1);
  CHECK(j->with_prefix("a:pre_restart").empty());
  CHECK_FALSE(a.is_terminated());
}

TEST_CASE("restart makes a fresh instance behind the same ref and keeps the unprocessed mailbox",
          "[unit][supervision]") {
  const scope s = GENERATE(scope::one_for_one, scope::all_for_one);
  INFO(scope_name(s));
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto j = std::make_shared<journal>();
  sys.spawn(parent_props("p", on_boom(s, directive::restart), {{"a", worker_props("a", j)}, {"b", worker_props("b", j)}}, j),
            "p");
  sys.run_until_idle();
  auto a = must_resolve(sys, "/user/p/a");
  auto b = must_resolve(sys, "/user/p/b");
  const auto a_uid = a.uid();
  b.tell(add{7});
  sys.run_until_idle();
  // All four are in the mailbox before the actor runs: the two after the failure survive it.
  a.tell(add{5});
  a.tell(fail_now{});
  a.tell(add{1});
  a.tell(add{2});

  CHECK(ask_state(probe, a) == 3);
  CHECK(must_resolve(sys, "/user/p/a") == a);
  CHECK(must_resolve(sys, "/user/p/a").uid() == a_uid);
  CHECK(j->instances("a") == 2);
  CHECK_FALSE(a.is_terminated());
  if (s == scope::one_for_one) {
    CHECK(ask_state(probe, b) == 7);  // untouched
    CHECK(j->instances("b") == 1);
  } else {
    CHECK(ask_state(probe, b) == 0);  // the sibling was restarted too
    CHECK(j->instances("b") == 2);
    CHECK(j->index_of("b:pre_restart:1") >= 0);
    CHECK(must_resolve(sys, "/user/p/b") == b);
  }
}

TEST_CASE("stop ends the failed child (and under all_for_one its siblings)", "[unit][supervision]") {
  const scope s = GENERATE(scope::one_for_one, scope::all_for_one);
  INFO(scope_name(s));
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto j = std::make_shared<journal>();
  auto p = sys.spawn(
      parent_props("p", on_boom(s, directive::stop), {{"a", worker_props("a", j)}, {"b", worker_props("b", j)}}, j),
      "p");
  sys.run_until_idle();
  auto a = must_resolve(sys, "/user/p/a");
  auto b = must_resolve(sys, "/user/p/b");
  probe.watch(a);
  const auto dead_before = sys.dead_letter_count();
  a.tell(fail_now{});
  a.tell(add{1});  // queued behind the failure: a dead letter once the child stops

  probe.expect_terminated(a, 100ms);
  CHECK(a.is_terminated());
  CHECK(sys.dead_letter_count() == dead_before + 1);
  CHECK(j->index_of("a:post_stop:1") >= 0);
  CHECK(j->instances("a") == 1);
  if (s == scope::one_for_one) {
    CHECK_FALSE(b.is_terminated());
    CHECK(ask_state(probe, b) == 0);
    CHECK(ask_state(probe, p) == 1);  // one child left
  } else {
    sys.run_until_idle();
    CHECK(b.is_terminated());
    CHECK(ask_state(probe, p) == 0);
  }
  CHECK_FALSE(p.is_terminated());
}

TEST_CASE("escalate fails the parent, whose own supervisor decides", "[unit][supervision]") {
  const scope s = GENERATE(scope::one_for_one, scope::all_for_one);
  INFO(scope_name(s));
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  test_probe failures(sys);
  sys.events().subscribe<troupe::actor_failed>(failures.ref());
  auto j = std::make_shared<journal>();
  auto p_props = parent_props("p", on_boom(s, directive::escalate), {{"a", worker_props("a", j)}, {"b", worker_props("b", j)}}, j);
  sys.spawn(parent_props("g", on_boom(scope::one_for_one, directive::restart), {{"p", p_props}}, j), "g");
  sys.run_until_idle();
  auto p = must_resolve(sys, "/user/g/p");
  auto a = must_resolve(sys, "/user/g/p/a");
  auto b = must_resolve(sys, "/user/g/p/b");
  a.tell(fail_now{"escalated"});
  sys.run_until_idle();

  auto f1 = failures.expect_msg<troupe::actor_failed>(0ms);
  CHECK(f1.actor == a);
  CHECK(f1.error == "escalated");
  auto f2 = failures.expect_msg<troupe::actor_failed>(0ms);
  CHECK(f2.actor == p);
  CHECK(f2.error == "escalated");
  failures.expect_no_msg(0ms);

  // g restarted p (same ref), and p's default pre_restart stopped a and b; the fresh p
  // spawned fresh children under the same names.
  CHECK(must_resolve(sys, "/user/g/p") == p);
  CHECK(j->instances("p") == 2);
  CHECK(a.is_terminated());
  CHECK(b.is_terminated());
  auto a2 = must_resolve(sys, "/user/g/p/a");
  CHECK(a2 != a);
  CHECK(ask_state(probe, a2) == 0);
  CHECK(j->instances("g") == 1);
}

TEST_CASE("escalation climbs three levels to the supervisor that decides", "[unit][supervision]") {
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  test_probe failures(sys);
  sys.events().subscribe<troupe::actor_failed>(failures.ref());
  auto j = std::make_shared<journal>();
  const auto esc = on_boom(scope::one_for_one, directive::escalate);
  auto l3 = worker_props("l3", j);
  auto l2 = parent_props("l2", esc, {{"l3", l3}}, j);
  auto l1 = parent_props("l1", esc, {{"l2", l2}}, j);
  auto top = sys.spawn(parent_props("top", on_boom(scope::one_for_one, directive::stop), {{"l1", l1}}, j), "top");
  sys.run_until_idle();
  auto r1 = must_resolve(sys, "/user/top/l1");
  auto r2 = must_resolve(sys, "/user/top/l1/l2");
  auto r3 = must_resolve(sys, "/user/top/l1/l2/l3");
  probe.watch(r1);
  r3.tell(fail_now{"deep"});

  probe.expect_terminated(r1, 100ms);
  for (const auto& who : {r3, r2, r1}) {
    auto f = failures.expect_msg<troupe::actor_failed>(0ms);
    CHECK(f.actor == who);
    CHECK(f.error == "deep");
  }
  failures.expect_no_msg(0ms);
  CHECK(r2.is_terminated());
  CHECK(r3.is_terminated());
  // Ordered stop on the way: the deepest stopped first.
  CHECK(j->index_of("l3:post_stop:1") < j->index_of("l2:post_stop:1"));
  CHECK(j->index_of("l2:post_stop:1") < j->index_of("l1:post_stop:1"));
  CHECK_FALSE(top.is_terminated());
  CHECK(ask_state(probe, top) == 0);
}

TEST_CASE("a child whose failure was escalated continues when the grandparent resumes",
          "[unit][supervision]") {
  // Akka resumes the perpetrator with its failure, so it goes on with its state.
  const scope s = GENERATE(scope::one_for_one, scope::all_for_one);
  INFO(scope_name(s));
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto j = std::make_shared<journal>();
  auto p_props = parent_props("p", on_boom(s, directive::escalate), {{"a", worker_props("a", j)}, {"b", worker_props("b", j)}}, j);
  sys.spawn(parent_props("g", on_boom(scope::one_for_one, directive::resume), {{"p", p_props}}, j), "g");
  sys.run_until_idle();
  auto a = must_resolve(sys, "/user/g/p/a");
  auto b = must_resolve(sys, "/user/g/p/b");
  a.tell(add{5});
  a.tell(fail_now{});
  a.tell(add{1});
  b.tell(add{2});

  CHECK(ask_state(probe, a) == 6);
  CHECK(ask_state(probe, b) == 2);
  CHECK(j->instances("a") == 1);
  CHECK(j->instances("p") == 1);
}

TEST_CASE("a plain resume of an escalating parent keeps the perpetrator for the resume with the cause",
          "[unit][supervision]") {
  // p escalated a's failure to g; before g decides, p is suspended and resumed without a
  // cause (what g sends its children when g itself fails and is resumed). As in Akka, only
  // the resume carrying the failure ends it: a must then be resumed with its cause, so that
  // it is no longer failed and its next failure reaches its supervisor again.
  std::vector<std::pair<actor_ref, std::string>> failed;  // manual mode: one thread
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  sys.events().subscribe<troupe::actor_failed>(
      std::function<void(const troupe::actor_failed&)>([&](const troupe::actor_failed& f) {
        failed.emplace_back(f.actor, f.error);
      }));
  auto j = std::make_shared<journal>();
  auto p_props = parent_props("p", on_boom(scope::one_for_one, directive::escalate), {{"a", worker_props("a", j)}}, j);
  sys.spawn(parent_props("g", on_boom(scope::one_for_one, directive::resume), {{"p", p_props}}, j), "g");
  sys.run_until_idle();
  auto p = must_resolve(sys, "/user/g/p");
  auto a = must_resolve(sys, "/user/g/p/a");
  a.tell(add{5});
  a.tell(fail_now{"first"});
  while (failed.size() < 2) REQUIRE(sys.run_one());  // a failed, p escalated; g not yet run
  CHECK(failed[0].first == a);
  CHECK(failed[1].first == p);
  p.get()->enqueue_system(new troupe::typed_envelope<troupe::sys::suspend>());
  p.get()->enqueue_system(new troupe::typed_envelope<troupe::sys::resume>());
  sys.run_until_idle();  // g resumes p with the cause, which resumes a with its cause
  CHECK(failed.size() == 2);
  CHECK(ask_state(probe, a) == 5);

  a.tell(fail_now{"second"});
  sys.run_until_idle();
  REQUIRE(failed.size() >= 3);
  CHECK(failed[2].first == a);
  CHECK(failed[2].second == "second");
  CHECK(ask_state(probe, a) == 5);
  CHECK(j->instances("a") == 1);
}

namespace {
/// A parent whose restart keeps its children: the runtime then restarts them too.
class keeping_parent : public parent_actor {
 public:
  using parent_actor::parent_actor;
  void pre_restart(const std::exception_ptr&) override {}
  void post_restart(const std::exception_ptr&) override {}
};
}  // namespace

TEST_CASE("a child whose failure was escalated is restarted with a parent that keeps its children",
          "[unit][supervision]") {
  const scope s = GENERATE(scope::one_for_one, scope::all_for_one);
  INFO(scope_name(s));
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto j = std::make_shared<journal>();
  auto p_props = props::of<keeping_parent>(std::string("p"), on_boom(s, directive::escalate),
                                           std::vector<child_spec>{{"a", worker_props("a", j)}, {"b", worker_props("b", j)}}, j);
  sys.spawn(parent_props("g", on_boom(scope::one_for_one, directive::restart), {{"p", p_props}}, j), "g");
  sys.run_until_idle();
  auto a = must_resolve(sys, "/user/g/p/a");
  auto b = must_resolve(sys, "/user/g/p/b");
  a.tell(add{5});
  a.tell(fail_now{});
  a.tell(add{1});
  b.tell(add{2});

  CHECK(ask_state(probe, a) == 1);  // fresh instance; the message after the failure survived
  CHECK(ask_state(probe, b) == 0);  // restarted with its parent, its add{2} processed before
  CHECK(j->instances("p") == 2);
  CHECK(j->instances("a") == 2);
  CHECK(j->instances("b") == 2);
  CHECK(must_resolve(sys, "/user/g/p/a") == a);
}

// ---- restart budget ----

TEST_CASE("restart_budget allows N restarts within the window, then refuses until it closes",
          "[unit][supervision]") {
  using tp = troupe::restart_budget::time_point;
  const tp t0 = tp{} + 1h;
  troupe::restart_budget b(2, 10s);
  CHECK(b.request_restart(t0));
  CHECK(b.request_restart(t0 + 1s));
  CHECK_FALSE(b.request_restart(t0 + 2s));
  CHECK(b.request_restart(t0 + 10s + 1ms));  // a new window
  CHECK(b.count() == 1);
  CHECK(b.request_restart(t0 + 11s));
  CHECK_FALSE(b.request_restart(t0 + 12s));

  troupe::restart_budget unlimited;
  for (int i = 0; i < 1000; ++i) REQUIRE(unlimited.request_restart(t0));
  troupe::restart_budget none(0, 1s);
  CHECK_FALSE(none.request_restart(t0));
  troupe::restart_budget forever(1, 0s);  // the window never closes
  CHECK(forever.request_restart(t0));
  CHECK_FALSE(forever.request_restart(t0 + 1000h));
}

TEST_CASE("a child failing more than N times within T is stopped", "[unit][supervision]") {
  const scope s = GENERATE(scope::one_for_one, scope::all_for_one);
  INFO(scope_name(s));
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto j = std::make_shared<journal>();
  sys.spawn(parent_props("p", on_boom(s, directive::restart, 2, 10s), {{"a", worker_props("a", j)}}, j), "p");
  sys.run_until_idle();
  auto a = must_resolve(sys, "/user/p/a");
  probe.watch(a);

  a.tell(fail_now{});
  sys.advance_time(1s);
  a.tell(fail_now{});
  sys.advance_time(1s);
  CHECK(j->instances("a") == 3);
  CHECK_FALSE(a.is_terminated());
  a.tell(fail_now{});  // third within 10 s: the budget is spent
  probe.expect_terminated(a, 0ms);
  CHECK(j->instances("a") == 3);
}

TEST_CASE("the restart budget window reopens after T (manual time)", "[unit][supervision]") {
  const scope s = GENERATE(scope::one_for_one, scope::all_for_one);
  INFO(scope_name(s));
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto j = std::make_shared<journal>();
  sys.spawn(parent_props("p", on_boom(s, directive::restart, 2, 10s), {{"a", worker_props("a", j)}}, j), "p");
  sys.run_until_idle();
  auto a = must_resolve(sys, "/user/p/a");
  probe.watch(a);

  a.tell(fail_now{});
  a.tell(fail_now{});
  sys.run_until_idle();
  CHECK(j->instances("a") == 3);
  sys.advance_time(10s + 1ms);  // the window of the first failure has closed
  a.tell(fail_now{});
  a.tell(fail_now{});
  sys.run_until_idle();
  CHECK(j->instances("a") == 5);
  CHECK_FALSE(a.is_terminated());
  CHECK(ask_state(probe, a) == 0);
  a.tell(fail_now{});  // third in the new window
  probe.expect_terminated(a, 0ms);
}

TEST_CASE("each child has its own restart budget", "[unit][supervision]") {
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto j = std::make_shared<journal>();
  sys.spawn(parent_props("p", on_boom(scope::one_for_one, directive::restart, 1, 10s),
                         {{"a", worker_props("a", j)}, {"b", worker_props("b", j)}}, j),
            "p");
  sys.run_until_idle();
  auto a = must_resolve(sys, "/user/p/a");
  auto b = must_resolve(sys, "/user/p/b");
  a.tell(fail_now{});
  b.tell(fail_now{});
  sys.run_until_idle();
  CHECK_FALSE(a.is_terminated());
  CHECK_FALSE(b.is_terminated());
  CHECK(j->instances("a") == 2);
  CHECK(j->instances("b") == 2);
}

// ---- failures in hooks ----

namespace {

struct hook_failures {
  bool in_ctor = false;
  bool in_pre_start = false;
  bool in_post_stop = false;
};

class fragile : public troupe::actor {
 public:
  explicit fragile(hook_failures f) : f_(f) {
    if (f_.in_ctor) throw boom("ctor failed");
  }
  behavior make_behavior() override {
    return {[](const get_state&) { return 1; }};
  }
  void pre_start() override {
    if (f_.in_pre_start) throw boom("pre_start failed");
  }
  void post_stop() override {
    if (f_.in_post_stop) throw boom("post_stop failed");
  }

 private:
  hook_failures f_;
};

/// Supervisor whose decider records what it was asked about.
class recording_parent : public troupe::actor {
 public:
  recording_parent(props child, std::shared_ptr<std::vector<std::string>> seen)
      : child_(std::move(child)), seen_(std::move(seen)) {}
  behavior make_behavior() override {
    return {[this](const get_state&) { return static_cast<int>(children().size()); }};
  }
  void pre_start() override { spawn(child_, "child"); }
  troupe::supervisor_strategy supervisor_strategy() const override {
    auto seen = seen_;
    auto standard = troupe::decider();
    return troupe::supervisor_strategy::one_for_one(
        -1, {}, troupe::decider::from([seen, standard](const std::exception_ptr& e) {
          try {
            std::rethrow_exception(e);
          } catch (const troupe::actor_initialization_error& init) {
            seen->push_back(std::string("init:") + init.what());
            try {
              std::rethrow_if_nested(init);
            } catch (const boom& cause) {
              seen->push_back(std::string("cause:") + cause.what());
            } catch (...) {
            }
          } catch (const std::exception& other) {
            seen->push_back(std::string("other:") + other.what());
          }
          return standard(e);
        }));
  }

 private:
  props child_;
  std::shared_ptr<std::vector<std::string>> seen_;
};

}  // namespace

TEST_CASE("an exception in pre_start or the constructor is an initialization failure: the default stops",
          "[unit][supervision]") {
  const bool in_ctor = GENERATE(false, true);
  INFO((in_ctor ? "constructor" : "pre_start"));
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  test_probe failures(sys);
  sys.events().subscribe<troupe::actor_failed>(failures.ref());
  auto seen = std::make_shared<std::vector<std::string>>();
  hook_failures hf;
  hf.in_ctor = in_ctor;
  hf.in_pre_start = !in_ctor;
  auto p = sys.spawn(props::of<recording_parent>(props::of<fragile>(hf), seen), "p");
  sys.run_until_idle();

  auto f = failures.expect_msg<troupe::actor_failed>(0ms);
  CHECK(f.actor.path() == "troupe://sup/user/p/child");
  CHECK(f.message_type.empty());
  CHECK_THAT(f.error, Catch::Contains(in_ctor ? "ctor failed" : "pre_start failed"));
  CHECK(f.actor.is_terminated());
  REQUIRE(seen->size() == 2);
  CHECK_THAT((*seen)[0], Catch::StartsWith("init:troupe://sup/user/p/child"));
  CHECK((*seen)[1] == (in_ctor ? "cause:ctor failed" : "cause:pre_start failed"));
  CHECK(ask_state(probe, p) == 0);
  CHECK_FALSE(p.is_terminated());
}

TEST_CASE("an exception in post_stop is logged and the stop completes", "[unit][supervision]") {
  log_capture logs;
  auto settings = troupe::testkit::manual_settings();
  settings.log_min_level = troupe::log_level::error;
  troupe::actor_system sys("sup", settings);
  test_probe probe(sys);
  test_probe failures(sys);
  sys.events().subscribe<troupe::actor_failed>(failures.ref());
  hook_failures hf;
  hf.in_post_stop = true;
  auto a = sys.spawn(props::of<fragile>(hf), "a");
  auto b = sys.spawn(props::of<fragile>(hook_failures{}), "b");
  probe.watch(a);
  sys.stop(a);

  probe.expect_terminated(a, 0ms);
  CHECK(logs.contains("post_stop threw: post_stop failed"));
  failures.expect_no_msg(0ms);
  CHECK(ask_state(probe, b) == 1);
}

TEST_CASE("an exception in post_stop during a restart does not stop the restart", "[unit][supervision]") {
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto j = std::make_shared<journal>();
  struct throws_in_post_stop : journaled_worker {
    using journaled_worker::journaled_worker;
    void post_stop() override {
      journaled_worker::post_stop();
      throw boom("post_stop failed");
    }
  };
  auto a = sys.spawn(props::of<throws_in_post_stop>(std::string("a"), j), "a");
  a.tell(add{3});
  a.tell(fail_now{});
  a.tell(add{4});
  CHECK(ask_state(probe, a) == 4);
  CHECK(j->instances("a") == 2);
  CHECK(j->index_of("a:post_stop:1") >= 0);
}

TEST_CASE("lifecycle hooks run in order: pre_start, pre_restart, post_restart, post_stop",
          "[unit][supervision]") {
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto j = std::make_shared<journal>();
  auto a = sys.spawn(worker_props("a", j), "a");
  sys.run_until_idle();
  a.tell(fail_now{});
  sys.run_until_idle();
  probe.watch(a);
  sys.stop(a);
  probe.expect_terminated(a, 0ms);

  // The default pre_restart calls post_stop; the default post_restart calls pre_start.
  const std::vector<std::string> expected{
      "a:ctor:1",       "a:pre_start:1",    "a:pre_restart:1", "a:post_stop:1", "a:dtor:1",
      "a:ctor:2",       "a:post_restart:2", "a:pre_start:2",   "a:post_stop:2", "a:dtor:2",
  };
  CHECK(j->entries() == expected);
}

TEST_CASE("a restart stops the children by default and the fresh instance makes new ones",
          "[unit][supervision]") {
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto j = std::make_shared<journal>();
  auto p = sys.spawn(parent_props("p", troupe::supervisor_strategy::default_strategy(),
                                  {{"c", worker_props("c", j)}}, j),
                     "p");
  sys.run_until_idle();
  auto c1 = must_resolve(sys, "/user/p/c");
  c1.tell(add{9});
  probe.watch(c1);
  p.tell(fail_now{});

  probe.expect_terminated(c1, 100ms);
  sys.run_until_idle();
  auto c2 = must_resolve(sys, "/user/p/c");
  CHECK(c2 != c1);
  CHECK(ask_state(probe, c2) == 0);
  CHECK(j->instances("p") == 2);
  // The old child stopped before the fresh parent started.
  CHECK(j->index_of("c:post_stop:1") < j->index_of("p:ctor:2"));
}

TEST_CASE("the failing message is dropped and an actor_failed event is published", "[unit][supervision]") {
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  test_probe failures(sys);
  sys.events().subscribe<troupe::actor_failed>(failures.ref());
  auto j = std::make_shared<journal>();
  auto a = sys.spawn(worker_props("a", j), "a");
  sys.run_until_idle();
  const auto dead_before = sys.dead_letter_count();
  a.tell(add{1});
  a.tell(fail_now{"on purpose"});
  a.tell(add{2});

  CHECK(ask_state(probe, a) == 2);  // restarted (default), and the failure was not redelivered
  auto f = failures.expect_msg<troupe::actor_failed>(0ms);
  CHECK(f.actor == a);
  CHECK(f.error == "on purpose");
  CHECK_THAT(f.message_type, Catch::Contains("fail_now"));
  failures.expect_no_msg(0ms);
  CHECK(j->instances("a") == 2);
  CHECK(sys.dead_letter_count() == dead_before);  // dropped, not a dead letter
}

TEST_CASE("user exceptions of any type never end the process", "[unit][supervision]") {
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  test_probe failures(sys);
  sys.events().subscribe<troupe::actor_failed>(failures.ref());
  auto j = std::make_shared<journal>();
  auto a = sys.spawn(worker_props("a", j), "a");
  a.tell(throw_non_std{});
  a.tell(add{2});
  CHECK(ask_state(probe, a) == 2);
  auto f = failures.expect_msg<troupe::actor_failed>(0ms);
  CHECK(f.error == "unknown exception");
  CHECK(j->instances("a") == 2);
}

TEST_CASE("a throwing actor_failed subscriber does not end the process", "[unit][supervision]") {
  // Subscriber functions run on the publishing thread, here inside the runtime's failure path.
  troupe::actor_system sys("sup", quiet_manual());
  test_probe probe(sys);
  auto token = sys.events().subscribe<troupe::actor_failed>(
      std::function<void(const troupe::actor_failed&)>([](const troupe::actor_failed&) { throw boom("subscriber"); }));
  auto j = std::make_shared<journal>();
  auto a = sys.spawn(worker_props("a", j), "a");
  a.tell(fail_now{});
  a.tell(add{2});
  CHECK(ask_state(probe, a) == 2);
  CHECK(j->instances("a") == 2);
  sys.events().unsubscribe(token);
}
