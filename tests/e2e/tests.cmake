# End-to-end tests of the haka daemon inline on NFQUEUE in front of Postfix
# (tests/e2e/e2e_haka.sh, topology in tests/e2e/topology.sh): network
# namespaces, iptables, a private Postfix instance and swaks. Needs root;
# skipped (77) when not root or without `ip netns`.
#
#   ctest -L e2e --output-on-failure
if(TARGET haka AND TARGET hakactl)
	add_test(NAME e2e-haka
		COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/e2e/e2e_haka.sh
			$<TARGET_FILE_DIR:haka> ${CMAKE_SOURCE_DIR})
	set_tests_properties(e2e-haka PROPERTIES
		LABELS e2e
		SKIP_RETURN_CODE 77
		TIMEOUT 600
		RUN_SERIAL TRUE)
endif()

# haka.current_thread() in each worker of the daemon (two live interfaces
# of a test namespace, one worker each).
if(TARGET haka)
	add_test(NAME e2e-threads
		COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/e2e/threads.sh
			$<TARGET_FILE_DIR:haka>)
	set_tests_properties(e2e-threads PROPERTIES
		LABELS e2e
		SKIP_RETURN_CODE 77
		TIMEOUT 60
		RUN_SERIAL TRUE)
endif()
