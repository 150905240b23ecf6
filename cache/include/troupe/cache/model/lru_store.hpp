// lru_store: one bucket's keys, bounded in bytes, least recently used evicted first, with
// per-key time to live. Pure: it reads no clock (every operation that can see an expiry
// takes `now`), logs nothing and does no I/O, so the unit tests drive it with made-up times.
//
//   troupe::cache::model::lru_store s(4096);                    // bytes, entry_cost counted
//   auto r = s.put("k", "v", std::chrono::seconds(30), now);    // r.status == put_status::stored
//   const std::string* v = s.get("k", now);                     // "v"; now the most recent
//   s.expire(now + std::chrono::minutes(1));                    // {"k"}: dropped
//
// The cost of an entry is its key and value bytes plus `entry_overhead` (the list node,
// the index slot and the strings' headers, roughly), so that many tiny entries are bounded
// too. A put makes room by dropping expired entries first, then the least recently used.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace troupe::cache::model {

/// The time a store is told; only differences between two of them matter.
using time_point = std::chrono::steady_clock::time_point;

/// Bytes counted per entry beyond its key and value.
inline constexpr std::size_t entry_overhead = 64;

/// The bytes an entry of `key` and `value` costs.
constexpr std::size_t entry_cost(std::string_view key, std::string_view value) noexcept {
  return key.size() + value.size() + entry_overhead;
}

/// What a put did.
enum class put_status {
  stored,     ///< a new key
  replaced,   ///< the key held a value (expired or not), now the new one
  too_large,  ///< the entry costs more than the whole capacity; the key's old value is gone
  empty_key,  ///< refused: keys are not empty
  bad_ttl,    ///< refused: a time to live is > 0
};

/// `put_status` as text ("stored", "too_large", ...).
const char* to_string(put_status s) noexcept;

/// One live entry as `lru_store::entries` lists it: its time to live is what remains of it
/// (nullopt: never expires), so that a store on another node can hold it from its own now.
struct entry_copy {
  std::string key;
  std::string value;
  std::optional<std::chrono::nanoseconds> ttl;
};

/// The answer of `lru_store::put`.
struct put_outcome {
  put_status status = put_status::stored;
  std::vector<std::string> expired;  ///< expired keys dropped to make room
  std::vector<std::string> evicted;  ///< live keys evicted to make room, least recent first
  /// True when the value is in the store.
  bool ok() const noexcept { return status == put_status::stored || status == put_status::replaced; }
};

class lru_store {
 public:
  /// An empty store holding at most `capacity_bytes` (by `entry_cost`).
  explicit lru_store(std::size_t capacity_bytes) : capacity_(capacity_bytes) {}
  lru_store(const lru_store&) = delete;
  lru_store& operator=(const lru_store&) = delete;

  /// Stores `value` under `key`, the most recently used, expiring at `now + ttl` (never when
  /// `ttl` is nullopt). A value that does not fit even in an empty store is refused
  /// (`too_large`) and the key's old value removed, so that no stale value outlives a
  /// failed write; an empty key or a ttl <= 0 is refused and changes nothing.
  put_outcome put(std::string key, std::string value, std::optional<std::chrono::nanoseconds> ttl, time_point now);
  /// The value of `key`, made the most recently used; nullptr when absent or expired at
  /// `now` (an expired entry is dropped here). Valid until the next non-const call.
  const std::string* get(const std::string& key, time_point now);
  /// True when `key` holds a value not expired at `now`; does not touch the recency order.
  bool contains(const std::string& key, time_point now) const;
  /// Removes `key`; false when it held nothing.
  bool remove(const std::string& key);
  /// Drops every entry expired at `now` (a periodic sweep); the keys dropped. It walks the
  /// whole store: buckets are small, and a sweep runs once per `sweep-interval-ms`.
  std::vector<std::string> expire(time_point now);
  /// Sets the capacity, evicting the least recently used until the store fits; the keys
  /// evicted, least recent first.
  std::vector<std::string> resize(std::size_t capacity_bytes);

  /// Drops every entry.
  void clear();
  /// Every entry not expired at `now`, from the least to the most recently used: putting
  /// them into an empty store in this order (with the same now) gives the same recency order.
  std::vector<entry_copy> entries(time_point now) const;

  /// Bytes held (sum of `entry_cost`).
  std::size_t bytes() const noexcept { return bytes_; }
  /// Entries held, expired ones not yet dropped included.
  std::size_t size() const noexcept { return index_.size(); }
  /// The capacity in bytes.
  std::size_t capacity() const noexcept { return capacity_; }
  /// Keys from the most to the least recently used.
  std::vector<std::string> keys_by_recency() const;

 private:
  struct entry {
    std::string key;
    std::string value;
    std::optional<time_point> expires;
  };
  using list = std::list<entry>;
  static bool expired_at(const entry& e, time_point now) noexcept { return e.expires && *e.expires <= now; }
  void erase(list::iterator it);

  std::size_t capacity_;
  std::size_t bytes_ = 0;
  list order_;  // front: the most recently used
  std::unordered_map<std::string_view, list::iterator> index_;  // views into order_'s keys
};

}  // namespace troupe::cache::model
