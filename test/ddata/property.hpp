// Property checks shared by the tests of every CRDT type: three replicas run random
// operations and exchange states and deltas over a lossy, duplicating, reordering channel.
//
// Each check takes an operation `op(T&, const replica_id&, std::mt19937&)` doing one random
// mutation at that replica. Engines are seeded from Catch's --rng-seed (0 unless given; printed
// on failure with the run number), so `--rng-seed N` reproduces a failure.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "troupe/ddata/crdt.hpp"
#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata::testing {

/// Replica `i` of the tests.
inline replica_id test_replica(int i) {
  return replica_id{{"ddata", "10.0.0." + std::to_string(i), 2552}, 1000u + static_cast<unsigned>(i)};
}

/// The three replicas of the property checks.
inline const std::array<replica_id, 3>& replicas() {
  static const std::array<replica_id, 3> r{test_replica(1), test_replica(2), test_replica(3)};
  return r;
}

/// Catch's seed mixed with a salt per check.
inline std::uint32_t seed_for(std::uint32_t salt) { return Catch::rngSeed() * 2654435761u + salt; }

/// A random index below `n`.
inline std::size_t pick(std::mt19937& rng, std::size_t n) {
  return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
}

/// True with probability `p`.
inline bool chance(std::mt19937& rng, double p) { return std::bernoulli_distribution(p)(rng); }

/// Takes and resets the delta of `x`.
template <delta_crdt T>
std::optional<T> take_delta(T& x) {
  auto d = x.delta();
  x.reset_delta();
  return d;
}

/// An in-memory network between replicas: messages are lost, duplicated and reordered.
template <class T>
class lossy_channel {
 public:
  lossy_channel(double loss, double duplicate) : loss_(loss), duplicate_(duplicate) {}

  /// Queues `value` (a state or a delta) for replica `to`.
  void send(std::size_t to, T value) { queue_.push_back({to, std::move(value)}); }

  /// Takes one random message: lost, or merged into its replica (and maybe kept to come again).
  void deliver_one(std::vector<T>& rs, std::mt19937& rng) {
    if (queue_.empty()) return;
    const std::size_t i = pick(rng, queue_.size());
    if (!chance(rng, loss_)) rs[queue_[i].first].merge_delta(queue_[i].second);
    if (!chance(rng, duplicate_)) {
      std::swap(queue_[i], queue_.back());
      queue_.pop_back();
    }
  }
  /// Delivers until empty.
  void drain(std::vector<T>& rs, std::mt19937& rng) {
    while (!queue_.empty()) deliver_one(rs, rng);
  }

 private:
  double loss_;
  double duplicate_;
  std::vector<std::pair<std::size_t, T>> queue_;
};

/// Three replicas after `steps` random steps from empty: an operation at a random replica
/// whose delta goes to the two others, a delivery, or a full state sent to a peer. Deltas
/// are lost, so replicas diverge and their contexts get gaps. Deltas come back reset.
template <delta_crdt T, class Op>
std::vector<T> random_replicas(std::mt19937& rng, Op& op, int steps) {
  std::vector<T> rs(3);
  lossy_channel<T> channel(0.3, 0.1);
  for (int s = 0; s < steps; ++s) {
    const int what = static_cast<int>(pick(rng, 10));
    const std::size_t i = pick(rng, 3);
    if (what < 6) {
      op(rs[i], replicas()[i], rng);
      if (auto d = take_delta(rs[i])) {
        for (std::size_t j = 0; j < 3; ++j)
          if (j != i) channel.send(j, *d);
      }
    } else if (what < 9) {
      channel.deliver_one(rs, rng);
    } else {
      channel.send((i + 1 + pick(rng, 2)) % 3, rs[i]);
    }
  }
  for (T& r : rs) r.reset_delta();
  return rs;
}

/// Merge is commutative, associative and idempotent, on replicas with random histories.
template <delta_crdt T, class Op>
void check_merge_is_a_join(Op op, int runs = 150, int steps = 40) {
  const std::uint32_t seed = seed_for(1);
  CAPTURE(Catch::rngSeed(), seed);
  std::mt19937 rng(seed);
  for (int run = 0; run < runs; ++run) {
    CAPTURE(run);
    const auto rs = random_replicas<T>(rng, op, steps);
    const T& a = rs[0];
    const T& b = rs[1];
    const T& c = rs[2];
    auto join = [](T x, const T& y) {
      x.merge(y);
      return x;
    };
    REQUIRE(join(a, b) == join(b, a));
    REQUIRE(join(join(a, b), c) == join(a, join(b, c)));
    REQUIRE(join(a, a) == a);
    REQUIRE(join(join(a, b), b) == join(a, b));
    T self = a;
    self.merge(self);
    REQUIRE(self == a);
  }
}

/// Deltas of one replica's operations, merged into another in any order and with duplicates,
/// give what merging the full state gives; and they rebuild the source from its old state.
template <delta_crdt T, class Op>
void check_deltas_match_full_merge(Op op, int runs = 150, int steps = 40) {
  const std::uint32_t seed = seed_for(2);
  CAPTURE(Catch::rngSeed(), seed);
  std::mt19937 rng(seed);
  for (int run = 0; run < runs; ++run) {
    CAPTURE(run);
    auto rs = random_replicas<T>(rng, op, steps);
    const T source_before = rs[0];
    // 1. The source and the target both go on; the source keeps its deltas, sometimes
    //    several operations per delta.
    std::vector<T> deltas;
    const int more = 1 + static_cast<int>(pick(rng, 12));
    for (int k = 0; k < more; ++k) {
      op(rs[0], replicas()[0], rng);
      if (chance(rng, 0.3)) op(rs[1], replicas()[1], rng);
      if (chance(rng, 0.7)) {
        if (auto d = take_delta(rs[0])) deltas.push_back(*d);
      }
    }
    if (auto d = take_delta(rs[0])) deltas.push_back(*d);
    // 2. Shuffle and duplicate them.
    std::vector<T> shuffled = deltas;
    for (std::size_t k = 0; k < deltas.size(); ++k)
      if (chance(rng, 0.3)) shuffled.push_back(deltas[k]);
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    // 3. Deltas (and the source's old state, at a random point) into the target.
    T full = rs[1];
    full.merge(rs[0]);
    T by_deltas = rs[1];
    const std::size_t old_at = pick(rng, shuffled.size() + 1);
    for (std::size_t k = 0; k <= shuffled.size(); ++k) {
      if (k == old_at) by_deltas.merge(source_before);
      if (k < shuffled.size()) by_deltas.merge_delta(shuffled[k]);
    }
    REQUIRE(by_deltas == full);
    // 4. The source's old state plus its deltas is its new state.
    T rebuilt = source_before;
    for (const T& d : shuffled) rebuilt.merge_delta(d);
    REQUIRE(rebuilt == rs[0]);
  }
}

/// Replicas exchanging deltas and states over a lossy channel, then once everything in full,
/// hold equal values. Returns the converged values of the last run.
template <delta_crdt T, class Op>
T check_convergence(Op op, int runs = 60, int steps = 80, std::uint32_t salt = 3) {
  const std::uint32_t seed = seed_for(salt);
  CAPTURE(Catch::rngSeed(), seed);
  std::mt19937 rng(seed);
  T last;
  for (int run = 0; run < runs; ++run) {
    CAPTURE(run);
    std::vector<T> rs(3);
    lossy_channel<T> channel(0.25, 0.15);
    for (int s = 0; s < steps; ++s) {
      const std::size_t i = pick(rng, 3);
      const int what = static_cast<int>(pick(rng, 10));
      if (what < 5) {
        op(rs[i], replicas()[i], rng);
        if (chance(rng, 0.6)) {  // deltas go out now or with a later operation's
          if (auto d = take_delta(rs[i])) {
            for (std::size_t j = 0; j < 3; ++j)
              if (j != i) channel.send(j, *d);
          }
        }
      } else if (what < 9) {
        channel.deliver_one(rs, rng);
      } else {
        channel.send((i + 1 + pick(rng, 2)) % 3, rs[i]);
      }
    }
    channel.drain(rs, rng);
    // The final full exchange: each replica merges the others' states.
    const std::vector<T> snapshot = rs;
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 3; ++j)
        if (i != j) rs[i].merge(snapshot[j]);
    REQUIRE(rs[0] == rs[1]);
    REQUIRE(rs[1] == rs[2]);
    last = rs[0];
  }
  return last;
}

/// Pruning a replica's entries into another keeps the value: the pruning replica's at once,
/// and the others' after they merge the pruned value and clean up (in either order).
template <delta_crdt T, class Op, class Value>
void check_pruning_keeps_value(Op op, Value value, int runs = 100, int steps = 40) {
  const std::uint32_t seed = seed_for(4);
  CAPTURE(Catch::rngSeed(), seed);
  std::mt19937 rng(seed);
  const replica_id& a = replicas()[0];
  const replica_id& removed = replicas()[2];
  for (int run = 0; run < runs; ++run) {
    CAPTURE(run);
    auto rs = random_replicas<T>(rng, op, steps);
    // 1. Everything reaches everyone, then replica 2 leaves.
    for (std::size_t i = 1; i < 3; ++i) rs[0].merge(rs[i]);
    rs[1] = rs[0];
    const auto before = value(rs[0]);
    // 2. Replica 0 prunes it into itself.
    rs[0].prune(removed, a);
    REQUIRE(value(rs[0]) == before);
    REQUIRE_FALSE(rs[0].needs_pruning_from(removed));
    REQUIRE(rs[0].modified_by().count(removed) == 0);
    // 3. Replica 1 merges the pruned value and cleans up, in either order.
    if (chance(rng, 0.5)) {
      rs[1].merge(rs[0]);
      rs[1].pruning_cleanup(removed);
    } else {
      rs[1].pruning_cleanup(removed);
      rs[1].merge(rs[0]);
    }
    REQUIRE(value(rs[1]) == before);
    REQUIRE(rs[1] == rs[0]);
    // 4. Life goes on without replica 2.
    rs[0].reset_delta();
    for (int k = 0; k < 5; ++k) {
      const std::size_t i = pick(rng, 2);
      op(rs[i], replicas()[i], rng);
    }
    rs[0].merge(rs[1]);
    rs[1].merge(rs[0]);
    REQUIRE(rs[0] == rs[1]);
    REQUIRE_FALSE(rs[0].needs_pruning_from(removed));
  }
}

}  // namespace troupe::ddata::testing
