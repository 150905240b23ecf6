// handshake: the first frames of every troupe TCP connection, as two pure state machines.
//
// The side that connects runs a `client_handshake`, the side that accepted the socket a
// `server_handshake`. Feed each the frames the decoder yields; each returns the bytes to
// write (whole frames) and where it stands. Neither reads a clock or draws randomness:
// the transport passes a fresh nonce in (32 bytes from RAND_bytes) and runs the timeout.
//
//   client                                            server
//     hello{version, system, from, uid, lane, auth, nonce} ->
//                               <- challenge{version, system, uid, nonce}
//     proof{client proof} ->                              (or rejected{reason})
//                              <- accepted{server proof}  (or rejected{reason})
//   the client checks the server's proof before it calls the connection established.
//
//   wire::server_handshake hs({.self = me, .self_uid = uid, .cookie = cookie}, nonce);
//   decoder.set_max_body_size(wire::max_handshake_body_size);
//   // for each frame f the decoder yields while hs.status() == in_progress:
//   wire::handshake_step step = hs.on_frame(f);
//   write(step.to_send);
//   if (step.status == wire::handshake_status::failed) { log(step.reason); close(); }
//   if (step.status == wire::handshake_status::established) { use(hs.peer()); ... }
//
// Checks, and the side that makes them (the failing side sends `rejected{reason}`, the
// other side fails with "rejected by the server/client: <reason>", so both can log it):
// - protocol version: equal on both sides (server on hello, client on challenge);
// - system name: hello.system is the system the client dialled and must be the server's
//   own; challenge.system must be the system the client expects (`remote.system`);
// - uids are never 0;
// - authentication, when a cookie is set: the CLIENT proves first, over both nonces; the
//   server checks that proof and only then proves in turn. Proofs are HMAC-SHA256 keyed
//   with the cookie (RFC 2104):
//     client_proof = HMAC(cookie, "troupe-handshake/2 client" 0x00 | be32 len | hello body
//                         | be32 len | challenge body)
//     server_proof = HMAC(cookie, "troupe-handshake/2 server" 0x00 | be32 len | hello body
//                         | be32 len | challenge body | client proof)
//   Both nonces, both roles and every field of hello and challenge (as the bytes sent) are
//   bound, so a proof replayed from another connection, reflected to its sender or sent
//   with a tampered message fails. Proofs are compared in constant time.
//   Why the client goes first: whoever proves first hands its peer an HMAC of the cookie
//   that the peer can test guesses against offline. Protocol 1 had the server prove first,
//   so anyone who could open a TCP connection to a node got one; now a node proves only to
//   a peer that has proved the cookie already, and the client proves only to the address
//   it chose to dial (the data it signs includes its own fresh nonce, never data the peer
//   chose alone). What remains is a peer that a node dials, that is, one that took over a
//   member's address: against it, only a long random cookie (or TLS) helps.
// - no cookie on either side means no authentication (proofs are empty byte strings). A
//   node with a cookie refuses a peer without one (hello.auth says whether the client has
//   one), and the reverse, so configuring a cookie cannot be downgraded away.
// The cookie authenticates the handshake, not the bytes after it: a network that can
// rewrite TCP streams needs TLS as well.
//
// Messages are CBOR maps (schema-tolerant: unknown keys are ignored, a missing or mistyped
// required key is a malformed message with a reason naming it), so a newer node can add
// keys and still talk to an older one. Layout of each body:
//   hello      {"version": u32, "system": text, "from": {"system","host","port"},
//               "uid": u64, "lane": 0 control | 1 ordinary | 2 large, "auth": bool,
//               "nonce": bytes(32)}
//   challenge  {"version": u32, "system": text, "uid": u64, "nonce": bytes(32)}
//   proof      {"proof": bytes(32, or 0 without cookie)}
//   accepted   {"proof": bytes(32, or 0 without cookie)}
//   rejected   {"reason": text}
// Peer-supplied text that goes into a reason is cut to 200 bytes and made printable.
//
// Pure: links OpenSSL's libcrypto (HMAC) and nlohmann_json (CBOR).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "troupe/remote/wire/frame.hpp"
#include "troupe/remote/wire/node_address.hpp"
#include "troupe/remote/wire/result.hpp"

namespace troupe::remote::wire {

/// The protocol version this code speaks; both sides must speak the same. Version 2: the
/// client proves the cookie first (version 1 had the server prove first).
inline constexpr std::uint32_t protocol_version = 2;
/// Bytes in a nonce.
inline constexpr std::size_t nonce_size = 32;
/// Bytes in an HMAC-SHA256 proof.
inline constexpr std::size_t proof_size = 32;

/// A fresh random value per connection and side (the transport draws it).
using nonce = std::array<std::uint8_t, nonce_size>;

/// Which of the (up to) three connections between two nodes this one is.
enum class lane : std::uint8_t {
  control = 0,   ///< system and cluster messages, heartbeats
  ordinary = 1,  ///< user messages up to max-frame-size
  large = 2,     ///< user messages up to max-large-frame-size
};
/// "control", "ordinary" or "large" ("unknown" otherwise).
std::string_view to_string(lane l) noexcept;

/// Client -> server, first frame.
struct hello {
  std::uint32_t protocol_version = wire::protocol_version;
  std::string system_name;  ///< the system the client dialled (must be the server's)
  node_address from;        ///< the client's own address
  std::uint64_t from_uid = 0;
  wire::lane lane = lane::ordinary;
  bool authenticated = false;  ///< the client has a cookie
  nonce client_nonce{};

  friend bool operator==(const hello&, const hello&) = default;
};

/// Server -> client, after a good hello.
struct challenge {
  std::uint32_t protocol_version = wire::protocol_version;
  std::string system_name;  ///< the server's own system name
  std::uint64_t uid = 0;    ///< the server's uid
  nonce server_nonce{};

  friend bool operator==(const challenge&, const challenge&) = default;
};

/// Client -> server, after a good challenge.
struct proof {
  byte_buffer client_proof;  ///< `proof_size` bytes, or empty without a cookie

  friend bool operator==(const proof&, const proof&) = default;
};

/// Server -> client: the connection is established, once the client has checked the proof.
struct accepted {
  byte_buffer server_proof;  ///< `proof_size` bytes, or empty without a cookie

  friend bool operator==(const accepted&, const accepted&) = default;
};

/// Either side: the handshake failed; the sender closes the connection after it.
struct rejected {
  std::string reason;

  friend bool operator==(const rejected&, const rejected&) = default;
};

/// The CBOR body of each message.
byte_buffer encode(const hello& m);
byte_buffer encode(const challenge& m);
byte_buffer encode(const proof& m);
byte_buffer encode(const accepted& m);
byte_buffer encode(const rejected& m);

/// Each message from its body; a failure names the malformed key. Unknown keys are ignored.
result<hello> decode_hello(std::span<const std::uint8_t> body);
result<challenge> decode_challenge(std::span<const std::uint8_t> body);
result<proof> decode_proof(std::span<const std::uint8_t> body);
result<accepted> decode_accepted(std::span<const std::uint8_t> body);
result<rejected> decode_rejected(std::span<const std::uint8_t> body);

/// The two proofs (see the file comment); exposed for tests and tools.
byte_buffer client_proof(std::string_view cookie, std::span<const std::uint8_t> hello_body,
                         std::span<const std::uint8_t> challenge_body);
byte_buffer server_proof(std::string_view cookie, std::span<const std::uint8_t> hello_body,
                         std::span<const std::uint8_t> challenge_body,
                         std::span<const std::uint8_t> client_proof);

/// Where a handshake stands.
enum class handshake_status : std::uint8_t {
  in_progress,  ///< waiting for the peer's next frame
  established,  ///< done: `peer()` is known; later frames belong to the association
  failed,       ///< done: close the connection (after writing `to_send`)
};
/// "in progress", "established" or "failed".
std::string_view to_string(handshake_status s) noexcept;

/// What one step of a handshake produced.
struct handshake_step {
  handshake_status status = handshake_status::in_progress;
  byte_buffer to_send;  ///< whole frames to write, in order (may be empty)
  std::string reason;   ///< why it failed, for the log; empty unless failed
};

/// The peer of an established connection.
struct handshake_peer {
  unique_node_address node;  ///< its address and uid
  wire::lane lane = lane::ordinary;
};

/// Configuration of the accepting side.
struct server_handshake_settings {
  node_address self;           ///< this node (its system name is what clients must dial)
  std::uint64_t self_uid = 0;  ///< this incarnation's uid, never 0
  std::string cookie;          ///< shared secret; empty: no authentication
  std::uint32_t protocol_version = wire::protocol_version;
};

/// Configuration of the connecting side.
struct client_handshake_settings {
  node_address self;           ///< this node, sent as hello.from
  std::uint64_t self_uid = 0;  ///< this incarnation's uid, never 0
  node_address remote;         ///< the node dialled; the server's system name must match
  wire::lane lane = lane::ordinary;
  std::string cookie;  ///< shared secret; empty: no authentication
  std::uint32_t protocol_version = wire::protocol_version;
};

/// The accepting side of one connection: hello -> challenge, proof -> accepted (with the
/// server's proof).
class server_handshake {
 public:
  /// `server_nonce` must be fresh for this connection.
  server_handshake(server_handshake_settings settings, const nonce& server_nonce);

  /// Handles the next frame from the client. Any frame but the expected one (including a
  /// non-handshake frame, or any frame once the handshake ended) fails the handshake.
  handshake_step on_frame(frame_type type, std::span<const std::uint8_t> body);
  /// Same, for a decoded frame.
  handshake_step on_frame(const frame_view& f) { return on_frame(f.type, f.body); }

  /// Where the handshake stands.
  handshake_status status() const noexcept { return status_; }
  /// The client; valid once established.
  const handshake_peer& peer() const noexcept { return peer_; }
  /// Why it failed; empty unless failed.
  const std::string& failure_reason() const noexcept { return reason_; }

 private:
  enum class state : std::uint8_t { expect_hello, expect_proof, done };
  handshake_step on_hello(std::span<const std::uint8_t> body);
  handshake_step on_proof(std::span<const std::uint8_t> body);
  handshake_step reject(std::string reason);
  handshake_step fail(std::string reason);

  server_handshake_settings settings_;
  nonce nonce_;
  state state_ = state::expect_hello;
  handshake_status status_ = handshake_status::in_progress;
  byte_buffer hello_body_;
  byte_buffer challenge_body_;
  handshake_peer peer_;
  std::string reason_;
};

/// The connecting side of one connection: start -> hello, challenge -> proof,
/// accepted (with a good server proof) -> established.
class client_handshake {
 public:
  /// `client_nonce` must be fresh for this connection.
  client_handshake(client_handshake_settings settings, const nonce& client_nonce);

  /// The hello frame, to write first; call once.
  handshake_step start();
  /// Handles the next frame from the server (see `server_handshake::on_frame`).
  handshake_step on_frame(frame_type type, std::span<const std::uint8_t> body);
  /// Same, for a decoded frame.
  handshake_step on_frame(const frame_view& f) { return on_frame(f.type, f.body); }

  /// Where the handshake stands.
  handshake_status status() const noexcept { return status_; }
  /// The server; valid once established.
  const handshake_peer& peer() const noexcept { return peer_; }
  /// Why it failed; empty unless failed.
  const std::string& failure_reason() const noexcept { return reason_; }

 private:
  enum class state : std::uint8_t { start, expect_challenge, expect_accepted, done };
  handshake_step on_challenge(std::span<const std::uint8_t> body);
  handshake_step on_accepted(std::span<const std::uint8_t> body);
  handshake_step reject(std::string reason);
  handshake_step fail(std::string reason);

  client_handshake_settings settings_;
  nonce nonce_;
  state state_ = state::start;
  handshake_status status_ = handshake_status::in_progress;
  byte_buffer hello_body_;
  byte_buffer challenge_body_;
  byte_buffer client_proof_;
  handshake_peer peer_;
  std::string reason_;
};

}  // namespace troupe::remote::wire
