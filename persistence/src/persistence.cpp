#include "troupe/persistence/persistence.hpp"

namespace troupe::persistence {

persistence::persistence(actor_system& system)
    : system_(system), serialization_(std::make_shared<remote::serialization>()) {}

std::optional<std::string> persistence::start(persistence_settings s) {
  auto opened = open_plugin(s);
  if (!opened) return "persistence: " + opened.error();
  use(std::move(*opened), std::move(s));
  return std::nullopt;
}

void persistence::use(plugin p, persistence_settings s) {
  std::lock_guard lock(mutex_);
  plugin_ = std::move(p);
  settings_ = std::move(s);
  settings_.plugin = plugin_.name;
  started_ = true;
}

bool persistence::is_started() const {
  std::lock_guard lock(mutex_);
  return started_;
}

plugin persistence::store() const {
  std::lock_guard lock(mutex_);
  return plugin_;
}

persistence_settings persistence::settings() const {
  std::lock_guard lock(mutex_);
  return settings_;
}

void persistence::use_serialization(std::shared_ptr<remote::serialization> s) {
  std::lock_guard lock(mutex_);
  serialization_ = std::move(s);
}

void persistence::add_upgrade(const std::string& manifest, std::uint32_t from_version, upgrade_fn f) {
  std::lock_guard lock(mutex_);
  upgrades_[{manifest, from_version}] = std::move(f);
}

void persistence::add_json_upgrade(const std::string& manifest, std::uint32_t from_version,
                                   std::function<void(nlohmann::json&)> f) {
  add_upgrade(manifest, from_version, [f = std::move(f)](stored_payload& p) {
    nlohmann::json j = nlohmann::json::from_cbor(p.data.begin(), p.data.end());
    f(j);
    p.data = nlohmann::json::to_cbor(j);
    ++p.version;
  });
}

expected<stored_payload, std::string> persistence::encode(const message& m) const {
  auto s = serialization_->encode(m);
  if (!s) return unexpected(s.error());
  stored_payload p{s->serializer, std::move(s->manifest), 1, std::move(s->payload)};
  std::lock_guard lock(mutex_);
  if (auto v = versions_.find(p.manifest); v != versions_.end()) p.version = v->second;
  return p;
}

expected<message, std::string> persistence::decode(stored_payload p) const {
  // 1. Upgrade, one version at a time, while an upgrade for the stored version exists.
  for (;;) {
    upgrade_fn up;
    {
      std::lock_guard lock(mutex_);
      auto it = upgrades_.find({p.manifest, p.version});
      if (it == upgrades_.end()) break;
      up = it->second;
    }
    const std::uint32_t before = p.version;
    try {
      up(p);
    } catch (const std::exception& e) {
      return unexpected("the upgrade of \"" + p.manifest + "\" from version " + std::to_string(before) +
                        " failed: " + e.what());
    }
    if (p.version <= before) {
      return unexpected("the upgrade of \"" + p.manifest + "\" from version " + std::to_string(before) +
                        " did not raise the version");
    }
  }
  // 2. A version newer than this program writes cannot be read safely.
  {
    std::lock_guard lock(mutex_);
    if (auto v = versions_.find(p.manifest); v != versions_.end() && p.version > v->second) {
      return unexpected("\"" + p.manifest + "\" version " + std::to_string(p.version) +
                        " is newer than this program's version " + std::to_string(v->second));
    }
  }
  // 3. Decode with the registry.
  return serialization_->decode(p.serializer, p.manifest, p.data);
}

}  // namespace troupe::persistence
