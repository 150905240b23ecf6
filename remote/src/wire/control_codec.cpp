#include "troupe/remote/wire/control_codec.hpp"

#include "cbor_map.hpp"

namespace troupe::remote::wire {
namespace {

using internal::json;
using internal::map_reader;

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

json with_seq(std::string_view kind, const std::optional<std::uint64_t>& seq) {
  json j{{"kind", kind}};
  if (seq) j["seq"] = *seq;
  return j;
}

json to_map(const control_message& m) {
  return std::visit(
      overloaded{
          [](const heartbeat& h) { return with_seq("heartbeat", h.seq); },
          [](const heartbeat_rsp& h) { return with_seq("heartbeat_rsp", h.seq); },
          [](const system_ack& a) { return json{{"kind", "system_ack"}, {"seq", a.seq}}; },
          [](const system_nack& n) { return json{{"kind", "system_nack"}, {"seq", n.seq}}; },
          [](const quarantined& q) {
            return json{{"kind", "quarantined"},
                        {"from", internal::to_json(q.from)},
                        {"to", internal::to_json(q.to)}};
          },
          [](const flush&) { return json{{"kind", "flush"}}; },
          [](const flush_ack&) { return json{{"kind", "flush_ack"}}; },
          [](const unknown_control& u) { return json{{"kind", u.kind}}; },
      },
      m);
}

}  // namespace

std::string_view kind_of(const control_message& m) noexcept {
  return std::visit(overloaded{
                        [](const heartbeat&) -> std::string_view { return "heartbeat"; },
                        [](const heartbeat_rsp&) -> std::string_view { return "heartbeat_rsp"; },
                        [](const system_ack&) -> std::string_view { return "system_ack"; },
                        [](const system_nack&) -> std::string_view { return "system_nack"; },
                        [](const quarantined&) -> std::string_view { return "quarantined"; },
                        [](const flush&) -> std::string_view { return "flush"; },
                        [](const flush_ack&) -> std::string_view { return "flush_ack"; },
                        [](const unknown_control& u) -> std::string_view { return u.kind; },
                    },
                    m);
}

void encode_control(byte_buffer& out, const control_message& m) {
  internal::append_cbor(out, to_map(m));
}

std::optional<frame_too_large> append_control_frame(byte_buffer& out, const control_message& m,
                                                    std::size_t max_body_size) {
  const std::size_t start = begin_frame(out, frame_type::control);
  encode_control(out, m);
  return end_frame(out, start, max_body_size);
}

result<control_message> decode_control(std::span<const std::uint8_t> body) {
  auto m = internal::parse_cbor_map(body, "control message");
  if (!m) return failure{m.error()};
  map_reader r(*m, "control message");
  const std::string kind = r.text("kind");
  if (!r.ok()) return r.take_failure();

  map_reader fields(*m, kind + " control message");
  control_message out;
  if (kind == "heartbeat") out = heartbeat{fields.optional_u64("seq")};
  else if (kind == "heartbeat_rsp") out = heartbeat_rsp{fields.optional_u64("seq")};
  else if (kind == "system_ack") out = system_ack{fields.u64("seq")};
  else if (kind == "system_nack") out = system_nack{fields.u64("seq")};
  else if (kind == "quarantined") {
    quarantined q;
    q.from = fields.unique_address("from");
    q.to = fields.unique_address("to");
    out = std::move(q);
  } else if (kind == "flush") out = flush{};
  else if (kind == "flush_ack") out = flush_ack{};
  else out = unknown_control{internal::printable(kind, 64)};
  if (!fields.ok()) return fields.take_failure();
  return out;
}

}  // namespace troupe::remote::wire
