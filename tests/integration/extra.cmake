# Integration tests that drive the built binaries as a user would.
add_test(NAME test_cli
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli.sh
        ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(test_cli PROPERTIES TIMEOUT 120)
include(${CMAKE_CURRENT_SOURCE_DIR}/integration/agent.cmake)
include(${CMAKE_CURRENT_SOURCE_DIR}/integration/rollout.cmake)
