/*
 * Unit tests of src/ctl/ctl.c: a control server with fake operations on a
 * socket in a private temporary directory, driven by ctl_request() and by
 * raw clients that misbehave (silent, too long, gone early); then the
 * hakactl binary itself, when found (argv[1], $HAKACTL, or ../hakactl
 * next to this test's directory), against the same kind of server.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <haka/ctl.h>
#include <haka/types.h>

#include "unittest.h"

static char tmpdir[64];
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static const char *hakactl_bin;

/* What the fake operations were asked, read by the tests. */
static struct {
	pthread_mutex_t lock;
	int status, stats, reload, loglevel, stop;
	char level[64];
	int reload_fails;  /* 1: message, 2: no message */
	size_t stats_size; /* bytes of the stats reply, 0: short */
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void
fake_reset(void)
{
	pthread_mutex_lock(&fake.lock);
	fake.status = fake.stats = fake.reload = fake.loglevel = fake.stop = 0;
	fake.level[0] = '\0';
	fake.reload_fails = 0;
	fake.stats_size = 0;
	pthread_mutex_unlock(&fake.lock);
}

static int
fake_count(const int *counter)
{
	int n;

	pthread_mutex_lock(&fake.lock);
	n = *counter;
	pthread_mutex_unlock(&fake.lock);
	return n;
}

static int
fake_status(void *arg, FILE *out)
{
	pthread_mutex_lock(&fake.lock);
	fake.status++;
	pthread_mutex_unlock(&fake.lock);
	fprintf(out, "running\nthreads 2\n");
	return HK_OK;
}

static int
fake_stats(void *arg, FILE *out)
{
	size_t size;

	pthread_mutex_lock(&fake.lock);
	fake.stats++;
	size = fake.stats_size;
	pthread_mutex_unlock(&fake.lock);
	if (size == 0)
		fprintf(out, "packets 42\n");
	for (size_t i = 0; i < size; i++)
		fputc(i % 64 == 63 ? '\n' : 'x', out);
	return HK_OK;
}

static int
fake_reload(void *arg, FILE *out)
{
	int fails;

	pthread_mutex_lock(&fake.lock);
	fake.reload++;
	fails = fake.reload_fails;
	pthread_mutex_unlock(&fake.lock);
	if (fails == 1) {
		fprintf(out, "reload failed: rules.lua:3: syntax error\n");
		return HK_ERR;
	}
	if (fails == 2)
		return HK_ERR;
	fprintf(out, "rules reloaded\n");
	return HK_OK;
}

static int
fake_loglevel(void *arg, const char *level, FILE *out)
{
	pthread_mutex_lock(&fake.lock);
	fake.loglevel++;
	snprintf(fake.level, sizeof(fake.level), "%s", level);
	pthread_mutex_unlock(&fake.lock);
	if (strcmp(level, "bogus") == 0) {
		fprintf(out, "invalid log level 'bogus'\n");
		return HK_ERR;
	}
	return HK_OK; /* an empty OK reply */
}

static int
fake_stop(void *arg, FILE *out)
{
	pthread_mutex_lock(&fake.lock);
	fake.stop++;
	pthread_mutex_unlock(&fake.lock);
	fprintf(out, "stopping\n");
	return HK_OK;
}

static const struct ctl_ops fake_ops = {
    .status = fake_status,
    .stats = fake_stats,
    .reload = fake_reload,
    .loglevel = fake_loglevel,
    .stop = fake_stop,
};

static struct ctl_server *
start(unsigned mode)
{
	char err[256];
	struct ctl_server *s;

	fake_reset();
	s = ctl_server_start(sock_path, mode, &fake_ops, err, sizeof(err));
	if (s == NULL)
		fprintf(stderr, "ctl_server_start: %s\n", err);
	return s;
}

/*
 * One ctl_request; the reply text (malloc'ed, NUL-terminated) in *text
 * and the error message in err.
 */
static int
req(const char *request, char **text, char *err, size_t errlen)
{
	size_t len = 0;
	FILE *out;
	int rc;

	*text = NULL;
	out = open_memstream(text, &len);
	if (out == NULL)
		return -2;
	err[0] = '\0';
	rc = ctl_request(sock_path, request, out, err, errlen);
	if (fclose(out) != 0)
		return -2;
	return rc;
}

/* 0 (OK) with exactly want as the text. */
static int
req_is(const char *request, int want_rc, const char *want)
{
	char err[256], *text;
	int rc = req(request, &text, err, sizeof(err));
	int ok = rc == want_rc && text != NULL && strcmp(text, want) == 0;

	if (!ok)
		fprintf(stderr, "'%s': rc %d text '%s' err '%s'\n", request, rc,
		        text != NULL ? text : "(null)", err);
	free(text);
	return ok;
}

static int
raw_connect(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read until EOF (or reset after data), 5 s at most; -1 on failure. */
static ssize_t
raw_read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len + 1 < cap) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 5000) <= 0)
			return -1;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == ECONNRESET && len > 0)
			break;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
test_commands(void)
{
	struct ctl_server *s = start(0600);

	FAIL_IF(s == NULL);
	FAIL_IF_NOT(req_is("status", 0, "running\nthreads 2\n"));
	FAIL_IF_NOT(fake_count(&fake.status) == 1);
	FAIL_IF_NOT(req_is("stats", 0, "packets 42\n"));
	FAIL_IF_NOT(fake_count(&fake.stats) == 1);
	FAIL_IF_NOT(req_is("reload", 0, "rules reloaded\n"));
	FAIL_IF_NOT(fake_count(&fake.reload) == 1);
	FAIL_IF_NOT(req_is("stop", 0, "stopping\n"));
	FAIL_IF_NOT(fake_count(&fake.stop) == 1);
	FAIL_IF_NOT(fake_count(&fake.status) == 1);
	FAIL_IF_NOT(fake_count(&fake.loglevel) == 0);
	ctl_server_stop(s);
}

static void
test_loglevel(void)
{
	struct ctl_server *s = start(0600);
	char level[64];

	FAIL_IF(s == NULL);
	FAIL_IF_NOT(req_is("loglevel warn,tcp=debug", 0, ""));
	pthread_mutex_lock(&fake.lock);
	snprintf(level, sizeof(level), "%s", fake.level);
	pthread_mutex_unlock(&fake.lock);
	FAIL_IF_NOT(strcmp(level, "warn,tcp=debug") == 0);
	FAIL_IF_NOT(req_is("loglevel bogus", 1, "invalid log level 'bogus'\n"));
	FAIL_IF_NOT(fake_count(&fake.loglevel) == 2);
	FAIL_IF_NOT(req_is("loglevel", 1, "usage: loglevel LEVEL\n"));
	FAIL_IF_NOT(req_is("loglevel ", 1, "usage: loglevel LEVEL\n"));
	FAIL_IF_NOT(fake_count(&fake.loglevel) == 2);
	ctl_server_stop(s);
}

static void
test_unknown(void)
{
	struct ctl_server *s = start(0600);

	FAIL_IF(s == NULL);
	FAIL_IF_NOT(req_is("frobnicate", 1, "unknown command 'frobnicate'\n"));
	FAIL_IF_NOT(req_is("STATUS", 1, "unknown command 'STATUS'\n"));
	FAIL_IF_NOT(
	    req_is("status now", 1, "command 'status' takes no argument\n"));
	FAIL_IF_NOT(req_is("", 1, "empty request\n"));
	FAIL_IF_NOT(req_is("\x01\x7f", 1, "unknown command '?\?'\n"));
	FAIL_IF_NOT(fake_count(&fake.status) == 0);
	ctl_server_stop(s);
}

static void
test_op_error(void)
{
	struct ctl_server *s = start(0600);

	FAIL_IF(s == NULL);
	pthread_mutex_lock(&fake.lock);
	fake.reload_fails = 1;
	pthread_mutex_unlock(&fake.lock);
	FAIL_IF_NOT(
	    req_is("reload", 1, "reload failed: rules.lua:3: syntax error\n"));
	pthread_mutex_lock(&fake.lock);
	fake.reload_fails = 2;
	pthread_mutex_unlock(&fake.lock);
	FAIL_IF_NOT(req_is("reload", 1, "command failed\n"));
	FAIL_IF_NOT(fake_count(&fake.reload) == 2);
	ctl_server_stop(s);
}

/* An op that lacks is an unknown command. */
static void
test_missing_op(void)
{
	struct ctl_ops ops = fake_ops;
	struct ctl_server *s;
	char err[256];

	ops.reload = NULL;
	s = ctl_server_start(sock_path, 0600, &ops, err, sizeof(err));
	FAIL_IF(s == NULL);
	FAIL_IF_NOT(req_is("reload", 1, "unknown command 'reload'\n"));
	FAIL_IF_NOT(req_is("stats", 0, "packets 42\n"));
	ctl_server_stop(s);
}

static void
test_second_server(void)
{
	struct ctl_server *s = start(0600), *s2;
	char err[256];

	FAIL_IF(s == NULL);
	s2 = ctl_server_start(sock_path, 0600, &fake_ops, err, sizeof(err));
	if (s2 != NULL)
		ctl_server_stop(s2);
	FAIL_IF(s2 != NULL);
	FAIL_IF_NOT(strstr(err, "another haka is running") != NULL);
	FAIL_IF_NOT(strstr(err, sock_path) != NULL);
	/* The first one still owns the file and answers. */
	FAIL_IF_NOT(access(sock_path, F_OK) == 0);
	FAIL_IF_NOT(req_is("status", 0, "running\nthreads 2\n"));
	ctl_server_stop(s);
	FAIL_IF_NOT(access(sock_path, F_OK) != 0);
}

static void
test_stale_socket(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct ctl_server *s;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	/* A socket file nobody listens on: what a killed daemon leaves. */
	FAIL_IF(fd < 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	FAIL_IF(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0);
	close(fd);
	FAIL_IF_NOT(access(sock_path, F_OK) == 0);
	s = start(0600);
	FAIL_IF(s == NULL);
	FAIL_IF_NOT(req_is("status", 0, "running\nthreads 2\n"));
	ctl_server_stop(s);
	FAIL_IF_NOT(access(sock_path, F_OK) != 0);
}

static void
test_not_a_socket(void)
{
	struct ctl_server *s;
	struct stat st;
	char err[256];
	int fd = open(sock_path, O_WRONLY | O_CREAT | O_EXCL, 0600);

	FAIL_IF(fd < 0);
	FAIL_IF(write(fd, "data", 4) != 4);
	close(fd);
	s = ctl_server_start(sock_path, 0600, &fake_ops, err, sizeof(err));
	if (s != NULL)
		ctl_server_stop(s);
	FAIL_IF(s != NULL);
	FAIL_IF_NOT(strstr(err, "not a socket") != NULL);
	FAIL_IF(stat(sock_path, &st) != 0);
	FAIL_IF_NOT(S_ISREG(st.st_mode) && st.st_size == 4);
	FAIL_IF(unlink(sock_path) != 0);
}

static void
test_mode(void)
{
	static const unsigned modes[] = {0600, 0660, 0666, 0640};

	for (size_t i = 0; i < HK_ARRAY_SIZE(modes); i++) {
		struct ctl_server *s = start(modes[i]);
		struct stat st;

		FAIL_IF(s == NULL);
		if (lstat(sock_path, &st) != 0) {
			ctl_server_stop(s);
			FAIL_IF(1);
		}
		ctl_server_stop(s);
		FAIL_IF_NOT(S_ISSOCK(st.st_mode));
		FAIL_IF_NOT((st.st_mode & 07777) == modes[i]);
	}
}

static void
test_path_too_long(void)
{
	char path[200], err[256];
	struct ctl_server *s;

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	s = ctl_server_start(path, 0600, &fake_ops, err, sizeof(err));
	FAIL_IF(s != NULL);
	FAIL_IF_NOT(strstr(err, "too long") != NULL);
	FAIL_IF_NOT(ctl_request(path, "status", stdout, err, sizeof(err)) ==
	            -1);
	FAIL_IF_NOT(strstr(err, "too long") != NULL);
}

/* A client that connects and says nothing delays others by 2 s at most. */
static void
test_silent_client(void)
{
	struct ctl_server *s = start(0600);
	char buf[256];
	double t0, dt;
	int fd, ok;

	FAIL_IF(s == NULL);
	fd = raw_connect();
	FAIL_IF(fd < 0);
	usleep(100000); /* let the server pick it up first */
	t0 = now_s();
	ok = req_is("status", 0, "running\nthreads 2\n");
	dt = now_s() - t0;
	FAIL_IF_NOT(raw_read_all(fd, buf, sizeof(buf)) > 0);
	close(fd);
	ctl_server_stop(s);
	FAIL_IF_NOT(ok);
	FAIL_IF_NOT(dt < 3.0);
	FAIL_IF_NOT(strcmp(buf, "ERROR timeout waiting for the request\n") ==
	            0);
}

/* Nor does one that trickles bytes without a newline. */
static void
test_trickling_client(void)
{
	struct ctl_server *s = start(0600);
	double t0;
	int fd, ok = 1;

	FAIL_IF(s == NULL);
	fd = raw_connect();
	FAIL_IF(fd < 0);
	t0 = now_s();
	for (int i = 0; i < 25 && ok; i++) {
		if (send(fd, "s", 1, MSG_NOSIGNAL) != 1)
			break; /* the server gave up on us: fine */
		usleep(100000);
	}
	close(fd);
	ok = req_is("status", 0, "running\nthreads 2\n");
	ctl_server_stop(s);
	FAIL_IF_NOT(ok);
	FAIL_IF_NOT(now_s() - t0 < 3.5);
}

static void
test_early_disconnect(void)
{
	struct ctl_server *s = start(0600);
	int fd;

	FAIL_IF(s == NULL);
	/* Gone before the request. */
	fd = raw_connect();
	FAIL_IF(fd < 0);
	close(fd);
	/* Gone before a reply larger than the socket buffers. */
	pthread_mutex_lock(&fake.lock);
	fake.stats_size = 4 << 20;
	pthread_mutex_unlock(&fake.lock);
	for (int i = 0; i < 3; i++) {
		fd = raw_connect();
		FAIL_IF(fd < 0);
		FAIL_IF(send(fd, "stats\n", 6, MSG_NOSIGNAL) != 6);
		usleep(50000);
		close(fd);
	}
	/* Gone right after sending. */
	fd = raw_connect();
	FAIL_IF(fd < 0);
	FAIL_IF(send(fd, "status\n", 7, MSG_NOSIGNAL) != 7);
	close(fd);
	FAIL_IF_NOT(req_is("status", 0, "running\nthreads 2\n"));
	ctl_server_stop(s);
}

/* A large reply arrives whole. */
static void
test_large_reply(void)
{
	struct ctl_server *s = start(0600);
	char err[256], *text;
	int rc;

	FAIL_IF(s == NULL);
	pthread_mutex_lock(&fake.lock);
	fake.stats_size = 3 << 20;
	pthread_mutex_unlock(&fake.lock);
	rc = req("stats", &text, err, sizeof(err));
	ctl_server_stop(s);
	FAIL_IF_NOT(rc == 0);
	FAIL_IF_NOT(text != NULL && strlen(text) == 3 << 20);
	free(text);
}

static void
test_long_request(void)
{
	struct ctl_server *s = start(0600);
	char big[2001], buf[256], echo[128], err[256];
	ssize_t n;
	int fd;

	FAIL_IF(s == NULL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fd = raw_connect();
	FAIL_IF(fd < 0);
	FAIL_IF(send(fd, big, 2000, MSG_NOSIGNAL) != 2000);
	n = raw_read_all(fd, buf, sizeof(buf));
	close(fd);
	FAIL_IF_NOT(n > 0);
	FAIL_IF_NOT(
	    strcmp(buf, "ERROR request too long (more than 1023 bytes)\n") ==
	    0);
	/* The client refuses to send one. */
	FAIL_IF_NOT(ctl_request(sock_path, big, stdout, err, sizeof(err)) ==
	            -1);
	FAIL_IF_NOT(strstr(err, "invalid request") != NULL);
	FAIL_IF_NOT(ctl_request(sock_path, "status\nstop", stdout, err,
	                        sizeof(err)) == -1);
	/* 1023 bytes is the longest line; its echo is cut. */
	big[1023] = '\0';
	snprintf(echo, sizeof(echo), "unknown command '%.64s...'\n", big);
	FAIL_IF_NOT(req_is(big, 1, echo));
	FAIL_IF_NOT(req_is("status", 0, "running\nthreads 2\n"));
	ctl_server_stop(s);
}

static void
test_stop_removes(void)
{
	struct ctl_server *s = start(0600);
	char err[256], *text;

	FAIL_IF(s == NULL);
	FAIL_IF_NOT(access(sock_path, F_OK) == 0);
	ctl_server_stop(s);
	FAIL_IF_NOT(access(sock_path, F_OK) != 0 && errno == ENOENT);
	FAIL_IF_NOT(req("status", &text, err, sizeof(err)) == -1);
	free(text);
	FAIL_IF_NOT(strstr(err, "cannot connect to haka control socket") !=
	            NULL);
	FAIL_IF_NOT(strstr(err, "(is haka running?)") != NULL);
	ctl_server_stop(NULL);
}

/* After ctl_server_keep_file, stop leaves the file (to the cleaner). */
static void
test_stop_keeps(void)
{
	struct ctl_server *s = start(0600);

	FAIL_IF(s == NULL);
	ctl_server_keep_file(s);
	ctl_server_stop(s);
	FAIL_IF_NOT(access(sock_path, F_OK) == 0);
	FAIL_IF_NOT(unlink(sock_path) == 0);
	ctl_server_keep_file(NULL);
}

/*
 * Only root and the daemon's user are served, even on a 0666 socket.
 * Needs root, to run a client as another user.
 */
static void
test_peer_credentials(void)
{
	struct ctl_server *s;
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "skip test_peer_credentials (not root)\n");
		return;
	}
	FAIL_IF(chmod(tmpdir, 0711) != 0);
	s = start(0666);
	FAIL_IF(s == NULL);
	pid = fork();
	if (pid == 0) {
		char err[256], buf[256];
		FILE *out = fmemopen(buf, sizeof(buf), "w");
		int rc;

		if (out == NULL || setgroups(0, NULL) != 0 ||
		    setresgid(65534, 65534, 65534) != 0 ||
		    setresuid(65534, 65534, 65534) != 0)
			_exit(3);
		rc = ctl_request(sock_path, "stop", out, err, sizeof(err));
		if (fclose(out) != 0)
			_exit(3);
		_exit(rc == 1 && strcmp(buf, "permission denied\n") == 0 ? 0
		                                                         : 4);
	}
	if (pid < 0) {
		ctl_server_stop(s);
		FAIL_IF(1);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ctl_server_stop(s);
	FAIL_IF(chmod(tmpdir, 0700) != 0);
	FAIL_IF_NOT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	FAIL_IF_NOT(fake_count(&fake.stop) == 0);
}

/*
 * Run hakactl with args and, if env is not NULL, HAKA_CTL_FILE=env; its
 * stdout and stderr in malloc'ed strings. Returns the exit status or -1.
 */
static int
run_hakactl(const char *const *args, const char *env, char **out, char **err)
{
	char opath[192], epath[192];
	char *argv[16];
	int status, n = 0;
	pid_t pid;

	snprintf(opath, sizeof(opath), "%s/out", tmpdir);
	snprintf(epath, sizeof(epath), "%s/err", tmpdir);
	argv[n++] = (char *)hakactl_bin;
	for (; *args != NULL && n < 15; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int ofd = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int efd = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (ofd < 0 || efd < 0 || dup2(ofd, 1) < 0 || dup2(efd, 2) < 0)
			_exit(127);
		if (env != NULL)
			setenv("HAKA_CTL_FILE", env, 1);
		else
			unsetenv("HAKA_CTL_FILE");
		execv(hakactl_bin, argv);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	for (int i = 0; i < 2; i++) {
		FILE *fp = fopen(i == 0 ? opath : epath, "r");
		char **dst = i == 0 ? out : err;
		size_t len;

		*dst = NULL;
		if (fp == NULL)
			return -1;
		*dst = calloc(1, 65536);
		len = *dst != NULL ? fread(*dst, 1, 65535, fp) : 0;
		fclose(fp);
		if (*dst == NULL)
			return -1;
		(*dst)[len] = '\0';
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Exit status and, when not NULL, what stdout and stderr must contain. */
static int
hakactl_is(const char *const *args, const char *env, int want,
           const char *want_out, const char *want_err)
{
	char *out = NULL, *err = NULL;
	int rc = run_hakactl(args, env, &out, &err);
	int ok = rc == want && out != NULL && err != NULL &&
	         (want_out == NULL || strcmp(out, want_out) == 0) &&
	         (want_err == NULL || strstr(err, want_err) != NULL);

	if (!ok)
		fprintf(stderr,
		        "hakactl %s: exit %d, stdout '%s' stderr '%s'\n",
		        args[0] != NULL ? args[0] : "", rc, out ? out : "",
		        err ? err : "");
	free(out);
	free(err);
	return ok;
}

static void
test_hakactl(void)
{
	char missing[192];
	struct ctl_server *s;
	int ok = 1;

	/* The build always makes hakactl next to the tests' directory. */
	if (hakactl_bin == NULL || access(hakactl_bin, X_OK) != 0)
		fprintf(stderr, "no hakactl binary (%s)\n",
		        hakactl_bin != NULL ? hakactl_bin : "not found");
	FAIL_IF(hakactl_bin == NULL || access(hakactl_bin, X_OK) != 0);
	snprintf(missing, sizeof(missing), "%s/none.sock", tmpdir);
	ok &= hakactl_is((const char *[]){"--version", NULL}, NULL, 0, NULL,
	                 NULL);
	ok &= hakactl_is((const char *[]){"-h", NULL}, NULL, 0, NULL, NULL);
	ok &= hakactl_is((const char *[]){NULL}, NULL, 2, "", "Usage");
	ok &= hakactl_is((const char *[]){"frob", NULL}, NULL, 2, "",
	                 "unknown command 'frob'");
	ok &= hakactl_is((const char *[]){"loglevel", NULL}, NULL, 2, "", NULL);
	ok &= hakactl_is((const char *[]){"status", "x", NULL}, NULL, 2, "",
	                 NULL);
	ok &= hakactl_is((const char *[]){"--bogus", "status", NULL}, NULL, 2,
	                 "", NULL);
	ok &=
	    hakactl_is((const char *[]){"--ctl-file", missing, "status", NULL},
	               NULL, 1, "", "(is haka running?)");
	FAIL_IF_NOT(ok);

	s = start(0600);
	FAIL_IF(s == NULL);
	ok &= hakactl_is(
	    (const char *[]){"--ctl-file", sock_path, "status", NULL}, NULL, 0,
	    "running\nthreads 2\n", NULL);
	ok &= hakactl_is((const char *[]){"status", NULL}, sock_path, 0,
	                 "running\nthreads 2\n", NULL);
	/* --ctl-file wins over the environment. */
	ok &= hakactl_is(
	    (const char *[]){"-d", "--ctl-file", sock_path, "stats", NULL},
	    missing, 0, "packets 42\n", "debug");
	ok &= hakactl_is((const char *[]){"loglevel", "debug", NULL}, sock_path,
	                 0, "", NULL);
	ok &= hakactl_is((const char *[]){"loglevel", "bogus", NULL}, sock_path,
	                 1, "", "hakactl: invalid log level 'bogus'\n");
	pthread_mutex_lock(&fake.lock);
	fake.reload_fails = 1;
	pthread_mutex_unlock(&fake.lock);
	ok &= hakactl_is((const char *[]){"reload", NULL}, sock_path, 1, "",
	                 "reload failed: rules.lua:3: syntax error");
	ok &= hakactl_is((const char *[]){"stop", NULL}, sock_path, 0,
	                 "stopping\n", NULL);
	ctl_server_stop(s);
	FAIL_IF_NOT(ok);
	FAIL_IF_NOT(fake_count(&fake.stop) == 1);
}

/* hakactl: argv[1], $HAKACTL, or <dir of this binary>/../hakactl. */
static void
find_hakactl(int argc, char **argv)
{
	static char path[4096];
	ssize_t n;
	char *slash;

	if (argc > 1) {
		hakactl_bin = argv[1];
		return;
	}
	hakactl_bin = getenv("HAKACTL");
	if (hakactl_bin != NULL)
		return;
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0)
		return;
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (slash == NULL ||
	    (size_t)(slash - path) + sizeof("/../hakactl") > sizeof(path))
		return;
	memcpy(slash, "/../hakactl", sizeof("/../hakactl"));
	hakactl_bin = path;
}

int
main(int argc, char **argv)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ctl_test.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/haka-ctl.sock", tmpdir);
	find_hakactl(argc, argv);

	RUN_TEST(test_commands);
	RUN_TEST(test_loglevel);
	RUN_TEST(test_unknown);
	RUN_TEST(test_op_error);
	RUN_TEST(test_missing_op);
	RUN_TEST(test_second_server);
	RUN_TEST(test_stale_socket);
	RUN_TEST(test_not_a_socket);
	RUN_TEST(test_mode);
	RUN_TEST(test_path_too_long);
	RUN_TEST(test_silent_client);
	RUN_TEST(test_trickling_client);
	RUN_TEST(test_early_disconnect);
	RUN_TEST(test_large_reply);
	RUN_TEST(test_long_request);
	RUN_TEST(test_stop_removes);
	RUN_TEST(test_stop_keeps);
	RUN_TEST(test_peer_credentials);
	RUN_TEST(test_hakactl);

	(void)unlink(sock_path);
	for (int i = 0; i < 2; i++) {
		char p[192];

		snprintf(p, sizeof(p), "%s/%s", tmpdir, i == 0 ? "out" : "err");
		(void)unlink(p);
	}
	if (rmdir(tmpdir) != 0)
		perror("rmdir");
	UT_DONE();
}
