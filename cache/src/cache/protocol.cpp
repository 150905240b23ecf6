#include "troupe/cache/protocol.hpp"

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "troupe/remote/serialization.hpp"

namespace troupe::cache {
namespace {

// Values are bytes: written as CBOR byte strings (text strings must be UTF-8).
nlohmann::json bytes_of(const std::string& s) {
  return nlohmann::json::binary(std::vector<std::uint8_t>(s.begin(), s.end()));
}
std::string string_of(const nlohmann::json& j, const char* key) {
  const auto& v = j.at(key);
  if (!v.is_binary()) throw nlohmann::json::type_error::create(302, std::string(key) + ": expected bytes", &v);
  const auto& b = v.get_binary();
  return std::string(b.begin(), b.end());
}

}  // namespace

void to_json(nlohmann::json& j, const put_request& m) {
  j = {{"key", m.key}, {"value", bytes_of(m.value)}, {"ttl-ms", m.ttl_ms}};
}
void from_json(const nlohmann::json& j, put_request& m) {
  j.at("key").get_to(m.key);
  m.value = string_of(j, "value");
  j.at("ttl-ms").get_to(m.ttl_ms);
}
void to_json(nlohmann::json& j, const put_reply& m) { j = {{"stored", m.stored}, {"error", m.error}}; }
void from_json(const nlohmann::json& j, put_reply& m) {
  j.at("stored").get_to(m.stored);
  j.at("error").get_to(m.error);
}
void to_json(nlohmann::json& j, const get_request& m) { j = {{"key", m.key}}; }
void from_json(const nlohmann::json& j, get_request& m) { j.at("key").get_to(m.key); }
void to_json(nlohmann::json& j, const get_reply& m) {
  j = {{"found", m.found}, {"value", bytes_of(m.value)}, {"error", m.error}};
}
void from_json(const nlohmann::json& j, get_reply& m) {
  j.at("found").get_to(m.found);
  m.value = string_of(j, "value");
  j.at("error").get_to(m.error);
}
void to_json(nlohmann::json& j, const remove_request& m) { j = {{"key", m.key}}; }
void from_json(const nlohmann::json& j, remove_request& m) { j.at("key").get_to(m.key); }
void to_json(nlohmann::json& j, const remove_reply& m) { j = {{"removed", m.removed}}; }
void from_json(const nlohmann::json& j, remove_reply& m) { j.at("removed").get_to(m.removed); }
void to_json(nlohmann::json& j, const load_claim& m) { j = {{"key", m.key}}; }
void from_json(const nlohmann::json& j, load_claim& m) { j.at("key").get_to(m.key); }
void to_json(nlohmann::json& j, const load_answer& m) {
  j = {{"answer", static_cast<int>(m.answer)}, {"value", bytes_of(m.value)}, {"error", m.error}, {"claim", m.claim}};
}
void from_json(const nlohmann::json& j, load_answer& m) {
  const int a = j.at("answer").get<int>();
  if (a < 0 || a > static_cast<int>(load_answer::kind::failed))
    throw nlohmann::json::out_of_range::create(401, "answer: unknown kind " + std::to_string(a), &j);
  m.answer = static_cast<load_answer::kind>(a);
  m.value = string_of(j, "value");
  j.at("error").get_to(m.error);
  j.at("claim").get_to(m.claim);
}
void to_json(nlohmann::json& j, const load_done& m) {
  j = {{"key", m.key}, {"value", bytes_of(m.value)}, {"ttl-ms", m.ttl_ms}, {"claim", m.claim}};
}
void from_json(const nlohmann::json& j, load_done& m) {
  j.at("key").get_to(m.key);
  m.value = string_of(j, "value");
  j.at("ttl-ms").get_to(m.ttl_ms);
  j.at("claim").get_to(m.claim);
}
void to_json(nlohmann::json& j, const load_failed& m) { j = {{"key", m.key}, {"error", m.error}, {"claim", m.claim}}; }
void from_json(const nlohmann::json& j, load_failed& m) {
  j.at("key").get_to(m.key);
  j.at("error").get_to(m.error);
  j.at("claim").get_to(m.claim);
}

void to_json(nlohmann::json& j, const replica_entry& m) {
  j = {{"key", m.key}, {"value", bytes_of(m.value)}, {"ttl-ms", m.ttl_ms}};
}
void from_json(const nlohmann::json& j, replica_entry& m) {
  j.at("key").get_to(m.key);
  m.value = string_of(j, "value");
  j.at("ttl-ms").get_to(m.ttl_ms);
}
void to_json(nlohmann::json& j, const replica_copy& m) {
  j = {{"bucket", m.bucket}, {"version", m.version}, {"epoch", m.epoch},    {"capacity", m.capacity},
       {"part", m.part},     {"parts", m.parts},     {"entries", m.entries}};
}
void from_json(const nlohmann::json& j, replica_copy& m) {
  j.at("bucket").get_to(m.bucket);
  j.at("version").get_to(m.version);
  j.at("epoch").get_to(m.epoch);
  j.at("capacity").get_to(m.capacity);
  j.at("part").get_to(m.part);
  j.at("parts").get_to(m.parts);
  j.at("entries").get_to(m.entries);
}
void to_json(nlohmann::json& j, const replica_write& m) {
  j = {{"bucket", m.bucket}, {"version", m.version}, {"epoch", m.epoch},           {"capacity", m.capacity},
       {"remove", m.remove}, {"key", m.key},         {"value", bytes_of(m.value)}, {"ttl-ms", m.ttl_ms}};
}
void from_json(const nlohmann::json& j, replica_write& m) {
  j.at("bucket").get_to(m.bucket);
  j.at("version").get_to(m.version);
  j.at("epoch").get_to(m.epoch);
  j.at("capacity").get_to(m.capacity);
  j.at("remove").get_to(m.remove);
  j.at("key").get_to(m.key);
  m.value = string_of(j, "value");
  j.at("ttl-ms").get_to(m.ttl_ms);
}
void to_json(nlohmann::json& j, const replica_ack& m) {
  j = {{"bucket", m.bucket}, {"version", m.version}, {"epoch", m.epoch}, {"missing", m.missing}};
}
void from_json(const nlohmann::json& j, replica_ack& m) {
  j.at("bucket").get_to(m.bucket);
  j.at("version").get_to(m.version);
  j.at("epoch").get_to(m.epoch);
  j.at("missing").get_to(m.missing);
}
void to_json(nlohmann::json& j, const replica_drop& m) { j = {{"bucket", m.bucket}, {"version", m.version}}; }
void from_json(const nlohmann::json& j, replica_drop& m) {
  j.at("bucket").get_to(m.bucket);
  j.at("version").get_to(m.version);
}
void to_json(nlohmann::json& j, const replica_query& m) { j = {{"bucket", m.bucket}, {"asker", m.asker}}; }
void from_json(const nlohmann::json& j, replica_query& m) {
  j.at("bucket").get_to(m.bucket);
  j.at("asker").get_to(m.asker);
}
void to_json(nlohmann::json& j, const replica_held& m) {
  j = {{"bucket", m.bucket}, {"asker", m.asker}, {"found", m.found},    {"version", m.version},
       {"part", m.part},     {"parts", m.parts}, {"entries", m.entries}};
}
void from_json(const nlohmann::json& j, replica_held& m) {
  j.at("bucket").get_to(m.bucket);
  j.at("asker").get_to(m.asker);
  j.at("found").get_to(m.found);
  j.at("version").get_to(m.version);
  j.at("part").get_to(m.part);
  j.at("parts").get_to(m.parts);
  j.at("entries").get_to(m.entries);
}

std::string replica_store_path(const std::string& type_name) { return "/system/cache-replicas-" + type_name; }

void register_protocol(remote::serialization& s) {
  s.register_json<put_request>("cache.put");
  s.register_json<put_reply>("cache.put_reply");
  s.register_json<get_request>("cache.get");
  s.register_json<get_reply>("cache.get_reply");
  s.register_json<remove_request>("cache.remove");
  s.register_json<remove_reply>("cache.remove_reply");
  s.register_json<load_claim>("cache.load_claim");
  s.register_json<load_answer>("cache.load_answer");
  s.register_json<load_done>("cache.load_done");
  s.register_json<load_failed>("cache.load_failed");
  s.register_json<replica_copy>("cache.replica_copy");
  s.register_json<replica_write>("cache.replica_write");
  s.register_json<replica_ack>("cache.replica_ack");
  s.register_json<replica_drop>("cache.replica_drop");
  s.register_json<replica_query>("cache.replica_query");
  s.register_json<replica_held>("cache.replica_held");
}

}  // namespace troupe::cache
