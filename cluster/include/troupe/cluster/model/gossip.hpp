// gossip: one node's view of the cluster, the value nodes exchange.
//
// A gossip holds the members (sorted by unique address), an overview (who has seen this
// version, and the reachability table), its version (a vector clock), and tombstones:
// nodes removed from the cluster with the time of removal, so that merging with a stale
// gossip cannot bring them back (Akka's `Gossip`). Every operation returns a new gossip.
//
// When two nodes exchange gossip, `compare` says which is newer; concurrent gossips are
// combined with `merge`, which is commutative, associative and idempotent (up to the seen
// set, which a merge clears: nobody has seen the merged version yet).
//
//   gossip g{{member{a}, member{b}}};                  // both joining
//   g = g.increment(a).only_seen(a);                   // a changed it and has seen it
//   gossip h = g.update({*g.member(b).copy_up(1)}).increment(b);
//   assert(compare(g, h) == gossip_ordering::older);
//   gossip k = g.mark_as_down(b).increment(a);         // concurrent with h
//   assert(merge(h, k).member(b).status() == member_status::down);   // down wins
//   gossip r = merge(h, k).remove(b, now);             // tombstone keeps b out
//   assert(!merge(r, h).has_member(b));
//
// Gossips are cheap to copy and derive: the members live in a `member_list` of shared
// immutable members, so a seen mark or a new version shares every member, a status change
// makes one new member, and a merge whose members all come from one side takes that side's
// list whole. The seen set is a bit per member. Ten thousand nodes each holding a view of
// ten thousand members then cost ~10^4 x (16 + 1/8) bytes each, not 10^4 x ~300.
//
// Times (tombstones) are `std::chrono::nanoseconds` since an epoch every node shares
// (the wall clock's for real nodes, the simulator's clock in tests); they only need to be
// comparable well enough to prune tombstones after a long while (Akka: 24 h).
//
// Pure value type: links only the standard library.
#pragma once

#include <chrono>
#include <cstdint>
#include <compare>
#include <cstddef>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/reachability.hpp"
#include "troupe/cluster/model/unique_address.hpp"
#include "troupe/cluster/model/vector_clock.hpp"

namespace troupe::cluster::model {

/// Who has seen a gossip version, and who can reach whom: the parts a decoder or a test
/// gives to `gossip`'s constructor (the gossip keeps the seen set more compactly).
struct gossip_overview {
  std::set<unique_address> seen;      ///< members that have seen this exact version
  model::reachability reachability;  ///< failure detector observations

  /// Same seen set and reachability.
  friend bool operator==(const gossip_overview&, const gossip_overview&) = default;
};

/// How one gossip relates to another, by version (see `compare`).
enum class gossip_ordering : std::uint8_t {
  older,       ///< the first is an ancestor of the second: take the second
  newer,       ///< the first descends from the second: keep the first
  same,        ///< same version
  concurrent,  ///< diverged: merge them
};

/// "older", "newer", "same" or "concurrent".
std::string_view to_string(gossip_ordering o) noexcept;

/// What a node sends instead of its whole gossip when it only wants to compare (Akka's
/// `GossipStatus`): the version and a hash of the seen set.
struct gossip_digest {
  vector_clock version;          ///< the gossip's version
  std::uint64_t seen_digest = 0;  ///< stable hash of the seen set

  /// Same version and seen hash.
  friend bool operator==(const gossip_digest&, const gossip_digest&) = default;
};

/// The members of a gossip, sorted by unique address: an immutable list whose members
/// are shared between the gossips derived from one another (structural sharing). Copying
/// a list copies one pointer; a gossip operation that changes members builds a new list
/// of pointers and makes new `member` values only for the members it changes, so ten
/// thousand nodes holding ten thousand views share the member values instead of holding
/// 10^8 copies. Reads like a `const std::vector<member>`.
class member_list {
 public:
  /// A member and its vector clock node id (computed once, for seen digests).
  struct entry {
    model::member value;          ///< the member
    vector_clock::node_id id = 0;  ///< `vector_clock::node_of(value.unique_address())`
  };
  /// Shared immutable member.
  using member_ptr = std::shared_ptr<const entry>;
  /// A new shared member.
  static member_ptr make(model::member m);

  /// Random-access iterator over the members (dereferences to `const member&`).
  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using iterator_concept = std::random_access_iterator_tag;
    using value_type = model::member;
    using difference_type = std::ptrdiff_t;
    using pointer = const model::member*;
    using reference = const model::member&;

    /// A singular iterator.
    const_iterator() = default;
    /// The member `it` points to.
    explicit const_iterator(std::vector<member_ptr>::const_iterator it) : it_(it) {}
    /// The usual random-access operations, yielding `const member&`.
    reference operator*() const { return (*it_)->value; }
    pointer operator->() const { return &(*it_)->value; }
    reference operator[](difference_type n) const { return it_[n]->value; }
    const_iterator& operator++() { ++it_; return *this; }
    const_iterator operator++(int) { auto t = *this; ++it_; return t; }
    const_iterator& operator--() { --it_; return *this; }
    const_iterator operator--(int) { auto t = *this; --it_; return t; }
    const_iterator& operator+=(difference_type n) { it_ += n; return *this; }
    const_iterator& operator-=(difference_type n) { it_ -= n; return *this; }
    friend const_iterator operator+(const_iterator a, difference_type n) { return a += n; }
    friend const_iterator operator+(difference_type n, const_iterator a) { return a += n; }
    friend const_iterator operator-(const_iterator a, difference_type n) { return a -= n; }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) { return a.it_ - b.it_; }
    friend bool operator==(const const_iterator&, const const_iterator&) = default;
    friend auto operator<=>(const const_iterator&, const const_iterator&) = default;

   private:
    std::vector<member_ptr>::const_iterator it_;
  };

  /// No members.
  member_list() = default;
  /// These members, which must be sorted by unique address and unique.
  explicit member_list(const std::vector<model::member>& sorted);
  /// These shared members, which must be sorted by unique address and unique.
  explicit member_list(std::vector<member_ptr> sorted);

  /// First member.
  const_iterator begin() const { return const_iterator{items().begin()}; }
  /// Past the last member.
  const_iterator end() const { return const_iterator{items().end()}; }
  /// Number of members.
  std::size_t size() const noexcept { return items_ ? items_->size() : 0; }
  /// True if there are none.
  bool empty() const noexcept { return size() == 0; }
  /// The `i`-th member in address order.
  const model::member& operator[](std::size_t i) const { return items()[i]->value; }
  /// The first member (not empty).
  const model::member& front() const { return items().front()->value; }
  /// The last member (not empty).
  const model::member& back() const { return items().back()->value; }

  /// The shared members, in order.
  const std::vector<member_ptr>& items() const noexcept;
  /// Position of `node`, or nullopt (binary search).
  std::optional<std::size_t> index_of(const unique_address& node) const;
  /// True if both lists are one shared object (then they are equal).
  bool shares_items_with(const member_list& other) const noexcept {
    return items_ == other.items_;
  }
  /// A copy of the members.
  std::vector<model::member> to_vector() const;

  /// Same members in the same order.
  friend bool operator==(const member_list& a, const member_list& b);

 private:
  std::shared_ptr<const std::vector<member_ptr>> items_;
};

/// One node's view of the cluster.
class gossip {
 public:
  /// Removal time of a tombstone (see the file comment).
  using time = std::chrono::nanoseconds;

  /// The empty gossip of a node that has not joined anything.
  gossip() = default;

  /// A gossip with these members, empty overview, version and tombstones. Members are
  /// sorted; of several with one unique address, `highest_priority_of` is kept.
  explicit gossip(std::vector<model::member> members);

  /// A gossip from all its parts, for decoders and tests; members as in the constructor
  /// above. Check the result with `invariant_violation` when the parts come from outside.
  gossip(std::vector<model::member> members, gossip_overview overview, vector_clock version,
         std::map<unique_address, time> tombstones);
  /// The same, with the members of another gossip (shared, not copied).
  gossip(member_list members, gossip_overview overview, vector_clock version,
         std::map<unique_address, time> tombstones);

  /// Members sorted by unique address (`member_ordering`); never status `removed`.
  const member_list& members() const noexcept { return members_; }
  /// Seen set and reachability, as given to the constructor.
  gossip_overview overview() const { return {seen_by(), reachability_}; }
  /// Nodes that have seen this version (a copy: O(n log n); prefer `has_seen`,
  /// `seen_count` and `seen_bits` in loops).
  std::set<unique_address> seen_by() const;
  /// How many nodes have seen this version.
  std::size_t seen_count() const noexcept { return seen_count_ + stray_seen_.size(); }
  /// The seen set over the members: bit i of word i / 64 is set when `members()[i]` has
  /// seen this version. Words past the members' count are zero.
  const std::vector<std::uint64_t>& seen_bits() const noexcept { return seen_; }
  /// Failure detector observations.
  const model::reachability& reachability() const noexcept { return reachability_; }
  /// Version of this gossip.
  const vector_clock& version() const noexcept { return version_; }
  /// Removed nodes and when they were removed.
  const std::map<unique_address, time>& tombstones() const noexcept { return tombstones_; }

  /// The member `node`, or nullptr if it is not a member.
  const model::member* find(const unique_address& node) const;
  /// The member `node`, or `member::removed_placeholder(node)` if it is not a member
  /// (Akka's convention: an unknown node looks removed).
  model::member member(const unique_address& node) const;
  /// The member listening at `where` (any incarnation), or nullptr.
  const model::member* find_by_address(const model::address& where) const;
  /// True if `node` is a member.
  bool has_member(const unique_address& node) const { return find(node) != nullptr; }
  /// True if there is exactly one member.
  bool is_singleton_cluster() const noexcept { return members_.size() == 1; }
  /// Union of all members' roles.
  std::set<std::string> all_roles() const;
  /// True if `to` is a member and `from`'s detector says it is reachable.
  bool is_reachable(const unique_address& from, const unique_address& to) const;
  /// The reachability table without the observations of downed members.
  model::reachability reachability_excluding_downed_observers() const;

  /// This gossip with `node`'s counter bumped: `node` changed it.
  [[nodiscard]] gossip increment(const unique_address& node) const;
  /// This gossip with `changed` members replacing those with the same unique address and
  /// the others added. Statuses are taken as given: check moves with `copy_with_status`.
  [[nodiscard]] gossip update(const std::vector<model::member>& changed) const;
  /// This gossip with another reachability table.
  [[nodiscard]] gossip with_reachability(model::reachability r) const;

  /// Marked as seen by `node` too.
  [[nodiscard]] gossip seen(const unique_address& node) const;
  /// Marked as seen by `node` only (after `node` changed it).
  [[nodiscard]] gossip only_seen(const unique_address& node) const;
  /// Seen by nobody.
  [[nodiscard]] gossip clear_seen() const;
  /// Seen by those who saw this or `other` (for two gossips of the same version).
  [[nodiscard]] gossip merge_seen(const gossip& other) const;
  /// True if `node` has seen this version.
  bool has_seen(const unique_address& node) const;

  /// `node` moved to `down` and dropped from the seen set; unchanged if `node` is not a
  /// member or is already down.
  [[nodiscard]] gossip mark_as_down(const unique_address& node) const;
  /// `node` removed from the members, the seen set, the reachability table and the
  /// version, with a tombstone at `removal_time`.
  [[nodiscard]] gossip remove(const unique_address& node, time removal_time) const;
  /// `remove` for each of `nodes`.
  [[nodiscard]] gossip remove_all(const std::set<unique_address>& nodes, time removal_time) const;
  /// The version without `node`'s counter.
  [[nodiscard]] gossip prune(vector_clock::node_id node) const;
  /// Without the tombstones of nodes removed before `older_than`.
  [[nodiscard]] gossip prune_tombstones(time older_than) const;

  /// Version and seen hash, to compare with a peer without sending the whole gossip.
  gossip_digest digest() const;

  /// What is wrong with this gossip, or nullopt: members in order and unique, none
  /// removed or tombstoned; seen set, reachability observers, subjects and versions all
  /// members; no version counter of a tombstoned node.
  std::optional<std::string> invariant_violation() const;
  /// The same, taking the members as already checked (in order, unique, none removed) when
  /// they are the very list `checked` (`member_list::shares_items_with`): a node that has
  /// checked one list skips that part for every gossip sharing it. Tombstoned members,
  /// the seen set, reachability and versions are still checked.
  std::optional<std::string> invariant_violation(const member_list& checked) const;

  /// Every part equal.
  friend bool operator==(const gossip& a, const gossip& b);

 private:
  void set_seen_from(const std::set<unique_address>& seen);
  void remap_seen(const member_list& before);
  void set_seen_bit(std::size_t i);
  void clear_seen_bit(std::size_t i);

  member_list members_;
  std::vector<std::uint64_t> seen_;       // bit per member of members_
  std::size_t seen_count_ = 0;            // bits set in seen_
  std::vector<unique_address> stray_seen_;  // seen marks of non-members (invalid gossips only), sorted
  model::reachability reachability_;
  vector_clock version_;
  std::map<unique_address, time> tombstones_;
};

/// Combines two concurrent gossips: versions merged, the furthest status of each member
/// kept, tombstoned nodes dropped everywhere, reachability merged over the surviving
/// members, seen set cleared. Over valid gossips (no `invariant_violation`) it is
/// commutative and associative, its result is valid, and `merge(g, g)` is `g` with its
/// seen set cleared.
gossip merge(const gossip& a, const gossip& b);

/// How `a` relates to `b` by version: `older` if `a` is an ancestor of `b`.
gossip_ordering compare(const gossip& a, const gossip& b);

/// How the gossip behind digest `a` relates to that behind `b`. Equal versions with
/// different seen sets count as `concurrent`: each side knows a seen mark the other lacks,
/// so they should exchange full gossip (as Akka does).
gossip_ordering compare(const gossip_digest& a, const gossip_digest& b);

/// Multi-line description: members, seen set, reachability, version, tombstones.
std::string to_string(const gossip& g);

}  // namespace troupe::cluster::model
