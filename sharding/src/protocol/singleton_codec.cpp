// The singleton managers' messages as CBOR maps (layout in singleton_protocol.hpp).
#include <stdexcept>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "troupe/cluster/protocol_fields.hpp"
#include "troupe/remote/serialization.hpp"
#include "troupe/sharding/singleton_protocol.hpp"

namespace troupe::sharding {

namespace {

using json = nlohmann::json;
using namespace cluster::protocol::fields;

// Sharding's serializer id (troupe/sharding/protocol.hpp's `serializer_id`), after the
// cluster's 5; the manifests ("singleton.*") keep these apart from sharding's own.
constexpr std::uint32_t serializer_id = 6;

template <class T>
T read(std::span<const std::uint8_t> wire) {
  const json j = parse_map(wire);
  return T{unique_address_of(required(j, "", "from"), "from"), unique_address_of(required(j, "", "to"), "to")};
}

template <class T>
expected<model::singleton_message, std::string> decode_as(std::span<const std::uint8_t> wire) {
  try {
    return model::singleton_message{read<T>(wire)};
  } catch (const decode_error& e) {
    return unexpected(std::string(T::manifest) + ": " + e.what());
  } catch (const std::exception& e) {  // nlohmann's own, e.g. a number of the wrong kind
    return unexpected(std::string(T::manifest) + ": " + e.what());
  }
}

// A decoding error becomes an exception here: the registry catches it and returns it as an
// error value naming the manifest, and the transport sends the message to dead letters.
template <class T>
void add(remote::serialization& s) {
  s.register_custom<T>(
      serializer_id, std::string(T::manifest),
      [](const T& m) { return encode_singleton_message(model::singleton_message{m}); },
      [](std::span<const std::uint8_t> wire) {
        auto m = decode_as<T>(wire);
        if (!m) throw std::runtime_error(m.error());
        return std::get<T>(std::move(m).value());
      });
}

}  // namespace

std::vector<std::uint8_t> encode_singleton_message(const model::singleton_message& m) {
  return std::visit(
      [](const auto& x) { return json::to_cbor(json{{"from", to_json(x.from)}, {"to", to_json(x.to)}}); }, m);
}

expected<model::singleton_message, std::string> decode_singleton_message(std::string_view manifest,
                                                                        std::span<const std::uint8_t> wire) {
  if (manifest == model::hand_over_to_me::manifest) return decode_as<model::hand_over_to_me>(wire);
  if (manifest == model::hand_over_in_progress::manifest) return decode_as<model::hand_over_in_progress>(wire);
  if (manifest == model::hand_over_done::manifest) return decode_as<model::hand_over_done>(wire);
  if (manifest == model::take_over_from_me::manifest) return decode_as<model::take_over_from_me>(wire);
  return unexpected("unknown singleton message \"" + std::string(manifest) + "\"");
}

void register_singleton_protocol(remote::serialization& s) {
  add<model::hand_over_to_me>(s);
  add<model::hand_over_in_progress>(s);
  add<model::hand_over_done>(s);
  add<model::take_over_from_me>(s);
}

}  // namespace troupe::sharding
