/*
 * The control socket (include/haka/ctl.h): the server half runs in a
 * thread of the daemon haka, the client half is used by hakactl.
 *
 * Wire format, one request per connection:
 *
 *   client:  "COMMAND [ARGUMENT]\n"          (at most CTL_LINE_MAX bytes)
 *   server:  "OK\n" TEXT                     then close
 *            "ERROR " MESSAGE "\n" [TEXT]    then close
 *
 * The server serves one connection at a time. Every wait on a client is
 * bounded (CTL_REQ_TIMEOUT_MS to receive the request line, the same for
 * each send of the reply), so a silent or stalled client delays the others
 * by a couple of seconds at most and cannot block ctl_server_stop() for
 * longer. Only root and the daemon's own user may issue commands, whatever
 * the mode of the socket file (SO_PEERCRED).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <haka/ctl.h>
#include <haka/log.h>
#include <haka/types.h>

#define CTL_LINE_MAX         1024 /* request line, newline included */
#define CTL_BACKLOG          8
#define CTL_REQ_TIMEOUT_MS   2000  /* server: request line, each reply send */
#define CTL_REPLY_TIMEOUT_MS 10000 /* client: whole reply, in ms */
#define CTL_REPLY_MAX        (64u << 20) /* client: larger replies refused */
#define CTL_ECHO_MAX         64 /* bytes of an unknown command echoed */

struct ctl_server {
	int fd;      /* listening socket */
	int wake[2]; /* self-pipe: ctl_server_stop() writes wake[1] */
	pthread_t thread;
	struct ctl_ops ops;
	uid_t uid; /* besides root, the only user served */
	dev_t dev; /* the socket file we created, so that stop */
	ino_t ino; /* never unlinks another daemon's socket */
	bool keep; /* ctl_server_keep_file: stop leaves the file */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int64_t
ctl_now_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux. */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Fill sun with path. Returns HK_OK, or HK_ERR with a message in err when
 * the path does not fit in sun_path (the kernel would truncate it).
 */
static int
ctl_sockaddr(const char *path, struct sockaddr_un *sun, char *err,
             size_t errlen)
{
	size_t len = strlen(path);

	if (len == 0) {
		snprintf(err, errlen, "empty control socket path");
		return HK_ERR;
	}
	if (len >= sizeof(sun->sun_path)) {
		snprintf(
		    err, errlen,
		    "control socket path too long (%zu bytes, at most %zu): "
		    "%s",
		    len, sizeof(sun->sun_path) - 1, path);
		return HK_ERR;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len + 1);
	return HK_OK;
}

static int
ctl_set_timeout(int fd, int opt, int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

/*
 * Send all of buf. MSG_NOSIGNAL: a peer that went away is an EPIPE here,
 * never a SIGPIPE that would kill the daemon. Blocking sends are bounded
 * by the socket's SO_SNDTIMEO. Returns HK_OK or HK_ERR (errno set).
 */
static int
ctl_send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return HK_ERR;
		}
		buf += n;
		len -= (size_t)n;
	}
	return HK_OK;
}

/* ---------------------------------------------------------------- server */

enum ctl_rd {
	CTL_RD_LINE,    /* a line is in buf, NUL-terminated, no newline */
	CTL_RD_TOOLONG, /* CTL_LINE_MAX bytes without a newline */
	CTL_RD_TIMEOUT, /* the client said nothing in time */
	CTL_RD_GONE,    /* closed without a request, error, or stopping */
};

/*
 * Read the request line of client fd into buf (CTL_LINE_MAX bytes) within
 * CTL_REQ_TIMEOUT_MS in total, so that a client sending one byte at a time
 * cannot hold the server either. A last line without newline before EOF
 * counts as a line. Bytes after the newline are ignored.
 */
static enum ctl_rd
ctl_read_request(struct ctl_server *s, int fd, char *buf)
{
	int64_t deadline = ctl_now_ms() + CTL_REQ_TIMEOUT_MS;
	size_t len = 0;

	for (;;) {
		struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN},
		                        {.fd = s->wake[0], .events = POLLIN}};
		int64_t left = deadline - ctl_now_ms();
		char *nl;
		ssize_t n;
		int rc;

		if (left <= 0)
			return CTL_RD_TIMEOUT;
		rc = poll(pfd, 2, (int)left);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return CTL_RD_GONE;
		}
		if (rc == 0)
			return CTL_RD_TIMEOUT;
		if (pfd[1].revents != 0)
			return CTL_RD_GONE;
		n = recv(fd, buf + len, CTL_LINE_MAX - len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return CTL_RD_GONE;
		}
		if (n == 0) {
			if (len == 0)
				return CTL_RD_GONE;
			break;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		if (nl != NULL) {
			len = (size_t)(nl - buf);
			break;
		}
		len += (size_t)n;
		if (len == CTL_LINE_MAX)
			return CTL_RD_TOOLONG;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return CTL_RD_LINE;
}

/*
 * Write "ERROR " and the message of a failed command (the text the op
 * wrote, or a generic one), made to end with a newline.
 */
static void
ctl_reply_error(int fd, const char *text, size_t len)
{
	static const char generic[] = "command failed\n";

	if (len == 0) {
		text = generic;
		len = sizeof(generic) - 1;
	}
	if (ctl_send_all(fd, "ERROR ", 6) != HK_OK ||
	    ctl_send_all(fd, text, len) != HK_OK)
		goto gone;
	if (text[len - 1] != '\n' && ctl_send_all(fd, "\n", 1) != HK_OK)
		goto gone;
	return;
gone:
	hk_log(LOG_DEBUG, "ctl", "client left before the reply: %s",
	       strerror(errno));
}

/* Reply with a message of our own (not from an op). */
static void ctl_reply_errorf(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
ctl_reply_errorf(int fd, const char *fmt, ...)
{
	char msg[CTL_LINE_MAX + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	ctl_reply_error(fd, msg, (size_t)n);
}

/*
 * Copy an untrusted command word for an error message: at most
 * CTL_ECHO_MAX bytes, control and non-ASCII bytes shown as '?'.
 */
static void
ctl_echo(const char *word, char *out, size_t outlen)
{
	size_t i, n = strlen(word);

	if (n > CTL_ECHO_MAX)
		n = CTL_ECHO_MAX;
	if (n > outlen - 4)
		n = outlen - 4;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)word[i];

		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (word[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

/*
 * Run one command line and send the reply. The op writes into a memory
 * stream, so the reply is complete before anything is sent and the op
 * never blocks on a slow client.
 */
static void
ctl_dispatch(struct ctl_server *s, int fd, char *line)
{
	const struct ctl_ops *ops = &s->ops;
	char *arg, *text = NULL, echo[CTL_ECHO_MAX + 4];
	size_t len = 0;
	FILE *out;
	int rc;
	enum { C_STATUS, C_STATS, C_RELOAD, C_LOGLEVEL, C_STOP } cmd;

	arg = strchr(line, ' ');
	if (arg != NULL) {
		*arg++ = '\0';
		while (*arg == ' ')
			arg++;
		if (*arg == '\0')
			arg = NULL;
	}
	if (line[0] == '\0') {
		ctl_reply_errorf(fd, "empty request");
		return;
	}
	if (strcmp(line, "status") == 0 && ops->status != NULL)
		cmd = C_STATUS;
	else if (strcmp(line, "stats") == 0 && ops->stats != NULL)
		cmd = C_STATS;
	else if (strcmp(line, "reload") == 0 && ops->reload != NULL)
		cmd = C_RELOAD;
	else if (strcmp(line, "loglevel") == 0 && ops->loglevel != NULL)
		cmd = C_LOGLEVEL;
	else if (strcmp(line, "stop") == 0 && ops->stop != NULL)
		cmd = C_STOP;
	else {
		ctl_echo(line, echo, sizeof(echo));
		ctl_reply_errorf(fd, "unknown command '%s'", echo);
		return;
	}
	if (cmd == C_LOGLEVEL && arg == NULL) {
		ctl_reply_errorf(fd, "usage: loglevel LEVEL");
		return;
	}
	if (cmd != C_LOGLEVEL && arg != NULL) {
		ctl_reply_errorf(fd, "command '%s' takes no argument", line);
		return;
	}

	out = open_memstream(&text, &len);
	if (out == NULL) {
		ctl_reply_errorf(fd, "out of memory");
		return;
	}
	hk_log(LOG_DEBUG, "ctl", "command '%s'%s%s", line,
	       arg != NULL ? " " : "", arg != NULL ? arg : "");
	switch (cmd) {
	case C_STATUS:
		rc = ops->status(ops->arg, out);
		break;
	case C_STATS:
		rc = ops->stats(ops->arg, out);
		break;
	case C_RELOAD:
		rc = ops->reload(ops->arg, out);
		break;
	case C_LOGLEVEL:
		rc = ops->loglevel(ops->arg, arg, out);
		break;
	case C_STOP:
		rc = ops->stop(ops->arg, out);
		break;
	default:
		abort();
	}
	if (fclose(out) != 0) {
		free(text);
		ctl_reply_errorf(fd, "out of memory");
		return;
	}
	if (rc == HK_OK) {
		if (ctl_send_all(fd, "OK\n", 3) != HK_OK ||
		    ctl_send_all(fd, text, len) != HK_OK)
			hk_log(LOG_DEBUG, "ctl",
			       "client left before the reply: %s",
			       strerror(errno));
	} else
		ctl_reply_error(fd, text, len);
	free(text);
}

/* Serve one accepted connection, then close it. */
static void
ctl_serve(struct ctl_server *s, int fd)
{
	char line[CTL_LINE_MAX + 1];
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	if (ctl_set_timeout(fd, SO_SNDTIMEO, CTL_REQ_TIMEOUT_MS) != 0) {
		hk_log(LOG_WARNING, "ctl", "setsockopt: %s", strerror(errno));
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
		hk_log(LOG_WARNING, "ctl", "SO_PEERCRED: %s", strerror(errno));
		return;
	}
	if (cred.uid != 0 && cred.uid != s->uid) {
		hk_log(LOG_WARNING, "ctl",
		       "refused control connection from uid %u (pid %d)",
		       (unsigned)cred.uid, (int)cred.pid);
		ctl_reply_errorf(fd, "permission denied");
		return;
	}
	switch (ctl_read_request(s, fd, line)) {
	case CTL_RD_LINE:
		ctl_dispatch(s, fd, line);
		break;
	case CTL_RD_TOOLONG:
		ctl_reply_errorf(fd, "request too long (more than %d bytes)",
		                 CTL_LINE_MAX - 1);
		break;
	case CTL_RD_TIMEOUT:
		ctl_reply_errorf(fd, "timeout waiting for the request");
		break;
	case CTL_RD_GONE:
		break;
	}
}

static void *
ctl_thread(void *arg)
{
	struct ctl_server *s = arg;

	for (;;) {
		struct pollfd pfd[2] = {{.fd = s->fd, .events = POLLIN},
		                        {.fd = s->wake[0], .events = POLLIN}};
		int fd;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			hk_log(LOG_ERROR, "ctl", "poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents != 0)
			break;
		if (pfd[0].revents == 0)
			continue;
		fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			/*
			 * ECONNABORTED, EMFILE...: transient, or a limit
			 * that the next connection may not hit. Pause so
			 * that a persistent failure does not spin.
			 */
			if (errno != EINTR && errno != EAGAIN &&
			    errno != ECONNABORTED) {
				hk_log(LOG_WARNING, "ctl", "accept: %s",
				       strerror(errno));
				(void)poll(&pfd[1], 1, 100);
			}
			continue;
		}
		ctl_serve(s, fd);
		if (close(fd) != 0)
			hk_log(LOG_DEBUG, "ctl", "close: %s", strerror(errno));
	}
	return NULL;
}

/*
 * A file exists at path: refuse if it is not a socket or if a server
 * answers on it, else remove it (left by a daemon that died). Returns
 * HK_OK (path now free) or HK_ERR with a message in err.
 */
static int
ctl_clear_stale(const char *path, const struct sockaddr_un *sun,
                const struct stat *st, char *err, size_t errlen)
{
	int fd, rc, e;

	if (!S_ISSOCK(st->st_mode)) {
		snprintf(err, errlen,
		         "%s exists and is not a socket: not replacing it",
		         path);
		return HK_ERR;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return HK_ERR;
	}
	/* A full backlog would block connect; bound it. */
	if (ctl_set_timeout(fd, SO_SNDTIMEO, CTL_REQ_TIMEOUT_MS) != 0) {
		snprintf(err, errlen, "setsockopt: %s", strerror(errno));
		close(fd);
		return HK_ERR;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
		snprintf(err, errlen,
		         "another haka is running (control socket %s)", path);
		return HK_ERR;
	}
	if (e != ECONNREFUSED) {
		snprintf(err, errlen, "cannot probe control socket %s: %s",
		         path, strerror(e));
		return HK_ERR;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen,
		         "cannot remove stale control socket %s: %s", path,
		         strerror(errno));
		return HK_ERR;
	}
	hk_log(LOG_INFO, "ctl", "removed stale control socket %s", path);
	return HK_OK;
}

/*
 * The ops are copied; ops->arg must stay valid until ctl_server_stop().
 * Start it after any fork() (threads do not survive one). The control
 * thread blocks every signal, so that signals sent to the daemon reach
 * its other threads.
 */
struct ctl_server *
ctl_server_start(const char *path, unsigned mode, const struct ctl_ops *ops,
                 char *err, size_t errlen)
{
	struct ctl_server *s;
	struct sockaddr_un sun;
	struct stat st;
	sigset_t all, old;
	int rc;

	if (ops == NULL) {
		snprintf(err, errlen, "control socket: no operations");
		return NULL;
	}
	if (ctl_sockaddr(path, &sun, err, errlen) != HK_OK)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->fd = -1;
	s->wake[0] = s->wake[1] = -1;
	s->ops = *ops;
	s->uid = geteuid();
	memcpy(s->path, sun.sun_path, sizeof(s->path));

	if (lstat(path, &st) == 0) {
		if (ctl_clear_stale(path, &sun, &st, err, errlen) != HK_OK)
			goto fail;
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "cannot stat control socket %s: %s", path,
		         strerror(errno));
		goto fail;
	}
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	if (bind(s->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		if (errno == EADDRINUSE)
			snprintf(err, errlen,
			         "another haka is running (control socket %s)",
			         path);
		else
			snprintf(err, errlen,
			         "cannot bind control socket %s: %s", path,
			         strerror(errno));
		goto fail;
	}
	/* Nobody can connect before listen(): the mode is set in time. */
	if (chmod(path, mode & 07777) != 0 || lstat(path, &st) != 0) {
		snprintf(err, errlen, "cannot chmod control socket %s: %s",
		         path, strerror(errno));
		goto fail_bound;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (listen(s->fd, CTL_BACKLOG) != 0) {
		snprintf(err, errlen, "cannot listen on control socket %s: %s",
		         path, strerror(errno));
		goto fail_bound;
	}
	if (pipe2(s->wake, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail_bound;
	}
	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0) {
		snprintf(err, errlen, "pthread_sigmask failed");
		goto fail_bound;
	}
	rc = pthread_create(&s->thread, NULL, ctl_thread, s);
	if (pthread_sigmask(SIG_SETMASK, &old, NULL) != 0)
		hk_log(LOG_WARNING, "ctl", "cannot restore the signal mask");
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the control thread: %s",
		         strerror(rc));
		goto fail_bound;
	}
	hk_log(LOG_DEBUG, "ctl", "listening on %s (mode %04o)", path,
	       mode & 07777);
	return s;

fail_bound:
	(void)unlink(path);
fail:
	if (s->fd >= 0)
		close(s->fd);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	free(s);
	return NULL;
}

/*
 * Waits for the request being served, if any (bounded by the timeouts and
 * the op's own duration). Must not be called from an op (the control
 * thread would wait for itself): an op asked to stop the daemon flags the
 * main loop, which calls this. The file is unlinked only if it is still
 * the one we created. NULL is a no-op.
 */
void
ctl_server_stop(struct ctl_server *s)
{
	struct stat st;
	ssize_t n;
	int rc;

	if (s == NULL)
		return;
	if (pthread_equal(pthread_self(), s->thread)) {
		hk_log(LOG_FATAL, "ctl", "ctl_server_stop called from an op");
		abort();
	}
	do
		n = write(s->wake[1], "x", 1);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		hk_log(LOG_FATAL, "ctl", "cannot wake the control thread: %s",
		       strerror(errno));
		abort();
	}
	rc = pthread_join(s->thread, NULL);
	if (rc != 0)
		hk_log(LOG_ERROR, "ctl", "pthread_join: %s", strerror(rc));
	close(s->fd);
	close(s->wake[0]);
	close(s->wake[1]);
	if (!s->keep && lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
	    st.st_ino == s->ino && unlink(s->path) != 0)
		hk_log(LOG_WARNING, "ctl", "cannot remove %s: %s", s->path,
		       strerror(errno));
	free(s);
}

void
ctl_server_keep_file(struct ctl_server *s)
{
	if (s != NULL)
		s->keep = true;
}

/* ---------------------------------------------------------------- client */

/*
 * Read until EOF into a malloc'ed buffer (*bufp, *lenp; owned by the
 * caller, NUL-terminated), within CTL_REPLY_TIMEOUT_MS ms in total. A reset
 * after some data counts as EOF: the server closes with our unread bytes
 * pending when it refuses a request. Returns HK_OK or HK_ERR with err set.
 */
static int
ctl_read_reply(int fd, char **bufp, size_t *lenp, char *err, size_t errlen)
{
	int64_t deadline = ctl_now_ms() + CTL_REPLY_TIMEOUT_MS;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nbuf;

	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return HK_ERR;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - ctl_now_ms();
		ssize_t n;
		int rc;

		if (left <= 0) {
			snprintf(err, errlen,
			         "no complete reply from haka within %d s",
			         CTL_REPLY_TIMEOUT_MS / 1000);
			goto fail;
		}
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			goto fail;
		}
		if (rc <= 0)
			continue;
		if (len + 1 == cap) {
			if (cap >= CTL_REPLY_MAX) {
				snprintf(err, errlen,
				         "reply from haka too large (more than "
				         "%u bytes)",
				         CTL_REPLY_MAX);
				goto fail;
			}
			nbuf = realloc(buf, cap * 2);
			if (nbuf == NULL) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			buf = nbuf;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			if (errno == ECONNRESET && len > 0)
				break;
			snprintf(err, errlen, "cannot read haka's reply: %s",
			         strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return HK_OK;
fail:
	free(buf);
	return HK_ERR;
}

/*
 * The request is one line without its newline, shorter than CTL_LINE_MAX.
 * out receives the reply text (OK) or the error message and text (ERROR,
 * i.e. everything after "ERROR "); nothing is written to out on -1. Waits
 * CTL_REPLY_TIMEOUT_MS ms at most for the whole reply.
 */
int
ctl_request(const char *path, const char *request, FILE *out, char *err,
            size_t errlen)
{
	struct sockaddr_un sun;
	size_t rlen = strlen(request), len;
	char *reply = NULL, *nl;
	int fd, ret = -1, send_errno = 0;

	if (memchr(request, '\n', rlen) != NULL || rlen + 1 > CTL_LINE_MAX) {
		snprintf(err, errlen,
		         "invalid request (one line of at most %d bytes)",
		         CTL_LINE_MAX - 1);
		return -1;
	}
	if (ctl_sockaddr(path, &sun, err, errlen) != HK_OK)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Bounds connect (full backlog) and send, as for the reply. */
	if (ctl_set_timeout(fd, SO_SNDTIMEO, CTL_REPLY_TIMEOUT_MS) != 0) {
		snprintf(err, errlen, "setsockopt: %s", strerror(errno));
		goto done;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		snprintf(
		    err, errlen,
		    "cannot connect to haka control socket %s: %s (is haka "
		    "running?)",
		    path, strerror(errno));
		goto done;
	}
	if (ctl_send_all(fd, request, rlen) != HK_OK ||
	    ctl_send_all(fd, "\n", 1) != HK_OK) {
		send_errno = errno;
		/*
		 * A server that refuses us (permission denied) answers and
		 * closes without reading: its reply is still to be read.
		 */
		if (send_errno != EPIPE && send_errno != ECONNRESET)
			goto send_failed;
	} else
		/* Only a request line goes this way. */
		(void)shutdown(fd, SHUT_WR);
	if (ctl_read_reply(fd, &reply, &len, err, errlen) != HK_OK) {
		if (send_errno != 0)
			goto send_failed;
		goto done;
	}
	if (send_errno != 0 && len == 0)
		goto send_failed;

	nl = memchr(reply, '\n', len);
	if (len == 0) {
		snprintf(err, errlen,
		         "haka closed the control connection without a reply");
	} else if (nl == NULL) {
		snprintf(err, errlen,
		         "malformed reply from haka: no status line");
	} else if (nl - reply == 2 && memcmp(reply, "OK", 2) == 0) {
		len -= 3;
		if (len > 0 && fwrite(nl + 1, 1, len, out) != len)
			snprintf(err, errlen, "cannot write the reply: %s",
			         strerror(errno));
		else
			ret = 0;
	} else if (len >= 6 && memcmp(reply, "ERROR ", 6) == 0) {
		len -= 6;
		if (fwrite(reply + 6, 1, len, out) != len)
			snprintf(err, errlen, "cannot write the reply: %s",
			         strerror(errno));
		else
			ret = 1;
	} else {
		snprintf(err, errlen, "malformed reply from haka: '%.*s'",
		         (int)(nl - reply > 64 ? 64 : nl - reply), reply);
	}
	goto done;
send_failed:
	snprintf(err, errlen, "cannot send the request to haka: %s",
	         strerror(send_errno));
done:
	free(reply);
	close(fd);
	return ret;
}
