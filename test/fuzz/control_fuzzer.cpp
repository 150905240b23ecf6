// Fuzzes decode_control: whatever decodes must survive encode -> decode unchanged.
#include "fuzz_common.hpp"
#include "troupe/remote/wire/control_codec.hpp"

using namespace troupe::remote::wire;
using troupe::remote::wire::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto m = decode_control(std::span<const std::uint8_t>(data, size));
  if (!m) {
    check(!m.error().empty(), "a failure without a reason");
    return 0;
  }
  byte_buffer again;
  encode_control(again, *m);
  const auto back = decode_control(again);
  check(back.has_value() && *back == *m, "a control message changed through encoding");
  check(kind_of(*back) == kind_of(*m), "kind changed");
  return 0;
}
