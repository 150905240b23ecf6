#include "troupe/cache/model/replica.hpp"

#include <utility>

namespace troupe::cache::model {

copy_status bucket_replica::copy_part(std::uint64_t version, std::size_t capacity, std::uint32_t part,
                                      std::uint32_t parts, const std::vector<entry_copy>& entries, time_point now) {
  // 1. Part 0 starts a copy; any other must follow the one before, at the same version.
  if (part == 0) {
    receiving_ = std::make_unique<lru_store>(capacity);
    receiving_version_ = version;
  } else if (!receiving_ || part != next_part_ || version != receiving_version_) {
    receiving_.reset();
    return copy_status::broken;
  }
  // 2. Its entries, least recently used first, as the primary listed them.
  for (const auto& e : entries) receiving_->put(e.key, e.value, e.ttl, now);
  next_part_ = part + 1;
  if (next_part_ < parts) return copy_status::partial;
  // 3. The last part: the copy held from now on.
  held_ = std::move(receiving_);
  version_ = receiving_version_;
  return copy_status::complete;
}

bool bucket_replica::put(std::uint64_t version, std::size_t capacity, std::string key, std::string value,
                         std::optional<std::chrono::nanoseconds> ttl, time_point now) {
  if (!held_ || version != version_ + 1) return false;
  held_->resize(capacity);
  held_->put(std::move(key), std::move(value), ttl, now);
  version_ = version;
  return true;
}

bool bucket_replica::remove(std::uint64_t version, const std::string& key) {
  if (!held_ || version != version_ + 1) return false;
  held_->remove(key);
  version_ = version;
  return true;
}

void bucket_replica::expire(time_point now) {
  if (held_) held_->expire(now);
  if (receiving_) receiving_->expire(now);
}

std::vector<entry_copy> bucket_replica::entries(time_point now) const {
  return held_ ? held_->entries(now) : std::vector<entry_copy>{};
}

std::size_t bucket_replica::bytes() const noexcept {
  return (held_ ? held_->bytes() : 0) + (receiving_ ? receiving_->bytes() : 0);
}

}  // namespace troupe::cache::model
