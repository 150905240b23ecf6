// metrics: Prometheus's text exposition format (version 0.0.4), written by hand: families
// of counters and gauges with labels, each family's HELP and TYPE once, its samples
// together, whichever layer adds them and in whatever order.
//
//   troupe::metrics_text out;
//   out.add("troupe_actor_messages_processed_total", troupe::metric_type::counter,
//           "User messages handled by actors", 1234, {{"system", "shop"}});
//   out.add("troupe_cluster_members", troupe::metric_type::gauge, "Members by status", 3,
//           {{"status", "up"}});
//   std::string body = out.text();   // served as text/plain; version=0.0.4
//
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names [a-zA-Z_][a-zA-Z0-9_]*; label
// values are escaped (backslash, double quote, newline). Counters end in `_total`.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe {

enum class metric_type { counter, gauge };

/// The Content-Type of `metrics_text::text()`.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

class metrics_text {
 public:
  using labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  /// One sample of the family `name`; the first sample of a name fixes its type and help.
  /// Throws std::invalid_argument for a malformed name or label name, or a type other
  /// than the family's: a programming error, not input.
  void add(std::string_view name, metric_type type, std::string_view help, double value, labels l = {});
  /// The same with labels built at run time.
  void add(std::string_view name, metric_type type, std::string_view help, double value,
           const std::vector<std::pair<std::string, std::string>>& l);

  /// Every family in the order first added: `# HELP`, `# TYPE`, then its samples.
  std::string text() const;

 private:
  struct family {
    std::string name;
    metric_type type;
    std::string help;
    std::string samples;  // lines
  };
  family& family_of(std::string_view name, metric_type type, std::string_view help);
  static void append_sample(family& f, double value, const std::pair<std::string_view, std::string_view>* first,
                            std::size_t count);

  std::vector<family> families_;
};

}  // namespace troupe
