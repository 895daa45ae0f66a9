# mhd.hook_order: the hooks' calling convention, checked by the compiler. A call in the current
# order (handle, conn, method, url, ...) compiles; a call of authz's hook in its old order
# (url, method, &proceed) does not, with no warning flag at all, so that a program written for
# the old order cannot be built against this one and pass the URL where the method goes.
# usage: cmake -DCC=... -DINCLUDES="dir;dir" -DDIR=<this folder> -P hook_order.cmake
set(flags -std=c11 -fsyntax-only)
foreach(d ${INCLUDES})
  list(APPEND flags -I${d})
endforeach()
execute_process(COMMAND ${CC} ${flags} ${DIR}/hook_order/current.c
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "current.c (the hooks in their current order) does not compile:\n${out}")
endif()
execute_process(COMMAND ${CC} ${flags} ${DIR}/hook_order/old_authz_order.c
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "old_authz_order.c compiles: a call of ts_authz_mhd_check() in its old "
                      "argument order (url, method, &proceed) is accepted:\n${out}")
endif()
if(NOT out MATCHES "too many arguments")
  message(FATAL_ERROR "old_authz_order.c fails for another reason than its arguments:\n${out}")
endif()
message(STATUS "current order compiles; the old authz order is refused: too many arguments")
