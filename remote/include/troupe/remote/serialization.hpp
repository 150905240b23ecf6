// serialization: how messages become bytes between nodes, and back.
//
// Each C++ type crossing the network is registered once, with a manifest (its name on the
// wire, stable across builds and languages). Types with nlohmann `to_json`/`from_json`
// register in one line and travel as CBOR; strings and byte buffers are built in, and so
// are actor refs inside messages (written as address + path + uid, resolved on arrival to
// a local or a remote ref).
//
//   struct order { std::string item; int qty; troupe::actor_ref reply_to; };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order, item, qty, reply_to)
//   transport.serialization().register_json<order>("shop.order");
//
// Encoding an unregistered type fails at the sender with an error naming the type;
// a payload that fails to decode at the receiver is an error value (the transport sends
// the message to dead letters and logs why); neither closes the connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "troupe/actor/actor_ref.hpp"
#include "troupe/base/expected.hpp"
#include "troupe/actor/message.hpp"

namespace troupe::remote {

using bytes = std::vector<std::uint8_t>;

/// Serializer ids below 100 are troupe's own.
namespace serializer_id {
inline constexpr std::uint32_t cbor = 1;    ///< nlohmann types as CBOR
inline constexpr std::uint32_t string = 2;  ///< std::string as UTF-8 bytes
inline constexpr std::uint32_t bytes = 3;   ///< remote::bytes as is
inline constexpr std::uint32_t system = 4;  ///< runtime system messages (CBOR maps)
// 5: the cluster's protocol (troupe/cluster/protocol.hpp), registered by the cluster layer.
// 6: sharding's and the singleton's protocol (troupe/sharding/protocol.hpp).
// 7: distributed data's CRDT values and deltas (troupe/ddata/serializers.hpp).
// 8: distributed pub-sub's mediator protocol (troupe::pubsub).
// 9: the cluster routers' load queries and reports (troupe/routers/load_protocol.hpp).
inline constexpr std::uint32_t first_user = 100;
}  // namespace serializer_id

/// A message in wire form.
struct serialized {
  std::uint32_t serializer = 0;
  std::string manifest;
  bytes payload;
};

/// How refs inside messages are written and read: the transport supplies both.
struct ref_codec {
  /// The full URI of `r` (`troupe://sys@host:port/user/a`) and its uid.
  std::function<std::pair<std::string, std::uint64_t>(const actor_ref&)> to_wire;
  /// The ref for a URI and uid (local or remote); empty for "".
  std::function<actor_ref(const std::string&, std::uint64_t)> from_wire;
};

/// Sets the ref codec for actor refs met while encoding or decoding on this thread.
class ref_codec_scope {
 public:
  explicit ref_codec_scope(const ref_codec* c) noexcept;
  ~ref_codec_scope();
  ref_codec_scope(const ref_codec_scope&) = delete;
  ref_codec_scope& operator=(const ref_codec_scope&) = delete;
  /// The codec in force on this thread, or nullptr.
  static const ref_codec* current() noexcept;

 private:
  const ref_codec* previous_;
};

/// Which serializer wrote a payload: what a frame carries beside it. The manifest lives as
/// long as the registry that answered.
struct encoded_as {
  std::uint32_t serializer = 0;
  std::string_view manifest;
};

class serialization {
 public:
  /// Appends the wire form of `value` to the buffer.
  using encode_fn = std::function<void(const void* value, bytes& out)>;
  using decode_fn = std::function<message(std::span<const std::uint8_t>)>;

  /// Strings, byte buffers and the runtime's messages are registered already.
  serialization();

  /// Registers `T` (with nlohmann to_json/from_json) under `manifest`, as CBOR.
  template <class T>
  void register_json(std::string manifest) {
    add(type_id_of<T>(), serializer_id::cbor, std::move(manifest),
        [](const void* v, bytes& out) { nlohmann::json::to_cbor(nlohmann::json(*static_cast<const T*>(v)), out); },
        [](std::span<const std::uint8_t> b) {
          return make_message(nlohmann::json::from_cbor(b.begin(), b.end()).template get<T>());
        });
  }
  /// Registers `T` with an encoder and decoder of your own (`id` >= first_user).
  template <class T>
  void register_custom(std::uint32_t id, std::string manifest, std::function<bytes(const T&)> enc,
                       std::function<T(std::span<const std::uint8_t>)> dec) {
    add(type_id_of<T>(), id, std::move(manifest),
        [enc = std::move(enc)](const void* v, bytes& out) { append(out, enc(*static_cast<const T*>(v))); },
        [dec = std::move(dec)](std::span<const std::uint8_t> b) { return make_message(dec(b)); });
  }

  /// The same with an encoder that appends the wire form to `out` (a buffer the sender
  /// reuses; it may hold other bytes already, which the encoder leaves alone): for hot
  /// messages, no buffer of their own per message.
  template <class T>
  void register_custom_into(std::uint32_t id, std::string manifest, std::function<void(const T&, bytes& out)> enc,
                            std::function<T(std::span<const std::uint8_t>)> dec) {
    add(type_id_of<T>(), id, std::move(manifest),
        [enc = std::move(enc)](const void* v, bytes& out) { enc(*static_cast<const T*>(v), out); },
        [dec = std::move(dec)](std::span<const std::uint8_t> b) { return make_message(dec(b)); });
  }

  /// The wire form of the value in `m`; an error naming the type when it is not registered
  /// or its encoder throws.
  expected<serialized, std::string> encode(const message& m) const;
  /// The same, appended to `out` (which an error leaves as it was): for senders that reuse
  /// one buffer rather than allocate a payload per message.
  expected<encoded_as, std::string> encode_into(const message& m, bytes& out) const;
  /// Which serializer and manifest `encode_into` would use for `m`, without encoding it
  /// (for a format that writes them before the payload).
  expected<encoded_as, std::string> encoding_of(const message& m) const;
  /// The message for a wire form (without sender); an error saying why it cannot be read.
  expected<message, std::string> decode(std::uint32_t serializer, std::string_view manifest,
                                        std::span<const std::uint8_t> payload) const;
  /// True when values of type `t` can be encoded.
  bool is_registered(type_id t) const;

 private:
  struct entry {
    type_id type;
    std::uint32_t id;
    std::string manifest;
    encode_fn encode;
    decode_fn decode;
  };
  void add(type_id t, std::uint32_t id, std::string manifest, encode_fn enc, decode_fn dec);
  const entry* find(std::uint32_t id, std::string_view manifest) const;  // under mutex_
  const entry* entry_for(type_id t) const;                               // memoized per thread
  const entry* entry_for(std::uint32_t id, std::string_view manifest) const;
  static void append(bytes& out, bytes&& b);
  struct manifest_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  mutable std::shared_mutex mutex_;
  // Bumped by every registration: a thread's memo of its last lookup holds while the
  // generation (and the registry's serial number, in case another registry takes this
  // one's address) is the one it saw; a message stream repeats its types, so most
  // lookups take no lock.
  std::atomic<std::uint64_t> generation_{0};
  const std::uint64_t serial_;
  // Every entry ever registered lives as long as the registry (one registered again
  // replaces its predecessor in the maps only), so a lookup hands out a plain pointer: no
  // reference count to bump on each message, no key string built for each lookup.
  std::vector<std::unique_ptr<const entry>> entries_;
  std::unordered_map<type_id, const entry*> by_type_;
  std::unordered_map<std::string, std::vector<const entry*>, manifest_hash, std::equal_to<>> by_manifest_;
};

}  // namespace troupe::remote

/// Actor refs inside nlohmann-serialized messages: `{"uri": ..., "uid": ...}`, through the
/// `ref_codec` in force on the thread (set by the transport while it encodes and decodes).
template <>
struct nlohmann::adl_serializer<troupe::actor_ref> {
  static void to_json(nlohmann::json& j, const troupe::actor_ref& r);
  static void from_json(const nlohmann::json& j, troupe::actor_ref& r);
};
