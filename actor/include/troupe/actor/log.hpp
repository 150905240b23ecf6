// Logging facade: levels and a pluggable sink (default: one line per record on stderr).
//
// troupe does not ship a logging library; route records into yours with `set_sink`.
//
//   troupe::logger log("demo");
//   TROUPE_LOG(log, info) << "member " << addr << " is up";
//   troupe::logger::set_sink([](const troupe::log_record& r) { my_logger(r.text); });
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace troupe {

enum class log_level : int { trace = 0, debug, info, warning, error, off };

const char* to_string(log_level l) noexcept;
/// Parses "trace", "debug", "info", "warning", "error" or "off".
std::optional<log_level> parse_log_level(std::string_view s) noexcept;

/// One log record, as handed to the sink.
struct log_record {
  log_level level;
  std::chrono::system_clock::time_point time;
  std::string_view source;  ///< actor path, system name or component
  std::string_view text;
};

using log_sink = std::function<void(const log_record&)>;

/// A named source of log records with a minimum level. Cheap to copy.
class logger {
 public:
  explicit logger(std::string source = "troupe", log_level min = log_level::info)
      : source_(std::move(source)), min_(min) {}

  bool enabled(log_level l) const noexcept { return l >= min_ && l != log_level::off; }
  void set_level(log_level l) noexcept { min_ = l; }
  log_level level() const noexcept { return min_; }
  const std::string& source() const noexcept { return source_; }

  /// Emits `text` at level `l` (if enabled).
  void log(log_level l, std::string_view text) const;

  /// Replaces the process-wide sink; an empty function restores the stderr sink.
  static void set_sink(log_sink sink);

 private:
  std::string source_;
  log_level min_;
};

/// Collects one record with `<<` and emits it when destroyed.
class log_line {
 public:
  log_line(const logger& l, log_level level) : logger_(l), level_(level) {}
  log_line(const log_line&) = delete;
  log_line& operator=(const log_line&) = delete;
  ~log_line() { logger_.log(level_, out_.str()); }
  template <class T>
  log_line& operator<<(const T& v) {
    out_ << v;
    return *this;
  }

 private:
  const logger& logger_;
  log_level level_;
  std::ostringstream out_;
};

}  // namespace troupe

/// `TROUPE_LOG(logger, info) << ...;` formats only when the level is enabled.
#define TROUPE_LOG(lg, lvl)                                   \
  if (!(lg).enabled(::troupe::log_level::lvl)) {              \
  } else                                                      \
    ::troupe::log_line((lg), ::troupe::log_level::lvl)
