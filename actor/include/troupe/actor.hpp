// troupe::actor: the actor runtime in one include.
#pragma once

#include "troupe/actor/actor.hpp"
#include "troupe/actor/actor_ref.hpp"
#include "troupe/actor/actor_system.hpp"
#include "troupe/actor/ask.hpp"
#include "troupe/actor/behavior.hpp"
#include "troupe/actor/coordinated_shutdown.hpp"
#include "troupe/actor/event_stream.hpp"
#include "troupe/actor/log.hpp"
#include "troupe/actor/message.hpp"
#include "troupe/actor/messages.hpp"
#include "troupe/actor/props.hpp"
#include "troupe/actor/scheduler.hpp"
#include "troupe/actor/settings.hpp"
#include "troupe/actor/supervision.hpp"
#include "troupe/actor/testkit.hpp"
