/*
 * haka: the daemon (HAKA.md section d). Reads haka.conf, opens the capture
 * (NFQUEUE inline, or libpcap passive), starts one worker thread per queue
 * (each with its own engine and its own Lua VM: nothing shared), serves the
 * control socket, and handles the signals: SIGTERM/SIGINT stop after every
 * held packet got its verdict, SIGHUP reopens the log and alert files and
 * reloads the rules without cutting connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <grp.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <haka/alert.h>
#include <haka/version.h>
#include <haka/capture.h>
#include <haka/conf.h>
#include <haka/ctl.h>
#include <haka/engine.h>
#include <haka/log.h>
#include <haka/lvm.h>
#include <haka/nfq.h>

#include "proto/smtp/smtp.h"

#define HAKA_DEFAULT_CONFIG "/etc/haka/haka.conf"

struct daemon;

struct worker {
	int index;
	pthread_t thread;
	struct daemon *d;
	struct engine *eng;
	struct lvm *vm;
	struct nfq_source *nfq;
	pcap_t *live;
	struct pcap_source *file;
	int reload_gen;
	/* published for hakactl, under d->lock */
	struct engine_stats stats;
	uint32_t flows;
	size_t lua_mem;
	uint64_t smtp_mem;
	struct nfq_stats nstats;
	bool running;
};

struct daemon {
	struct conf conf;
	struct worker workers[CONF_MAX_QUEUES];
	int nworkers;
	struct raw_injector *raw;
	struct ctl_server *ctl;
	pthread_mutex_t lock;
	atomic_bool stop;
	atomic_bool failed;
	atomic_int reload_gen;
	atomic_int running;
	time_t started;
	bool iptables;
	bool daemonized;
	FILE *logfp;
	char ctl_path[CONF_PATH_MAX];
	char pid_path[CONF_PATH_MAX];
};

static struct daemon D = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void
usage(FILE *fp)
{
	fprintf(
	    fp,
	    "Usage: haka [options]\n"
	    "Options:\n"
	    "\t-h,--help:               Display this information\n"
	    "\t--version:               Display version information\n"
	    "\t-c,--config <conf>:      Load a specific configuration file\n"
	    "\t                           (default: %s)\n"
	    "\t-r,--rule <rule>:        Override the rule configuration file\n"
	    "\t-d,--debug:              Display debug output\n"
	    "\t--opt <section>:<key>[=<value>]:\n"
	    "\t                          Override configuration parameter\n"
	    "\t-l,--loglevel <level>:    Set the log level\n"
	    "\t                            (debug, info, warning, error or "
	    "fatal)\n"
	    "\t--dump-dissector-graph:   Dump dissector internals (grammar "
	    "and state machine) in file <name>.dot\n"
	    "\t--no-daemon:              Do no run in the background\n"
	    "\t--pid-file <pid-file>     Full path to pid file\n"
	    "\t                            (default: /var/run/haka.pid)\n"
	    "\t--ctl-file <ctl-file>     Full path to socket control file\n"
	    "\t                            (default: /var/run/haka-ctl.sock)\n",
	    HAKA_DEFAULT_CONFIG);
}

/* --- engines and VMs ---------------------------------------------------------
 */

static void
engine_conf_from(const struct conf *c, struct engine_conf *ec)
{
	engine_conf_defaults(ec);
	ec->pass_through = c->capture == CONF_CAPTURE_PCAP;
	/* The kernel checked what it received; GSO packets have none yet. */
	ec->tcp_verify_checksum = false;
	ec->rule_error =
	    c->rule_error_drop ? RULE_ERROR_DROP : RULE_ERROR_ACCEPT;
	ec->midstream = c->midstream;
	ec->max_flows = c->max_connections;
	ec->stream.memcap = c->stream_memcap;
	ec->stream.max_ooo_bytes = c->stream_ooo_bytes;
	ec->defrag.memcap = c->defrag_memcap;
	ec->tcp_timeout_est = c->tcp_timeout_established;
	ec->tcp_timeout_closing = c->tcp_timeout_closing;
	ec->tcp_timeout_syn = c->tcp_timeout_syn;
}

/* The rules of worker 'thread' (0 for the scratch check). */
static struct lvm *
load_vm(const struct conf *c, struct engine *eng, int thread)
{
	struct lvm_conf lc = {0};
	struct lvm *vm;

	lc.mem_limit = (size_t)c->lua_memory;
	lc.instr_limit = c->lua_instructions;
	lc.allow_io = c->lua_allow_io;
	lc.allow_debug = c->lua_allow_debug;
	lc.thread = thread;
	vm = lvm_new(&lc, eng);
	if (vm == NULL)
		return NULL;
	if (lvm_load_rules(vm, c->rules) != HK_OK) {
		lvm_free(vm);
		return NULL;
	}
	return vm;
}

/*
 * Load the rules in a scratch engine: the daemon refuses to start, and a
 * reload keeps the old rules, when the file has an error.
 */
static int
check_rules(const struct conf *c)
{
	struct engine_conf ec;
	struct engine *e;
	struct lvm *vm;

	engine_conf_from(c, &ec);
	e = engine_new(&ec, NULL);
	if (e == NULL)
		return HK_ERR;
	vm = load_vm(c, e, 0);
	if (vm != NULL)
		lvm_free(vm);
	engine_free(e);
	return vm != NULL ? HK_OK : HK_ERR;
}

/* --- workers
 * ------------------------------------------------------------------- */

static void
w_verdict(void *arg, struct packet *pkt, bool accept)
{
	struct worker *w = arg;

	if (w->nfq != NULL)
		nfq_source_verdict(w->nfq, pkt, accept);
}

static void
w_inject(void *arg, struct packet *pkt)
{
	struct worker *w = arg;

	if (w->d->raw != NULL)
		raw_injector_send(w->d->raw, pkt);
}

static void
w_packet(void *arg, struct packet *pkt)
{
	struct worker *w = arg;

	engine_process(w->eng, pkt);
}

static void
live_packet(u_char *arg, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct worker *w = (struct worker *)arg;
	struct packet *pkt = packet_new(h->caplen);

	if (pkt == NULL)
		return;
	memcpy(pkt->data, bytes, h->caplen);
	pkt->wirelen = h->len;
	pkt->ts.sec = h->ts.tv_sec;
	pkt->ts.nsec = (int32_t)h->ts.tv_usec * 1000;
	pkt->linktype = (uint32_t)pcap_datalink(w->live);
	link_decode(pkt);
	engine_process(w->eng, pkt);
}

static void
publish(struct worker *w)
{
	pthread_mutex_lock(&w->d->lock);
	w->stats = *engine_stats(w->eng);
	w->flows = engine_flow_count(w->eng);
	w->lua_mem = w->vm != NULL ? lvm_memory(w->vm) : 0;
	w->smtp_mem = smtp_memory(); /* this worker's thread */
	if (w->nfq != NULL)
		w->nstats = *nfq_source_stats(w->nfq);
	pthread_mutex_unlock(&w->d->lock);
}

static void
now_realtime(struct hk_time *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	t->sec = ts.tv_sec;
	t->nsec = (int32_t)ts.tv_nsec;
}

static void
worker_reload(struct worker *w)
{
	struct lvm *vm = load_vm(&w->d->conf, w->eng, w->index), *old = w->vm;

	if (vm == NULL) {
		hk_log(LOG_ERROR, "core",
		       "thread %d: rule reload failed, keeping the old rules",
		       w->index);
		return;
	}
	engine_replace_lvm(w->eng, vm);
	w->vm = vm;
	lvm_free(old);
	hk_log(LOG_INFO, "core", "thread %d: rules reloaded", w->index);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct daemon *d = w->d;
	struct engine_conf ec;
	struct engine_output out = {w_verdict, w_inject, w};
	struct pollfd pfd = {-1, POLLIN, 0};
	struct hk_time now;
	struct packet *pkt;
	int n;

	engine_conf_from(&d->conf, &ec);
	w->eng = engine_new(&ec, &out);
	if (w->eng != NULL)
		w->vm = load_vm(&d->conf, w->eng, w->index);
	if (w->vm == NULL) {
		hk_log(LOG_FATAL, "core", "thread %d: cannot start", w->index);
		atomic_store(&d->failed, true);
		atomic_store(&d->stop, true);
		goto out;
	}
	engine_set_lvm(w->eng, w->vm);
	w->reload_gen = atomic_load(&d->reload_gen);
	if (w->index == 0)
		lvm_rule_summary(w->vm);
	/* Each worker's Lua state hears its own start and exit. */
	if (lvm_has_rules(w->vm, EV_STARTED) &&
	    lvm_event_simple(w->vm, EV_STARTED) != HK_OK)
		engine_rule_failed(w->eng);
	if (w->nfq != NULL)
		pfd.fd = nfq_source_fd(w->nfq);
	else if (w->live != NULL)
		pfd.fd = pcap_get_selectable_fd(w->live);
	while (!atomic_load(&d->stop)) {
		if (w->reload_gen != atomic_load(&d->reload_gen)) {
			w->reload_gen = atomic_load(&d->reload_gen);
			worker_reload(w);
		}
		if (w->file != NULL) {
			/* A capture file: replayed as fast as it can be read.
			 */
			for (n = 0; n < 256; n++) {
				if (pcap_source_next(w->file, &pkt) == HK_AGAIN)
					goto out;
				if (pkt != NULL)
					engine_process(w->eng, pkt);
			}
			publish(w);
			continue;
		}
		n = poll(&pfd, 1, 100);
		if (n > 0 && w->nfq != NULL) {
			if (nfq_source_read(w->nfq, w_packet, w) == HK_ERR) {
				hk_log(LOG_ERROR, "capture",
				       "thread %d: the queue failed", w->index);
				break;
			}
		} else if (n > 0 && w->live != NULL) {
			pcap_dispatch(w->live, 256, live_packet, (u_char *)w);
		}
		now_realtime(&now);
		engine_tick(w->eng, &now);
		publish(w);
	}
out:
	if (w->vm != NULL && lvm_has_rules(w->vm, EV_EXITING) &&
	    lvm_event_simple(w->vm, EV_EXITING) != HK_OK)
		engine_rule_failed(w->eng);
	if (w->eng != NULL) {
		/*
		 * Every held packet gets its verdict before the queue goes:
		 * accepted when failing open, dropped when failing closed.
		 */
		engine_shutdown(w->eng,
		                !d->conf.fail_open &&
		                    d->conf.capture == CONF_CAPTURE_NFQUEUE);
		publish(w);
	}
	if (w->vm != NULL)
		lvm_free(w->vm);
	engine_free(w->eng);
	w->vm = NULL;
	w->eng = NULL;
	packet_pool_flush();
	stream_pool_flush();
	gparser_pool_flush();
	atomic_fetch_sub(&d->running, 1);
	return NULL;
}

/* --- control socket
 * ----------------------------------------------------------- */

/* Counts the workers published (not engine_stats), summed. */
struct totals {
	uint64_t flows, lua, smtp;
};

static void
sum_stats(struct daemon *d, struct engine_stats *s, struct totals *t,
          struct nfq_stats *ns)
{
	int i;

	memset(s, 0, sizeof(*s));
	memset(ns, 0, sizeof(*ns));
	memset(t, 0, sizeof(*t));
	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->nworkers; i++) {
		const struct worker *w = &d->workers[i];
		const uint64_t *a = (const uint64_t *)&w->stats;
		uint64_t *b = (uint64_t *)s;
		size_t k;

		for (k = 0; k < sizeof(*s) / sizeof(uint64_t); k++)
			b[k] += a[k];
		a = (const uint64_t *)&w->nstats;
		b = (uint64_t *)ns;
		for (k = 0; k < sizeof(*ns) / sizeof(uint64_t); k++)
			b[k] += a[k];
		t->flows += w->flows;
		t->lua += w->lua_mem;
		t->smtp += w->smtp_mem;
	}
	pthread_mutex_unlock(&d->lock);
}

static long
rss_kb(void)
{
	FILE *fp = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (fp == NULL)
		return 0;
	if (fscanf(fp, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(fp);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int
op_status(void *arg, FILE *out)
{
	struct daemon *d = arg;
	struct engine_stats s;
	struct nfq_stats ns;
	struct totals t;

	sum_stats(d, &s, &t, &ns);
	fprintf(out,
	        "uptime %lld s\nthreads %d\ncapture %s\npackets %llu\n"
	        "connections %llu\nalerts %llu\ndrops %llu\n"
	        "memory rss %ld kB, lua %llu kB, smtp %llu kB\n",
	        (long long)(time(NULL) - d->started), d->nworkers,
	        d->conf.capture == CONF_CAPTURE_NFQUEUE ? "nfqueue (inline)"
	                                                : "pcap (passive)",
	        (unsigned long long)s.packets, (unsigned long long)t.flows,
	        (unsigned long long)alert_count(),
	        (unsigned long long)s.dropped, rss_kb(),
	        (unsigned long long)(t.lua / 1024),
	        (unsigned long long)(t.smtp / 1024));
	return HK_OK;
}

static int
op_stats(void *arg, FILE *out)
{
	struct daemon *d = arg;
	struct engine_stats s;
	struct nfq_stats ns;
	struct totals t;
	int i;

	sum_stats(d, &s, &t, &ns);
#define P(name, v) fprintf(out, "%s %llu\n", name, (unsigned long long)(v))
	P("packets", s.packets);
	P("bytes", s.bytes);
	P("ipv4", s.ipv4);
	P("non_ipv4", s.non_ipv4);
	P("ipv6", s.ipv6);
	P("fragments", s.fragments);
	P("reassembled", s.reassembled);
	P("tcp", s.tcp);
	P("accepted", s.accepted);
	P("dropped", s.dropped);
	P("forged", s.forged);
	P("connections_total", s.flows);
	P("connections_open", t.flows);
	P("connections_dropped", s.flows_dropped);
	P("connections_reset", s.flows_reset);
	P("midstream", s.midstream);
	P("rule_errors", s.rule_errors);
	P("alerts", alert_count());
	P("queue_received", ns.received);
	P("queue_accepted", ns.accepted);
	P("queue_dropped", ns.dropped);
	P("queue_enobufs", ns.enobufs);
	P("queue_verdict_errors", ns.verdict_errors);
	P("queue_gso", ns.gso);
	P("lua_memory", t.lua);
	P("smtp_memory", t.smtp);
	P("smtp_memcap", d->conf.smtp.memcap);
	P("rss_kb", (uint64_t)rss_kb());
	for (i = 0; i < ANOM_COUNT; i++)
		fprintf(out, "anomaly.%s %llu\n", anomaly_name(i),
		        (unsigned long long)anomaly_get(i));
#undef P
	return HK_OK;
}

static int
request_reload(struct daemon *d, FILE *out)
{
	if (check_rules(&d->conf) != HK_OK) {
		hk_log(LOG_ERROR, "core",
		       "reload: the rule file '%s' has an "
		       "error, keeping the old rules",
		       d->conf.rules);
		if (out != NULL)
			fprintf(out,
			        "the rule file '%s' has an error (see the "
			        "log): the old rules keep running\n",
			        d->conf.rules);
		return HK_ERR;
	}
	atomic_fetch_add(&d->reload_gen, 1);
	if (out != NULL)
		fprintf(out, "reloading '%s' in %d thread(s)\n", d->conf.rules,
		        d->nworkers);
	return HK_OK;
}

static int
op_reload(void *arg, FILE *out)
{
	return request_reload(arg, out);
}

static int
op_loglevel(void *arg, const char *level, FILE *out)
{
	char err[256];

	(void)arg;
	if (level == NULL ||
	    log_set_level_spec(level, err, sizeof(err)) != HK_OK) {
		fprintf(out, "%s\n", level == NULL ? "missing level" : err);
		return HK_ERR;
	}
	fprintf(out, "log level set to %s\n", level);
	return HK_OK;
}

static int
op_stop(void *arg, FILE *out)
{
	struct daemon *d = arg;

	atomic_store(&d->stop, true);
	kill(getpid(), SIGTERM); /* wakes the main thread */
	fprintf(out, "stopping\n");
	return HK_OK;
}

/* --- process
 * ------------------------------------------------------------------ */

static int
check_pid_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	long pid = 0;

	if (fp == NULL)
		return HK_OK;
	if (fscanf(fp, "%ld", &pid) != 1)
		pid = 0;
	fclose(fp);
	if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
		fprintf(stderr,
		        "haka: already running (pid %ld, pid file %s)\n", pid,
		        path);
		return HK_ERR;
	}
	return HK_OK;
}

static int
write_pid_file(const char *path)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return HK_ERR;
	fprintf(fp, "%ld\n", (long)getpid());
	return fclose(fp) == 0 ? HK_OK : HK_ERR;
}

/* Keep CAP_NET_ADMIN and CAP_NET_RAW (permitted and effective) only. */
static int
keep_net_caps(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	uint32_t keep = (1u << CAP_NET_ADMIN) | (1u << CAP_NET_RAW);

	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = data[0].inheritable = keep;
	if (syscall(SYS_capset, &h, data) != 0)
		return -1;
	/*
	 * Ambient too: the iptables command run at stop to remove the
	 * rules needs them (it has no file capabilities of its own).
	 */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0) !=
	        0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0) != 0)
		return -1;
	return 0;
}

static int
drop_privileges(const struct conf *c, char *err, size_t errlen)
{
	struct passwd *pw;
	struct group *gr;
	gid_t gid;

	if (c->user[0] == '\0')
		return HK_OK;
	pw = getpwnam(c->user);
	if (pw == NULL) {
		snprintf(err, errlen, "unknown user '%s'", c->user);
		return HK_ERR;
	}
	gid = pw->pw_gid;
	if (c->group[0] != '\0') {
		gr = getgrnam(c->group);
		if (gr == NULL) {
			snprintf(err, errlen, "unknown group '%s'", c->group);
			return HK_ERR;
		}
		gid = gr->gr_gid;
	}
	/*
	 * The queue's verdicts need CAP_NET_ADMIN on every message, and
	 * the raw socket CAP_NET_RAW: those two are kept, nothing else.
	 */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 ||
	    setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0 ||
	    keep_net_caps() != 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, errlen, "cannot drop privileges to %s: %m",
		         c->user);
		return HK_ERR;
	}
	return HK_OK;
}

/*
 * The files haka creates as root (pid file, control socket) usually live
 * in a directory only root may write, so the daemon cannot remove them
 * once it dropped its privileges. Before the drop, a small child stays
 * root for that one job: it closes everything but the read end of a
 * pipe, ignores the stop signals, waits for EOF (the daemon closed the
 * write end at stop, or died, however), and removes each file if it is
 * still the one created (same device and inode: never a newer instance's
 * file). At a normal stop the daemon waits for it, so that the files are
 * gone when haka exits. Only async-signal-safe calls in the child: the
 * control thread runs at the fork.
 */
struct cleaner {
	pid_t pid;
	int fd; /* write end; -1: none */
};

struct cleaner_file {
	const char *path;
	dev_t dev;
	ino_t ino;
	bool ok;
};

static void
cleaner_file_at(struct cleaner_file *f, const char *path)
{
	struct stat st;

	f->path = path;
	f->ok = path[0] != '\0' && lstat(path, &st) == 0;
	if (f->ok) {
		f->dev = st.st_dev;
		f->ino = st.st_ino;
	}
}

static _Noreturn void
cleaner_main(int rfd, const struct cleaner_file *files, int nfiles)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE};
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct caps[2];
	struct sigaction sa;
	struct stat st;
	sigset_t none;
	char buf[64];
	ssize_t n;
	int i, fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	for (i = 0; i < (int)(sizeof(sigs) / sizeof(sigs[0])); i++)
		(void)sigaction(sigs[i], &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)prctl(PR_SET_NAME, "haka-cleanup", 0, 0, 0);
	/* Only the pipe stays open: no capture, socket or terminal. */
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
	}
	if (rfd > STDERR_FILENO + 1)
		(void)close_range(STDERR_FILENO + 1, (unsigned)rfd - 1, 0);
	(void)close_range((unsigned)rfd + 1, ~0u, 0);
	/*
	 * Root's own files in root's directories need no capability;
	 * CAP_DAC_OVERRIDE covers a directory of another owner.
	 */
	memset(caps, 0, sizeof(caps));
	caps[0].effective = caps[0].permitted = 1u << CAP_DAC_OVERRIDE;
	(void)syscall(SYS_capset, &h, caps);
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	do
		n = read(rfd, buf, sizeof(buf));
	while (n > 0 || (n < 0 && errno == EINTR));
	for (i = 0; i < nfiles; i++)
		if (files[i].ok && lstat(files[i].path, &st) == 0 &&
		    st.st_dev == files[i].dev && st.st_ino == files[i].ino)
			(void)unlink(files[i].path);
	_exit(0);
}

/* Starts the cleaner for d's pid file and control socket (see above). */
static void
cleaner_start(struct daemon *d, struct cleaner *c)
{
	struct cleaner_file files[2];
	int fds[2];
	pid_t pid;

	c->pid = -1;
	c->fd = -1;
	cleaner_file_at(&files[0], d->pid_path);
	cleaner_file_at(&files[1], d->ctl_path);
	if (!files[0].ok && !files[1].ok)
		return;
	if (pipe2(fds, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
		hk_log(LOG_WARNING, "core",
		       "cannot start the cleanup process (%m): the pid file "
		       "and the control socket will stay after haka stops");
		return;
	}
	if (pid == 0)
		cleaner_main(fds[0], files, 2);
	close(fds[0]);
	c->pid = pid;
	c->fd = fds[1];
	ctl_server_keep_file(d->ctl);
}

/* At stop: the cleaner removes the files; wait until it did. */
static void
cleaner_finish(struct cleaner *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int
setup_outputs(struct daemon *d)
{
	const struct conf *c = &d->conf;
	uint32_t i;
	FILE *fp;

	if (c->log_syslog) {
		log_set_output(log_syslog_stream(LOG_SYSLOG_LOG));
	} else if (c->log_file[0] != '\0') {
		d->logfp = fopen(c->log_file, "a");
		if (d->logfp == NULL) {
			fprintf(stderr, "haka: cannot open log file %s: %m\n",
			        c->log_file);
			return HK_ERR;
		}
		setvbuf(d->logfp, NULL, _IOLBF, 0);
		log_set_output(d->logfp);
	}
	for (i = 0; i < c->nalerts; i++) {
		const struct conf_alert_output *o = &c->alerts[i];

		if (o->sink == CONF_ALERT_SYSLOG) {
			fp = log_syslog_stream(LOG_SYSLOG_ALERTS);
			if (fp == NULL ||
			    alert_add_output(fp, ALERT_FMT_ONELINE, true) !=
			        HK_OK)
				return HK_ERR;
		} else if (strcmp(o->path, "-") == 0) {
			/* Standard output only in the foreground. */
			if (!d->daemonized)
				alert_add_output(stdout, o->format, false);
		} else if (alert_add_file(o->path, o->format) != HK_OK) {
			fprintf(stderr, "haka: cannot open alert file %s: %m\n",
			        o->path);
			return HK_ERR;
		}
	}
	return HK_OK;
}

static void
reopen_files(struct daemon *d)
{
	if (d->logfp != NULL) {
		FILE *fp = fopen(d->conf.log_file, "a");

		/*
		 * The old stream stays open (a worker may be writing to it):
		 * one FILE per rotation is the price of no lock on the log.
		 */
		if (fp == NULL) {
			hk_log(LOG_ERROR, "core", "cannot reopen %s: %m",
			       d->conf.log_file);
		} else {
			setvbuf(fp, NULL, _IOLBF, 0);
			log_set_output(fp);
			d->logfp = fp;
		}
	}
	if (alert_reopen() != HK_OK)
		hk_log(LOG_ERROR, "core", "cannot reopen an alert file");
}

static int
open_capture(struct daemon *d, char *err, size_t errlen)
{
	struct conf *c = &d->conf;
	uint32_t i;

	if (c->capture == CONF_CAPTURE_PCAP) {
		hk_log(
		    LOG_WARNING, "core",
		    "passive capture (pcap): alerts only, drop and reset have "
		    "no effect");
		if (c->pcap_file[0] != '\0') {
			char *files[1] = {c->pcap_file};

			d->workers[0].file =
			    pcap_source_open(files, 1, err, errlen);
			if (d->workers[0].file == NULL)
				return HK_ERR;
			d->nworkers = 1;
			hk_log(LOG_INFO, "capture", "opening file '%s'",
			       c->pcap_file);
			return HK_OK;
		}
		for (i = 0; i < c->nifaces; i++) {
			char perr[PCAP_ERRBUF_SIZE];
			pcap_t *p = pcap_create(c->ifaces[i], perr);

			if (p == NULL || pcap_set_snaplen(p, 65535) != 0 ||
			    pcap_set_promisc(p, 1) != 0 ||
			    pcap_set_timeout(p, 100) != 0 ||
			    pcap_set_immediate_mode(p, 1) != 0 ||
			    pcap_activate(p) < 0 ||
			    pcap_setnonblock(p, 1, perr) != 0) {
				snprintf(err, errlen,
				         "cannot capture on %s: %s",
				         c->ifaces[i],
				         p != NULL ? pcap_geterr(p) : perr);
				if (p != NULL)
					pcap_close(p);
				return HK_ERR;
			}
			if (link_check(pcap_datalink(p), perr, sizeof(perr)) !=
			    HK_OK) {
				snprintf(err, errlen,
				         "cannot capture on %s: %s",
				         c->ifaces[i], perr);
				pcap_close(p);
				return HK_ERR;
			}
			d->workers[i].live = p;
			hk_log(LOG_INFO, "capture", "capturing on '%s'",
			       c->ifaces[i]);
		}
		d->nworkers = (int)c->nifaces;
		return HK_OK;
	}
	for (i = 0; i < c->nqueues; i++) {
		struct nfq_conf nc = {c->queues[i], c->queue_maxlen, c->rcvbuf,
		                      c->fail_open, c->mark};

		d->workers[i].nfq = nfq_source_open(&nc, err, errlen);
		if (d->workers[i].nfq == NULL)
			return HK_ERR;
		hk_log(LOG_INFO, "capture", "bound to NFQUEUE %u",
		       c->queues[i]);
	}
	/* The queues listen before any packet is sent to them. */
	if (c->install_iptables) {
		if (nfq_iptables(true, c->iptables_chain, c->queues, c->nqueues,
		                 c->iptables_port, c->fail_open, c->mark, err,
		                 errlen) != HK_OK)
			return HK_ERR;
		d->iptables = true;
	}
	d->nworkers = (int)c->nqueues;
	d->raw = raw_injector_open(c->mark, err, errlen);
	return d->raw != NULL ? HK_OK : HK_ERR;
}

static void
close_capture(struct daemon *d)
{
	struct conf *c = &d->conf;
	char err[512];
	int i;

	for (i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];

		if (w->nfq != NULL)
			nfq_source_close(w->nfq);
		if (w->live != NULL)
			pcap_close(w->live);
		if (w->file != NULL)
			pcap_source_close(w->file);
	}
	if (d->raw != NULL)
		raw_injector_close(d->raw);
	if (d->iptables &&
	    nfq_iptables(false, c->iptables_chain, c->queues, c->nqueues,
	                 c->iptables_port, c->fail_open, c->mark, err,
	                 sizeof(err)) != HK_OK)
		hk_log(LOG_WARNING, "core",
		       "cannot remove the iptables rules: "
		       "%s",
		       err);
}

/* Fork; the parent exits when the child is ready (or failed). */
static int
daemonize(int *ready_fd)
{
	int fds[2];
	pid_t pid;
	char c;

	if (pipe(fds) != 0)
		return HK_ERR;
	pid = fork();
	if (pid < 0)
		return HK_ERR;
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &c, 1) != 1)
			_exit(1);
		_exit(c == '0' ? 0 : 1);
	}
	close(fds[0]);
	*ready_fd = fds[1];
	if (setsid() < 0)
		return HK_ERR;
	if (chdir("/") != 0)
		return HK_ERR;
	return HK_OK;
}

static void
redirect_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

enum {
	OPT_VERSION = 256,
	OPT_NO_DAEMON,
	OPT_PID,
	OPT_CTL,
	OPT_OPT,
	OPT_GRAPH,
};

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"config", required_argument, NULL, 'c'},
	    {"rule", required_argument, NULL, 'r'},
	    {"debug", no_argument, NULL, 'd'},
	    {"loglevel", required_argument, NULL, 'l'},
	    {"no-daemon", no_argument, NULL, OPT_NO_DAEMON},
	    {"pid-file", required_argument, NULL, OPT_PID},
	    {"ctl-file", required_argument, NULL, OPT_CTL},
	    {"opt", required_argument, NULL, OPT_OPT},
	    {"dump-dissector-graph", no_argument, NULL, OPT_GRAPH},
	    {NULL, 0, NULL, 0}};
	struct daemon *d = &D;
	const char *config = HAKA_DEFAULT_CONFIG, *rule = NULL, *level = NULL;
	const char *pid_file = NULL, *ctl_file = NULL;
	const char *overrides[64];
	int noverrides = 0, c, i, ready_fd = -1, rc = 0;
	struct cleaner cleaner = {-1, -1};
	bool foreground = false, debug = false, graph = false;
	struct ctl_ops ops = {op_status,   op_stats, op_reload,
	                      op_loglevel, op_stop,  d};
	sigset_t sigs;
	char err[1024];

	/*
	 * The log goes to standard output by default (log.output), and so
	 * may the alerts: line by line, so that a pipe (systemd's journal, a
	 * redirection in the foreground) gets each line when it is written,
	 * not at exit.
	 */
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "hc:r:dl:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			hk_print_version(stdout);
			return 0;
		case 'c':
			config = optarg;
			break;
		case 'r':
			rule = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'l':
			level = optarg;
			break;
		case OPT_NO_DAEMON:
			foreground = true;
			break;
		case OPT_PID:
			pid_file = optarg;
			break;
		case OPT_CTL:
			ctl_file = optarg;
			break;
		case OPT_OPT:
			if (noverrides == (int)HK_ARRAY_SIZE(overrides)) {
				fprintf(stderr, "haka: too many --opt\n");
				return 2;
			}
			overrides[noverrides++] = optarg;
			break;
		case OPT_GRAPH:
			graph = true;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	/* Configuration: file, then --opt, then the command line. */
	conf_defaults(&d->conf);
	if (conf_load(&d->conf, config, err, sizeof(err)) != HK_OK) {
		fprintf(stderr, "haka: %s\n", err);
		return 1;
	}
	for (i = 0; i < noverrides; i++) {
		if (conf_set(&d->conf, overrides[i], err, sizeof(err)) !=
		    HK_OK) {
			fprintf(stderr, "haka: %s\n", err);
			return 1;
		}
	}
	if (rule != NULL)
		snprintf(d->conf.rules, sizeof(d->conf.rules), "%s", rule);
	{
		/* The daemon changes to /: the rule file by its full path. */
		char full[PATH_MAX];

		if (d->conf.rules[0] != '\0' &&
		    realpath(d->conf.rules, full) != NULL &&
		    strlen(full) < sizeof(d->conf.rules))
			memcpy(d->conf.rules, full, strlen(full) + 1);
	}
	if (pid_file != NULL)
		snprintf(d->conf.pid_file, sizeof(d->conf.pid_file), "%s",
		         pid_file);
	if (ctl_file != NULL)
		snprintf(d->conf.ctl_socket, sizeof(d->conf.ctl_socket), "%s",
		         ctl_file);
	if (conf_check(&d->conf, err, sizeof(err)) != HK_OK) {
		fprintf(stderr, "haka: %s\n", err); /* err names the file */
		return 1;
	}
	if (log_set_level_spec(debug           ? "debug"
	                       : level != NULL ? level
	                                       : d->conf.log_level,
	                       err, sizeof(err)) != HK_OK) {
		fprintf(stderr, "haka: %s\n", err);
		return 1;
	}
	if (check_pid_file(d->conf.pid_file) != HK_OK)
		return 5;

	err[0] = '\0';
	smtp_set_limits(&d->conf.smtp);
	if (smtp_init(err, sizeof(err)) != HK_OK) {
		fprintf(stderr, "haka: %s\n", err);
		return 1;
	}
	if (graph && smtp_dump_graphs(".", err, sizeof(err)) != HK_OK) {
		fprintf(stderr, "haka: %s\n", err);
		return 1;
	}
	hk_log(LOG_INFO, "core", "loading rule file '%s'", d->conf.rules);
	if (check_rules(&d->conf) != HK_OK) {
		fprintf(stderr, "haka: cannot load rule file '%s'\n",
		        d->conf.rules);
		return 1;
	}
	if (!foreground) {
		if (daemonize(&ready_fd) != HK_OK) {
			fprintf(stderr, "haka: cannot daemonize: %m\n");
			return 1;
		}
		d->daemonized = true;
	}
	if (setup_outputs(d) != HK_OK)
		goto fail;
	signal(SIGPIPE, SIG_IGN);
	if (open_capture(d, err, sizeof(err)) != HK_OK) {
		hk_log(LOG_FATAL, "capture", "%s", err); /* also on stderr */
		close_capture(d);
		goto fail;
	}
	/* Same size, NUL-terminated by the configuration. */
	memcpy(d->ctl_path, d->conf.ctl_socket, sizeof(d->ctl_path));
	d->ctl = ctl_server_start(d->ctl_path, d->conf.ctl_mode, &ops, err,
	                          sizeof(err));
	if (d->ctl == NULL) {
		hk_log(LOG_FATAL, "core", "%s", err);
		close_capture(d);
		goto fail;
	}
	memcpy(d->pid_path, d->conf.pid_file, sizeof(d->pid_path));
	if (write_pid_file(d->pid_path) != HK_OK)
		hk_log(LOG_WARNING, "core", "cannot write pid file %s: %m",
		       d->pid_path);
	/* Every privileged handle is open: drop what is left. */
	if (d->conf.user[0] != '\0')
		cleaner_start(d, &cleaner);
	if (drop_privileges(&d->conf, err, sizeof(err)) != HK_OK) {
		hk_log(LOG_FATAL, "core", "%s", err);
		ctl_server_stop(d->ctl);
		close_capture(d);
		unlink(d->pid_path);
		cleaner_finish(&cleaner);
		goto fail;
	}

	/* Signals go to the main thread only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	d->started = time(NULL);
	hk_log(LOG_INFO, "core", "starting %d thread(s)\n", d->nworkers);
	for (i = 0; i < d->nworkers; i++) {
		d->workers[i].index = i;
		d->workers[i].d = d;
		atomic_fetch_add(&d->running, 1);
		if (pthread_create(&d->workers[i].thread, NULL, worker_main,
		                   &d->workers[i]) != 0) {
			atomic_fetch_sub(&d->running, 1);
			hk_log(LOG_FATAL, "core", "cannot start thread %d", i);
			atomic_store(&d->stop, true);
			d->nworkers = i;
			break;
		}
	}
	if (ready_fd >= 0) {
		if (write(ready_fd, "0", 1) != 1)
			rc = 1;
		close(ready_fd);
		ready_fd = -1;
		redirect_stdio();
	}

	while (!atomic_load(&d->stop) && atomic_load(&d->running) > 0) {
		struct timespec t = {0, 200000000};
		int sig = sigtimedwait(&sigs, NULL, &t);

		if (sig == SIGTERM || sig == SIGINT) {
			hk_log(LOG_INFO, "core", "signal %d: stopping", sig);
			atomic_store(&d->stop, true);
		} else if (sig == SIGHUP) {
			hk_log(LOG_INFO, "core",
			       "SIGHUP: reopening files, "
			       "reloading the rules");
			reopen_files(d);
			request_reload(d, NULL);
		}
	}
	atomic_store(&d->stop, true);
	for (i = 0; i < d->nworkers; i++)
		pthread_join(d->workers[i].thread, NULL);
	ctl_server_stop(d->ctl);
	close_capture(d);
	if (cleaner.fd < 0)
		unlink(d->pid_path);
	cleaner_finish(&cleaner);
	hk_log(LOG_INFO, "core", "stopping haka");
	if (atomic_load(&d->failed))
		rc = 1;
	alert_clear_outputs();
	smtp_cleanup();
	fflush(stdout);
	return rc;
fail:
	if (ready_fd >= 0) {
		if (write(ready_fd, "1", 1) != 1)
			rc = 1;
		close(ready_fd);
	}
	return 1;
}
