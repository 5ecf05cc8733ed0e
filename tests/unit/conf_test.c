/*
 * Unit tests of the daemon configuration (src/config/config.c): the
 * defaults, a file with every key, the commented haka.conf at the top of
 * the repository, relative paths, every kind of error with its exact
 * "file:line:col: message", the --opt overrides, sizes, queue ranges and
 * the final check. Test files are written into a mkdtemp directory,
 * removed at the end.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <haka/conf.h>
#include <haka/engine.h>

#include "unittest.h"

#define MAX_CREATED 64

static char tmpdir[] = "/tmp/conf_testXXXXXX";
static char created[MAX_CREATED][PATH_MAX]; /* files, then directories */
static bool created_dir[MAX_CREATED];
static int ncreated;

static void
remember(const char *path, bool dir)
{
	for (int i = 0; i < ncreated; i++) {
		if (strcmp(created[i], path) == 0)
			return;
	}
	if (ncreated == MAX_CREATED)
		return;
	snprintf(created[ncreated], sizeof(created[0]), "%s", path);
	created_dir[ncreated++] = dir;
}

/* Write text to tmpdir/name (sub-directories made as needed); path out. */
static bool
write_file(const char *name, const char *text, char *path, size_t size)
{
	char dir[PATH_MAX];
	const char *slash;
	FILE *f;

	if (strchr(name, '/') != NULL) {
		slash = strrchr(name, '/');
		snprintf(dir, sizeof(dir), "%s/%.*s", tmpdir,
		         (int)(slash - name), name);
		if (mkdir(dir, 0700) == 0)
			remember(dir, true);
	}
	snprintf(path, size, "%s/%s", tmpdir, name);
	if ((f = fopen(path, "w")) == NULL)
		return false;
	fputs(text, f);
	if (fclose(f) != 0)
		return false;
	remember(path, false);
	return true;
}

static void
cleanup(void)
{
	for (int i = ncreated - 1; i >= 0; i--) {
		if (created_dir[i])
			rmdir(created[i]);
		else
			unlink(created[i]);
	}
	rmdir(tmpdir);
}

/* Load text as tmpdir/haka.conf. */
static int
load_text(struct conf *c, const char *text, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (!write_file("haka.conf", text, path, sizeof(path)))
		return -100;
	return conf_load(c, path, err, errlen);
}

/*
 * True when loading text fails with exactly "PATH:" expect. A mismatch is
 * printed, since the error text is the point of these tests.
 */
static bool
load_fails(const char *text, const char *expect)
{
	struct conf c;
	char err[1024], want[PATH_MAX + 512], path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/haka.conf", tmpdir);
	snprintf(want, sizeof(want), "%s:%s", path, expect);
	err[0] = '\0';
	if (load_text(&c, text, err, sizeof(err)) != HK_ERR) {
		fprintf(stderr, "  loaded, expected: %s\n", want);
		return false;
	}
	if (strcmp(err, want) != 0) {
		fprintf(stderr, "  got:      %s\n  expected: %s\n", err, want);
		return false;
	}
	return true;
}

/* True when conf_set(c, opt) fails with exactly expect. */
static bool
set_fails(struct conf *c, const char *opt, const char *expect)
{
	struct conf before = *c;
	char err[1024] = "";

	if (conf_set(c, opt, err, sizeof(err)) != HK_ERR) {
		fprintf(stderr, "  %s accepted, expected: %s\n", opt, expect);
		return false;
	}
	if (strcmp(err, expect) != 0) {
		fprintf(stderr, "  got:      %s\n  expected: %s\n", err,
		        expect);
		return false;
	}
	/* A failed override changes nothing. */
	if (memcmp(&before, c, sizeof(before)) != 0) {
		fprintf(stderr, "  %s changed the configuration\n", opt);
		return false;
	}
	return true;
}

static bool
set_ok(struct conf *c, const char *opt)
{
	char err[1024] = "";

	if (conf_set(c, opt, err, sizeof(err)) != HK_OK) {
		fprintf(stderr, "  %s: %s\n", opt, err);
		return false;
	}
	return true;
}

/* --- defaults --------------------------------------------------------- */

static void
test_defaults(void)
{
	struct conf c;

	conf_defaults(&c);
	FAIL_IF_NOT(c.path[0] == '\0');
	FAIL_IF_NOT(c.rules[0] == '\0');
	FAIL_IF_NOT(c.threads == 1);
	FAIL_IF(c.threads_given);
	FAIL_IF_NOT(c.user[0] == '\0');
	FAIL_IF_NOT(c.group[0] == '\0');
	FAIL_IF_NOT(strcmp(c.pid_file, "/var/run/haka.pid") == 0);
	FAIL_IF_NOT(c.capture == CONF_CAPTURE_NFQUEUE);
	FAIL_IF_NOT(c.nqueues == 1 && c.queues[0] == 0);
	FAIL_IF_NOT(c.install_iptables);
	FAIL_IF_NOT(strcmp(c.iptables_chain, "FORWARD") == 0);
	FAIL_IF_NOT(c.iptables_port == 25);
	FAIL_IF_NOT(c.fail_open);
	FAIL_IF_NOT(c.queue_maxlen == 4096);
	FAIL_IF_NOT(c.rcvbuf == 8u << 20);
	FAIL_IF_NOT(c.mark == 0xffff);
	FAIL_IF_NOT(c.nifaces == 0 && c.pcap_file[0] == '\0');
	FAIL_IF_NOT(strcmp(c.log_level, "info") == 0);
	FAIL_IF(c.log_syslog);
	FAIL_IF_NOT(c.log_file[0] == '\0');
	FAIL_IF_NOT(c.nalerts == 1);
	FAIL_IF_NOT(c.alerts[0].sink == CONF_ALERT_FILE);
	FAIL_IF_NOT(strcmp(c.alerts[0].path, "-") == 0);
	FAIL_IF_NOT(c.alerts[0].format == ALERT_FMT_PRETTY);
	FAIL_IF_NOT(strcmp(c.ctl_socket, "/var/run/haka-ctl.sock") == 0);
	FAIL_IF_NOT(c.ctl_mode == 0660);
	FAIL_IF_NOT(c.lua_memory == 256ULL << 20);
	FAIL_IF_NOT(c.lua_instructions == 100000000);
	FAIL_IF_NOT(c.max_connections == 1000000);
	FAIL_IF_NOT(c.stream_memcap == 256ULL << 20);
	FAIL_IF_NOT(c.stream_ooo_bytes == 1u << 20);
	FAIL_IF_NOT(c.defrag_memcap == 32ULL << 20);
	FAIL_IF_NOT(c.tcp_timeout_established == 3600);
	FAIL_IF_NOT(c.tcp_timeout_closing == 60);
	FAIL_IF_NOT(c.tcp_timeout_syn == 60);
	FAIL_IF_NOT(c.rule_error_drop);
	FAIL_IF(c.lua_allow_io);
	FAIL_IF(c.lua_allow_debug);
	FAIL_IF_NOT(c.midstream == MIDSTREAM_ACCEPT);
	FAIL_IF_NOT(c.smtp.command_line == 512 && c.smtp.reply_line == 512);
	FAIL_IF_NOT(c.smtp.text_line == 1000 && c.smtp.max_line == 4096);
	FAIL_IF_NOT(c.smtp.max_pending == 1000 && c.smtp.max_errors == 10);
	FAIL_IF_NOT(c.smtp.memcap == 256ULL << 20);
}

/* An empty file (or only comments) is all defaults. */
static void
test_empty_file(void)
{
	struct conf c, d;
	char err[1024];

	conf_defaults(&d);
	FAIL_IF_NOT(load_text(&c, "# nothing\n", err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.threads == 1 && c.nqueues == 1);
	FAIL_IF_NOT(c.nalerts == 1);
	FAIL_IF_NOT(strcmp(c.pid_file, d.pid_file) == 0);
	/* Empty sections too. */
	FAIL_IF_NOT(load_text(&c, "general:\ncapture:\n  nfqueue:\nlog: ~\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.nqueues == 1 && c.iptables_port == 25);
	FAIL_IF_NOT(strcmp(c.log_level, "info") == 0);
}

/* --- a file with every key -------------------------------------------- */

static const char full_conf[] = "# every key, none at its default\n"
                                "general:\n"
                                "  rules: /etc/haka/rules/main.lua\n"
                                "  threads: 2\n"
                                "  user: haka\n"
                                "  group: haka-grp\n"
                                "  pid_file: /run/haka/haka.pid\n"
                                "capture:\n"
                                "  mode: pcap\n"
                                "  nfqueue:\n"
                                "    queues: [3, 5]\n"
                                "    iptables: manual\n"
                                "    chain: INPUT\n"
                                "    port: 587\n"
                                "    fail: closed\n"
                                "    queue_length: 1024\n"
                                "    receive_buffer: 16M\n"
                                "    mark: 0x1234\n"
                                "  pcap:\n"
                                "    interfaces: [eth0, eth1.100]\n"
                                "    file: ''\n"
                                "log:\n"
                                "  level: warn,tcp=debug\n"
                                "  output: syslog\n"
                                "alerts:\n"
                                "  - type: file\n"
                                "    path: /var/log/haka/alerts.json\n"
                                "    format: json\n"
                                "  - type: syslog\n"
                                "    format: oneline\n"
                                "  - path: '-'\n"
                                "control:\n"
                                "  socket: /run/haka/ctl.sock\n"
                                "  mode: \"0600\"\n"
                                "limits:\n"
                                "  lua_memory: 64M\n"
                                "  lua_instructions: 5000000\n"
                                "  max_connections: 20000\n"
                                "  stream_memcap: 1G\n"
                                "  stream_ooo_bytes: 256K\n"
                                "  defrag_memcap: 4M\n"
                                "  tcp_timeout_established: 7200\n"
                                "  tcp_timeout_closing: 30\n"
                                "  tcp_timeout_syn: 10\n"
                                "rules:\n"
                                "  on_error: accept\n"
                                "  allow_io: yes\n"
                                "  allow_debug: on\n"
                                "  midstream: drop\n"
                                "smtp:\n"
                                "  command_line: 1000\n"
                                "  reply_line: 2K\n"
                                "  text_line: 998\n"
                                "  max_line: 64K\n"
                                "  max_pending: 200\n"
                                "  max_errors: 3\n"
                                "  memcap: 0\n";

static void
test_full(void)
{
	struct conf c;
	char err[1024] = "", path[PATH_MAX];

	FAIL_IF_NOT(load_text(&c, full_conf, err, sizeof(err)) == HK_OK);
	snprintf(path, sizeof(path), "%s/haka.conf", tmpdir);
	FAIL_IF_NOT(strcmp(c.path, path) == 0);
	FAIL_IF_NOT(strcmp(c.rules, "/etc/haka/rules/main.lua") == 0);
	FAIL_IF_NOT(c.threads == 2 && c.threads_given);
	FAIL_IF_NOT(strcmp(c.user, "haka") == 0);
	FAIL_IF_NOT(strcmp(c.group, "haka-grp") == 0);
	FAIL_IF_NOT(strcmp(c.pid_file, "/run/haka/haka.pid") == 0);
	FAIL_IF_NOT(c.capture == CONF_CAPTURE_PCAP);
	FAIL_IF_NOT(c.nqueues == 2 && c.queues[0] == 3 && c.queues[1] == 5);
	FAIL_IF(c.install_iptables);
	FAIL_IF_NOT(strcmp(c.iptables_chain, "INPUT") == 0);
	FAIL_IF_NOT(c.iptables_port == 587);
	FAIL_IF(c.fail_open);
	FAIL_IF_NOT(c.queue_maxlen == 1024);
	FAIL_IF_NOT(c.rcvbuf == 16u << 20);
	FAIL_IF_NOT(c.mark == 0x1234);
	FAIL_IF_NOT(c.nifaces == 2);
	FAIL_IF_NOT(strcmp(c.ifaces[0], "eth0") == 0);
	FAIL_IF_NOT(strcmp(c.ifaces[1], "eth1.100") == 0);
	FAIL_IF_NOT(c.pcap_file[0] == '\0');
	FAIL_IF_NOT(strcmp(c.log_level, "warn,tcp=debug") == 0);
	FAIL_IF_NOT(c.log_syslog && c.log_file[0] == '\0');
	FAIL_IF_NOT(c.nalerts == 3);
	FAIL_IF_NOT(c.alerts[0].sink == CONF_ALERT_FILE);
	FAIL_IF_NOT(strcmp(c.alerts[0].path, "/var/log/haka/alerts.json") == 0);
	FAIL_IF_NOT(c.alerts[0].format == ALERT_FMT_JSON);
	FAIL_IF_NOT(c.alerts[1].sink == CONF_ALERT_SYSLOG);
	FAIL_IF_NOT(c.alerts[1].format == ALERT_FMT_ONELINE);
	/* Keys left out of an output take the output defaults. */
	FAIL_IF_NOT(c.alerts[2].sink == CONF_ALERT_FILE);
	FAIL_IF_NOT(strcmp(c.alerts[2].path, "-") == 0);
	FAIL_IF_NOT(c.alerts[2].format == ALERT_FMT_PRETTY);
	FAIL_IF_NOT(strcmp(c.ctl_socket, "/run/haka/ctl.sock") == 0);
	FAIL_IF_NOT(c.ctl_mode == 0600);
	FAIL_IF_NOT(c.lua_memory == 64ULL << 20);
	FAIL_IF_NOT(c.lua_instructions == 5000000);
	FAIL_IF_NOT(c.max_connections == 20000);
	FAIL_IF_NOT(c.stream_memcap == 1ULL << 30);
	FAIL_IF_NOT(c.stream_ooo_bytes == 256u << 10);
	FAIL_IF_NOT(c.defrag_memcap == 4ULL << 20);
	FAIL_IF_NOT(c.tcp_timeout_established == 7200);
	FAIL_IF_NOT(c.tcp_timeout_closing == 30);
	FAIL_IF_NOT(c.tcp_timeout_syn == 10);
	FAIL_IF(c.rule_error_drop);
	FAIL_IF_NOT(c.lua_allow_io);
	FAIL_IF_NOT(c.lua_allow_debug);
	FAIL_IF_NOT(c.midstream == MIDSTREAM_DROP);
	FAIL_IF_NOT(c.smtp.command_line == 1000 && c.smtp.reply_line == 2048);
	FAIL_IF_NOT(c.smtp.text_line == 998 && c.smtp.max_line == 65536);
	FAIL_IF_NOT(c.smtp.max_pending == 200 && c.smtp.max_errors == 3);
	FAIL_IF_NOT(c.smtp.memcap == 0);
	FAIL_IF_NOT(conf_check(&c, err, sizeof(err)) == HK_OK);
}

/* Other spellings: flow style, quoted numbers, a single queue number. */
static void
test_spellings(void)
{
	struct conf c;
	char err[1024] = "";

	FAIL_IF_NOT(load_text(&c,
	                      "general: {rules: r.lua, threads: '3'}\n"
	                      "capture: {nfqueue: {queues: 7, port: 0}}\n"
	                      "control: {mode: 0o640}\n"
	                      "rules: {allow_io: TRUE, allow_debug: Off}\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.threads == 3);
	FAIL_IF_NOT(c.nqueues == 1 && c.queues[0] == 7);
	FAIL_IF_NOT(c.iptables_port == 0);
	FAIL_IF_NOT(c.ctl_mode == 0640);
	FAIL_IF_NOT(c.lua_allow_io && !c.lua_allow_debug);
	/* A mode without the leading 0 is decimal: 416 == 0640. */
	FAIL_IF_NOT(load_text(&c, "control:\n  mode: 416\n", err,
	                      sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.ctl_mode == 0640);
	/* Unquoted 0660 (YAML 1.1 octal) is octal too. */
	FAIL_IF_NOT(load_text(&c, "control:\n  mode: 0660\n", err,
	                      sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.ctl_mode == 0660);
	/* Decimal mark, interfaces as a string, the "any" device. */
	FAIL_IF_NOT(load_text(&c,
	                      "capture:\n  mode: pcap\n  nfqueue:\n"
	                      "    mark: 65536\n"
	                      "  pcap:\n    interfaces: \"eth0, lo\"\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.mark == 65536);
	FAIL_IF_NOT(c.nifaces == 2 && strcmp(c.ifaces[1], "lo") == 0);
	FAIL_IF_NOT(load_text(&c, "capture:\n  pcap:\n    interfaces: any\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.nifaces == 1 && strcmp(c.ifaces[0], "any") == 0);
	/* An empty alert list writes alerts nowhere. */
	FAIL_IF_NOT(load_text(&c, "alerts: []\n", err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.nalerts == 0);
	/* A log file. */
	FAIL_IF_NOT(load_text(&c, "log:\n  output: /var/log/haka.log\n", err,
	                      sizeof(err)) == HK_OK);
	FAIL_IF_NOT(!c.log_syslog &&
	            strcmp(c.log_file, "/var/log/haka.log") == 0);
	/* Anchors and aliases are plain YAML. */
	FAIL_IF_NOT(load_text(&c,
	                      "limits:\n  stream_memcap: &m 64M\n"
	                      "  defrag_memcap: *m\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.defrag_memcap == 64ULL << 20);
}

/* --- the top-level haka.conf ------------------------------------------ */

static void
test_haka_conf(void)
{
	struct conf c;
	char err[1024] = "";

	/* ctest runs the tests in tests/ of the source tree. */
	if (conf_load(&c, "../haka.conf", err, sizeof(err)) != HK_OK)
		fprintf(stderr, "  %s\n", err);
	FAIL_IF_NOT(conf_load(&c, "../haka.conf", err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(conf_check(&c, err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(strcmp(c.rules, "../rules/spam_filter.lua") == 0);
	FAIL_IF_NOT(access(c.rules, R_OK) == 0);
	FAIL_IF_NOT(c.threads == 1);
	FAIL_IF(c.threads_given);
	FAIL_IF_NOT(c.user[0] == '\0' && c.group[0] == '\0');
	FAIL_IF_NOT(strcmp(c.pid_file, "/var/run/haka.pid") == 0);
	FAIL_IF_NOT(c.capture == CONF_CAPTURE_NFQUEUE);
	FAIL_IF_NOT(c.nqueues == 1 && c.queues[0] == 0);
	FAIL_IF_NOT(c.install_iptables);
	FAIL_IF_NOT(strcmp(c.iptables_chain, "FORWARD") == 0);
	FAIL_IF_NOT(c.iptables_port == 25);
	FAIL_IF_NOT(c.fail_open);
	FAIL_IF_NOT(c.queue_maxlen == 4096);
	FAIL_IF_NOT(c.rcvbuf == 8u << 20);
	FAIL_IF_NOT(c.mark == 0xffff);
	FAIL_IF_NOT(c.nifaces == 0 && c.pcap_file[0] == '\0');
	FAIL_IF_NOT(strcmp(c.log_level, "info") == 0);
	FAIL_IF_NOT(!c.log_syslog && c.log_file[0] == '\0');
	FAIL_IF_NOT(c.nalerts == 1);
	FAIL_IF_NOT(c.alerts[0].sink == CONF_ALERT_FILE);
	FAIL_IF_NOT(strcmp(c.alerts[0].path, "-") == 0);
	FAIL_IF_NOT(c.alerts[0].format == ALERT_FMT_PRETTY);
	FAIL_IF_NOT(strcmp(c.ctl_socket, "/var/run/haka-ctl.sock") == 0);
	FAIL_IF_NOT(c.ctl_mode == 0660);
	FAIL_IF_NOT(c.lua_memory == 256ULL << 20);
	FAIL_IF_NOT(c.lua_instructions == 100000000);
	FAIL_IF_NOT(c.max_connections == 1000000);
	FAIL_IF_NOT(c.stream_memcap == 256ULL << 20);
	FAIL_IF_NOT(c.stream_ooo_bytes == 1u << 20);
	FAIL_IF_NOT(c.defrag_memcap == 32ULL << 20);
	FAIL_IF_NOT(c.tcp_timeout_established == 3600);
	FAIL_IF_NOT(c.tcp_timeout_closing == 60);
	FAIL_IF_NOT(c.tcp_timeout_syn == 60);
	FAIL_IF_NOT(c.rule_error_drop);
	FAIL_IF(c.lua_allow_io || c.lua_allow_debug);
	FAIL_IF_NOT(c.midstream == MIDSTREAM_ACCEPT);
	FAIL_IF_NOT(c.smtp.command_line == 512 && c.smtp.reply_line == 512);
	FAIL_IF_NOT(c.smtp.text_line == 1000 && c.smtp.max_line == 4096);
	FAIL_IF_NOT(c.smtp.max_pending == 1000 && c.smtp.max_errors == 10);
}

/*
 * Each commented-out example of haka.conf must load too once uncommented:
 * the JSON output and the pcap keys.
 */
static void
test_haka_conf_examples(void)
{
	struct conf c;
	char err[1024] = "", line[512], *text;
	size_t used = 0, cap = 1 << 16;
	FILE *f = fopen("../haka.conf", "r");
	int rc;

	FAIL_IF(f == NULL);
	if ((text = malloc(cap)) == NULL) {
		fclose(f);
		FAIL_IF(text == NULL);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strspn(line, " "), len;

		/* "  #key: value" becomes "  key: value"; "  # text" stays. */
		if (line[n] == '#' && line[n + 1] != ' ' &&
		    line[n + 1] != '\n' && line[n + 1] != '#')
			memmove(line + n, line + n + 1, strlen(line + n));
		len = strlen(line);
		if (used + len + 1 > cap)
			break;
		memcpy(text + used, line, len);
		used += len;
	}
	text[used] = '\0';
	fclose(f);
	rc = load_text(&c, text, err, sizeof(err));
	free(text);
	if (rc != HK_OK)
		fprintf(stderr, "  %s\n", err);
	FAIL_IF_NOT(rc == HK_OK);
	FAIL_IF_NOT(c.threads_given && c.threads == 1);
	FAIL_IF_NOT(c.nifaces == 1 && strcmp(c.ifaces[0], "eth0") == 0);
	FAIL_IF_NOT(strstr(c.pcap_file, "/smtp.pcap") != NULL);
	FAIL_IF_NOT(c.nalerts == 3);
	FAIL_IF_NOT(c.alerts[0].format == ALERT_FMT_PRETTY);
	FAIL_IF_NOT(strcmp(c.alerts[1].path, "/var/log/haka/alerts.json") == 0);
	FAIL_IF_NOT(c.alerts[1].format == ALERT_FMT_JSON);
	FAIL_IF_NOT(c.alerts[2].sink == CONF_ALERT_SYSLOG);
	FAIL_IF_NOT(c.alerts[2].format == ALERT_FMT_ONELINE);
}

/* --- relative paths --------------------------------------------------- */

static void
test_relative_paths(void)
{
	struct conf c;
	char err[1024] = "", path[PATH_MAX], want[PATH_MAX + 64];
	const char *text = "general:\n"
	                   "  rules: rules/x.lua\n"
	                   "  pid_file: run/haka.pid\n"
	                   "capture:\n"
	                   "  pcap:\n"
	                   "    file: in.pcap\n"
	                   "log:\n"
	                   "  output: logs/haka.log\n"
	                   "alerts:\n"
	                   "  - path: alerts.txt\n"
	                   "  - path: /abs/alerts.json\n"
	                   "  - path: '-'\n"
	                   "control:\n"
	                   "  socket: ctl.sock\n";

	FAIL_IF_NOT(write_file("etc/haka.conf", text, path, sizeof(path)));
	FAIL_IF_NOT(conf_load(&c, path, err, sizeof(err)) == HK_OK);
#define DIR_IS(field, rel)                                                     \
	do {                                                                   \
		snprintf(want, sizeof(want), "%s/etc/%s", tmpdir, rel);        \
		FAIL_IF_NOT(strcmp(field, want) == 0);                         \
	} while (0)
	DIR_IS(c.rules, "rules/x.lua");
	DIR_IS(c.pid_file, "run/haka.pid");
	DIR_IS(c.pcap_file, "in.pcap");
	DIR_IS(c.log_file, "logs/haka.log");
	DIR_IS(c.alerts[0].path, "alerts.txt");
	DIR_IS(c.ctl_socket, "ctl.sock");
#undef DIR_IS
	FAIL_IF_NOT(strcmp(c.alerts[1].path, "/abs/alerts.json") == 0);
	FAIL_IF_NOT(strcmp(c.alerts[2].path, "-") == 0);

	/* A file named without a directory: paths stay as written. */
	FAIL_IF_NOT(write_file("here.conf", text, path, sizeof(path)));
	FAIL_IF(chdir(tmpdir) != 0);
	FAIL_IF_NOT(conf_load(&c, "here.conf", err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(strcmp(c.path, "here.conf") == 0);
	FAIL_IF_NOT(strcmp(c.rules, "rules/x.lua") == 0);
	FAIL_IF_NOT(strcmp(c.alerts[0].path, "alerts.txt") == 0);
	FAIL_IF_NOT(conf_load(&c, "./etc/haka.conf", err, sizeof(err)) ==
	            HK_OK);
	FAIL_IF_NOT(strcmp(c.rules, "./etc/rules/x.lua") == 0);
	FAIL_IF_NOT(strcmp(c.ctl_socket, "./etc/ctl.sock") == 0);

	/* --opt paths are the command line's: from the current directory. */
	FAIL_IF_NOT(set_ok(&c, "general:rules=other.lua"));
	FAIL_IF_NOT(strcmp(c.rules, "other.lua") == 0);
}

/* --- errors ----------------------------------------------------------- */

static void
test_errors_structure(void)
{
	/* The brief's example, at the key. */
	FAIL_IF_NOT(load_fails("general:\n  rules: x.lua\n"
	                       "capture:\n  nfqueue:\n    queus: [0]\n",
	                       "5:5: unknown key 'queus' in capture.nfqueue"));
	FAIL_IF_NOT(load_fails("general:\n  rules: x\nfoo:\n  a: 1\n",
	                       "3:1: unknown section 'foo'"));
	FAIL_IF_NOT(load_fails("general:\n  rule: x\n",
	                       "2:3: unknown key 'rule' in general"));
	FAIL_IF_NOT(load_fails("alerts:\n  - type: file\n    fmt: json\n",
	                       "3:5: unknown key 'fmt' in alerts[0]"));
	/* Wrong types, at the value. */
	FAIL_IF_NOT(load_fails("general: 5\n",
	                       "1:10: general: expected a mapping, found a "
	                       "value"));
	FAIL_IF_NOT(load_fails("general:\n  threads: [1]\n",
	                       "2:12: general.threads: expected a value, found "
	                       "a list"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue: [0]\n",
	                       "2:12: capture.nfqueue: expected a mapping, "
	                       "found a list"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    queues: {a: 1}\n",
	                       "3:13: capture.nfqueue.queues: expected a value "
	                       "or a list, found a mapping"));
	FAIL_IF_NOT(
	    load_fails("capture:\n  nfqueue:\n    queues: [0, [1]]\n",
	               "3:17: capture.nfqueue.queues: expected a value, "
	               "found a list"));
	FAIL_IF_NOT(
	    load_fails("alerts:\n  type: file\n",
	               "2:3: alerts: expected a list of outputs, found a "
	               "mapping"));
	FAIL_IF_NOT(load_fails("alerts:\n  - json\n",
	                       "2:5: alerts[0]: expected a mapping, found a "
	                       "value"));
	FAIL_IF_NOT(load_fails("- general\n",
	                       "1:1: expected a mapping of sections, found a "
	                       "list"));
	FAIL_IF_NOT(load_fails("general:\n  ? [a]\n  : 1\n",
	                       "2:5: keys must be names, found a list"));
	/* Duplicates, at the second key. */
	FAIL_IF_NOT(load_fails("general:\n  threads: 1\n  rules: x\n"
	                       "  threads: 2\n",
	                       "4:3: duplicate key 'threads' in general"));
	FAIL_IF_NOT(load_fails("log:\n  level: info\nlog:\n  level: debug\n",
	                       "3:1: duplicate section 'log'"));
	FAIL_IF_NOT(load_fails("alerts:\n  - format: json\n    format: "
	                       "pretty\n",
	                       "3:5: duplicate key 'format' in alerts[0]"));
	/* One document only. */
	FAIL_IF_NOT(load_fails("general:\n  rules: x\n---\nlog:\n  level: "
	                       "info\n",
	                       "4:1: only one YAML document is allowed"));
	/* A NUL byte cannot hide the end of a value. */
	FAIL_IF_NOT(load_fails("general:\n  rules: \"x\\0y\"\n",
	                       "2:10: general.rules: NUL byte in the value"));
}

static void
test_errors_syntax(void)
{
	FAIL_IF_NOT(load_fails("general:\n  threads: 1\n threads: 2\n",
	                       "3:2: did not find expected key (while parsing "
	                       "a block mapping)"));
	FAIL_IF_NOT(load_fails("general:\n  rules: \"abc\n",
	                       "3:1: found unexpected end of stream (while "
	                       "scanning a quoted scalar)"));
	FAIL_IF_NOT(load_fails("general:\n\trules: x\n",
	                       "2:1: found character that cannot start any "
	                       "token (while scanning for the next token)"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    queues: [0, 1\n",
	                       "4:1: did not find expected ',' or ']' (while "
	                       "parsing a flow sequence)"));
	FAIL_IF_NOT(load_fails("general:\n  rules: *x\n",
	                       "2:10: found undefined alias"));
	/* Bad UTF-8: the reader reports an offset, turned into line:col. */
	FAIL_IF_NOT(load_fails("general:\n  rules: x\n  user: \xff\xfe\n",
	                       "3:9: invalid leading UTF-8 octet"));
}

static void
test_errors_file(void)
{
	struct conf c;
	char err[1024] = "", path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	FAIL_IF_NOT(conf_load(&c, path, err, sizeof(err)) == HK_ERR);
	FAIL_IF_NOT(strstr(err, "/missing.conf: No such file or directory") !=
	            NULL);
	/* A directory is said to be one (libyaml only says "input error"). */
	FAIL_IF_NOT(conf_load(&c, tmpdir, err, sizeof(err)) == HK_ERR);
	FAIL_IF_NOT(strstr(err, ": Is a directory") != NULL &&
	            strncmp(err, tmpdir, strlen(tmpdir)) == 0);
	/* A NULL or short error buffer is fine. */
	FAIL_IF_NOT(conf_load(&c, path, NULL, 0) == HK_ERR);
	FAIL_IF_NOT(conf_load(&c, path, err, 8) == HK_ERR);
	FAIL_IF_NOT(strlen(err) == 7);
}

static void
test_errors_values(void)
{
	/* Ranges. */
	FAIL_IF_NOT(load_fails("general:\n  threads: 17\n",
	                       "2:12: general.threads: value '17' out of range "
	                       "(1 to 16)"));
	FAIL_IF_NOT(load_fails("general:\n  threads: 0\n",
	                       "2:12: general.threads: value '0' out of range "
	                       "(1 to 16)"));
	FAIL_IF_NOT(load_fails("general:\n  threads: -1\n",
	                       "2:12: general.threads: negative number '-1'"));
	FAIL_IF_NOT(load_fails("general:\n  threads: four\n",
	                       "2:12: general.threads: invalid number 'four'"));
	FAIL_IF_NOT(load_fails("general:\n  threads: +4\n",
	                       "2:12: general.threads: invalid number '+4'"));
	FAIL_IF_NOT(load_fails("general:\n  threads: 2.5\n",
	                       "2:12: general.threads: invalid number '2.5'"));
	FAIL_IF_NOT(load_fails("general:\n  threads:\n",
	                       "2:11: general.threads: missing value"));
	FAIL_IF_NOT(
	    load_fails("capture:\n  nfqueue:\n    queues: [0, 65536]\n",
	               "3:17: capture.nfqueue.queues: value '65536' out "
	               "of range (0 to 65535)"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    queues: [1, -2]\n",
	                       "3:17: capture.nfqueue.queues: negative number "
	                       "'-2'"));
	FAIL_IF_NOT(
	    load_fails("capture:\n  nfqueue:\n    port: 65536\n",
	               "3:11: capture.nfqueue.port: value '65536' out of "
	               "range (0 to 65535)"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    queue_length: 0\n",
	                       "3:19: capture.nfqueue.queue_length: value '0' "
	                       "out of range (1 to 4294967295)"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    receive_buffer: 1K\n",
	                       "3:21: capture.nfqueue.receive_buffer: value "
	                       "'1K' out of range (4096 to 2147483647)"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    mark: 0\n",
	                       "3:11: capture.nfqueue.mark: value '0' out of "
	                       "range (1 to 4294967295)"));
	FAIL_IF_NOT(
	    load_fails("capture:\n  nfqueue:\n    mark: 0x100000000\n",
	               "3:11: capture.nfqueue.mark: value '0x100000000' "
	               "out of range (1 to 4294967295)"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    mark: 0x0x10\n",
	                       "3:11: capture.nfqueue.mark: invalid number "
	                       "'0x0x10'"));
	FAIL_IF_NOT(load_fails("control:\n  mode: \"01000\"\n",
	                       "2:9: control.mode: value '01000' out of range "
	                       "(00 to 0777)"));
	FAIL_IF_NOT(load_fails("control:\n  mode: \"0668\"\n",
	                       "2:9: control.mode: invalid number '0668'"));
	FAIL_IF_NOT(load_fails("limits:\n  lua_memory: 512K\n",
	                       "2:15: limits.lua_memory: value '512K' out of "
	                       "range (0 for no limit, or at least 1M)"));
	FAIL_IF_NOT(load_fails("limits:\n  max_connections: 0\n",
	                       "2:20: limits.max_connections: value '0' out of "
	                       "range (1 to 4294967295)"));
	FAIL_IF_NOT(
	    load_fails("limits:\n  stream_ooo_bytes: 4G\n",
	               "2:21: limits.stream_ooo_bytes: value '4G' out of "
	               "range (0 to 4294967295)"));
	FAIL_IF_NOT(load_fails("smtp:\n  command_line: 0\n",
	                       "2:17: smtp.command_line: value '0' out of "
	                       "range (1 to 1048576)"));
	FAIL_IF_NOT(load_fails("smtp:\n  max_line: 100\n",
	                       "2:13: smtp.max_line: value '100' out of "
	                       "range (512 to 1048576)"));
	FAIL_IF_NOT(load_fails("smtp:\n  max_pending: 100001\n",
	                       "2:16: smtp.max_pending: value '100001' out of "
	                       "range (1 to 100000)"));
	FAIL_IF_NOT(load_fails("smtp:\n  max_errors: 0\n",
	                       "2:15: smtp.max_errors: value '0' out of "
	                       "range (1 to 4294967295)"));
	FAIL_IF_NOT(load_fails("smtp:\n  memcap: 1T\n",
	                       "2:11: smtp.memcap: invalid size '1T' (bytes, "
	                       "with an optional K, M or G suffix)"));
	FAIL_IF_NOT(load_fails("smtp:\n  line: 10\n",
	                       "2:3: unknown key 'line' in smtp"));
	FAIL_IF_NOT(load_fails("limits:\n  stream_memcap: 0\n",
	                       "2:18: limits.stream_memcap: value '0' out of "
	                       "range (1 to 18446744073709551615)"));
	FAIL_IF_NOT(load_fails("limits:\n  tcp_timeout_syn: 0\n",
	                       "2:20: limits.tcp_timeout_syn: value '0' out of "
	                       "range (1 to 604800)"));
	FAIL_IF_NOT(load_fails("limits:\n  tcp_timeout_established: 604801\n",
	                       "2:28: limits.tcp_timeout_established: value "
	                       "'604801' out of range (1 to 604800)"));
	FAIL_IF_NOT(load_fails("limits:\n  tcp_timeout_closing: 1m\n",
	                       "2:24: limits.tcp_timeout_closing: invalid "
	                       "number '1m'"));
	/* Enumerations and booleans. */
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    fail: maybe\n",
	                       "3:11: capture.nfqueue.fail: invalid value "
	                       "'maybe' (open or closed)"));
	FAIL_IF_NOT(load_fails("capture:\n  mode: afpacket\n",
	                       "2:9: capture.mode: invalid value 'afpacket' "
	                       "(nfqueue or pcap)"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    iptables: yes\n",
	                       "3:15: capture.nfqueue.iptables: invalid value "
	                       "'yes' (auto or manual)"));
	FAIL_IF_NOT(load_fails("rules:\n  on_error: ignore\n",
	                       "2:13: rules.on_error: invalid value 'ignore' "
	                       "(drop or accept)"));
	FAIL_IF_NOT(load_fails("rules:\n  midstream: reset\n",
	                       "2:14: rules.midstream: invalid value 'reset' "
	                       "(accept, pass or drop)"));
	FAIL_IF_NOT(load_fails("rules:\n  allow_io: 1\n",
	                       "2:13: rules.allow_io: invalid value '1' (yes, "
	                       "no, true, false, on or off)"));
	FAIL_IF_NOT(load_fails("alerts:\n  - type: elasticsearch\n",
	                       "2:11: alerts[0].type: invalid value "
	                       "'elasticsearch' (file or syslog)"));
	FAIL_IF_NOT(load_fails("alerts:\n  - path: '-'\n  - format: xml\n",
	                       "3:13: alerts[1].format: invalid value 'xml' "
	                       "(pretty, oneline or json)"));
	FAIL_IF_NOT(load_fails("alerts:\n  - path: /tmp/a\n    type: syslog\n",
	                       "2:5: alerts[0]: 'path' is only for type file"));
	FAIL_IF_NOT(load_fails("alerts:\n  - path: ''\n",
	                       "2:11: alerts[0].path: missing value"));
	FAIL_IF_NOT(load_fails("log:\n  level: loud\n",
	                       "2:10: log.level: invalid logging level: loud"));
	FAIL_IF_NOT(load_fails("log:\n  level: info,tcp=verbose\n",
	                       "2:10: log.level: invalid logging level: "
	                       "verbose"));
	FAIL_IF_NOT(load_fails("log:\n  level: info,=debug\n",
	                       "2:10: log.level: invalid logging section: "));
	FAIL_IF_NOT(load_fails("log:\n  output: ''\n",
	                       "2:11: log.output: missing value"));
	/* Names: nothing that iptables or a shell could take for an option. */
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    chain: -F\n",
	                       "3:12: capture.nfqueue.chain: invalid name '-F' "
	                       "(letters, digits, '.', '_' and '-', not "
	                       "first)"));
	FAIL_IF_NOT(load_fails("general:\n  user: 'a b'\n",
	                       "2:9: general.user: invalid name 'a b' "
	                       "(letters, digits, '.', '_' and '-', not "
	                       "first)"));
	FAIL_IF_NOT(
	    load_fails("capture:\n  nfqueue:\n    chain: "
	               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\n",
	               "3:12: capture.nfqueue.chain: value too long (at "
	               "most 31 bytes)"));
	FAIL_IF_NOT(load_fails("capture:\n  pcap:\n    interfaces: "
	                       "[eth0, averylonginterface]\n",
	                       "3:24: capture.pcap.interfaces: interface name "
	                       "'averylonginterface' too long (at most 15 "
	                       "bytes)"));
	FAIL_IF_NOT(load_fails("capture:\n  pcap:\n    interfaces: [eth0, "
	                       "eth0]\n",
	                       "3:24: capture.pcap.interfaces: interface "
	                       "'eth0' listed twice"));
	FAIL_IF_NOT(load_fails("capture:\n  pcap:\n    interfaces: "
	                       "[a, b, c, d, e, f, g, h, i]\n",
	                       "3:42: capture.pcap.interfaces: too many "
	                       "interfaces (at most 8)"));
	FAIL_IF_NOT(load_fails("capture:\n  pcap:\n    interfaces: 'a,,b'\n",
	                       "3:17: capture.pcap.interfaces: empty item in "
	                       "the list"));
	/* Too many alert outputs. */
	FAIL_IF_NOT(load_fails("alerts: [{}, {}, {}, {}, {}, {}, {}, {}, {}]\n",
	                       "1:42: alerts: too many outputs (at most 8)"));
	/* Long bad values are cut in the message. */
	FAIL_IF_NOT(load_fails(
	    "rules:\n  midstream: "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaa\n",
	    "2:14: rules.midstream: invalid value "
	    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' "
	    "(accept, pass or drop)"));
}

/* --- sizes, overflow, queue ranges ------------------------------------ */

static void
test_sizes(void)
{
	struct conf c;
	char err[1024] = "";

	FAIL_IF_NOT(load_text(&c,
	                      "limits:\n"
	                      "  lua_memory: 0\n"
	                      "  stream_memcap: 3g\n"
	                      "  stream_ooo_bytes: 4095M\n"
	                      "  defrag_memcap: 100k\n"
	                      "  lua_instructions: 18446744073709551615\n"
	                      "capture:\n  nfqueue:\n"
	                      "    receive_buffer: 2147483647\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.lua_memory == 0);
	FAIL_IF_NOT(c.stream_memcap == 3ULL << 30);
	FAIL_IF_NOT(c.stream_ooo_bytes == 4095u << 20);
	FAIL_IF_NOT(c.defrag_memcap == 100u << 10);
	FAIL_IF_NOT(c.lua_instructions == UINT64_MAX);
	FAIL_IF_NOT(c.rcvbuf == 2147483647u);
	/* The largest size that fits, then one more. */
	FAIL_IF_NOT(load_text(&c, "limits:\n  stream_memcap: 17179869183G\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.stream_memcap == 17179869183ULL << 30);
	FAIL_IF_NOT(load_fails("limits:\n  stream_memcap: 17179869184G\n",
	                       "2:18: limits.stream_memcap: value "
	                       "'17179869184G' is too large"));
	FAIL_IF_NOT(load_fails("limits:\n  defrag_memcap: "
	                       "18446744073709551616\n",
	                       "2:18: limits.defrag_memcap: value "
	                       "'18446744073709551616' is too large"));
	FAIL_IF_NOT(load_fails("limits:\n  lua_instructions: "
	                       "99999999999999999999999\n",
	                       "2:21: limits.lua_instructions: value "
	                       "'99999999999999999999999' is too large"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    receive_buffer: 2G\n",
	                       "3:21: capture.nfqueue.receive_buffer: value "
	                       "'2G' out of range (4096 to 2147483647)"));
	FAIL_IF_NOT(load_fails("limits:\n  stream_memcap: 12X\n",
	                       "2:18: limits.stream_memcap: invalid size '12X' "
	                       "(bytes, with an optional K, M or G suffix)"));
	FAIL_IF_NOT(load_fails("limits:\n  stream_memcap: 1MB\n",
	                       "2:18: limits.stream_memcap: invalid size '1MB' "
	                       "(bytes, with an optional K, M or G suffix)"));
	FAIL_IF_NOT(load_fails("limits:\n  stream_memcap: M\n",
	                       "2:18: limits.stream_memcap: invalid size 'M' "
	                       "(bytes, with an optional K, M or G suffix)"));
	FAIL_IF_NOT(load_fails("limits:\n  defrag_memcap: -1M\n",
	                       "2:18: limits.defrag_memcap: negative number "
	                       "'-1M'"));
	FAIL_IF_NOT(load_fails("limits:\n  defrag_memcap: ' 1M'\n",
	                       "2:18: limits.defrag_memcap: invalid size ' 1M' "
	                       "(bytes, with an optional K, M or G suffix)"));
}

static void
test_queue_ranges(void)
{
	struct conf c;
	char err[1024] = "";

	FAIL_IF_NOT(load_text(&c, "capture:\n  nfqueue:\n    queues: \"0-3\"\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.nqueues == 4);
	for (uint32_t i = 0; i < 4; i++)
		FAIL_IF_NOT(c.queues[i] == i);
	/* threads follows the queues when not given. */
	FAIL_IF_NOT(c.threads == 4 && !c.threads_given);
	FAIL_IF_NOT(conf_check(&c, err, sizeof(err)) == HK_ERR); /* rules */

	FAIL_IF_NOT(load_text(&c,
	                      "capture:\n  nfqueue:\n"
	                      "    queues: [10, \"20-22\", 65535]\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.nqueues == 5 && c.queues[0] == 10 && c.queues[1] == 20 &&
	            c.queues[3] == 22 && c.queues[4] == 65535);
	FAIL_IF_NOT(c.threads == 5);
	FAIL_IF_NOT(load_text(&c,
	                      "general:\n  threads: 2\n"
	                      "capture:\n  nfqueue:\n    queues: 0-3\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.nqueues == 4 && c.threads == 2);
	FAIL_IF_NOT(load_text(&c, "capture:\n  nfqueue:\n    queues: '0-15'\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.nqueues == CONF_MAX_QUEUES && c.queues[15] == 15);
	FAIL_IF_NOT(load_text(&c, "capture:\n  nfqueue:\n    queues: 5-5\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.nqueues == 1 && c.queues[0] == 5);
	/* pcap: one thread unless given. */
	FAIL_IF_NOT(load_text(&c,
	                      "capture:\n  mode: pcap\n  nfqueue:\n"
	                      "    queues: 0-3\n",
	                      err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.threads == 1);

	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    queues: 0-16\n",
	                       "3:13: capture.nfqueue.queues: too many queues "
	                       "(at most 16)"));
	FAIL_IF_NOT(
	    load_fails("capture:\n  nfqueue:\n    queues: [0-9, 10-16]\n",
	               "3:19: capture.nfqueue.queues: too many queues "
	               "(at most 16)"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    queues: 3-1\n",
	                       "3:13: capture.nfqueue.queues: invalid queue "
	                       "range '3-1'"));
	FAIL_IF_NOT(
	    load_fails("capture:\n  nfqueue:\n    queues: 0-70000\n",
	               "3:13: capture.nfqueue.queues: value '70000' out "
	               "of range (0 to 65535)"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    queues: 1-\n",
	                       "3:13: capture.nfqueue.queues: missing value"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    queues: 1-2-3\n",
	                       "3:13: capture.nfqueue.queues: invalid number "
	                       "'2-3'"));
	FAIL_IF_NOT(load_fails("capture:\n  nfqueue:\n    queues: [1, 0-2]\n",
	                       "3:17: capture.nfqueue.queues: queue 1 listed "
	                       "twice"));
}

/* --- overrides -------------------------------------------------------- */

static void
test_set(void)
{
	struct conf c;

	conf_defaults(&c);
	/* general */
	FAIL_IF_NOT(set_ok(&c, "general:rules=/x.lua"));
	FAIL_IF_NOT(strcmp(c.rules, "/x.lua") == 0);
	FAIL_IF_NOT(set_ok(&c, "general:user=nobody"));
	FAIL_IF_NOT(set_ok(&c, "general:group=nogroup"));
	FAIL_IF_NOT(strcmp(c.user, "nobody") == 0);
	FAIL_IF_NOT(strcmp(c.group, "nogroup") == 0);
	FAIL_IF_NOT(set_ok(&c, "general:user="));
	FAIL_IF_NOT(c.user[0] == '\0');
	FAIL_IF_NOT(set_ok(&c, "general:pid_file=/tmp/h.pid"));
	FAIL_IF_NOT(strcmp(c.pid_file, "/tmp/h.pid") == 0);
	/* capture: threads follow the queues until given */
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.queues=0,1"));
	FAIL_IF_NOT(c.nqueues == 2 && c.queues[1] == 1 && c.threads == 2);
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.queues=4-7"));
	FAIL_IF_NOT(c.nqueues == 4 && c.queues[0] == 4 && c.threads == 4);
	FAIL_IF_NOT(set_ok(&c, "general:threads=3"));
	FAIL_IF_NOT(c.threads == 3 && c.threads_given);
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.queues=0"));
	FAIL_IF_NOT(c.nqueues == 1 && c.threads == 3);
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.iptables=manual"));
	FAIL_IF(c.install_iptables);
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.chain=INPUT"));
	FAIL_IF_NOT(strcmp(c.iptables_chain, "INPUT") == 0);
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.port=2525"));
	FAIL_IF_NOT(c.iptables_port == 2525);
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.fail=closed"));
	FAIL_IF(c.fail_open);
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.queue_length=100"));
	FAIL_IF_NOT(c.queue_maxlen == 100);
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.receive_buffer=1M"));
	FAIL_IF_NOT(c.rcvbuf == 1u << 20);
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.mark=0xbeef"));
	FAIL_IF_NOT(c.mark == 0xbeef);
	FAIL_IF_NOT(set_ok(&c, "capture:mode=pcap"));
	FAIL_IF_NOT(c.capture == CONF_CAPTURE_PCAP);
	FAIL_IF_NOT(set_ok(&c, "capture:pcap.interfaces=eth0,eth1"));
	FAIL_IF_NOT(c.nifaces == 2 && strcmp(c.ifaces[1], "eth1") == 0);
	FAIL_IF_NOT(set_ok(&c, "capture:pcap.interfaces="));
	FAIL_IF_NOT(c.nifaces == 0);
	FAIL_IF_NOT(set_ok(&c, "capture:pcap.file=in.pcap"));
	FAIL_IF_NOT(strcmp(c.pcap_file, "in.pcap") == 0);
	/* log */
	FAIL_IF_NOT(set_ok(&c, "log:level=debug"));
	FAIL_IF_NOT(strcmp(c.log_level, "debug") == 0);
	FAIL_IF_NOT(set_ok(&c, "log:level=warn, smtp=trace"));
	FAIL_IF_NOT(strcmp(c.log_level, "warn, smtp=trace") == 0);
	FAIL_IF_NOT(set_ok(&c, "log:output=syslog"));
	FAIL_IF_NOT(c.log_syslog);
	FAIL_IF_NOT(set_ok(&c, "log:output=/tmp/haka.log"));
	FAIL_IF_NOT(!c.log_syslog && strcmp(c.log_file, "/tmp/haka.log") == 0);
	FAIL_IF_NOT(set_ok(&c, "log:output=stdout"));
	FAIL_IF_NOT(!c.log_syslog && c.log_file[0] == '\0');
	/* alerts: N.KEY, N one past the end adds an output */
	FAIL_IF_NOT(set_ok(&c, "alerts:0.format=oneline"));
	FAIL_IF_NOT(c.nalerts == 1 && c.alerts[0].format == ALERT_FMT_ONELINE);
	FAIL_IF_NOT(set_ok(&c, "alerts:1.path=/tmp/a.json"));
	FAIL_IF_NOT(c.nalerts == 2);
	FAIL_IF_NOT(strcmp(c.alerts[1].path, "/tmp/a.json") == 0);
	FAIL_IF_NOT(c.alerts[1].format == ALERT_FMT_PRETTY);
	FAIL_IF_NOT(set_ok(&c, "alerts:1.format=json"));
	FAIL_IF_NOT(c.alerts[1].format == ALERT_FMT_JSON);
	FAIL_IF_NOT(set_ok(&c, "alerts:2.type=syslog"));
	FAIL_IF_NOT(c.nalerts == 3 && c.alerts[2].sink == CONF_ALERT_SYSLOG);
	/* control */
	FAIL_IF_NOT(set_ok(&c, "control:socket=/tmp/ctl.sock"));
	FAIL_IF_NOT(strcmp(c.ctl_socket, "/tmp/ctl.sock") == 0);
	FAIL_IF_NOT(set_ok(&c, "control:mode=0600"));
	FAIL_IF_NOT(c.ctl_mode == 0600);
	/* limits */
	FAIL_IF_NOT(set_ok(&c, "limits:lua_memory=32M"));
	FAIL_IF_NOT(c.lua_memory == 32ULL << 20);
	FAIL_IF_NOT(set_ok(&c, "limits:lua_instructions=0"));
	FAIL_IF_NOT(c.lua_instructions == 0);
	FAIL_IF_NOT(set_ok(&c, "limits:max_connections=10"));
	FAIL_IF_NOT(c.max_connections == 10);
	FAIL_IF_NOT(set_ok(&c, "limits:stream_memcap=2G"));
	FAIL_IF_NOT(c.stream_memcap == 2ULL << 30);
	FAIL_IF_NOT(set_ok(&c, "limits:stream_ooo_bytes=0"));
	FAIL_IF_NOT(c.stream_ooo_bytes == 0);
	FAIL_IF_NOT(set_ok(&c, "limits:defrag_memcap=1K"));
	FAIL_IF_NOT(c.defrag_memcap == 1024);
	FAIL_IF_NOT(set_ok(&c, "limits:tcp_timeout_established=100"));
	FAIL_IF_NOT(set_ok(&c, "limits:tcp_timeout_closing=5"));
	FAIL_IF_NOT(set_ok(&c, "limits:tcp_timeout_syn=6"));
	FAIL_IF_NOT(c.tcp_timeout_established == 100);
	FAIL_IF_NOT(c.tcp_timeout_closing == 5 && c.tcp_timeout_syn == 6);
	/* rules; a key alone means true */
	FAIL_IF_NOT(set_ok(&c, "rules:on_error=accept"));
	FAIL_IF(c.rule_error_drop);
	FAIL_IF_NOT(set_ok(&c, "rules:allow_io"));
	FAIL_IF_NOT(c.lua_allow_io);
	FAIL_IF_NOT(set_ok(&c, "rules:allow_debug=yes"));
	FAIL_IF_NOT(c.lua_allow_debug);
	FAIL_IF_NOT(set_ok(&c, "rules:allow_io=off"));
	FAIL_IF(c.lua_allow_io);
	FAIL_IF_NOT(set_ok(&c, "rules:midstream=pass"));
	FAIL_IF_NOT(c.midstream == MIDSTREAM_PASS);
	/* A value may hold '=' and ':' */
	FAIL_IF_NOT(set_ok(&c, "general:rules=/a:b=c.lua"));
	FAIL_IF_NOT(strcmp(c.rules, "/a:b=c.lua") == 0);
	/* pcap mode: threads given stay */
	FAIL_IF_NOT(c.threads == 3);
}

/* hakapcap --smtp-limit: KEY=VALUE applied to one section. */
static void
test_set_key(void)
{
	struct conf c;
	char err[1024] = "";

	conf_defaults(&c);
	FAIL_IF_NOT(conf_set_key(&c, "smtp", "max_line=8K", err, sizeof(err)) ==
	            HK_OK);
	FAIL_IF_NOT(c.smtp.max_line == 8192);
	FAIL_IF_NOT(conf_set_key(&c, "smtp", "command_line=1", err,
	                         sizeof(err)) == HK_OK);
	FAIL_IF_NOT(c.smtp.command_line == 1);
	FAIL_IF_NOT(conf_set_key(&c, "smtp", "max_line=511", err,
	                         sizeof(err)) == HK_ERR);
	FAIL_IF_NOT(strcmp(err, "max_line=511: value '511' out of range "
	                        "(512 to 1048576)") == 0);
	FAIL_IF_NOT(c.smtp.max_line == 8192); /* unchanged */
	FAIL_IF_NOT(conf_set_key(&c, "smtp", "max_line", err, sizeof(err)) ==
	            HK_ERR);
	FAIL_IF_NOT(strcmp(err, "max_line: expected KEY=VALUE") == 0);
	FAIL_IF_NOT(conf_set_key(&c, "smtp", "lines=3", err, sizeof(err)) ==
	            HK_ERR);
	FAIL_IF_NOT(strcmp(err, "lines=3: unknown key 'lines' in smtp") == 0);
}

static void
test_set_errors(void)
{
	struct conf c;

	conf_defaults(&c);
	FAIL_IF_NOT(set_fails(&c, "capture:nfqueue.fail=maybe",
	                      "--opt capture:nfqueue.fail=maybe: invalid value "
	                      "'maybe' (open or closed)"));
	FAIL_IF_NOT(set_fails(&c, "capture:nfqueue.queus=1",
	                      "--opt capture:nfqueue.queus=1: unknown key "
	                      "'queus' in capture.nfqueue"));
	FAIL_IF_NOT(set_fails(&c, "foo:bar=1",
	                      "--opt foo:bar=1: unknown section 'foo'"));
	FAIL_IF_NOT(set_fails(&c, "general",
	                      "--opt general: expected "
	                      "SECTION:KEY[=VALUE]"));
	FAIL_IF_NOT(set_fails(&c, ":rules=x",
	                      "--opt :rules=x: expected SECTION:KEY[=VALUE]"));
	FAIL_IF_NOT(set_fails(
	    &c, "general:", "--opt general:: expected SECTION:KEY[=VALUE]"));
	FAIL_IF_NOT(
	    set_fails(&c, "general:=x",
	              "--opt general:=x: expected SECTION:KEY[=VALUE]"));
	FAIL_IF_NOT(set_fails(&c, "capture:nfqueue=1",
	                      "--opt capture:nfqueue=1: capture.nfqueue is a "
	                      "group of keys, not a value"));
	FAIL_IF_NOT(set_fails(&c, "capture:mode.x=1",
	                      "--opt capture:mode.x=1: capture.mode has no "
	                      "sub-keys"));
	/* A key alone is "true", which a number is not. */
	FAIL_IF_NOT(set_fails(&c, "general:threads",
	                      "--opt general:threads: invalid number 'true'"));
	FAIL_IF_NOT(set_fails(&c, "general:threads=99",
	                      "--opt general:threads=99: value '99' out of "
	                      "range (1 to 16)"));
	FAIL_IF_NOT(set_fails(&c, "capture:nfqueue.queues=0-3,3",
	                      "--opt capture:nfqueue.queues=0-3,3: queue 3 "
	                      "listed twice"));
	FAIL_IF_NOT(set_fails(&c, "capture:nfqueue.queues=0,x",
	                      "--opt capture:nfqueue.queues=0,x: invalid "
	                      "number 'x'"));
	FAIL_IF_NOT(set_fails(&c, "capture:pcap.interfaces=eth0,,eth1",
	                      "--opt capture:pcap.interfaces=eth0,,eth1: empty "
	                      "item in the list"));
	FAIL_IF_NOT(set_fails(&c, "capture:mode=",
	                      "--opt capture:mode=: invalid value '' (nfqueue "
	                      "or pcap)"));
	FAIL_IF_NOT(set_fails(&c, "log:level=chatty",
	                      "--opt log:level=chatty: invalid logging level: "
	                      "chatty"));
	FAIL_IF_NOT(
	    set_fails(&c, "log:output=", "--opt log:output=: missing value"));
	FAIL_IF_NOT(set_fails(&c, "log:colour=yes",
	                      "--opt log:colour=yes: unknown key 'colour' in "
	                      "log"));
	FAIL_IF_NOT(set_fails(&c, "alerts:format=json",
	                      "--opt alerts:format=json: expected "
	                      "alerts:N.KEY=VALUE (N: the output, from 0)"));
	FAIL_IF_NOT(set_fails(&c, "alerts:2.format=json",
	                      "--opt alerts:2.format=json: no alert output 2 "
	                      "(1 defined, at most 8)"));
	FAIL_IF_NOT(set_fails(&c, "alerts:0.colour=red",
	                      "--opt alerts:0.colour=red: unknown key 'colour' "
	                      "in alerts[0]"));
	FAIL_IF_NOT(set_fails(&c, "alerts:1.format=xml",
	                      "--opt alerts:1.format=xml: invalid value 'xml' "
	                      "(pretty, oneline or json)"));
	FAIL_IF_NOT(c.nalerts == 1);
	FAIL_IF_NOT(set_fails(&c, "control:mode=0999",
	                      "--opt control:mode=0999: invalid number "
	                      "'0999'"));
	FAIL_IF_NOT(set_fails(&c, "limits:stream_memcap=99999999999G",
	                      "--opt limits:stream_memcap=99999999999G: value "
	                      "'99999999999G' is too large"));
	FAIL_IF_NOT(set_fails(&c, "limits:lua_memory=-1",
	                      "--opt limits:lua_memory=-1: negative number "
	                      "'-1'"));
	FAIL_IF_NOT(set_fails(&c, "rules:allow_io=maybe",
	                      "--opt rules:allow_io=maybe: invalid value "
	                      "'maybe' (yes, no, true, false, on or off)"));
	FAIL_IF_NOT(set_fails(&c, "rules:midstream=ignore",
	                      "--opt rules:midstream=ignore: invalid value "
	                      "'ignore' (accept, pass or drop)"));
	FAIL_IF_NOT(
	    set_fails(&c, "rules:on_error",
	              "--opt rules:on_error: invalid value 'true' (drop "
	              "or accept)"));
	FAIL_IF_NOT(set_fails(&c, "general:user=-root",
	                      "--opt general:user=-root: invalid name '-root' "
	                      "(letters, digits, '.', '_' and '-', not "
	                      "first)"));
	/* Control bytes of a bad value are not echoed. */
	FAIL_IF_NOT(set_fails(&c, "rules:midstream=\x1b[2J",
	                      "--opt rules:midstream=\x1b[2J: invalid value "
	                      "'?[2J' (accept, pass or drop)"));
}

/* --- the whole -------------------------------------------------------- */

static bool
check_fails(const struct conf *c, const char *expect)
{
	char err[1024] = "";

	if (conf_check(c, err, sizeof(err)) != HK_ERR) {
		fprintf(stderr, "  check passed, expected: %s\n", expect);
		return false;
	}
	if (strcmp(err, expect) != 0) {
		fprintf(stderr, "  got:      %s\n  expected: %s\n", err,
		        expect);
		return false;
	}
	return true;
}

static void
test_check(void)
{
	struct conf c;
	char err[1024] = "";

	conf_defaults(&c);
	FAIL_IF_NOT(check_fails(&c, "configuration: general.rules is not set "
	                            "(the rule file is required)"));
	FAIL_IF_NOT(set_ok(&c, "general:rules=r.lua"));
	FAIL_IF_NOT(conf_check(&c, err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.queues="));
	FAIL_IF_NOT(check_fails(&c, "configuration: capture mode nfqueue needs "
	                            "at least one queue "
	                            "(capture.nfqueue.queues)"));
	FAIL_IF_NOT(set_ok(&c, "capture:nfqueue.queues=1-2"));
	FAIL_IF_NOT(set_ok(&c, "general:threads=3"));
	FAIL_IF_NOT(check_fails(&c, "configuration: general.threads (3) is "
	                            "more than the nfqueue queues (2): one "
	                            "worker reads one queue"));
	FAIL_IF_NOT(set_ok(&c, "general:threads=2"));
	FAIL_IF_NOT(conf_check(&c, err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(set_ok(&c, "capture:mode=pcap"));
	FAIL_IF_NOT(check_fails(&c, "configuration: capture mode pcap needs "
	                            "capture.pcap.interfaces or "
	                            "capture.pcap.file"));
	FAIL_IF_NOT(set_ok(&c, "capture:pcap.file=x.pcap"));
	FAIL_IF_NOT(conf_check(&c, err, sizeof(err)) == HK_OK);
	FAIL_IF_NOT(set_ok(&c, "capture:pcap.interfaces=eth0"));
	FAIL_IF_NOT(check_fails(&c,
	                        "configuration: capture.pcap.interfaces "
	                        "and capture.pcap.file exclude each other"));
	FAIL_IF_NOT(set_ok(&c, "capture:pcap.file="));
	FAIL_IF_NOT(conf_check(&c, err, sizeof(err)) == HK_OK);

	/* A loaded file is named in the message. */
	FAIL_IF_NOT(load_text(&c, "log:\n  level: info\n", err, sizeof(err)) ==
	            HK_OK);
	FAIL_IF_NOT(conf_check(&c, err, sizeof(err)) == HK_ERR);
	FAIL_IF_NOT(strstr(err, "/haka.conf: general.rules is not set") !=
	            NULL);
}

int
main(void)
{
	char cwd[PATH_MAX];

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		perror("getcwd");
		return 1;
	}
	RUN_TEST(test_defaults);
	RUN_TEST(test_set_key);
	RUN_TEST(test_empty_file);
	RUN_TEST(test_full);
	RUN_TEST(test_spellings);
	RUN_TEST(test_haka_conf);
	RUN_TEST(test_haka_conf_examples);
	RUN_TEST(test_errors_structure);
	RUN_TEST(test_errors_syntax);
	RUN_TEST(test_errors_file);
	RUN_TEST(test_errors_values);
	RUN_TEST(test_sizes);
	RUN_TEST(test_queue_ranges);
	RUN_TEST(test_set);
	RUN_TEST(test_set_errors);
	RUN_TEST(test_check);
	/* test_relative_paths changes the directory: last. */
	RUN_TEST(test_relative_paths);
	if (chdir(cwd) != 0)
		perror("chdir");
	cleanup();
	UT_DONE();
}
