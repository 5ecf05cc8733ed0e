/*
 * hakapcap: replay capture files through the engine and the user's Lua
 * rules (HAKA.md section d). Logs and alerts go to stdout in the
 * original's formats; the end-of-run summary goes to stderr.
 */
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <haka/alert.h>
#include <haka/version.h>
#include <haka/capture.h>
#include <haka/conf.h>
#include <haka/engine.h>
#include <haka/log.h>
#include <haka/lvm.h>

#include "proto/smtp/smtp.h"

struct run {
	struct pcap_sink *sink;
	const char *out_path;
	int linktype;
	uint64_t written;
};

static void
usage(FILE *fp)
{
	/* The SMTP defaults are shown from the one place that sets them. */
	const struct smtp_limits def = SMTP_LIMITS_DEFAULT;

	fprintf(
	    fp,
	    "Usage: hakapcap [options] <rules.lua> <capture> [capture...]\n"
	    "Options:\n"
	    "\t-h,--help:              Display this information\n"
	    "\t--version:              Display version information\n"
	    "\t-d,--debug:             Display debug output\n"
	    "\t-l,--loglevel <level>:  Set the log level\n"
	    "\t                          (debug, info, warning, error or "
	    "fatal,\n"
	    "\t                          or per section: warn,tcp=debug)\n"
	    "\t-a,--alert-to <file>:   Redirect alerts to given file\n"
	    "\t--alert-format <fmt>:   Alert format: pretty (default), "
	    "oneline or json\n"
	    "\t--no-pass-through, --pass-through:\n"
	    "\t                        Select pass-through mode (default: "
	    "true)\n"
	    "\t-o <output>:            Save result in a pcap file\n"
	    "\t--dump-dissector-graph: Dump dissector internals (grammar and "
	    "state machine) in file <name>.dot\n"
	    "\t--rule-error <policy>:  On a rule error: drop (default) or "
	    "accept the packet\n"
	    "\t--midstream <policy>:   Connections without handshake: accept "
	    "(default), pass or drop\n"
	    "\t--lua-memory <MB>:      Lua memory limit (default 256)\n"
	    "\t--lua-instructions <N>: Lua instructions per event (default "
	    "100000000, 0 = none)\n"
	    "\t--allow-io:             Give the rules Lua's io and os "
	    "libraries\n"
	    "\t--tcp-ooo-limit <B>:    Out-of-order bytes queued per "
	    "direction (default 1048576)\n"
	    "\t--allow-debug:          Give the rules Lua's whole debug "
	    "library\n"
	    "\t--tcp-checksum:         Verify TCP checksums (counted as "
	    "anomalies)\n"
	    "\t--no-ip-checksum:       Do not verify IPv4 header checksums\n"
	    "\t--smtp-limit <key=N>:   An SMTP limit, as in haka.conf's "
	    "section smtp\n"
	    "\t                          (command_line=%u, reply_line=%u, "
	    "text_line=%u,\n"
	    "\t                          max_line=%u, max_pending=%u, "
	    "max_errors=%u,\n"
	    "\t                          memcap=%llu)\n"
	    "\t--log-raw-text:         Log the rules' messages with their "
	    "control\n"
	    "\t                          characters as they are (the "
	    "original's output;\n"
	    "\t                          unsafe with hostile traffic)\n"
	    "\t--no-summary:           Do not print the end-of-run summary\n",
	    def.command_line, def.reply_line, def.text_line, def.max_line,
	    def.max_pending, def.max_errors, (unsigned long long)def.memcap);
}

static void
on_verdict(void *arg, struct packet *pkt, bool accept)
{
	struct run *r = arg;

	/* The sink is opened before the first packet (main). */
	if (!accept || r->sink == NULL)
		return;
	if (pcap_sink_write(r->sink, pkt) == HK_OK)
		r->written++;
}

static void
on_inject(void *arg, struct packet *pkt)
{
	on_verdict(arg, pkt, true);
}

static double
now_sec(int clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
summary(const struct engine *e, struct pcap_source *src, double elapsed,
        double cpu, uint32_t flows_left)
{
	const struct engine_stats *s = engine_stats(e);
	struct rusage ru;
	int i, n = 0;

	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr,
	        "summary: packets %llu, bytes %llu, ipv4 %llu, non-ipv4 %llu "
	        "(ipv6 %llu), fragments %llu (reassembled %llu), tcp %llu\n",
	        (unsigned long long)s->packets, (unsigned long long)s->bytes,
	        (unsigned long long)s->ipv4, (unsigned long long)s->non_ipv4,
	        (unsigned long long)s->ipv6, (unsigned long long)s->fragments,
	        (unsigned long long)s->reassembled, (unsigned long long)s->tcp);
	fprintf(stderr,
	        "summary: connections %llu (mid-stream %llu, dropped %llu, "
	        "reset %llu, in table at end %u), alerts %llu\n",
	        (unsigned long long)s->flows, (unsigned long long)s->midstream,
	        (unsigned long long)s->flows_dropped,
	        (unsigned long long)s->flows_reset, flows_left,
	        (unsigned long long)alert_count());
	fprintf(stderr,
	        "summary: verdicts: accepted %llu, dropped %llu, drops not "
	        "applied (pass-through) %llu, forged %llu, rule errors %llu, "
	        "capture errors %llu\n",
	        (unsigned long long)s->accepted, (unsigned long long)s->dropped,
	        (unsigned long long)s->would_drop,
	        (unsigned long long)s->forged,
	        (unsigned long long)s->rule_errors,
	        (unsigned long long)pcap_source_errors(src));
	fprintf(stderr, "summary: anomalies:");
	for (i = 0; i < ANOM_COUNT; i++) {
		if (anomaly_get(i) == 0)
			continue;
		fprintf(stderr, " %s=%llu", anomaly_name(i),
		        (unsigned long long)anomaly_get(i));
		n++;
	}
	fprintf(stderr, "%s\n", n == 0 ? " none" : "");
	fprintf(stderr,
	        "summary: elapsed %.3f s, cpu %.3f s, %.0f packets/s, %.3f "
	        "Gbit/s, peak rss %ld kB\n",
	        elapsed, cpu, elapsed > 0 ? (double)s->packets / elapsed : 0.0,
	        elapsed > 0 ? (double)s->bytes * 8 / elapsed / 1e9 : 0.0,
	        ru.ru_maxrss);
}

enum {
	OPT_VERSION = 256,
	OPT_PASS,
	OPT_NO_PASS,
	OPT_ALERT_FMT,
	OPT_RULE_ERROR,
	OPT_MIDSTREAM,
	OPT_LUA_MEM,
	OPT_LUA_INSTR,
	OPT_ALLOW_IO,
	OPT_NO_SUMMARY,
	OPT_DUMP_GRAPH,
	OPT_TCP_CSUM,
	OPT_ALLOW_DEBUG,
	OPT_OOO_LIMIT,
	OPT_NO_IP_CSUM,
	OPT_SMTP_LIMIT,
	OPT_LOG_RAW,
};

static bool
parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (s == NULL || *s == '\0' || *s == '-')
		return false;
	x = strtoull(s, &end, 10);
	if (*end != '\0')
		return false;
	*v = x;
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"debug", no_argument, NULL, 'd'},
	    {"loglevel", required_argument, NULL, 'l'},
	    {"alert-to", required_argument, NULL, 'a'},
	    {"alert-format", required_argument, NULL, OPT_ALERT_FMT},
	    {"pass-through", no_argument, NULL, OPT_PASS},
	    {"no-pass-through", no_argument, NULL, OPT_NO_PASS},
	    {"rule-error", required_argument, NULL, OPT_RULE_ERROR},
	    {"midstream", required_argument, NULL, OPT_MIDSTREAM},
	    {"lua-memory", required_argument, NULL, OPT_LUA_MEM},
	    {"lua-instructions", required_argument, NULL, OPT_LUA_INSTR},
	    {"allow-io", no_argument, NULL, OPT_ALLOW_IO},
	    {"no-summary", no_argument, NULL, OPT_NO_SUMMARY},
	    {"dump-dissector-graph", no_argument, NULL, OPT_DUMP_GRAPH},
	    {"tcp-checksum", no_argument, NULL, OPT_TCP_CSUM},
	    {"allow-debug", no_argument, NULL, OPT_ALLOW_DEBUG},
	    {"tcp-ooo-limit", required_argument, NULL, OPT_OOO_LIMIT},
	    {"no-ip-checksum", no_argument, NULL, OPT_NO_IP_CSUM},
	    {"smtp-limit", required_argument, NULL, OPT_SMTP_LIMIT},
	    {"log-raw-text", no_argument, NULL, OPT_LOG_RAW},
	    {NULL, 0, NULL, 0}};
	static struct conf limc; /* section smtp of haka.conf */
	struct engine_conf conf;
	struct lvm_conf lconf = {0};
	struct engine_output out;
	struct run run = {0};
	struct engine *eng;
	struct lvm *vm;
	struct pcap_source *src;
	struct packet *pkt;
	enum alert_format afmt = ALERT_FMT_PRETTY;
	const char *alert_to = NULL, *rules;
	char err[256];
	bool show_summary = true, tty, dump_graph = false;
	double t0, c0, last_progress;
	uint64_t v, mem_mb = 256, instr = 100000000ULL;
	int c, rc = 0;

	engine_conf_defaults(&conf);
	conf_defaults(&limc);
	conf.pass_through = true;
	/*
	 * Captures often hold segments whose checksum the sending NIC was to
	 * compute (offload): verifying them is opt-in when replaying.
	 */
	conf.tcp_verify_checksum = false;
	while ((c = getopt_long(argc, argv, "hdl:a:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			hk_print_version(stdout);
			return 0;
		case 'd':
			log_set_default_level(LOG_DEBUG);
			break;
		case 'l':
			if (log_set_level_spec(optarg, err, sizeof(err)) !=
			    HK_OK) {
				fprintf(stderr, "hakapcap: %s\n", err);
				return 2;
			}
			break;
		case 'a':
			alert_to = optarg;
			break;
		case OPT_ALERT_FMT:
			if (alert_format_parse(optarg, &afmt) != HK_OK) {
				fprintf(stderr,
				        "hakapcap: unknown alert format '%s' "
				        "(pretty, oneline or json)\n",
				        optarg);
				return 2;
			}
			break;
		case 'o':
			run.out_path = optarg;
			break;
		case OPT_PASS:
			conf.pass_through = true;
			break;
		case OPT_NO_PASS:
			conf.pass_through = false;
			break;
		case OPT_RULE_ERROR:
			if (strcmp(optarg, "drop") == 0)
				conf.rule_error = RULE_ERROR_DROP;
			else if (strcmp(optarg, "accept") == 0)
				conf.rule_error = RULE_ERROR_ACCEPT;
			else {
				fprintf(
				    stderr,
				    "hakapcap: --rule-error: drop or accept\n");
				return 2;
			}
			break;
		case OPT_MIDSTREAM:
			if (strcmp(optarg, "accept") == 0)
				conf.midstream = MIDSTREAM_ACCEPT;
			else if (strcmp(optarg, "pass") == 0)
				conf.midstream = MIDSTREAM_PASS;
			else if (strcmp(optarg, "drop") == 0)
				conf.midstream = MIDSTREAM_DROP;
			else {
				fprintf(stderr, "hakapcap: --midstream: "
				                "accept, pass or drop\n");
				return 2;
			}
			break;
		case OPT_LUA_MEM:
			if (!parse_u64(optarg, &mem_mb) || mem_mb == 0) {
				fprintf(stderr, "hakapcap: --lua-memory: a "
				                "number of MB\n");
				return 2;
			}
			break;
		case OPT_LUA_INSTR:
			if (!parse_u64(optarg, &v)) {
				fprintf(stderr, "hakapcap: --lua-instructions: "
				                "a number\n");
				return 2;
			}
			instr = v;
			break;
		case OPT_ALLOW_IO:
			lconf.allow_io = true;
			break;
		case OPT_NO_SUMMARY:
			show_summary = false;
			break;
		case OPT_LOG_RAW:
			log_set_raw_text(true);
			break;
		case OPT_DUMP_GRAPH:
			dump_graph = true;
			break;
		case OPT_OOO_LIMIT:
			if (!parse_u64(optarg, &v) || v > UINT32_MAX) {
				fprintf(stderr, "hakapcap: --tcp-ooo-limit: a "
				                "number of bytes\n");
				return 2;
			}
			conf.stream.max_ooo_bytes = (uint32_t)v;
			break;
		case OPT_ALLOW_DEBUG:
			lconf.allow_debug = true;
			break;
		case OPT_SMTP_LIMIT:
			if (conf_set_key(&limc, "smtp", optarg, err,
			                 sizeof(err)) != HK_OK) {
				fprintf(stderr, "hakapcap: --smtp-limit %s\n",
				        err);
				return 2;
			}
			break;
		case OPT_TCP_CSUM:
			conf.tcp_verify_checksum = true;
			break;
		case OPT_NO_IP_CSUM:
			conf.ipv4_verify_checksum = false;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind < 2) {
		usage(stderr);
		return 2;
	}
	rules = argv[optind];

	if (alert_to != NULL) {
		FILE *fp = fopen(alert_to, "a");

		if (fp == NULL) {
			fprintf(stderr,
			        "hakapcap: cannot open alert file "
			        "'%s': %m\n",
			        alert_to);
			return 1;
		}
		alert_add_output(fp, afmt, true);
	} else {
		alert_add_output(stdout, afmt, false);
	}
	smtp_set_limits(&limc.smtp);
	if (dump_graph) {
		/* The tutorial's graphs: smtp-grammar.dot,
		 * smtp-state-machine.dot */
		err[0] = '\0';
		if (smtp_init(err, sizeof(err)) != HK_OK ||
		    smtp_dump_graphs(".", err, sizeof(err)) != HK_OK) {
			fprintf(stderr, "hakapcap: %s\n", err);
			return 1;
		}
		hk_log(LOG_INFO, "core",
		       "dissector graphs written to "
		       "smtp-grammar.dot and smtp-state-machine.dot");
	}
	if (conf.pass_through)
		hk_log(LOG_INFO, "core",
		       "setting packet capture mode to pass-through\n");

	src = pcap_source_open(argv + optind + 1, argc - optind - 1, err,
	                       sizeof(err));
	if (src == NULL) {
		fprintf(stderr, "hakapcap: %s\n", err);
		return 1;
	}
	run.linktype = pcap_source_linktype(src);
	out.verdict = on_verdict;
	out.inject = on_inject;
	out.arg = &run;
	eng = engine_new(&conf, &out);
	lconf.mem_limit = (size_t)mem_mb << 20;
	lconf.instr_limit = instr;
	vm = eng != NULL ? lvm_new(&lconf, eng) : NULL;
	if (vm == NULL) {
		fprintf(stderr, "hakapcap: out of memory\n");
		return 1;
	}
	engine_set_lvm(eng, vm);
	hk_log(LOG_INFO, "core", "loading rule file '%s'", rules);
	if (lvm_load_rules(vm, rules) != HK_OK) {
		fprintf(stderr, "hakapcap: cannot load rule file '%s'\n",
		        rules);
		lvm_free(vm);
		engine_free(eng);
		pcap_source_close(src);
		return 1;
	}
	for (c = optind + 1; c < argc; c++)
		hk_log(LOG_INFO, "capture", "opening file '%s'", argv[c]);
	/* A result that cannot be written is an error before any work. */
	if (run.out_path != NULL &&
	    (run.sink = pcap_sink_open(run.out_path, run.linktype, err,
	                               sizeof(err))) == NULL) {
		fprintf(stderr, "hakapcap: cannot write the result: %s\n", err);
		lvm_free(vm);
		engine_free(eng);
		pcap_source_close(src);
		return 1;
	}
	lvm_rule_summary(vm);
	hk_log(LOG_INFO, "core", "starting single threaded processing\n");
	if (lvm_has_rules(vm, EV_STARTED) &&
	    lvm_event_simple(vm, EV_STARTED) != HK_OK)
		engine_rule_failed(eng);

	tty = isatty(STDERR_FILENO);
	t0 = now_sec(CLOCK_MONOTONIC);
	c0 = now_sec(CLOCK_PROCESS_CPUTIME_ID);
	last_progress = t0;
	while (pcap_source_next(src, &pkt) != HK_AGAIN) {
		if (pkt == NULL)
			continue;
		engine_process(eng, pkt);
		if (tty && (engine_stats(eng)->packets & 0xfff) == 0) {
			double t = now_sec(CLOCK_MONOTONIC);

			if (t - last_progress >= 1.0) {
				last_progress = t;
				fprintf(stderr,
				        "\rprogress: %llu packets, %u "
				        "connections, %llu alerts",
				        (unsigned long long)engine_stats(eng)
				            ->packets,
				        engine_flow_count(eng),
				        (unsigned long long)alert_count());
			}
		}
	}
	if (tty && last_progress != t0)
		fputc('\n', stderr);
	{
		uint32_t left = engine_flow_count(eng);

		/* The original's order: the state closes, then the table. */
		hk_log(LOG_DEBUG, "lua", "closing state");
		if (lvm_has_rules(vm, EV_EXITING) &&
		    lvm_event_simple(vm, EV_EXITING) != HK_OK)
			engine_rule_failed(eng);
		engine_finish(eng);
		fflush(stdout);
		if (show_summary)
			summary(eng, src, now_sec(CLOCK_MONOTONIC) - t0,
			        now_sec(CLOCK_PROCESS_CPUTIME_ID) - c0, left);
	}
	lvm_free(vm);
	engine_free(eng);
	if (run.sink != NULL)
		pcap_sink_close(run.sink);
	/* A damaged input was warned about and processed as far as read. */
	pcap_source_close(src);
	alert_clear_outputs();
	packet_pool_flush();
	stream_pool_flush();
	gparser_pool_flush();
	return rc;
}
