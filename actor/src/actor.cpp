#include "troupe/actor/actor.hpp"

#include <algorithm>
#include <cassert>
#include <ostream>
#include <random>
#include <thread>

#include "internal/actor_cell.hpp"
#include "internal/system_core.hpp"

namespace troupe {

namespace {
detail::actor_cell* checked(detail::actor_cell* c) {
  if (!c) throw std::logic_error("actor context used outside of an actor started by spawn");
  return c;
}
}  // namespace

actor::actor() : cell_(detail::constructing_cell()) {}
actor::~actor() = default;

void actor::pre_restart(const std::exception_ptr&) {
  for (auto& c : children()) stop(c);
  post_stop();
}

void actor::post_restart(const std::exception_ptr&) { pre_start(); }

troupe::supervisor_strategy actor::supervisor_strategy() const {
  return supervisor_strategy::default_strategy();
}

void actor::unhandled(message& m) {
  if (m.is<terminated>()) {
    throw death_pact_error(self().path() + " did not handle terminated of " +
                           m.get_if<terminated>()->actor.path());
  }
  checked(cell_)->core().dead_letter(m.release(), self(), "unhandled");
}

actor_ref actor::self() const { return actor_ref::share(checked(cell_)); }
const actor_ref& actor::sender() const { return checked(cell_)->current_sender(); }
actor_ref actor::parent() const { return actor_ref::share(checked(cell_)->parent_cell()); }
std::vector<actor_ref> actor::children() const { return checked(cell_)->child_refs(); }
actor_ref actor::child(std::string_view name) const { return checked(cell_)->find_child(name); }
actor_ref actor::spawn(const props& p, std::string name) {
  return checked(cell_)->spawn_child(p, std::move(name));
}
void actor::stop(const actor_ref& c) { checked(cell_)->stop_child(c); }
void actor::stop_self() { checked(cell_)->stop_self(); }
void actor::watch(const actor_ref& other) { checked(cell_)->watch(other); }
void actor::unwatch(const actor_ref& other) { checked(cell_)->unwatch(other); }
void actor::become(behavior b, bool discard_old) { checked(cell_)->become(std::move(b), discard_old); }
void actor::unbecome() { checked(cell_)->unbecome(); }
void actor::stash() { checked(cell_)->stash(); }
void actor::unstash_all() { checked(cell_)->unstash_all(); }
timer_scheduler& actor::timers() { return checked(cell_)->timers(); }
void actor::set_receive_timeout(std::chrono::nanoseconds d) { checked(cell_)->set_receive_timeout(d); }
actor_system& actor::system() const { return *checked(cell_)->core().owner(); }
const logger& actor::log() const { return checked(cell_)->log(); }

void actor::tell_sender(message m) { detail::reply_with(sender(), std::move(m)); }

void actor::forward(const actor_ref& to) {
  auto* cur = checked(cell_)->current_message();
  if (!cur || !*cur) throw std::logic_error("forward() outside of a message handler");
  envelope* e = cur->release();
  to.tell_envelope(e);  // keeps e->sender
}

void timer_scheduler::start(std::string key, message msg, std::chrono::nanoseconds d, bool periodic) {
  cell_->start_timer(std::move(key), std::move(msg), d, periodic);
}
void timer_scheduler::cancel(const std::string& key) { cell_->cancel_timer(key); }
void timer_scheduler::cancel_all() { cell_->cancel_all_timers(); }
bool timer_scheduler::is_timer_active(const std::string& key) const { return cell_->is_timer_active(key); }

// ---- props ----

namespace {
class function_actor final : public actor {
 public:
  explicit function_actor(const std::function<behavior(actor&)>& f) : f_(f) {}
  behavior make_behavior() override { return f_(*this); }

 private:
  const std::function<behavior(actor&)>& f_;
};
}  // namespace

struct props::function_data final : props::data {
  explicit function_data(factory_fn f) : factory(std::move(f)) {}
  data* clone() const override { return new function_data(*this); }
  bool has_factory() const noexcept override { return static_cast<bool>(factory); }
  std::unique_ptr<actor> make() const override { return factory(); }
  factory_fn factory;
};

props props::from(factory_fn f) { return props(new function_data(std::move(f))); }

props props::from_behavior(std::function<behavior(actor&)> f) {
  auto shared = std::make_shared<std::function<behavior(actor&)>>(std::move(f));
  return from([shared]() -> std::unique_ptr<actor> { return std::make_unique<function_actor>(*shared); });
}

props props::with_dispatcher(std::string_view name) const {
  std::uint32_t pinned;
  if (name == "default" || name.empty()) {
    pinned = 0;
  } else if (name == "pinned") {
    pinned = 1;
  } else {
    throw std::invalid_argument("unknown dispatcher [" + std::string(name) +
                                "]; expected \"default\" or \"pinned\"");
  }
  data* d = data_->clone();
  d->config = (d->config & ~(1u << 31)) | (pinned << 31);
  return props(d);
}

props props::with_mailbox(troupe::mailbox m) const {
  data* d = data_->clone();
  const auto cap = static_cast<std::uint32_t>(std::min<std::size_t>(m.capacity, capacity_mask));
  d->config = (d->config & (1u << 31)) | cap | (m.use_default ? default_mailbox_bit : 0u);
  return props(d);
}

// ---- actor_ref and messages ----

std::uint64_t new_uid() noexcept {
  // splitmix64 over a per-thread counter seeded from the thread and a random device.
  thread_local std::uint64_t state = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
           std::hash<std::thread::id>{}(std::this_thread::get_id());
  }();
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  const auto u = static_cast<std::uint32_t>(z >> 32);
  return u ? u : 1;
}

void actor_ref::tell_envelope(envelope* e) const noexcept {
  if (t_) {
    t_->enqueue(e);
    return;
  }
  // An empty ref: route to the dead letters of the actor sending, if any.
  if (auto* c = detail::current_cell()) {
    c->core().dead_letter(e, actor_ref{}, "sent to an empty actor_ref");
  } else {
    delete e;
  }
}

std::string actor_ref::path() const { return t_ ? t_->path() : std::string("<nobody>"); }
std::string actor_ref::name() const { return t_ ? t_->name() : std::string(); }

std::ostream& operator<<(std::ostream& os, const actor_ref& r) {
  if (!r) return os << "<nobody>";
  return os << r.path() << '#' << r.uid();
}

void detail::reply_with(const actor_ref& to, message reply) {
  if (!reply) return;
  to.tell(std::move(reply), actor_ref::share(detail::current_actor()));
}

}  // namespace troupe
