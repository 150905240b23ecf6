// ids: how entities, shards and regions are named, and the stable hash that maps an
// entity id to its shard.
//
// An entity id is any non-empty text ("alice", "cart-42"); a shard id names a group of
// entities that move together ("17"). A region is one node's host of one entity type,
// known by its node's incarnation, so a restarted node is a new region.
//
//   shard_id s = default_shard_of("alice", 100);     // "0".."99", the same on every node
//   assert(s == default_shard_of("alice", 100));
//
// The hash is specified, never `std::hash` (whose value may differ between builds and
// standard libraries, so two nodes could disagree on an entity's shard): FNV-1a over the
// id's bytes (64-bit offset basis 0xcbf29ce484222325, prime 0x100000001b3), then the
// splitmix64 finaliser (Steele et al. 2014) so the low bits used by `%` are well mixed:
//   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
//   z = z ^ (z >> 31);
// (the output mix only: no golden-ratio increment is added first). So
// stable_hash("") is the finaliser of 0xcbf29ce484222325, and other implementations
// (the simulator, a client in another language) can reproduce it bit for bit.
//
// Pure: links only the standard library and the cluster model.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::sharding::model {

/// An entity's id: any non-empty text.
using entity_id = std::string;
/// A shard's id: any non-empty text; the default extractor uses "0".."n-1".
using shard_id = std::string;
/// A region (or proxy) is known by the incarnation of the node it runs on.
using region_id = cluster::model::unique_address;

/// FNV-1a 64 of `bytes`, then the splitmix64 finaliser (see the file comment).
std::uint64_t stable_hash(std::string_view bytes) noexcept;

/// The shard of `entity` among `number_of_shards` (>= 1, asserted): the decimal text of
/// `stable_hash(entity) % number_of_shards`.
shard_id default_shard_of(std::string_view entity, std::uint32_t number_of_shards);

}  // namespace troupe::sharding::model
