#!/bin/sh
# Banned functions (CONVENTIONS.md section 4): strcpy, sprintf, strtok, atoi.
set -eu
cd "$(dirname "$0")/.."
if grep -n -E '\b(strcpy|sprintf|vsprintf|strtok|atoi|gets)\s*\(' \
	$(git ls-files 'src/*.c' 'src/*.h' 'include/*.h' 'bench/*.c' 'tests/*.c'); then
	echo "lint: banned function used (see CONVENTIONS.md section 4)" >&2
	exit 1
fi
echo "lint: ok"
