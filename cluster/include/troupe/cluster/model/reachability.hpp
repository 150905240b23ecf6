// reachability: which node's failure detector says what about which other node.
//
// Each observer owns its row of records (observer -> subject: reachable, unreachable or
// terminated) and a version it bumps on every change, so when two gossips disagree the
// row with the higher version is the newer one and wins whole (Akka's `Reachability`).
// With no records every node is reachable, so a healthy cluster carries an empty table.
//
// The aggregated status of a subject is:
// - terminated if any observer says terminated (a quarantined or restarted node);
// - otherwise unreachable if any observer says unreachable;
// - otherwise reachable: a node is reachable again only when every observer agrees.
// A terminated record is final; only removing the node clears it.
//
//   reachability r;
//   r = r.unreachable(a, c);                 // a's detector suspects c
//   r = r.unreachable(b, c);
//   r = r.reachable(a, c);                   // a hears c again...
//   assert(r.status(c) == reachability_status::unreachable);   // ...but b does not
//   r = r.reachable(b, c);
//   assert(r.is_all_reachable());
//
// Pure value type: links only the standard library.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model {

/// What an observer says about a subject.
enum class reachability_status : std::uint8_t {
  reachable,    ///< heartbeats arrive
  unreachable,  ///< the failure detector suspects the subject
  terminated,   ///< the subject is known dead (quarantined, or replaced by a new incarnation)
};

/// "reachable", "unreachable" or "terminated".
std::string_view to_string(reachability_status s) noexcept;

/// One observation, as listed by `reachability::records()` and taken by `restore`.
struct reachability_record {
  unique_address observer;     ///< whose failure detector
  unique_address subject;      ///< about which node
  reachability_status status;  ///< what it says
  std::uint64_t version = 0;   ///< the observer's version when this record was written

  /// Every field equal.
  friend bool operator==(const reachability_record&, const reachability_record&) = default;
};

/// Observations of all observers; operations return new tables.
class reachability {
 public:
  /// The empty table: everyone reachable.
  reachability() = default;

  /// A table from its records and observer versions, for decoders and tests. Records of
  /// one (observer, subject) pair after the first are ignored.
  static reachability restore(const std::vector<reachability_record>& records,
                              std::map<unique_address, std::uint64_t> versions);

  /// `observer` suspects `subject`.
  [[nodiscard]] reachability unreachable(const unique_address& observer,
                                         const unique_address& subject) const;
  /// `observer` hears `subject` again; when its whole row is reachable the row is dropped.
  [[nodiscard]] reachability reachable(const unique_address& observer,
                                       const unique_address& subject) const;
  /// `observer` knows `subject` is dead; final for this pair.
  [[nodiscard]] reachability terminated(const unique_address& observer,
                                        const unique_address& subject) const;

  /// What `observer` says about `subject` (reachable if it has no record).
  reachability_status status(const unique_address& observer, const unique_address& subject) const;
  /// Aggregated status of `subject` (see the file comment).
  reachability_status status(const unique_address& subject) const;

  /// True unless some observer says `subject` is unreachable or terminated.
  bool is_reachable(const unique_address& subject) const;
  /// True if `observer` says `subject` is reachable.
  bool is_reachable(const unique_address& observer, const unique_address& subject) const;
  /// True if no record says unreachable or terminated.
  bool is_all_reachable() const;

  /// Subjects some observer says are unreachable, without the terminated ones.
  std::set<unique_address> all_unreachable() const;
  /// Subjects some observer says are unreachable or terminated.
  std::set<unique_address> all_unreachable_or_terminated() const;
  /// Subjects `observer` says are unreachable (not terminated).
  std::set<unique_address> all_unreachable_from(const unique_address& observer) const;
  /// For each subject some observer says is unreachable: those observers.
  std::map<unique_address, std::set<unique_address>> observers_grouped_by_unreachable() const;
  /// Observers that have at least one record.
  std::set<unique_address> all_observers() const;

  /// Every record, sorted by observer then subject.
  std::vector<reachability_record> records() const;
  /// `observer`'s records, sorted by subject.
  std::vector<reachability_record> records_from(const unique_address& observer) const;
  /// `observer`'s version (0 if it never changed anything).
  std::uint64_t version(const unique_address& observer) const;
  /// Versions by observer.
  const std::map<unique_address, std::uint64_t>& versions() const noexcept { return versions_; }

  /// Combines two tables of concurrent gossips. For each observer in `allowed` the row with
  /// the higher version wins whole (a row is always gossiped complete); on equal versions
  /// the rows are united record by record (the worse status wins a conflict, which a
  /// consistent history never has). Records whose observer or subject is not in `allowed`
  /// are dropped, and so are versions of observers not in `allowed`. For a fixed `allowed`
  /// commutative and associative, and idempotent when every node in the table is allowed.
  [[nodiscard]] reachability merge(const std::set<unique_address>& allowed,
                                   const reachability& other) const;

  /// Without every record and version that mentions one of `nodes` (observer or subject).
  [[nodiscard]] reachability remove(const std::set<unique_address>& nodes) const;
  /// Without the rows and versions of the observers in `nodes`.
  [[nodiscard]] reachability remove_observers(const std::set<unique_address>& nodes) const;

  /// Same rows and versions.
  friend bool operator==(const reachability&, const reachability&) = default;

 private:
  struct entry {
    reachability_status status = reachability_status::reachable;
    std::uint64_t version = 0;
    friend bool operator==(const entry&, const entry&) = default;
  };
  using row = std::map<unique_address, entry>;  // subject -> entry; never empty when stored

  reachability change(const unique_address& observer, const unique_address& subject,
                      reachability_status status) const;

  std::map<unique_address, row> rows_;  // by observer
  std::map<unique_address, std::uint64_t> versions_;
};

/// "a -> c: unreachable (3), ..." one record per entry, in `records()` order.
std::string to_string(const reachability& r);

}  // namespace troupe::cluster::model
