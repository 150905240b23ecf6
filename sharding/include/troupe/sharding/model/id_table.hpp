// Records by slot, and an index from an id (a string) to its slot: the region core's entity
// records and the front door's entries are kept in one.
//
// The index is open addressing over 8-byte buckets (the id's hash and the slot): a lookup
// reads one bucket and the record only when the hash matches, where a node-based map chases
// a pointer per probe, and growing it rehashes from the buckets alone. At a million
// entities the lookups of the activation path were a fifth of its time in a node-based map.
//
// `Record` is default-constructible and has `std::string id`, `std::uint32_t slot` and
// `bool in_use`; records live in a deque, so they never move, and a removed record is reset
// to `Record{}` and its slot reused by the next `add`. Not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <string_view>
#include <vector>

namespace troupe::sharding::model {

template <class Record>
class id_table {
 public:
  Record* find(std::string_view id) noexcept {
    if (buckets_.empty()) return nullptr;
    const std::uint32_t h = hash(id);
    const std::size_t mask = buckets_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const bucket& b = buckets_[i];
      if (b.slot == empty) return nullptr;
      if (b.slot != tombstone && b.hash == h && records_[b.slot].id == id) return &records_[b.slot];
    }
  }
  const Record* find(std::string_view id) const noexcept { return const_cast<id_table*>(this)->find(id); }

  /// A new record for `id` (not present), in a free slot.
  Record& add(std::string_view id) {
    if ((used_ + 1) * 4 > buckets_.size() * 3) grow();  // load <= 0.75, tombstones included
    std::uint32_t slot;
    if (free_.empty()) {
      slot = static_cast<std::uint32_t>(records_.size());
      records_.emplace_back();
    } else {
      slot = free_.back();
      free_.pop_back();
    }
    Record& r = records_[slot];
    r.id.assign(id);
    r.slot = slot;
    r.in_use = true;
    const std::uint32_t h = hash(id);
    const std::size_t mask = buckets_.size() - 1;
    std::size_t i = h & mask;
    while (buckets_[i].slot != empty && buckets_[i].slot != tombstone) i = (i + 1) & mask;
    if (buckets_[i].slot == empty) ++used_;
    buckets_[i] = {h, slot};
    ++size_;
    return r;
  }

  /// Frees the record (its slot may be reused by the next `add`).
  void remove(Record& r) {
    const std::uint32_t h = hash(r.id);
    const std::size_t mask = buckets_.size() - 1;
    for (std::size_t i = h & mask; buckets_[i].slot != empty; i = (i + 1) & mask) {
      if (buckets_[i].slot == r.slot) {
        buckets_[i].slot = tombstone;
        break;
      }
    }
    --size_;
    free_.push_back(r.slot);
    r = Record{};
  }

  /// Every record freed, and the memory of records and index with them.
  void clear() {
    records_.clear();
    free_.clear();
    buckets_.clear();
    size_ = 0;
    used_ = 0;
  }

  /// The record in `slot`, if in use.
  Record* at(std::uint32_t slot) noexcept {
    return slot < records_.size() && records_[slot].in_use ? &records_[slot] : nullptr;
  }
  const Record* at(std::uint32_t slot) const noexcept { return const_cast<id_table*>(this)->at(slot); }

  std::size_t size() const noexcept { return size_; }

  /// The records in use, in slot order.
  std::vector<Record*> all() {
    std::vector<Record*> out;
    out.reserve(size_);
    for (auto& r : records_)
      if (r.in_use) out.push_back(&r);
    return out;
  }
  template <class F>
  void for_each(F&& f) {
    for (auto& r : records_)
      if (r.in_use) f(r);
  }
  template <class F>
  void for_each(F&& f) const {
    for (const auto& r : records_)
      if (r.in_use) f(r);
  }

 private:
  struct bucket {
    std::uint32_t hash = 0;
    std::uint32_t slot = empty;
  };
  static constexpr std::uint32_t empty = ~std::uint32_t{0};
  static constexpr std::uint32_t tombstone = empty - 1;

  static std::uint32_t hash(std::string_view id) noexcept {
    const std::size_t h = std::hash<std::string_view>{}(id);
    return static_cast<std::uint32_t>(h ^ (h >> 32));
  }

  void grow() {
    std::size_t cap = std::max<std::size_t>(16, buckets_.size());
    while ((size_ + 1) * 2 > cap) cap *= 2;  // at most half full after growing
    std::vector<bucket> old(cap);
    old.swap(buckets_);
    const std::size_t mask = cap - 1;
    for (const bucket& b : old) {
      if (b.slot == empty || b.slot == tombstone) continue;
      std::size_t i = b.hash & mask;
      while (buckets_[i].slot != empty) i = (i + 1) & mask;
      buckets_[i] = b;
    }
    used_ = size_;
  }

  std::deque<Record> records_;  ///< by slot
  std::vector<std::uint32_t> free_;
  std::vector<bucket> buckets_;
  std::size_t size_ = 0;
  std::size_t used_ = 0;  ///< buckets not empty (size + tombstones)
};

}  // namespace troupe::sharding::model
