# The NFQUEUE backend in network namespaces (root only; skipped otherwise).
add_test(NAME e2e-nfqueue
	COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/e2e/nfq_test.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e-nfqueue PROPERTIES LABELS e2e TIMEOUT 300
	SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
