#include "troupe/persistence/durable_state_actor.hpp"

#include <atomic>

#include "troupe/actor/log.hpp"

namespace troupe::persistence {

namespace detail {
struct state_loaded {
  std::uint64_t incarnation;
  expected<std::optional<state_repr>, store_error> result;
};
struct state_written {
  std::uint64_t incarnation;
  std::int64_t revision;
  bool removed;
  std::optional<store_error> error;
};
struct state_not_started {
  std::uint64_t incarnation;
};
}  // namespace detail

namespace {
std::atomic<std::uint64_t> next_state_incarnation{1};
}

durable_state_actor_base::durable_state_actor_base(std::string persistence_id)
    : id_(std::move(persistence_id)), incarnation_(next_state_incarnation.fetch_add(1)) {}

durable_state_actor_base::~durable_state_actor_base() = default;

behavior durable_state_actor_base::make_behavior() {
  command_ = receive_command();
  ext_ = &persistence::get(system());
  const actor_ref me = self();
  const std::uint64_t inc = incarnation_;
  if (!ext_->is_started() || id_.empty()) {
    me.tell(detail::state_not_started{inc});
  } else {
    store_ = ext_->store();
    store_.states->get(id_, [me, inc](expected<std::optional<state_repr>, store_error> r) {
      me.tell(detail::state_loaded{inc, std::move(r)});
    });
  }
  return behavior{[this](message& m) { dispatch(m); }};
}

void durable_state_actor_base::fail(const std::string& what) {
  TROUPE_LOG(log(), error) << "persistence id \"" << id_ << "\": " << what << "; stopping";
  ready_ = false;
  stop_self();
}

void durable_state_actor_base::dispatch(message& m) {
  if (auto* l = m.get_if<detail::state_loaded>()) {
    if (l->incarnation != incarnation_) return;
    if (!l->result) {
      return fail(std::string("reading the state failed (") + to_string(l->result.error().what) + ": " +
                  l->result.error().message + ")");
    }
    if (auto& stored = *l->result) {
      auto value = ext_->decode(std::move(stored->payload));
      if (!value) {
        return fail("the state at revision " + std::to_string(stored->revision) + " cannot be read (" +
                    value.error() + ")");
      }
      apply(*value);
      revision_ = stored->revision;
    }
    ready_ = true;
    on_recovery_completed();
    unstash_all();
  } else if (auto* w = m.get_if<detail::state_written>()) {
    if (w->incarnation != incarnation_) return;
    if (w->error) {
      return fail(std::string(w->removed ? "removing" : "writing") + " revision " + std::to_string(w->revision) +
                  " failed (" + to_string(w->error->what) + ": " + w->error->message + ")");
    }
    writing_ = false;
    if (w->removed) {
      reset();
      revision_ = 0;
    } else {
      apply(pending_state_);
      revision_ = w->revision;
    }
    pending_state_ = message{};
    auto then = std::move(pending_then_);
    pending_then_ = nullptr;
    if (then) then();
    if (!writing_) unstash_all();
  } else if (auto* n = m.get_if<detail::state_not_started>()) {
    if (n->incarnation != incarnation_) return;
    fail(id_.empty() ? "a durable state actor needs a non-empty persistence id"
                     : "persistence is not started on this actor system: call "
                       "persistence::get(system).start(settings) first");
  } else if (!ready_ || writing_) {
    stash();
  } else if (!command_(m)) {
    unhandled(m);
  }
}

void durable_state_actor_base::write_state(message state, std::function<void()> then) {
  if (!ready_ || writing_) {
    throw std::logic_error("persistence id \"" + id_ + "\": persist_state while the state is loading or being written");
  }
  auto payload = ext_->encode(state);
  if (!payload) {
    return fail("the state " + state.type_name() + " cannot be stored (" + payload.error() +
                "); register it with persistence::register_type");
  }
  writing_ = true;
  pending_state_ = std::move(state);
  pending_then_ = std::move(then);
  const actor_ref me = self();
  const std::uint64_t inc = incarnation_;
  const std::int64_t rev = revision_ + 1;
  store_.states->upsert(state_repr{id_, rev, std::move(*payload), tag()}, [me, inc, rev](std::optional<store_error> e) {
    me.tell(detail::state_written{inc, rev, false, std::move(e)});
  });
}

void durable_state_actor_base::remove_state(std::function<void()> then) {
  if (!ready_ || writing_) {
    throw std::logic_error("persistence id \"" + id_ + "\": delete_state while the state is loading or being written");
  }
  writing_ = true;
  pending_then_ = std::move(then);
  const actor_ref me = self();
  const std::uint64_t inc = incarnation_;
  const std::int64_t rev = revision_;
  store_.states->remove(id_, rev, [me, inc, rev](std::optional<store_error> e) {
    me.tell(detail::state_written{inc, rev, true, std::move(e)});
  });
}

}  // namespace troupe::persistence
