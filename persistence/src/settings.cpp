#include "troupe/persistence/settings.hpp"

#include "troupe/base/settings_reader.hpp"

namespace troupe::persistence {

expected<persistence_settings, config_error> persistence_settings::parse(const nlohmann::json& j) {
  persistence_settings s;
  try {
    const settings_reader root(j, "", {"plugin", "sqlite", "postgresql", "snapshot-every", "recovery-batch"});
    root.string("plugin", s.plugin, false);
    if (s.plugin != "sqlite" && s.plugin != "postgresql" && s.plugin != "in-memory") {
      throw config_error("plugin", "expected \"sqlite\", \"postgresql\" or \"in-memory\", got \"" + s.plugin + "\"");
    }
    root.integer("snapshot-every", s.snapshot_every, 0, 1'000'000'000);
    root.integer("recovery-batch", s.recovery_batch, 1, 1'000'000);
    if (auto q = root.object("sqlite", {"path", "max-batch", "busy-timeout-ms", "synchronous"})) {
      q->string("path", s.sqlite.path, false);
      q->integer("max-batch", s.sqlite.max_batch, 1, 100'000);
      q->millis("busy-timeout-ms", s.sqlite.busy_timeout, 0, 3'600'000);
      q->string("synchronous", s.sqlite.synchronous, false);
      if (s.sqlite.synchronous != "full" && s.sqlite.synchronous != "normal") {
        throw config_error("sqlite.synchronous", "expected \"full\" or \"normal\", got \"" + s.sqlite.synchronous + "\"");
      }
    }
    if (auto p = root.object("postgresql", {"connection", "connection-env", "pool-size", "max-batch", "schema"})) {
      p->string("connection", s.postgresql.connection, true);
      p->string("connection-env", s.postgresql.connection_env, false);
      p->integer("pool-size", s.postgresql.pool_size, 1, 256);
      p->integer("max-batch", s.postgresql.max_batch, 1, 100'000);
      p->string("schema", s.postgresql.schema, false);
    }
  } catch (const config_error& e) {
    return unexpected(e);
  }
  return s;
}

}  // namespace troupe::persistence
