# Drives one package consumer test (test/CMakeLists.txt): builds test/consumer against
# troupe and runs it.
#
#   cmake -DMODE=find_package|add_subdirectory -DTROUPE_SOURCE_DIR=... -DTROUPE_BINARY_DIR=...
#         -DWORK_DIR=... -DCXX_COMPILER=... -DBUILD_TYPE=... [-DMAKE_PROGRAM=<ninja>]
#         [-DJOBS=2] -P run.cmake
#
# find_package: installs the build tree TROUPE_BINARY_DIR into WORK_DIR/prefix, then
# configures the consumer with CMAKE_PREFIX_PATH=WORK_DIR/prefix. add_subdirectory:
# configures the consumer with TROUPE_CONSUMER_SOURCE_DIR=TROUPE_SOURCE_DIR, so that it
# builds the troupe libraries it links (and nothing else). Either way with the same
# compiler, build type and Ninja as troupe's own build; WORK_DIR is removed at the end.
cmake_minimum_required(VERSION 3.25)

foreach(var MODE TROUPE_SOURCE_DIR TROUPE_BINARY_DIR WORK_DIR CXX_COMPILER BUILD_TYPE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake: -D${var}=... is missing")
  endif()
endforeach()
if(NOT DEFINED JOBS)
  set(JOBS 2)
endif()

# step(<name> <timeout s> <command>...): runs the command; on failure prints its output,
# removes WORK_DIR and fails the test.
function(step name timeout)
  string(TIMESTAMP start "%s")
  execute_process(COMMAND ${ARGN} TIMEOUT ${timeout}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(TIMESTAMP end "%s")
  math(EXPR seconds "${end} - ${start}")
  if(NOT rc EQUAL 0)
    file(REMOVE_RECURSE "${WORK_DIR}")
    message(FATAL_ERROR "${name} failed (${rc}) after ${seconds} s:\n${out}")
  endif()
  message(STATUS "${name}: ok (${seconds} s)")
  if(name STREQUAL "run")
    message(STATUS "${out}")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(configure_args
  -S "${CMAKE_CURRENT_LIST_DIR}" -B "${WORK_DIR}/build" -G Ninja
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(MODE STREQUAL "find_package")
  step(install 120 ${CMAKE_COMMAND} --install "${TROUPE_BINARY_DIR}" --prefix "${WORK_DIR}/prefix")
  list(APPEND configure_args "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
elseif(MODE STREQUAL "add_subdirectory")
  list(APPEND configure_args "-DTROUPE_CONSUMER_SOURCE_DIR=${TROUPE_SOURCE_DIR}")
else()
  message(FATAL_ERROR "run.cmake: MODE must be find_package or add_subdirectory, not '${MODE}'")
endif()

step(configure 120 ${CMAKE_COMMAND} ${configure_args})
step(build 900 ${CMAKE_COMMAND} --build "${WORK_DIR}/build" --target troupe_consumer -j ${JOBS})
step(run 60 "${WORK_DIR}/build/troupe_consumer")
file(REMOVE_RECURSE "${WORK_DIR}")
