# The SMTP tutorial capture with the tutorial's rules and the original's
# reference outputs.
set(H ${HAKA_DATA})
set(R ${HAKA_DATA}/expected)
set(TUTO ${H}/doc__user__workshop__smtp.pcap)
haka_add_pcap_test(smtp-spam-filter ${CMAKE_SOURCE_DIR}/rules/spam_filter.lua ${TUTO}
	REF_TXT ${R}/sample__test__smtp_spam_filter-ref.txt
	REF_PCAP ${H}/sample__test__smtp_spam_filter-ref.pcap
	OPTIONS -l info,conn=debug,lua=debug)
# All 48 packets are forwarded; the client packet that ends with the CRLF
# a terminator may start is held until the next client bytes show it is
# not one, so the server's ACK that follows it goes out first: the
# reference captures below differ from the input in that order only.
haka_add_pcap_test(smtp-mail-content ${CMAKE_SOURCE_DIR}/rules/mail_content.lua ${TUTO}
	REF_TXT ${R}/sample__test__smtp_mail_content-ref.txt
	REF_PCAP ${PCAP_DIR}/smtp/forwarded-ref.pcap
	OPTIONS -l info,conn=debug,lua=debug)
haka_add_pcap_test(smtp-command-response ${CMAKE_SOURCE_DIR}/samples/smtp_test.lua ${TUTO}
	REF_TXT ${R}/sample__test__smtp_command_response-ref.txt
	OPTIONS -l info,conn=debug,lua=debug)
haka_add_pcap_test(smtp-final ${PCAP_DIR}/smtp/final.lua ${TUTO}
	REF_TXT ${R}/doc__test__workshop-smtp_final-ref.txt
	REF_PCAP ${PCAP_DIR}/smtp/forwarded-ref.pcap
	OPTIONS -l info,conn=debug,lua=debug)
haka_add_pcap_test(smtp-policy ${PCAP_DIR}/smtp/policy.lua ${TUTO}
	REF_TXT ${PCAP_DIR}/smtp/policy-ref.txt)
# Crafted (tests/pcap/craft.py): a command line and a reply line cut by
# lost segments. The bytes before each hole can never complete their
# line: they are lost with it (smtp_gap), parsing starts again after it,
# the replies stay paired, and every packet is forwarded. The end of the
# connection still reads the transaction (flow.smtp).
haka_add_pcap_test(smtp-gap-partial-line ${PCAP_DIR}/smtp/events.lua
	${PCAP_DIR}/smtp/gap-partial-line.pcap
	REF_TXT ${PCAP_DIR}/smtp/gap-partial-line-ref.txt
	REF_PCAP ${PCAP_DIR}/smtp/gap-partial-line-ref.pcap)
# Crafted: the end of a BDAT LAST chunk lost in a hole. The mail ends
# there all the same (01234), and the next mail's chunk (xyz) is a mail
# of its own.
haka_add_pcap_test(smtp-gap-bdat-last ${PCAP_DIR}/smtp/events.lua
	${PCAP_DIR}/smtp/gap-bdat-last.pcap
	REF_TXT ${PCAP_DIR}/smtp/gap-bdat-last-ref.txt
	REF_PCAP ${PCAP_DIR}/smtp/gap-bdat-last-ref.pcap)
# A rule error on an SMTP event drops the packet in progress (the client's
# RCPT): 47 of the tutorial's 48 packets are forwarded, and the error is
# counted.
haka_add_pcap_test(smtp-rule-error ${PCAP_DIR}/smtp/rule-error.lua ${TUTO}
	REF_PCAP ${PCAP_DIR}/smtp/rule-error-ref.pcap
	SUMMARY "rule errors 1,")
# The SMTP line limits set lower with --smtp-limit (haka.conf's section
# smtp), each one byte under a line of the tutorial: its MAIL command (33
# bytes, LF included) over 32, its greeting (55) over 54, and of the two
# content lines (17 and 21) the second over 20. Each raises its anomaly,
# and the mail still goes through (every packet forwarded). One byte
# more, none is raised.
haka_add_pcap_test(smtp-limits ${PCAP_DIR}/smtp/events.lua ${TUTO}
	REF_TXT ${PCAP_DIR}/smtp/limits-ref.txt
	SUMMARY "verdicts: accepted 48, dropped 0,"
	OPTIONS --smtp-limit command_line=32 --smtp-limit reply_line=54
		--smtp-limit text_line=20)
haka_add_pcap_test(smtp-limits-fit ${PCAP_DIR}/smtp/events.lua ${TUTO}
	REF_TXT ${PCAP_DIR}/smtp/limits-fit-ref.txt
	SUMMARY "anomalies: none"
	OPTIONS --smtp-limit command_line=33 --smtp-limit reply_line=55
		--smtp-limit text_line=21)
# Crafted: a mail of 4998 bytes of content, delivered in two pieces. The
# data views of mail_content give their bytes by 1-based index (data[i])
# and the iterators' check_available(n[, nonblocking]) waits for n bytes
# without moving (mail content and TCP stream); the control characters of
# the content are escaped in the log.
haka_add_pcap_test(smtp-mail-data ${PCAP_DIR}/smtp/mail-data.lua
	${PCAP_DIR}/smtp/mail-pieces.pcap
	REF_TXT ${PCAP_DIR}/smtp/mail-data-ref.txt)
# Crafted: three SMTP connections, the second opened while the first is
# still open, the third after the first closed. With smtp.memcap at 1
# byte the first session is admitted (nothing held yet), the second is
# refused (the first holds about 26 KB): smtp_memcap, and its 11 packets
# are dropped rather than forwarded uninspected; the third is admitted
# once the first session's memory was given back.
haka_add_pcap_test(smtp-memcap ${PCAP_DIR}/smtp/events.lua
	${PCAP_DIR}/smtp/memcap.pcap
	REF_TXT ${PCAP_DIR}/smtp/memcap-ref.txt
	REF_PCAP ${PCAP_DIR}/smtp/memcap-ref.pcap
	SUMMARY "anomalies: smtp_memcap=1$"
	OPTIONS --smtp-limit memcap=1)
# The same capture with the dissector attached by smtp.dissect(flow) in a
# new_connection rule: the refusal of the second session is no rule
# error (the rule logs "refused" and goes on), the anomaly is counted but
# not raised from inside the rule, and the same 11 packets are dropped.
haka_add_pcap_test(smtp-dissect-memcap ${PCAP_DIR}/smtp/dissect-memcap.lua
	${PCAP_DIR}/smtp/memcap.pcap
	REF_TXT ${PCAP_DIR}/smtp/dissect-memcap-ref.txt
	REF_PCAP ${PCAP_DIR}/smtp/memcap-ref.pcap
	SUMMARY "anomalies: smtp_memcap=1$"
	OPTIONS --smtp-limit memcap=1)
