/* ephport/api.h - EP_API, the mark of an exported function.
 *
 * The libraries are compiled with hidden visibility (meson's
 * gnu_symbol_visibility), so a function is in a shared library's dynamic
 * symbol table only when its public declaration carries EP_API.  Internal
 * functions shared between files of one library stay out of the ABI, and
 * tests/check-exports.py compares `nm -D` of each library with the EP_API
 * declarations of its public headers.
 */
#ifndef EPHPORT_API_H
#define EPHPORT_API_H

#if defined(__GNUC__) || defined(__clang__)
#define EP_API __attribute__((visibility("default")))
#else
#define EP_API
#endif

#endif
