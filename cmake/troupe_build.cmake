# Warnings, language level and sanitizer flavour shared by every troupe target.
include_guard(GLOBAL)

# (The build type is the embedding project's choice when troupe is not the top level.)
if(PROJECT_IS_TOP_LEVEL AND NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

# Libraries link it PRIVATE as $<BUILD_INTERFACE:troupe::build_options>, so that it never
# reaches the exported targets (a static library's private links are part of its export).
add_library(troupe_build_options INTERFACE)
add_library(troupe::build_options ALIAS troupe_build_options)
target_compile_features(troupe_build_options INTERFACE cxx_std_20)
target_compile_options(troupe_build_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual
  $<$<NOT:$<BOOL:$<TARGET_PROPERTY:TROUPE_NO_NULL_DEREFERENCE_WARNING>>>:-Wnull-dereference>)

# troupe_no_null_dereference_warning(<target>...)
# GCC 12 reports -Wnull-dereference false positives inside Boost 1.74's Asio and Beast
# (its scheduler, once inlined into our code) and in message::get_if once inlined; the
# targets that include them build without that one warning. A target property rather than
# per-source options: sources with options of their own are left out of unity builds.
function(troupe_no_null_dereference_warning)
  set_property(TARGET ${ARGN} PROPERTY TROUPE_NO_NULL_DEREFERENCE_WARNING ON)
endfunction()

if(TROUPE_SANITIZE STREQUAL "address")
  set(_troupe_san -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
elseif(TROUPE_SANITIZE STREQUAL "thread")
  set(_troupe_san -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT TROUPE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "TROUPE_SANITIZE must be '', 'address' or 'thread', not '${TROUPE_SANITIZE}'")
endif()
if(_troupe_san)
  add_compile_options(${_troupe_san})
  add_link_options(${_troupe_san})
endif()

# troupe_test_code_options(<target>)
# The test programs' own code compiles with -Og in optimised builds: the code under test
# (the libraries, and the simulators the tests drive) keeps the build type's -O2, while
# the tests themselves, mostly Catch2's expanded assertions, spend most of their compile
# time in -O2's optimiser for nothing (membership_state_test.cpp: 12.4 s of CPU at -O2,
# 6.1 s at -Og). Debug builds keep -O0.
function(troupe_test_code_options target)
  target_compile_options(${target} PRIVATE $<$<CONFIG:RelWithDebInfo,Release,MinSizeRel>:-Og>)
endfunction()

# troupe_add_tests(<target> SOURCES ... LIBS ... [TIMEOUT s] [SEPARATE_FILES])
# Builds one Catch2 executable and registers its test cases with CTest, one label per
# Catch tag: [unit], [integration], [stress] and [fault] cases are labelled alike, so
# `ctest -L unit` runs only the fast ones. SEPARATE_FILES: the files give file-local
# helpers the same names (a `node`, a `fixture`), so each compiles on its own even in a
# unity build (the sanitizer presets' CMAKE_UNITY_BUILD).
function(troupe_add_tests target)
  cmake_parse_arguments(arg "SEPARATE_FILES" "TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  add_executable(${target} ${arg_SOURCES})
  if(arg_SEPARATE_FILES)
    set_target_properties(${target} PROPERTIES UNITY_BUILD OFF)
  endif()
  set_property(GLOBAL APPEND PROPERTY TROUPE_TEST_TARGETS ${target})
  target_link_libraries(${target} PRIVATE ${arg_LIBS} troupe_test_main troupe::build_options)
  troupe_test_code_options(${target})
  foreach(label unit integration stress fault)
    catch_discover_tests(${target}
      TEST_SPEC "[${label}]"
      TEST_PREFIX "${label}:"
      PROPERTIES LABELS ${label} TIMEOUT ${arg_TIMEOUT})
  endforeach()
endfunction()
