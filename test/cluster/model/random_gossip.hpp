// random_gossip: test nodes and a generator of random but possible gossips.
//
// Random gossips are only interesting if they are views real nodes could hold at the
// same time, so the generator first draws one shared history of a small cluster (every
// node's path through the member statuses, every observer's sequence of reachability
// changes) and then draws replicas: each replica knows each node at some point of its
// path (or not at all, or as a tombstone once it was removed) and each observer's row at
// some point of its history. Replicas of different histories disagree in ways no real
// cluster can, which tests that merge does not rely on consistency. Every replica
// satisfies `gossip::invariant_violation() == nullopt`.
//
//   std::mt19937_64 rng{Catch::rngSeed()};
//   random_history h{rng, 5};
//   gossip a = h.replica(rng), b = h.replica(rng);
//   CHECK(merge(a, b) == merge(b, a));
//
// All draws use the engine's raw output (no std distributions, whose algorithms differ
// between standard libraries), so a seed reproduces the same gossips everywhere.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/reachability.hpp"
#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model::testing {

/// Node `i` of the test universe: `troupe://sys@10.0.0.<i>:2552`, uid `1000 + i` by default.
inline unique_address test_node(int i, std::uint64_t uid = 0) {
  return {{"sys", "10.0.0." + std::to_string(i), 2552},
          uid ? uid : 1000 + static_cast<std::uint64_t>(i)};
}

/// A uniform draw in [0, n) from the raw output (n > 0; the bias is negligible here).
inline std::uint64_t draw(std::mt19937_64& rng, std::uint64_t n) { return rng() % n; }

/// True with probability `num / den`.
inline bool chance(std::mt19937_64& rng, std::uint64_t num, std::uint64_t den) {
  return draw(rng, den) < num;
}

/// One possible history of a small cluster; replicas are drawn from it.
class random_history {
 public:
  /// Draws the history of `node_count` nodes (test_node(1) ... test_node(node_count)).
  random_history(std::mt19937_64& rng, int node_count) {
    for (int i = 1; i <= node_count; ++i) nodes_.push_back(test_node(i));
    for (int i = 0; i < node_count; ++i) lives_.push_back(draw_life(rng, i));
    for (const auto& observer : nodes_) observations_[observer] = draw_observations(rng, observer);
  }

  /// The nodes of this history.
  const std::vector<unique_address>& nodes() const { return nodes_; }

  /// A gossip some node could hold at some moment of this history.
  gossip replica(std::mt19937_64& rng) const {
    // 1. Each node: unknown, at some point of its path, or tombstoned after its removal.
    std::vector<member> members;
    std::map<unique_address, gossip::time> tombstones;
    for (const auto& life : lives_) {
      if (chance(rng, 1, 6)) continue;
      const std::size_t points = life.path.size() + (life.removed ? 1 : 0);
      const std::size_t at = draw(rng, points);
      if (at < life.path.size())
        members.push_back(life.path[at]);
      else
        tombstones[life.path.front().unique_address()] = life.removed_at;
    }
    std::set<unique_address> alive;
    for (const auto& m : members) alive.insert(m.unique_address());

    // 2. Seen by some of the members.
    std::set<unique_address> seen;
    for (const auto& n : alive)
      if (chance(rng, 1, 2)) seen.insert(n);

    // 3. A version with random counters, none for tombstoned nodes.
    std::map<vector_clock::node_id, std::uint64_t> counters;
    for (const auto& n : nodes_)
      if (!tombstones.contains(n)) counters[vector_clock::node_of(n)] = draw(rng, 4);

    // 4. Each member observer's row at some point of its history, then only members.
    std::vector<reachability_record> records;
    std::map<unique_address, std::uint64_t> versions;
    for (const auto& observer : alive) {
      const auto& steps = observations_.at(observer);
      const auto& [rows, version] = steps[draw(rng, steps.size())];
      records.insert(records.end(), rows.begin(), rows.end());
      if (version > 0) versions[observer] = version;
    }
    std::set<unique_address> outsiders;
    for (const auto& n : nodes_)
      if (!alive.contains(n)) outsiders.insert(n);
    const reachability reach = reachability::restore(records, versions).remove(outsiders);

    return gossip{std::move(members), gossip_overview{std::move(seen), reach},
                  vector_clock{std::move(counters)}, std::move(tombstones)};
  }

 private:
  struct node_life {
    std::vector<member> path;  // statuses in the order the node went through them
    bool removed = false;      // the path ends with the node's removal
    gossip::time removed_at{};
  };

  // A walk through the transition table that only moves to statuses of higher merge
  // precedence, as a node's status can only advance in a consistent cluster.
  static node_life draw_life(std::mt19937_64& rng, int index) {
    static const std::vector<std::string> role_pool{"a", "b", "c"};
    std::set<std::string> roles;
    for (const auto& r : role_pool)
      if (chance(rng, 1, 2)) roles.insert(r);
    node_life l;
    l.path.push_back(member{test_node(index + 1), roles, app_version{"1." + std::to_string(index)}});
    for (auto steps = draw(rng, 6); steps > 0; --steps) {
      const member& now = l.path.back();
      std::vector<member_status> next;
      for (member_status s : all_member_statuses)
        if (is_allowed_transition(now.status(), s) &&
            merge_precedence(s) > merge_precedence(now.status()) &&
            (s != member_status::removed || chance(rng, 1, 3)))
          next.push_back(s);
      if (next.empty()) break;
      const member_status s = next[draw(rng, next.size())];
      if (s == member_status::removed) {
        l.removed = true;
        l.removed_at = gossip::time{1000 * (index + 1)};
        break;
      }
      l.path.push_back(s == member_status::up ? *now.copy_up(index + 1) : *now.copy_with_status(s));
    }
    return l;
  }

  // Snapshots of `observer`'s row and version after each of a few random changes.
  std::vector<std::pair<std::vector<reachability_record>, std::uint64_t>> draw_observations(
      std::mt19937_64& rng, const unique_address& observer) const {
    std::vector<std::pair<std::vector<reachability_record>, std::uint64_t>> steps{{{}, 0}};
    reachability r;
    for (auto n = draw(rng, 7); n > 0; --n) {
      const unique_address& subject = nodes_[draw(rng, nodes_.size())];
      if (subject == observer) continue;
      const auto kind = draw(rng, 20);
      r = kind < 10 ? r.unreachable(observer, subject)
          : kind < 17 ? r.reachable(observer, subject)
                      : r.terminated(observer, subject);
      steps.emplace_back(r.records_from(observer), r.version(observer));
    }
    return steps;
  }

  std::vector<unique_address> nodes_;
  std::vector<node_life> lives_;
  std::map<unique_address,
           std::vector<std::pair<std::vector<reachability_record>, std::uint64_t>>>
      observations_;
};

}  // namespace troupe::cluster::model::testing
