// Fuzzes the cluster's wire protocol (troupe/cluster/protocol.hpp). The first byte picks
// the message type, the rest is its CBOR body. Whatever decodes must encode to bytes that
// decode to an equal value and encode to the very same bytes again; anything else must be
// an error value, never a crash, a hang or a read out of bounds.
#include <cstdio>
#include <cstdlib>
#include <span>

#include "troupe/cluster/protocol.hpp"

namespace protocol = troupe::cluster::protocol;

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz check failed: %s\n", what);
  std::abort();
}

template <class T>
void round_trip(std::span<const std::uint8_t> body) {
  auto first = protocol::decode<T>(body);
  if (!first) {
    check(!first.error().empty(), "an error without a reason");
    return;
  }
  const protocol::bytes once = protocol::encode(*first);
  auto second = protocol::decode<T>(once);
  check(second.has_value(), "a re-encoded message does not decode");
  check(*second == *first, "a re-encoded message decodes to another value");
  check(protocol::encode(*second) == once, "encoding is not stable");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> body(data + 1, size - 1);
  switch (data[0] % 13) {
    case 0: round_trip<protocol::init_join>(body); break;
    case 1: round_trip<protocol::init_join_ack>(body); break;
    case 2: round_trip<protocol::init_join_nack>(body); break;
    case 3: round_trip<protocol::join>(body); break;
    case 4: round_trip<protocol::welcome>(body); break;
    case 5: round_trip<protocol::leave>(body); break;
    case 6: round_trip<protocol::down>(body); break;
    case 7: round_trip<protocol::exiting_confirmed>(body); break;
    case 8: round_trip<protocol::gossip_envelope>(body); break;
    case 9: round_trip<protocol::gossip_status>(body); break;
    case 10: round_trip<protocol::heartbeat>(body); break;
    case 11: round_trip<protocol::heartbeat_rsp>(body); break;
    default: round_trip<troupe::cluster::model::gossip>(body); break;
  }
  return 0;
}
