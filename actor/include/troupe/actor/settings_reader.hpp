// settings_reader: moved to troupe::base (troupe/base/settings_reader.hpp); this header
// stays for code that includes it from here.
#pragma once

#include "troupe/base/settings_reader.hpp"
