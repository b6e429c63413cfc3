# Integration tests that drive the built binaries as a user would.
add_test(NAME test_cli
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli.sh
        ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(test_cli PROPERTIES TIMEOUT 120)
include(${CMAKE_CURRENT_SOURCE_DIR}/integration/agent.cmake)
include(${CMAKE_CURRENT_SOURCE_DIR}/integration/rollout.cmake)

# test_rollout's holder: holds the newly published binary open for
# writing (tests/integration/hold_new.c), built next to the demo service.
add_executable(etx_test_hold_new ${CMAKE_CURRENT_SOURCE_DIR}/integration/hold_new.c)
set_target_properties(etx_test_hold_new PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${ETX_DAEMON_TEST_DIR})
