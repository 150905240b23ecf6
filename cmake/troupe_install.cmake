# The troupe CMake package: install rules, the exported targets (troupe::actor, ...) and
# the package config that `find_package(troupe 0.1 REQUIRED)` reads. Each library joins
# the package with one call in its own CMakeLists.txt:
#
#   troupe_install_library(troupe_cluster cluster)                # -> troupe::cluster
#   troupe_install_library(troupe_remote remote
#     DEPENDENCIES "Boost 1.74 CONFIG COMPONENTS system" OpenSSL)
#
# and the top-level CMakeLists.txt writes the package once every library has joined
# (troupe_install_package). docs/packaging.md describes the result.
include_guard(GLOBAL)

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TROUPE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/troupe")

# troupe_install_library(<target> <export-name>
#                        [INCLUDE_DIR <dir>]
#                        [DEPENDENCIES <find_dependency arguments>...]
#                        [STATIC_DEPENDENCIES <find_dependency arguments>...])
# Makes <target> troupe::<export-name> for consumers of the installed package: versions it
# (VERSION and SOVERSION when shared), adds the installed include directory to its
# interface, and, with TROUPE_INSTALL, installs it, its export and INCLUDE_DIR (default:
# include/ beside the calling CMakeLists.txt; a tree shared by several libraries is
# installed once). DEPENDENCIES are the packages its interface needs (what it links
# PUBLIC); STATIC_DEPENDENCIES those a static archive still needs at the consumer's link
# (what it links PRIVATE), looked up only when <target> is built static. Each entry is one
# find_dependency() call's arguments, e.g. "Boost 1.74 CONFIG COMPONENTS system".
function(troupe_install_library target export_name)
  cmake_parse_arguments(arg "" "INCLUDE_DIR" "DEPENDENCIES;STATIC_DEPENDENCIES" ${ARGN})
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "troupe_install_library(${target}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_INCLUDE_DIR)
    set(arg_INCLUDE_DIR "${CMAKE_CURRENT_SOURCE_DIR}/include")
  endif()

  # 1. The target as consumers see it. The SOVERSION is major.minor while troupe is 0.x
  #    (any minor release may break the ABI), the plain major from 1.0 on.
  if(troupe_VERSION_MAJOR EQUAL 0)
    set(soversion "${troupe_VERSION_MAJOR}.${troupe_VERSION_MINOR}")
  else()
    set(soversion "${troupe_VERSION_MAJOR}")
  endif()
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${export_name}
    VERSION ${troupe_VERSION}
    SOVERSION ${soversion})
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "SHARED_LIBRARY")
    set_target_properties(${target} PROPERTIES
      # Symbol visibility (docs/packaging.md): the API keeps default visibility, but the
      # out-of-line copies of inline functions are not exported.
      VISIBILITY_INLINES_HIDDEN ON
      # Installed, the libraries find each other in their own directory.
      INSTALL_RPATH "$ORIGIN")
  endif()
  target_include_directories(${target} INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  set_property(GLOBAL APPEND PROPERTY TROUPE_PACKAGE_TARGETS ${target})

  # 2. What the package config must find for it.
  set(deps ${arg_DEPENDENCIES})
  if(type STREQUAL "STATIC_LIBRARY")
    list(APPEND deps ${arg_STATIC_DEPENDENCIES})
  endif()
  set_property(GLOBAL APPEND PROPERTY TROUPE_PACKAGE_DEPENDENCIES ${deps})

  if(NOT TROUPE_INSTALL)
    return()
  endif()

  # 3. Install rules: the library, and its headers once per include tree.
  install(TARGETS ${target} EXPORT troupeTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT troupe_development
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT troupe_runtime
      NAMELINK_COMPONENT troupe_development
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT troupe_runtime)
  get_property(installed GLOBAL PROPERTY TROUPE_INSTALLED_INCLUDE_DIRS)
  if(EXISTS "${arg_INCLUDE_DIR}" AND NOT arg_INCLUDE_DIR IN_LIST installed)
    install(DIRECTORY "${arg_INCLUDE_DIR}/" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
      COMPONENT troupe_development)
    set_property(GLOBAL APPEND PROPERTY TROUPE_INSTALLED_INCLUDE_DIRS "${arg_INCLUDE_DIR}")
  endif()
endfunction()

# troupe_install_package()
# Called once, after every library has called troupe_install_library: installs the
# exported targets (namespace troupe::), troupeConfig.cmake with one find_dependency per
# package the libraries named, and troupeConfigVersion.cmake.
function(troupe_install_package)
  if(NOT TROUPE_INSTALL)
    return()
  endif()
  get_property(deps GLOBAL PROPERTY TROUPE_PACKAGE_DEPENDENCIES)
  list(REMOVE_DUPLICATES deps)
  set(TROUPE_FIND_DEPENDENCIES "")
  foreach(dep IN LISTS deps)
    string(APPEND TROUPE_FIND_DEPENDENCIES "find_dependency(${dep})\n")
  endforeach()

  install(EXPORT troupeTargets
    NAMESPACE troupe::
    FILE troupeTargets.cmake
    DESTINATION ${TROUPE_INSTALL_CMAKEDIR}
    COMPONENT troupe_development)
  configure_package_config_file(
    "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/troupeConfig.cmake.in"
    "${PROJECT_BINARY_DIR}/troupeConfig.cmake"
    INSTALL_DESTINATION ${TROUPE_INSTALL_CMAKEDIR})
  # SameMinorVersion: while troupe is 0.x a minor release may break the API, so 0.1.x
  # satisfies `find_package(troupe 0.1)` and 0.2 does not. From 1.0 on: SameMajorVersion.
  if(troupe_VERSION_MAJOR EQUAL 0)
    set(compatibility SameMinorVersion)
  else()
    set(compatibility SameMajorVersion)
  endif()
  write_basic_package_version_file(
    "${PROJECT_BINARY_DIR}/troupeConfigVersion.cmake"
    VERSION ${troupe_VERSION}
    COMPATIBILITY ${compatibility})
  install(FILES
    "${PROJECT_BINARY_DIR}/troupeConfig.cmake"
    "${PROJECT_BINARY_DIR}/troupeConfigVersion.cmake"
    DESTINATION ${TROUPE_INSTALL_CMAKEDIR}
    COMPONENT troupe_development)
endfunction()
