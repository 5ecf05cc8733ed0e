/*
 * hakactl: send one command to a running haka over its control socket
 * (include/haka/ctl.h; HAKA.md section d) and print the reply on stdout.
 * Exit status: 0 the command succeeded, 1 haka reported an error or could
 * not be reached (message on stderr), 2 bad usage.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <haka/ctl.h>
#include <haka/version.h>
#include <haka/types.h>

#define HAKACTL_DEFAULT_CTL_FILE "/var/run/haka-ctl.sock"
#define HAKACTL_REQUEST_MAX      1023 /* ctl.c's CTL_LINE_MAX less '\n' */

enum { OPT_VERSION = 256, OPT_CTL_FILE };

static const struct {
	const char *name;
	bool has_arg;
} hakactl_commands[] = {
    {"status", false},  {"stats", false}, {"reload", false},
    {"loglevel", true}, {"stop", false},
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	        "Usage: hakactl [options] <command> [arguments]\n"
	        "Options:\n"
	        "\t-h,--help:            Display this information\n"
	        "\t--version:            Display version information\n"
	        "\t-d,--debug:           Display debug output\n"
	        "\t--ctl-file <ctl-file> Full path to socket control file\n"
	        "\t                        (default: " HAKACTL_DEFAULT_CTL_FILE
	        ",\n"
	        "\t                        or $HAKA_CTL_FILE if set)\n"
	        "\n"
	        "Commands:\n"
	        "\tstatus:             Show haka status\n"
	        "\tstats:              Show haka statistics\n"
	        "\treload:             Reload the rules\n"
	        "\tloglevel <level>:   Change haka logging level\n"
	        "\tstop:               Stop haka\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"debug", no_argument, NULL, 'd'},
	    {"ctl-file", required_argument, NULL, OPT_CTL_FILE},
	    {NULL, 0, NULL, 0}};
	const char *ctl_file, *cmd;
	char request[HAKACTL_REQUEST_MAX + 1], err[512];
	char *reply = NULL;
	size_t reply_len = 0, i;
	bool debug = false;
	FILE *out;
	int c, n, rc;

	ctl_file = getenv("HAKA_CTL_FILE");
	if (ctl_file == NULL || ctl_file[0] == '\0')
		ctl_file = HAKACTL_DEFAULT_CTL_FILE;
	/* '+': options end at the command, whose arguments are its own. */
	while ((c = getopt_long(argc, argv, "+hd", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			hk_print_version(stdout);
			return 0;
		case 'd':
			debug = true;
			break;
		case OPT_CTL_FILE:
			ctl_file = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "hakactl: missing command\n");
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	for (i = 0; i < HK_ARRAY_SIZE(hakactl_commands); i++)
		if (strcmp(cmd, hakactl_commands[i].name) == 0)
			break;
	if (i == HK_ARRAY_SIZE(hakactl_commands)) {
		fprintf(stderr, "hakactl: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	if (argc - optind - 1 != (hakactl_commands[i].has_arg ? 1 : 0)) {
		fprintf(stderr, "hakactl: %s: %s\n", cmd,
		        hakactl_commands[i].has_arg ? "expects one argument"
		                                    : "takes no argument");
		usage(stderr);
		return 2;
	}
	if (hakactl_commands[i].has_arg) {
		const char *arg = argv[optind + 1];

		if (arg[0] == '\0' || strpbrk(arg, " \t\r\n") != NULL) {
			fprintf(stderr, "hakactl: %s: invalid argument '%s'\n",
			        cmd, arg);
			return 2;
		}
		n = snprintf(request, sizeof(request), "%s %s", cmd, arg);
	} else
		n = snprintf(request, sizeof(request), "%s", cmd);
	if (n < 0 || (size_t)n >= sizeof(request)) {
		fprintf(stderr, "hakactl: request too long\n");
		return 2;
	}

	if (debug)
		fprintf(stderr, "debug hakactl: sending '%s' to %s\n", request,
		        ctl_file);
	out = open_memstream(&reply, &reply_len);
	if (out == NULL) {
		perror("hakactl: open_memstream");
		return 1;
	}
	rc = ctl_request(ctl_file, request, out, err, sizeof(err));
	if (fclose(out) != 0) {
		perror("hakactl: fclose");
		free(reply);
		return 1;
	}
	if (debug)
		fprintf(stderr, "debug hakactl: reply %s, %zu bytes\n",
		        rc == 0   ? "OK"
		        : rc == 1 ? "ERROR"
		                  : "none",
		        reply_len);
	switch (rc) {
	case 0:
		if (reply_len > 0 &&
		    fwrite(reply, 1, reply_len, stdout) != reply_len) {
			perror("hakactl: stdout");
			rc = 1;
		}
		break;
	case 1:
		fputs("hakactl: ", stderr);
		if (reply_len > 0)
			fwrite(reply, 1, reply_len, stderr);
		if (reply_len == 0 || reply[reply_len - 1] != '\n')
			fputc('\n', stderr);
		break;
	default:
		fprintf(stderr, "hakactl: %s\n", err);
		rc = 1;
		break;
	}
	free(reply);
	if (fflush(stdout) != 0) {
		perror("hakactl: stdout");
		rc = 1;
	}
	return rc;
}
