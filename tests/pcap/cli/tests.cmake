# hakapcap's exit codes and messages on bad arguments, captures and rules.
add_test(NAME pcap-cli-errors
	COMMAND ${PCAP_DIR}/cli/cli_errors.sh $<TARGET_FILE:hakapcap> ${HAKA_DATA}
		$<TARGET_FILE:haka>)
set_tests_properties(pcap-cli-errors PROPERTIES LABELS pcap)
