# gust_library(NAME SRCS a.cc ... PUBLIC_DEPS x ... DEPS y ... TESTS a_test.cc ...)
# One folder = one library named gust_NAME; its tests sit beside the code and link to it.
function(gust_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;PUBLIC_DEPS;DEPS;TESTS" ${ARGN})
  add_library(gust_${name} STATIC ${ARG_SRCS})
  target_include_directories(gust_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(gust_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_DEPS})
  if(GUST_BUILD_TESTS AND ARG_TESTS)
    add_executable(gust_${name}_tests ${ARG_TESTS})
    target_link_libraries(gust_${name}_tests PRIVATE gust_${name} ${ARG_DEPS} GTest::gtest GTest::gtest_main)
    gtest_discover_tests(gust_${name}_tests DISCOVERY_MODE PRE_TEST
      PROPERTIES ENVIRONMENT "GUST_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  endif()
endfunction()
