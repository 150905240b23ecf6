// replica_wire: a store's entries as the replica messages carry them, and back. A time to
// live crosses the network as what remains of it in whole milliseconds (rounded up, so a
// live entry never arrives with none), and each node counts it from its own clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "troupe/cache/model/lru_store.hpp"
#include "troupe/cache/protocol.hpp"

namespace troupe::cache::detail {

/// `e` for the wire.
inline replica_entry to_wire(model::entry_copy e) {
  std::int64_t ttl_ms = 0;
  if (e.ttl) ttl_ms = std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::milliseconds>(*e.ttl).count());
  return replica_entry{std::move(e.key), std::move(e.value), ttl_ms};
}

/// `e` from the wire.
inline model::entry_copy from_wire(replica_entry e) {
  std::optional<std::chrono::nanoseconds> ttl;
  if (e.ttl_ms > 0) ttl = std::chrono::milliseconds(e.ttl_ms);
  return model::entry_copy{std::move(e.key), std::move(e.value), ttl};
}

/// `entries` in order, split into parts of at most `replica_part_bytes` (a larger entry
/// alone in its part), leaving out those above `replica_max_entry_bytes`; always at least
/// one part, which may be empty.
inline std::vector<std::vector<replica_entry>> split_parts(std::vector<model::entry_copy> entries) {
  std::vector<std::vector<replica_entry>> parts(1);
  std::size_t bytes = 0;
  for (auto& e : entries) {
    const std::size_t cost = model::entry_cost(e.key, e.value);
    if (cost > replica_max_entry_bytes) continue;
    if (!parts.back().empty() && bytes + cost > replica_part_bytes) {
      parts.emplace_back();
      bytes = 0;
    }
    bytes += cost;
    parts.back().push_back(to_wire(std::move(e)));
  }
  return parts;
}

/// `entries` from the wire.
inline std::vector<model::entry_copy> from_wire(std::vector<replica_entry> entries) {
  std::vector<model::entry_copy> out;
  out.reserve(entries.size());
  for (auto& e : entries) out.push_back(from_wire(std::move(e)));
  return out;
}

}  // namespace troupe::cache::detail
