#include "troupe/actor/log.hpp"

#include <cstdio>
#include <ctime>
#include <mutex>

namespace troupe {

namespace {
std::mutex sink_mutex;
log_sink& sink() {
  static log_sink s;
  return s;
}

void stderr_sink(const log_record& r) {
  const auto t = std::chrono::system_clock::to_time_t(r.time);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.time.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  std::fprintf(stderr, "%s.%03d %-7s [%.*s] %.*s\n", stamp, static_cast<int>(ms), to_string(r.level),
               static_cast<int>(r.source.size()), r.source.data(), static_cast<int>(r.text.size()),
               r.text.data());
}
}  // namespace

const char* to_string(log_level l) noexcept {
  switch (l) {
    case log_level::trace: return "TRACE";
    case log_level::debug: return "DEBUG";
    case log_level::info: return "INFO";
    case log_level::warning: return "WARNING";
    case log_level::error: return "ERROR";
    case log_level::off: return "OFF";
  }
  return "?";
}

std::optional<log_level> parse_log_level(std::string_view s) noexcept {
  if (s == "trace") return log_level::trace;
  if (s == "debug") return log_level::debug;
  if (s == "info") return log_level::info;
  if (s == "warning") return log_level::warning;
  if (s == "error") return log_level::error;
  if (s == "off") return log_level::off;
  return std::nullopt;
}

void logger::log(log_level l, std::string_view text) const {
  if (!enabled(l)) return;
  const log_record r{l, std::chrono::system_clock::now(), source_, text};
  std::lock_guard lock(sink_mutex);
  if (sink()) {
    sink()(r);
  } else {
    stderr_sink(r);
  }
}

void logger::set_sink(log_sink s) {
  std::lock_guard lock(sink_mutex);
  sink() = std::move(s);
}

}  // namespace troupe
