#include "troupe/remote/wire/handshake.hpp"

#include <cassert>
#include <limits>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cbor_map.hpp"

namespace troupe::remote::wire {
namespace {

using internal::json;
using internal::map_reader;
using internal::printable;

constexpr std::uint64_t max_u32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::string_view server_label = "troupe-handshake/2 server";
constexpr std::string_view client_label = "troupe-handshake/2 client";

json binary(std::span<const std::uint8_t> b) {
  return json::binary(std::vector<std::uint8_t>(b.begin(), b.end()));
}

void put_be(byte_buffer& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void put_label(byte_buffer& out, std::string_view label) {
  out.insert(out.end(), label.begin(), label.end());
  out.push_back(0);
}

void put_sized(byte_buffer& out, std::span<const std::uint8_t> b) {
  put_be(out, b.size(), 4);
  out.insert(out.end(), b.begin(), b.end());
}

byte_buffer hmac_sha256(std::string_view key, const byte_buffer& data) {
  static const unsigned char no_key = 0;  // OpenSSL wants a non-null key, even an empty one
  byte_buffer mac(EVP_MAX_MD_SIZE);
  unsigned int mac_size = 0;
  const void* k = key.empty() ? static_cast<const void*>(&no_key) : key.data();
  const unsigned char* ok = HMAC(EVP_sha256(), k, static_cast<int>(key.size()), data.data(),
                                 data.size(), mac.data(), &mac_size);
  assert(ok && mac_size == proof_size);
  (void)ok;
  mac.resize(mac_size);
  return mac;
}

bool same_proof(const byte_buffer& a, const byte_buffer& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Reads a nonce-sized byte string.
nonce read_nonce(map_reader& r, const char* key) {
  nonce n{};
  const byte_buffer b = r.bytes(key);
  if (!r.ok()) return n;
  if (b.size() != nonce_size) {
    r.invalid(key, "must hold " + std::to_string(nonce_size) + " bytes, has " +
                       std::to_string(b.size()));
    return n;
  }
  std::copy(b.begin(), b.end(), n.begin());
  return n;
}

// Reads a proof: empty (no cookie) or `proof_size` bytes.
byte_buffer read_proof(map_reader& r, const char* key) {
  byte_buffer b = r.bytes(key);
  if (r.ok() && !b.empty() && b.size() != proof_size)
    r.invalid(key, "must hold 0 or " + std::to_string(proof_size) + " bytes, has " +
                       std::to_string(b.size()));
  return b;
}

// The version of a hello or challenge, read before the rest so that a peer of another
// version is told so rather than that its message is malformed.
result<std::uint64_t> peek_version(std::span<const std::uint8_t> body, const char* what) {
  auto m = internal::parse_cbor_map(body, what);
  if (!m) return failure{m.error()};
  map_reader r(*m, what);
  const std::uint64_t v = r.u64("version");
  if (!r.ok()) return r.take_failure();
  return v;
}

byte_buffer frame_of(frame_type type, const byte_buffer& body) {
  byte_buffer out;
  // Our own messages are small; a limit here would only turn a long configured name into
  // a failure with no log on the sending side. The peer's decoder applies its own limit.
  const auto refused = append_frame(out, type, body, max_possible_body_size);
  assert(!refused);
  (void)refused;
  return out;
}

std::string peer_rejection(std::span<const std::uint8_t> body, std::string_view by) {
  auto r = decode_rejected(body);
  if (!r) return "rejected by the " + std::string(by) + " (" + r.error() + ")";
  return "rejected by the " + std::string(by) + ": " + printable(r->reason);
}

std::string unexpected(frame_type got, std::string_view expected) {
  return "unexpected " + std::string(to_string(got)) + " frame, expected " + std::string(expected);
}

}  // namespace

std::string_view to_string(lane l) noexcept {
  switch (l) {
    case lane::control: return "control";
    case lane::ordinary: return "ordinary";
    case lane::large: return "large";
  }
  return "unknown";
}

std::string_view to_string(handshake_status s) noexcept {
  switch (s) {
    case handshake_status::in_progress: return "in progress";
    case handshake_status::established: return "established";
    case handshake_status::failed: return "failed";
  }
  return "unknown";
}

// --- Messages ------------------------------------------------------------------------------

byte_buffer encode(const hello& m) {
  byte_buffer out;
  internal::append_cbor(out, json{{"version", m.protocol_version},
                                  {"system", m.system_name},
                                  {"from", internal::to_json(m.from)},
                                  {"uid", m.from_uid},
                                  {"lane", static_cast<unsigned>(m.lane)},
                                  {"auth", m.authenticated},
                                  {"nonce", binary(m.client_nonce)}});
  return out;
}

byte_buffer encode(const challenge& m) {
  byte_buffer out;
  internal::append_cbor(out, json{{"version", m.protocol_version},
                                  {"system", m.system_name},
                                  {"uid", m.uid},
                                  {"nonce", binary(m.server_nonce)}});
  return out;
}

byte_buffer encode(const proof& m) {
  byte_buffer out;
  internal::append_cbor(out, json{{"proof", binary(m.client_proof)}});
  return out;
}

byte_buffer encode(const accepted& m) {
  byte_buffer out;
  internal::append_cbor(out, json{{"proof", binary(m.server_proof)}});
  return out;
}

byte_buffer encode(const rejected& m) {
  byte_buffer out;
  internal::append_cbor(out, json{{"reason", m.reason}});
  return out;
}

result<hello> decode_hello(std::span<const std::uint8_t> body) {
  auto m = internal::parse_cbor_map(body, "hello");
  if (!m) return failure{m.error()};
  map_reader r(*m, "hello");
  hello h;
  h.protocol_version = static_cast<std::uint32_t>(r.u64("version", max_u32));
  h.system_name = r.text("system");
  h.from = r.address("from");
  h.from_uid = r.u64("uid");
  h.lane = static_cast<lane>(r.u64("lane", static_cast<unsigned>(lane::large)));
  h.authenticated = r.boolean("auth");
  h.client_nonce = read_nonce(r, "nonce");
  if (!r.ok()) return r.take_failure();
  return h;
}

result<challenge> decode_challenge(std::span<const std::uint8_t> body) {
  auto m = internal::parse_cbor_map(body, "challenge");
  if (!m) return failure{m.error()};
  map_reader r(*m, "challenge");
  challenge c;
  c.protocol_version = static_cast<std::uint32_t>(r.u64("version", max_u32));
  c.system_name = r.text("system");
  c.uid = r.u64("uid");
  c.server_nonce = read_nonce(r, "nonce");
  if (!r.ok()) return r.take_failure();
  return c;
}

result<proof> decode_proof(std::span<const std::uint8_t> body) {
  auto m = internal::parse_cbor_map(body, "proof");
  if (!m) return failure{m.error()};
  map_reader r(*m, "proof");
  proof p;
  p.client_proof = read_proof(r, "proof");
  if (!r.ok()) return r.take_failure();
  return p;
}

result<accepted> decode_accepted(std::span<const std::uint8_t> body) {
  auto m = internal::parse_cbor_map(body, "accepted");
  if (!m) return failure{m.error()};
  map_reader r(*m, "accepted");
  accepted a;
  a.server_proof = read_proof(r, "proof");
  if (!r.ok()) return r.take_failure();
  return a;
}

result<rejected> decode_rejected(std::span<const std::uint8_t> body) {
  auto m = internal::parse_cbor_map(body, "rejected");
  if (!m) return failure{m.error()};
  map_reader r(*m, "rejected");
  rejected j;
  j.reason = r.text("reason");
  if (!r.ok()) return r.take_failure();
  return j;
}

byte_buffer client_proof(std::string_view cookie, std::span<const std::uint8_t> hello_body,
                         std::span<const std::uint8_t> challenge_body) {
  byte_buffer data;
  put_label(data, client_label);
  put_sized(data, hello_body);
  put_sized(data, challenge_body);
  return hmac_sha256(cookie, data);
}

byte_buffer server_proof(std::string_view cookie, std::span<const std::uint8_t> hello_body,
                         std::span<const std::uint8_t> challenge_body,
                         std::span<const std::uint8_t> client_proof) {
  byte_buffer data;
  put_label(data, server_label);
  put_sized(data, hello_body);
  put_sized(data, challenge_body);
  put_sized(data, client_proof);
  return hmac_sha256(cookie, data);
}

// --- Server --------------------------------------------------------------------------------

server_handshake::server_handshake(server_handshake_settings settings, const nonce& server_nonce)
    : settings_(std::move(settings)), nonce_(server_nonce) {
  assert(settings_.self_uid != 0);
}

handshake_step server_handshake::fail(std::string reason) {
  state_ = state::done;
  status_ = handshake_status::failed;
  reason_ = std::move(reason);
  return {status_, {}, reason_};
}

handshake_step server_handshake::reject(std::string reason) {
  byte_buffer out = frame_of(frame_type::rejected, encode(rejected{reason}));
  handshake_step step = fail("rejected the client: " + reason);
  step.to_send = std::move(out);
  return step;
}

handshake_step server_handshake::on_frame(frame_type type, std::span<const std::uint8_t> body) {
  switch (state_) {
    case state::done:
      if (status_ == handshake_status::failed) return {status_, {}, reason_};
      return fail("unexpected " + std::string(to_string(type)) +
                  " frame after the handshake completed");
    case state::expect_hello:
      if (type == frame_type::hello) return on_hello(body);
      if (type == frame_type::rejected) return fail(peer_rejection(body, "client"));
      return reject(unexpected(type, "hello"));
    case state::expect_proof:
      if (type == frame_type::proof) return on_proof(body);
      if (type == frame_type::rejected) return fail(peer_rejection(body, "client"));
      return reject(unexpected(type, "proof"));
  }
  return fail("invalid handshake state");
}

handshake_step server_handshake::on_hello(std::span<const std::uint8_t> body) {
  const std::string self = to_string(settings_.self);
  // 1. The version first: a peer of another version may have another schema.
  const auto version = peek_version(body, "hello");
  if (!version) return reject(version.error());
  if (*version != settings_.protocol_version)
    return reject("protocol version mismatch: the client speaks " + std::to_string(*version) +
                  ", server " + self + " speaks " + std::to_string(settings_.protocol_version));

  // 2. The whole hello, then who the client is and whom it wants.
  auto h = decode_hello(body);
  if (!h) return reject(h.error());
  const std::string client = printable(to_string(h->from));
  if (h->system_name != settings_.self.system)
    return reject("wrong system name: client " + client + " dialled system '" +
                  printable(h->system_name) + "', server " + self + " is system '" +
                  settings_.self.system + "'");
  if (h->from_uid == 0) return reject("client " + client + " sent uid 0");

  // 3. Both sides with a cookie, or neither.
  const bool have_cookie = !settings_.cookie.empty();
  if (have_cookie && !h->authenticated)
    return reject("authentication required: server " + self + " has a cookie, client " +
                  client + " has none");
  if (!have_cookie && h->authenticated)
    return reject("authentication mismatch: client " + client + " has a cookie, server " +
                  self + " has none");

  // 4. Our nonce, for the client to prove the cookie over; we prove nothing before it has.
  hello_body_.assign(body.begin(), body.end());
  challenge c;
  c.protocol_version = settings_.protocol_version;
  c.system_name = settings_.self.system;
  c.uid = settings_.self_uid;
  c.server_nonce = nonce_;
  challenge_body_ = encode(c);
  peer_ = handshake_peer{unique_node_address{h->from, h->from_uid}, h->lane};
  state_ = state::expect_proof;
  return {status_, frame_of(frame_type::challenge, challenge_body_), {}};
}

handshake_step server_handshake::on_proof(std::span<const std::uint8_t> body) {
  auto p = decode_proof(body);
  if (!p) return reject(p.error());
  const std::string client = printable(to_string(peer_.node));
  accepted a;
  if (settings_.cookie.empty()) {
    if (!p->client_proof.empty())
      return reject("authentication mismatch: client " + client +
                    " sent a proof, server " + to_string(settings_.self) + " has no cookie");
  } else if (!same_proof(p->client_proof,
                         client_proof(settings_.cookie, hello_body_, challenge_body_))) {
    return reject("client proof invalid for " + client +
                  ": wrong cookie, or a replayed or tampered handshake");
  } else {
    // The client has proved the cookie; now, and only now, prove it back.
    a.server_proof = server_proof(settings_.cookie, hello_body_, challenge_body_, p->client_proof);
  }
  state_ = state::done;
  status_ = handshake_status::established;
  return {status_, frame_of(frame_type::accepted, encode(a)), {}};
}

// --- Client --------------------------------------------------------------------------------

client_handshake::client_handshake(client_handshake_settings settings, const nonce& client_nonce)
    : settings_(std::move(settings)), nonce_(client_nonce) {
  assert(settings_.self_uid != 0);
}

handshake_step client_handshake::start() {
  assert(state_ == state::start);
  hello h;
  h.protocol_version = settings_.protocol_version;
  h.system_name = settings_.remote.system;
  h.from = settings_.self;
  h.from_uid = settings_.self_uid;
  h.lane = settings_.lane;
  h.authenticated = !settings_.cookie.empty();
  h.client_nonce = nonce_;
  hello_body_ = encode(h);
  state_ = state::expect_challenge;
  return {status_, frame_of(frame_type::hello, hello_body_), {}};
}

handshake_step client_handshake::fail(std::string reason) {
  state_ = state::done;
  status_ = handshake_status::failed;
  reason_ = std::move(reason);
  return {status_, {}, reason_};
}

handshake_step client_handshake::reject(std::string reason) {
  byte_buffer out = frame_of(frame_type::rejected, encode(rejected{reason}));
  handshake_step step = fail("rejected the server: " + reason);
  step.to_send = std::move(out);
  return step;
}

handshake_step client_handshake::on_frame(frame_type type, std::span<const std::uint8_t> body) {
  switch (state_) {
    case state::done:
      if (status_ == handshake_status::failed) return {status_, {}, reason_};
      return fail("unexpected " + std::string(to_string(type)) +
                  " frame after the handshake completed");
    case state::start:
      return reject(unexpected(type, "nothing before the hello was sent"));
    case state::expect_challenge:
      if (type == frame_type::challenge) return on_challenge(body);
      if (type == frame_type::rejected) return fail(peer_rejection(body, "server"));
      return reject(unexpected(type, "challenge"));
    case state::expect_accepted:
      if (type == frame_type::accepted) return on_accepted(body);
      if (type == frame_type::rejected) return fail(peer_rejection(body, "server"));
      return reject(unexpected(type, "accepted"));
  }
  return fail("invalid handshake state");
}

handshake_step client_handshake::on_challenge(std::span<const std::uint8_t> body) {
  const std::string server = to_string(settings_.remote);
  // 1. The version first, as the server does.
  const auto version = peek_version(body, "challenge");
  if (!version) return reject(version.error());
  if (*version != settings_.protocol_version)
    return reject("protocol version mismatch: server " + server + " speaks " +
                  std::to_string(*version) + ", the client speaks " +
                  std::to_string(settings_.protocol_version));

  // 2. The whole challenge: the system we dialled, a real uid.
  auto c = decode_challenge(body);
  if (!c) return reject(c.error());
  if (c->system_name != settings_.remote.system)
    return reject("wrong system name: dialled " + server + " but the server is system '" +
                  printable(c->system_name) + "'");
  if (c->uid == 0) return reject("server " + server + " sent uid 0");

  // 3. Our proof, bound to both nonces; the server proves in `accepted`, after checking it.
  challenge_body_.assign(body.begin(), body.end());
  proof p;
  if (!settings_.cookie.empty()) p.client_proof = client_proof(settings_.cookie, hello_body_, body);
  client_proof_ = p.client_proof;
  node_address server_address = settings_.remote;
  server_address.system = c->system_name;
  peer_ = handshake_peer{unique_node_address{std::move(server_address), c->uid}, settings_.lane};
  state_ = state::expect_accepted;
  return {status_, frame_of(frame_type::proof, encode(p)), {}};
}

handshake_step client_handshake::on_accepted(std::span<const std::uint8_t> body) {
  auto a = decode_accepted(body);
  if (!a) return reject(a.error());
  const std::string server = to_string(settings_.remote);
  if (!settings_.cookie.empty()) {
    // A server without a cookie accepts with an empty proof; one with another cookie has
    // rejected our proof already. Either way nothing unproved gets established.
    if (a->server_proof.empty())
      return reject("authentication required: the client has a cookie, server " + server +
                    " has none");
    if (!same_proof(a->server_proof,
                    server_proof(settings_.cookie, hello_body_, challenge_body_, client_proof_)))
      return reject("server proof invalid for " + server +
                    ": wrong cookie, or a replayed or tampered handshake");
  } else if (!a->server_proof.empty()) {
    return reject("authentication mismatch: server " + server +
                  " sent a proof, the client has no cookie");
  }
  state_ = state::done;
  status_ = handshake_status::established;
  return {status_, {}, {}};
}

}  // namespace troupe::remote::wire
