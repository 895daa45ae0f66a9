# ts_add_library(<name> ...): one installed tokensmith library, built the same way for all of them.
#
# One set of objects (compiled once, symbols hidden unless TS_API marks them) is linked both as a
# static library (tokensmith::<name>_static; what the CLI, tests and fuzzers link) and a shared one
# (tokensmith::<name>), each with the private base layer's objects inside, so that ts_common__*
# never becomes a dependency of its own. Both are named libtokensmith-<name>, carry the project's
# version, and come with a relocatable pkg-config file made from PC_TEMPLATE.
#
#   SOURCES ...               the library's sources
#   BASE ...                  private base objects to include (default: ts_base)
#   PUBLIC_DEPS ...           third-party targets the public header needs (public everywhere)
#   DEPS ...                  third-party targets used inside (private to the shared library,
#                             public for the static one, which cannot carry them itself)
#   OBJECT_LINKS ...          tokensmith targets whose headers the sources include
#   STATIC_LINKS ...          tokensmith libraries the static variant needs (their static ones)
#   SHARED_LINKS ...          ... and the shared variant needs publicly
#   SHARED_PRIVATE_LINKS ...  ... and the shared variant needs privately
#   OBJECT_TARGET, STATIC_TARGET, SHARED_TARGET
#                             target names (default ts_<name>_obj, ts_<name>_static, ts_<name>)
#   PC_TEMPLATE file          default cmake/tokensmith-<name>.pc.in
#   RPATH_ORIGIN              the shared library finds its tokensmith dependencies beside itself
#   INSTALL_STATIC            install the static variant too
#   NO_INSTALL                configure the pkg-config file but install nothing (the caller
#                             installs, e.g. as an optional component)
function(ts_add_library name)
  cmake_parse_arguments(PARSE_ARGV 1 A "RPATH_ORIGIN;INSTALL_STATIC;NO_INSTALL"
    "OBJECT_TARGET;STATIC_TARGET;SHARED_TARGET;PC_TEMPLATE"
    "SOURCES;BASE;PUBLIC_DEPS;DEPS;OBJECT_LINKS;STATIC_LINKS;SHARED_LINKS;SHARED_PRIVATE_LINKS")
  if(A_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "ts_add_library(${name}): unknown arguments ${A_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT A_OBJECT_TARGET)
    set(A_OBJECT_TARGET ts_${name}_obj)
  endif()
  if(NOT A_STATIC_TARGET)
    set(A_STATIC_TARGET ts_${name}_static)
  endif()
  if(NOT A_SHARED_TARGET)
    set(A_SHARED_TARGET ts_${name})
  endif()
  if(NOT A_BASE)
    set(A_BASE ts_base)
  endif()
  if(NOT A_PC_TEMPLATE)
    set(A_PC_TEMPLATE ${PROJECT_SOURCE_DIR}/cmake/tokensmith-${name}.pc.in)
  endif()
  set(include_dir ${CMAKE_CURRENT_SOURCE_DIR}/include)
  set(base_objects "")
  foreach(base ${A_BASE})
    list(APPEND base_objects $<TARGET_OBJECTS:${base}>)
  endforeach()

  add_library(${A_OBJECT_TARGET} OBJECT ${A_SOURCES})
  target_include_directories(${A_OBJECT_TARGET}
    PUBLIC $<BUILD_INTERFACE:${include_dir}> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${A_OBJECT_TARGET} PUBLIC ts_common ${A_PUBLIC_DEPS}
    PRIVATE ${A_BASE} ts_warnings ${A_OBJECT_LINKS} ${A_DEPS})
  set_target_properties(${A_OBJECT_TARGET} PROPERTIES C_VISIBILITY_PRESET hidden)

  add_library(${A_STATIC_TARGET} STATIC $<TARGET_OBJECTS:${A_OBJECT_TARGET}> ${base_objects})
  target_include_directories(${A_STATIC_TARGET} PUBLIC
    $<BUILD_INTERFACE:${include_dir}> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${A_STATIC_TARGET} PUBLIC ts_common ${A_STATIC_LINKS} ${A_PUBLIC_DEPS}
    ${A_DEPS})
  set_target_properties(${A_STATIC_TARGET} PROPERTIES OUTPUT_NAME tokensmith-${name}
    EXPORT_NAME ${name}_static)
  add_library(tokensmith::${name}_static ALIAS ${A_STATIC_TARGET})

  add_library(${A_SHARED_TARGET} SHARED $<TARGET_OBJECTS:${A_OBJECT_TARGET}> ${base_objects})
  target_include_directories(${A_SHARED_TARGET} PUBLIC
    $<BUILD_INTERFACE:${include_dir}> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${A_SHARED_TARGET} PUBLIC ts_common ${A_SHARED_LINKS} ${A_PUBLIC_DEPS}
    PRIVATE ${A_SHARED_PRIVATE_LINKS} ${A_DEPS})
  set_target_properties(${A_SHARED_TARGET} PROPERTIES OUTPUT_NAME tokensmith-${name}
    EXPORT_NAME ${name} VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
  if(A_RPATH_ORIGIN)
    set_target_properties(${A_SHARED_TARGET} PROPERTIES INSTALL_RPATH "$ORIGIN")
  endif()
  add_library(tokensmith::${name} ALIAS ${A_SHARED_TARGET})

  # Relocatable: the prefix is found from where the .pc file is installed.
  file(RELATIVE_PATH TS_PC_RELPREFIX "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    "${CMAKE_INSTALL_PREFIX}")
  configure_file(${A_PC_TEMPLATE} ${CMAKE_CURRENT_BINARY_DIR}/tokensmith-${name}.pc @ONLY)
  if(A_NO_INSTALL)
    return()
  endif()
  set(targets ${A_SHARED_TARGET})
  if(A_INSTALL_STATIC)
    list(APPEND targets ${A_STATIC_TARGET})
  endif()
  # Components (cmake/Packaging.cmake): the shared library's versioned files go to
  # libtokensmith; its unversioned link, the static variant, headers and .pc to dev.
  install(DIRECTORY ${include_dir}/tokensmith DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
  install(TARGETS ${targets} EXPORT tokensmithTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT libtokensmith NAMELINK_COMPONENT dev
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tokensmith-${name}.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
endfunction()

# ts_add_unit_tests(<lib> ...): every <lib>/tests/test_*.c is one cmocka executable
# <lib>_test_x and one ctest test <lib>.test_x (exit 77 = skipped).
#   LINK ...            what each test links besides ts_warnings and cmocka
#   DEFINITIONS ...     compile definitions for each test
#   PRIVATE_HEADERS     the tests also see the library's private headers (src/, common/)
#   TIMEOUT n           seconds (default 600)
#   CONCURRENCY regex   the tests whose name (test_x) matches are labelled `concurrency`: they
#                       run again under ThreadSanitizer (scripts/test.sh)
# Tests that need more than the others get it afterwards by target name.
function(ts_add_unit_tests lib)
  cmake_parse_arguments(PARSE_ARGV 1 A "PRIVATE_HEADERS" "TIMEOUT;CONCURRENCY" "LINK;DEFINITIONS")
  if(A_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "ts_add_unit_tests(${lib}): unknown arguments ${A_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 600)
  endif()
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_*.c)
  foreach(src ${tests})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${lib}_${name} ${src})
    target_link_libraries(${lib}_${name} PRIVATE ${A_LINK} ts_warnings PkgConfig::CMOCKA)
    if(A_PRIVATE_HEADERS)
      # ... and the base layer's headers they include (not its objects: the library has them).
      target_include_directories(${lib}_${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src
        $<TARGET_PROPERTY:ts_base,INTERFACE_INCLUDE_DIRECTORIES>)
    endif()
    if(A_DEFINITIONS)
      target_compile_definitions(${lib}_${name} PRIVATE ${A_DEFINITIONS})
    endif()
    add_test(NAME ${lib}.${name} COMMAND ${lib}_${name})
    set_tests_properties(${lib}.${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT ${A_TIMEOUT})
    if(A_CONCURRENCY AND name MATCHES "${A_CONCURRENCY}")
      set_tests_properties(${lib}.${name} PROPERTIES LABELS concurrency)
    endif()
  endforeach()
endfunction()
