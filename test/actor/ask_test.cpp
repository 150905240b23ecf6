// ask from outside (blocking result) and request<R> inside actors (callback on the actor's
// turn): replies, timeouts on manual time, dead recipients and wrong reply types.
#include <catch2/catch.hpp>

#include <string>

#include <troupe/actor/actor.hpp>
#include <troupe/actor/actor_system.hpp>
#include <troupe/actor/ask.hpp>
#include <troupe/actor/messages.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/quiet_settings.hpp"

using namespace std::chrono_literals;
using troupe::actor_ref;
using troupe::ask_error;
using troupe::behavior;
using troupe::props;
using troupe::testkit::test_probe;
using troupe::test_support::quiet_manual;
using troupe::test_support::quiet_threads;

namespace {

struct get_answer {};
struct get_name {};
struct silent {};
struct die {};
struct reply_later {
  std::chrono::nanoseconds after;
};
struct late_reply {
  actor_ref to;
};

class responder : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {
        [](const get_answer&) { return 42; },
        [](const get_name&) { return std::string("responder"); },
        [](const silent&) {},
        [this](const die&) { stop_self(); },
        [this](const reply_later& r) { timers().start_single_timer("late", late_reply{sender()}, r.after); },
        [](const late_reply& l) { l.to.tell(7); },
    };
  }
};

/// What a request's callback saw.
struct outcome {
  bool ok = false;
  int value = 0;
  ask_error::kind kind = ask_error::kind::timeout;
  std::string what;
  bool in_context = false;  ///< self() and the actor's state were usable
  int requests_seen = 0;
};

template <class M>
struct request_of {
  actor_ref target;
  M msg;
  std::chrono::nanoseconds timeout;
};

/// Sends request<int> on demand and reports each outcome to `out`.
class requester : public troupe::actor {
 public:
  explicit requester(actor_ref out) : out_(std::move(out)) {}
  behavior make_behavior() override {
    return {
        [this](const request_of<get_answer>& r) { start(r.target, r.msg, r.timeout); },
        [this](const request_of<get_name>& r) { start(r.target, r.msg, r.timeout); },
        [this](const request_of<silent>& r) { start(r.target, r.msg, r.timeout); },
        [this](const request_of<die>& r) { start(r.target, r.msg, r.timeout); },
    };
  }
 private:
  template <class M>
  void start(const actor_ref& target, const M& msg, std::chrono::nanoseconds timeout) {
    ++requests_;
    request<int>(target, msg, timeout, [this, asker = self()](troupe::expected<int, ask_error> r) {
      outcome o;
      o.ok = r.has_value();
      if (r) {
        o.value = *r;
      } else {
        o.kind = r.error().reason;
        o.what = r.error().what();
      }
      o.in_context = self() == asker && !sender();
      o.requests_seen = requests_;
      out_.tell(o);
    });
  }
  actor_ref out_;
  int requests_ = 0;
};

}  // namespace

TEST_CASE("ask returns the reply", "[unit][ask]") {
  const bool manual = GENERATE(true, false);
  INFO((manual ? "manual dispatcher" : "worker threads"));
  troupe::actor_system sys("ask", manual ? quiet_manual() : quiet_threads());
  auto r = sys.spawn(props::of<responder>(), "r");
  CHECK(troupe::ask<int>(sys, r, get_answer{}, 3s).get() == 42);
  CHECK(troupe::ask<std::string>(sys, r, get_name{}, 3s).get() == "responder");
  auto pending = troupe::ask<int>(sys, r, get_answer{}, 3s);
  auto res = pending.result();
  REQUIRE(res.has_value());
  CHECK(*res == 42);
  CHECK(pending.ready());
}

TEST_CASE("ask times out on manual time", "[unit][ask]") {
  troupe::actor_system sys("ask", quiet_manual());
  auto r = sys.spawn(props::of<responder>(), "r");
  auto pending = troupe::ask<int>(sys, r, silent{}, 5s);
  sys.run_until_idle();
  CHECK_FALSE(pending.ready());
  sys.advance_time(5s - 1ns);
  CHECK_FALSE(pending.ready());
  sys.advance_time(1ns);
  REQUIRE(pending.ready());
  auto res = pending.result();
  REQUIRE_FALSE(res.has_value());
  CHECK(res.error().reason == ask_error::kind::timeout);
  CHECK_THAT(res.error().what(), Catch::Contains("troupe://ask/user/r timed out after 5000 ms"));
  CHECK_THROWS_AS(pending.get(), ask_error);
}

TEST_CASE("ask times out on real time too", "[integration][ask]") {
  troupe::actor_system sys("ask", quiet_threads());
  auto r = sys.spawn(props::of<responder>(), "r");
  auto res = troupe::ask<int>(sys, r, silent{}, 50ms).result();
  REQUIRE_FALSE(res.has_value());
  CHECK(res.error().reason == ask_error::kind::timeout);
}

TEST_CASE("a reply after the timeout is a dead letter", "[unit][ask]") {
  troupe::actor_system sys("ask", quiet_manual());
  test_probe dead(sys);
  sys.events().subscribe<troupe::dead_letter>(dead.ref());
  auto r = sys.spawn(props::of<responder>(), "r");
  auto pending = troupe::ask<int>(sys, r, reply_later{10s}, 5s);
  sys.advance_time(5s);
  REQUIRE(pending.ready());
  CHECK_FALSE(pending.result().has_value());
  sys.advance_time(5s);
  auto d = dead.expect_msg<troupe::dead_letter>(0ms);
  CHECK(d.reason == "late reply to an ask");
  CHECK(*d.msg->get_if<int>() == 7);
}

TEST_CASE("ask to a dead actor fails with dead_recipient", "[unit][ask]") {
  const bool manual = GENERATE(true, false);
  INFO((manual ? "manual dispatcher" : "worker threads"));
  troupe::actor_system sys("ask", manual ? quiet_manual() : quiet_threads());
  test_probe probe(sys);
  auto r = sys.spawn(props::of<responder>(), "r");
  probe.watch(r);
  sys.stop(r);
  probe.expect_terminated(r);

  auto pending = troupe::ask<int>(sys, r, get_answer{}, 1h);
  CHECK(pending.ready());  // at once: no actor needs to run
  auto res = pending.result();
  REQUIRE_FALSE(res.has_value());
  CHECK(res.error().reason == ask_error::kind::dead_recipient);
  CHECK_THAT(res.error().what(), Catch::Contains("troupe://ask/user/r"));

  auto nobody = troupe::ask<int>(sys, actor_ref{}, get_answer{}, 1h).result();
  REQUIRE_FALSE(nobody.has_value());
  CHECK(nobody.error().reason == ask_error::kind::dead_recipient);
}

TEST_CASE("ask fails with dead_recipient when the actor stops without replying", "[unit][ask]") {
  const bool manual = GENERATE(true, false);
  INFO((manual ? "manual dispatcher" : "worker threads"));
  troupe::actor_system sys("ask", manual ? quiet_manual() : quiet_threads());
  auto r = sys.spawn(props::of<responder>(), "r");
  auto res = troupe::ask<int>(sys, r, die{}, 1h).result();  // a 1 h timeout: the death must end it
  REQUIRE_FALSE(res.has_value());
  CHECK(res.error().reason == ask_error::kind::dead_recipient);
}

TEST_CASE("ask with a reply of the wrong type fails with unexpected_reply", "[unit][ask]") {
  troupe::actor_system sys("ask", quiet_manual());
  auto r = sys.spawn(props::of<responder>(), "r");
  auto res = troupe::ask<int>(sys, r, get_name{}, 1s).result();
  REQUIRE_FALSE(res.has_value());
  CHECK(res.error().reason == ask_error::kind::unexpected_reply);
  CHECK_THAT(res.error().what(), Catch::Contains("expected a reply of type int"));
  CHECK_THAT(res.error().what(), Catch::Contains("string"));
}

TEST_CASE("request<R> inside an actor hands the reply to a callback on the actor's turn", "[unit][ask]") {
  const bool manual = GENERATE(true, false);
  INFO((manual ? "manual dispatcher" : "worker threads"));
  troupe::actor_system sys("request", manual ? quiet_manual() : quiet_threads());
  test_probe probe(sys);
  auto r = sys.spawn(props::of<responder>(), "r");
  auto q = sys.spawn(props::of<requester>(probe.ref()), "q");

  q.tell(request_of<get_answer>{r, {}, 3s});
  auto ok = probe.expect_msg<outcome>();
  CHECK(ok.ok);
  CHECK(ok.value == 42);
  CHECK(ok.in_context);
  CHECK(ok.requests_seen == 1);

  q.tell(request_of<get_name>{r, {}, 3s});
  auto wrong = probe.expect_msg<outcome>();
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.kind == ask_error::kind::unexpected_reply);
  CHECK(wrong.in_context);

  q.tell(request_of<die>{r, {}, 1h});
  auto dead = probe.expect_msg<outcome>();
  CHECK_FALSE(dead.ok);
  CHECK(dead.kind == ask_error::kind::dead_recipient);

  q.tell(request_of<get_answer>{r, {}, 1h});  // r is gone now
  auto dead2 = probe.expect_msg<outcome>();
  CHECK_FALSE(dead2.ok);
  CHECK(dead2.kind == ask_error::kind::dead_recipient);
  CHECK(dead2.requests_seen == 4);
}

TEST_CASE("request<R> times out on manual time", "[unit][ask]") {
  troupe::actor_system sys("request", quiet_manual());
  test_probe probe(sys);
  auto r = sys.spawn(props::of<responder>(), "r");
  auto q = sys.spawn(props::of<requester>(probe.ref()), "q");
  q.tell(request_of<silent>{r, {}, 2s});
  sys.advance_time(2s - 1ns);
  probe.expect_no_msg(0ms);
  sys.advance_time(1ns);
  auto o = probe.expect_msg<outcome>(0ms);
  CHECK_FALSE(o.ok);
  CHECK(o.kind == ask_error::kind::timeout);
  CHECK(o.in_context);
}

TEST_CASE("a request whose actor stopped before the answer is dropped quietly", "[unit][ask]") {
  troupe::actor_system sys("request", quiet_manual());
  test_probe probe(sys);
  auto r = sys.spawn(props::of<responder>(), "r");
  auto q = sys.spawn(props::of<requester>(probe.ref()), "q");
  q.tell(request_of<silent>{r, {}, 2s});
  sys.run_until_idle();
  probe.watch(q);
  sys.stop(q);
  probe.expect_terminated(q, 0ms);
  const auto before = sys.dead_letter_count();
  sys.advance_time(2s);
  probe.expect_no_msg(0ms);
  CHECK(sys.dead_letter_count() == before + 1);  // the callback's task, for a stopped actor
}

namespace {
struct ask_later {
  actor_ref target;
};
struct crash_now {};

/// Requests with a callback that touches its own state, as callbacks usually do.
class stateful_requester : public troupe::actor {
 public:
  stateful_requester(actor_ref out, std::shared_ptr<int> incarnations)
      : out_(std::move(out)), incarnation_(++*incarnations) {}
  behavior make_behavior() override {
    return {
        [this](const ask_later& a) {
          request<int>(a.target, reply_later{5s}, 1h, [this](troupe::expected<int, ask_error> r) {
            replies_ += r ? *r : -1000;
            out_.tell(std::make_pair(incarnation_, replies_));
          });
        },
        [](const crash_now&) -> void { throw std::runtime_error("crash"); },
    };
  }

 private:
  actor_ref out_;
  int incarnation_;
  int replies_ = 0;
};
}  // namespace

TEST_CASE("a request's callback never runs on a later incarnation of the actor", "[unit][ask]") {
  // The callback captured the instance that made the request; after a restart that instance
  // is gone, so its callback must not run (as the timers of a restarted actor are cancelled).
  troupe::actor_system sys("request", quiet_manual());
  test_probe probe(sys);
  auto r = sys.spawn(props::of<responder>(), "r");
  auto incarnations = std::make_shared<int>(0);
  auto q = sys.spawn(props::of<stateful_requester>(probe.ref(), incarnations), "q");
  q.tell(ask_later{r});
  sys.run_until_idle();
  q.tell(crash_now{});  // restarted by /user before the reply comes
  sys.run_until_idle();
  REQUIRE(*incarnations == 2);
  sys.advance_time(5s);
  probe.expect_no_msg(0ms);

  // The fresh instance's own requests work.
  q.tell(ask_later{r});
  sys.advance_time(5s);
  CHECK(probe.expect_msg<std::pair<int, int>>(0ms) == std::make_pair(2, 7));
}
