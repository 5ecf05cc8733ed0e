# The original engine's own TCP captures with its reference outputs.
set(H ${HAKA_DATA})
set(R ${HAKA_DATA}/expected)
haka_add_pcap_test(haka-tcp-oneconnection ${PCAP_DIR}/haka/connection-log.lua
	${H}/modules__protocol__tcp__test__oneconnection.pcap
	REF_TXT ${R}/modules__protocol__tcp__test__oneconnection-ref.txt
	OPTIONS -l info,conn=debug,lua=debug)
haka_add_pcap_test(haka-tcp-interleavedconnection ${PCAP_DIR}/haka/connection-log.lua
	${H}/modules__protocol__tcp__test__interleavedconnection.pcap
	REF_TXT ${R}/modules__protocol__tcp__test__interleavedconnection-ref.txt
	OPTIONS -l info,conn=debug,lua=debug)
haka_add_pcap_test(haka-tcp-stream-rst ${PCAP_DIR}/haka/stream-rst.lua
	${H}/modules__protocol__tcp__test__stream-rst.pcap
	REF_TXT ${R}/modules__protocol__tcp__test__stream-rst-ref.txt
	REF_PCAP ${H}/modules__protocol__tcp__test__stream-rst-ref.pcap
	OPTIONS -l info,conn=debug,lua=debug,external=debug)
haka_add_pcap_test(haka-tcp-filter ${PCAP_DIR}/haka/filter.lua
	${H}/modules__protocol__tcp__test__filter.pcap
	REF_PCAP ${H}/modules__protocol__tcp__test__filter-ref.pcap)
haka_add_pcap_test(haka-workshop-tcpfilter ${PCAP_DIR}/haka/tcpfilter.lua
	${H}/doc__user__workshop__tcpfilter.pcap
	REF_TXT ${R}/doc__test__workshop-tcpfilter-ref.txt
	REF_PCAP ${H}/doc__test__workshop-tcpfilter-ref.pcap
	OPTIONS -l info,conn=debug,lua=debug)
# Streamed data rules (coroutines) against the original's core-stream-rule.
# Its rule logs the HTTP reply, line breaks included, which haka.log
# escapes by default: --log-raw-text writes it as the original did.
haka_add_pcap_test(haka-stream-rule ${PCAP_DIR}/haka/stream-rule.lua
	${H}/src__haka__test__basic.pcap
	REF_TXT ${R}/src__haka__test__stream-rule-ref.txt
	OPTIONS -l info,conn=debug,lua=debug --log-raw-text)
# ipv4.addr and ipv4.network against the original's references: the
# workshop's and the sample's IP filters (alerts and forwarded packets),
# and the ipv4 module's own network test.
haka_add_pcap_test(haka-workshop-ipfilter ${PCAP_DIR}/haka/ipfilter.lua
	${H}/doc__user__workshop__ipfilter.pcap
	REF_TXT ${R}/doc__test__workshop-ipfilter-ref.txt
	REF_PCAP ${H}/doc__test__workshop-ipfilter-ref.pcap
	OPTIONS -l info,lua=debug)
haka_add_pcap_test(haka-sample-ipfilter ${PCAP_DIR}/haka/sample-ipfilter.lua
	${H}/sample__filter__ipfilter.pcap
	REF_TXT ${R}/sample__test__ipfilter-ref.txt
	REF_PCAP ${H}/sample__test__ipfilter-ref.pcap
	OPTIONS -l info,lua=debug)
haka_add_pcap_test(haka-ipv4-net ${PCAP_DIR}/haka/ipv4-net.lua
	${H}/modules__protocol__ipv4__test__net.pcap
	REF_TXT ${R}/modules__protocol__ipv4__test__net-ref.txt
	OPTIONS -l info,external=debug,lua=debug)
# flow:halfreset() on the same capture: the original's log, and its
# forwarded packets less the three RSTs toward the client (the three
# toward the server are forged).
haka_add_pcap_test(haka-tcp-stream-halfreset ${PCAP_DIR}/haka/stream-halfreset.lua
	${H}/modules__protocol__tcp__test__stream-rst.pcap
	REF_TXT ${R}/modules__protocol__tcp__test__stream-rst-ref.txt
	REF_PCAP ${PCAP_DIR}/haka/stream-halfreset-ref.pcap
	OPTIONS -l info,conn=debug,lua=debug,external=debug)
# reset() and halfreset() in one event, in either order: the full reset
# wins, the output is the original's.
haka_add_pcap_test(haka-tcp-stream-reset-both ${PCAP_DIR}/haka/stream-reset-both.lua
	${H}/modules__protocol__tcp__test__stream-rst.pcap
	REF_TXT ${R}/modules__protocol__tcp__test__stream-rst-ref.txt
	REF_PCAP ${H}/modules__protocol__tcp__test__stream-rst-ref.pcap
	OPTIONS -l info,conn=debug,lua=debug,external=debug)
# IPv4 reassembly against the original's references: the sizes of the
# reassembled ICMP messages (5304, 60 and 1604 bytes, each twice), and no
# message at all from a datagram missing a fragment.
haka_add_pcap_test(haka-ipv4-fragment ${PCAP_DIR}/haka/ipv4-fragment.lua
	${H}/modules__protocol__ipv4__test__fragment.pcap
	REF_TXT ${R}/modules__protocol__ipv4__test__fragment-ref.txt
	OPTIONS -l info,lua=debug)
haka_add_pcap_test(haka-ipv4-fragment-incomplete ${PCAP_DIR}/haka/ipv4-fragment.lua
	${H}/modules__protocol__ipv4__test__fragment_incomplete.pcap
	REF_TXT ${R}/modules__protocol__ipv4__test__fragment_incomplete-ref.txt
	OPTIONS -l info,lua=debug)
# haka.policy: a user policy object applied by a rule, with an address
# and a network criterion, against the original's policy-ipv4 reference
# (17 client-to-server packets alerted on and dropped, 18 rejected); the
# forwarded capture is the input less those 17 packets (ours: the
# original has none).
haka_add_pcap_test(haka-policy-ipv4 ${PCAP_DIR}/haka/policy-ipv4.lua
	${H}/src__haka__test__policy-ipv4.pcap
	REF_TXT ${R}/src__haka__test__policy-ipv4-ref.txt
	REF_PCAP ${PCAP_DIR}/haka/policy-ipv4-ref.pcap
	OPTIONS -l info,core=debug,lua=debug)
# The workshop's TCP filter as policies on tcp_connection's new_connection
# policy (drop by default, accept ports 22 and 80): the original's
# forwarded capture of its own tcpfilter rule, and our log in the
# format of the original's policy lines and policy alerts.
haka_add_pcap_test(haka-policy-new-connection ${PCAP_DIR}/haka/tcpfilter-policy.lua
	${H}/doc__user__workshop__tcpfilter.pcap
	REF_TXT ${PCAP_DIR}/haka/tcpfilter-policy-ref.txt
	REF_PCAP ${H}/doc__test__workshop-tcpfilter-ref.pcap
	OPTIONS -l info,core=debug,conn=debug,lua=debug)
# haka.rule_group as in the original's group filter sample, on the
# workshop's TCP capture: the original's forwarded capture of its TCP
# filter (ports 22 and 80 only), and our log.
haka_add_pcap_test(haka-rule-group ${PCAP_DIR}/haka/groupfilter.lua
	${H}/doc__user__workshop__tcpfilter.pcap
	REF_TXT ${PCAP_DIR}/haka/groupfilter-ref.txt
	REF_PCAP ${H}/doc__test__workshop-tcpfilter-ref.pcap
	OPTIONS -l info,conn=debug,filter=debug,lua=debug)
# The new_connection policy on a connection picked up with the server's
# SYN-ACK: the values are the connection's (a crafted capture).
haka_add_pcap_test(haka-policy-midstream ${PCAP_DIR}/haka/policy-midstream.lua
	${PCAP_DIR}/haka/midstream-smtp.pcap
	REF_TXT ${PCAP_DIR}/haka/policy-midstream-ref.txt
	OPTIONS -l info,core=debug,conn=debug,lua=debug)
# The first new_connection policy registered by a new_connection rule:
# that dispatch runs each rule once, the next one starts with the policy.
haka_add_pcap_test(haka-policy-late ${PCAP_DIR}/haka/policy-late.lua
	${H}/doc__user__workshop__smtp.pcap
	REF_TXT ${PCAP_DIR}/haka/policy-late-ref.txt)
