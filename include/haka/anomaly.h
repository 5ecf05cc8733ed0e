/*
 * Named anomalies: malformed or evasive traffic is data, not failure
 * (CONVENTIONS.md section 4). Every anomaly has a stable name, a global
 * counter, and is raised to the rules as an event by the engine.
 */
#ifndef HAKA_ANOMALY_H
#define HAKA_ANOMALY_H

#include <haka/types.h>

#define HK_ANOMALIES(X)                                                        \
	X(LINK_TRUNCATED, "link_truncated")                                    \
	X(LINK_UNSUPPORTED, "link_unsupported")                                \
	X(IPV4_TRUNCATED, "ipv4_truncated")                                    \
	X(IPV4_BAD_VERSION, "ipv4_bad_version")                                \
	X(IPV4_BAD_HLEN, "ipv4_bad_header_length")                             \
	X(IPV4_BAD_LEN, "ipv4_bad_total_length")                               \
	X(IPV4_BAD_CHECKSUM, "ipv4_bad_checksum")                              \
	X(IPV4_FRAG_OVERLAP, "ipv4_frag_overlap")                              \
	X(IPV4_FRAG_OVERLAP_DIFF, "ipv4_frag_overlap_different_data")          \
	X(IPV4_FRAG_INVALID, "ipv4_frag_invalid")                              \
	X(IPV4_FRAG_TOO_LARGE, "ipv4_frag_too_large")                          \
	X(IPV4_FRAG_TIMEOUT, "ipv4_frag_timeout")                              \
	X(IPV4_FRAG_MEMCAP, "ipv4_frag_memcap")                                \
	X(IPV4_FRAG_TOO_MANY, "ipv4_frag_too_many")                            \
	X(TCP_TRUNCATED, "tcp_truncated")                                      \
	X(TCP_BAD_HLEN, "tcp_bad_header_length")                               \
	X(TCP_BAD_CHECKSUM, "tcp_bad_checksum")                                \
	X(TCP_BAD_FLAGS, "tcp_bad_flags")                                      \
	X(TCP_NO_HANDSHAKE, "tcp_no_handshake")                                \
	X(TCP_INVALID_HANDSHAKE, "tcp_invalid_handshake")                      \
	X(TCP_UNEXPECTED_PACKET, "tcp_unexpected_packet")                      \
	X(TCP_DATA_AFTER_FIN, "tcp_data_after_fin")                            \
	X(TCP_RETRANSMISSION, "tcp_retransmission")                            \
	X(TCP_OVERLAP, "tcp_overlap")                                          \
	X(TCP_OVERLAP_DIFF, "tcp_overlap_different_data")                      \
	X(TCP_GAP, "tcp_gap")                                                  \
	X(TCP_MEMCAP_FLOW, "tcp_memcap_flow")                                  \
	X(TCP_MEMCAP_GLOBAL, "tcp_memcap_global")                              \
	X(TCP_TABLE_FULL, "tcp_table_full")                                    \
	X(TCP_DATA_ON_SYN, "tcp_data_on_syn")                                  \
	X(SMTP_INVALID_COMMAND, "smtp_invalid_command")                        \
	X(SMTP_INVALID_REPLY, "smtp_invalid_reply")                            \
	X(SMTP_UNKNOWN_COMMAND, "smtp_unknown_command")                        \
	X(SMTP_UNMATCHED_REPLY, "smtp_unmatched_reply")                        \
	X(SMTP_COMMAND_LINE_TOO_LONG, "smtp_command_line_too_long")            \
	X(SMTP_REPLY_LINE_TOO_LONG, "smtp_reply_line_too_long")                \
	X(SMTP_DATA_LINE_TOO_LONG, "smtp_data_line_too_long")                  \
	X(SMTP_SMUGGLING, "smtp_smuggling_attempt")                            \
	X(SMTP_EXCESSIVE_PENDING, "smtp_excessive_pending_commands")           \
	X(SMTP_BAD_GREETING, "smtp_bad_greeting")                              \
	X(SMTP_COMMAND_BEFORE_HELO, "smtp_command_before_helo")                \
	X(SMTP_GAP, "smtp_gap")                                                \
	X(SMTP_DATA_AFTER_CLOSE, "smtp_data_after_close")                      \
	X(SMTP_UNEXPECTED_REPLY, "smtp_unexpected_reply")                      \
	X(SMTP_TRUNCATED, "smtp_truncated")                                    \
	X(SMTP_REPLY_CODE_MISMATCH, "smtp_reply_code_mismatch")                \
	X(SMTP_MEMCAP, "smtp_memcap")

enum anomaly {
#define HK_ANOM_ENUM(id, name) ANOM_##id,
	HK_ANOMALIES(HK_ANOM_ENUM)
#undef HK_ANOM_ENUM
	    ANOM_COUNT
};

/* Stable name ("ipv4_frag_overlap_different_data"). */
const char *anomaly_name(enum anomaly a);

/* Count one occurrence (the engine also raises it to the rules). */
void anomaly_count(enum anomaly a);

/* Occurrences so far. */
uint64_t anomaly_get(enum anomaly a);

void anomaly_reset_all(void);

/* Callback type through which modules report anomalies to the engine. */
struct packet;
typedef void (*anomaly_fn)(void *arg, enum anomaly a, struct packet *pkt);

#endif
