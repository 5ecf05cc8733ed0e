/*
 * The control socket of the daemon and its client hakactl. A UNIX stream
 * socket; one request per connection: the client sends one line
 * "COMMAND [ARGUMENT]\n", the server answers "OK\n" or "ERROR message\n"
 * followed by the reply text, then closes.
 * Commands: status, stats, reload, loglevel LEVEL, stop.
 */
#ifndef HAKA_CTL_H
#define HAKA_CTL_H

#include <stdio.h>

#include <haka/types.h>

struct ctl_ops {
	/*
	 * Each writes its reply text to out and returns HK_OK, or HK_ERR
	 * with an error message written to out. Called from the control
	 * thread: the implementation does its own locking.
	 */
	int (*status)(void *arg, FILE *out);
	int (*stats)(void *arg, FILE *out);
	int (*reload)(void *arg, FILE *out);
	int (*loglevel)(void *arg, const char *level, FILE *out);
	int (*stop)(void *arg, FILE *out);
	void *arg;
};

struct ctl_server;

/*
 * Listen on path (an existing socket file is replaced; a live daemon on it
 * is detected and refused), with the given permissions (e.g. 0660), and
 * serve requests in a thread of its own. NULL with a message in err.
 */
struct ctl_server *ctl_server_start(const char *path, unsigned mode,
                                    const struct ctl_ops *ops, char *err,
                                    size_t errlen);

/* Stop serving, remove the socket file (unless ctl_server_keep_file). */
void ctl_server_stop(struct ctl_server *s);

/*
 * ctl_server_stop will leave the socket file to another process: the
 * daemon's privileged cleanup process, once the daemon cannot write the
 * file's directory any more.
 */
void ctl_server_keep_file(struct ctl_server *s);

/*
 * Client side: send one request and copy the reply text (without the
 * status line) to out. Returns 0 (OK), 1 (ERROR: the message went to
 * out), or -1 with a message in err (no daemon, bad socket...).
 */
int ctl_request(const char *path, const char *request, FILE *out, char *err,
                size_t errlen);

#endif
