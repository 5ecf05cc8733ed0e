/*
 * haka.conf: the daemon's configuration, a YAML file (libyaml) parsed once
 * at start into one validated, read-only struct conf (CONVENTIONS.md
 * section 1). Every key is documented in the commented haka.conf at the top
 * of the repository. An unknown key or a bad value is an error naming the
 * file, line and column.
 */
#ifndef HAKA_CONF_H
#define HAKA_CONF_H

#include <haka/alert.h>
#include <haka/smtp_limits.h>
#include <haka/types.h>

#define CONF_MAX_QUEUES        16
#define CONF_MAX_IFACES        8
#define CONF_MAX_ALERT_OUTPUTS 8
#define CONF_PATH_MAX          1024

enum conf_capture_mode {
	CONF_CAPTURE_NFQUEUE = 0, /* inline: verdicts applied */
	CONF_CAPTURE_PCAP,        /* passive: live interfaces or a file */
};

enum conf_alert_sink {
	CONF_ALERT_FILE = 0, /* path; "-" is standard output */
	CONF_ALERT_SYSLOG,
};

struct conf_alert_output {
	enum conf_alert_sink sink;
	enum alert_format format;
	char path[CONF_PATH_MAX];
};

struct conf {
	char path[CONF_PATH_MAX]; /* the file read */

	/* general */
	char rules[CONF_PATH_MAX]; /* rule file (required) */
	uint32_t threads;          /* workers; nfqueue: one per queue */
	char user[64];             /* drop privileges to (empty: stay) */
	char group[64];
	char pid_file[CONF_PATH_MAX];

	/* capture */
	enum conf_capture_mode capture;
	/* capture.nfqueue */
	uint16_t queues[CONF_MAX_QUEUES];
	uint32_t nqueues;
	bool install_iptables;   /* haka adds and removes its rules */
	char iptables_chain[32]; /* FORWARD (default), INPUT, OUTPUT... */
	uint16_t iptables_port;  /* match this TCP port (0: all TCP) */
	bool fail_open;          /* bypass when overloaded or stopped */
	uint32_t queue_maxlen;   /* packets the kernel queues */
	uint32_t rcvbuf;         /* socket receive buffer, bytes */
	uint32_t mark;           /* mark of forged packets */
	/* capture.pcap */
	char ifaces[CONF_MAX_IFACES][32];
	uint32_t nifaces;
	char pcap_file[CONF_PATH_MAX];

	/* log */
	char log_level[256]; /* "info", "warn,tcp=debug" */
	bool log_syslog;     /* else log_file (empty: stdout) */
	char log_file[CONF_PATH_MAX];

	/* alerts */
	struct conf_alert_output alerts[CONF_MAX_ALERT_OUTPUTS];
	uint32_t nalerts;

	/* control */
	char ctl_socket[CONF_PATH_MAX];
	uint32_t ctl_mode; /* permissions, e.g. 0660 */

	/* limits */
	uint64_t lua_memory;       /* bytes per worker VM */
	uint64_t lua_instructions; /* per event; 0 = none */
	uint32_t max_connections;  /* per worker */
	uint64_t stream_memcap;    /* bytes held by streams, per worker */
	uint32_t stream_ooo_bytes; /* per direction */
	uint64_t defrag_memcap;
	uint32_t tcp_timeout_established; /* seconds */
	uint32_t tcp_timeout_closing;
	uint32_t tcp_timeout_syn;

	/* rules */
	bool rule_error_drop; /* drop the packet on a rule error */
	bool lua_allow_io;
	bool lua_allow_debug;
	int midstream; /* enum midstream_policy */

	/* smtp */
	struct smtp_limits smtp;

	/*
	 * general.threads was given (file or --opt); when false, threads
	 * follows the number of nfqueue queues (1 with pcap).
	 */
	bool threads_given;
};

/* The defaults of every key. */
void conf_defaults(struct conf *c);

/*
 * Read a file into c (starting from the defaults). HK_OK, or HK_ERR with
 * "FILE:LINE:COL: message" in err (c then unspecified).
 */
int conf_load(struct conf *c, const char *path, char *err, size_t errlen);

/*
 * Apply an override "section:key=value" ("section:key" alone means
 * true), as haka --opt does. Nested keys use dots:
 * "capture:nfqueue.queues=0,1". HK_OK or HK_ERR with a message in err.
 */
int conf_set(struct conf *c, const char *opt, char *err, size_t errlen);

/*
 * Apply "key=value" to a key of section (hakapcap --smtp-limit applies
 * "command_line=600" to section smtp). Errors read "key=value: message".
 */
int conf_set_key(struct conf *c, const char *section, const char *kv, char *err,
                 size_t errlen);

/* Check the whole (e.g. a rule file is set). HK_OK or HK_ERR. */
int conf_check(const struct conf *c, char *err, size_t errlen);

#endif
