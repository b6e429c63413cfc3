# etxroll apply against a fleet of real agents on 127.0.0.1
# (tests/integration/test_rollout.sh, scripts/demo-fleet.sh).
add_test(NAME test_rollout
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_rollout.sh
        ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(test_rollout PROPERTIES TIMEOUT 240)
add_test(NAME test_plans COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_plans.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})

# etxroll resume after kill -9 at many points, agents killed while staging
# (tests/integration/test_resume.sh).
add_test(NAME test_resume
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_resume.sh
        ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(test_resume PROPERTIES TIMEOUT 300)

# The bake re-checks health: a host that turns unhealthy during the bake
# halts and rolls back; resume after a crash there
# (tests/integration/test_gates.sh).
add_test(NAME test_gates
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_gates.sh
        ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(test_gates PROPERTIES TIMEOUT 180)

# etxroll apply over the SSH carrier, real sshd servers on 127.0.0.x
# (tests/integration/test_ssh_rollout.sh).
add_test(NAME test_ssh_rollout
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_ssh_rollout.sh
        ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(test_ssh_rollout PROPERTIES TIMEOUT 300)
