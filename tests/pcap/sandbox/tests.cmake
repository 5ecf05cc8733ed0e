# The Lua sandbox: rule files cannot change the shared standard libraries.
haka_add_pcap_test(sandbox-libs ${PCAP_DIR}/sandbox/libs.lua
	${HAKA_DATA}/doc__user__workshop__smtp.pcap
	REF_TXT ${PCAP_DIR}/sandbox/libs-ref.txt)
