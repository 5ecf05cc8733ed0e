/*
 * Alerts: what a rule raises with haka.alert{...}, formatted exactly as
 * the original engine does (HAKA.md section c) in "pretty" or "oneline"
 * form, or as one JSON object per line for SIEMs.
 */
#ifndef HAKA_ALERT_H
#define HAKA_ALERT_H

#include <stdio.h>

#include <haka/types.h>

enum alert_level {
	ALERT_LEVEL_NONE = 0,
	ALERT_LOW,
	ALERT_MEDIUM,
	ALERT_HIGH,
	ALERT_NUMERIC, /* confidence given as a number */
};

enum alert_completion {
	ALERT_COMPLETION_NONE = 0,
	ALERT_FAILED,
	ALERT_SUCCESSFUL,
};

/* One "address: a, b" or "service: tcp/25, smtp" line. */
struct alert_node {
	int kind; /* ALERT_NODE_ADDRESS or ALERT_NODE_SERVICE */
	char **values;
	int nvalues;
};
#define ALERT_NODE_ADDRESS 0
#define ALERT_NODE_SERVICE 1

/*
 * Every pointer is owned by whoever builds the alert (the Lua binding
 * builds it on the stack of the call); alert_post copies nothing and
 * formats immediately. NULL / zero means "field absent".
 */
struct alert {
	struct hk_time start_time; /* sec == 0 && nsec == 0: absent */
	struct hk_time end_time;
	enum alert_level severity;   /* LOW..HIGH or NONE */
	enum alert_level confidence; /* LOW..HIGH, NUMERIC or NONE */
	double confidence_num;
	enum alert_completion completion;
	const char *description;
	const char *method_description;
	const char **method_ref;
	int method_nref;
	struct alert_node *sources;
	int nsources;
	struct alert_node *targets;
	int ntargets;
	const uint64_t *refs; /* ids of other alerts */
	int nrefs;
};

enum alert_format {
	ALERT_FMT_PRETTY = 0,
	ALERT_FMT_ONELINE,
	ALERT_FMT_JSON,
};

/*
 * Format one alert (or an update of alert id, when update is true) into
 * out. 'now' is the wall clock time printed as "time = ..." (ctime format,
 * local time zone). Pretty: "alert: id = N" then TAB-indented lines, each
 * ending with '\n'. Oneline: the same fields separated by single spaces,
 * one line. JSON: one object on one line:
 * {"alert_id":N,"update":false,"time":"2026-11-21T11:27:27Z",
 *  "severity":"low",...}. Returns HK_OK or HK_ERR on write failure.
 */
int alert_format(FILE *out, enum alert_format fmt, uint64_t id, bool update,
                 const struct alert *a, const struct hk_time *now);

/* --- alert outputs --------------------------------------------------- */

/*
 * Register an output: alerts go to every registered output. 'out' is not
 * closed by the alert module unless owned is true. Up to 8 outputs.
 */
int alert_add_output(FILE *out, enum alert_format fmt, bool owned);
void alert_clear_outputs(void);

/*
 * Post a new alert: assigns the next id (from 1), writes it to every
 * output, returns the id.
 */
uint64_t alert_post(const struct alert *a);

/* Post an update of an existing alert id. */
void alert_update(uint64_t id, const struct alert *a);

/* Alerts posted so far (not counting updates). */
uint64_t alert_count(void);

/*
 * Open a file output (append) remembered by path, so that alert_reopen can
 * reopen it after a log rotation. HK_OK or HK_ERR (errno set).
 */
int alert_add_file(const char *path, enum alert_format fmt);

/* Reopen the file outputs (SIGHUP). HK_OK, or HK_ERR if one failed. */
int alert_reopen(void);

/* Parse "pretty", "oneline", "json". HK_OK or HK_ERR. */
int alert_format_parse(const char *name, enum alert_format *fmt);

#endif
