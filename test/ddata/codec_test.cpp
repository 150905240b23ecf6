#include "troupe/ddata/codec.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "ddata/property.hpp"
#include "troupe/ddata/replicated_data.hpp"
#include "troupe/ddata/serializers.hpp"
#include "troupe/remote/serialization.hpp"

namespace dd = troupe::ddata;
using dd::replica_id;
using dd::wire::bytes;
using namespace troupe::ddata::testing;

namespace {

const replica_id a = test_replica(1);
const replica_id b = test_replica(2);

// Random operations for every built-in type.
std::string text(std::mt19937& rng) {
  static const char* const words[] = {"", "a", "bb", "ccc", "delta", "\xff\x00z"};
  return words[pick(rng, 6)];
}
std::int64_t integer(std::mt19937& rng) {
  static const std::int64_t values[] = {0, 1, -1, 300, -70000, INT64_MAX, INT64_MIN};
  return values[pick(rng, 7)];
}
template <class T>
T element(std::mt19937& rng) {
  if constexpr (std::is_same_v<T, std::string>) {
    return text(rng);
  } else {
    return static_cast<T>(integer(rng));
  }
}

void mutate(dd::gcounter& x, const replica_id& r, std::mt19937& rng) { x.increment(r, pick(rng, 1000)); }
void mutate(dd::pncounter& x, const replica_id& r, std::mt19937& rng) { x.increment(r, integer(rng) / 3); }
void mutate(dd::flag& x, const replica_id&, std::mt19937& rng) {
  if (chance(rng, 0.2)) x.switch_on();
}
template <class T>
void mutate(dd::gset<T>& x, const replica_id&, std::mt19937& rng) {
  x.add(element<T>(rng));
}
template <class T>
void mutate(dd::orset<T>& x, const replica_id& r, std::mt19937& rng) {
  if (chance(rng, 0.6)) {
    x.add(r, element<T>(rng));
  } else {
    x.remove(element<T>(rng));
  }
}
template <class T>
void mutate(dd::lww_register<T>& x, const replica_id& r, std::mt19937& rng) {
  x.set(r, element<T>(rng), integer(rng));
}
template <class K, class V>
void mutate(dd::lww_map<K, V>& x, const replica_id& r, std::mt19937& rng) {
  if (chance(rng, 0.7)) {
    x.put(r, element<K>(rng), element<V>(rng), static_cast<std::int64_t>(pick(rng, 10)));
  } else {
    x.remove(element<K>(rng));
  }
}
template <class K>
void mutate(dd::pncounter_map<K>& x, const replica_id& r, std::mt19937& rng) {
  if (chance(rng, 0.7)) {
    x.increment(r, element<K>(rng), static_cast<std::int64_t>(pick(rng, 9)) - 4);
  } else {
    x.remove(element<K>(rng));
  }
}
template <class K, class V>
void mutate(dd::ormap<K, V>& x, const replica_id& r, std::mt19937& rng) {
  if (chance(rng, 0.75)) {
    x.update(r, element<K>(rng), [&](V& v) { mutate(v, r, rng); });
  } else {
    x.remove(element<K>(rng));
  }
}

/// Round trips of random values and deltas of `T`, and errors for every truncation and for
/// garbled bytes.
template <class T>
void check_codec(int runs = 4) {
  const std::uint32_t seed = seed_for(30);
  CAPTURE(Catch::rngSeed(), seed, dd::type_tag<T>());
  std::mt19937 rng(seed);
  auto op = [](T& x, const replica_id& r, std::mt19937& g) { mutate(x, r, g); };
  for (int run = 0; run < runs; ++run) {
    CAPTURE(run);
    auto rs = random_replicas<T>(rng, op, 25);
    op(rs[0], replicas()[0], rng);
    std::vector<T> samples(rs.begin(), rs.end());
    if (auto d = rs[0].delta()) samples.push_back(*d);
    samples.push_back(T{});
    for (const T& x : samples) {
      const bytes wire = dd::encode(x);
      const auto back = dd::decode<T>(wire);
      REQUIRE(back);
      REQUIRE(*back == x);
      REQUIRE(dd::encode(*back) == wire);
      // Every truncation is an error naming the type.
      for (std::size_t n = 0; n < wire.size(); ++n) {
        const auto cut = dd::decode<T>(std::span<const std::uint8_t>(wire.data(), n));
        REQUIRE_FALSE(cut);
        REQUIRE(cut.error().code == dd::ddata_errc::malformed);
        REQUIRE(cut.error().message.rfind(dd::type_tag<T>() + ": ", 0) == 0);
      }
      bytes longer = wire;
      longer.push_back(0);
      REQUIRE_FALSE(dd::decode<T>(longer));
      // Garbled bytes: an error, or a value that is itself well-formed.
      for (int g = 0; g < 10; ++g) {
        bytes bad = wire;
        const std::size_t flips = 1 + pick(rng, 3);
        for (std::size_t f = 0; f < flips; ++f) bad[pick(rng, bad.size())] = static_cast<std::uint8_t>(pick(rng, 256));
        const auto v = dd::decode<T>(bad);
        if (v) REQUIRE(dd::decode<T>(dd::encode(*v)));
      }
    }
  }
}

}  // namespace

TEST_CASE("every built-in type and delta survives its wire form", "[unit][ddata][codec]") {
  check_codec<dd::gcounter>();
  check_codec<dd::pncounter>();
  check_codec<dd::flag>();
  check_codec<dd::gset<std::string>>();
  check_codec<dd::gset<std::int64_t>>();
  check_codec<dd::gset<std::uint64_t>>();
  check_codec<dd::orset<std::string>>();
  check_codec<dd::orset<std::int64_t>>();
  check_codec<dd::orset<std::uint64_t>>();
  check_codec<dd::lww_register<std::string>>();
  check_codec<dd::lww_register<std::int64_t>>();
  check_codec<dd::lww_register<std::uint64_t>>();
  check_codec<dd::lww_map<std::string, std::string>>();
  check_codec<dd::lww_map<std::int64_t, std::int64_t>>();
  check_codec<dd::pncounter_map<std::string>>();
  check_codec<dd::pncounter_map<std::int64_t>>();
  check_codec<dd::ormap<std::string, dd::gcounter>>();
  check_codec<dd::ormap<std::string, dd::pncounter>>();
  check_codec<dd::ormap<std::string, dd::flag>>();
  check_codec<dd::ormap<std::string, dd::gset<std::string>>>();
  check_codec<dd::ormap<std::string, dd::orset<std::string>>>();
  check_codec<dd::ormap<std::string, dd::lww_register<std::string>>>();
}

TEST_CASE("the wire form is compact: each replica once", "[unit][ddata][codec]") {
  dd::gcounter g;
  g.increment(a, 5);
  // version | 1 replica: "ddata" "10.0.0.1" port 2552 uid 1001 | 1 count: index 0, 5
  const bytes expected{1, 1, 5, 'd', 'd', 'a', 't', 'a', 8, '1', '0', '.', '0', '.', '0', '.', '1',
                       0xf8, 0x13, 0xe9, 0x07, 1, 0, 5};
  CHECK(dd::encode(g) == expected);
  dd::orset<std::string> s;
  for (int i = 0; i < 50; ++i) s.add(a, std::to_string(i));
  CHECK(dd::encode(s).size() < 50 * 6 + 30);
}

TEST_CASE("decoding errors name the field", "[unit][ddata][codec]") {
  auto message_of = [](const auto& result) { return result ? std::string("(decoded)") : result.error().message; };
  CHECK(message_of(dd::decode<dd::gcounter>(bytes{})) == "ddata.gcounter: version: truncated");
  CHECK(message_of(dd::decode<dd::gcounter>(bytes{9})) == "ddata.gcounter: version: unknown layout 9");
  CHECK(message_of(dd::decode<dd::gcounter>(bytes{1, 0, 1, 0, 5})) ==
        "ddata.gcounter: counts[0]: replica index 0 of a table of 0");
  CHECK(message_of(dd::decode<dd::gcounter>(bytes{1, 0, 100, 1})) ==
        "ddata.gcounter: counts: count 100 larger than the 1 bytes left");
  CHECK(message_of(dd::decode<dd::flag>(bytes{1, 0, 2})) == "ddata.flag: enabled: flag byte 2 is not 0 or 1");
  CHECK(message_of(dd::decode<dd::flag>(bytes{1, 0, 1, 7})) == "ddata.flag: value: 1 bytes after the value");

  bytes wire = dd::encode(dd::gcounter({{a, 1}}));
  wire.back() = 0;
  CHECK(message_of(dd::decode<dd::gcounter>(wire)) == "ddata.gcounter: counts[0]: a zero count");

  // A dot missing from the context: not something a replica writes.
  using kernel = dd::orset<std::string>::kernel_type;
  const kernel bad({{"x", {{dd::dot{a, 1}, {}}}}}, dd::dot_context{});
  CHECK(message_of(dd::decode<dd::orset<std::string>>(dd::encode(dd::orset<std::string>(bad)))) ==
        "ddata.orset<string>: entries: a dot missing from the context");

  // Integers are range-checked against the element type.
  CHECK(message_of(dd::decode<dd::gset<std::int8_t>>(dd::encode(dd::gset<std::int64_t>({300})))) ==
        "ddata.gset<int8>: elements[0]: 300 out of range for int8");
  CHECK(message_of(dd::decode<dd::gset<std::int64_t>>(dd::encode(dd::gset<std::int64_t>({1, 2})))) == "(decoded)");
  bytes dup = dd::encode(dd::gset<std::int64_t>({1, 2}));
  dup.back() = dup[dup.size() - 2];
  CHECK(message_of(dd::decode<dd::gset<std::int64_t>>(dup)) == "ddata.gset<int64>: elements[1]: duplicate element");
}

TEST_CASE("ddata types go through the serialization registry", "[unit][ddata][codec]") {
  troupe::remote::serialization s;
  dd::register_data_types(s);
  dd::register_data_types(s);  // idempotent
  dd::orset<std::string> value;
  value.add(a, "x");
  value.add(b, "y");
  const auto wire = s.encode(troupe::make_message(value));
  REQUIRE(wire);
  CHECK(wire->serializer == dd::serializer_id);
  CHECK(wire->manifest == "ddata.orset<string>");
  const auto back = s.decode(wire->serializer, wire->manifest, wire->payload);
  REQUIRE(back);
  const auto* decoded = back->get_if<dd::orset<std::string>>();
  REQUIRE(decoded != nullptr);
  CHECK(decoded->elements() == value.elements());
  CHECK(decoded->kernel().context() == value.kernel().context());

  const auto counter = s.encode(troupe::make_message(dd::gcounter({{a, 1}})));
  REQUIRE(counter);
  CHECK(counter->manifest == "ddata.gcounter");
  bytes cut = counter->payload;
  cut.pop_back();
  const auto bad = s.decode(counter->serializer, counter->manifest, cut);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().find("ddata.gcounter: counts[0]: truncated") != std::string::npos);
}

namespace {

struct max_register {
  static constexpr std::string_view type_tag = "test.max_register";
  std::int64_t value = 0;
  void merge(const max_register& o) { value = std::max(value, o.value); }
  friend bool operator==(const max_register&, const max_register&) = default;
};

}  // namespace

template <>
struct troupe::ddata::wire_codec<max_register> {
  static void write(wire::writer& w, const max_register& m) { w.zigzag(m.value); }
  static max_register read(wire::reader& r) { return max_register{r.zigzag()}; }
};

TEST_CASE("data_codecs encode and decode replicated_data by type tag", "[unit][ddata][codec]") {
  dd::data_codecs codecs;
  dd::pncounter_map<std::string> votes;
  votes.increment(a, "yes", 3);
  const dd::replicated_data d{votes};
  const auto wire = codecs.encode(d);
  REQUIRE(wire);
  const auto back = codecs.decode(d.type_tag(), *wire);
  REQUIRE(back);
  CHECK(*back == d);

  CHECK(codecs.encode(dd::replicated_data{}).error().code == dd::ddata_errc::empty_value);
  CHECK_FALSE(codecs.knows("test.max_register"));
  const auto unknown = codecs.encode(dd::replicated_data{max_register{4}});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == dd::ddata_errc::unknown_type);
  CHECK(unknown.error().message == "no codec for test.max_register");
  CHECK(codecs.decode("ddata.nothing", *wire).error().code == dd::ddata_errc::unknown_type);
  CHECK(codecs.decode("ddata.gcounter", *wire).error().code == dd::ddata_errc::malformed);

  codecs.add<max_register>();
  const auto user = codecs.encode(dd::replicated_data{max_register{4}});
  REQUIRE(user);
  const auto user_back = codecs.decode("test.max_register", *user);
  REQUIRE(user_back);
  CHECK(user_back->get_if<max_register>()->value == 4);
}
