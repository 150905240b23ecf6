// replicated_data: any CRDT value, with its type, for a replicator to store per key.
//
// The replicator keeps one `replicated_data` per key and merges what peers send into it.
// Values of different types never merge: that is an error value naming both types, so a
// key created as a counter cannot be overwritten with a set by a bad update or a confused
// peer. The empty holder is the bottom of every type: merging into it adopts the other value.
//
//   replicated_data stored{gcounter{}};
//   gcounter c;
//   c.increment(self, 1);
//   if (auto s = stored.merge(replicated_data{c}); !s) log(s.error().message);
//   stored.get_if<gcounter>()->value();                        // 1
//   stored.merge(replicated_data{orset<std::string>{}});       // error: type_mismatch
//
// Deltas and pruning reach the value when its type supports them (`delta_crdt`,
// `removed_node_pruning`); otherwise `delta()` is nullopt (ship the whole value) and
// pruning does nothing.
//
// Pure: links only the standard library.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "troupe/ddata/crdt.hpp"
#include "troupe/ddata/error.hpp"
#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata {

namespace detail {

/// One address per type: identifies `T` without RTTI.
template <class T>
inline constexpr char type_key = 0;

struct data_holder {
  virtual ~data_holder() = default;
  virtual std::unique_ptr<data_holder> clone() const = 0;
  virtual const void* key() const noexcept = 0;
  virtual const std::string& tag() const = 0;
  virtual void merge(const data_holder& other) = 0;
  virtual void merge_delta(const data_holder& delta) = 0;
  virtual std::unique_ptr<data_holder> delta() const = 0;
  virtual void reset_delta() = 0;
  virtual bool equals(const data_holder& other) const = 0;
  virtual std::set<replica_id> modified_by() const = 0;
  virtual bool needs_pruning_from(const replica_id& r) const = 0;
  virtual void prune(const replica_id& removed, const replica_id& into) = 0;
  virtual void pruning_cleanup(const replica_id& removed) = 0;
};

template <crdt T>
struct data_holder_of final : data_holder {
  explicit data_holder_of(T v) : value(std::move(v)) {}
  std::unique_ptr<data_holder> clone() const override { return std::make_unique<data_holder_of>(value); }
  const void* key() const noexcept override { return &type_key<T>; }
  const std::string& tag() const override { return type_tag<T>(); }
  // The callers (replicated_data) check that `other` holds a T.
  static const T& of(const data_holder& other) { return static_cast<const data_holder_of&>(other).value; }
  void merge(const data_holder& other) override { value.merge(of(other)); }
  void merge_delta(const data_holder& delta) override {
    if constexpr (delta_crdt<T>) {
      value.merge_delta(of(delta));
    } else {
      value.merge(of(delta));
    }
  }
  std::unique_ptr<data_holder> delta() const override {
    if constexpr (delta_crdt<T>) {
      if (auto d = value.delta()) return std::make_unique<data_holder_of>(std::move(*d));
    }
    return nullptr;
  }
  void reset_delta() override {
    if constexpr (delta_crdt<T>) value.reset_delta();
  }
  bool equals(const data_holder& other) const override { return value == of(other); }
  std::set<replica_id> modified_by() const override {
    if constexpr (removed_node_pruning<T>) return value.modified_by();
    return {};
  }
  bool needs_pruning_from(const replica_id& r) const override {
    if constexpr (removed_node_pruning<T>) return value.needs_pruning_from(r);
    return false;
  }
  void prune(const replica_id& removed, const replica_id& into) override {
    if constexpr (removed_node_pruning<T>) value.prune(removed, into);
  }
  void pruning_cleanup(const replica_id& removed) override {
    if constexpr (removed_node_pruning<T>) value.pruning_cleanup(removed);
  }

  T value;
};

}  // namespace detail

/// A CRDT value of any type, or nothing; copies are deep (value semantics).
class replicated_data {
 public:
  /// Holds nothing.
  replicated_data() = default;
  /// Holds `value`.
  template <crdt T>
  explicit replicated_data(T value) : holder_(std::make_unique<detail::data_holder_of<T>>(std::move(value))) {}

  replicated_data(const replicated_data& other) : holder_(other.holder_ ? other.holder_->clone() : nullptr) {}
  replicated_data& operator=(const replicated_data& other) {
    if (this != &other) holder_ = other.holder_ ? other.holder_->clone() : nullptr;
    return *this;
  }
  replicated_data(replicated_data&&) noexcept = default;
  replicated_data& operator=(replicated_data&&) noexcept = default;
  ~replicated_data() = default;

  /// True when nothing is held.
  bool empty() const noexcept { return holder_ == nullptr; }
  /// The held type's tag ("ddata.gcounter"), or "" when empty.
  std::string_view type_tag() const { return holder_ ? std::string_view(holder_->tag()) : std::string_view(); }
  /// True when a `T` is held.
  template <crdt T>
  bool holds() const noexcept {
    return holder_ && holder_->key() == &detail::type_key<T>;
  }
  /// The held `T`, or nullptr when empty or of another type.
  template <crdt T>
  const T* get_if() const noexcept {
    return holds<T>() ? &static_cast<const detail::data_holder_of<T>&>(*holder_).value : nullptr;
  }
  /// The held `T`, or nullptr when empty or of another type.
  template <crdt T>
  T* get_if() noexcept {
    return holds<T>() ? &static_cast<detail::data_holder_of<T>&>(*holder_).value : nullptr;
  }

  /// Joins `other` in. Adopts it when this is empty; nothing when it is empty; a
  /// `type_mismatch` error (and no change) when the types differ.
  [[nodiscard]] status merge(const replicated_data& other);
  /// Joins a delta in, with the same rules as `merge`.
  [[nodiscard]] status merge_delta(const replicated_data& delta);
  /// The value's delta since its last `reset_delta`, or nullopt (empty, no change, or a type
  /// without deltas: ship the whole value then).
  std::optional<replicated_data> delta() const;
  /// Forgets the value's recorded delta.
  void reset_delta();

  /// Replicas the value holds entries of (none for types without pruning).
  std::set<replica_id> modified_by() const;
  /// True when the value holds entries of `replica`.
  bool needs_pruning_from(const replica_id& replica) const;
  /// Folds `removed`'s entries into `into`'s (see the value type).
  void prune(const replica_id& removed, const replica_id& into);
  /// Drops `removed`'s entries.
  void pruning_cleanup(const replica_id& removed);

  /// Both empty, or the same type and equal values.
  friend bool operator==(const replicated_data& a, const replicated_data& b);

 private:
  explicit replicated_data(std::unique_ptr<detail::data_holder> h) noexcept : holder_(std::move(h)) {}
  status check_same_type(const replicated_data& other, const char* what) const;

  std::unique_ptr<detail::data_holder> holder_;
};

}  // namespace troupe::ddata
