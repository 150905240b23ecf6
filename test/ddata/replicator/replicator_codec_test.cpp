// The peer protocol's codec: every message round-trips, and every truncation and a
// seeded sample of byte flips of every message is a clean error or a message, never a crash.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <troupe/ddata/ddata.hpp>
#include <troupe/ddata/replicator_codec.hpp>

namespace dd = troupe::ddata;
using namespace std::chrono_literals;

namespace {

dd::replica_id replica(int i) {
  return dd::replica_id{{"ddata", "10.0.0." + std::to_string(i), static_cast<std::uint16_t>(2550 + i)},
                        1000u + static_cast<unsigned>(i)};
}

dd::data_envelope sample_envelope() {
  dd::gcounter c;
  c.increment(replica(1), 3);
  c.increment(replica(2), 5);
  dd::data_envelope e;
  e.data = dd::replicated_data(c);
  e.pruning[replica(4)] = dd::pruning_initialized{replica(1), {replica(1), replica(2)}};
  e.pruning[replica(5)] = dd::pruning_performed{123456789ns};
  e.delta_versions[replica(1)] = 7;
  e.delta_versions[replica(2)] = 1;
  return e;
}

dd::replicated_data sample_set() {
  dd::orset<std::string> s;
  s.add(replica(2), "apple");
  s.add(replica(3), "pear");
  return dd::replicated_data(s);
}

const dd::data_codecs& codecs() {
  static const dd::data_codecs c;
  return c;
}

/// One sample of every peer message.
std::vector<dd::peer_message> samples() {
  std::vector<dd::peer_message> out;
  out.emplace_back(dd::write{42, "cart", sample_envelope()});
  out.emplace_back(dd::write{43, "gone", dd::data_envelope::deleted_entry()});
  out.emplace_back(dd::write_ack{42});
  out.emplace_back(dd::write_nack{42, "the value is ddata.flag, not ddata.gcounter"});
  out.emplace_back(dd::read{9, "cart"});
  out.emplace_back(dd::read_result{9, "cart", sample_envelope()});
  out.emplace_back(dd::read_result{10, "none", std::nullopt});
  dd::delta_propagation d;
  d.deltas["cart"] = dd::delta_entry{sample_set(), 3, 5};
  d.deltas["hits"] = dd::delta_entry{sample_envelope().data, 1, 1};
  out.emplace_back(d);
  dd::gossip_status st;
  st.chunk = 1;
  st.total_chunks = 3;
  st.complete = false;
  st.digests = {{"a", 0}, {"b", 1}, {"c", 0xffffffffffffffffULL}};
  out.emplace_back(st);
  dd::gossip g;
  g.send_back = true;
  g.entries["cart"] = sample_envelope();
  g.entries["gone"] = dd::data_envelope::deleted_entry();
  g.entries["set"].data = sample_set();
  out.emplace_back(g);
  out.emplace_back(dd::gossip{});
  return out;
}

template <class M>
bool same(const M& a, const M& b) {
  if constexpr (std::is_same_v<M, dd::write>) {
    return a.op == b.op && a.key == b.key && a.envelope == b.envelope;
  } else if constexpr (std::is_same_v<M, dd::write_ack>) {
    return a.op == b.op;
  } else if constexpr (std::is_same_v<M, dd::write_nack>) {
    return a.op == b.op && a.reason == b.reason;
  } else if constexpr (std::is_same_v<M, dd::read>) {
    return a.op == b.op && a.key == b.key;
  } else if constexpr (std::is_same_v<M, dd::read_result>) {
    return a.op == b.op && a.key == b.key && a.envelope == b.envelope;
  } else if constexpr (std::is_same_v<M, dd::delta_propagation>) {
    if (a.deltas.size() != b.deltas.size()) return false;
    for (const auto& [k, d] : a.deltas) {
      const auto it = b.deltas.find(k);
      if (it == b.deltas.end() || !(it->second.delta == d.delta) || it->second.from_seq != d.from_seq ||
          it->second.to_seq != d.to_seq)
        return false;
    }
    return true;
  } else if constexpr (std::is_same_v<M, dd::gossip_status>) {
    return a.chunk == b.chunk && a.total_chunks == b.total_chunks && a.complete == b.complete && a.digests == b.digests;
  } else {
    return a.send_back == b.send_back && a.entries == b.entries;
  }
}

}  // namespace

TEST_CASE("replicator codec: every peer message round-trips", "[unit]") {
  for (const auto& msg : samples()) {
    std::visit(
        [&](const auto& m) {
          using M = std::decay_t<decltype(m)>;
          CAPTURE(std::string(dd::manifest_of<M>()));
          const dd::addressed<M> a{replica(1), replica(2), m, {}};
          auto bytes = dd::encode_addressed(a, codecs());
          REQUIRE(bytes);
          auto back = dd::decode_addressed<M>(*bytes, codecs());
          REQUIRE(back);
          CHECK(back->from == replica(1));
          CHECK(back->to == replica(2));
          CHECK(back->undecodable.empty());
          CHECK(same(m, back->message));
        },
        msg);
  }
}

TEST_CASE("replicator codec: truncated and garbled input is a clean error", "[unit]") {
  const std::uint32_t seed = 20261206u;
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (const auto& msg : samples()) {
    std::visit(
        [&](const auto& m) {
          using M = std::decay_t<decltype(m)>;
          CAPTURE(std::string(dd::manifest_of<M>()));
          auto bytes = dd::encode_addressed(dd::addressed<M>{replica(1), replica(2), m, {}}, codecs());
          REQUIRE(bytes);
          // 1. Every proper prefix fails, with a message naming the manifest.
          for (std::size_t n = 0; n < bytes->size(); ++n) {
            CAPTURE(n);
            auto r = dd::decode_addressed<M>(std::span(bytes->data(), n), codecs());
            REQUIRE_FALSE(r);
            CHECK(r.error().code == dd::ddata_errc::malformed);
            CHECK(r.error().message.rfind(std::string(dd::manifest_of<M>()) + ": ", 0) == 0);
          }
          // 2. Extra bytes fail.
          auto longer = *bytes;
          longer.push_back(0);
          CHECK_FALSE(dd::decode_addressed<M>(longer, codecs()));
          // 3. Flipped bytes decode to something or fail; never crash or over-allocate.
          for (int i = 0; i < 300; ++i) {
            auto garbled = *bytes;
            const int flips = 1 + static_cast<int>(rng() % 3);
            for (int f = 0; f < flips; ++f)
              garbled[rng() % garbled.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
            (void)dd::decode_addressed<M>(garbled, codecs());
          }
        },
        msg);
  }
}

TEST_CASE("replicator codec: an undecodable value names its key and drops only its entry", "[unit]") {
  // A set whose bytes are garbled: that entry is dropped, the other kept.
  dd::gossip g;
  g.entries["hits"] = sample_envelope();
  g.entries["set"].data = sample_set();
  auto bytes = dd::encode_addressed(dd::addressed<dd::gossip>{replica(1), replica(2), g, {}}, codecs());
  REQUIRE(bytes);
  // Garble the set's nested value: its first byte (the layout version) after its type tag.
  const std::string tag(sample_set().type_tag());
  auto it = std::search(bytes->begin(), bytes->end(), tag.begin(), tag.end());
  REQUIRE(it != bytes->end());
  const auto at = static_cast<std::size_t>(it - bytes->begin()) + tag.size() + 1;  // past the value's length
  (*bytes)[at] = 0x7f;
  auto back = dd::decode_addressed<dd::gossip>(*bytes, codecs());
  REQUIRE(back);
  REQUIRE(back->undecodable.size() == 1);
  CHECK(back->undecodable[0].key == "set");
  CHECK(back->message.entries.size() == 1);
  CHECK(back->message.entries.contains("hits"));

  // An unknown type tag in a write: the write is kept without its value, the key named.
  dd::write w{1, "cart", sample_envelope()};
  auto wb = dd::encode_addressed(dd::addressed<dd::write>{replica(1), replica(2), w, {}}, codecs());
  REQUIRE(wb);
  const std::string gtag = "ddata.gcounter";
  auto git = std::search(wb->begin(), wb->end(), gtag.begin(), gtag.end());
  REQUIRE(git != wb->end());
  *(git + 6) = 'X';  // "ddata.Xcounter"
  auto wback = dd::decode_addressed<dd::write>(*wb, codecs());
  REQUIRE(wback);
  REQUIRE(wback->undecodable.size() == 1);
  CHECK(wback->undecodable[0].key == "cart");
  CHECK(wback->message.envelope.data.empty());
}
