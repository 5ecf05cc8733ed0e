#!/bin/sh
# Banned functions (CONVENTIONS.md section 4): strcpy, sprintf, strtok, atoi.
set -eu
cd "$(dirname "$0")/.."
if grep -n -E '\b(strcpy|sprintf|vsprintf|strtok|atoi|gets)\s*\(' \
	$(git ls-files 'src/*.c' 'src/*.h' 'include/*.h' 'bench/*.c' 'tests/*.c'); then
	echo "lint: banned function used (see CONVENTIONS.md section 4)" >&2
	exit 1
fi
# Formatting: .clang-format (scripts/install-deps.sh installs clang-format).
if command -v clang-format >/dev/null 2>&1; then
	if ! clang-format --dry-run --Werror \
		$(git ls-files '*.c' '*.h') 2>/tmp/lint-format.$$; then
		head -n 40 /tmp/lint-format.$$ >&2
		rm -f /tmp/lint-format.$$
		echo "lint: not clang-formatted (clang-format -i FILE)" >&2
		exit 1
	fi
	rm -f /tmp/lint-format.$$
else
	echo "lint: clang-format not installed, formatting not checked" >&2
fi
echo "lint: ok"
