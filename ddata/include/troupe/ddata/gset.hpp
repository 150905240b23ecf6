// gset: a grow-only set (Shapiro et al. 2011, "G-Set"; Akka's `GSet`).
//
//   gset<std::string> s;
//   s.add("a");
//   other.merge(s);                 // union
//
// Elements need a strict weak order (std::set). The delta holds the elements added since
// the last `reset_delta`. Nothing names a replica, so there is nothing to prune.
//
// Pure value type: links only the standard library.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "troupe/ddata/crdt.hpp"

namespace troupe::ddata {

/// A set that only grows.
template <class T>
class gset {
 public:
  /// The empty set.
  gset() = default;
  /// A set of these elements (for decoders and tests).
  explicit gset(std::set<T> elements) : elements_(std::move(elements)) {}

  /// The elements.
  const std::set<T>& elements() const noexcept { return elements_; }
  /// True when `e` is an element.
  bool contains(const T& e) const { return elements_.count(e) > 0; }
  /// The number of elements.
  std::size_t size() const noexcept { return elements_.size(); }
  /// True when there is no element.
  bool empty() const noexcept { return elements_.empty(); }

  /// Adds `e` (recorded in the delta when new).
  void add(T e) {
    if (elements_.count(e) > 0) return;
    delta_.insert(e);
    elements_.insert(std::move(e));
  }

  /// Joins `other` in: union.
  void merge(const gset& other) {
    if (this != &other) elements_.insert(other.elements_.begin(), other.elements_.end());
  }
  /// The elements added since the last `reset_delta`, or nullopt.
  std::optional<gset> delta() const {
    if (delta_.empty()) return std::nullopt;
    return gset(delta_);
  }
  /// Forgets the recorded delta.
  void reset_delta() noexcept { delta_.clear(); }
  /// Joins a delta in (the same as `merge`).
  void merge_delta(const gset& delta) { merge(delta); }

  /// Equal elements (the recorded delta does not count).
  friend bool operator==(const gset& a, const gset& b) { return a.elements_ == b.elements_; }

 private:
  std::set<T> elements_;
  std::set<T> delta_;
};

template <class T>
struct type_name<gset<T>> {
  static std::string get() { return "ddata.gset<" + type_name<T>::get() + ">"; }
};

}  // namespace troupe::ddata
