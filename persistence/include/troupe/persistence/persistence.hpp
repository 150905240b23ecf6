// persistence: the per-system extension that holds the plugin, the serialization registry
// for events, snapshots and states, and the upgrades of old event versions.
//
//   auto& p = troupe::persistence::persistence::get(system);
//   if (auto err = p.start(troupe::persistence::persistence_settings::parse(j).value())) fail(*err);
//   p.register_type<deposited>("bank.deposited", 2);         // written as version 2
//   p.add_json_upgrade("bank.deposited", 1, [](nlohmann::json& j) { j["currency"] = "EUR"; });
//
// Types are registered as in remoting (nlohmann to_json/from_json, stored as CBOR) with a
// version: what is written carries the current version; what is read with an older one
// passes through the upgrades registered for each older version, in order, before it is
// decoded. A value whose manifest is unknown, or that fails to decode, is an error that
// names the persistence id and sequence number; recovery stops there.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "troupe/actor/actor_system.hpp"
#include "troupe/actor/message.hpp"
#include "troupe/persistence/settings.hpp"
#include "troupe/persistence/store.hpp"
#include "troupe/remote/serialization.hpp"

namespace troupe::persistence {

class persistence {
 public:
  /// Rewrites a stored value of one older version into the next one (it must raise `version`).
  using upgrade_fn = std::function<void(stored_payload&)>;

  /// Constructed by `actor_system::extension<persistence>()`.
  explicit persistence(actor_system& system);
  /// The extension of `system`.
  static persistence& get(actor_system& system) { return system.extension<persistence>(); }

  /// Opens the plugin `s` names; an error says why (and nothing changes). Call it once,
  /// before the first persistent actor starts.
  std::optional<std::string> start(persistence_settings s);
  /// Uses an opened plugin (for instance one in-memory plugin shared by several systems).
  void use(plugin p, persistence_settings s = {});
  /// True once a plugin is in use.
  bool is_started() const;
  /// The plugin in use; an empty plugin (null stores) before `start` or `use`.
  plugin store() const;
  /// The settings in use.
  persistence_settings settings() const;

  /// The registry events, snapshots and states are written with.
  remote::serialization& serialization() noexcept { return *serialization_; }
  /// Shares another registry (such as the transport's), so that a type registered once
  /// serves both remoting and storage.
  void use_serialization(std::shared_ptr<remote::serialization> s);

  /// Registers `T` (nlohmann to_json/from_json) under `manifest`, written as `version`.
  template <class T>
  void register_type(const std::string& manifest, std::uint32_t version = 1) {
    serialization_->register_json<T>(manifest);
    std::lock_guard lock(mutex_);
    versions_[manifest] = version;
  }
  /// Upgrades values of `manifest` stored as `from_version` to `from_version + 1`.
  void add_upgrade(const std::string& manifest, std::uint32_t from_version, upgrade_fn f);
  /// Like `add_upgrade`, for CBOR values: `f` edits the value as JSON.
  void add_json_upgrade(const std::string& manifest, std::uint32_t from_version,
                        std::function<void(nlohmann::json&)> f);

  /// The stored form of the value in `m`; an error naming the type when it is not registered.
  expected<stored_payload, std::string> encode(const message& m) const;
  /// The value of `p` after the upgrades it needs; an error saying why it cannot be read.
  expected<message, std::string> decode(stored_payload p) const;

 private:
  actor_system& system_;
  mutable std::mutex mutex_;
  std::shared_ptr<remote::serialization> serialization_;
  plugin plugin_;
  persistence_settings settings_;
  bool started_ = false;
  std::map<std::string, std::uint32_t, std::less<>> versions_;
  std::map<std::pair<std::string, std::uint32_t>, upgrade_fn> upgrades_;
};

}  // namespace troupe::persistence
