#include "cbor_map.hpp"

#include <cassert>

#include "troupe/remote/wire/cbor.hpp"

namespace troupe::remote::wire {
namespace {

using json = nlohmann::json;

using dom_parser = nlohmann::detail::json_sax_dom_parser<json>;

// nlohmann's DOM parser behind a nesting limit: refusing to open a level stops the parse
// before the binary reader recurses into it.
class depth_limited_parser {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  depth_limited_parser(json& result, std::size_t max_depth) : dom_(result, false), max_depth_(max_depth) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) { return dom_.number_float(v, s); }
  bool string(string_t& v) { return dom_.string(v); }
  bool binary(binary_t& v) { return dom_.binary(v); }
  bool key(string_t& v) { return dom_.key(v); }
  bool start_object(std::size_t n) { return enter() && dom_.start_object(n); }
  bool end_object() { return leave() && dom_.end_object(); }
  bool start_array(std::size_t n) { return enter() && dom_.start_array(n); }
  bool end_array() { return leave() && dom_.end_array(); }
  bool parse_error(std::size_t at, const std::string& token, const nlohmann::detail::exception& e) {
    error_ = e.what();
    return dom_.parse_error(at, token, e);
  }

  const std::string& error() const { return error_; }

 private:
  bool enter() {
    if (++depth_ <= max_depth_) return true;
    error_ = "nested deeper than " + std::to_string(max_depth_) + " levels";
    return false;
  }
  bool leave() {
    --depth_;
    return true;
  }

  dom_parser dom_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  std::string error_;
};

}  // namespace

result<json> decode_cbor_map(std::span<const std::uint8_t> body, std::size_t max_depth) {
  if (body.empty()) return failure{"empty body, expected a CBOR map"};
  json j;
  depth_limited_parser parser(j, max_depth);
  bool parsed = false;
  try {
    parsed = json::sax_parse(body.begin(), body.end(), &parser, json::input_format_t::cbor, true);
  } catch (const json::exception& e) {
    return failure{std::string("not CBOR (") + e.what() + ")"};
  }
  if (!parsed || j.is_discarded())
    return failure{"not CBOR (" + (parser.error().empty() ? "invalid" : parser.error()) + ")"};
  if (!j.is_object()) return failure{std::string("expected a CBOR map, got ") + j.type_name()};
  return j;
}

}  // namespace troupe::remote::wire

namespace troupe::remote::wire::internal {

result<json> parse_cbor_map(std::span<const std::uint8_t> body, std::string_view what) {
  auto j = decode_cbor_map(body);
  if (!j) return failure{"malformed " + std::string(what) + ": " + j.error()};
  return j;
}

void append_cbor(byte_buffer& out, const json& j) { json::to_cbor(j, out); }

json to_json(const node_address& a) {
  return json{{"system", a.system}, {"host", a.host}, {"port", a.port}};
}

json to_json(const unique_node_address& a) {
  json j = to_json(a.address);
  j["uid"] = a.uid;
  return j;
}

map_reader::map_reader(const json& map, std::string what, std::string key_prefix)
    : map_(map), what_(std::move(what)), key_prefix_(std::move(key_prefix)) {
  assert(map_.is_object());
}

const json* map_reader::find(const char* key, bool required) {
  if (!ok()) return nullptr;
  const auto it = map_.find(key);
  if (it == map_.end()) {
    if (required) fail(key, "missing");
    return nullptr;
  }
  return &*it;
}

void map_reader::fail(const char* key, std::string_view problem) {
  if (!ok()) return;
  error_ = "malformed " + what_ + ": key '" + key_prefix_ + key + "' " + std::string(problem);
}

failure map_reader::take_failure() const {
  assert(!ok());
  return failure{error_};
}

std::optional<std::uint64_t> map_reader::optional_u64(const char* key, std::uint64_t max) {
  const json* v = find(key, false);
  if (!v) return std::nullopt;
  if (!v->is_number_unsigned()) {
    fail(key, "must be an unsigned integer");
    return std::nullopt;
  }
  const auto n = v->get<std::uint64_t>();
  if (n > max) {
    fail(key, "must be at most " + std::to_string(max) + ", is " + std::to_string(n));
    return std::nullopt;
  }
  return n;
}

std::uint64_t map_reader::u64(const char* key, std::uint64_t max) {
  if (!find(key, true)) return 0;
  return optional_u64(key, max).value_or(0);
}

std::string map_reader::text(const char* key) {
  const json* v = find(key, true);
  if (!v) return {};
  if (!v->is_string()) {
    fail(key, "must be a text string");
    return {};
  }
  return v->get<std::string>();
}

byte_buffer map_reader::bytes(const char* key) {
  const json* v = find(key, true);
  if (!v) return {};
  if (!v->is_binary()) {
    fail(key, "must be a byte string");
    return {};
  }
  return v->get_binary();
}

bool map_reader::boolean(const char* key) {
  const json* v = find(key, true);
  if (!v) return false;
  if (!v->is_boolean()) {
    fail(key, "must be a boolean");
    return false;
  }
  return v->get<bool>();
}

node_address map_reader::address(const char* key) {
  const json* v = find(key, true);
  if (!v) return {};
  if (!v->is_object()) {
    fail(key, "must be a map of system, host and port");
    return {};
  }
  map_reader nested(*v, what_, key_prefix_ + key + ".");
  node_address a;
  a.system = nested.text("system");
  a.host = nested.text("host");
  a.port = static_cast<std::uint16_t>(nested.u64("port", 0xFFFF));
  if (!nested.ok()) error_ = nested.error_;
  return a;
}

unique_node_address map_reader::unique_address(const char* key) {
  unique_node_address u;
  u.address = address(key);
  if (!ok()) return u;
  map_reader nested(map_.at(key), what_, key_prefix_ + key + ".");
  u.uid = nested.u64("uid");
  if (!nested.ok()) error_ = nested.error_;
  return u;
}

std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max) + 3);
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out.push_back(c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '?');
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace troupe::remote::wire::internal
