// protocol: how sharding's messages cross the network (serializer 6).
//
// `register_protocol(transport.serialization())` registers, once per transport:
// - the coordinator protocol (model/messages.hpp: register, get_shard_home, shard_home,
//   host_shard, begin_handoff, handoff, markers, ...), manifests "sharding.<name>";
// - `sharding.forward`, a message one region forwards to another, and
//   `sharding.envelope` (`sharding_envelope`): both carry the entity's message in its own
//   wire form (serializer, manifest, bytes), so its type must be registered too;
// - the stats query and its answer.
// `cluster_sharding::start` calls it. Each message is one CBOR map with named keys, read
// tolerantly (unknown keys ignored; a missing or mistyped key refused with its path, e.g.
// "sharding.host_shard: shard: missing"), except the two hot ones, forward and envelope,
// which are flat (a version byte, then length-prefixed fields and the nested message;
// layout in src/protocol/codec.cpp), refused with the field that is wrong
// ("sharding.forward: entity: truncated"). A malformed message from a peer is logged by the
// transport and goes to dead letters, never into a region or a coordinator.
#pragma once

#include <cstdint>

namespace troupe::remote {
class serialization;
}

namespace troupe::sharding {

/// Sharding's serializer id, in troupe's own range (after the cluster's 5).
inline constexpr std::uint32_t serializer_id = 6;

/// Registers every sharding message with `s` (idempotent).
void register_protocol(remote::serialization& s);

}  // namespace troupe::sharding
