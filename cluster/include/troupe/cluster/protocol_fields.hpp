// protocol_fields: reading the CBOR maps of troupe's protocols (the cluster's, the
// singleton's, sharding's) from untrusted bytes, with errors that name the field.
//
// Every protocol message is one CBOR map with named keys. A reader looks keys up by name,
// ignores keys it does not know, and refuses a missing or mistyped required key by
// throwing `decode_error("<path>: <problem>")`, e.g. "gossip.members[2].status: missing";
// a codec's `decode` turns that into an error value naming the message.
//
//   const json j = parse_map(wire);                        // depth-limited, never a crash
//   auto node = unique_address_of(required(j, "", "node"), "node");
//   auto shard = as_text(required(j, "", "shard"), "shard");
//
// Pure (nlohmann_json and the cluster model).
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::protocol::fields {

using json = nlohmann::json;

/// A decoding problem: "<path>: <problem>".
struct decode_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Throws `decode_error(path + ": " + problem)`.
[[noreturn]] void fail(const std::string& path, const std::string& problem);

/// The one CBOR map in `wire`, parsed with the transport's depth limit (nlohmann recurses
/// once per nesting level, and this input comes from the network).
json parse_map(std::span<const std::uint8_t> wire);

/// "path.key" ("key" at the root).
std::string key_path(const std::string& path, const char* key);
/// "path[i]".
std::string item_path(const std::string& path, std::size_t i);

/// The value at `key` of `map`; fails "path.key: missing".
const json& required(const json& map, const std::string& path, const char* key);
/// The value at `key`, or nullptr.
const json* optional(const json& map, const char* key);

/// `v`, which must be a map / an array.
const json& as_map(const json& v, const std::string& path);
const json& as_array(const json& v, const std::string& path);
/// `v` as text.
std::string as_text(const json& v, const std::string& path);
/// `v` as an unsigned integer no larger than `max`.
std::uint64_t as_unsigned(const json& v, const std::string& path,
                          std::uint64_t max = std::numeric_limits<std::uint64_t>::max());
/// `v` as an integer in [min, max].
std::int64_t as_signed(const json& v, const std::string& path,
                       std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                       std::int64_t max = std::numeric_limits<std::int64_t>::max());
/// `v` as a boolean.
bool as_bool(const json& v, const std::string& path);

/// `{system, host, port}`.
json to_json(const model::address& a);
/// `{system, host, port, uid}`.
json to_json(const model::unique_address& a);
/// `{system, host, port}`; `default_system` stands in for a missing "system" when given.
model::address address_of(const json& v, const std::string& path, const std::string* default_system = nullptr);
/// `{system, host, port, uid}` (the same default for "system").
model::unique_address unique_address_of(const json& v, const std::string& path,
                                        const std::string* default_system = nullptr);

}  // namespace troupe::cluster::protocol::fields
