#include "troupe/cluster/protocol_fields.hpp"

#include <utility>

#include "troupe/remote/wire/cbor.hpp"

namespace troupe::cluster::protocol::fields {

void fail(const std::string& path, const std::string& problem) { throw decode_error(path + ": " + problem); }

json parse_map(std::span<const std::uint8_t> wire) {
  if (wire.empty()) fail("message", "no bytes, expected a CBOR map");
  auto j = troupe::remote::wire::decode_cbor_map(wire);
  if (!j) fail("message", j.error());
  return std::move(j).value();
}

std::string key_path(const std::string& path, const char* key) {
  return path.empty() ? std::string(key) : path + "." + key;
}
std::string item_path(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

const json& required(const json& map, const std::string& path, const char* key) {
  const auto it = map.find(key);
  if (it == map.end()) fail(key_path(path, key), "missing");
  return *it;
}
const json* optional(const json& map, const char* key) {
  const auto it = map.find(key);
  return it == map.end() ? nullptr : &*it;
}

const json& as_map(const json& v, const std::string& path) {
  if (!v.is_object()) fail(path, std::string("expected a map, got ") + v.type_name());
  return v;
}
const json& as_array(const json& v, const std::string& path) {
  if (!v.is_array()) fail(path, std::string("expected an array, got ") + v.type_name());
  return v;
}
std::string as_text(const json& v, const std::string& path) {
  if (!v.is_string()) fail(path, std::string("expected a text string, got ") + v.type_name());
  return v.get<std::string>();
}
std::uint64_t as_unsigned(const json& v, const std::string& path, std::uint64_t max) {
  if (v.is_number_integer() && !v.is_number_unsigned()) fail(path, "must not be negative");
  if (!v.is_number_unsigned()) fail(path, std::string("expected an unsigned integer, got ") + v.type_name());
  const auto x = v.get<std::uint64_t>();
  if (x > max) fail(path, std::to_string(x) + " is above the limit " + std::to_string(max));
  return x;
}
std::int64_t as_signed(const json& v, const std::string& path, std::int64_t min, std::int64_t max) {
  std::int64_t x = 0;
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(max)) fail(path, std::to_string(u) + " is above the limit " + std::to_string(max));
    x = static_cast<std::int64_t>(u);
  } else if (v.is_number_integer()) {
    x = v.get<std::int64_t>();
  } else {
    fail(path, std::string("expected an integer, got ") + v.type_name());
  }
  if (x < min || x > max)
    fail(path, std::to_string(x) + " is outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return x;
}
bool as_bool(const json& v, const std::string& path) {
  if (!v.is_boolean()) fail(path, std::string("expected true or false, got ") + v.type_name());
  return v.get<bool>();
}

json to_json(const model::address& a) { return json{{"system", a.system}, {"host", a.host}, {"port", a.port}}; }
json to_json(const model::unique_address& a) {
  return json{{"system", a.address.system}, {"host", a.address.host}, {"port", a.address.port}, {"uid", a.uid}};
}

model::address address_of(const json& v, const std::string& path, const std::string* default_system) {
  const json& m = as_map(v, path);
  model::address a;
  if (const json* s = optional(m, "system"); s || !default_system)
    a.system = as_text(s ? *s : required(m, path, "system"), key_path(path, "system"));
  else
    a.system = *default_system;
  a.host = as_text(required(m, path, "host"), key_path(path, "host"));
  a.port = static_cast<std::uint16_t>(as_unsigned(required(m, path, "port"), key_path(path, "port"), 65535));
  return a;
}
model::unique_address unique_address_of(const json& v, const std::string& path, const std::string* default_system) {
  model::unique_address u{address_of(v, path, default_system), 0};
  u.uid = as_unsigned(required(v, path, "uid"), key_path(path, "uid"));
  return u;
}

}  // namespace troupe::cluster::protocol::fields
