// expected: moved to troupe::base (troupe/base/expected.hpp); this header stays for code
// that includes it from here.
#pragma once

#include "troupe/base/expected.hpp"
