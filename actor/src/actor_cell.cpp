#include "internal/actor_cell.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <thread>
#include <vector>

#include "internal/cell_arena.hpp"
#include "internal/dispatcher.hpp"
#include "internal/runtime_messages.hpp"
#include "internal/system_core.hpp"
#include "troupe/actor/delivery_batch.hpp"

namespace troupe::detail {

namespace {

thread_local actor_cell* tls_current = nullptr;
thread_local actor_cell* tls_constructing = nullptr;
thread_local message* tls_message = nullptr;  // the message the current cell is handling
// The live delivery_batch scopes on this thread, and the cells their messages woke from
// idle, to schedule when the outermost ends.
thread_local int tls_batch_depth = 0;
// What `at_turn_end` keeps for the end of the turn running on this thread, and whether it
// keeps anything: the flag is what every turn reads, a plain thread-local (the vector, with
// a destructor, is reached through a guard of the C++ runtime).
thread_local std::vector<std::pair<void (*)(void*), void*>> tls_turn_end;
constinit thread_local bool tls_turn_end_kept = false;
thread_local std::vector<actor_cell*> tls_batch_woken;

// Sentinel values of the mailbox stack head; never dereferenced.
alignas(16) char blocked_storage;
alignas(16) char closed_storage;
alignas(16) char tombstone_storage;

const actor_ref& no_sender() {
  static const actor_ref none;
  return none;
}

std::string describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

template <class T, class... Args>
envelope* sys_envelope(Args&&... args) {
  return new typed_envelope<T>(T{std::forward<Args>(args)...});
}

}  // namespace

actor_cell* current_cell() noexcept { return tls_current; }

namespace {
// Runs what `at_turn_end` kept (after the outermost turn on this thread has ended).
void end_of_turn() {
  // A callback that sends is outside any turn now: it acts at once, adds nothing here.
  for (std::size_t i = 0; i < tls_turn_end.size(); ++i) tls_turn_end[i].first(tls_turn_end[i].second);
  tls_turn_end.clear();
  tls_turn_end_kept = false;
}
}  // namespace
actor_cell* constructing_cell() noexcept { return tls_constructing; }
ref_target* current_actor() noexcept { return tls_current; }

// ---- compact_name ----

compact_name::compact_name(std::string_view s) {
  if (s.size() < 15) {
    std::memcpy(inline_, s.data(), s.size());
    inline_[s.size()] = 0;
    inline_[15] = 0;
  } else {
    heap_.ptr = new char[s.size()];
    std::memcpy(heap_.ptr, s.data(), s.size());
    heap_.size = static_cast<std::uint32_t>(s.size());
    inline_[15] = '\xff';
  }
}

compact_name::~compact_name() {
  if (is_heap()) delete[] heap_.ptr;
}

std::string_view compact_name::view() const noexcept {
  if (is_heap()) return {heap_.ptr, heap_.size};
  return {inline_};
}

// ---- children table: open addressing keyed by name, guarded by the cell's spinlock ----

struct actor_cell::children_table {
  // Two parallel arrays (12 bytes a slot): the child, and its name's hash (bit 0: stopping,
  // bit 1: it reports its end with child_terminated, because the parent keeps a restart
  // budget for it or watches it; bit 2: the parent watches it). A null cell is empty, a tombstone
  // cell is a deleted slot.
  std::vector<actor_cell*> cells;
  std::vector<std::uint32_t> meta;
  std::size_t size = 0;
  std::size_t used = 0;  // size + tombstones
  std::uint64_t next_auto_name = 0;
  bool closed = false;
  // The parent waits for its children (it is stopping or restarting): they report their
  // end with child_terminated instead of leaving the table themselves.
  bool awaiting_reports = false;

  static actor_cell* tombstone() { return reinterpret_cast<actor_cell*>(&tombstone_storage); }
  static constexpr std::uint32_t flag_bits = 7u;
  /// The name's hash, bits 0-2 clear (they hold the flags in `meta`). A generated name
  /// ("$" and a base-36 counter, see auto_name) hashes to its counter, so children spawned
  /// one after another sit side by side: a parent of many short-lived children works at
  /// the two ends of a window of slots instead of all over a large table.
  static std::uint32_t hash(std::string_view s) {
    if (!s.empty() && s.front() == '$') {
      std::uint32_t n = 0;
      for (std::size_t k = s.size() - 1; k > 0; --k) {
        const char ch = s[k];
        n = n * 36 + static_cast<std::uint32_t>(ch >= 'a' ? ch - 'a' : ch - '0' + 26);
      }
      return n << 3;
    }
    return static_cast<std::uint32_t>(std::hash<std::string_view>{}(s)) & ~flag_bits;
  }
  static std::size_t slot(std::uint32_t h, std::size_t mask) { return (h >> 3) & mask; }
  static bool live(actor_cell* c) { return c != nullptr && c != tombstone(); }

  /// Slot index of the child named `name`, or npos.
  std::size_t find(std::string_view name) const {
    if (cells.empty()) return npos;
    const std::uint32_t h = hash(name);
    const std::size_t mask = cells.size() - 1;
    for (std::size_t i = slot(h, mask);; i = (i + 1) & mask) {
      actor_cell* c = cells[i];
      if (c == nullptr) return npos;
      if (c != tombstone() && (meta[i] & ~flag_bits) == h && c->name_view() == name) return i;
    }
  }
  /// Slot index of child `c`, or npos; reads only the cells array (one cache miss less
  /// in a large table).
  std::size_t find(const actor_cell* c) const {
    if (cells.empty()) return npos;
    const std::size_t mask = cells.size() - 1;
    for (std::size_t i = slot(hash(c->name_view()), mask);; i = (i + 1) & mask) {
      if (cells[i] == c) return i;
      if (cells[i] == nullptr) return npos;
    }
  }
  bool stopping(std::size_t i) const { return meta[i] & 1u; }
  void set_stopping(std::size_t i) { meta[i] |= 1u; }
  bool reports_end(std::size_t i) const { return meta[i] & 2u; }
  void set_reports_end(std::size_t i) { meta[i] |= 2u; }
  bool watched(std::size_t i) const { return meta[i] & 4u; }
  void set_watched(std::size_t i, bool on) { meta[i] = on ? (meta[i] | 4u) : (meta[i] & ~4u); }

  void rehash(std::size_t capacity) {
    std::vector<actor_cell*> old_cells(capacity, nullptr);
    std::vector<std::uint32_t> old_meta(capacity, 0);
    old_cells.swap(cells);
    old_meta.swap(meta);
    const std::size_t mask = capacity - 1;
    for (std::size_t k = 0; k < old_cells.size(); ++k) {
      if (!live(old_cells[k])) continue;
      std::size_t i = slot(old_meta[k], mask);
      while (cells[i] != nullptr) i = (i + 1) & mask;
      cells[i] = old_cells[k];
      meta[i] = old_meta[k];
    }
    used = size;
  }

  void insert(actor_cell* c) {
    if ((used + 1) * 5 > cells.size() * 4) {  // load <= 0.8; tombstones count until rehash
      std::size_t cap = std::max<std::size_t>(8, cells.size());
      while ((size + 1) * 2 > cap) cap *= 2;
      rehash(cap);
    }
    const std::uint32_t h = hash(c->name_view());
    const std::size_t mask = cells.size() - 1;
    std::size_t i = slot(h, mask);
    while (live(cells[i])) i = (i + 1) & mask;
    if (cells[i] == nullptr) ++used;
    cells[i] = c;
    meta[i] = h;
    ++size;
  }

  void erase(std::size_t i) {
    cells[i] = tombstone();  // its meta is never read again
    --size;
  }

  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = 0; i < cells.size(); ++i)
      if (live(cells[i])) f(i);
  }

  static constexpr std::size_t npos = ~std::size_t{0};
};

// ---- construction ----

actor_cell::actor_cell(system_core* core, actor_cell* parent, std::string_view name, props p,
                       std::uint8_t dispatcher_index)
    : ref_target(new_uid()),
      dispatcher_index_(dispatcher_index),
      name_(name),
      props_(std::move(p)),
      parent_(parent),
      core_(core) {
  // Children hold their parent, the root holds the core: a ref kept after the system is
  // gone still reaches a live core (its dead letters).
  if (parent_) {
    parent_->add_ref();
  } else {
    core_->add_ref();
    // The root is built first: from now on the event stream logs through the system's logger.
    core_->events().set_logger(core_->log());
  }
  const auto mb = props_.mailbox_config();
  const std::size_t cap = mb.use_default ? core_->settings().mailbox_capacity : mb.capacity;
  capacity_ = static_cast<std::uint32_t>(std::min<std::size_t>(cap, 0x7fffffff));
  // No creation message: the first turn builds the instance before anything else (see
  // run()), and the empty, unblocked mailbox keeps producers from scheduling the cell
  // before the spawner has registered and scheduled it.
}

actor_cell::~actor_cell() {
  auto drop = [](envelope* e) {
    while (e) {
      envelope* n = e->next;
      delete e;
      e = n;
    }
  };
  envelope* h = head_.load(std::memory_order_acquire);
  if (h != blocked_mark() && h != closed_mark()) drop(h);
  drop(sys_first_);
  drop(user_first_);
  if (ext_) {
    for (auto* e : ext_->stash) delete e;
    delete ext_;
  }
  delete children_;
  destroy_instance();
  behavior_ = behavior{};
  if (parent_) {
    parent_->release();
  } else {
    core_->release();
  }
}

namespace {
std::size_t storage_offset(std::size_t align) {
  return (sizeof(actor_cell) + align - 1) / align * align;
}
}  // namespace

actor_cell* actor_cell::make(system_core* core, actor_cell* parent, std::string_view name,
                             const props& p, std::uint8_t dispatcher_index) {
  const props::layout l = p.instance_layout();
  const std::size_t bytes = l.size == 0 ? sizeof(actor_cell) : storage_offset(l.align) + l.size;
  // Over-aligned instances keep ::operator new's memory, as before the arena.
  void* mem = l.align <= alignof(std::max_align_t) ? cell_arena::allocate(bytes) : nullptr;
  const bool from_arena = mem != nullptr;
  if (!mem) mem = ::operator new(bytes);
  actor_cell* c;
  try {
    c = new (mem) actor_cell(core, parent, name, p, dispatcher_index);
  } catch (...) {
    if (from_arena) {
      cell_arena::deallocate(mem, bytes);
    } else {
      ::operator delete(mem);
    }
    throw;
  }
  c->has_storage_ = l.size != 0;
  c->from_arena_ = from_arena;
  return c;
}

void actor_cell::destroy() const noexcept {
  // Memory from make() (the arena or ::operator new) or from a plain new expression.
  auto* self = const_cast<actor_cell*>(this);
  const bool from_arena = from_arena_;
  const props::layout l = props_.instance_layout();
  const std::size_t bytes = has_storage_ ? storage_offset(l.align) + l.size : sizeof(actor_cell);
  self->~actor_cell();
  if (from_arena) {
    cell_arena::deallocate(self, bytes);
  } else {
    ::operator delete(static_cast<void*>(self));
  }
}

void* actor_cell::in_place_storage() const noexcept {
  if (!has_storage_) return nullptr;
  return const_cast<char*>(reinterpret_cast<const char*>(this)) + storage_offset(props_.instance_layout().align);
}

void actor_cell::destroy_instance() noexcept {
  actor* a = std::exchange(instance_, nullptr);
  if (!a) return;
  if (instance_in_place_) {
    a->~actor();
  } else {
    delete a;
  }
}

actor_cell::extras& actor_cell::ext() {
  if (!ext_) ext_ = new extras();
  return *ext_;
}

std::string actor_cell::path() const {
  std::vector<std::string_view> parts;
  for (const actor_cell* c = this; c && c->parent_; c = c->parent_) parts.push_back(c->name_view());
  std::string p = "troupe://" + core_->name();
  if (parts.empty()) return p + "/";
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    p += '/';
    p += *it;
  }
  return p;
}

// ---- mailbox ----

envelope* actor_cell::blocked_mark() noexcept { return reinterpret_cast<envelope*>(&blocked_storage); }
envelope* actor_cell::closed_mark() noexcept { return reinterpret_cast<envelope*>(&closed_storage); }

bool actor_cell::push(envelope* e) noexcept {
  // A system message is announced before it is pushed (the cell may be gone once the push
  // is done): a turn in progress fetches after its current message while any announced one
  // is still missing from its queues, so system messages overtake a long user queue.
  const bool is_system = e->type->is_system;
  if (is_system) system_pending_.fetch_add(1, std::memory_order_relaxed);
  envelope* h = head_.load(std::memory_order_relaxed);
  for (;;) {
    if (h == closed_mark()) {
      if (is_system) system_pending_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    e->next = (h == blocked_mark()) ? nullptr : h;
    // Release: the envelope's contents (and what the sender wrote before) go to the turn
    // whose fetch (acquire) takes it.
    if (head_.compare_exchange_weak(h, e, std::memory_order_release, std::memory_order_relaxed)) break;
  }
  // Only the push that ends an idle, empty mailbox schedules the cell: now, or when this
  // thread's delivery batch ends. (Until it is scheduled the cell has no turn, so it can
  // neither stop nor be freed, and every other push finds its mailbox busy.)
  if (h == blocked_mark()) {
    if (tls_batch_depth == 0) {
      schedule();
    } else {
      tls_batch_woken.push_back(this);
    }
  }
  return true;
}

void actor_cell::schedule() noexcept { own_dispatcher()->schedule(this); }

dispatcher* actor_cell::own_dispatcher() const noexcept { return dispatcher_of(*core_, dispatcher_index_); }

std::int32_t actor_cell::fetch() noexcept {
  envelope* h = head_.exchange(nullptr, std::memory_order_acquire);
  assert(h != blocked_mark() && h != closed_mark());
  // One pass over the stack (newest first; a long one is cold in this core's cache):
  // prepending each envelope to its queue reverses both into arrival order.
  envelope* sys_head = nullptr;
  envelope* sys_tail = nullptr;
  envelope* user_head = nullptr;
  envelope* user_tail = nullptr;
  std::int32_t users = 0;
  std::uint8_t systems = 0;
  while (h) {
    envelope* n = h->next;
    if (h->type->is_system) {
      h->next = sys_head;
      sys_head = h;
      if (!sys_tail) sys_tail = h;
      ++systems;
    } else {
      h->next = user_head;
      user_head = h;
      if (!user_tail) user_tail = h;
      ++users;
    }
    h = n;
  }
  if (user_head) {
    (user_last_ ? user_last_->next : user_first_) = user_head;
    user_last_ = user_tail;
  }
  if (sys_head) {
    // Modulo 256, as the announcements: the count is a hint for run(), never a condition
    // for a message to be delivered.
    system_pending_.fetch_sub(systems, std::memory_order_relaxed);
    // The system queue is nearly always empty here (it is drained before each fetch), so
    // finding its end is cheap and saves a tail field in every cell.
    envelope** tail = &sys_first_;
    while (*tail) tail = &(*tail)->next;
    *tail = sys_head;
  }
  return users;
}

envelope* actor_cell::pop_system() noexcept {
  envelope* e = sys_first_;
  if (e) {
    sys_first_ = e->next;
    e->next = nullptr;
  }
  return e;
}

envelope* actor_cell::pop_user(bool bounded) noexcept {
  envelope* e = user_first_;
  if (e) {
    user_first_ = e->next;
    if (!user_first_) user_last_ = nullptr;
    e->next = nullptr;
    if (bounded) user_count_.fetch_sub(1, std::memory_order_relaxed);  // unbounded: the turn counts
  }
  return e;
}

bool actor_cell::try_block() noexcept {
  envelope* expected = nullptr;
  return head_.compare_exchange_strong(expected, blocked_mark(), std::memory_order_acq_rel,
                                       std::memory_order_relaxed);
}

void actor_cell::enqueue(envelope* e) noexcept {
  if (capacity_) {
    if (user_count_.fetch_add(1, std::memory_order_relaxed) >= static_cast<std::int32_t>(capacity_)) {
      user_count_.fetch_sub(1, std::memory_order_relaxed);
      dead_letter(e, "mailbox full");
      return;
    }
  }
  if (!push(e)) {
    if (capacity_) user_count_.fetch_sub(1, std::memory_order_relaxed);
    dead_letter(e, "recipient stopped");
  }
}

namespace {
// A system message for a cell whose mailbox is closed: answer watches, drop the rest.
void handle_closed_system(actor_cell* self, envelope* e) noexcept {
  if (e->type == type_id_of<sys::watch>()) {
    auto& w = *static_cast<sys::watch*>(e->payload());
    if (w.watchee.get() == self && w.watcher && w.watcher.get() != self) {
      w.watcher.get()->enqueue_system(
          sys_envelope<sys::death_watch_notification>(actor_ref::share(self), true, false));
    }
  }
  delete e;
}
}  // namespace

void actor_cell::enqueue_system(envelope* e) noexcept {
  if (!push(e)) handle_closed_system(this, e);
}

void actor_cell::dead_letter(envelope* e, const char* reason) noexcept {
  core_->dead_letter(e, actor_ref::share(this), reason);
}

void actor_cell::close_mailbox() noexcept {
  envelope* h = head_.exchange(closed_mark(), std::memory_order_acq_rel);
  if (h == blocked_mark()) h = nullptr;
  envelope* fifo = nullptr;
  while (h) {
    envelope* n = h->next;
    h->next = fifo;
    fifo = h;
    h = n;
  }
  auto drain = [this](envelope* e) {
    while (e) {
      envelope* n = e->next;
      e->next = nullptr;
      if (e->type->is_system) {
        handle_closed_system(this, e);
      } else {
        dead_letter(e, "recipient stopped");
      }
      e = n;
    }
  };
  drain(std::exchange(sys_first_, nullptr));
  drain(std::exchange(user_first_, nullptr));
  user_last_ = nullptr;
  if (!capacity_) user_count_.store(0, std::memory_order_relaxed);
  drain(fifo);
}

// ---- the turn ----

[[gnu::always_inline]] inline int actor_cell::run_turn(int throughput, int batch_limit) noexcept {
  actor_cell* const prev = tls_current;
  message* const prev_message = std::exchange(tls_message, nullptr);
  tls_current = this;
  // Unbounded mailboxes: the turn's net change of `user_count_` (fetched minus handled),
  // added once before the turn goes idle or ends rather than at every fetch and handling.
  // (`capacity_` is read once: it shares a line with the head, which producers write.)
  const std::int32_t counted = capacity_ ? 0 : 1;
  std::int32_t delta = counted * fetch();  // first: its acquire makes the previous turn's writes visible here
  auto publish = [&] {
    if (delta == 0) return;
    // A stopped cell's mailbox was emptied (and its count zeroed) by close_mailbox.
    const std::int32_t now = state_ == lifecycle::terminated ? 0 : user_count_.load(std::memory_order_relaxed) + delta;
    user_count_.store(now, std::memory_order_relaxed);
    delta = 0;
  };
  if (create_pending_) {  // the first turn: as Akka's Create, before any other message
    create_pending_ = false;
    on_create();
  }
  // A long mailbox (many senders, one receiver): the turn takes what waited when it began,
  // up to `batch_limit`, instead of `throughput`, so the one receiver keeps pace with its
  // many senders, each of which gets `throughput` per turn. (Unbounded: the count of the
  // own queue; bounded: all queued.)
  int budget = throughput;
  if (batch_limit > throughput) {
    const std::int32_t waiting = user_count_.load(std::memory_order_relaxed) + delta;
    if (waiting > throughput) budget = std::min(waiting, batch_limit);
  }
  const int limit = budget;
  bool reschedule = false;
  sender_releases releases;
  for (;;) {
    while (envelope* s = pop_system()) process_system(s);
    if (state_ == lifecycle::terminated) break;
    while (budget > 0 && suspend_count_ == 0 && !sys_first_) {
      envelope* u = pop_user(counted == 0);
      if (!u) {
        if (head_.load(std::memory_order_relaxed) == nullptr) break;
        delta += counted * fetch();
        continue;
      }
      delta -= counted;
      invoke(u, releases);
      --budget;
      // The stack is taken only when the own queue is empty (the head is the line every
      // sender writes), or at once when a system message was announced.
      if (system_pending_.load(std::memory_order_relaxed) != 0) delta += counted * fetch();
    }
    releases.flush();
    if (sys_first_) continue;
    if (state_ == lifecycle::terminated) break;
    if (user_first_ && suspend_count_ == 0 && budget == 0) {  // turn used up: let others run
      reschedule = true;
      break;
    }
    publish();  // before try_block: once idle, this turn must not touch the cell
    if (try_block()) {
      // Idle: the next producer schedules the cell, maybe on another thread at once (which
      // may even stop and free it), so this turn must not touch it any more.
      tls_current = prev;
      tls_message = prev_message;
      return limit - budget;
    }
    delta += counted * fetch();  // something arrived meanwhile
    if (budget == 0) {
      reschedule = true;
      break;
    }
  }
  releases.flush();
  publish();
  tls_current = prev;
  tls_message = prev_message;
  if (state_ == lifecycle::terminated) {
    release();  // the hold taken in finish_terminate
    return limit - budget;
  }
  if (reschedule) {
    // A long mailbox is listed for `deepest_mailboxes` (still on this turn, so the cell
    // is alive); a backlog shows only here, where a turn ends with work left.
    if (user_count_.load(std::memory_order_relaxed) >= system_core::deep_mailbox_threshold) {
      core_->note_deep_mailbox(this);
    }
    dispatcher_of(*core_, dispatcher_index_)->reschedule(this);
  }
  return limit - budget;
}

int actor_cell::run(int throughput, int batch_limit) noexcept {
  const int handled = run_turn(throughput, batch_limit);
  if (tls_turn_end_kept && !tls_current) end_of_turn();  // (the cell may be gone now)
  return handled;
}

void actor_cell::process_system(envelope* e) {
  message m(e);
  try {
    const type_id t = e->type;
    if (t == type_id_of<sys::create>()) {
      on_create();
    } else if (t == type_id_of<sys::watch>()) {
      on_watch(*static_cast<sys::watch*>(e->payload()));
    } else if (t == type_id_of<sys::unwatch>()) {
      on_unwatch(*static_cast<sys::unwatch*>(e->payload()));
    } else if (t == type_id_of<sys::death_watch_notification>()) {
      on_death_notification(*static_cast<sys::death_watch_notification*>(e->payload()));
    } else if (t == type_id_of<sys::terminate>()) {
      on_terminate();
    } else if (t == type_id_of<sys::child_terminated>()) {
      on_child_terminated(static_cast<sys::child_terminated*>(e->payload())->child);
    } else if (t == type_id_of<sys::failed>()) {
      on_failed(*static_cast<sys::failed*>(e->payload()));
    } else if (t == type_id_of<sys::suspend>()) {
      on_suspend();
    } else if (t == type_id_of<sys::resume>()) {
      on_resume(static_cast<sys::resume*>(e->payload())->caused_by_failure);
    } else if (t == type_id_of<sys::recreate>()) {
      on_recreate(static_cast<sys::recreate*>(e->payload())->cause);
    }
  } catch (...) {
    TROUPE_LOG(core_->log(), error) << path() << ": error while handling a system message: "
                                    << describe(std::current_exception());
  }
}

void actor_cell::invoke(envelope* e, sender_releases& releases) {
  try {
    e = materialized(e);  // a remote payload decoded here, on the thread that will free it
  } catch (const std::bad_alloc&) {
    handle_failure(std::current_exception(), "a message from a remote node");
    return;
  }
  message m(e);
  const type_id type = e->type;
  message* const outer = std::exchange(tls_message, &m);
  try {
    if (!handle_special(m)) deliver(m);
    if (ext_) apply_pending_behavior();
  } catch (...) {
    if (ext_) {
      ext_->pending_become.reset();
      ext_->pending_unbecome = 0;
    }
    tls_message = outer;
    handle_failure(std::current_exception(), type->name());
  }
  tls_message = outer;
  // The handler may have kept the envelope (stash); otherwise its sender joins the run,
  // which ends, and is released, where the next queued message has another sender (a turn
  // of one message releases at once, as before, not after the next tell woke that sender).
  if (envelope* kept = m.get()) {
    if (const ref_target* s = kept->sender.detach()) {
      releases.add(s);
      if (!user_first_ || user_first_->sender.get() != s) releases.flush();
    }
  }
  if (ext_ && ext_->receive_timeout.count() > 0 && state_ == lifecycle::running) {
    schedule_receive_timeout();
  }
}

void actor_cell::deliver(message& m) {
  if (!behavior_(m)) instance_->unhandled(m);
}

bool actor_cell::handle_special(message& m) {
  const type_id t = m.type();
  if (t == type_id_of<timer_fire>()) {
    auto* f = m.get_if<timer_fire>();
    on_timer(f->key, f->generation);
    return true;
  }
  if (t == type_id_of<context_task>()) {
    auto* task = m.get_if<context_task>();
    if (task->incarnation == incarnation()) task->fn();  // else made by an instance now gone
    return true;
  }
  if (t == type_id_of<terminated>()) {
    auto* term = m.get_if<terminated>();
    if (!ext_ || ext_->terminated_queued.erase(term->actor) == 0) return true;  // unwatched
    return false;
  }
  if (t == type_id_of<receive_timeout_fire>()) {
    auto* f = m.get_if<receive_timeout_fire>();
    if (ext_ && f->generation == ext_->receive_timeout_generation &&
        ext_->receive_timeout.count() > 0) {
      message timeout = make_message(receive_timeout{});
      message* saved = std::exchange(tls_message, &timeout);
      deliver(timeout);
      tls_message = saved;
    }
    return true;
  }
  if (t == type_id_of<poison_pill>()) {
    stop_self();
    return true;
  }
  if (t == type_id_of<kill>()) throw actor_killed_error(path() + " was killed");
  if (t == type_id_of<identify>()) {
    auto* id = m.get_if<identify>();
    if (m.sender()) m.sender().tell(actor_identity{id->correlation_id, self_ref()}, self_ref());
    return true;
  }
  return false;
}

void actor_cell::apply_pending_behavior() {
  auto& x = *ext_;
  while (x.pending_unbecome > 0) {
    --x.pending_unbecome;
    if (!x.behavior_stack.empty()) {
      behavior_ = std::move(x.behavior_stack.back());
      x.behavior_stack.pop_back();
    }
  }
  if (x.pending_become) {
    if (!x.pending_become->second) x.behavior_stack.push_back(std::move(behavior_));
    behavior_ = std::move(x.pending_become->first);
    x.pending_become.reset();
  }
}

// ---- lifecycle ----

void actor_cell::create_instance(const std::exception_ptr& restart_cause) {
  actor_cell* const prev = tls_constructing;
  tls_constructing = this;
  try {
    if (void* where = in_place_storage()) {
      instance_ = props_.make_at(where);
      instance_in_place_ = true;
    } else {
      instance_ = props_.make().release();
      instance_in_place_ = false;
    }
    tls_constructing = prev;
  } catch (...) {
    tls_constructing = prev;
    throw;
  }
  if (!instance_) throw std::logic_error("the props factory returned no actor");
  behavior_ = instance_->make_behavior();
  state_ = lifecycle::running;
  if (restart_cause) {
    instance_->post_restart(restart_cause);
  } else {
    instance_->pre_start();
  }
  if (ext_) apply_pending_behavior();
}

namespace {
std::exception_ptr initialization_failure(const std::string& path, const std::exception_ptr& cause) {
  try {
    std::throw_with_nested(actor_initialization_error(path + ": " + describe(cause)));
  } catch (...) {
    return std::current_exception();
  }
}
}  // namespace

void actor_cell::on_create() {
  if (state_ != lifecycle::creating) return;
  try {
    create_instance(nullptr);
  } catch (...) {
    handle_failure(initialization_failure(path(), std::current_exception()), "");
  }
}

void actor_cell::handle_failure(std::exception_ptr cause, const std::string& message_type,
                                actor_cell* perpetrator) {
  if (state_ == lifecycle::terminating || state_ == lifecycle::terminated) {
    TROUPE_LOG(core_->log(), error) << path() << " failed while stopping: " << describe(cause);
    return;
  }
  if (failed_) {
    TROUPE_LOG(core_->log(), error) << path() << " failed again while waiting for its supervisor: "
                                    << describe(cause);
    return;
  }
  failed_ = true;
  ++suspend_count_;
  // As Akka: an escalating parent leaves the failed child suspended once (by its own
  // failure) and remembers it, so that a resume from above resumes it with its cause.
  suspend_children(perpetrator);
  if (perpetrator) ext().perpetrator = perpetrator->self_ref();
  if (core_->events().has_subscribers<actor_failed>()) {
    try {  // a subscriber function runs here, inside the runtime's failure handling
      core_->events().publish(actor_failed{self_ref(), describe(cause), message_type});
    } catch (...) {
      TROUPE_LOG(core_->log(), error) << path() << ": an actor_failed subscriber threw: "
                                      << describe(std::current_exception());
    }
  }
  if (parent_) {
    parent_->enqueue_system(sys_envelope<sys::failed>(self_ref(), cause, message_type));
  } else {
    TROUPE_LOG(core_->log(), error) << "the root guardian failed: " << describe(cause);
    core_->terminate();
  }
}

void actor_cell::on_suspend() {
  ++suspend_count_;
  suspend_children();
}

void actor_cell::on_resume(const std::exception_ptr& caused_by) {
  if (state_ == lifecycle::terminating || state_ == lifecycle::terminated) return;
  if (caused_by && !instance_) {  // resuming an actor that never got built: rebuild it
    on_recreate(caused_by);
    return;
  }
  if (suspend_count_ > 0) --suspend_count_;
  // As Akka's faultResume: only the resume that carries this actor's failure ends it, and
  // only that one hands the cause on to the child whose failure was escalated; a plain
  // resume (this actor was suspended by its own supervisor meanwhile) keeps both.
  actor_ref perpetrator;
  if (caused_by) {
    failed_ = false;
    if (ext_) perpetrator = std::exchange(ext_->perpetrator, actor_ref{});
  }
  resume_children(caused_by, static_cast<const actor_cell*>(perpetrator.get()));
}

void actor_cell::on_recreate(std::exception_ptr cause) {
  if (state_ == lifecycle::terminating || state_ == lifecycle::terminated) return;
  if (instance_) {
    try {
      instance_->pre_restart(cause);
    } catch (...) {
      TROUPE_LOG(core_->log(), error) << path() << ": pre_restart threw: "
                                      << describe(std::current_exception());
    }
  }
  cancel_all_timers();
  auto& x = ext();
  if (x.receive_timeout_task) core_->timers().cancel(x.receive_timeout_task);
  x.receive_timeout = {};
  x.receive_timeout_task = 0;
  ++x.receive_timeout_generation;
  unstash_all();
  x.behavior_stack.clear();
  x.pending_become.reset();
  x.pending_unbecome = 0;
  x.pending_cause = cause ? cause : std::make_exception_ptr(std::runtime_error("restart"));
  x.perpetrator = actor_ref{};  // restarted (or stopped) with the other children
  ++x.incarnation;
  state_ = lifecycle::recreating;
  await_child_reports(true);
  if (!has_stopping_children()) finish_recreate();
}

void actor_cell::finish_recreate() {
  core_->count_restart();
  std::exception_ptr cause = std::exchange(ext().pending_cause, nullptr);
  std::vector<child_entry> survivors;
  for (auto& e : child_entries())
    if (!e.stopping) survivors.push_back(e);
  behavior_ = behavior{};
  destroy_instance();
  failed_ = false;
  if (suspend_count_ > 0) --suspend_count_;
  state_ = lifecycle::running;
  await_child_reports(false);
  try {
    create_instance(cause);
  } catch (...) {
    handle_failure(std::current_exception(), "");
    return;
  }
  for (auto& s : survivors) restart_child(s.cell, cause, false);
}

void actor_cell::on_terminate() {
  if (state_ == lifecycle::terminating || state_ == lifecycle::terminated) return;
  if (ext_) {
    cancel_all_timers();
    if (ext_->receive_timeout_task) core_->timers().cancel(ext_->receive_timeout_task);
    ext_->receive_timeout = {};
  }
  state_ = lifecycle::terminating;
  ++suspend_count_;
  std::vector<child_entry> kids;
  lock_children();
  if (!children_) children_ = new children_table();
  children_->closed = true;
  children_->awaiting_reports = true;
  children_->for_each([&](std::size_t i) {
    if (!children_->stopping(i)) {
      children_->set_stopping(i);
      kids.push_back(child_entry{children_->cells[i], true});
    }
  });
  unlock_children();
  for (auto& k : kids) k.cell->enqueue_system(sys_envelope<sys::terminate>());
  if (!has_children()) finish_terminate();
}

void actor_cell::finish_terminate() {
  core_->count_stop();
  if (instance_) {
    try {
      instance_->post_stop();
    } catch (...) {
      TROUPE_LOG(core_->log(), error) << path() << ": post_stop threw: "
                                      << describe(std::current_exception());
    }
  }
  behavior_ = behavior{};
  destroy_instance();
  add_ref();  // keeps this cell alive until run() returns
  state_ = lifecycle::terminated;
  terminated_.store(true, std::memory_order_release);
  close_mailbox();
  actor_ref self = self_ref();
  // 1. The name is free before any watcher hears of the end (Akka's guarantee): a parent
  //    that starts a child of the same name on `terminated` (a shard region restarting an
  //    entity) must find it free. A parent's child_terminated is queued before its
  //    death_watch_notification, so it too sees the table updated first.
  if (parent_) {
    // Most parents wait for nothing: leave their table directly, sparing them a message
    // (a parent of a million short-lived children would otherwise handle a million).
    if (!parent_->remove_stopped_child(this)) {
      parent_->enqueue_system(sys_envelope<sys::child_terminated>(self));
    }
  }
  // 2. Then the watchers, and whatever was stashed.
  if (ext_) {
    for (auto* e : ext_->stash) dead_letter(e, "recipient stopped");
    ext_->stash.clear();
    for (const auto& w : ext_->watched_by) {
      w.get()->enqueue_system(sys_envelope<sys::death_watch_notification>(self, true, false));
    }
    for (const auto& w : ext_->watching) {
      w.get()->enqueue_system(sys_envelope<sys::unwatch>(w, self));
    }
    delete std::exchange(ext_, nullptr);
  }
  if (!parent_) core_->on_root_terminated();
}

// ---- supervision (parent side) ----

void actor_cell::on_failed(sys::failed& f) {
  auto* child = static_cast<actor_cell*>(f.child.get());
  bool known = false;
  lock_children();
  if (children_) {
    const auto i = children_->find(child);
    known = i != children_table::npos && !children_->stopping(i);
  }
  unlock_children();
  if (!known) return;  // already stopping or gone: nothing to decide
  const troupe::supervisor_strategy strategy =
      instance_ ? instance_->supervisor_strategy() : supervisor_strategy::default_strategy();
  directive d = strategy.decide(f.cause);
  bool budget_spent = false;
  if (d == directive::restart) {
    auto [it, fresh] = ext().budgets.try_emplace(child, strategy.max_restarts, strategy.within);
    if (fresh) report_end_of(child);  // so that the budget is erased when it ends
    budget_spent = !it->second.request_restart(core_->timers().now());
  }
  if (strategy.log_failures) {
    TROUPE_LOG(core_->log(), error) << child->path() << " failed"
                                    << (f.message_type.empty() ? "" : " on a ")
                                    << f.message_type << ": " << describe(f.cause) << " -> "
                                    << (budget_spent ? "stop (restart budget spent)" : to_string(d));
  }
  const bool all = strategy.kind == supervisor_strategy::scope::all_for_one;
  switch (d) {
    case directive::resume:
      child->enqueue_system(sys_envelope<sys::resume>(f.cause));
      break;
    case directive::restart: {
      if (budget_spent) {
        if (all) {
          for (auto& e : child_entries()) stop_child(e.cell->self_ref());
        } else {
          stop_child(f.child);
        }
        break;
      }
      if (all) {
        for (auto& e : child_entries()) {
          if (!e.stopping) restart_child(e.cell, f.cause, e.cell != child);
        }
      } else {
        restart_child(child, f.cause, false);
      }
      break;
    }
    case directive::stop:
      if (all) {
        for (auto& e : child_entries()) stop_child(e.cell->self_ref());
      } else {
        stop_child(f.child);
      }
      break;
    case directive::escalate:
      handle_failure(f.cause, f.message_type, child);
      break;
  }
}

void actor_cell::restart_child(actor_cell* c, const std::exception_ptr& cause, bool suspend_first) {
  if (suspend_first) c->enqueue_system(sys_envelope<sys::suspend>());
  c->enqueue_system(sys_envelope<sys::recreate>(cause));
}

void actor_cell::suspend_children(const actor_cell* except) {
  for (auto& e : child_entries()) {
    if (e.cell != except) e.cell->enqueue_system(sys_envelope<sys::suspend>());
  }
}

void actor_cell::resume_children(const std::exception_ptr& cause, const actor_cell* perpetrator) {
  for (auto& e : child_entries()) {
    if (!e.stopping) {
      e.cell->enqueue_system(sys_envelope<sys::resume>(e.cell == perpetrator ? cause : std::exception_ptr{}));
    }
  }
}

void actor_cell::on_child_terminated(const actor_ref& child) {
  auto* c = static_cast<actor_cell*>(child.get());
  // A watched child's end comes this way instead of a death_watch_notification (see watch).
  if (remove_child(c)) queue_terminated(child, true, false);
  if (ext_) ext_->budgets.erase(c);
  if (state_ == lifecycle::terminating) {
    if (!has_children()) finish_terminate();
  } else if (state_ == lifecycle::recreating) {
    if (!has_stopping_children()) finish_recreate();
  }
}

// ---- children ----

void actor_cell::lock_children() const noexcept { children_lock_.lock(); }

void actor_cell::unlock_children() const noexcept { children_lock_.unlock(); }

namespace {
std::string auto_name(std::uint64_t n) {
  static constexpr char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s = "$";
  do {
    s += digits[n % 36];
    n /= 36;
  } while (n);
  return s;
}

void validate_name(std::string_view name) {
  if (name.empty()) throw std::invalid_argument("actor name must not be empty");
  if (name.front() == '$') {
    throw std::invalid_argument("actor name [" + std::string(name) +
                                "] must not start with '$' (reserved for generated names)");
  }
  for (char ch : name) {
    if (ch == '/' || ch == '#' || ch == '@' || ch == ' ' || static_cast<unsigned char>(ch) < 0x20) {
      throw std::invalid_argument("actor name [" + std::string(name) +
                                  "] contains an illegal character (/, #, @, space or control)");
    }
  }
}
}  // namespace

actor_ref actor_cell::spawn_child(const props& p, std::string name) {
  if (!p.has_factory()) throw std::invalid_argument("props without a factory");
  const std::uint8_t d = p.dispatcher_index();
  const bool generated = name.empty();
  if (!generated) validate_name(name);
  lock_children();
  if (!children_) children_ = new children_table();
  if (generated) name = auto_name(children_->next_auto_name++);
  if (children_->closed) {
    unlock_children();
    // The parent is stopping: the child is born dead, so messages go to dead letters.
    auto* c = new actor_cell(core_, this, name, p, d);  // never runs: no room for an instance
    c->head_.store(closed_mark(), std::memory_order_release);
    c->create_pending_ = false;
    c->state_ = lifecycle::terminated;
    c->terminated_.store(true, std::memory_order_release);
    return actor_ref::adopt(c);
  }
  if (!generated && children_->find(name) != children_table::npos) {  // "$" names are unique
    unlock_children();
    throw std::invalid_argument("actor name [" + name + "] is not unique under " + path());
  }
  auto* c = make(core_, this, name, p, d);  // the table owns this reference
  children_->insert(c);
  unlock_children();
  actor_ref r = actor_ref::share(c);
  dispatcher_of(*core_, d)->schedule(c);
  return r;
}

actor_ref actor_cell::find_child(std::string_view name) const {
  lock_children();
  actor_ref r;
  if (children_) {
    const auto i = children_->find(name);
    if (i != children_table::npos) r = actor_ref::share(children_->cells[i]);
  }
  unlock_children();
  return r;
}

std::vector<actor_cell::child_entry> actor_cell::child_entries() const {
  std::vector<child_entry> out;
  lock_children();
  if (children_) {
    children_->for_each([&](std::size_t i) {
      out.push_back(child_entry{children_->cells[i], children_->stopping(i)});
    });
  }
  unlock_children();
  return out;
}

std::vector<actor_ref> actor_cell::child_refs() const {
  std::vector<actor_ref> out;
  lock_children();
  if (children_) {
    children_->for_each([&](std::size_t i) {
      if (!children_->stopping(i)) out.push_back(actor_ref::share(children_->cells[i]));
    });
  }
  unlock_children();
  return out;
}

bool actor_cell::has_children() const {
  lock_children();
  const bool any = children_ && children_->size > 0;
  unlock_children();
  return any;
}

bool actor_cell::has_stopping_children() const {
  bool any = false;
  lock_children();
  if (children_) children_->for_each([&](std::size_t i) { any = any || children_->stopping(i); });
  unlock_children();
  return any;
}

void actor_cell::mark_stopping(actor_cell* c) {
  lock_children();
  if (children_) {
    const auto i = children_->find(c);
    if (i != children_table::npos) children_->set_stopping(i);
  }
  unlock_children();
}

bool actor_cell::remove_child(actor_cell* c) {
  bool found = false;
  bool watched = false;
  lock_children();
  if (children_) {
    const auto i = children_->find(c);
    if (i != children_table::npos) {
      watched = children_->watched(i);
      children_->erase(i);
      found = true;
    }
  }
  unlock_children();
  if (found) c->release();  // the table's reference
  return watched;
}

bool actor_cell::remove_stopped_child(actor_cell* c) {
  bool removed = false;
  lock_children();
  if (children_ && !children_->awaiting_reports) {
    const auto i = children_->find(c);
    if (i != children_table::npos && !children_->reports_end(i)) {
      children_->erase(i);
      removed = true;
    }
  }
  unlock_children();
  if (removed) c->release();  // the table's reference (the caller holds another)
  return removed;
}

void actor_cell::await_child_reports(bool on) {
  lock_children();
  if (children_) children_->awaiting_reports = on;  // no table: no child to wait for
  unlock_children();
}

bool actor_cell::report_end_of(actor_cell* c, bool watch) {
  bool found = false;
  lock_children();
  if (children_) {
    const auto i = children_->find(c);
    if (i != children_table::npos) {
      children_->set_reports_end(i);
      if (watch) children_->set_watched(i, true);
      found = true;
    }
  }
  unlock_children();
  return found;
}

bool actor_cell::unwatch_child(actor_cell* c) {
  bool was = false;
  lock_children();
  if (children_) {
    const auto i = children_->find(c);
    if (i != children_table::npos && children_->watched(i)) {
      children_->set_watched(i, false);  // it still reports its end; nobody listens
      was = true;
    }
  }
  unlock_children();
  return was;
}

// ---- context API ----

message* actor_cell::current_message() const noexcept { return tls_current == this ? tls_message : nullptr; }

const actor_ref& actor_cell::current_sender() const noexcept {
  return tls_message && tls_message->get() ? tls_message->get()->sender : no_sender();
}

void actor_cell::stop_child(const actor_ref& child) {
  if (!child) return;
  if (child.get() == this) {
    stop_self();
    return;
  }
  mark_stopping(static_cast<actor_cell*>(child.get()));
  child.get()->enqueue_system(sys_envelope<sys::terminate>());
}

void actor_cell::stop_self() { enqueue_system(sys_envelope<sys::terminate>()); }

void actor_cell::watch(const actor_ref& other) {
  ref_target* const target = other.get();
  if (target == nullptr || target == this) return;
  // A child tells its parent of its end anyway (child_terminated). Marked in the children
  // table to do so, a watched child needs no record of its watcher and the parent no
  // entry in its watch set: a shard region watching a million entities keeps 1 bit for
  // each. A child no longer in the table has ended; it is watched the common way below,
  // and the watch comes back as a death_watch_notification, as for any other actor.
  if (auto* child = dynamic_cast<actor_cell*>(target); child && child->parent_ == this) {
    if (ext_ && ext_->watching.count(other)) return;
    if (report_end_of(child, true)) return;
  }
  if (!ext().watching.insert(other).second) return;
  target->enqueue_system(sys_envelope<sys::watch>(other, self_ref()));
}

void actor_cell::unwatch(const actor_ref& other) {
  ref_target* const target = other.get();
  if (target == nullptr) return;
  if (ext_) ext_->terminated_queued.erase(other);
  if (auto* child = dynamic_cast<actor_cell*>(target); child && child->parent_ == this && unwatch_child(child)) return;
  if (ext_ && ext_->watching.erase(other)) {
    target->enqueue_system(sys_envelope<sys::unwatch>(other, self_ref()));
  }
}

void actor_cell::on_watch(sys::watch& w) {
  if (w.watchee.get() != this || !w.watcher || w.watcher.get() == this) return;
  ext().watched_by.insert(w.watcher);
}

void actor_cell::on_unwatch(sys::unwatch& w) {
  if (ext_) ext_->watched_by.erase(w.watcher);
}

void actor_cell::on_death_notification(sys::death_watch_notification& n) {
  if (!ext_ || ext_->watching.erase(n.actor) == 0) return;
  queue_terminated(n.actor, n.existence_confirmed, n.address_terminated);
}

void actor_cell::queue_terminated(const actor_ref& who, bool existence_confirmed, bool address_terminated) {
  if (state_ == lifecycle::terminating || state_ == lifecycle::terminated) return;
  ext().terminated_queued.insert(who);
  enqueue(new typed_envelope<terminated>(terminated{who, existence_confirmed, address_terminated}));
}

void actor_cell::become(behavior b, bool discard_old) {
  ext().pending_become.emplace(std::move(b), discard_old);
  if (!tls_message) apply_pending_behavior();
}

void actor_cell::unbecome() {
  ++ext().pending_unbecome;
  if (!tls_message) apply_pending_behavior();
}

void actor_cell::stash() {
  if (!tls_message || !tls_message->get()) throw std::logic_error("stash() outside of a message handler");
  ext().stash.push_back(tls_message->release());
}

void actor_cell::unstash_all() {
  if (!ext_ || ext_->stash.empty()) return;
  for (auto it = ext_->stash.rbegin(); it != ext_->stash.rend(); ++it) {
    envelope* e = *it;
    e->next = user_first_;
    user_first_ = e;
    if (!user_last_) user_last_ = e;
  }
  // pop_user() counts them out again.
  const auto n = static_cast<std::int32_t>(ext_->stash.size());
  if (capacity_) {
    user_count_.fetch_add(n, std::memory_order_relaxed);
  } else {
    user_count_.store(user_count_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  ext_->stash.clear();
}

timer_scheduler& actor_cell::timers() {
  auto& x = ext();
  if (!x.timer_api) x.timer_api.reset(new timer_scheduler(this));
  return *x.timer_api;
}

void actor_cell::start_timer(std::string key, message msg, std::chrono::nanoseconds d, bool periodic) {
  if (state_ == lifecycle::terminating || state_ == lifecycle::terminated) return;
  cancel_timer(key);
  auto& x = ext();
  const std::uint64_t gen = ++x.timer_generation;
  actor_ref self = self_ref();
  auto fire = [self, key, gen] { self.tell(timer_fire{key, gen}, actor_ref{}); };
  const auto task = periodic ? core_->timers().schedule_periodic(d, d, std::move(fire))
                             : core_->timers().schedule_once(d, std::move(fire));
  x.timers.insert_or_assign(std::move(key), timer_entry{gen, task, periodic, std::move(msg)});
}

void actor_cell::cancel_timer(const std::string& key) {
  if (!ext_) return;
  auto it = ext_->timers.find(key);
  if (it == ext_->timers.end()) return;
  core_->timers().cancel(it->second.task);
  ext_->timers.erase(it);
}

void actor_cell::cancel_all_timers() {
  if (!ext_) return;
  for (auto& [k, t] : ext_->timers) core_->timers().cancel(t.task);
  ext_->timers.clear();
}

bool actor_cell::is_timer_active(const std::string& key) const {
  return ext_ && ext_->timers.count(key) > 0;
}

void actor_cell::on_timer(std::string_view key, std::uint64_t generation) {
  if (!ext_) return;
  auto it = ext_->timers.find(std::string(key));
  if (it == ext_->timers.end() || it->second.generation != generation) return;  // cancelled
  message m;
  if (it->second.periodic) {
    m = it->second.prototype.copy();
  } else {
    m = std::move(it->second.prototype);
    ext_->timers.erase(it);
  }
  if (!m) return;
  message* saved = std::exchange(tls_message, &m);
  try {
    deliver(m);
  } catch (...) {
    tls_message = saved;
    throw;
  }
  tls_message = saved;
}

void actor_cell::set_receive_timeout(std::chrono::nanoseconds d) {
  auto& x = ext();
  x.receive_timeout = d;
  schedule_receive_timeout();
}

void actor_cell::schedule_receive_timeout() {
  auto& x = *ext_;
  if (x.receive_timeout_task) core_->timers().cancel(x.receive_timeout_task);
  x.receive_timeout_task = 0;
  const std::uint64_t gen = ++x.receive_timeout_generation;
  if (x.receive_timeout.count() <= 0) return;
  actor_ref self = self_ref();
  x.receive_timeout_task = core_->timers().schedule_once(
      x.receive_timeout, [self, gen] { self.tell(receive_timeout_fire{gen}, actor_ref{}); });
}

const logger& actor_cell::log() {
  auto& x = ext();
  if (!x.log) x.log = std::make_unique<logger>(path(), core_->log().level());
  return *x.log;
}

void actor_cell::run_in_context(std::function<void()> fn) {
  enqueue(new typed_envelope<context_task>(context_task{std::move(fn), incarnation()}));
}

}  // namespace troupe::detail

namespace troupe {

bool at_turn_end(void (*fn)(void*), void* arg) {
  if (!detail::tls_current) return false;
  detail::tls_turn_end.emplace_back(fn, arg);
  detail::tls_turn_end_kept = true;
  return true;
}

delivery_batch::delivery_batch() noexcept : outermost_(detail::tls_batch_depth++ == 0) {
  if (outermost_) detail::tls_batch_woken.reserve(64);
}

delivery_batch::~delivery_batch() {
  --detail::tls_batch_depth;
  if (!outermost_) return;
  // (The depth is down already: a push during these schedules schedules at once.)
  // Runs of cells of one dispatcher are handed over together.
  auto& woken = detail::tls_batch_woken;
  for (std::size_t i = 0; i < woken.size();) {
    detail::dispatcher* d = woken[i]->own_dispatcher();
    std::size_t j = i + 1;
    while (j < woken.size() && woken[j]->own_dispatcher() == d) ++j;
    d->schedule_all(woken.data() + i, j - i);
    i = j;
  }
  woken.clear();
}

}  // namespace troupe
