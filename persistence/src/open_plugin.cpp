#include "troupe/persistence/settings.hpp"

namespace troupe::persistence {

expected<plugin, std::string> open_plugin(const persistence_settings& s) {
  if (s.plugin == "in-memory") return make_in_memory_plugin();
  if (s.plugin == "sqlite") return open_sqlite_plugin(s.sqlite);
  if (s.plugin == "postgresql") return open_postgres_plugin(s.postgresql);
  return unexpected(std::string("plugin: expected \"sqlite\", \"postgresql\" or \"in-memory\", got \"") + s.plugin + "\"");
}

}  // namespace troupe::persistence
