// register_protocol: every cluster message in the transport's serialization registry.
#include <stdexcept>
#include <string>

#include "troupe/cluster/protocol.hpp"
#include "troupe/remote/serialization.hpp"

namespace troupe::cluster::protocol {
namespace {

// A decoding error becomes an exception here: the registry catches it and returns it as
// an error value naming the manifest.
template <class T>
void add(remote::serialization& s) {
  s.register_custom<T>(
      serializer_id, std::string(T::manifest), [](const T& m) { return encode(m); },
      [](std::span<const std::uint8_t> wire) {
        auto m = decode<T>(wire);
        if (!m) throw std::runtime_error(m.error());
        return std::move(m).value();
      });
}

}  // namespace

void register_protocol(remote::serialization& s) {
  add<init_join>(s);
  add<init_join_ack>(s);
  add<init_join_nack>(s);
  add<join>(s);
  add<welcome>(s);
  add<leave>(s);
  add<down>(s);
  add<exiting_confirmed>(s);
  add<gossip_envelope>(s);
  add<gossip_status>(s);
  add<heartbeat>(s);
  add<heartbeat_rsp>(s);
}

}  // namespace troupe::cluster::protocol
