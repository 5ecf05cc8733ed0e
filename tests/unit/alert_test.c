/*
 * Unit tests of src/alert/alert.c: the pretty and oneline forms compared
 * byte for byte with the original engine's outputs (HAKA.md section c and
 * corpus/haka/expected/{src__haka__test__alert,doc__test__doc-alert}-ref
 * .txt, where ids are masked as "= <>" and the wall-clock "time" line is
 * removed), the JSON form and its escaping, and the output registry.
 *
 * Times are printed in local time: the tests run with TZ=Europe/Paris, as
 * the original test suite did.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <haka/alert.h>

#include "unittest.h"

/* Mon Jan 20 17:44:43 2014 in Europe/Paris (16:44:43 UTC). */
#define T_2014 1390236283
/* Sat Nov 21 11:27:16 2026 and 11:27:27 in Europe/Paris. */
#define T_ONELINE 1795256836
#define T_RESET   1795256847

/* Format into a string (owned by the caller); NULL when it failed. */
static char *
fmt_alert(enum alert_format fmt, uint64_t id, bool update,
          const struct alert *a, const struct hk_time *now)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (f == NULL)
		return NULL;
	rc = alert_format(f, fmt, id, update, a, now);
	fclose(f);
	if (rc != HK_OK) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int
check_text(char *got, const char *want)
{
	int ok = got != NULL && strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "got:\n[%s]\nwant:\n[%s]\n",
		        got != NULL ? got : "(null)", want);
	free(got);
	return ok;
}

/* --- the alerts of the references --------------------------------------- */

static char *core_src_v[] = {"192.168.20.99", "local.org", "blalvla", "33"};
static char *core_svc_v[] = {"22", "ssh"};
static char *core_net_v[] = {"192.168.20.1/22"};
static char *core_dst_v[] = {"192.168.20.1"};
static struct alert_node core_sources[] = {
    {ALERT_NODE_ADDRESS, core_src_v, 4},
    {ALERT_NODE_SERVICE, core_svc_v, 2},
};
static struct alert_node core_targets[] = {
    {ALERT_NODE_ADDRESS, core_net_v, 1},
    {ALERT_NODE_ADDRESS, core_dst_v, 1},
};
static const char *core_refs[] = {"cve/255-45", "http://...", "cwe:dff"};

/* First alert of src__haka__test__alert-ref.txt (test core-alert). */
static const struct alert core_alert = {
    .start_time = {T_2014, 0},
    .end_time = {T_2014, 0},
    .severity = ALERT_MEDIUM,
    .confidence = ALERT_NUMERIC,
    .confidence_num = 7,
    .completion = ALERT_FAILED,
    .description = "filtering IP 192.168.20.99",
    .method_description = "packet sent on the network",
    .method_ref = core_refs,
    .method_nref = 3,
    .sources = core_sources,
    .nsources = 2,
    .targets = core_targets,
    .ntargets = 2,
};

static char *upd_src_v[] = {"192.168.20.99"};
static struct alert_node upd_sources[] = {
    {ALERT_NODE_ADDRESS, upd_src_v, 1},
};
static const uint64_t upd_refs[] = {1};

/* Its update. */
static const struct alert core_update = {
    .severity = ALERT_HIGH,
    .confidence = ALERT_LOW,
    .description = "filtering IP 192.168.20.99",
    .method_ref = core_refs,
    .method_nref = 1,
    .sources = upd_sources,
    .nsources = 1,
    .refs = upd_refs,
    .nrefs = 1,
};

static char *reset_src_a[] = {"192.168.10.10"};
static char *reset_src_s[] = {"tcp/41155", "smtp-client"};
static char *reset_dst_a[] = {"192.168.20.1"};
static char *reset_dst_s[] = {"tcp/25", "smtp"};
static struct alert_node reset_sources[] = {
    {ALERT_NODE_ADDRESS, reset_src_a, 1},
    {ALERT_NODE_SERVICE, reset_src_s, 2},
};
static struct alert_node reset_targets[] = {
    {ALERT_NODE_ADDRESS, reset_dst_a, 1},
    {ALERT_NODE_SERVICE, reset_dst_s, 2},
};
static const char *reset_refs[] = {"cwe:0", "x"};

/* The reset experiment of HAKA.md section (f). */
static const struct alert reset_alert = {
    .severity = ALERT_HIGH,
    .confidence = ALERT_NUMERIC,
    .confidence_num = 7,
    .completion = ALERT_FAILED,
    .description = "reset on MAIL",
    .method_description = "spam",
    .method_ref = reset_refs,
    .method_nref = 2,
    .sources = reset_sources,
    .nsources = 2,
    .targets = reset_targets,
    .ntargets = 2,
};

static const struct alert spam_alert = {
    .severity = ALERT_LOW,
    .description = "forbidden mail domain",
};

/* --- tests --------------------------------------------------------------- */

static void
test_pretty_core_alert_pair(void)
{
	char *a, *u, *both;
	size_t la, lu;

	/* References mask the id as "= <>": print id 1 and compare. */
	a = fmt_alert(ALERT_FMT_PRETTY, 1, false, &core_alert, NULL);
	u = fmt_alert(ALERT_FMT_PRETTY, 1, true, &core_update, NULL);
	FAIL_IF(a == NULL || u == NULL);
	la = strlen(a);
	lu = strlen(u);
	both = malloc(la + lu + 1);
	FAIL_IF(both == NULL);
	memcpy(both, a, la);
	memcpy(both + la, u, lu + 1);
	free(a);
	free(u);
	FAIL_IF_NOT(check_text(
	    both, "alert: id = 1\n"
	          "\tstart time = Mon Jan 20 17:44:43 2014\n"
	          "\tend time = Mon Jan 20 17:44:43 2014\n"
	          "\tseverity = medium\n"
	          "\tconfidence = 7\n"
	          "\tcompletion = failed\n"
	          "\tdescription = filtering IP 192.168.20.99\n"
	          "\tmethod = {\n"
	          "\t\tdescription = packet sent on the network\n"
	          "\t\tref = { cve/255-45, http://..., cwe:dff }\n"
	          "\t}\n"
	          "\tsources = {\n"
	          "\t\taddress: 192.168.20.99, local.org, blalvla, 33\n"
	          "\t\tservice: 22, ssh\n"
	          "\t}\n"
	          "\ttargets = {\n"
	          "\t\taddress: 192.168.20.1/22\n"
	          "\t\taddress: 192.168.20.1\n"
	          "\t}\n"
	          "alert: update id = 1\n"
	          "\tseverity = high\n"
	          "\tconfidence = low\n"
	          "\tdescription = filtering IP 192.168.20.99\n"
	          "\tmethod = {\n"
	          "\t\tref = { cve/255-45 }\n"
	          "\t}\n"
	          "\tsources = {\n"
	          "\t\taddress: 192.168.20.99\n"
	          "\t}\n"
	          "\trefs = { 1 }\n"));

	/* An update without any field (later in the same reference). */
	FAIL_IF_NOT(check_text(
	    fmt_alert(ALERT_FMT_PRETTY, 7, true, &(struct alert){0}, NULL),
	    "alert: update id = 7\n"));
}

/* doc__test__doc-alert-ref.txt: the documentation's three records. */
static void
test_pretty_doc_alert(void)
{
	static char *src_v[] = {"192.168.20.99", "evil.host.fqdn"};
	static char *dst_a[] = {"192.168.20.1"};
	static char *dst_s[] = {"tcp/22", "ssh"};
	static struct alert_node src[] = {{ALERT_NODE_ADDRESS, src_v, 2}};
	static struct alert_node dst[] = {
	    {ALERT_NODE_ADDRESS, dst_a, 1},
	    {ALERT_NODE_SERVICE, dst_s, 2},
	};
	static const char *refs[] = {
	    "cve:2O13-XXX", "http://intranet/vulnid?id=115", "cwe:809"};
	static struct alert_node src2[] = {{ALERT_NODE_ADDRESS, src_v, 1}};
	struct alert doc = {
	    .start_time = {T_2014, 0},
	    .severity = ALERT_MEDIUM,
	    .confidence = ALERT_HIGH,
	    .completion = ALERT_FAILED,
	    .description = "packet received",
	    .method_description = "Packet sent on the network",
	    .method_ref = refs,
	    .method_nref = 3,
	    .sources = src,
	    .nsources = 1,
	    .targets = dst,
	    .ntargets = 2,
	};
	struct alert second = {
	    .severity = ALERT_LOW,
	    .sources = src2,
	    .nsources = 1,
	};
	struct alert upd = {.completion = ALERT_FAILED};

	FAIL_IF_NOT(check_text(
	    fmt_alert(ALERT_FMT_PRETTY, 1, false, &doc, NULL),
	    "alert: id = 1\n"
	    "\tstart time = Mon Jan 20 17:44:43 2014\n"
	    "\tseverity = medium\n"
	    "\tconfidence = high\n"
	    "\tcompletion = failed\n"
	    "\tdescription = packet received\n"
	    "\tmethod = {\n"
	    "\t\tdescription = Packet sent on the network\n"
	    "\t\tref = { cve:2O13-XXX, http://intranet/vulnid?id=115, "
	    "cwe:809 }\n"
	    "\t}\n"
	    "\tsources = {\n"
	    "\t\taddress: 192.168.20.99, evil.host.fqdn\n"
	    "\t}\n"
	    "\ttargets = {\n"
	    "\t\taddress: 192.168.20.1\n"
	    "\t\tservice: tcp/22, ssh\n"
	    "\t}\n"));
	FAIL_IF_NOT(
	    check_text(fmt_alert(ALERT_FMT_PRETTY, 2, false, &second, NULL),
	               "alert: id = 2\n"
	               "\tseverity = low\n"
	               "\tsources = {\n"
	               "\t\taddress: 192.168.20.99\n"
	               "\t}\n"));
	FAIL_IF_NOT(check_text(fmt_alert(ALERT_FMT_PRETTY, 2, true, &upd, NULL),
	                       "alert: update id = 2\n"
	                       "\tcompletion = failed\n"));
}

/* HAKA.md section (c): the reset experiment, with its wall-clock time. */
static void
test_pretty_with_time(void)
{
	struct hk_time now = {T_RESET, 123456789};

	FAIL_IF_NOT(check_text(
	    fmt_alert(ALERT_FMT_PRETTY, 1, false, &reset_alert, &now),
	    "alert: id = 1\n"
	    "\ttime = Sat Nov 21 11:27:27 2026\n"
	    "\tseverity = high\n"
	    "\tconfidence = 7\n"
	    "\tcompletion = failed\n"
	    "\tdescription = reset on MAIL\n"
	    "\tmethod = {\n"
	    "\t\tdescription = spam\n"
	    "\t\tref = { cwe:0, x }\n"
	    "\t}\n"
	    "\tsources = {\n"
	    "\t\taddress: 192.168.10.10\n"
	    "\t\tservice: tcp/41155, smtp-client\n"
	    "\t}\n"
	    "\ttargets = {\n"
	    "\t\taddress: 192.168.20.1\n"
	    "\t\tservice: tcp/25, smtp\n"
	    "\t}\n"));

	/* ctime pads a one-digit day with a space. */
	now.sec = 1388998800; /* Mon Jan  6 10:00:00 2014 CET */
	FAIL_IF_NOT(
	    check_text(fmt_alert(ALERT_FMT_PRETTY, 3, false, &spam_alert, &now),
	               "alert: id = 3\n"
	               "\ttime = Mon Jan  6 10:00:00 2014\n"
	               "\tseverity = low\n"
	               "\tdescription = forbidden mail domain\n"));
}

static void
test_oneline(void)
{
	struct hk_time now = {T_ONELINE, 0};

	/* The exact line of the original's alert file. */
	FAIL_IF_NOT(check_text(
	    fmt_alert(ALERT_FMT_ONELINE, 1, false, &spam_alert, &now),
	    "alert: id = 1 time = Sat Nov 21 11:27:16 2026 severity = low "
	    "description = forbidden mail domain\n"));

	now.sec = T_RESET;
	FAIL_IF_NOT(check_text(
	    fmt_alert(ALERT_FMT_ONELINE, 12, false, &reset_alert, &now),
	    "alert: id = 12 time = Sat Nov 21 11:27:27 2026 severity = high "
	    "confidence = 7 completion = failed description = reset on MAIL "
	    "method = { description = spam ref = { cwe:0, x } } "
	    "sources = { address: 192.168.10.10 service: tcp/41155, "
	    "smtp-client } "
	    "targets = { address: 192.168.20.1 service: tcp/25, smtp }\n"));

	FAIL_IF_NOT(check_text(
	    fmt_alert(ALERT_FMT_ONELINE, 1, true, &core_update, NULL),
	    "alert: update id = 1 severity = high confidence = low "
	    "description = filtering IP 192.168.20.99 "
	    "method = { ref = { cve/255-45 } } "
	    "sources = { address: 192.168.20.99 } refs = { 1 }\n"));
}

static void
test_confidence_and_fields(void)
{
	static const uint64_t refs[] = {3, 5};
	struct alert a = {
	    .start_time = {0, 1},      /* sec 0 with nsec: present */
	    .severity = ALERT_NUMERIC, /* not a severity: not printed */
	    .confidence = ALERT_NUMERIC,
	    .confidence_num = 0.25,
	    .completion = ALERT_SUCCESSFUL,
	    .refs = refs,
	    .nrefs = 2,
	};
	char *got = fmt_alert(ALERT_FMT_PRETTY, 4, false, &a, NULL);

	FAIL_IF(got == NULL);
	/* The epoch in Paris: 01:00 on Jan 1, 1970. */
	FAIL_IF_NOT(check_text(got, "alert: id = 4\n"
	                            "\tstart time = Thu Jan  1 01:00:00 1970\n"
	                            "\tconfidence = 0.25\n"
	                            "\tcompletion = successful\n"
	                            "\trefs = { 3, 5 }\n"));

	a.start_time.nsec = 0;
	a.confidence_num = 1234567.0; /* %g */
	a.severity = (enum alert_level)99;
	a.completion = (enum alert_completion) - 4;
	a.nrefs = 0; /* refs need a count */
	FAIL_IF_NOT(check_text(fmt_alert(ALERT_FMT_PRETTY, 4, false, &a, NULL),
	                       "alert: id = 4\n"
	                       "\tconfidence = 1.23457e+06\n"));
}

/* Lists given with a zero count print as the original's empty tables. */
static void
test_empty_lists(void)
{
	static const char *noref[1];
	static struct alert_node nonode[1];
	static struct alert_node novalue[] = {{ALERT_NODE_SERVICE, NULL, 3}};
	struct alert a = {
	    .method_ref = noref,
	    .method_nref = 0,
	    .sources = nonode,
	    .nsources = 0,
	    .targets = novalue,
	    .ntargets = 1,
	};

	FAIL_IF_NOT(check_text(fmt_alert(ALERT_FMT_PRETTY, 5, false, &a, NULL),
	                       "alert: id = 5\n"
	                       "\tmethod = {\n"
	                       "\t\tref = { }\n"
	                       "\t}\n"
	                       "\tsources = {\n"
	                       "\t}\n"
	                       "\ttargets = {\n"
	                       "\t\tservice:\n"
	                       "\t}\n"));
	FAIL_IF_NOT(check_text(
	    fmt_alert(ALERT_FMT_JSON, 5, false, &a, NULL),
	    "{\"alert_id\":5,\"update\":false,\"method\":{\"ref\":[]},"
	    "\"sources\":[],\"targets\":[{\"service\":[]}]}\n"));
	/* Negative counts read as zero. */
	a.nsources = -7;
	a.method_nref = -1;
	a.targets = NULL;
	FAIL_IF_NOT(
	    check_text(fmt_alert(ALERT_FMT_ONELINE, 5, false, &a, NULL),
	               "alert: id = 5 method = { ref = { } } sources = { }\n"));
}

/* Text copied from traffic cannot forge a line of the alert file. */
static void
test_text_control_bytes(void)
{
	static char *v[] = {"a\tb", NULL};
	static struct alert_node n[] = {{ALERT_NODE_ADDRESS, v, 2}};
	struct alert a = {
	    .description = "evil\nalert: id = 99\r\x7f\x1b[31m",
	    .sources = n,
	    .nsources = 1,
	};

	FAIL_IF_NOT(check_text(
	    fmt_alert(ALERT_FMT_PRETTY, 6, false, &a, NULL),
	    "alert: id = 6\n"
	    "\tdescription = evil\\nalert: id = 99\\r\\x7f\\x1b[31m\n"
	    "\tsources = {\n"
	    "\t\taddress: a\\tb, \n"
	    "\t}\n"));
}

static void
test_json(void)
{
	struct hk_time now = {T_RESET, 987654321};
	struct alert a = core_alert;

	a.end_time.nsec = 500000000;
	FAIL_IF_NOT(check_text(
	    fmt_alert(ALERT_FMT_JSON, 1, false, &a, &now),
	    "{\"alert_id\":1,\"update\":false,"
	    "\"time\":\"2026-11-21T10:27:27Z\","
	    "\"start_time\":\"2014-01-20T16:44:43Z\","
	    "\"end_time\":\"2014-01-20T16:44:43.5Z\","
	    "\"severity\":\"medium\",\"confidence\":7,"
	    "\"completion\":\"failed\","
	    "\"description\":\"filtering IP 192.168.20.99\","
	    "\"method\":{\"description\":\"packet sent on the network\","
	    "\"ref\":[\"cve/255-45\",\"http://...\",\"cwe:dff\"]},"
	    "\"sources\":[{\"address\":[\"192.168.20.99\",\"local.org\","
	    "\"blalvla\",\"33\"]},{\"service\":[\"22\",\"ssh\"]}],"
	    "\"targets\":[{\"address\":[\"192.168.20.1/22\"]},"
	    "{\"address\":[\"192.168.20.1\"]}]}\n"));

	FAIL_IF_NOT(
	    check_text(fmt_alert(ALERT_FMT_JSON, 1, true, &core_update, NULL),
	               "{\"alert_id\":1,\"update\":true,\"severity\":\"high\","
	               "\"confidence\":\"low\","
	               "\"description\":\"filtering IP 192.168.20.99\","
	               "\"method\":{\"ref\":[\"cve/255-45\"]},"
	               "\"sources\":[{\"address\":[\"192.168.20.99\"]}],"
	               "\"refs\":[1]}\n"));

	/* Fractions keep their significant digits only. */
	a = (struct alert){.start_time = {T_2014, 123}};
	a.confidence = ALERT_NUMERIC;
	a.confidence_num = 0.1;
	FAIL_IF_NOT(
	    check_text(fmt_alert(ALERT_FMT_JSON, 2, false, &a, NULL),
	               "{\"alert_id\":2,\"update\":false,"
	               "\"start_time\":\"2014-01-20T16:44:43.000000123Z\","
	               "\"confidence\":0.1}\n"));
	a.confidence_num = NAN;
	a.start_time.nsec = 0;
	a.method_description = "m";
	FAIL_IF_NOT(check_text(
	    fmt_alert(ALERT_FMT_JSON, 2, false, &a, NULL),
	    "{\"alert_id\":2,\"update\":false,"
	    "\"start_time\":\"2014-01-20T16:44:43Z\","
	    "\"confidence\":null,\"method\":{\"description\":\"m\"}}\n"));
}

static void
test_json_escaping(void)
{
	struct alert a = {
	    /* quote, backslash, controls, UTF-8 (2, 3, 4 bytes), DEL */
	    .description = "say \"hi\" C:\\x\n\r\t\b\f\x01\x1f\x7f "
	                   "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/",
	    /* invalid UTF-8: lone continuation, overlong, surrogate,
	     * above U+10FFFF, truncated sequence at the end */
	    .method_description = "\x80 \xc0\xaf \xed\xa0\x80 "
	                          "\xf4\x90\x80\x80 \xe2\x82",
	};

	FAIL_IF_NOT(check_text(
	    fmt_alert(ALERT_FMT_JSON, 9, false, &a, NULL),
	    "{\"alert_id\":9,\"update\":false,"
	    "\"description\":\"say \\\"hi\\\" C:\\\\x\\n\\r\\t\\b\\f\\u0001"
	    "\\u001f\\u007f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/\","
	    "\"method\":{\"description\":\"\\u0080 \\u00c0\\u00af "
	    "\\u00ed\\u00a0\\u0080 \\u00f4\\u0090\\u0080\\u0080 "
	    "\\u00e2\\u0082\"}}\n"));
}

static void
test_null_and_bad_arguments(void)
{
	FILE *ro;

	FAIL_IF(alert_format(NULL, ALERT_FMT_PRETTY, 1, false, &spam_alert,
	                     NULL) != HK_ERR);
	FAIL_IF(alert_format(stdout, ALERT_FMT_PRETTY, 1, false, NULL, NULL) !=
	        HK_ERR);
	FAIL_IF(fmt_alert((enum alert_format)7, 1, false, &spam_alert, NULL) !=
	        NULL);

	/* A stream that cannot be written: HK_ERR, no crash. */
	ro = fopen("/dev/null", "r");
	FAIL_IF(ro == NULL);
	FAIL_IF(alert_format(ro, ALERT_FMT_PRETTY, 1, false, &reset_alert,
	                     NULL) != HK_ERR);
	FAIL_IF(alert_format(ro, ALERT_FMT_JSON, 1, false, &reset_alert,
	                     NULL) != HK_ERR);
	fclose(ro);
}

static void
test_format_parse(void)
{
	enum alert_format f = ALERT_FMT_JSON;

	FAIL_IF(alert_format_parse("pretty", &f) != HK_OK ||
	        f != ALERT_FMT_PRETTY);
	FAIL_IF(alert_format_parse("oneline", &f) != HK_OK ||
	        f != ALERT_FMT_ONELINE);
	FAIL_IF(alert_format_parse("json", &f) != HK_OK || f != ALERT_FMT_JSON);
	FAIL_IF(alert_format_parse("JSON", &f) != HK_ERR);
	FAIL_IF(alert_format_parse("", &f) != HK_ERR);
	FAIL_IF(alert_format_parse("pretty ", &f) != HK_ERR);
	FAIL_IF(alert_format_parse(NULL, &f) != HK_ERR);
	FAIL_IF(alert_format_parse("json", NULL) != HK_ERR);
	FAIL_IF(f != ALERT_FMT_JSON); /* untouched on error */
}

static void
test_post_without_output(void)
{
	uint64_t before = alert_count(), id;

	alert_clear_outputs();
	id = alert_post(&spam_alert);
	FAIL_IF(id != before + 1);
	FAIL_IF(alert_post(NULL) != before + 2);
	alert_update(id, &spam_alert);
	alert_update(id, NULL);
	FAIL_IF(alert_count() != before + 2);
}

static void
test_post_to_outputs(void)
{
	char *pbuf = NULL, *jbuf = NULL, *obuf = NULL, want[128];
	size_t plen = 0, jlen = 0, olen = 0;
	FILE *p = open_memstream(&pbuf, &plen);
	FILE *j = open_memstream(&jbuf, &jlen);
	FILE *o = open_memstream(&obuf, &olen);
	uint64_t id1, id2;
	const char *s;

	FAIL_IF(p == NULL || j == NULL || o == NULL);
	alert_clear_outputs();
	FAIL_IF(alert_add_output(p, ALERT_FMT_PRETTY, false) != HK_OK);
	FAIL_IF(alert_add_output(j, ALERT_FMT_JSON, false) != HK_OK);
	FAIL_IF(alert_add_output(o, ALERT_FMT_ONELINE, true) != HK_OK);

	id1 = alert_post(&spam_alert);
	FAIL_IF(alert_count() != id1);
	/* Each output is flushed: the memstream sizes are up to date. */
	FAIL_IF(plen == 0 || jlen == 0 || olen == 0);
	alert_update(id1, &(struct alert){.completion = ALERT_FAILED});
	id2 = alert_post(&reset_alert);
	FAIL_IF(id2 != id1 + 1);
	FAIL_IF(alert_count() != id2);

	alert_clear_outputs(); /* closes o (owned) only */
	fclose(p);
	fclose(j);

	/* pretty: "alert: id = N", a time line, the fields. */
	snprintf(want, sizeof(want),
	         "alert: id = %llu\n\ttime = ", (unsigned long long)id1);
	FAIL_IF(strncmp(pbuf, want, strlen(want)) != 0);
	s = strstr(pbuf, "\tseverity = low\n\tdescription = forbidden mail "
	                 "domain\nalert: update id = ");
	FAIL_IF(s == NULL);
	snprintf(want, sizeof(want),
	         "alert: update id = %llu\n\ttime = ", (unsigned long long)id1);
	FAIL_IF(strstr(pbuf, want) == NULL);
	snprintf(want, sizeof(want),
	         "alert: id = %llu\n\ttime = ", (unsigned long long)id2);
	FAIL_IF(strstr(pbuf, want) == NULL);
	FAIL_IF(strstr(pbuf, "\t\tservice: tcp/25, smtp\n\t}\n") == NULL);

	/* json: three objects, one per line, with a UTC time. */
	snprintf(want, sizeof(want),
	         "{\"alert_id\":%llu,\"update\":false,\"time\":\"",
	         (unsigned long long)id1);
	FAIL_IF(strncmp(jbuf, want, strlen(want)) != 0);
	snprintf(want, sizeof(want),
	         "\n{\"alert_id\":%llu,\"update\":true,\"time\":\"",
	         (unsigned long long)id1);
	FAIL_IF(strstr(jbuf, want) == NULL);
	FAIL_IF(strstr(jbuf, "Z\",\"completion\":\"failed\"}\n") == NULL);
	{
		int lines = 0;

		for (s = jbuf; *s != '\0'; s++)
			lines += *s == '\n';
		FAIL_IF(lines != 3);
	}

	/* oneline: one line per record. */
	{
		int lines = 0;

		for (s = obuf; *s != '\0'; s++)
			lines += *s == '\n';
		FAIL_IF(lines != 3);
	}
	snprintf(want, sizeof(want),
	         "alert: id = %llu time = ", (unsigned long long)id1);
	FAIL_IF(strncmp(obuf, want, strlen(want)) != 0);
	free(pbuf);
	free(jbuf);
	free(obuf);
}

static void
test_output_limit(void)
{
	FILE *f[9];

	alert_clear_outputs();
	for (int i = 0; i < 9; i++) {
		f[i] = fopen("/dev/null", "w");
		FAIL_IF(f[i] == NULL);
	}
	for (int i = 0; i < 8; i++)
		FAIL_IF(alert_add_output(f[i], ALERT_FMT_PRETTY, true) !=
		        HK_OK);
	/* Refused: the caller keeps it. */
	FAIL_IF(alert_add_output(f[8], ALERT_FMT_PRETTY, true) != HK_ERR);
	fclose(f[8]);
	FAIL_IF(alert_add_output(NULL, ALERT_FMT_PRETTY, false) != HK_ERR);
	alert_post(&spam_alert);
	alert_clear_outputs(); /* closes the 8 owned streams */

	f[0] = fopen("/dev/null", "w");
	FAIL_IF(f[0] == NULL);
	FAIL_IF(alert_add_output(f[0], (enum alert_format)3, true) != HK_ERR);
	FAIL_IF(alert_add_output(f[0], ALERT_FMT_JSON, true) != HK_OK);
	alert_clear_outputs();
}

int
main(void)
{
	setenv("TZ", "Europe/Paris", 1);
	tzset();

	RUN_TEST(test_pretty_core_alert_pair);
	RUN_TEST(test_pretty_doc_alert);
	RUN_TEST(test_pretty_with_time);
	RUN_TEST(test_oneline);
	RUN_TEST(test_confidence_and_fields);
	RUN_TEST(test_empty_lists);
	RUN_TEST(test_text_control_bytes);
	RUN_TEST(test_json);
	RUN_TEST(test_json_escaping);
	RUN_TEST(test_null_and_bad_arguments);
	RUN_TEST(test_format_parse);
	RUN_TEST(test_post_without_output);
	RUN_TEST(test_post_to_outputs);
	RUN_TEST(test_output_limit);
	UT_DONE();
}
