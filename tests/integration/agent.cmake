# The agent daemon's integration tests (tests/integration/test_agent_*.c):
# real etxroll-agent processes on 127.0.0.1 driven through
# coordinator/peer.h, and the demo service they roll out, built as three
# versions into ${CMAKE_BINARY_DIR}/tests/agent-daemon (v3 exits at start).
set(ETX_DAEMON_TEST_DIR ${CMAKE_BINARY_DIR}/tests/agent-daemon)
set(ETX_DAEMON_SRC ${CMAKE_CURRENT_LIST_DIR})

foreach(v 1 2 3)
    add_executable(etx_demo_service_v${v} ${ETX_DAEMON_SRC}/demo_service.c)
    target_compile_definitions(etx_demo_service_v${v} PRIVATE DEMO_VERSION=${v})
    if(v EQUAL 3)
        target_compile_definitions(etx_demo_service_v${v} PRIVATE DEMO_BROKEN)
    endif()
    target_link_libraries(etx_demo_service_v${v} PRIVATE PkgConfig::UV)
    set_target_properties(etx_demo_service_v${v} PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY ${ETX_DAEMON_TEST_DIR})
endforeach()

file(GLOB ETX_DAEMON_TESTS CONFIGURE_DEPENDS
    ${ETX_DAEMON_SRC}/test_agent_*.c)
foreach(t ${ETX_DAEMON_TESTS})
    get_filename_component(name ${t} NAME_WE)
    add_executable(${name} ${t})
    target_link_libraries(${name} PRIVATE etxroll_core etxroll_agent_core
        etx_proto PkgConfig::CMOCKA)
    add_dependencies(${name} etxroll-agent etx_demo_service_v1
        etx_demo_service_v2 etx_demo_service_v3)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "${ETX_TEST_ENV}"
        TIMEOUT 120)
endforeach()
