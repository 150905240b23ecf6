// cbor_map: the schema-tolerant encoding shared by handshake and control messages.
//
// A message is one CBOR map from text keys to values. Readers look keys up by name,
// ignore keys they do not know (a newer node may add some), and refuse a missing required
// key or a value of the wrong type with a reason naming the message and the key.
//
//   auto m = parse_cbor_map(body, "hello");
//   if (!m) return failure{m.error()};
//   map_reader r(*m, "hello");
//   auto uid = r.u64("uid");
//   if (!r.ok()) return r.take_failure();   // "malformed hello: missing key 'uid'"
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "troupe/remote/wire/cbor.hpp"
#include "troupe/remote/wire/frame.hpp"
#include "troupe/remote/wire/node_address.hpp"
#include "troupe/remote/wire/result.hpp"

namespace troupe::remote::wire::internal {

using json = nlohmann::json;

/// Parses `body` as exactly one CBOR map (`decode_cbor_map`, nesting bounded); `what`
/// names the message in the reason.
result<json> parse_cbor_map(std::span<const std::uint8_t> body, std::string_view what);

/// Appends the CBOR encoding of `j` to `out`.
void append_cbor(byte_buffer& out, const json& j);

/// `{"system": ..., "host": ..., "port": ...}`, plus `"uid"` for a unique address.
json to_json(const node_address& a);
json to_json(const unique_node_address& a);

/// Typed, tolerant access to one map's keys; the first problem met is kept.
class map_reader {
 public:
  /// Reads `map` (an object) of the message named `what`.
  map_reader(const json& map, std::string what, std::string key_prefix = "");

  /// A required unsigned integer no larger than `max`.
  std::uint64_t u64(const char* key, std::uint64_t max = UINT64_MAX);
  /// An unsigned integer no larger than `max`, or nullopt when the key is absent.
  std::optional<std::uint64_t> optional_u64(const char* key, std::uint64_t max = UINT64_MAX);
  /// A required text string.
  std::string text(const char* key);
  /// A required byte string.
  byte_buffer bytes(const char* key);
  /// A required boolean.
  bool boolean(const char* key);
  /// A required nested `{system, host, port}` map.
  node_address address(const char* key);
  /// A required nested `{system, host, port, uid}` map.
  unique_node_address unique_address(const char* key);

  /// Records that `key`'s value is unusable ("must hold 32 bytes, has 3"), unless a
  /// problem was recorded before.
  void invalid(const char* key, std::string_view problem) { fail(key, problem); }

  /// True while every key read so far was present and well typed.
  bool ok() const noexcept { return error_.empty(); }
  /// "malformed <what>: <problem>"; asserts `!ok()`.
  failure take_failure() const;

 private:
  const json* find(const char* key, bool required);
  void fail(const char* key, std::string_view problem);

  const json& map_;
  std::string what_;
  std::string key_prefix_;
  std::string error_;
};

/// At most `max` bytes of `s`, with control and non-ASCII bytes replaced by '?': peer
/// supplied text goes into logs.
std::string printable(std::string_view s, std::size_t max = 200);

}  // namespace troupe::remote::wire::internal
