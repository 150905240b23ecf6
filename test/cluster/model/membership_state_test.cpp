#include "troupe/cluster/model/membership_state.hpp"

#include <catch2/catch.hpp>

#include <random>

#include "cluster/model/random_gossip.hpp"

using namespace std::chrono_literals;
using troupe::cluster::model::gossip;
using troupe::cluster::model::gossip_ordering;
using troupe::cluster::model::gossip_receipt;
using troupe::cluster::model::is_allowed_transition;
using troupe::cluster::model::join_outcome;
using troupe::cluster::model::leader_actions_result;
using troupe::cluster::model::member;
using troupe::cluster::model::member_change;
using troupe::cluster::model::member_status;
using troupe::cluster::model::membership_settings;
using troupe::cluster::model::membership_state;
using troupe::cluster::model::reachability;
using troupe::cluster::model::reachability_status;
using troupe::cluster::model::unique_address;
using troupe::cluster::model::vector_clock;
using troupe::cluster::model::testing::random_history;
using troupe::cluster::model::testing::test_node;

namespace {

using enum member_status;

const unique_address a = test_node(1);
const unique_address b = test_node(2);
const unique_address c = test_node(3);
const unique_address d = test_node(4);

member at(const unique_address& n, member_status s, std::int32_t up_number = member::no_up_number,
          std::set<std::string> roles = {}) {
  return member::restore(n, s, std::move(roles), {}, up_number);
}

// A gossip with these members, seen by all of them.
gossip seen_by_all(std::vector<member> members) {
  std::vector<unique_address> nodes;
  for (const auto& m : members) nodes.push_back(m.unique_address());
  gossip g{std::move(members)};
  for (const auto& n : nodes) g = g.seen(n);
  return g;
}

// a, b, c up with ages 1, 2, 3, seen by all.
gossip three_up() { return seen_by_all({at(a, up, 1), at(b, up, 2), at(c, up, 3)}); }

const membership_settings defaults{};

}  // namespace

TEST_CASE("a node joining itself forms a cluster and moves itself up", "[unit][membership_state]") {
  const auto j = membership_state{gossip{}, a}.join(member{a, {"backend"}});
  REQUIRE(j.outcome == join_outcome::added);
  CHECK(j.gossip.member(a).status() == joining);
  CHECK(j.gossip.seen_by() == std::set<unique_address>{a});
  CHECK(j.gossip.version().version_of(vector_clock::node_of(a)) == 1);

  const membership_state s{j.gossip, a};
  CHECK(s.leader() == a);
  CHECK(s.convergence());
  const leader_actions_result r = s.leader_actions(defaults, 1s);
  CHECK(r.converged);
  CHECK(r.changes == std::vector<member_change>{{a, joining, up}});
  CHECK(r.gossip.member(a).status() == up);
  CHECK(r.gossip.member(a).up_number() == 1);
  CHECK(r.gossip.member(a).has_role("backend"));
  CHECK(r.gossip.version().version_of(vector_clock::node_of(a)) == 2);
  CHECK(r.gossip.seen_by() == std::set<unique_address>{a});
}

TEST_CASE("join requests", "[unit][membership_state]") {
  const membership_state s{three_up(), a};
  SECTION("a new node is added as joining, whatever status it claims") {
    const auto j = s.join(at(d, up, 7, {"x"}));
    CHECK(j.outcome == join_outcome::added);
    CHECK(j.gossip.member(d) == member{d, {"x"}});
    CHECK(compare(s.latest_gossip(), j.gossip) == gossip_ordering::older);
  }
  SECTION("the same incarnation again changes nothing") {
    const auto j = s.join(member{b});
    CHECK(j.outcome == join_outcome::already_member);
    CHECK(j.gossip == s.latest_gossip());
  }
  SECTION("a node that has not joined yet takes nobody but itself") {
    CHECK(membership_state{gossip{}, a}.join(member{b}).outcome == join_outcome::ignored);
  }
  SECTION("a node on its way out takes nobody") {
    const membership_state leaving_self{three_up().mark_as_down(a), a};
    CHECK(leaving_self.join(member{d}).outcome == join_outcome::ignored);
    const membership_state exiting_self{three_up().update({at(a, exiting, 1)}), a};
    CHECK(exiting_self.join(member{d}).outcome == join_outcome::ignored);
  }
}

TEST_CASE("a restarted node downs its old incarnation, then joins after its removal",
          "[unit][membership_state]") {
  const unique_address b2 = test_node(2, 9999);
  const membership_state s{three_up(), a};

  // 1. The new incarnation asks: the old one is terminated and downed.
  const auto j1 = s.join(member{b2});
  REQUIRE(j1.outcome == join_outcome::old_incarnation_downed);
  CHECK(j1.gossip.member(b).status() == down);
  CHECK(j1.gossip.reachability().status(a, b) == reachability_status::terminated);
  CHECK_FALSE(j1.gossip.has_member(b2));
  CHECK(s.down_old_incarnation(b2) == j1.gossip);
  CHECK_FALSE(s.down_old_incarnation(b));  // same incarnation: nothing to do

  // 2. Asking again while the old one is still down changes nothing.
  const membership_state s1{j1.gossip.seen(b).seen(c), a};
  CHECK(s1.join(member{b2}).outcome == join_outcome::old_incarnation_pending);

  // 3. Converged: the leader removes the downed, terminated old incarnation.
  REQUIRE(s1.convergence());
  const auto r = s1.leader_actions(defaults, 5s);
  CHECK(r.changes == std::vector<member_change>{{b, down, removed}});
  CHECK(r.gossip.tombstones().at(b) == 5s);
  CHECK_FALSE(r.gossip.invariant_violation());

  // 4. Now the new incarnation joins.
  const auto j2 = membership_state{r.gossip, a}.join(member{b2});
  CHECK(j2.outcome == join_outcome::added);
  CHECK(j2.gossip.member(b2).status() == joining);
}

TEST_CASE("convergence: every up-like member has seen the version", "[unit][membership_state]") {
  CHECK(membership_state{three_up(), a}.convergence());
  const gossip not_seen_by_c = three_up().clear_seen().seen(a).seen(b);
  CHECK_FALSE(membership_state{not_seen_by_c, a}.convergence());
  CHECK(membership_state{not_seen_by_c, a}.convergence({c}));  // c confirmed exiting
  // Joining and weakly up members need not have seen it once someone is up...
  const gossip with_joiner = three_up().update({at(d, joining), at(test_node(5), weakly_up)});
  CHECK(membership_state{with_joiner, a}.convergence());
  // ...but while the cluster is forming they must.
  const gossip forming = gossip{{member{a}, member{b}}}.seen(a);
  CHECK_FALSE(membership_state{forming, a}.convergence());
  CHECK(membership_state{forming.seen(b), a}.convergence());
  // Down and exiting members need not have seen it.
  CHECK(membership_state{three_up().mark_as_down(c), a}.convergence());
}

TEST_CASE("convergence: unreachable members block it unless down or exiting",
          "[unit][membership_state]") {
  const gossip g = three_up().with_reachability(reachability{}.unreachable(a, c));
  CHECK_FALSE(membership_state{g, a}.convergence());
  CHECK(membership_state{g, c}.convergence());  // a node never blocks itself
  CHECK(membership_state{g.mark_as_down(c).seen(a), a}.convergence());
  CHECK(membership_state{g.update({at(c, exiting, 3)}), a}.convergence());
  CHECK(membership_state{g, a}.convergence({c}));
  // Observations of a downed observer do not count.
  const gossip by_downed = three_up().with_reachability(reachability{}.unreachable(b, c)).mark_as_down(b);
  CHECK(membership_state{by_downed, a}.convergence());
}

TEST_CASE("leader: first reachable up-like member in address order", "[unit][membership_state]") {
  const gossip g = seen_by_all({at(a, joining), at(b, leaving, 2), at(c, up, 1), at(d, up, 3)});
  CHECK(membership_state{g, a}.leader() == b);
  CHECK(membership_state{g, a}.is_leader(b));
  CHECK(membership_state{g.mark_as_down(b), a}.leader() == c);
  const gossip b_unreachable = g.with_reachability(reachability{}.unreachable(c, b));
  CHECK(membership_state{b_unreachable, a}.leader() == c);
  CHECK(membership_state{b_unreachable, b}.leader() == b);  // b does not count itself out
  CHECK(membership_state{gossip{}, a}.leader() == std::nullopt);
}

TEST_CASE("leader: without up-like members, weakly up before joining before exiting",
          "[unit][membership_state]") {
  const gossip g = seen_by_all({at(a, exiting, 1), at(b, joining), at(c, weakly_up), at(d, joining)});
  CHECK(membership_state{g, a}.leader() == c);
  CHECK(membership_state{g.update({at(c, down)}), a}.leader() == b);
  CHECK(membership_state{seen_by_all({at(a, exiting, 1), at(b, down)}), a}.leader() == a);
  CHECK(membership_state{seen_by_all({at(a, down)}), a}.leader() == std::nullopt);
}

TEST_CASE("role leader and oldest", "[unit][membership_state]") {
  const gossip g = seen_by_all({at(a, up, 3, {"x"}), at(b, up, 2, {"y"}), at(c, leaving, 4, {"x", "y"}),
                                at(d, joining, member::no_up_number, {"x"})});
  const membership_state s{g, a};
  CHECK(s.role_leader("x") == a);
  CHECK(s.role_leader("y") == b);
  CHECK(s.role_leader("z") == std::nullopt);
  CHECK(s.oldest()->unique_address() == b);
  CHECK(s.oldest("x")->unique_address() == a);
  CHECK(s.oldest("z") == std::nullopt);
  CHECK(s.youngest()->unique_address() == c);
  CHECK(membership_state{gossip{}, a}.youngest() == std::nullopt);
  // The singleton stays on the oldest even while it is unreachable.
  const gossip b_unreachable = g.with_reachability(reachability{}.unreachable(a, b));
  CHECK(membership_state{b_unreachable, a}.oldest()->unique_address() == b);
}

TEST_CASE("reachability views", "[unit][membership_state]") {
  const gossip g = three_up()
                       .update({at(d, up, 4)})
                       .with_reachability(reachability{}.unreachable(a, c).unreachable(d, b))
                       .mark_as_down(d);
  const membership_state s{g, a};
  std::vector<unique_address> unreachable;
  for (const auto& m : s.unreachable_members()) unreachable.push_back(m.unique_address());
  CHECK(unreachable == std::vector<unique_address>{b, c});
  CHECK(membership_state{g, c}.unreachable_members().size() == 1);  // not itself
  CHECK(s.is_available(a));
  CHECK_FALSE(s.is_available(c));
  CHECK_FALSE(s.is_available(d));  // down
  CHECK_FALSE(s.is_available(test_node(9)));
  CHECK(s.is_reachable_excluding_downed_observers(b));  // only the downed d says otherwise
  CHECK_FALSE(s.is_reachable_excluding_downed_observers(c));
  CHECK_FALSE(s.valid_node_for_gossip(a));
  CHECK(s.valid_node_for_gossip(b));
  CHECK_FALSE(s.valid_node_for_gossip(c));
  CHECK(membership_state{g, b}.valid_node_for_gossip(c));  // only a's detector suspects c
}

TEST_CASE("leader actions only run on the leader", "[unit][membership_state]") {
  const gossip g = three_up().update({at(d, joining)});
  const auto r = membership_state{g, b}.leader_actions(defaults, 1s);
  CHECK(r.changes.empty());
  CHECK(r.gossip == g);
  CHECK(membership_state{g, a}.leader_actions(defaults, 1s).changes.size() == 1);
}

TEST_CASE("joining members go up together once the minimums are met", "[unit][membership_state]") {
  const gossip g = seen_by_all({at(a, joining), at(b, joining, member::no_up_number, {"x"}),
                                at(c, weakly_up, member::no_up_number, {"x"})});
  membership_settings settings;
  settings.min_nr_of_members = 4;
  CHECK(membership_state{g, c}.leader_actions(settings, 1s).changes.empty());
  settings.min_nr_of_members = 3;
  settings.min_nr_of_members_per_role = {{"x", 3}};
  CHECK(membership_state{g, c}.leader_actions(settings, 1s).changes.empty());
  settings.min_nr_of_members_per_role = {{"x", 2}};
  const membership_state s{g, c};
  REQUIRE(s.is_leader(c));  // nobody is up yet: weakly up leads
  const auto r = s.leader_actions(settings, 1s);
  CHECK(r.changes == std::vector<member_change>{{a, joining, up}, {b, joining, up}, {c, weakly_up, up}});
  CHECK(r.gossip.member(a).up_number() == 1);
  CHECK(r.gossip.member(b).up_number() == 2);
  CHECK(r.gossip.member(c).up_number() == 3);
}

TEST_CASE("up numbers continue after the youngest member", "[unit][membership_state]") {
  const gossip g = seen_by_all({at(a, up, 4), at(b, up, 7), at(c, joining), at(d, joining)});
  const auto r = membership_state{g, a}.leader_actions(defaults, 1s);
  CHECK(r.gossip.member(c).up_number() == 8);
  CHECK(r.gossip.member(d).up_number() == 9);
  CHECK(r.gossip.member(c).is_older_than(r.gossip.member(d)));
}

TEST_CASE("leaving -> exiting -> removed", "[unit][membership_state]") {
  const gossip g = three_up().update({at(c, leaving, 3)});
  const auto r1 = membership_state{g, a}.leader_actions(defaults, 1s);
  CHECK(r1.changes == std::vector<member_change>{{c, leaving, exiting}});

  // Exiting and still reachable: stays until it confirms or stops.
  const gossip exiting_c = r1.gossip.seen(b).seen(c);
  CHECK(membership_state{exiting_c, a}.leader_actions(defaults, 2s).changes.empty());
  const auto confirmed = membership_state{exiting_c, a}.leader_actions(defaults, 2s, {c});
  CHECK(confirmed.changes == std::vector<member_change>{{c, exiting, removed}});
  const gossip stopped = exiting_c.with_reachability(reachability{}.unreachable(a, c));
  const auto r2 = membership_state{stopped, a}.leader_actions(defaults, 3s);
  CHECK(r2.changes == std::vector<member_change>{{c, exiting, removed}});
  CHECK_FALSE(r2.gossip.has_member(c));
  CHECK(r2.gossip.tombstones().at(c) == 3s);
  CHECK_FALSE(r2.gossip.invariant_violation());
}

TEST_CASE("down members are removed once unreachable", "[unit][membership_state]") {
  const gossip downed = three_up().mark_as_down(c);
  CHECK(membership_state{downed, a}.leader_actions(defaults, 1s).changes.empty());
  const gossip gone = downed.with_reachability(reachability{}.unreachable(a, c).unreachable(b, c));
  const auto r = membership_state{gone, a}.leader_actions(defaults, 1s);
  CHECK(r.converged);
  CHECK(r.changes == std::vector<member_change>{{c, down, removed}});
  CHECK(r.gossip.reachability().is_all_reachable());
}

TEST_CASE("without convergence: weakly up for reachable joining members if allowed",
          "[unit][membership_state]") {
  const gossip g = three_up()
                       .update({at(d, joining), at(test_node(5), joining)})
                       .with_reachability(reachability{}.unreachable(a, c).unreachable(a, test_node(5)));
  const membership_state s{g, a};
  REQUIRE_FALSE(s.convergence());
  const auto r = s.leader_actions(defaults, 1s);
  CHECK_FALSE(r.converged);
  CHECK(r.changes == std::vector<member_change>{{d, joining, weakly_up}});
  membership_settings no_weakly_up;
  no_weakly_up.allow_weakly_up = false;
  CHECK(s.leader_actions(no_weakly_up, 1s).changes.empty());
  CHECK(s.leader_actions(no_weakly_up, 1s).gossip == g);
}

TEST_CASE("shutting down: nobody goes up, preparing -> ready", "[unit][membership_state]") {
  const gossip g = seen_by_all({at(a, preparing_for_shutdown, 1), at(b, up, 2), at(c, joining)});
  const auto r = membership_state{g, a}.leader_actions(defaults, 1s);
  CHECK(r.changes == std::vector<member_change>{{a, preparing_for_shutdown, ready_for_shutdown}});
}

TEST_CASE("the leader prunes old tombstones", "[unit][membership_state]") {
  const gossip g = three_up().update({at(d, up, 4)}).remove(d, 0s).seen(a);
  const membership_state s{g, a};
  CHECK(s.leader_actions(defaults, 1h).gossip == g);
  const auto r = s.leader_actions(defaults, 25h);
  CHECK(r.changes.empty());
  CHECK(r.gossip.tombstones().empty());
  CHECK(compare(g, r.gossip) == gossip_ordering::older);
}

TEST_CASE("user commands: down and leave", "[unit][membership_state]") {
  const membership_state s{three_up().update({at(d, exiting, 4)}), a};
  const auto downed = s.down(b.address);
  REQUIRE(downed);
  CHECK(downed->member(b).status() == down);
  CHECK_FALSE(downed->has_seen(b));
  CHECK(downed->seen_by() == std::set<unique_address>{a});
  CHECK_FALSE(membership_state{*downed, a}.down(b.address));
  CHECK_FALSE(s.down(test_node(9).address));

  const auto left = s.leave(c.address);
  REQUIRE(left);
  CHECK(left->member(c).status() == leaving);
  CHECK_FALSE(membership_state{*left, a}.leave(c.address));
  CHECK_FALSE(s.leave(d.address));  // exiting already
}

TEST_CASE("receiving gossip keeps the newer one, merges concurrent ones",
          "[unit][membership_state]") {
  const gossip base = three_up().increment(a);
  const membership_state s{base.only_seen(a), a};
  SECTION("newer: taken and seen") {
    const gossip remote = base.update({at(d, joining)}).increment(b).only_seen(b);
    const auto r = s.receive_gossip(b, remote);
    CHECK(r.receipt == gossip_receipt::newer);
    CHECK(r.gossip == remote.seen(a));
    CHECK(r.talk_back);  // b has not seen a's mark
    CHECK(s.receive_gossip(b, remote.seen(a)).talk_back == false);
  }
  SECTION("older: kept, and the sender gets ours") {
    const gossip local = base.increment(a).only_seen(a);
    const auto r = membership_state{local, a}.receive_gossip(b, base);
    CHECK(r.receipt == gossip_receipt::older);
    CHECK(r.gossip == local);
    CHECK(r.talk_back);
  }
  SECTION("same: seen sets united") {
    const auto r = s.receive_gossip(b, base.only_seen(b));
    CHECK(r.receipt == gossip_receipt::same);
    CHECK(r.gossip.seen_by() == std::set<unique_address>{a, b});
    CHECK(r.talk_back);
  }
  SECTION("concurrent: merged") {
    const gossip x = base.mark_as_down(c).increment(b);
    const membership_state local{base.update({at(d, joining)}).increment(a).only_seen(a), a};
    const auto r = local.receive_gossip(b, x);
    CHECK(r.receipt == gossip_receipt::merged);
    CHECK(r.gossip.member(c).status() == down);
    CHECK(r.gossip.has_member(d));
    CHECK(r.gossip.seen_by() == std::set<unique_address>{a});
    CHECK(r.talk_back);
  }
  SECTION("exiting: not marked seen, talk back only when the sender is behind") {
    const gossip remote = base.increment(b).only_seen(b);
    const auto r = s.receive_gossip(b, remote, true);
    CHECK(r.gossip == remote);
    CHECK_FALSE(r.talk_back);
  }
  SECTION("ignored: unknown sender, unreachable sender, or a gossip without self") {
    CHECK(s.receive_gossip(d, base.increment(b)).receipt == gossip_receipt::ignored);
    const membership_state suspicious{base.with_reachability(reachability{}.unreachable(a, b)), a};
    CHECK(suspicious.receive_gossip(b, base.increment(b)).receipt == gossip_receipt::ignored);
    const gossip without_a = gossip{{at(b, up, 2), at(c, up, 3)}}.increment(b);
    CHECK(s.receive_gossip(b, without_a).receipt == gossip_receipt::ignored);
  }
}

TEST_CASE("three nodes gossiping reach all up", "[unit][membership_state]") {
  // A tiny driver: join through a, then exchange gossip until nothing changes.
  std::map<unique_address, gossip> view;
  view[a] = membership_state{gossip{}, a}.join(member{a}).gossip;
  for (const auto& n : {b, c}) {
    view[a] = membership_state{view[a], a}.join(member{n}).gossip;
    view[n] = view[a].seen(n);  // the welcome
  }
  for (int round = 0; round < 20; ++round) {
    for (const auto& from : {a, b, c})
      for (const auto& to : {a, b, c})
        if (from != to) view[to] = membership_state{view[to], to}.receive_gossip(from, view[from]).gossip;
    for (const auto& n : {a, b, c}) {
      const membership_state s{view[n], n};
      if (s.is_leader(n)) view[n] = s.leader_actions(defaults, 1s).gossip;
    }
  }
  for (const auto& n : {a, b, c}) {
    CAPTURE(to_string(view[n]));
    CHECK(view[n] == view[a]);
    for (const auto& m : view[n].members()) CHECK(m.status() == up);
  }
  CHECK(view[a].member(a).up_number() == 1);
  CHECK(membership_state{view[a], a}.convergence());
}

TEST_CASE("five nodes gossiping in random order reach all up and agree",
          "[unit][membership_state][property]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  for (int run = 0; run < 20; ++run) {
    CAPTURE(run);
    std::vector<unique_address> nodes;
    for (int i = 1; i <= 5; ++i) nodes.push_back(test_node(i));
    // Everyone joins through the first node, in random order, with a random leader tick
    // between joins; then random pairs gossip and whoever is leader acts.
    std::map<unique_address, gossip> view;
    view[nodes[0]] = membership_state{gossip{}, nodes[0]}.join(member{nodes[0]}).gossip;
    std::vector<unique_address> joiners(nodes.begin() + 1, nodes.end());
    std::shuffle(joiners.begin(), joiners.end(), rng);
    for (const auto& n : joiners) {
      view[nodes[0]] = membership_state{view[nodes[0]], nodes[0]}.join(member{n}).gossip;
      view[n] = view[nodes[0]].seen(n);
    }
    for (int step = 0; step < 400; ++step) {
      const auto& from = nodes[rng() % nodes.size()];
      const auto& to = nodes[rng() % nodes.size()];
      if (from != to) {
        const auto r = membership_state{view[to], to}.receive_gossip(from, view[from]);
        view[to] = r.gossip;
        if (r.talk_back) view[from] = membership_state{view[from], from}.receive_gossip(to, r.gossip).gossip;
      }
      const auto& ticker = nodes[rng() % nodes.size()];
      const membership_state s{view[ticker], ticker};
      if (s.is_leader(ticker)) view[ticker] = s.leader_actions(defaults, 1s).gossip;
    }
    // A final full round so the last leader action reaches everyone.
    for (int round = 0; round < 3; ++round)
      for (const auto& from : nodes)
        for (const auto& to : nodes)
          if (from != to) view[to] = membership_state{view[to], to}.receive_gossip(from, view[from]).gossip;
    std::set<std::int32_t> up_numbers;
    for (const auto& n : nodes) {
      CAPTURE(to_string(n), to_string(view[n]));
      CHECK(view[n] == view[nodes[0]]);
      CHECK(view[n].member(n).status() == up);
      up_numbers.insert(view[n].member(n).up_number());
      CHECK(membership_state{view[n], n}.convergence());
      CHECK(membership_state{view[n], n}.leader() == nodes[0]);
    }
    CHECK(up_numbers.size() == nodes.size());  // every age is distinct
  }
}

TEST_CASE("nodes holding equal gossip agree on leader and convergence",
          "[unit][membership_state][property]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 300; ++round) {
    CAPTURE(round);
    const random_history h{rng, 2 + static_cast<int>(rng() % 5)};
    const gossip g = h.replica(rng);
    CAPTURE(to_string(g));
    // A node found unreachable counts itself in (Akka does the same), so only the views of
    // reachable members must agree.
    std::vector<membership_state> views;
    for (const auto& m : g.members())
      if (g.reachability().is_reachable(m.unique_address())) views.emplace_back(g, m.unique_address());
    for (const auto& s : views) {
      CAPTURE(to_string(s.self()));
      CHECK(s.leader() == views.front().leader());
      CHECK(s.convergence() == views.front().convergence());
      CHECK(s.role_leader("a") == views.front().role_leader("a"));
      CHECK(s.oldest() == views.front().oldest());
    }
    // Whatever the leader does keeps the gossip valid and follows the transition table.
    if (const auto leader = membership_state{g, h.nodes().front()}.leader()) {
      const auto r = membership_state{g, *leader}.leader_actions(defaults, 1s);
      CHECK_FALSE(r.gossip.invariant_violation());
      for (const auto& change : r.changes) {
        CAPTURE(to_string(change.node), to_string(change.from), to_string(change.to));
        CHECK(is_allowed_transition(change.from, change.to));
        CHECK(g.member(change.node).status() == change.from);
        CHECK(r.gossip.member(change.node).status() == change.to);
      }
      // The new version descends from the old one, once removed nodes' counters are pruned.
      gossip before = g;
      for (const auto& kv : r.gossip.tombstones()) before = before.prune(vector_clock::node_of(kv.first));
      if (!r.changes.empty()) CHECK(compare(before, r.gossip) == gossip_ordering::older);
    }
  }
}
