# Build artefacts of the replacement-engine tests (owned by the engine):
# two versions of a tiny program, a driver that runs the engine in a child
# process, an LD_PRELOAD shim for fault injection and write counting, and
# a small library of test helpers. Everything lands in
# ${CMAKE_BINARY_DIR}/tests/agent-engine, where the tests look for it.
set(ETX_ENGINE_TEST_DIR ${CMAKE_BINARY_DIR}/tests/agent-engine)
set(ETX_ENGINE_SRC ${CMAKE_CURRENT_LIST_DIR})

# Helpers loaded or exec'ed by other processes are built without the
# sanitizers: an ASan shim cannot be preloaded into a program, and the
# tiny programs should exec fast.
function(etx_engine_plain target)
    foreach(prop COMPILE_OPTIONS LINK_OPTIONS)
        get_target_property(opts ${target} ${prop})
        if(opts)
            list(FILTER opts EXCLUDE REGEX "sanitize")
            set_property(TARGET ${target} PROPERTY ${prop} ${opts})
        endif()
    endforeach()
    set_target_properties(${target} PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY ${ETX_ENGINE_TEST_DIR}
        LIBRARY_OUTPUT_DIRECTORY ${ETX_ENGINE_TEST_DIR})
endfunction()

foreach(v 1 2)
    add_executable(etx_prog_v${v} ${ETX_ENGINE_SRC}/prog_version.c)
    target_compile_definitions(etx_prog_v${v} PRIVATE ETX_PROG_VERSION=${v})
    etx_engine_plain(etx_prog_v${v})
endforeach()

add_library(etx_engine_shim SHARED ${ETX_ENGINE_SRC}/shim_engine.c)
target_link_libraries(etx_engine_shim PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(etx_engine_shim PROPERTIES PREFIX "")
etx_engine_plain(etx_engine_shim)

add_executable(etx_engine_driver ${ETX_ENGINE_SRC}/prog_engine.c)
target_link_libraries(etx_engine_driver PRIVATE etxroll_agent_core)
set_target_properties(etx_engine_driver PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${ETX_ENGINE_TEST_DIR})

add_library(etx_engine_testlib STATIC ${ETX_ENGINE_SRC}/testlib_engine.c)
target_link_libraries(etx_engine_testlib PUBLIC etxroll_agent_core
    PkgConfig::CMOCKA)

file(GLOB ETX_ENGINE_TESTS CONFIGURE_DEPENDS
    ${ETX_ENGINE_SRC}/test_roots.c ${ETX_ENGINE_SRC}/test_stage.c
    ${ETX_ENGINE_SRC}/test_swap*.c ${ETX_ENGINE_SRC}/test_gen*.c
    ${ETX_ENGINE_SRC}/test_release*.c ${ETX_ENGINE_SRC}/test_prune.c
    ${ETX_ENGINE_SRC}/test_cleanup.c ${ETX_ENGINE_SRC}/test_must*.c)
foreach(t ${ETX_ENGINE_TESTS})
    get_filename_component(name ${t} NAME_WE)
    if(TARGET ${name})
        target_link_libraries(${name} PRIVATE etx_engine_testlib)
        add_dependencies(${name} etx_prog_v1 etx_prog_v2 etx_engine_shim
            etx_engine_driver)
    endif()
endforeach()

# These tests identify processes by the (device, inode) of files in /tmp;
# other tests creating, running and deleting binaries there at the same
# time can reuse a freed inode number and show up as holders. Run them
# alone.
set_tests_properties(test_restart test_holders PROPERTIES RUN_SERIAL TRUE)
