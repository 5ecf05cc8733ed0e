# Connection events on the tutorial capture: every packet of a tracked
# connection raises receive_packet, its opening SYN too.
haka_add_pcap_test(tcp-receive-packet ${PCAP_DIR}/tcp/receive-packet.lua
	${HAKA_DATA}/doc__user__workshop__smtp.pcap
	REF_TXT ${PCAP_DIR}/tcp/receive-packet-ref.txt)
# Objects given to a rule: as many as the rule makes are valid during the
# call; one kept for later raises an error.
haka_add_pcap_test(tcp-objects ${PCAP_DIR}/tcp/objects.lua
	${HAKA_DATA}/doc__user__workshop__smtp.pcap
	REF_TXT ${PCAP_DIR}/tcp/objects-ref.txt)
# The Lua object of a connection: the same while a rule refers to it, its
# fields readable after its end, and not held by the engine once the
# connection has ended (it stays 60 s in the table).
haka_add_pcap_test(tcp-flow-proxy ${PCAP_DIR}/tcp/flow-proxy.lua
	${CMAKE_SOURCE_DIR}/tests/data/public/sv-smtp-errors.pcap
	REF_TXT ${PCAP_DIR}/tcp/flow-proxy-ref.txt)
