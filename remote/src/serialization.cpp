#include "troupe/remote/serialization.hpp"

#include <array>

#include "troupe/actor/messages.hpp"
#include "troupe/actor/system_messages.hpp"

namespace troupe::remote {

namespace {

thread_local const ref_codec* tls_codec = nullptr;

using json = nlohmann::json;

std::atomic<std::uint64_t> next_serial{1};

// A thread's last lookups of each kind, each valid while its registry's serial and
// generation are the ones it was made under. A few, not one: a message nested in another
// (sharding's forwarded messages) looks up two types for each message.
struct by_type_memo {
  std::uint64_t serial = 0, generation = 0;
  type_id type = nullptr;
  const void* found = nullptr;
};
struct by_manifest_memo {
  std::uint64_t serial = 0, generation = 0;
  std::uint32_t id = 0;
  std::string_view manifest;  // the entry's own, which lives as long as its registry
  const void* found = nullptr;
};
constexpr std::size_t memo_ways = 4;
template <class Memo>
struct memo_set {
  std::array<Memo, memo_ways> ways{};
  std::size_t next = 0;  // the way the next miss replaces
  Memo& replace() noexcept { return ways[next++ % memo_ways]; }
};
thread_local memo_set<by_type_memo> tls_by_type;
thread_local memo_set<by_manifest_memo> tls_by_manifest;

}  // namespace

ref_codec_scope::ref_codec_scope(const ref_codec* c) noexcept : previous_(tls_codec) { tls_codec = c; }
ref_codec_scope::~ref_codec_scope() { tls_codec = previous_; }
const ref_codec* ref_codec_scope::current() noexcept { return tls_codec; }

void serialization::append(bytes& out, bytes&& b) {
  if (out.empty()) {
    out = std::move(b);
  } else {
    out.insert(out.end(), b.begin(), b.end());
  }
}

void serialization::add(type_id t, std::uint32_t id, std::string manifest, encode_fn enc, decode_fn dec) {
  auto e = std::make_unique<const entry>(entry{t, id, manifest, std::move(enc), std::move(dec)});
  std::unique_lock lock(mutex_);
  generation_.fetch_add(1, std::memory_order_release);
  if (const entry* existing = find(id, manifest); existing && existing->type != t) {
    throw std::invalid_argument("serializer " + std::to_string(id) + " manifest \"" + manifest +
                                "\" is already registered for " + existing->type->name());
  }
  const entry* added = e.get();
  entries_.push_back(std::move(e));
  by_type_[t] = added;
  auto& same_manifest = by_manifest_[manifest];
  std::erase_if(same_manifest, [&](const entry* x) { return x->id == id; });
  same_manifest.push_back(added);
}

const serialization::entry* serialization::find(std::uint32_t id, std::string_view manifest) const {
  const auto it = by_manifest_.find(manifest);
  if (it == by_manifest_.end()) return nullptr;
  for (const entry* e : it->second)
    if (e->id == id) return e;
  return nullptr;
}

const serialization::entry* serialization::entry_for(type_id t) const {
  auto& memos = tls_by_type;
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  for (const auto& memo : memos.ways) {
    if (memo.type == t && memo.serial == serial_ && memo.generation == generation) {
      return static_cast<const entry*>(memo.found);
    }
  }
  const entry* e = nullptr;
  {
    std::shared_lock lock(mutex_);
    auto it = by_type_.find(t);
    if (it != by_type_.end()) e = it->second;
  }
  // Under the generation read before the lookup: a registration in between makes the memo
  // stale at once rather than wrong.
  if (e) memos.replace() = {serial_, generation, t, e};
  return e;
}

const serialization::entry* serialization::entry_for(std::uint32_t id, std::string_view manifest) const {
  auto& memos = tls_by_manifest;
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  for (const auto& memo : memos.ways) {
    if (memo.id == id && memo.serial == serial_ && memo.generation == generation && memo.manifest == manifest) {
      return static_cast<const entry*>(memo.found);
    }
  }
  const entry* e = nullptr;
  {
    std::shared_lock lock(mutex_);
    e = find(id, manifest);
  }
  if (e) memos.replace() = {serial_, generation, id, e->manifest, e};
  return e;
}

bool serialization::is_registered(type_id t) const {
  std::shared_lock lock(mutex_);
  return by_type_.count(t) > 0;
}

expected<serialized, std::string> serialization::encode(const message& m) const {
  bytes payload;
  auto as = encode_into(m, payload);
  if (!as) return unexpected<std::string>{std::move(as.error())};
  return serialized{as->serializer, std::string(as->manifest), std::move(payload)};
}

expected<encoded_as, std::string> serialization::encoding_of(const message& m) const {
  if (!m) return unexpected<std::string>{"cannot serialize an empty message"};
  const entry* e = entry_for(m.type());
  if (!e) {
    return unexpected<std::string>{"no serializer registered for " + m.type_name() +
                                   " (register it with serialization().register_json<T>(\"manifest\"))"};
  }
  return encoded_as{e->id, e->manifest};
}

expected<encoded_as, std::string> serialization::encode_into(const message& m, bytes& out) const {
  if (!m) return unexpected<std::string>{"cannot serialize an empty message"};
  const entry* e = entry_for(m.type());
  if (!e) {
    return unexpected<std::string>{"no serializer registered for " + m.type_name() +
                                   " (register it with serialization().register_json<T>(\"manifest\"))"};
  }
  const std::size_t before = out.size();
  try {
    e->encode(m.get()->payload(), out);
    return encoded_as{e->id, e->manifest};
  } catch (const std::exception& ex) {
    out.resize(before);
    return unexpected<std::string>{"serializing " + m.type_name() + " failed: " + ex.what()};
  }
}

expected<message, std::string> serialization::decode(std::uint32_t id, std::string_view manifest,
                                                     std::span<const std::uint8_t> payload) const {
  const entry* e = entry_for(id, manifest);
  if (!e) {
    return unexpected<std::string>{"no serializer " + std::to_string(id) + " with manifest \"" +
                                   std::string(manifest) + "\" is registered here"};
  }
  try {
    return e->decode(payload);
  } catch (const std::exception& ex) {
    return unexpected<std::string>{"decoding \"" + std::string(manifest) + "\" failed: " + ex.what()};
  }
}

serialization::serialization() : serial_(next_serial.fetch_add(1, std::memory_order_relaxed)) {
  add(type_id_of<std::string>(), serializer_id::string, "s",
      [](const void* v, bytes& out) {
        const auto& s = *static_cast<const std::string*>(v);
        out.insert(out.end(), s.begin(), s.end());
      },
      [](std::span<const std::uint8_t> b) { return make_message(std::string(b.begin(), b.end())); });
  add(type_id_of<bytes>(), serializer_id::bytes, "b",
      [](const void* v, bytes& out) {
        const auto& b = *static_cast<const bytes*>(v);
        out.insert(out.end(), b.begin(), b.end());
      },
      [](std::span<const std::uint8_t> b) { return make_message(bytes(b.begin(), b.end())); });

  // The runtime's own messages, as CBOR maps with named fields (unknown fields ignored).
  auto sys = [this](type_id t, const char* manifest, std::function<json(const void*)> to,
                    std::function<message(const json&)> from) {
    add(t, serializer_id::system, manifest, [to](const void* v, bytes& out) { json::to_cbor(to(v), out); },
        [from](std::span<const std::uint8_t> b) { return from(json::from_cbor(b.begin(), b.end())); });
  };
  sys(type_id_of<sys::watch>(), "watch",
      [](const void* v) {
        auto& w = *static_cast<const sys::watch*>(v);
        return json{{"watchee", w.watchee}, {"watcher", w.watcher}};
      },
      [](const json& j) { return make_message(sys::watch{j.at("watchee").get<actor_ref>(), j.at("watcher").get<actor_ref>()}); });
  sys(type_id_of<sys::unwatch>(), "unwatch",
      [](const void* v) {
        auto& w = *static_cast<const sys::unwatch*>(v);
        return json{{"watchee", w.watchee}, {"watcher", w.watcher}};
      },
      [](const json& j) {
        return make_message(sys::unwatch{j.at("watchee").get<actor_ref>(), j.at("watcher").get<actor_ref>()});
      });
  sys(type_id_of<sys::death_watch_notification>(), "dwn",
      [](const void* v) {
        auto& n = *static_cast<const sys::death_watch_notification*>(v);
        return json{{"actor", n.actor}, {"confirmed", n.existence_confirmed}, {"address", n.address_terminated}};
      },
      [](const json& j) {
        return make_message(sys::death_watch_notification{j.at("actor").get<actor_ref>(), j.value("confirmed", true),
                                                          j.value("address", false)});
      });
  sys(type_id_of<sys::terminate>(), "terminate", [](const void*) { return json::object(); },
      [](const json&) { return make_message(sys::terminate{}); });
  sys(type_id_of<identify>(), "identify",
      [](const void* v) { return json{{"id", static_cast<const identify*>(v)->correlation_id}}; },
      [](const json& j) { return make_message(identify{j.value("id", std::uint64_t{0})}); });
  sys(type_id_of<actor_identity>(), "identity",
      [](const void* v) {
        auto& i = *static_cast<const actor_identity*>(v);
        return json{{"id", i.correlation_id}, {"ref", i.ref}};
      },
      [](const json& j) {
        return make_message(actor_identity{j.value("id", std::uint64_t{0}), j.at("ref").get<actor_ref>()});
      });
  sys(type_id_of<poison_pill>(), "poison", [](const void*) { return json::object(); },
      [](const json&) { return make_message(poison_pill{}); });
  sys(type_id_of<kill>(), "kill", [](const void*) { return json::object(); },
      [](const json&) { return make_message(kill{}); });
}

}  // namespace troupe::remote

void nlohmann::adl_serializer<troupe::actor_ref>::to_json(nlohmann::json& j, const troupe::actor_ref& r) {
  if (!r) {
    j = nlohmann::json{{"uri", ""}, {"uid", 0}};
    return;
  }
  const auto* codec = troupe::remote::ref_codec_scope::current();
  if (!codec || !codec->to_wire) throw std::logic_error("an actor_ref is serialized outside of the transport");
  auto [uri, uid] = codec->to_wire(r);
  j = nlohmann::json{{"uri", std::move(uri)}, {"uid", uid}};
}

void nlohmann::adl_serializer<troupe::actor_ref>::from_json(const nlohmann::json& j, troupe::actor_ref& r) {
  const auto uri = j.at("uri").get<std::string>();
  if (uri.empty()) {
    r = troupe::actor_ref{};
    return;
  }
  const auto* codec = troupe::remote::ref_codec_scope::current();
  if (!codec || !codec->from_wire) throw std::logic_error("an actor_ref is deserialized outside of the transport");
  r = codec->from_wire(uri, j.value("uid", std::uint64_t{0}));
}
