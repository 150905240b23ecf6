#include "troupe/actor/metrics.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace troupe {

namespace {

bool valid_name(std::string_view s, bool colon) {
  auto head = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (s.empty() || !(head(s[0]) || (colon && s[0] == ':'))) return false;
  for (char c : s) {
    if (!head(c) && !(c >= '0' && c <= '9') && !(colon && c == ':')) return false;
  }
  return true;
}

/// HELP text: backslash and newline escaped.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    // Integral values (every counter) print without an exponent or a fraction.
    const bool integral = v == std::floor(v) && std::fabs(v) < 9.0e15;
    const auto r = integral ? std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v))
                            : std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

}  // namespace

metrics_text::family& metrics_text::family_of(std::string_view name, metric_type type, std::string_view help) {
  for (auto& f : families_) {
    if (f.name == name) {
      if (f.type != type) throw std::invalid_argument("metric " + std::string(name) + " added with two types");
      return f;
    }
  }
  if (!valid_name(name, true)) throw std::invalid_argument("malformed metric name [" + std::string(name) + "]");
  families_.push_back(family{std::string(name), type, std::string(help), {}});
  return families_.back();
}

void metrics_text::append_sample(family& f, double value, const std::pair<std::string_view, std::string_view>* first,
                                 std::size_t count) {
  std::string& out = f.samples;
  out += f.name;
  if (count > 0) {
    out += '{';
    for (std::size_t i = 0; i < count; ++i) {
      const auto& [k, v] = first[i];
      if (!valid_name(k, false) || k.starts_with("__")) {
        throw std::invalid_argument("malformed label name [" + std::string(k) + "] of metric " + f.name);
      }
      if (i > 0) out += ',';
      out += k;
      out += "=\"";
      append_escaped(out, v, true);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  append_value(out, value);
  out += '\n';
}

void metrics_text::add(std::string_view name, metric_type type, std::string_view help, double value, labels l) {
  append_sample(family_of(name, type, help), value, l.begin(), l.size());
}

void metrics_text::add(std::string_view name, metric_type type, std::string_view help, double value,
                       const std::vector<std::pair<std::string, std::string>>& l) {
  std::vector<std::pair<std::string_view, std::string_view>> views(l.begin(), l.end());
  append_sample(family_of(name, type, help), value, views.data(), views.size());
}

std::string metrics_text::text() const {
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    append_escaped(out, f.help, false);
    out += "\n# TYPE ";
    out += f.name;
    out += f.type == metric_type::counter ? " counter\n" : " gauge\n";
    out += f.samples;
  }
  return out;
}

}  // namespace troupe
