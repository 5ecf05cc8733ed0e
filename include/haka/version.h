/*
 * The version banner of haka, hakapcap and hakactl (--version), in the
 * original's format: "version V, arch A, lua X.Y" then "API version 2".
 */
#ifndef HAKA_VERSION_H
#define HAKA_VERSION_H

#include <stdio.h>

void hk_print_version(FILE *out);

#endif
