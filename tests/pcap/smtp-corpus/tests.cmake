# Issue 3: the public SMTP corpus against its ground truth. Every capture of
# tests/data/public is replayed with events.lua; check_truth.py rebuilds the
# transactions from the events and compares them with truth.tsv (HELO name,
# sender, accepted recipients, unstuffed content size, final reply code).
# Justified differences are listed in check_truth.py (KNOWN, PENDING).
add_test(NAME smtp-public-corpus-truth
	COMMAND /usr/bin/python3 ${PCAP_DIR}/smtp-corpus/check_truth.py
		$<TARGET_FILE:hakapcap> ${CMAKE_SOURCE_DIR}/tests/data/public)
set_tests_properties(smtp-public-corpus-truth PROPERTIES LABELS pcap)
