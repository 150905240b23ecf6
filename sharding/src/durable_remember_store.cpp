#include "troupe/sharding/durable_remember_store.hpp"

#include <utility>

#include <nlohmann/json.hpp>

namespace troupe::sharding {

namespace {

namespace tp = troupe::persistence;

constexpr const char* state_tag = "sharding-remember";

/// `name` with '%' and '|' escaped, so that the parts of an id cannot run into each other.
std::string escaped(const std::string& name) {
  std::string out;
  out.reserve(name.size());
  for (const char c : name) {
    if (c == '%')
      out += "%25";
    else if (c == '|')
      out += "%7C";
    else
      out += c;
  }
  return out;
}


tp::stored_payload encode(const std::set<std::string>& ids) {
  tp::stored_payload p;
  p.serializer = 1;
  p.manifest = durable_remember_store::manifest;
  p.version = 1;
  p.data = nlohmann::json::to_cbor(nlohmann::json(ids));
  return p;
}

expected<std::set<std::string>, std::string> decode(const tp::state_repr& s) {
  const std::string where = "remember store: corrupt: state " + s.persistence_id + " revision " +
                            std::to_string(s.revision);
  if (s.payload.manifest != durable_remember_store::manifest)
    return unexpected<std::string>(where + " has the manifest \"" + s.payload.manifest + "\"");
  const auto j = nlohmann::json::from_cbor(s.payload.data, true, false);
  if (j.is_discarded() || !j.is_array()) return unexpected<std::string>(where + " is not a CBOR array");
  std::set<std::string> ids;
  for (const auto& e : j) {
    if (!e.is_string()) return unexpected<std::string>(where + " holds a non-string entry");
    ids.insert(e.get<std::string>());
  }
  return ids;
}

}  // namespace

durable_remember_store::durable_remember_store(std::shared_ptr<tp::durable_state_store> states)
    : states_(std::move(states)) {}

std::shared_ptr<durable_remember_store> durable_remember_store::on(const tp::plugin& p) { return on(p.states); }

std::shared_ptr<durable_remember_store> durable_remember_store::on(std::shared_ptr<tp::durable_state_store> states) {
  return std::make_shared<durable_remember_store>(std::move(states));
}

std::string durable_remember_store::entities_id(const std::string& type_name, const std::string& shard) {
  return "sharding-entities|" + escaped(type_name) + "|" + escaped(shard);
}

std::string durable_remember_store::shards_id(const std::string& type_name) {
  return "sharding-shards|" + escaped(type_name);
}

void durable_remember_store::load(const std::string& type_name, const std::string& shard, entities_done done) {
  const std::string id = entities_id(type_name, shard);
  in_lane(id, [self = shared_from_this(), id, done = std::move(done)](release_fn release) mutable {
    self->modify(id, {}, true, 1, [release, done = std::move(done)](expected<std::set<std::string>, std::string> r) {
      release();
      if (r)
        done(std::vector<std::string>(r->begin(), r->end()));
      else
        done(unexpected<std::string>(r.error()));
    });
  });
}

void durable_remember_store::shards(const std::string& type_name, entities_done done) {
  const std::string id = shards_id(type_name);
  in_lane(id, [self = shared_from_this(), id, done = std::move(done)](release_fn release) mutable {
    self->modify(id, {}, true, 1, [release, done = std::move(done)](expected<std::set<std::string>, std::string> r) {
      release();
      if (r)
        done(std::vector<std::string>(r->begin(), r->end()));
      else
        done(unexpected<std::string>(r.error()));
    });
  });
}

void durable_remember_store::update(const std::string& type_name, const std::string& shard,
                                    std::vector<std::string> started, std::vector<std::string> stopped,
                                    update_done done) {
  const std::string id = entities_id(type_name, shard);
  const std::string type_id = shards_id(type_name);
  // The whole update holds the shard's lane, so that two updates of one shard never
  // interleave their steps (and a shard is never dropped from the type's set while
  // another update is adding entities to it).
  in_lane(id, [self = shared_from_this(), id, type_id, shard, started = std::move(started),
               stopped = std::move(stopped), done = std::move(done)](release_fn release) mutable {
    auto finish = [release, done](std::optional<std::string> error) {
      release();
      done(std::move(error));
    };
    // 3. Once the shard is empty, it leaves the type's set.
    auto after_entities = [self, type_id, shard, finish](expected<std::set<std::string>, std::string> r) {
      if (!r) return finish(r.error());
      if (!r->empty()) return finish(std::nullopt);
      self->modify_in_lane(type_id, change{{}, {shard}},
                           [finish](expected<std::set<std::string>, std::string> t) {
                             finish(t ? std::nullopt : std::optional<std::string>(t.error()));
                           });
    };
    // 2. The shard's entities.
    auto write_entities = [self, id, started, stopped, after_entities](std::optional<std::string> error) mutable {
      if (error) return after_entities(unexpected<std::string>(*error));
      self->modify(id, change{std::move(started), std::move(stopped)}, false, 1, after_entities);
    };
    // 1. A shard that gets entities joins the type's set first.
    if (started.empty()) return write_entities(std::nullopt);
    self->modify_in_lane(type_id, change{{shard}, {}},
                         [write_entities](expected<std::set<std::string>, std::string> t) mutable {
                           write_entities(t ? std::nullopt : std::optional<std::string>(t.error()));
                         });
  });
}

void durable_remember_store::in_lane(const std::string& id, job j) {
  {
    std::lock_guard lock(mutex_);
    auto& l = lanes_[id];
    if (l.busy) {
      l.queue.push_back(std::move(j));
      return;
    }
    l.busy = true;
  }
  j([self = shared_from_this(), id] { self->release(id); });
}

void durable_remember_store::release(const std::string& id) {
  job next;
  {
    std::lock_guard lock(mutex_);
    auto& l = lanes_[id];
    if (l.queue.empty()) {
      l.busy = false;
      return;
    }
    next = std::move(l.queue.front());
    l.queue.pop_front();
  }
  next([self = shared_from_this(), id] { self->release(id); });
}

void durable_remember_store::modify_in_lane(const std::string& id, change c, set_done done) {
  in_lane(id, [self = shared_from_this(), id, c = std::move(c), done = std::move(done)](release_fn release) mutable {
    self->modify(id, std::move(c), true, 1, [release, done = std::move(done)](expected<std::set<std::string>, std::string> r) {
      release();
      done(std::move(r));
    });
  });
}

void durable_remember_store::modify(const std::string& id, change c, bool fresh, int attempt, set_done done) {
  if (!states_) return done(unexpected<std::string>("remember store: the persistence plugin has no durable state store "
                                                    "(persistence not started?)"));
  std::optional<known_state> known;
  {
    std::lock_guard lock(mutex_);
    if (!fresh) known = lanes_[id].known;
  }
  if (known) return apply(id, std::move(c), std::move(*known), false, attempt, std::move(done));
  states_->get(id, [self = shared_from_this(), id, c = std::move(c), attempt,
                    done = std::move(done)](expected<std::optional<tp::state_repr>, tp::store_error> r) mutable {
    if (!r) return done(unexpected<std::string>("remember store: " + tp::describe(r.error())));
    known_state current;
    if (r->has_value()) {
      auto ids = decode(**r);
      if (!ids) return done(unexpected<std::string>(ids.error()));
      current = known_state{(*r)->revision, std::move(*ids)};
    }
    {
      std::lock_guard lock(self->mutex_);
      self->lanes_[id].known = current;
    }
    self->apply(id, std::move(c), std::move(current), true, attempt, std::move(done));
  });
}

void durable_remember_store::apply(const std::string& id, change c, known_state current, bool just_read, int attempt,
                                   set_done done) {
  std::set<std::string> next = current.ids;
  next.insert(c.add.begin(), c.add.end());
  for (const auto& e : c.remove) next.erase(e);
  // A set just read that the change leaves as it is needs no write; one known from an
  // earlier call is written anyway, so that the revision check confirms it is current.
  if (just_read && next == current.ids) return done(std::move(next));
  tp::state_repr s;
  s.persistence_id = id;
  s.revision = current.revision + 1;
  s.payload = encode(next);
  s.tag = state_tag;
  states_->upsert(std::move(s), [self = shared_from_this(), id, c = std::move(c), next, revision = current.revision + 1,
                                 attempt, done = std::move(done)](std::optional<tp::store_error> e) mutable {
    {
      std::lock_guard lock(self->mutex_);
      auto& known = self->lanes_[id].known;
      if (e)
        known.reset();
      else
        known = known_state{revision, next};
    }
    if (!e) return done(std::move(next));
    if (e->what == tp::store_error::kind::conflict && attempt < max_attempts)
      return self->modify(id, std::move(c), true, attempt + 1, std::move(done));
    done(unexpected<std::string>("remember store: " + tp::describe(*e) + (e->what == tp::store_error::kind::conflict
                                                     ? " (after " + std::to_string(attempt) + " attempts)"
                                                     : "")));
  });
}

}  // namespace troupe::sharding
