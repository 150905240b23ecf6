// Writes the seed corpus of the fuzz targets: make_fuzz_seeds <dir> fills <dir>/frame,
// <dir>/envelope, <dir>/control and <dir>/handshake with small valid and near-valid inputs.
// The output is committed under test/fuzz/corpus; rerun after a change of the wire format.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_common.hpp"
#include "troupe/remote/wire/control_codec.hpp"
#include "troupe/remote/wire/envelope_codec.hpp"
#include "troupe/remote/wire/frame.hpp"
#include "troupe/remote/wire/handshake.hpp"

using namespace troupe::remote::wire;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

fs::path out_dir;

void write(const char* target, const char* name, const byte_buffer& bytes) {
  const fs::path dir = out_dir / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

byte_buffer cat(std::initializer_list<byte_buffer> parts) {
  byte_buffer out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

byte_buffer framed(frame_type t, const byte_buffer& body) {
  byte_buffer out;
  (void)append_frame(out, t, body, max_possible_body_size);
  return out;
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

byte_buffer envelope_body(const envelope& e) {
  byte_buffer out;
  encode_envelope(out, e);
  return out;
}

byte_buffer control_body(const control_message& m) {
  byte_buffer out;
  encode_control(out, m);
  return out;
}

// The first frame's body in `bytes`.
byte_buffer first_body(const byte_buffer& bytes) {
  frame_decoder d(max_possible_body_size);
  byte_buffer body;
  bool got = false;
  d.feed(bytes, [&](frame_view f) {
    if (!got) body.assign(f.body.begin(), f.body.end());
    got = true;
  });
  return body;
}

void envelopes() {
  const std::string payload = "hello, actor";
  envelope e;
  e.recipient_path = "/user/echo";
  e.recipient_uid = 42;
  e.serializer = 2;
  e.payload = bytes_of(payload);
  write("envelope", "minimal", envelope_body(e));
  e.sender = sender_ref{"troupe://fuzz@127.0.0.1:2552", "/user/asker", 7};
  e.manifest = "shop.order";
  e.serializer = 100;
  write("envelope", "with_sender", envelope_body(e));
  e.sender->address = "";
  write("envelope", "sender_on_peer", envelope_body(e));
  e.seq = 1'000'000;
  e.serializer = 4;
  write("envelope", "system_message", envelope_body(e));
  e.recipient_uid = UINT64_MAX;
  e.seq = UINT64_MAX;
  e.serializer = UINT32_MAX;
  write("envelope", "largest_values", envelope_body(e));
}

void controls() {
  const unique_node_address a{fuzz::client_node, fuzz::client_uid};
  const unique_node_address b{fuzz::server_node, fuzz::server_uid};
  write("control", "heartbeat", control_body(heartbeat{1}));
  write("control", "heartbeat_rsp", control_body(heartbeat_rsp{1}));
  write("control", "system_ack", control_body(system_ack{17}));
  write("control", "system_nack", control_body(system_nack{16}));
  write("control", "quarantined", control_body(quarantined{a, b}));
  write("control", "flush", control_body(flush{}));
  write("control", "flush_ack", control_body(flush_ack{}));
  write("control", "unknown_kind", json::to_cbor(json{{"kind", "gossip"}, {"v", {1, 2}}}));
  write("control", "extra_keys", json::to_cbor(json{{"kind", "system_ack"}, {"seq", 3}, {"window", 8}}));
}

void frames() {
  const byte_buffer limit_256_split_3{32, 2};
  const byte_buffer batch = cat({framed(frame_type::hello, byte_buffer(20, 'h')),
                                 framed(frame_type::envelope, byte_buffer(100, 'e')),
                                 framed(frame_type::accepted, {}),
                                 framed(frame_type::control, control_body(heartbeat{}))});
  write("frame", "batch", cat({limit_256_split_3, batch}));
  write("frame", "truncated", cat({limit_256_split_3, byte_buffer(batch.begin(), batch.end() - 30)}));
  write("frame", "oversized", cat({limit_256_split_3, byte_buffer{0, 0, 1, 2, 16}}));
  write("frame", "zero_length", cat({limit_256_split_3, byte_buffer{0, 0, 0, 0, 16}}));
  write("frame", "unknown_type", cat({limit_256_split_3, byte_buffer{0, 0, 0, 2, 0x63, 0}}));
  write("frame", "at_limit", cat({byte_buffer{1, 63}, framed(frame_type::chunk, byte_buffer(8, 'c'))}));
}

void handshakes() {
  for (const bool with_cookie : {false, true}) {
    const std::uint8_t mode = with_cookie ? 1 : 0;
    const std::string suffix = with_cookie ? "_cookie" : "_no_cookie";
    client_handshake c(fuzz::client_settings(with_cookie), fuzz::client_nonce());
    server_handshake s(fuzz::server_settings(with_cookie), fuzz::server_nonce());
    const byte_buffer hello_frame = c.start().to_send;
    const byte_buffer challenge_frame = s.on_frame(frame_type::hello, first_body(hello_frame)).to_send;
    const byte_buffer proof_frame = c.on_frame(frame_type::challenge, first_body(challenge_frame)).to_send;
    const byte_buffer accepted_frame = s.on_frame(frame_type::proof, first_body(proof_frame)).to_send;
    const byte_buffer after = framed(frame_type::envelope, byte_buffer{0, 1, '/', 0, 2, 0, 0});

    // The server fed what a good client sends, and then one frame too many.
    write("handshake", ("server_full" + suffix).c_str(), cat({{mode}, hello_frame, proof_frame, after}));
    // The client fed what a good server sends.
    write("handshake", ("client_full" + suffix).c_str(),
          cat({{static_cast<std::uint8_t>(mode | 2)}, challenge_frame, accepted_frame}));
  }
  hello h{.protocol_version = protocol_version, .system_name = "fuzz", .from = fuzz::client_node,
          .from_uid = fuzz::client_uid, .lane = lane::large, .authenticated = false,
          .client_nonce = fuzz::client_nonce()};
  h.protocol_version = protocol_version + 1;
  write("handshake", "server_version_mismatch", cat({{0}, framed(frame_type::hello, encode(h))}));
  h.protocol_version = protocol_version;
  h.system_name = "other";
  write("handshake", "server_wrong_system", cat({{0}, framed(frame_type::hello, encode(h))}));
  json extra = json::from_cbor(encode(hello{.protocol_version = protocol_version, .system_name = "fuzz",
                                            .from = fuzz::client_node, .from_uid = 1,
                                            .lane = lane::control, .authenticated = false,
                                            .client_nonce = fuzz::client_nonce()}));
  extra["future"] = {{"a", 1}};
  write("handshake", "server_unknown_keys", cat({{0}, framed(frame_type::hello, json::to_cbor(extra))}));
  write("handshake", "client_rejected", cat({{2}, framed(frame_type::rejected, encode(rejected{"no"}))}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  envelopes();
  controls();
  frames();
  handshakes();
  return 0;
}
