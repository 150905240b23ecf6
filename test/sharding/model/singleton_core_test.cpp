// singleton_core: the singleton manager's decisions, driven with hand-made views and a fake
// clock (the scripted cases), then several cores at once through random membership
// changes, crashes, partitions and message delays (the simulation), checking at every step
// that at most one instance of the singleton lives.
#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <troupe/cluster/model/oldest.hpp>
#include <troupe/sharding/model/singleton_core.hpp>

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
namespace cm = troupe::cluster::model;
namespace model = troupe::sharding::model;
using cm::gossip;
using cm::member;
using cm::member_status;
using cm::reachability;
using cm::unique_address;
using model::singleton_core;
using model::singleton_core_settings;
using model::singleton_message;
using model::singleton_output;
using model::singleton_state;

namespace {

using enum member_status;

unique_address node(int i, std::uint64_t uid = 1) {
  return {{"sys", "10.0.0." + std::to_string(i), 2552}, 100 * static_cast<std::uint64_t>(i) + uid};
}
const unique_address a = node(1), b = node(2), c = node(3), d = node(4), e = node(5);

member at(const unique_address& n, member_status s, std::int32_t up_number, std::set<std::string> roles = {}) {
  return member::restore(n, s, std::move(roles), {}, up_number);
}

// a, b, c up with ages 1, 2, 3 (a is the oldest), with the given statuses.
gossip three(member_status sa = up, member_status sb = up, member_status sc = up) {
  return gossip{{at(a, sa, 1), at(b, sb, 2), at(c, sc, 3)}};
}

std::string describe(const singleton_message& m) {
  std::ostringstream s;
  std::visit(
      [&](const auto& x) {
        s << x.manifest << " " << cm::to_string(x.from) << " -> " << cm::to_string(x.to);
      },
      m);
  return s.str();
}

template <class T>
std::vector<T> sent(const std::vector<singleton_output>& out) {
  std::vector<T> r;
  for (const auto& o : out)
    if (const auto* s = std::get_if<model::send_to_peer>(&o))
      if (const auto* t = std::get_if<T>(&s->message)) r.push_back(*t);
  return r;
}
bool has_start(const std::vector<singleton_output>& out) {
  return std::any_of(out.begin(), out.end(), [](const auto& o) { return std::holds_alternative<model::start_singleton>(o); });
}
bool has_stop(const std::vector<singleton_output>& out) {
  return std::any_of(out.begin(), out.end(), [](const auto& o) { return std::holds_alternative<model::stop_singleton>(o); });
}

singleton_core_settings fast() {
  singleton_core_settings s;
  s.hand_over_retry_interval = 1s;
  s.max_hand_over_retries = 5;
  return s;
}

/// Several cores with their instances, a fake clock and a network that holds messages
/// until `deliver` (by address, as the transport does: a restarted node gets the messages
/// for its previous incarnation). Every start is checked: never two live instances.
struct harness {
  enum class inst { none, running, stopping };
  struct entry {
    std::unique_ptr<singleton_core> core;
    inst instance = inst::none;
  };
  std::map<cm::address, entry> nodes;
  std::deque<singleton_message> in_flight;
  nanoseconds now{0};
  std::vector<std::string> trace;

  explicit harness(std::vector<unique_address> ids, singleton_core_settings s = fast()) {
    for (const auto& id : ids) add(id, s);
  }
  void add(const unique_address& id, singleton_core_settings s = fast()) {
    nodes[id.address] = entry{std::make_unique<singleton_core>(std::move(s), id), inst::none};
  }
  entry& at(const unique_address& n) { return nodes.at(n.address); }
  singleton_core& core(const unique_address& n) { return *at(n).core; }
  inst instance(const unique_address& n) { return at(n).instance; }
  bool running(const unique_address& n) { return instance(n) == inst::running; }

  int live_instances() const {
    int k = 0;
    for (const auto& [addr, x] : nodes) k += x.instance != inst::none;
    return k;
  }

  /// Carries out `n`'s outbox; returns it.
  std::vector<singleton_output> drain(const unique_address& n) {
    auto& x = at(n);
    auto out = x.core->take_outbox();
    for (const auto& o : out) {
      if (std::holds_alternative<model::start_singleton>(o)) {
        trace.push_back(cm::to_string(n) + " starts");
        REQUIRE(x.instance == inst::none);
        x.instance = inst::running;
        INFO(trace_text());
        REQUIRE(live_instances() <= 1);
      } else if (std::holds_alternative<model::stop_singleton>(o)) {
        trace.push_back(cm::to_string(n) + " stops");
        REQUIRE(x.instance == inst::running);
        x.instance = inst::stopping;
      } else {
        const auto& m = std::get<model::send_to_peer>(o).message;
        trace.push_back(describe(m));
        in_flight.push_back(m);
      }
    }
    return out;
  }
  std::vector<singleton_output> view(const unique_address& n, const gossip& g) {
    core(n).on_view(g, now);
    return drain(n);
  }
  void view_all(const gossip& g) {
    for (auto& [addr, x] : nodes) view(x.core->self(), g);
  }
  std::vector<singleton_output> terminated(const unique_address& n) {
    trace.push_back(cm::to_string(n) + " terminated");
    REQUIRE(at(n).instance == inst::stopping);
    at(n).instance = inst::none;
    core(n).on_singleton_terminated(now);
    return drain(n);
  }
  std::vector<singleton_output> receive(const unique_address& n, const singleton_message& m) {
    core(n).receive(m, now);
    return drain(n);
  }
  /// Delivers every message in flight (and those they cause) to the node at its address.
  void deliver() {
    while (!in_flight.empty()) {
      const auto m = in_flight.front();
      in_flight.pop_front();
      const auto it = nodes.find(model::recipient_of(m).address);
      if (it != nodes.end()) receive(it->second.core->self(), m);
    }
  }
  /// Drops every message in flight.
  void drop() { in_flight.clear(); }
  void tick(nanoseconds dt) {
    now += dt;
    for (auto& [addr, x] : nodes) {
      x.core->on_tick(now);
      drain(x.core->self());
    }
  }
  std::string trace_text() const {
    std::string s;
    for (const auto& t : trace) s += t + "\n";
    return s;
  }
};

}  // namespace

TEST_CASE("singleton core: the oldest starts at once, the others wait", "[unit][singleton]") {
  harness h({a, b, c});
  for (const auto& n : {a, b, c}) CHECK(h.core(n).state() == singleton_state::start);
  h.view_all(three());
  CHECK(h.running(a));
  CHECK(h.core(a).state() == singleton_state::oldest);
  CHECK(h.core(b).state() == singleton_state::younger);
  CHECK(h.core(c).state() == singleton_state::younger);
  CHECK(h.in_flight.empty());
  // The same view again, and ticks, change nothing.
  h.view_all(three());
  h.tick(10s);
  CHECK(h.core(a).stats().starts == 1);
  CHECK(h.live_instances() == 1);
}

TEST_CASE("singleton core: joining members and a manager started before its node joined", "[unit][singleton]") {
  harness h({a});
  // Not a member yet: no retirement, no start.
  h.view(a, gossip{{at(b, up, 1)}});
  CHECK(h.core(a).state() == singleton_state::younger);
  CHECK_FALSE(h.core(a).retired());
  // Joining and weakly up members hold no place.
  h.view(a, gossip{{at(a, joining, member::no_up_number)}});
  CHECK_FALSE(h.running(a));
  h.view(a, gossip{{at(a, weakly_up, member::no_up_number)}});
  CHECK_FALSE(h.running(a));
  h.view(a, gossip{{at(a, up, 1)}});
  CHECK(h.running(a));
}

TEST_CASE("singleton core: graceful leave, the new oldest asks first", "[unit][singleton]") {
  harness h({a, b, c});
  h.view_all(three());
  REQUIRE(h.running(a));
  // a leaving: still the oldest everywhere.
  h.view_all(three(leaving));
  CHECK(h.running(a));
  // b sees a exiting before a does: it asks, and does not start.
  auto out = h.view(b, three(exiting));
  CHECK_FALSE(has_start(out));
  REQUIRE(sent<model::hand_over_to_me>(out) == std::vector{model::hand_over_to_me{b, a}});
  CHECK(h.core(b).state() == singleton_state::becoming_oldest);
  CHECK(h.core(b).waiting_for(h.now) == std::vector{a});
  // c sees a exiting too, but b is older: c stays younger.
  CHECK(h.view(c, three(exiting)).empty());
  // a gets the request: it retires, stops its instance and says it is in progress.
  h.deliver();
  CHECK(h.instance(a) == harness::inst::stopping);
  CHECK(h.core(a).retired());
  CHECK(h.core(a).state() == singleton_state::handing_over);
  CHECK(h.core(b).state() == singleton_state::becoming_oldest);
  // b retries every interval while a's instance stops.
  h.tick(500ms);
  CHECK(h.in_flight.empty());
  h.tick(500ms);
  REQUIRE(h.in_flight.size() == 1);
  h.deliver();  // a answers "in progress" again
  CHECK_FALSE(h.running(b));
  // a's instance terminates: hand_over_done to b, which starts only now.
  out = h.terminated(a);
  CHECK(sent<model::hand_over_done>(out) == std::vector{model::hand_over_done{a, b}});
  CHECK_FALSE(h.running(b));
  h.deliver();
  CHECK(h.running(b));
  CHECK(h.core(a).state() == singleton_state::end);
  CHECK(h.core(a).settled());
  // a, retired, never starts again, whatever it sees.
  h.view(a, three(up));
  CHECK_FALSE(h.running(a));
  CHECK(h.live_instances() == 1);
}

TEST_CASE("singleton core: graceful leave, the old oldest sees it first and tells the new one", "[unit][singleton]") {
  harness h({a, b, c});
  h.view_all(three());
  // a sees itself exiting first: it stops and tells b to take over.
  auto out = h.view(a, three(exiting));
  CHECK(has_stop(out));
  CHECK(sent<model::take_over_from_me>(out) == std::vector{model::take_over_from_me{a, b}});
  // b does not see a exiting yet: take_over_from_me alone makes it do nothing.
  h.deliver();
  CHECK_FALSE(h.running(b));
  CHECK(h.in_flight.empty());
  // a's instance terminates: a tells b it is done, unasked.
  out = h.terminated(a);
  CHECK(sent<model::hand_over_done>(out) == std::vector{model::hand_over_done{a, b}});
  h.deliver();
  CHECK_FALSE(h.running(b));  // b still sees a as the oldest
  // Once b sees a exiting it starts at once: a has let go already.
  out = h.view(b, three(exiting));
  CHECK(has_start(out));
  CHECK(sent<model::hand_over_to_me>(out).empty());
}

TEST_CASE("singleton core: take_over_from_me makes the new oldest ask at once", "[unit][singleton]") {
  harness h({a, b});
  h.view_all(gossip{{at(a, up, 1), at(b, up, 2)}});
  const gossip exiting_a{{at(a, exiting, 1), at(b, up, 2)}};
  h.view(b, exiting_a);  // b asks
  REQUIRE(h.in_flight.size() == 1);
  h.drop();              // ... but the request is lost
  h.tick(300ms);
  CHECK(h.in_flight.empty());
  h.view(a, exiting_a);  // a stops and tells b to ask
  h.deliver();           // b asks again without waiting for its retry
  CHECK(h.core(b).stats().hand_over_requests == 2);
  h.deliver();           // a: in progress
  h.terminated(a);
  h.deliver();
  CHECK(h.running(b));
}

TEST_CASE("singleton core: a crashed oldest is replaced only once removed, then after the margin",
          "[unit][singleton]") {
  auto s = fast();
  s.removal_margin = 3s;
  harness h({a, b, c}, s);
  h.view_all(three());
  REQUIRE(h.running(a));
  h.at(a).instance = harness::inst::none;  // a crashes with its instance
  // Unreachable, then down: a keeps its place.
  const gossip unreachable_a = three().with_reachability(reachability{}.unreachable(b, a).unreachable(c, a));
  h.view(b, unreachable_a);
  h.view(b, unreachable_a.mark_as_down(a));
  h.tick(30s);
  CHECK_FALSE(h.running(b));
  CHECK(h.core(b).state() == singleton_state::younger);
  // Removed: b starts removal-margin later, not before, and asks nobody (a is quarantined).
  const gossip removed_a = unreachable_a.mark_as_down(a).remove(a, 0s);
  CHECK(h.view(b, removed_a).empty());
  CHECK(h.core(b).state() == singleton_state::becoming_oldest);
  h.tick(2999ms);
  CHECK_FALSE(h.running(b));
  h.tick(1ms);
  CHECK(h.running(b));
  CHECK(h.in_flight.empty());
  // c saw the same, but b is older.
  h.view(c, removed_a);
  h.tick(10s);
  CHECK_FALSE(h.running(c));
}

TEST_CASE("singleton core: with no margin the next oldest starts as soon as it sees the removal",
          "[unit][singleton]") {
  harness h({a, b});
  h.view_all(gossip{{at(a, up, 1), at(b, up, 2)}});
  h.at(a).instance = harness::inst::none;
  const gossip down_a{{at(a, down, 1), at(b, up, 2)}};
  h.view(b, down_a);
  CHECK_FALSE(h.running(b));
  CHECK(has_start(h.view(b, down_a.remove(a, 0s))));
}

TEST_CASE("singleton core: a member downed by hand that hands over first needs no margin", "[unit][singleton]") {
  auto s = fast();
  s.removal_margin = 20s;
  harness h({a, b}, s);
  h.view_all(gossip{{at(a, up, 1), at(b, up, 2)}});
  const gossip down_a{{at(a, down, 1), at(b, up, 2)}};
  // a, alive, sees itself down: it retires, stops, and tells b once its instance is gone.
  h.view(a, down_a);
  h.terminated(a);
  h.deliver();
  h.view(b, down_a);
  CHECK_FALSE(h.running(b));  // a still holds the place
  CHECK(has_start(h.view(b, down_a.remove(a, 0s))));  // a had let go: no margin
}

TEST_CASE("singleton core: fencing stops the instance on the losing side and starts it when healed",
          "[unit][singleton]") {
  auto s = fast();
  s.downing = cm::sbr_settings{};  // keep-majority
  harness h({a, b, c, d, e}, s);
  const gossip all{{at(a, up, 1), at(b, up, 2), at(c, up, 3), at(d, up, 4), at(e, up, 5)}};
  h.view_all(all);
  REQUIRE(h.running(a));
  // {a, b} | {c, d, e}: a finds c, d, e unreachable; a minority: fenced at once.
  reachability minority;
  for (const auto& o : {a, b})
    for (const auto& t : {c, d, e}) minority = minority.unreachable(o, t);
  reachability majority;
  for (const auto& o : {c, d, e})
    for (const auto& t : {a, b}) majority = majority.unreachable(o, t);
  auto out = h.view(a, all.with_reachability(minority));
  CHECK(has_stop(out));
  CHECK(h.core(a).fenced());
  CHECK(h.core(a).state() == singleton_state::stopping);
  CHECK_FALSE(h.core(a).retired());
  h.terminated(a);
  CHECK(h.core(a).state() == singleton_state::fenced);
  // The majority waits: a is unreachable, then down, and holds the place until removed.
  h.view(c, all.with_reachability(majority));
  CHECK_FALSE(h.core(c).fenced());
  CHECK_FALSE(h.running(c));
  SECTION("healed before anyone is downed: a starts again") {
    CHECK(has_start(h.view(a, all)));
    CHECK_FALSE(h.core(a).fenced());
  }
  SECTION("the majority downs and removes a and b: c starts right after") {
    const gossip downed = all.with_reachability(majority).mark_as_down(a).mark_as_down(b);
    h.view(c, downed);
    CHECK_FALSE(h.running(c));
    CHECK(has_start(h.view(c, downed.remove(a, 0s).remove(b, 0s))));
    // a, still partitioned and fenced, never starts.
    h.tick(60s);
    CHECK_FALSE(h.running(a));
  }
}

TEST_CASE("singleton core: no downing provider, no fencing", "[unit][singleton]") {
  harness h({a, b, c});  // settings without `downing`
  h.view_all(three());
  const gossip cut = three().with_reachability(reachability{}.unreachable(a, b).unreachable(a, c));
  CHECK(h.view(a, cut).empty());
  CHECK(h.running(a));
  CHECK_FALSE(h.core(a).fenced());
}

TEST_CASE("singleton core: a previous oldest that left and went quiet is given up on after the retries",
          "[unit][singleton]") {
  harness h({a, b});  // 5 retries of 1 s
  h.view_all(gossip{{at(a, up, 1), at(b, up, 2)}});
  h.at(a).instance = harness::inst::none;  // a's process ends without a word (killed while exiting)
  h.nodes.erase(a.address);
  const gossip exiting_a{{at(a, exiting, 1), at(b, up, 2)}};
  h.view(b, exiting_a);
  // While a is still a member, b asks every second and never gives up.
  for (int i = 0; i < 30; ++i) h.tick(1s);
  CHECK_FALSE(h.running(b));
  CHECK(h.core(b).stats().hand_over_requests == 31);
  h.drop();
  // Removed: 5 more intervals, then b starts.
  h.view(b, exiting_a.remove(a, 0s));
  h.tick(4s);
  CHECK_FALSE(h.running(b));
  SECTION("silence") {
    h.tick(1s);
    CHECK(h.running(b));
    CHECK(h.core(b).stats().given_up == 1);
  }
  SECTION("hand_over_in_progress from the removed node restarts the patience") {
    h.receive(b, model::hand_over_in_progress{a, b});
    h.tick(1s);
    CHECK_FALSE(h.running(b));
    h.tick(4s);
    CHECK(h.running(b));
  }
  SECTION("a late hand_over_done lets b start at once") {
    CHECK(has_start(h.receive(b, model::hand_over_done{a, b})));
  }
}

TEST_CASE("singleton core: duplicate, late and misaddressed messages change nothing", "[unit][singleton]") {
  harness h({a, b, c});
  h.view_all(three());
  const auto a2 = node(1, 7);  // a restarted incarnation at a's address
  SECTION("a hand_over_to_me for another incarnation is dropped") {
    h.receive(a, model::hand_over_to_me{b, a2});
    CHECK(h.running(a));
    CHECK_FALSE(h.core(a).retired());
    CHECK(h.core(a).stats().rejected == 1);
  }
  SECTION("a message claiming to come from the node itself is dropped") {
    h.receive(a, model::hand_over_to_me{a, a});
    CHECK(h.running(a));
    CHECK(h.core(a).stats().rejected == 1);
  }
  SECTION("hand_over_done from nobody it waits for, or twice, does not start a younger node") {
    h.receive(b, model::hand_over_done{a, b});
    h.receive(b, model::hand_over_done{a, b});
    h.receive(b, model::hand_over_done{c, b});
    CHECK_FALSE(h.running(b));  // a is still the oldest in b's view
    CHECK(h.live_instances() == 1);
  }
  SECTION("take_over_from_me to a node that is not the oldest is ignored") {
    CHECK(h.receive(c, model::take_over_from_me{a, c}).empty());
    CHECK(h.receive(b, model::take_over_from_me{a, b}).empty());
  }
  SECTION("hand_over_in_progress is only information") {
    CHECK(h.receive(b, model::hand_over_in_progress{a, b}).empty());
  }
  SECTION("a repeated hand_over_to_me is answered each time") {
    h.view(b, three(exiting));
    h.deliver();  // a retires and stops; in progress
    CHECK(sent<model::hand_over_in_progress>(h.receive(a, model::hand_over_to_me{b, a})).size() == 1);
    h.terminated(a);
    CHECK(sent<model::hand_over_done>(h.receive(a, model::hand_over_to_me{b, a})).size() == 1);
    CHECK(sent<model::hand_over_done>(h.receive(a, model::hand_over_to_me{c, a})).size() == 1);
  }
}

TEST_CASE("singleton core: a node asked to hand over retires even before its own view says so",
          "[unit][singleton]") {
  harness h({a, b});
  // a has no view yet, or one where it is up and the oldest.
  auto out = h.receive(a, model::hand_over_to_me{b, a});
  CHECK(sent<model::hand_over_done>(out) == std::vector{model::hand_over_done{a, b}});
  CHECK(h.core(a).state() == singleton_state::end);
  CHECK(h.view(a, gossip{{at(a, up, 1), at(b, up, 2)}}).empty());
  CHECK_FALSE(h.running(a));
}

TEST_CASE("singleton core: leaving, down and removed nodes retire and hand over", "[unit][singleton]") {
  for (const auto s : {exiting, down}) {
    INFO(to_string(s));
    harness h({a, b, c});
    h.view_all(three());
    auto out = h.view(a, three(s));
    CHECK(has_stop(out));
    CHECK(sent<model::take_over_from_me>(out) == std::vector{model::take_over_from_me{a, b}});
    CHECK(h.core(a).retired());
    out = h.terminated(a);
    CHECK(sent<model::hand_over_done>(out) == std::vector{model::hand_over_done{a, b}});
    CHECK(h.core(a).settled());
  }
  harness h({a, b});
  h.view_all(gossip{{at(a, up, 1), at(b, up, 2)}});
  CHECK(has_stop(h.view(a, gossip{{at(b, up, 2)}})));  // a removed
  CHECK(h.core(a).retired());
  // retire(): the daemon stopped, or the manager stops.
  harness r({a, b});
  r.view_all(gossip{{at(a, up, 1), at(b, up, 2)}});
  r.core(a).retire(r.now);
  CHECK(has_stop(r.drain(a)));
}

TEST_CASE("singleton core: a younger node leaving needs no hand-over and settles at once", "[unit][singleton]") {
  harness h({a, b, c});
  h.view_all(three());
  CHECK(h.view(c, three(up, up, exiting)).empty());
  CHECK(h.core(c).settled());
  CHECK(h.core(c).state() == singleton_state::end);
  CHECK(h.core(b).settled());  // younger, not retired: nothing runs there either
  CHECK_FALSE(h.core(a).settled());
}

TEST_CASE("singleton core: a singleton that stops by itself is not restarted while the node stays oldest",
          "[unit][singleton]") {
  auto s = fast();
  s.downing = cm::sbr_settings{};
  harness h({a, b, c}, s);
  h.view_all(three());
  h.at(a).instance = harness::inst::stopping;  // it stopped itself
  h.terminated(a);
  h.tick(10s);
  h.view(a, three());
  CHECK_FALSE(h.running(a));
  CHECK(h.core(a).state() == singleton_state::oldest);
  // Fenced and healed: a new term as the oldest starts it again.
  h.view(a, three().with_reachability(reachability{}.unreachable(b, a).unreachable(c, a)));
  CHECK(h.core(a).fenced());
  CHECK(has_start(h.view(a, three())));
}

TEST_CASE("singleton core: only members with the role count", "[unit][singleton]") {
  auto s = fast();
  s.role = "db";
  harness h({a, b, c}, s);
  const gossip g{{at(a, up, 1), at(b, up, 2, {"db"}), at(c, up, 3, {"db"})}};
  h.view_all(g);
  CHECK_FALSE(h.running(a));  // the oldest, but without the role
  CHECK(h.running(b));
  // a leaving does not concern b.
  CHECK(h.view(b, gossip{{at(a, exiting, 1), at(b, up, 2, {"db"}), at(c, up, 3, {"db"})}}).empty());
  CHECK(h.running(b));
}

TEST_CASE("singleton core: a chain of leaves hands over one by one", "[unit][singleton]") {
  harness h({a, b, c});
  h.view_all(three());
  // a and b leave at once; c sees both exiting and asks both.
  const gossip both = three(exiting, exiting);
  auto out = h.view(c, both);
  CHECK(sent<model::hand_over_to_me>(out).size() == 2);
  h.deliver();
  CHECK(h.instance(a) == harness::inst::stopping);
  CHECK(h.core(b).retired());
  h.terminated(a);
  h.deliver();
  CHECK(h.running(c));
  CHECK(h.live_instances() == 1);
}

TEST_CASE("singleton core: state names", "[unit][singleton]") {
  CHECK(to_string(singleton_state::start) == "start");
  CHECK(to_string(singleton_state::becoming_oldest) == "becoming_oldest");
  CHECK(to_string(singleton_state::handing_over) == "handing_over");
  CHECK(to_string(singleton_state::end) == "end");
}

// ---------------------------------------------------------------------------------------
// The simulation: several cores, one cluster history, random faults.

namespace {

/// One run: nodes join, leave, crash, restart and are partitioned; each node's view is
/// some version of the cluster's history (never older than the last it saw); messages are
/// delayed, dropped and duplicated; instances take a while to stop. After every event at
/// most one instance may live. At the end the faults stop, and exactly one instance must
/// run, on the oldest member.
class simulation {
 public:
  explicit simulation(std::uint64_t seed) : rng_(seed) {
    settings_.hand_over_retry_interval = 1s;
    settings_.max_hand_over_retries = 15;
    settings_.removal_margin = chance(2) ? 0s : 2s;
    settings_.downing = cm::sbr_settings{};
    history_.push_back(gossip{});
  }

  void run(int steps) {
    for (int i = 0; i < 3; ++i) join();
    leader_actions();
    for (int i = 0; i < steps; ++i) {
      step();
      advance(nanoseconds(static_cast<std::int64_t>(draw(300)) * 1'000'000));
    }
    settle();
  }

  std::string trace_text() const {
    std::string s;
    for (const auto& t : trace_) s += t + "\n";
    return s;
  }
  /// What a run went through, to check that the runs cover the interesting cases.
  struct coverage {
    std::uint64_t starts = 0, hand_overs = 0, fenced_stops = 0, partitions = 0, crashes = 0, given_up = 0;
    coverage& operator+=(const coverage& o) {
      starts += o.starts, hand_overs += o.hand_overs, fenced_stops += o.fenced_stops;
      partitions += o.partitions, crashes += o.crashes, given_up += o.given_up;
      return *this;
    }
  };
  coverage covered() const {
    coverage total = covered_;
    for (const auto& n : nodes_) total.given_up += n->core->stats().given_up;
    return total;
  }

 private:
  enum class inst { none, running, stopping };
  struct sim_node {
    unique_address id;
    std::unique_ptr<singleton_core> core;
    bool alive = true;
    inst instance = inst::none;
    std::uint64_t instance_gen = 0;
    std::size_t view = 0;      ///< index into history_
    bool noticed = false;      ///< has seen the current partition
    std::set<unique_address> cut_from;  ///< the other side, once noticed
    bool crashed = false;      ///< died without leaving (a member until downed and removed)
    nanoseconds next_tick{0};
  };
  struct event {
    nanoseconds at;
    std::uint64_t seq;
    std::function<void()> fire;
    bool operator>(const event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  std::uint64_t draw(std::uint64_t n) { return rng_() % n; }
  bool chance(std::uint64_t one_in) { return draw(one_in) == 0; }

  void log(const std::string& s) {
    trace_.push_back("[" + std::to_string(now_.count() / 1'000'000) + " ms] " + s);
    if (trace_.size() > 4000) trace_.pop_front();
  }

  const gossip& latest() const { return history_.back(); }
  void change(gossip g, const std::string& what) {
    history_.push_back(std::move(g));
    log("cluster: " + what);
  }

  sim_node* by_id(const unique_address& id) {
    for (auto& n : nodes_)
      if (n->id == id) return n.get();
    return nullptr;
  }
  sim_node& known(const unique_address& id) {
    sim_node* n = by_id(id);
    if (!n) throw std::logic_error("unknown node " + cm::to_string(id));
    return *n;
  }
  sim_node* live_at(const cm::address& addr) {
    for (auto& n : nodes_)
      if (n->alive && n->id.address == addr) return n.get();
    return nullptr;
  }
  std::vector<sim_node*> live() {
    std::vector<sim_node*> out;
    for (auto& n : nodes_)
      if (n->alive) out.push_back(n.get());
    return out;
  }
  bool in_minority(const sim_node& n) const { return minority_.contains(n.id); }
  bool cut(const sim_node& x, const sim_node& y) const {
    return partitioned_ && in_minority(x) != in_minority(y);
  }

  // 1. What a node sees: its version of the history, with the partition as it noticed it.
  gossip view_of(const sim_node& n) const {
    gossip g = history_[n.view];
    if (n.cut_from.empty()) return g;
    reachability r;
    for (const auto& o : g.members())
      for (const auto& t : g.members())
        if (!n.cut_from.contains(o.unique_address()) && n.cut_from.contains(t.unique_address()))
          r = r.unreachable(o.unique_address(), t.unique_address());
    return g.with_reachability(r);
  }
  void show(sim_node& n) {
    const auto before = n.core->state();
    n.core->on_view(view_of(n), now_);
    if (n.core->state() != before)
      log(cm::to_string(n.id) + " " + std::string(to_string(before)) + " -> " + std::string(to_string(n.core->state())) +
          " (view " + std::to_string(n.view) + (n.cut_from.empty() ? "" : ", cut off") + ")");
    carry_out(n);
  }

  // 2. The outputs of a core.
  void carry_out(sim_node& n) {
    for (auto& o : n.core->take_outbox()) {
      if (std::holds_alternative<model::start_singleton>(o)) {
        REQUIRE(n.instance == inst::none);
        n.instance = inst::running;
        ++covered_.starts;
        log(cm::to_string(n.id) + " STARTS");
        check();
      } else if (std::holds_alternative<model::stop_singleton>(o)) {
        REQUIRE(n.instance == inst::running);
        n.instance = inst::stopping;
        if (n.core->fenced()) ++covered_.fenced_stops;
        const auto gen = ++n.instance_gen;
        log(cm::to_string(n.id) + " stops");
        schedule(now_ + nanoseconds(static_cast<std::int64_t>(draw(2000)) * 1'000'000), [this, &n, gen] {
          if (!n.alive || n.instance_gen != gen || n.instance != inst::stopping) return;
          n.instance = inst::none;
          log(cm::to_string(n.id) + " terminated");
          n.core->on_singleton_terminated(now_);
          carry_out(n);
        });
      } else {
        const auto m = std::get<model::send_to_peer>(o).message;
        send(n, m);
        if (chance(20)) send(n, m);  // duplicated
      }
    }
  }
  void send(sim_node& from, const singleton_message& m) {
    if (chance(15)) {
      log("lost: " + describe(m));
      return;
    }
    const auto from_id = from.id;
    schedule(now_ + nanoseconds(static_cast<std::int64_t>(draw(800)) * 1'000'000), [this, from_id, m] {
      sim_node* sender = by_id(from_id);
      sim_node* to = live_at(model::recipient_of(m).address);
      if (!to || !sender || cut(*sender, *to)) return;
      log("deliver " + describe(m));
      if (std::holds_alternative<model::hand_over_done>(m)) ++covered_.hand_overs;
      to->core->receive(m, now_);
      carry_out(*to);
    });
  }

  void schedule(nanoseconds at, std::function<void()> f) { events_.push(event{at, seq_++, std::move(f)}); }

  // 3. Time passes: due messages, terminations and ticks (each node's manager re-reads its
  //    view and ticks every second).
  void advance(nanoseconds dt) {
    const nanoseconds until = now_ + dt;
    for (;;) {
      sim_node* ticker = nullptr;
      for (auto* n : live())
        if (!ticker || n->next_tick < ticker->next_tick) ticker = n;
      const bool event_due = !events_.empty() && events_.top().at <= until &&
                             (!ticker || events_.top().at <= ticker->next_tick);
      if (event_due) {
        auto ev = events_.top();
        events_.pop();
        now_ = ev.at;
        ev.fire();
      } else if (ticker && ticker->next_tick <= until) {
        now_ = ticker->next_tick;
        ticker->next_tick = now_ + 1s;
        show(*ticker);
        ticker->core->on_tick(now_);
        carry_out(*ticker);
      } else {
        now_ = until;
        return;
      }
    }
  }

  // 4. The invariant.
  void check() {
    int n = 0;
    for (auto* x : live()) n += x->instance != inst::none;
    if (n > 1) {
      INFO(trace_text());
      FAIL("two live instances");
    }
  }

  // 5. Membership changes, each only when a real cluster could make it.
  bool converged_on(std::size_t version) {
    for (const auto& m : latest().members()) {
      const sim_node& n = known(m.unique_address());
      if (n.crashed || !n.alive) {
        if (m.status() != down && m.status() != exiting) return false;  // unreachable blocks
        continue;
      }
      if ((m.status() == up || m.status() == leaving) && n.view < version) return false;
    }
    return true;
  }
  void join() {
    if (live().size() >= 6 || partitioned_) return;
    // A fresh address, or one whose previous incarnation is gone (a restart: new uid).
    int slot = -1;
    for (int i = 1; i <= 7 && slot < 0; ++i) {
      const cm::address addr = node(i).address;
      const bool taken = live_at(addr) || std::any_of(latest().members().begin(), latest().members().end(),
                                                      [&](const member& m) { return m.address() == addr; });
      if (!taken) slot = i;
    }
    if (slot < 0) return;
    const auto id = node(slot, ++incarnations_);
    nodes_.push_back(std::make_unique<sim_node>());
    auto& n = *nodes_.back();
    n.id = id;
    n.core = std::make_unique<singleton_core>(settings_, id);
    n.next_tick = now_ + nanoseconds(static_cast<std::int64_t>(draw(1000)) * 1'000'000);
    change(latest().update({member{id}}), cm::to_string(id) + " joining");
    n.view = history_.size() - 1;
    show(n);
  }
  void leave() {
    std::vector<member> candidates;
    for (const auto& m : latest().members())
      if (m.status() == up && !known(m.unique_address()).crashed) candidates.push_back(m);
    if (candidates.size() < 2 || partitioned_) return;
    const auto& m = candidates[draw(candidates.size())];
    change(latest().update({*m.copy_with_status(leaving)}), cm::to_string(m.unique_address()) + " leaving");
  }
  void leader_actions() {
    if (partitioned_ || !converged_on(history_.size() - 1)) return;
    std::vector<member> changed;
    std::set<unique_address> removed;
    for (const auto& m : latest().members()) {
      if (m.status() == joining && !known(m.unique_address()).crashed) changed.push_back(*m.copy_up(++up_numbers_));
      if (m.status() == leaving) changed.push_back(*m.copy_with_status(exiting));
      if (m.status() == exiting || m.status() == down) removed.insert(m.unique_address());
    }
    if (changed.empty() && removed.empty()) return;
    gossip g = latest().update(changed).remove_all(removed, now_);
    change(g, "leader actions: " + std::to_string(changed.size()) + " up or exiting, " +
                  std::to_string(removed.size()) + " removed");
    for (const auto& r : removed) ended(r);
  }
  // A removed node: one that left ends its process once settled (coordinated shutdown),
  // or after 10 s at most; a fenced one is quarantined and ends a while later.
  void ended(const unique_address& id) {
    sim_node* n = by_id(id);
    if (!n || !n->alive) return;
    for (int k = 0; k < 20; ++k)
      schedule(now_ + nanoseconds((k + 1) * 500'000'000LL), [this, id, k] {
        sim_node* x = by_id(id);
        if (x && x->alive && (k == 19 || x->core->settled() || chance(8))) kill(*x, "ends");
      });
  }
  void kill(sim_node& n, const std::string& how) {
    n.alive = false;
    n.instance = inst::none;
    log(cm::to_string(n.id) + " " + how);
  }
  void crash() {
    auto alive = live();
    if (alive.size() < 2 || partitioned_) return;
    sim_node* n = alive[draw(alive.size())];
    if (!latest().has_member(n->id)) return;
    n->crashed = true;
    ++covered_.crashes;
    kill(*n, "CRASHES");
  }
  void down_crashed() {
    if (partitioned_) return;
    std::vector<member> changed;
    for (const auto& m : latest().members()) {
      if (known(m.unique_address()).crashed && m.status() != down && m.status() != exiting)
        changed.push_back(*m.copy_with_status(down));
    }
    if (!changed.empty()) change(latest().update(changed), "crashed members down");
  }

  // 6. Partitions: a minority of up members cut off. Each side notices after a while; the
  //    minority is fenced at once. The majority downs the minority only once every
  //    minority node has noticed and its instance has stopped (the resolver's stable-after
  //    being longer than detection and the singleton's stop), then removes it.
  void partition() {
    if (partitioned_) return;
    std::vector<sim_node*> ups;
    for (const auto& m : latest().members()) {
      sim_node& n = known(m.unique_address());
      if (m.status() != up || n.crashed || !n.alive) return;  // only in a calm cluster
      ups.push_back(&n);
    }
    if (ups.size() < 3) return;
    std::shuffle(ups.begin(), ups.end(), rng_);
    // Half the time the node running the singleton is cut off with the minority.
    const auto holder = std::find_if(ups.begin(), ups.end(), [](const sim_node* x) { return x->instance != inst::none; });
    if (holder != ups.end() && chance(2)) std::iter_swap(ups.begin(), holder);
    const std::size_t k = 1 + draw((ups.size() - 1) / 2);
    minority_.clear();
    for (std::size_t i = 0; i < k; ++i) minority_.insert(ups[i]->id);
    partitioned_ = true;
    minority_down_ = false;
    ++covered_.partitions;
    std::string names;
    for (const auto& id : minority_) names += " " + cm::to_string(id);
    log("PARTITION, minority:" + names);
    for (auto* n : live()) {
      if (fenced_forever_.contains(n->id)) continue;
      n->noticed = false;
      const auto id = n->id;
      schedule(now_ + nanoseconds(static_cast<std::int64_t>(draw(1500)) * 1'000'000), [this, id] {
        sim_node* x = by_id(id);
        if (!x || !x->alive || !partitioned_) return;
        x->noticed = true;
        for (const auto& m : latest().members())
          if (minority_.contains(m.unique_address()) != in_minority(*x)) x->cut_from.insert(m.unique_address());
        show(*x);
      });
    }
  }
  void partition_progress() {
    if (!partitioned_) return;
    if (!minority_down_) {
      const bool ready = std::all_of(minority_.begin(), minority_.end(), [&](const unique_address& id) {
        const sim_node& n = known(id);
        return !n.alive || (n.noticed && n.instance == inst::none);
      });
      if (chance(6)) {
        heal();
        return;
      }
      if (!ready) return;
      std::vector<member> changed;
      for (const auto& id : minority_) changed.push_back(*latest().member(id).copy_with_status(down));
      change(latest().update(changed), "minority down");
      minority_down_ = true;
      return;
    }
    // Removal, once every live majority member has seen the downing.
    const std::size_t v = history_.size() - 1;
    for (auto* n : live())
      if (!in_minority(*n) && n->view < v) return;
    change(latest().remove_all(minority_, now_), "minority removed");
    for (const auto& id : minority_) ended(id);
    partitioned_ = false;
    for (auto* n : live())
      if (!in_minority(*n)) n->cut_from.clear();  // the minority stays cut off: quarantined
    fenced_forever_.insert(minority_.begin(), minority_.end());
    minority_.clear();
  }
  void heal() {
    partitioned_ = false;
    minority_.clear();
    log("HEALED");
    for (auto* n : live()) {
      if (fenced_forever_.contains(n->id)) continue;  // removed: quarantined, never healed
      n->noticed = false;
      n->cut_from.clear();
      show(*n);
    }
  }

  // A node catches up with some later version of the history (never during a partition
  // for the minority, which hears nothing; never for a quarantined node).
  void gossip_to_someone() {
    auto alive = live();
    if (alive.empty()) return;
    sim_node* n = alive[draw(alive.size())];
    if ((partitioned_ && in_minority(*n)) || fenced_forever_.contains(n->id)) return;
    n->view += draw(history_.size() - n->view);
    if (chance(2)) n->view = history_.size() - 1;
    show(*n);
  }

  void step() {
    switch (draw(20)) {
      case 0: join(); break;
      case 1: case 2: leave(); break;
      case 3: case 4: case 5: leader_actions(); break;
      case 6: if (chance(6)) crash(); break;
      case 7: down_crashed(); break;
      case 8: partition(); break;
      case 9: case 10: partition_progress(); break;
      default: gossip_to_someone(); break;
    }
  }

  // 7. The faults stop: partitions end, the leaving and the crashed are removed, everyone
  //    catches up. Then exactly one instance runs, on the oldest member.
  void settle() {
    log("SETTLE");
    for (int round = 0; round < 200; ++round) {
      if (partitioned_) partition_progress();
      if (!partitioned_) {
        down_crashed();
        leader_actions();
      }
      for (auto* n : live()) {
        if (fenced_forever_.contains(n->id) || (partitioned_ && in_minority(*n))) continue;
        n->view = history_.size() - 1;
        show(*n);
      }
      advance(500ms);
    }
    advance(60s);
    const auto oldest = cm::oldest_member(latest(), "");
    int running = 0;
    for (auto* n : live())
      if (n->instance == inst::running) {
        ++running;
        INFO(trace_text());
        REQUIRE(oldest);
        CHECK(n->id == oldest->unique_address());
      }
    INFO(trace_text());
    CHECK(running == (oldest ? 1 : 0));
  }

  std::mt19937_64 rng_;
  singleton_core_settings settings_;
  nanoseconds now_{0};
  std::vector<gossip> history_;
  std::vector<std::unique_ptr<sim_node>> nodes_;
  std::priority_queue<event, std::vector<event>, std::greater<>> events_;
  std::uint64_t seq_ = 0;
  std::deque<std::string> trace_;
  std::int32_t up_numbers_ = 0;
  std::uint64_t incarnations_ = 0;
  bool partitioned_ = false;
  bool minority_down_ = false;
  std::set<unique_address> minority_;
  std::set<unique_address> fenced_forever_;
  coverage covered_;
};

}  // namespace

TEST_CASE("singleton core simulation: at most one instance through joins, leaves, crashes and partitions",
          "[unit][singleton][property]") {
  const std::uint64_t base = Catch::rngSeed();
  simulation::coverage total;
  for (std::uint64_t i = 0; i < 300; ++i) {
    const std::uint64_t seed = base * 1000 + i;
    INFO("seed " << seed);
    simulation sim(seed);
    sim.run(400);
    total += sim.covered();
  }
  // The runs did move the singleton around in every way.
  INFO("starts " << total.starts << ", hand-overs " << total.hand_overs << ", fenced stops " << total.fenced_stops
                 << ", partitions " << total.partitions << ", crashes " << total.crashes << ", given up "
                 << total.given_up);
  CHECK(total.starts > 600);
  CHECK(total.hand_overs > 200);
  CHECK(total.fenced_stops > 10);
  CHECK(total.partitions > 40);
  CHECK(total.crashes > 100);
  CHECK(total.given_up > 0);
}
