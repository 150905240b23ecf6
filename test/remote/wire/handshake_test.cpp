#include "troupe/remote/wire/handshake.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <random>
#include <string>
#include <vector>

namespace wire = troupe::remote::wire;
using json = nlohmann::json;
using wire::byte_buffer;
using wire::frame_type;
using wire::handshake_status;

namespace {

const wire::node_address client_node{"orders", "127.0.0.1", 2552};
const wire::node_address server_node{"orders", "127.0.0.2", 2553};
constexpr std::uint64_t client_uid = 0x1111'2222'3333'4444;
constexpr std::uint64_t server_uid = 0x5555'6666'7777'8888;

wire::nonce make_nonce(std::uint8_t fill) {
  wire::nonce n;
  n.fill(fill);
  n[0] = static_cast<std::uint8_t>(fill + 1);
  return n;
}

wire::client_handshake_settings client_settings(std::string cookie = "s3cret") {
  return {.self = client_node, .self_uid = client_uid, .remote = server_node,
          .lane = wire::lane::control, .cookie = std::move(cookie)};
}

wire::server_handshake_settings server_settings(std::string cookie = "s3cret") {
  return {.self = server_node, .self_uid = server_uid, .cookie = std::move(cookie)};
}

struct frame {
  frame_type type;
  byte_buffer body;
};

// Every frame in `bytes`; fails the test on a framing error.
std::vector<frame> frames_in(const byte_buffer& bytes) {
  wire::frame_decoder d(wire::max_handshake_body_size);
  std::vector<frame> out;
  const auto s = d.feed(bytes, [&](wire::frame_view f) {
    out.push_back({f.type, byte_buffer(f.body.begin(), f.body.end())});
  });
  REQUIRE(s == wire::decode_status::need_more);
  REQUIRE(d.at_frame_boundary());
  return out;
}

// Where a man in the middle may change the frames going either way.
using tamper_fn = std::function<void(frame&)>;

struct outcome {
  handshake_status client;
  handshake_status server;
  std::string client_reason;
  std::string server_reason;
  std::vector<frame_type> client_sent;
  std::vector<frame_type> server_sent;
};

// Runs both sides against each other, through encoded frames, until neither has more to say.
outcome run(wire::client_handshake& c, wire::server_handshake& s, const tamper_fn& to_server = {},
            const tamper_fn& to_client = {}) {
  outcome o{};
  std::vector<frame> c2s = frames_in(c.start().to_send);
  while (!c2s.empty()) {
    std::vector<frame> s2c;
    for (auto& f : c2s) {
      o.client_sent.push_back(f.type);
      if (to_server) to_server(f);
      for (auto& g : frames_in(s.on_frame(f.type, f.body).to_send)) s2c.push_back(std::move(g));
    }
    c2s.clear();
    for (auto& f : s2c) {
      o.server_sent.push_back(f.type);
      if (to_client) to_client(f);
      for (auto& g : frames_in(c.on_frame(f.type, f.body).to_send)) c2s.push_back(std::move(g));
    }
  }
  o.client = c.status();
  o.server = s.status();
  o.client_reason = c.failure_reason();
  o.server_reason = s.failure_reason();
  return o;
}

json hello_map() {
  byte_buffer body = wire::encode(wire::hello{.system_name = "orders", .from = client_node,
                                              .from_uid = client_uid, .client_nonce = make_nonce(1)});
  return json::from_cbor(body);
}

}  // namespace

TEST_CASE("a handshake with a shared cookie establishes both sides", "[unit][handshake]") {
  wire::client_handshake c(client_settings(), make_nonce(1));
  wire::server_handshake s(server_settings(), make_nonce(2));
  const outcome o = run(c, s);
  CHECK(o.client == handshake_status::established);
  CHECK(o.server == handshake_status::established);
  CHECK(o.client_sent == std::vector{frame_type::hello, frame_type::proof});
  CHECK(o.server_sent == std::vector{frame_type::challenge, frame_type::accepted});
  CHECK(s.peer().node == wire::unique_node_address{client_node, client_uid});
  CHECK(s.peer().lane == wire::lane::control);
  CHECK(c.peer().node == wire::unique_node_address{server_node, server_uid});
  CHECK(c.peer().lane == wire::lane::control);
  CHECK(o.client_reason.empty());
  CHECK(o.server_reason.empty());
}

TEST_CASE("with no cookie on either side the handshake is unauthenticated", "[unit][handshake]") {
  wire::client_handshake c(client_settings(""), make_nonce(1));
  wire::server_handshake s(server_settings(""), make_nonce(2));
  std::vector<byte_buffer> proofs;
  const outcome o = run(c, s, [&](frame& f) {
    if (f.type == frame_type::proof) proofs.push_back(wire::decode_proof(f.body)->client_proof);
  });
  CHECK(o.client == handshake_status::established);
  CHECK(o.server == handshake_status::established);
  REQUIRE(proofs.size() == 1);
  CHECK(proofs[0].empty());
}

TEST_CASE("a wrong cookie is refused, and both sides say why", "[unit][handshake]") {
  wire::client_handshake c(client_settings("s3cret"), make_nonce(1));
  wire::server_handshake s(server_settings("other"), make_nonce(2));
  const outcome o = run(c, s);
  CHECK(o.client == handshake_status::failed);
  CHECK(o.server == handshake_status::failed);
  // The server checks first, and a client that failed the check gets no proof back.
  CHECK(o.client_sent == std::vector{frame_type::hello, frame_type::proof});
  CHECK(o.server_sent == std::vector{frame_type::challenge, frame_type::rejected});
  CHECK_THAT(o.server_reason, Catch::StartsWith("rejected the client: client proof invalid"));
  CHECK_THAT(o.client_reason, Catch::StartsWith("rejected by the server: client proof invalid"));
  CHECK_THAT(o.client_reason, Catch::Contains("wrong cookie"));
}

// Protocol 1 let anyone who could connect collect an HMAC of the cookie over data they
// chose, and test guesses against it offline. Now the server's only answer before a good
// proof is its nonce.
TEST_CASE("a client that has not proved the cookie learns nothing derived from it", "[unit][handshake]") {
  wire::server_handshake s(server_settings("s3cret"), make_nonce(2));
  json h = hello_map();
  h["auth"] = true;
  const auto challenge_frames = frames_in(s.on_frame(frame_type::hello, json::to_cbor(h)).to_send);
  REQUIRE(challenge_frames.size() == 1);
  const json ch = json::from_cbor(challenge_frames[0].body);
  CHECK(ch.size() == 4);
  CHECK(ch.contains("version"));
  CHECK(ch.contains("system"));
  CHECK(ch.contains("uid"));
  CHECK(ch.contains("nonce"));
  // A guessed proof gets a rejection and nothing else.
  const auto step = s.on_frame(frame_type::proof, wire::encode(wire::proof{byte_buffer(32, 0xAB)}));
  CHECK(step.status == handshake_status::failed);
  const auto answer = frames_in(step.to_send);
  REQUIRE(answer.size() == 1);
  CHECK(answer[0].type == frame_type::rejected);
  const json rejection = json::from_cbor(answer[0].body);
  CHECK(rejection.size() == 1);
  CHECK(rejection.contains("reason"));
}

TEST_CASE("a node with a cookie refuses a peer without one, either way round", "[unit][handshake]") {
  SECTION("server with, client without") {
    wire::client_handshake c(client_settings(""), make_nonce(1));
    wire::server_handshake s(server_settings("s3cret"), make_nonce(2));
    const outcome o = run(c, s);
    CHECK(o.client == handshake_status::failed);
    CHECK(o.server == handshake_status::failed);
    CHECK(o.server_sent == std::vector{frame_type::rejected});
    CHECK_THAT(o.server_reason, Catch::StartsWith("rejected the client: authentication required"));
    CHECK_THAT(o.client_reason, Catch::StartsWith("rejected by the server: authentication required"));
  }
  SECTION("client with, server without") {
    wire::client_handshake c(client_settings("s3cret"), make_nonce(1));
    wire::server_handshake s(server_settings(""), make_nonce(2));
    const outcome o = run(c, s);
    CHECK(o.client == handshake_status::failed);
    CHECK(o.server == handshake_status::failed);
    CHECK_THAT(o.server_reason, Catch::Contains("authentication mismatch"));
    CHECK_THAT(o.client_reason, Catch::Contains("authentication mismatch"));
  }
  SECTION("a man in the middle cannot strip the proof from the acceptance") {
    wire::client_handshake c(client_settings("s3cret"), make_nonce(1));
    wire::server_handshake s(server_settings("s3cret"), make_nonce(2));
    const outcome o = run(c, s, {}, [](frame& f) {
      if (f.type != frame_type::accepted) return;
      auto a = wire::decode_accepted(f.body);
      a->server_proof.clear();
      f.body = wire::encode(*a);
    });
    CHECK(o.client == handshake_status::failed);
    CHECK_THAT(o.client_reason, Catch::Contains("authentication required"));
  }
}

TEST_CASE("a wrong system name is refused by whichever side sees it", "[unit][handshake]") {
  SECTION("the client dialled another system") {
    auto cs = client_settings();
    cs.remote.system = "billing";
    wire::client_handshake c(cs, make_nonce(1));
    wire::server_handshake s(server_settings(), make_nonce(2));
    const outcome o = run(c, s);
    CHECK(o.server == handshake_status::failed);
    CHECK(o.client == handshake_status::failed);
    CHECK(o.server_reason ==
          "rejected the client: wrong system name: client troupe://orders@127.0.0.1:2552 dialled "
          "system 'billing', server troupe://orders@127.0.0.2:2553 is system 'orders'");
    CHECK(o.client_reason ==
          "rejected by the server: wrong system name: client troupe://orders@127.0.0.1:2552 dialled "
          "system 'billing', server troupe://orders@127.0.0.2:2553 is system 'orders'");
  }
  SECTION("the challenge names another system") {
    wire::client_handshake c(client_settings(), make_nonce(1));
    wire::server_handshake s(server_settings(), make_nonce(2));
    const outcome o = run(c, s, {}, [](frame& f) {
      if (f.type != frame_type::challenge) return;
      auto ch = wire::decode_challenge(f.body);
      ch->system_name = "billing";
      f.body = wire::encode(*ch);
    });
    CHECK(o.client == handshake_status::failed);
    CHECK(o.client_reason ==
          "rejected the server: wrong system name: dialled troupe://orders@127.0.0.2:2553 but the "
          "server is system 'billing'");
    CHECK_THAT(o.server_reason, Catch::StartsWith("rejected by the client: wrong system name"));
  }
}

TEST_CASE("a protocol version mismatch is refused with both versions named", "[unit][handshake]") {
  SECTION("a client of protocol 1, where the server proved first") {
    auto cs = client_settings();
    cs.protocol_version = 1;
    wire::client_handshake c(cs, make_nonce(1));
    wire::server_handshake s(server_settings(), make_nonce(2));
    const outcome o = run(c, s);
    CHECK(o.server == handshake_status::failed);
    CHECK(o.client == handshake_status::failed);
    CHECK(o.server_reason ==
          "rejected the client: protocol version mismatch: the client speaks 1, server "
          "troupe://orders@127.0.0.2:2553 speaks 2");
    CHECK_THAT(o.client_reason, Catch::StartsWith("rejected by the server: protocol version mismatch"));
  }
  SECTION("a newer server, whose challenge the client checks") {
    wire::client_handshake c(client_settings(), make_nonce(1));
    c.start();
    wire::challenge ch{.protocol_version = 7, .system_name = "orders", .uid = server_uid,
                       .server_nonce = make_nonce(2)};
    const auto step = c.on_frame(frame_type::challenge, wire::encode(ch));
    CHECK(step.status == handshake_status::failed);
    CHECK(step.reason ==
          "rejected the server: protocol version mismatch: server troupe://orders@127.0.0.2:2553 "
          "speaks 7, the client speaks 2");
    const auto sent = frames_in(step.to_send);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].type == frame_type::rejected);
    CHECK_THAT(wire::decode_rejected(sent[0].body)->reason, Catch::StartsWith("protocol version mismatch"));
  }
  SECTION("a version is reported even when the rest of the hello is foreign") {
    wire::server_handshake s(server_settings(), make_nonce(2));
    byte_buffer body = json::to_cbor(json{{"version", 9}, {"greeting", "hi"}});
    const auto step = s.on_frame(frame_type::hello, body);
    CHECK(step.status == handshake_status::failed);
    CHECK_THAT(step.reason, Catch::Contains("protocol version mismatch: the client speaks 9"));
  }
}

TEST_CASE("a hello with a missing or mistyped key is refused, naming the key", "[unit][handshake]") {
  const auto try_hello = [](const json& j) {
    wire::server_handshake s(server_settings(), make_nonce(2));
    return s.on_frame(frame_type::hello, json::to_cbor(j));
  };
  for (const char* key : {"system", "from", "uid", "lane", "auth", "nonce"}) {
    CAPTURE(key);
    json j = hello_map();
    j.erase(key);
    const auto step = try_hello(j);
    CHECK(step.status == handshake_status::failed);
    CHECK(step.reason == "rejected the client: malformed hello: key '" + std::string(key) + "' missing");
    REQUIRE(frames_in(step.to_send).size() == 1);
  }
  json j = hello_map();
  j["from"].erase("port");
  CHECK(try_hello(j).reason == "rejected the client: malformed hello: key 'from.port' missing");
  j = hello_map();
  j["from"]["port"] = 70000;
  CHECK(try_hello(j).reason ==
        "rejected the client: malformed hello: key 'from.port' must be at most 65535, is 70000");
  j = hello_map();
  j["uid"] = "seven";
  CHECK(try_hello(j).reason == "rejected the client: malformed hello: key 'uid' must be an unsigned integer");
  j = hello_map();
  j["nonce"] = json::binary({1, 2, 3});
  CHECK(try_hello(j).reason == "rejected the client: malformed hello: key 'nonce' must hold 32 bytes, has 3");
  j = hello_map();
  j["lane"] = 3;
  CHECK(try_hello(j).reason == "rejected the client: malformed hello: key 'lane' must be at most 2, is 3");
  j = hello_map();
  j["uid"] = 0;
  CHECK(try_hello(j).reason == "rejected the client: client troupe://orders@127.0.0.1:2552 sent uid 0");
  CHECK_THAT(try_hello(json::array({1, 2})).reason,
             Catch::Contains("malformed hello: expected a CBOR map, got array"));
}

// A newer node adds keys to what it sends; an older one must still complete the handshake.
// The proofs bind the bytes as sent, so the newer side is played by hand here.
TEST_CASE("unknown keys from a newer server are ignored", "[unit][handshake]") {
  wire::client_handshake c(client_settings(), make_nonce(1));
  const byte_buffer hello_body = frames_in(c.start().to_send).at(0).body;

  wire::challenge ch{.system_name = "orders", .uid = server_uid, .server_nonce = make_nonce(2)};
  json j = json::from_cbor(wire::encode(ch));
  j["zz-from-the-future"] = {{"nested", json::array({1, "two", 3.5})}};
  j["compression"] = "zstd";
  const byte_buffer challenge_body = json::to_cbor(j);

  const auto step = c.on_frame(frame_type::challenge, challenge_body);
  REQUIRE(step.status == handshake_status::in_progress);
  const auto sent = frames_in(step.to_send);
  REQUIRE(sent.size() == 1);
  const byte_buffer proof = wire::client_proof("s3cret", hello_body, challenge_body);
  CHECK(wire::decode_proof(sent[0].body)->client_proof == proof);
  json a = json::from_cbor(
      wire::encode(wire::accepted{wire::server_proof("s3cret", hello_body, challenge_body, proof)}));
  a["welcome"] = true;
  const auto done = c.on_frame(frame_type::accepted, json::to_cbor(a));
  CHECK(done.status == handshake_status::established);
  CHECK(c.peer().node.uid == server_uid);
}

TEST_CASE("unknown keys from a newer client are ignored", "[unit][handshake]") {
  wire::server_handshake s(server_settings(), make_nonce(2));
  json j = hello_map();
  j["auth"] = true;
  j["zz-from-the-future"] = {{"nested", json::array({1, "two", 3.5})}};
  j["from"]["zone"] = "eu-1";
  const byte_buffer hello_body = json::to_cbor(j);

  const auto challenge_frames = frames_in(s.on_frame(frame_type::hello, hello_body).to_send);
  REQUIRE(challenge_frames.size() == 1);
  REQUIRE(challenge_frames[0].type == frame_type::challenge);
  const byte_buffer& challenge_body = challenge_frames[0].body;
  const byte_buffer proof = wire::client_proof("s3cret", hello_body, challenge_body);

  json p = json::from_cbor(wire::encode(wire::proof{proof}));
  p["extra"] = 1;
  const auto step = s.on_frame(frame_type::proof, json::to_cbor(p));
  CHECK(step.status == handshake_status::established);
  const auto answer = frames_in(step.to_send);
  REQUIRE(answer.at(0).type == frame_type::accepted);
  CHECK(wire::decode_accepted(answer[0].body)->server_proof ==
        wire::server_proof("s3cret", hello_body, challenge_body, proof));
  CHECK(s.peer().node == wire::unique_node_address{client_node, client_uid});
}

TEST_CASE("a key added by a man in the middle breaks the proofs", "[unit][handshake]") {
  wire::client_handshake c(client_settings(), make_nonce(1));
  wire::server_handshake s(server_settings(), make_nonce(2));
  const outcome o = run(c, s, [](frame& f) {
    if (f.type != frame_type::hello) return;
    json j = json::from_cbor(f.body);
    j["injected"] = 1;
    f.body = json::to_cbor(j);
  });
  CHECK(o.server == handshake_status::failed);
  CHECK(o.client == handshake_status::failed);
  CHECK_THAT(o.server_reason, Catch::Contains("client proof invalid"));
}

TEST_CASE("a replayed proof is refused", "[unit][handshake]") {
  // 1. Record a good handshake.
  std::vector<frame> recorded;
  {
    wire::client_handshake c(client_settings(), make_nonce(1));
    wire::server_handshake s(server_settings(), make_nonce(2));
    REQUIRE(run(c, s, [&](frame& f) { recorded.push_back(f); }).server == handshake_status::established);
  }
  REQUIRE(recorded.size() == 2);
  // 2. Replay the client's frames to a server that draws a fresh nonce.
  wire::server_handshake s(server_settings(), make_nonce(3));
  auto step = s.on_frame(recorded[0].type, recorded[0].body);
  REQUIRE(step.status == handshake_status::in_progress);
  step = s.on_frame(recorded[1].type, recorded[1].body);
  CHECK(step.status == handshake_status::failed);
  CHECK_THAT(step.reason, Catch::StartsWith("rejected the client: client proof invalid for "
                                            "troupe://orders@127.0.0.1:2552#1229801703532086340"));
  CHECK(frames_in(step.to_send).at(0).type == frame_type::rejected);
}

TEST_CASE("a tampered proof or message is refused", "[unit][handshake]") {
  SECTION("a bit flipped in the client's proof") {
    wire::client_handshake c(client_settings(), make_nonce(1));
    wire::server_handshake s(server_settings(), make_nonce(2));
    const outcome o = run(c, s, [](frame& f) {
      if (f.type != frame_type::proof) return;
      auto p = wire::decode_proof(f.body);
      p->client_proof[5] ^= 0x10;
      f.body = wire::encode(*p);
    });
    CHECK(o.server == handshake_status::failed);
    CHECK(o.client == handshake_status::failed);
    CHECK_THAT(o.server_reason, Catch::Contains("client proof invalid"));
    CHECK_THAT(o.client_reason, Catch::StartsWith("rejected by the server: client proof invalid"));
  }
  SECTION("a bit flipped in the server's proof") {
    wire::client_handshake c(client_settings(), make_nonce(1));
    wire::server_handshake s(server_settings(), make_nonce(2));
    const outcome o = run(c, s, {}, [](frame& f) {
      if (f.type != frame_type::accepted) return;
      auto a = wire::decode_accepted(f.body);
      a->server_proof[0] ^= 1;
      f.body = wire::encode(*a);
    });
    CHECK(o.client == handshake_status::failed);
    CHECK_THAT(o.client_reason, Catch::Contains("server proof invalid"));
  }
  SECTION("the client's uid rewritten on the way") {
    wire::client_handshake c(client_settings(), make_nonce(1));
    wire::server_handshake s(server_settings(), make_nonce(2));
    const outcome o = run(c, s, [](frame& f) {
      if (f.type != frame_type::hello) return;
      auto h = wire::decode_hello(f.body);
      h->from_uid = 42;
      f.body = wire::encode(*h);
    });
    CHECK(o.client == handshake_status::failed);
    CHECK(o.server == handshake_status::failed);
    CHECK_THAT(o.server_reason, Catch::Contains("client proof invalid"));
  }
  SECTION("the server's uid rewritten on the way") {
    wire::client_handshake c(client_settings(), make_nonce(1));
    wire::server_handshake s(server_settings(), make_nonce(2));
    const outcome o = run(c, s, {}, [](frame& f) {
      if (f.type != frame_type::challenge) return;
      auto ch = wire::decode_challenge(f.body);
      ch->uid = 42;
      f.body = wire::encode(*ch);
    });
    CHECK(o.client == handshake_status::failed);
    CHECK(o.server == handshake_status::failed);
    CHECK_THAT(o.server_reason, Catch::Contains("client proof invalid"));
  }
  SECTION("the client's proof reflected back as the server's, by a server without the cookie") {
    wire::client_handshake c(client_settings(), make_nonce(1));
    c.start();
    const wire::challenge ch{.system_name = "orders", .uid = server_uid, .server_nonce = make_nonce(2)};
    const auto proof_frames = frames_in(c.on_frame(frame_type::challenge, wire::encode(ch)).to_send);
    const auto p = wire::decode_proof(proof_frames.at(0).body);
    const auto step = c.on_frame(frame_type::accepted, wire::encode(wire::accepted{p->client_proof}));
    CHECK(step.status == handshake_status::failed);
    CHECK_THAT(step.reason, Catch::Contains("server proof invalid"));
  }
}

TEST_CASE("the two proofs differ by role and by nonce", "[unit][handshake]") {
  wire::hello h;
  h.client_nonce = make_nonce(1);
  const byte_buffer hello_body = wire::encode(h);
  wire::challenge ch;
  ch.system_name = "orders";
  ch.uid = server_uid;
  ch.server_nonce = make_nonce(2);
  const byte_buffer challenge_body = wire::encode(ch);
  const auto cp = wire::client_proof("k", hello_body, challenge_body);
  const auto sp = wire::server_proof("k", hello_body, challenge_body, cp);
  CHECK(cp.size() == wire::proof_size);
  CHECK(sp.size() == wire::proof_size);
  CHECK(sp == wire::server_proof("k", hello_body, challenge_body, cp));
  CHECK(sp != cp);
  CHECK(sp != wire::server_proof("k2", hello_body, challenge_body, cp));
  CHECK(cp != wire::client_proof("k2", hello_body, challenge_body));
  ch.server_nonce = make_nonce(3);
  const byte_buffer other_challenge = wire::encode(ch);
  CHECK(cp != wire::client_proof("k", hello_body, other_challenge));
  CHECK(sp != wire::server_proof("k", hello_body, other_challenge, cp));
  CHECK(wire::server_proof("", hello_body, challenge_body, {}).size() == wire::proof_size);
}

TEST_CASE("frames out of order or after the end fail the handshake", "[unit][handshake]") {
  SECTION("an envelope before the hello") {
    wire::server_handshake s(server_settings(), make_nonce(2));
    const auto step = s.on_frame(frame_type::envelope, byte_buffer{1, 2, 3});
    CHECK(step.status == handshake_status::failed);
    CHECK(step.reason == "rejected the client: unexpected envelope frame, expected hello");
    CHECK(frames_in(step.to_send).at(0).type == frame_type::rejected);
    // Failed stays failed, and says nothing more.
    const auto again = s.on_frame(frame_type::hello, byte_buffer{});
    CHECK(again.status == handshake_status::failed);
    CHECK(again.to_send.empty());
    CHECK(again.reason == step.reason);
  }
  SECTION("a second hello instead of the proof") {
    wire::client_handshake c(client_settings(), make_nonce(1));
    wire::server_handshake s(server_settings(), make_nonce(2));
    const byte_buffer hello_body = frames_in(c.start().to_send).at(0).body;
    REQUIRE(s.on_frame(frame_type::hello, hello_body).status == handshake_status::in_progress);
    const auto step = s.on_frame(frame_type::hello, hello_body);
    CHECK(step.reason == "rejected the client: unexpected hello frame, expected proof");
  }
  SECTION("a handshake frame once established") {
    wire::client_handshake c(client_settings(), make_nonce(1));
    wire::server_handshake s(server_settings(), make_nonce(2));
    REQUIRE(run(c, s).server == handshake_status::established);
    const auto step = s.on_frame(frame_type::hello, byte_buffer{});
    CHECK(step.status == handshake_status::failed);
    CHECK(step.reason == "unexpected hello frame after the handshake completed");
    CHECK(c.on_frame(frame_type::accepted, wire::encode(wire::accepted{})).status ==
          handshake_status::failed);
  }
  SECTION("the client is sent accepted before any challenge") {
    wire::client_handshake c(client_settings(), make_nonce(1));
    c.start();
    const auto step = c.on_frame(frame_type::accepted, wire::encode(wire::accepted{}));
    CHECK(step.status == handshake_status::failed);
    CHECK(step.reason == "rejected the server: unexpected accepted frame, expected challenge");
  }
}

TEST_CASE("bodies that are not CBOR maps are refused with a reason", "[unit][handshake]") {
  wire::server_handshake s(server_settings(), make_nonce(2));
  SECTION("garbage") {
    const auto step = s.on_frame(frame_type::hello, byte_buffer{0xFF, 0x00, 0x13});
    CHECK(step.status == handshake_status::failed);
    CHECK_THAT(step.reason, Catch::StartsWith("rejected the client: malformed hello: not CBOR"));
  }
  SECTION("empty") {
    const auto step = s.on_frame(frame_type::hello, byte_buffer{});
    CHECK(step.reason == "rejected the client: malformed hello: empty body, expected a CBOR map");
  }
  SECTION("nested too deep") {
    byte_buffer deep(5000, 0x81);  // arrays of arrays of ...
    deep.push_back(0x00);
    const auto step = s.on_frame(frame_type::hello, deep);
    CHECK_THAT(step.reason, Catch::Contains("nested deeper than"));
  }
  SECTION("trailing bytes after the map") {
    byte_buffer body = json::to_cbor(hello_map());
    body.push_back(0x00);
    CHECK_THAT(s.on_frame(frame_type::hello, body).reason, Catch::Contains("malformed hello: not CBOR"));
  }
}

TEST_CASE("a peer's rejection reason is logged printable and short", "[unit][handshake]") {
  wire::client_handshake c(client_settings(), make_nonce(1));
  c.start();
  const auto step = c.on_frame(frame_type::rejected,
                               wire::encode(wire::rejected{"bad\nnews\x1b[31m" + std::string(500, 'x')}));
  CHECK(step.status == handshake_status::failed);
  CHECK(step.to_send.empty());
  CHECK_THAT(step.reason, Catch::StartsWith("rejected by the server: bad?news?[31mxxx"));
  CHECK(step.reason.size() < 250);
  CHECK_THAT(step.reason, Catch::EndsWith("..."));
}

TEST_CASE("handshake messages survive encoding, field for field", "[unit][handshake]") {
  const wire::hello h{.protocol_version = 3, .system_name = "s", .from = client_node,
                      .from_uid = UINT64_MAX, .lane = wire::lane::large, .authenticated = true,
                      .client_nonce = make_nonce(9)};
  CHECK(*wire::decode_hello(wire::encode(h)) == h);
  const wire::challenge ch{.protocol_version = 1, .system_name = "t", .uid = 5,
                           .server_nonce = make_nonce(4)};
  CHECK(*wire::decode_challenge(wire::encode(ch)) == ch);
  const wire::proof p{byte_buffer(32, 1)};
  CHECK(*wire::decode_proof(wire::encode(p)) == p);
  const wire::accepted a{byte_buffer(32, 7)};
  CHECK(*wire::decode_accepted(wire::encode(a)) == a);
  CHECK(*wire::decode_accepted(wire::encode(wire::accepted{})) == wire::accepted{});
  const wire::rejected r{"no"};
  CHECK(*wire::decode_rejected(wire::encode(r)) == r);
  // A proof of another size is malformed.
  CHECK(wire::decode_proof(wire::encode(wire::proof{byte_buffer(31, 1)})).error() ==
        "malformed proof: key 'proof' must hold 0 or 32 bytes, has 31");
}

TEST_CASE("the handshake runs through random splits of a byte stream", "[unit][handshake]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  wire::client_handshake c(client_settings(), make_nonce(1));
  wire::server_handshake s(server_settings(), make_nonce(2));
  wire::frame_decoder at_server(wire::max_handshake_body_size);
  wire::frame_decoder at_client(wire::max_handshake_body_size);
  // Each side's writes arrive at the other in random pieces.
  const auto deliver = [&](const byte_buffer& bytes, wire::frame_decoder& d, auto&& side) {
    byte_buffer replies;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
      const std::size_t n = std::min<std::size_t>(1 + rng() % 17, bytes.size() - pos);
      REQUIRE(d.feed(std::span(bytes.data() + pos, n), [&](wire::frame_view f) {
        const auto step = side.on_frame(f);
        replies.insert(replies.end(), step.to_send.begin(), step.to_send.end());
      }) == wire::decode_status::need_more);
      pos += n;
    }
    return replies;
  };
  byte_buffer c2s = c.start().to_send;
  while (!c2s.empty()) {
    const byte_buffer s2c = deliver(c2s, at_server, s);
    c2s = deliver(s2c, at_client, c);
  }
  CHECK(c.status() == handshake_status::established);
  CHECK(s.status() == handshake_status::established);
}
