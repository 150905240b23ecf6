// wire_size: how many bytes the cluster messages would take in a compact binary encoding.
//
// The simulator never serializes; it estimates sizes from the shape of the values, for an
// encoding like Akka's protobuf one with an address table: each distinct node appears once
// (host, port, uid), members, the seen set and the reachability table refer to it by a
// varint index, the system name and role names are written once, vector clock entries are
// an 8-byte node id and a varint counter.
//
//   std::size_t bytes = gossip_envelope_size(g);     // full gossip to one peer
//   std::size_t status = gossip_status_size(g);      // version and seen digest only
//
// Pure functions: link only the model and the standard library.
#pragma once

#include <cstddef>
#include <cstdint>

#include "troupe/cluster/model/gossip.hpp"

namespace troupe::cluster::sim {

/// Bytes of `value` as a LEB128 varint (1 to 10).
std::size_t varint_size(std::uint64_t value) noexcept;

/// Bytes of `g` itself: address table, members, seen set, reachability, version, tombstones.
std::size_t gossip_size(const model::gossip& g);

/// Bytes of a gossip envelope carrying `g`: framing, from and to, and the gossip.
std::size_t gossip_envelope_size(const model::gossip& g);

/// Bytes of a gossip status for `g`: framing, from and to, version and seen digest.
std::size_t gossip_status_size(const model::gossip& g);
/// The same from the status's digest (the version is all that counts).
std::size_t gossip_status_size(const model::gossip_digest& d);

/// Bytes of a heartbeat or its response: framing, sender, sequence number and send time.
std::size_t heartbeat_size() noexcept;

}  // namespace troupe::cluster::sim
