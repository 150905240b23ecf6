// orset: an observed-remove set where a concurrent add wins over a remove.
//
// Each add tags the element with a fresh dot of the adding replica; a remove forgets the
// dots this replica has observed. When two replicas meet, an element survives when one of
// them holds a dot of it the other has not seen: a remove only cancels the adds it saw, so a
// concurrent add wins (Shapiro et al. 2011, "OR-Set"; Bieniusa et al. 2012, the optimized
// OR-Set without tombstones; Akka's `ORSet`). Built on `dot_kernel` (see there).
//
//   orset<std::string> s;
//   s.add(a, "x");
//   auto t = s;                     // a second replica's copy
//   s.remove("x");                  // removes the add it observed
//   t.add(b, "x");                  // concurrently, a new add at b
//   s.merge(t);                     // "x" is in: b's add was not observed by the remove
//
// Deltas: an add's delta is the element with its new dot (and the dots it superseded); a
// remove's delta is the removed dots, in the context only. They may be merged in any order
// and more than once (the context keeps a dot cloud; Akka needs them in causal order).
//
// Pruning: elements added by `removed` are added again by `into`, and the context forgets
// `removed` (see gcounter.hpp for the rule around it).
//
// Pure value type: links only the standard library.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>

#include "troupe/ddata/crdt.hpp"
#include "troupe/ddata/dot_kernel.hpp"
#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata {

/// An add-wins observed-remove set.
template <class T>
class orset {
 public:
  /// The dotted elements and the context.
  using kernel_type = dot_kernel<T, std::monostate>;

  /// The empty set.
  orset() = default;
  /// A set with this kernel (for decoders and tests).
  explicit orset(kernel_type kernel) : kernel_(std::move(kernel)) {}

  /// True when `e` is an element.
  bool contains(const T& e) const { return kernel_.find(e) != nullptr; }
  /// The elements.
  std::set<T> elements() const {
    std::set<T> out;
    for (const auto& [e, ds] : kernel_.entries()) out.insert(out.end(), e);
    return out;
  }
  /// The number of elements.
  std::size_t size() const noexcept { return kernel_.entries().size(); }
  /// True when there is no element.
  bool empty() const noexcept { return kernel_.entries().empty(); }
  /// The dotted elements and the context (for codecs).
  const kernel_type& kernel() const noexcept { return kernel_; }

  /// Adds `e` at `replica` (a fresh dot, even when `e` is in already).
  void add(const replica_id& replica, const T& e) { accumulate(delta_, kernel_.put(e, replica, {})); }
  /// Removes `e` (the adds observed so far); nothing when absent.
  void remove(const T& e) {
    if (contains(e)) accumulate(delta_, kernel_.remove(e));
  }
  /// Removes every element.
  void clear() {
    if (!empty()) accumulate(delta_, kernel_.clear());
  }

  /// Joins `other` in.
  void merge(const orset& other) { kernel_.merge(other.kernel_); }
  /// The changes since the last `reset_delta`, or nullopt.
  std::optional<orset> delta() const {
    if (!delta_) return std::nullopt;
    return orset(*delta_);
  }
  /// Forgets the recorded delta.
  void reset_delta() noexcept { delta_.reset(); }
  /// Joins a delta in (the same as `merge`).
  void merge_delta(const orset& delta) { merge(delta); }

  /// Replicas with a dot in the context.
  std::set<replica_id> modified_by() const { return kernel_.modified_by(); }
  /// True when the context holds a dot of `replica`.
  bool needs_pruning_from(const replica_id& replica) const { return kernel_.needs_pruning_from(replica); }
  /// Adds `removed`'s elements again as `into`, and forgets `removed`'s dots.
  void prune(const replica_id& removed, const replica_id& into) {
    if (removed != into) accumulate(delta_, kernel_.prune(removed, into));
  }
  /// Forgets `removed`'s dots (elements only it added vanish).
  void pruning_cleanup(const replica_id& removed) { kernel_.pruning_cleanup(removed); }

  /// Equal dotted elements and contexts (the recorded delta does not count).
  friend bool operator==(const orset& a, const orset& b) { return a.kernel_ == b.kernel_; }

 private:
  kernel_type kernel_;
  std::optional<kernel_type> delta_;
};

template <class T>
struct type_name<orset<T>> {
  static std::string get() { return "ddata.orset<" + type_name<T>::get() + ">"; }
};

}  // namespace troupe::ddata
