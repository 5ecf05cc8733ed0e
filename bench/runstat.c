/*
 * runstat: run one command and report its resource usage, so that
 * bench/run.sh does not depend on /usr/bin/time.
 *
 *	runstat -- CMD ARGS...
 *
 * fork/execs CMD, waits for it with wait4 and prints one line on stderr:
 *
 *	runstat: user=U sys=S cpu=C wall=W maxrss_kb=R exit=E
 *
 * with times in seconds (3 decimals), cpu = user + sys, maxrss in KiB as
 * getrusage(2) reports it on Linux, and E the command's exit status (128 + N
 * if it was killed by signal N, 127 if it could not be run).  runstat exits
 * with E.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
tv_s(const struct timeval *tv)
{
	return tv->tv_sec + tv->tv_usec / 1e6;
}

static double
ts_s(const struct timespec *ts)
{
	return ts->tv_sec + ts->tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	pid_t pid;
	int status, code;
	double user, sys;

	if (argc < 3 || strcmp(argv[1], "--") != 0) {
		fprintf(stderr, "usage: runstat -- CMD [ARGS...]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((pid = fork()) == -1) {
		fprintf(stderr, "runstat: fork: %s\n", strerror(errno));
		return 127;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "runstat: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	/* Like time(1): a ^C is for the command, the report still prints. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	while (wait4(pid, &status, 0, &ru) == -1) {
		if (errno != EINTR) {
			fprintf(stderr, "runstat: wait4: %s\n",
			        strerror(errno));
			return 127;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		code = 128 + WTERMSIG(status);
	else
		code = 127;
	user = tv_s(&ru.ru_utime);
	sys = tv_s(&ru.ru_stime);
	fprintf(stderr,
	        "runstat: user=%.3f sys=%.3f cpu=%.3f wall=%.3f maxrss_kb=%ld "
	        "exit=%d\n",
	        user, sys, user + sys, ts_s(&t1) - ts_s(&t0), ru.ru_maxrss,
	        code);
	return code;
}
