#!/usr/bin/env python3
"""check-exports.py - a shared library exports exactly its public API.

Usage: check-exports.py LIB.so HEADER... [--needed-only LIB,LIB,...]

The symbols a library exports (`nm -D --defined-only`) must be exactly the
functions and data its public headers declare with EP_API (ephport/api.h): nothing
internal leaks into the ABI, and nothing promised is missing.  With
--needed-only, the library's DT_NEEDED entries (readelf -d) must be among
the given sonames' prefixes: libephport must not pull in libmnl or SQLite.
Always: the library calls none of exit, _exit, _Exit, quick_exit and abort
(library code returns errors; assert() stays, for invariants).
Exit 0 when all holds, 1 with the differences listed otherwise.
"""
import re
import subprocess
import sys

DECL = re.compile(r'\bEP_API\b[^;{]*?\b(ep_\w+)\s*[([;]', re.S)


def declared(headers):
    names = set()
    for h in headers:
        text = open(h, encoding='utf-8').read()
        text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
        text = re.sub(r'#\s*define[^\n]*', ' ', text)
        names.update(DECL.findall(text))
    return names


def exported(lib):
    out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] not in ('A',):
            names.add(parts[2].split('@')[0])
    return names


ENDS_PROCESS = {'exit', '_exit', '_Exit', 'quick_exit', 'abort'}


def undefined(lib):
    out = subprocess.run(['nm', '-D', '--undefined-only', lib], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1].split('@')[0] for line in out.splitlines() if line.strip()}


def needed(lib):
    out = subprocess.run(['readelf', '-d', lib], check=True, capture_output=True,
                         text=True).stdout
    return re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', out)


def main(argv):
    allowed = None
    if '--needed-only' in argv:
        i = argv.index('--needed-only')
        allowed = argv[i + 1].split(',')
        argv = argv[:i] + argv[i + 2:]
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    lib, headers = argv[1], argv[2:]
    want, have = declared(headers), exported(lib)
    bad = False
    for name in sorted(have - want):
        print(f'{lib}: exports {name}, which no public header declares with EP_API')
        bad = True
    for name in sorted(want - have):
        print(f'{lib}: does not export {name}, declared EP_API in a public header')
        bad = True
    for name in sorted(undefined(lib) & ENDS_PROCESS):
        print(f'{lib}: calls {name}(); library code returns an error instead')
        bad = True
    if allowed is not None:
        for so in needed(lib):
            if not any(so.startswith(a) for a in allowed):
                print(f'{lib}: needs {so}; allowed: {", ".join(allowed)}')
                bad = True
    if not bad:
        print(f'{lib}: {len(have)} exported functions, all declared EP_API')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
