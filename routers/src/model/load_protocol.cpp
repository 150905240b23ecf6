// The routers' load messages on the wire (layout in load_protocol.hpp).
#include "troupe/routers/load_protocol.hpp"

#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace troupe::routers {

namespace {

class writer {
 public:
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void text(std::string_view s) {
    varint(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  std::vector<std::uint8_t> finish() { return std::move(out_); }

 private:
  std::vector<std::uint8_t> out_;
};

/// Reads with bounds checks; a failure throws `bad_input` naming the field being read.
struct bad_input : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class reader {
 public:
  explicit reader(std::span<const std::uint8_t> b) : b_(b) {}
  void field(std::string name) { field_ = std::move(name); }
  [[noreturn]] void fail(const std::string& why) const { throw bad_input(field_ + ": " + why); }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) fail("truncated varint");
      const std::uint8_t byte = b_[pos_++];
      if (shift == 63 && byte > 1) fail("varint above 2^64 - 1");
      v |= std::uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) return v;
    }
    fail("varint longer than 10 bytes");
  }
  /// A count of items, each at least `min_bytes` long, that the bytes left can hold.
  std::size_t count(std::size_t min_bytes) {
    const std::uint64_t n = varint();
    if (n > left() / min_bytes) fail("count " + std::to_string(n) + " exceeds the bytes left");
    return static_cast<std::size_t>(n);
  }
  std::string text() {
    const std::uint64_t n = varint();
    if (n > left()) fail("text of " + std::to_string(n) + " bytes exceeds the bytes left");
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  std::string path() {
    std::string p = text();
    if (p.empty() || p.front() != '/') fail("\"" + p + "\" is not an absolute actor path");
    return p;
  }
  void end() {
    field_ = "end";
    if (left() != 0) fail(std::to_string(left()) + " trailing bytes");
  }

 private:
  std::size_t left() const noexcept { return b_.size() - pos_; }
  std::span<const std::uint8_t> b_;
  std::size_t pos_ = 0;
  std::string field_;
};

}  // namespace

std::vector<std::uint8_t> encode(const load_query& q) {
  writer w;
  w.varint(q.id);
  w.varint(q.paths.size());
  for (const auto& p : q.paths) w.text(p);
  return w.finish();
}

std::vector<std::uint8_t> encode(const load_report& r) {
  writer w;
  w.varint(r.id);
  w.varint(r.loads.size());
  for (const auto& l : r.loads) {
    w.text(l.path);
    w.varint(l.size);
  }
  return w.finish();
}

expected<load_query, std::string> decode_load_query(std::span<const std::uint8_t> bytes) {
  try {
    reader r(bytes);
    load_query q;
    r.field("id");
    q.id = r.varint();
    r.field("paths");
    const std::size_t n = r.count(2);  // a path is at least a length and "/"
    std::set<std::string, std::less<>> seen;
    for (std::size_t i = 0; i < n; ++i) {
      r.field("paths[" + std::to_string(i) + "]");
      auto p = r.path();
      if (!seen.insert(p).second) r.fail("\"" + p + "\" is listed twice");
      q.paths.push_back(std::move(p));
    }
    r.end();
    return q;
  } catch (const bad_input& e) {
    return unexpected<std::string>{std::string("load_query: ") + e.what()};
  }
}

expected<load_report, std::string> decode_load_report(std::span<const std::uint8_t> bytes) {
  try {
    reader r(bytes);
    load_report out;
    r.field("id");
    out.id = r.varint();
    r.field("loads");
    const std::size_t n = r.count(3);  // a path (2 bytes at least) and a size
    std::set<std::string, std::less<>> seen;
    for (std::size_t i = 0; i < n; ++i) {
      r.field("loads[" + std::to_string(i) + "].path");
      path_load l;
      l.path = r.path();
      if (!seen.insert(l.path).second) r.fail("\"" + l.path + "\" is listed twice");
      r.field("loads[" + std::to_string(i) + "].size");
      const std::uint64_t size = r.varint();
      if (size > UINT32_MAX) r.fail(std::to_string(size) + " is above 2^32 - 1");
      l.size = static_cast<std::uint32_t>(size);
      out.loads.push_back(std::move(l));
    }
    r.end();
    return out;
  } catch (const bad_input& e) {
    return unexpected<std::string>{std::string("load_report: ") + e.what()};
  }
}

}  // namespace troupe::routers
