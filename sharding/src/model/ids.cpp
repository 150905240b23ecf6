#include "troupe/sharding/model/ids.hpp"

#include <cassert>

namespace troupe::sharding::model {

namespace {

// 64-bit FNV-1a (Fowler, Noll, Vo): offset basis and prime from the reference description.
constexpr std::uint64_t fnv_offset_basis = 0xcbf29ce484222325ULL;
constexpr std::uint64_t fnv_prime = 0x100000001b3ULL;

// The output mix of splitmix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014; the shift/multiply constants are Stafford's "Mix13").
constexpr std::uint64_t splitmix64_finaliser(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::uint64_t stable_hash(std::string_view bytes) noexcept {
  std::uint64_t h = fnv_offset_basis;
  for (const char c : bytes) h = (h ^ static_cast<std::uint8_t>(c)) * fnv_prime;
  return splitmix64_finaliser(h);
}

shard_id default_shard_of(std::string_view entity, std::uint32_t number_of_shards) {
  assert(number_of_shards >= 1 && "default_shard_of needs at least one shard");
  return std::to_string(stable_hash(entity) % number_of_shards);
}

}  // namespace troupe::sharding::model
