/*
 * A stdio stream that writes each line to syslog: lets the log and alert
 * modules, which write to FILE streams, send to syslog too (the daemon's
 * "log: output: syslog" and "alerts: - type: syslog").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/*
 * Not <haka/log.h>: syslog.h defines LOG_INFO... as macros. The prototype
 * is repeated here and checked against the header's by the build of the
 * daemon.
 */
FILE *log_syslog_stream(int kind);

struct sls {
	int priority;
	char line[2048];
	size_t len;
};

static void
sls_flush_line(struct sls *s)
{
	if (s->len == 0)
		return;
	s->line[s->len] = '\0';
	syslog(s->priority, "%s", s->line);
	s->len = 0;
}

static ssize_t
sls_write(void *cookie, const char *buf, size_t size)
{
	struct sls *s = cookie;
	size_t i;

	for (i = 0; i < size; i++) {
		if (buf[i] == '\n') {
			sls_flush_line(s);
			continue;
		}
		/* The pretty format's TAB lines become one syslog line. */
		if (s->len < sizeof(s->line) - 1)
			s->line[s->len++] = buf[i] == '\t' ? ' ' : buf[i];
	}
	return (ssize_t)size;
}

static int
sls_close(void *cookie)
{
	struct sls *s = cookie;

	sls_flush_line(s);
	free(s);
	return 0;
}

FILE *
log_syslog_stream(int kind)
{
	cookie_io_functions_t io = {NULL, sls_write, NULL, sls_close};
	struct sls *s = calloc(1, sizeof(*s));
	FILE *fp;

	if (s == NULL)
		return NULL;
	/* Logs: daemon facility; alerts: local0 and notice, as the original. */
	if (kind == 0) {
		openlog("haka", LOG_PID, LOG_DAEMON);
		s->priority = LOG_INFO;
	} else {
		openlog("haka", LOG_PID, LOG_LOCAL0);
		s->priority = LOG_LOCAL0 | LOG_NOTICE;
	}
	fp = fopencookie(s, "w", io);
	if (fp == NULL) {
		free(s);
		return NULL;
	}
	setvbuf(fp, NULL, _IOLBF, 0);
	return fp;
}
