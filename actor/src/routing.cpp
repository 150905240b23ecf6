#include "troupe/actor/routing.hpp"

#include <algorithm>
#include <random>

#include "troupe/actor/actor_system.hpp"

namespace troupe::routing {

// ---- logics ----

namespace {

class round_robin_logic final : public routing_logic {
 public:
  std::size_t select(const message&, const std::vector<actor_ref>& refs) override { return next_++ % refs.size(); }
  std::unique_ptr<routing_logic> clone() const override { return std::make_unique<round_robin_logic>(); }

 private:
  std::size_t next_ = 0;
};

class random_logic final : public routing_logic {
 public:
  explicit random_logic(std::uint64_t seed) : seed_(seed), engine_(seed) {}
  std::size_t select(const message&, const std::vector<actor_ref>& refs) override {
    return std::uniform_int_distribution<std::size_t>(0, refs.size() - 1)(engine_);
  }
  std::unique_ptr<routing_logic> clone() const override { return std::make_unique<random_logic>(seed_); }
  std::uint64_t seed() const { return seed_; }
  void reseed(std::uint64_t s) {
    seed_ = s;
    engine_.seed(s);
  }

 private:
  std::uint64_t seed_;
  std::mt19937_64 engine_;
};

class broadcast_logic final : public routing_logic {
 public:
  std::size_t select(const message&, const std::vector<actor_ref>&) override { return 0; }
  bool is_broadcast() const noexcept override { return true; }
  std::unique_ptr<routing_logic> clone() const override { return std::make_unique<broadcast_logic>(); }
};

class consistent_hashing_logic final : public routing_logic {
 public:
  consistent_hashing_logic(std::function<std::string(const message&)> key, int vnodes)
      : key_(std::move(key)), vnodes_(vnodes), ring_(vnodes) {}
  std::size_t select(const message& m, const std::vector<actor_ref>& refs) override {
    if (ring_.empty()) routees_changed(refs);
    return ring_.node_for(key_(m));
  }
  void routees_changed(const std::vector<actor_ref>& refs) override {
    std::vector<std::string> ids;
    ids.reserve(refs.size());
    for (const auto& r : refs) ids.push_back(r.path());
    ring_.assign(ids);
  }
  std::unique_ptr<routing_logic> clone() const override {
    return std::make_unique<consistent_hashing_logic>(key_, vnodes_);
  }

 private:
  std::function<std::string(const message&)> key_;
  int vnodes_;
  hash_ring ring_;
};

}  // namespace

logic round_robin() { return std::make_shared<round_robin_logic>(); }
logic random(std::uint64_t seed) { return std::make_shared<random_logic>(seed); }
logic broadcast_all() { return std::make_shared<broadcast_logic>(); }
logic consistent_hashing(std::function<std::string(const message&)> key, int virtual_nodes) {
  return std::make_shared<consistent_hashing_logic>(std::move(key), std::max(1, virtual_nodes));
}

// ---- hash ring ----

std::uint64_t hash_ring::hash(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  // Finalise (splitmix) so that near-identical strings spread over the ring.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

void hash_ring::assign(const std::vector<std::string>& nodes) {
  points_.clear();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (int v = 0; v < virtual_nodes_; ++v) points_.emplace_back(hash(nodes[i] + "#" + std::to_string(v)), i);
  }
  std::sort(points_.begin(), points_.end());
}

std::size_t hash_ring::node_for(std::string_view key) const {
  const std::uint64_t h = hash(key);
  auto it = std::lower_bound(points_.begin(), points_.end(), std::make_pair(h, std::size_t{0}));
  if (it == points_.end()) it = points_.begin();
  return it->second;
}

// ---- the router actors ----

namespace {

class router_base : public actor {
 public:
  explicit router_base(const logic& l) : logic_(l->clone()) {}

  behavior make_behavior() override {
    return {
        [this](broadcast& b) {
          refresh();
          if (!b.msg) return;
          b.msg.get()->sender = sender();  // the wrapped message travels as the wrapper did
          send_all(std::move(b.msg));
        },
        [this](const get_routees&) {
          refresh();
          reply(routees{refs_});
        },
        [this](const terminated& t) { on_routee_terminated(t.actor); },
        [this](message& m) { route(m); },
    };
  }

 protected:
  virtual void refresh() {}
  virtual void on_routee_terminated(const actor_ref&) {}

  void set_routees(std::vector<actor_ref> refs) {
    if (refs == refs_) return;
    refs_ = std::move(refs);
    logic_->routees_changed(refs_);
  }

  std::vector<actor_ref> refs_;

 private:
  void route(message& m) {
    refresh();
    if (refs_.empty()) {
      system().dead_letters().tell(std::move(m));
      return;
    }
    if (logic_->is_broadcast()) {
      send_all(std::move(m));
      return;
    }
    forward(refs_[logic_->select(m, refs_)]);
  }

  void send_all(message m) {
    if (refs_.empty()) {
      system().dead_letters().tell(std::move(m));
      return;
    }
    for (std::size_t i = 0; i + 1 < refs_.size(); ++i) {
      message copy = m.copy();
      if (!copy) {
        TROUPE_LOG(log(), error) << "cannot broadcast a " << m.type_name() << ": it is not copyable";
        system().dead_letters().tell(std::move(m));
        return;
      }
      refs_[i].tell(std::move(copy), m.sender());
    }
    const actor_ref s = m.sender();
    refs_.back().tell(std::move(m), s);
  }

  std::unique_ptr<routing_logic> logic_;
};

class pool_router final : public router_base {
 public:
  pool_router(std::size_t size, props routee, const logic& l, pool_options o)
      : router_base(l), size_(size), routee_(std::move(routee)), options_(std::move(o)) {}

  void pre_start() override {
    std::vector<actor_ref> refs;
    for (std::size_t i = 0; i < size_; ++i) {
      refs.push_back(spawn(routee_, "routee-" + std::to_string(i)));
      watch(refs.back());
    }
    set_routees(std::move(refs));
  }
  // Routees are this router's children: restarting the router keeps them.
  void pre_restart(const std::exception_ptr&) override {}
  void post_restart(const std::exception_ptr&) override { set_routees(children()); }

  troupe::supervisor_strategy supervisor_strategy() const override { return options_.strategy; }

 private:
  void on_routee_terminated(const actor_ref& r) override {
    std::vector<actor_ref> left;
    for (const auto& x : refs_)
      if (!(x == r)) left.push_back(x);
    set_routees(std::move(left));
    if (refs_.empty()) stop_self();
  }

  std::size_t size_;
  props routee_;
  pool_options options_;
};

class group_router final : public router_base {
 public:
  group_router(std::vector<std::string> paths, const logic& l) : router_base(l), paths_(std::move(paths)) {}

 private:
  void refresh() override {
    std::vector<actor_ref> refs;
    for (const auto& p : paths_) {
      if (auto r = system().resolve(p)) refs.push_back(*r);
    }
    set_routees(std::move(refs));
  }
  std::vector<std::string> paths_;
};

}  // namespace

props pool(std::size_t size, props routee, logic l, pool_options options) {
  if (size == 0) throw std::invalid_argument("a pool router needs at least one routee");
  return props::from([size, routee = std::move(routee), l = std::move(l), options]() -> std::unique_ptr<actor> {
    return std::make_unique<pool_router>(size, routee, l, options);
  });
}

props group(std::vector<std::string> paths, logic l) {
  return props::from([paths = std::move(paths), l = std::move(l)]() -> std::unique_ptr<actor> {
    return std::make_unique<group_router>(paths, l);
  });
}

}  // namespace troupe::routing
