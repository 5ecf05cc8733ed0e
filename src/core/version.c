/*
 * The --version banner shared by the three programs: the project version
 * and the processor from the build (CMakeLists.txt), the Lua version from
 * the headers the core was compiled against.
 */
#include <lua.h>

#include <haka/version.h>

#ifndef HAKA_ARCH
#define HAKA_ARCH "unknown"
#endif

void
hk_print_version(FILE *out)
{
	fprintf(out, "version %s, arch %s, lua %s.%s\nAPI version 2\n",
	        HAKA_VERSION, HAKA_ARCH, LUA_VERSION_MAJOR, LUA_VERSION_MINOR);
}
