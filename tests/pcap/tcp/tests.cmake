# Connection events on the tutorial capture: every packet of a tracked
# connection raises receive_packet, its opening SYN too.
haka_add_pcap_test(tcp-receive-packet ${PCAP_DIR}/tcp/receive-packet.lua
	${HAKA_DATA}/doc__user__workshop__smtp.pcap
	REF_TXT ${PCAP_DIR}/tcp/receive-packet-ref.txt)
