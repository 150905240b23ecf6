// crdt: what makes a type a replicated value, and how types are named on the wire.
//
// A CRDT (conflict-free replicated data type; Shapiro, Preguiça, Baquero, Zawirski 2011) is
// a value whose `merge` is a join: commutative, associative and idempotent, so replicas that
// have seen the same updates hold equal values whatever the order they saw them in. Any
// copyable, equality-comparable type with `merge(const T&)` joins the family and can be
// stored in a `replicated_data`; a type tag names it in errors and on the wire:
//
//   struct max_register {
//     static constexpr std::string_view type_tag = "shop.max_register";
//     std::int64_t value = 0;
//     void merge(const max_register& o) { value = std::max(value, o.value); }
//     friend bool operator==(const max_register&, const max_register&) = default;
//   };
//   static_assert(troupe::ddata::crdt<max_register>);
//
// Two optional capabilities, detected by concept:
// - `delta_crdt`: the type records what local mutations changed as a delta, itself a value
//   of the same type (delta-state CRDTs: Almeida, Shoker, Baquero 2018), so a replicator can
//   ship the small delta instead of the whole value; `merge_delta(d)` joins one in.
// - `removed_node_pruning`: the type holds per-replica entries and can fold a removed
//   replica's entries into the caller's own (Akka's `RemovedNodePruning`; the rule that
//   keeps values right while replicas do it is in gcounter.hpp).
//
// Pure: standard library only.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>

#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata {

/// A replicated value: copyable, comparable, with a join `merge` (in place).
template <class T>
concept crdt = std::copy_constructible<T> && std::equality_comparable<T> &&
               requires(T& a, const T& b) { a.merge(b); };

/// A CRDT whose local mutations are recorded as a delta of the same type.
template <class T>
concept delta_crdt = crdt<T> && requires(T& a, const T& c, const T& d) {
  { c.delta() } -> std::same_as<std::optional<T>>;
  a.reset_delta();
  a.merge_delta(d);
};

/// A CRDT with per-replica entries that can be pruned when a replica is removed:
/// `prune(removed, self)` at one replica, `pruning_cleanup(removed)` at the others.
template <class T>
concept removed_node_pruning = crdt<T> && requires(T& a, const T& c, const replica_id& r) {
  { c.modified_by() } -> std::same_as<std::set<replica_id>>;
  { c.needs_pruning_from(r) } -> std::same_as<bool>;
  a.prune(r, r);
  a.pruning_cleanup(r);
};

/// The name of `T` in type tags and manifests. Defined for std::string ("string"),
/// integers ("int64", "uint32", "bool", ...), types with a `static constexpr
/// std::string_view type_tag` member, and troupe's CRDTs ("ddata.orset<string>").
/// Specialize it for other element types.
template <class T>
struct type_name;

template <>
struct type_name<std::string> {
  static std::string get() { return "string"; }
};

template <std::integral T>
struct type_name<T> {
  static std::string get() {
    if constexpr (std::is_same_v<T, bool>) {
      return "bool";
    } else {
      return std::string(std::is_signed_v<T> ? "int" : "uint") + std::to_string(sizeof(T) * 8);
    }
  }
};

template <class T>
  requires requires { T::type_tag; }
struct type_name<T> {
  static std::string get() { return std::string(T::type_tag); }
};

/// `type_name<T>::get()`, computed once.
template <class T>
const std::string& type_tag() {
  static const std::string tag = type_name<T>::get();
  return tag;
}

}  // namespace troupe::ddata
