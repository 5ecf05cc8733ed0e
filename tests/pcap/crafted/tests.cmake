# Crafted captures (made by tests/pcap/craft.py, described in
# tests/pcap/README.md) replayed with a rule printing every event.
set(C ${PCAP_DIR}/crafted)
foreach(t tcp/out-of-order tcp/retransmit-diff tcp/one-byte-segments
		tcp/missing-segment tcp/rst-middle tcp/data-after-close
		tcp/no-handshake tcp/vlan
		tcp/qinq tcp/sll tcp/sll2 tcp/null tcp/raw
		ipv4/frag-overlap-diff ipv4/frag-simple ipv4/frag-incomplete
		ipv4/bad-checksum ipv4/non-ipv4)
	string(REPLACE "/" "-" n ${t})
	haka_add_pcap_test(crafted-${n} ${C}/events.lua ${PCAP_DIR}/${t}.pcap
		REF_TXT ${C}/${n}-ref.txt REF_PCAP ${C}/${n}-ref.pcap
		OPTIONS -l info,conn=debug,lua=debug --tcp-checksum)
endforeach()

# The out-of-order queue limit: the segments beyond the hole cannot be
# queued (1 byte allowed), so they are refused and dropped (the sender
# would retransmit them) with the tcp_memcap_flow anomaly.
haka_add_pcap_test(crafted-tcp-ooo-limit ${C}/events.lua
	${PCAP_DIR}/tcp/missing-segment.pcap
	REF_TXT ${C}/tcp-ooo-limit-ref.txt REF_PCAP ${C}/tcp-ooo-limit-ref.pcap
	OPTIONS -l info,conn=debug,lua=debug --tcp-ooo-limit 1)
