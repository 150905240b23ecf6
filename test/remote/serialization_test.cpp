// Serialization registry: user types in one line, built-ins, refs inside messages, errors.
#include <catch2/catch.hpp>

#include <map>

#include <troupe/actor.hpp>
#include <troupe/remote/serialization.hpp>

namespace {

struct order {
  std::string item;
  int qty = 0;
  troupe::actor_ref reply_to;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order, item, qty, reply_to)

struct unregistered {
  int x;
};

struct other {
  int y = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(other, y)

/// A ref codec over a table, standing in for the transport.
struct table_codec {
  std::map<std::string, troupe::actor_ref> by_uri;
  troupe::remote::ref_codec codec{
      [this](const troupe::actor_ref& r) { return std::make_pair("troupe://t@127.0.0.1:1" + r.path().substr(std::string("troupe://t").size()), r.uid()); },
      [this](const std::string& uri, std::uint64_t) {
        auto it = by_uri.find(uri);
        return it == by_uri.end() ? troupe::actor_ref{} : it->second;
      }};
};

}  // namespace

TEST_CASE("a registered nlohmann type round-trips, refs included", "[unit][serialization]") {
  troupe::actor_system sys("t", troupe::testkit::manual_settings());
  auto target = sys.spawn(troupe::props::from_behavior([](troupe::actor&) { return troupe::behavior{}; }), "target");
  CHECK(target.path() == "troupe://t/user/target");
  table_codec tc;
  tc.by_uri["troupe://t@127.0.0.1:1/user/target"] = target;
  troupe::remote::ref_codec_scope scope(&tc.codec);

  troupe::remote::serialization s;
  s.register_json<order>("shop.order");
  auto wire = s.encode(troupe::make_message(order{"apple", 3, target}));
  REQUIRE(wire);
  CHECK(wire->serializer == troupe::remote::serializer_id::cbor);
  CHECK(wire->manifest == "shop.order");
  auto back = s.decode(wire->serializer, wire->manifest, wire->payload);
  REQUIRE(back);
  auto* o = back->get_if<order>();
  REQUIRE(o);
  CHECK(o->item == "apple");
  CHECK(o->qty == 3);
  CHECK(o->reply_to == target);
}

TEST_CASE("strings, bytes and runtime messages are built in", "[unit][serialization]") {
  troupe::remote::serialization s;
  auto str = s.encode(troupe::make_message(std::string("hello")));
  REQUIRE(str);
  CHECK(s.decode(str->serializer, str->manifest, str->payload)->get_if<std::string>()->compare("hello") == 0);
  auto b = s.encode(troupe::make_message(troupe::remote::bytes{1, 2, 3}));
  REQUIRE(b);
  CHECK(*s.decode(b->serializer, b->manifest, b->payload)->get_if<troupe::remote::bytes>() ==
        troupe::remote::bytes{1, 2, 3});
  auto id = s.encode(troupe::make_message(troupe::identify{42}));
  REQUIRE(id);
  CHECK(s.decode(id->serializer, id->manifest, id->payload)->get_if<troupe::identify>()->correlation_id == 42);
  CHECK(s.is_registered(troupe::type_id_of<troupe::poison_pill>()));
}

TEST_CASE("unregistered types and bad payloads are errors that name the problem", "[unit][serialization]") {
  troupe::remote::serialization s;
  auto e = s.encode(troupe::make_message(unregistered{1}));
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error(), Catch::Contains("unregistered"));
  CHECK_THAT(e.error(), Catch::Contains("register_json"));

  s.register_json<order>("shop.order");
  const troupe::remote::bytes garbage{0xff, 0x00, 0x13};
  auto d = s.decode(troupe::remote::serializer_id::cbor, "shop.order", garbage);
  REQUIRE_FALSE(d);
  CHECK_THAT(d.error(), Catch::Contains("shop.order"));
  auto unknown = s.decode(7777, "nope", garbage);
  REQUIRE_FALSE(unknown);
  CHECK_THAT(unknown.error(), Catch::Contains("nope"));
  CHECK_THROWS_AS(s.register_json<other>("shop.order"), std::invalid_argument);
}

TEST_CASE("a type registered again is encoded the new way at once, by every registry", "[unit][serialization]") {
  // Lookups are remembered per thread; a registration, or another registry, must not be
  // answered from that memory.
  troupe::remote::serialization s, t;
  s.register_json<other>("v1.other");
  t.register_custom<other>(
      troupe::remote::serializer_id::first_user, "t.other",
      [](const other& o) { return troupe::remote::bytes{static_cast<std::uint8_t>(o.y)}; },
      [](std::span<const std::uint8_t> b) { return other{b.empty() ? -1 : b[0]}; });
  const auto msg = troupe::make_message(other{7});
  for (int round = 0; round < 2; ++round) {  // the second round finds both in the memo
    auto a = s.encode(msg);
    REQUIRE(a);
    CHECK(a->manifest == "v1.other");
    auto b = t.encode(msg);
    REQUIRE(b);
    CHECK(b->manifest == "t.other");
    CHECK(b->payload == troupe::remote::bytes{7});
    CHECK(t.decode(b->serializer, b->manifest, b->payload)->get_if<other>()->y == 7);
    CHECK_FALSE(s.decode(b->serializer, b->manifest, b->payload));  // t's form means nothing to s
  }
  s.register_json<other>("v2.other");
  auto again = s.encode(msg);
  REQUIRE(again);
  CHECK(again->manifest == "v2.other");
  // encode_into appends, and an error leaves the buffer as it was.
  troupe::remote::bytes out{0xEE};
  auto as = s.encode_into(troupe::make_message(std::string("ab")), out);
  REQUIRE(as);
  CHECK(as->serializer == troupe::remote::serializer_id::string);
  CHECK(out == troupe::remote::bytes{0xEE, 'a', 'b'});
  CHECK_FALSE(s.encode_into(troupe::make_message(unregistered{1}), out));
  CHECK(out == troupe::remote::bytes{0xEE, 'a', 'b'});
}

TEST_CASE("an encoder may append in place, and nest another message's form in its own", "[unit][serialization]") {
  // As sharding's forwarded messages do: serializer and manifest of the nested message
  // first (encoding_of), then its payload appended to the same buffer.
  struct outer {
    troupe::message inner;
  };
  troupe::remote::serialization s;
  s.register_json<other>("t.other");
  const troupe::remote::serialization* reg = &s;
  s.register_custom_into<outer>(
      troupe::remote::serializer_id::first_user, "t.outer",
      [reg](const outer& o, troupe::remote::bytes& out) {
        auto as = reg->encoding_of(o.inner);
        if (!as) throw std::runtime_error(as.error());
        out.push_back(static_cast<std::uint8_t>(as->serializer));
        out.push_back(static_cast<std::uint8_t>(as->manifest.size()));
        out.insert(out.end(), as->manifest.begin(), as->manifest.end());
        if (auto w = reg->encode_into(o.inner, out); !w) throw std::runtime_error(w.error());
      },
      [reg](std::span<const std::uint8_t> b) {
        if (b.size() < 2 || b.size() < 2u + b[1]) throw std::runtime_error("truncated");
        const std::string manifest(reinterpret_cast<const char*>(b.data()) + 2, b[1]);
        auto inner = reg->decode(b[0], manifest, b.subspan(2 + b[1]));
        if (!inner) throw std::runtime_error(inner.error());
        return outer{std::move(*inner)};
      });
  troupe::remote::bytes out{0xEE};  // something the sender wrote before
  // Several rounds: the nested lookups of both types are remembered side by side.
  for (int round = 0; round < 3; ++round) {
    out.resize(1);
    auto as = s.encode_into(troupe::make_message(outer{troupe::make_message(other{round})}), out);
    REQUIRE(as);
    CHECK(as->manifest == "t.outer");
    CHECK(out[0] == 0xEE);
    auto back = s.decode(as->serializer, as->manifest, std::span<const std::uint8_t>(out).subspan(1));
    REQUIRE(back);
    CHECK(back->get_if<outer>()->inner.get_if<other>()->y == round);
  }
  // A nested message of no registered type fails the outer one, and leaves the buffer.
  out.resize(1);
  auto bad = s.encode_into(troupe::make_message(outer{troupe::make_message(unregistered{1})}), out);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error(), Catch::Contains("no serializer registered"));
  CHECK(out == troupe::remote::bytes{0xEE});
  CHECK_FALSE(s.encoding_of(troupe::make_message(unregistered{1})));
  CHECK(s.encoding_of(troupe::make_message(other{1}))->manifest == "t.other");
}
