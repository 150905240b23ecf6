// troupe::persistence in one include: event-sourced and durable-state actors, their
// plugins (in-memory, SQLite, PostgreSQL) and the read journal.
#pragma once

#include "troupe/persistence/durable_state_actor.hpp"
#include "troupe/persistence/persistence.hpp"
#include "troupe/persistence/persistent_actor.hpp"
#include "troupe/persistence/query.hpp"
#include "troupe/persistence/settings.hpp"
#include "troupe/persistence/store.hpp"
