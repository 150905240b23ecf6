// Shared by the fuzz targets and the seed generator: fixed identities and nonces (a fuzz
// run must be deterministic), and a check that crashes loudly so libFuzzer keeps the input.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "troupe/remote/wire/handshake.hpp"

namespace troupe::remote::wire::fuzz {

inline const node_address client_node{"fuzz", "127.0.0.1", 2552};
inline const node_address server_node{"fuzz", "127.0.0.2", 2552};
inline constexpr std::uint64_t client_uid = 0xC11E;
inline constexpr std::uint64_t server_uid = 0x5E4E;
inline constexpr const char* cookie = "fuzz-cookie";

inline nonce fixed_nonce(std::uint8_t fill) {
  nonce n;
  n.fill(fill);
  return n;
}
inline nonce client_nonce() { return fixed_nonce(0xC1); }
inline nonce server_nonce() { return fixed_nonce(0x5E); }

inline client_handshake_settings client_settings(bool with_cookie) {
  return {.self = client_node, .self_uid = client_uid, .remote = server_node,
          .lane = lane::ordinary, .cookie = with_cookie ? cookie : "",
          .protocol_version = protocol_version};
}

inline server_handshake_settings server_settings(bool with_cookie) {
  return {.self = server_node, .self_uid = server_uid, .cookie = with_cookie ? cookie : "",
          .protocol_version = protocol_version};
}

/// Aborts (a crash libFuzzer records) when `ok` is false.
inline void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz check failed: %s\n", what);
  std::abort();
}

}  // namespace troupe::remote::wire::fuzz
