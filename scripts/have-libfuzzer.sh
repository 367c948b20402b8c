#!/bin/sh
# have-libfuzzer.sh - exit 0 when clang can link a -fsanitize=fuzzer program.
command -v clang >/dev/null 2>&1 || exit 1
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
printf '%s\n' '#include <stdint.h>' '#include <stddef.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' > "$d/f.c"
clang -fsanitize=fuzzer "$d/f.c" -o "$d/f" >/dev/null 2>&1
