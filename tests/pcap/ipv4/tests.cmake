# Malformed IPv4 and link headers (tests/pcap/craft.py): raised to the
# rules with a packet whose header fields are nil; the rule drops one, the
# five others are forwarded.
haka_add_pcap_test(ipv4-malformed ${PCAP_DIR}/ipv4/malformed.lua
	${PCAP_DIR}/ipv4/malformed.pcap
	REF_TXT ${PCAP_DIR}/ipv4/malformed-ref.txt
	REF_PCAP ${PCAP_DIR}/ipv4/malformed-ref.pcap)
