// serializers: ddata values through the transport's serialization registry, and through
// `data_codecs` when only a type tag is known (what a replicator stores per key).
//
//   register_data_types(transport.serialization());    // serializer 7, manifest = type tag
//   auto wire = transport.serialization().encode(make_message(counter));  // "ddata.gcounter"
//
//   data_codecs codecs;                                  // the same built-in types
//   auto bytes = codecs.encode(stored);                  // a replicated_data
//   auto back = codecs.decode(stored.type_tag(), *bytes);
//
// Built-in types (manifests are `type_tag<T>()`):
// - ddata.gcounter, ddata.pncounter, ddata.flag;
// - gset, orset and lww_register of string, int64 and uint64 ("ddata.orset<string>");
// - lww_map<K, V> and pncounter_map<K> with K and V each string or int64
//   ("ddata.lww_map<string,int64>", "ddata.pncounter_map<string>");
// - ormap<string, V> for V gcounter, pncounter, flag, gset<string>, orset<string>,
//   lww_register<string> ("ddata.ormap<string,ddata.pncounter>").
// Others: `register_data_type<T>(s)` and `codecs.add<T>()`, given a `wire_codec<T>`.
// Deltas are values of their type and travel under the same manifest.
//
// A payload that fails to decode is an error naming the manifest and the field (the
// registry reports it; the transport drops the message), never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "troupe/base/expected.hpp"
#include "troupe/ddata/codec.hpp"
#include "troupe/ddata/crdt.hpp"
#include "troupe/ddata/error.hpp"
#include "troupe/ddata/replicated_data.hpp"
#include "troupe/ddata/wire.hpp"
#include "troupe/remote/serialization.hpp"

namespace troupe::ddata {

/// Distributed Data's serializer id, in troupe's own range (after sharding's 6).
inline constexpr std::uint32_t serializer_id = 7;

/// Registers `T` with `s` under `serializer_id` and manifest `type_tag<T>()`.
template <crdt T>
void register_data_type(remote::serialization& s) {
  s.register_custom<T>(
      serializer_id, type_tag<T>(), [](const T& v) { return encode(v); },
      [](std::span<const std::uint8_t> b) {
        auto v = decode<T>(b);
        // The registry turns this into an error value naming the manifest.
        if (!v) throw std::runtime_error(v.error().message);
        return std::move(v).value();
      });
}

/// Registers every built-in type (see the file comment) with `s` (idempotent).
void register_data_types(remote::serialization& s);

/// Encoders and decoders of `replicated_data` by type tag.
class data_codecs {
 public:
  /// The built-in types.
  data_codecs();

  /// Adds `T` (with a `wire_codec<T>`) under `type_tag<T>()`.
  template <crdt T>
  void add() {
    entry e;
    e.encode = [](const replicated_data& d) { return ddata::encode(*d.get_if<T>()); };
    e.decode = [](std::span<const std::uint8_t> b) -> expected<replicated_data, ddata_error> {
      auto v = ddata::decode<T>(b);
      if (!v) return unexpected<ddata_error>{v.error()};
      return replicated_data(std::move(v).value());
    };
    by_tag_.insert_or_assign(type_tag<T>(), std::move(e));
  }
  /// True when a codec is known for `tag`.
  bool knows(std::string_view tag) const { return by_tag_.find(tag) != by_tag_.end(); }

  /// The wire form of the held value; `empty_value` or `unknown_type` errors.
  expected<wire::bytes, ddata_error> encode(const replicated_data& d) const;
  /// The value of type `tag` in `bytes`; `unknown_type` or `malformed` errors.
  expected<replicated_data, ddata_error> decode(std::string_view tag, std::span<const std::uint8_t> bytes) const;

 private:
  struct entry {
    std::function<wire::bytes(const replicated_data&)> encode;
    std::function<expected<replicated_data, ddata_error>(std::span<const std::uint8_t>)> decode;
  };
  std::map<std::string, entry, std::less<>> by_tag_;
};

}  // namespace troupe::ddata
