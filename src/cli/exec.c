/* exec.c - `ephport exec --range LO-HI [--no-port-bind] -- CMD [ARGS...]`:
 * run a program whose TCP and UDP sockets take ephemeral ports only from
 * LO-HI (per-process port policy).
 *
 * The work happens in the LD_PRELOAD shim (src/preload/portrange.c), which
 * sets IP_LOCAL_PORT_RANGE on each new socket.  This command only prepares
 * and checks: it validates the range, probes the running kernel for the
 * socket options (so an old kernel fails here, with a clear message, rather
 * than inside the program), checks that the range lies inside the
 * namespace's net.ipv4.ip_local_port_range (the kernel only ever narrows that
 * range; a per-socket range outside it is ignored) and not entirely in
 * net.ipv4.ip_local_reserved_ports (never handed out), refuses commands the
 * shim provably cannot reach (statically linked, set-user/group-ID, or of
 * another ELF class or machine than the shim),
 * finds the shim, prepends it to LD_PRELOAD and exec()s the command.  Because it execs, the command
 * keeps our pid, environment, file descriptors and signals, and its exit
 * status is ours.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <netinet/in.h>
#include <unistd.h>

#include <ephport/portset.h>

#include "cli.h"
#include "range-env.h"

#ifndef EP_PRELOAD_INSTALL_PATH
#define EP_PRELOAD_INSTALL_PATH "/usr/local/lib/ephport/libephport-preload.so"
#endif
#define EP_PRELOAD_NAME "libephport-preload.so"

/* Exit codes of a command that could not be started, as in env(1) / sh. */
enum { EP_EXIT_CANNOT_EXEC = 126, EP_EXIT_NOT_FOUND = 127 };

static void ep_exec_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport exec --range LO-HI [--no-port-bind] [--] CMD [ARGS...]\n"
            "\n"
            "Run CMD so that every TCP and UDP socket it creates takes its ephemeral\n"
            "ports only from LO-HI (IP_LOCAL_PORT_RANGE, Linux 6.3+), through an\n"
            "LD_PRELOAD library.  LO-HI must lie inside net.ipv4.ip_local_port_range.\n"
            "\n"
            "  -r, --range LO-HI    the port range, e.g. 40000-40999 (or \"40000 40999\")\n"
            "  -n, --no-port-bind   bind(address, 0) on TCP sockets sets\n"
            "                       IP_BIND_ADDRESS_NO_PORT: the port is chosen at\n"
            "                       connect() per destination, not reserved at bind()\n"
            "  -h, --help           this text\n"
            "\n"
            "Environment: EPHPORT_PRELOAD overrides the path of %s.\n"
            "Not covered: static binaries, setuid programs and programs of another ELF\n"
            "class or machine, such as 32-bit ones (refused when they are CMD itself),\n"
            "programs that make the socket syscall directly (Go without cgo,\n"
            "io_uring), libc-internal sockets.\n"
            "\n"
            "Exit status: CMD's own status; before CMD starts: 2 bad command line,\n"
            "1 the range cannot be applied (kernel, host range or reserved ports, or a\n"
            "static, setuid or other-architecture CMD),\n"
            "126 CMD not executable, "
"127 CMD not found.\n",
            EP_PRELOAD_NAME);
}

/* Probe the kernel with the options the shim will set.  0, or an exit code
 * after printing why. */
static int ep_exec_probe_kernel(uint16_t lo, uint16_t hi, bool no_port_bind)
{
    uint32_t v = ep_preload_range_value(lo, hi);
    int one = 1, rc = EP_EXIT_OK;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct utsname u;

    if (fd < 0)
        fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ep_cli_error("exec", "cannot create a probe TCP socket: %s", strerror(errno));
        return EP_EXIT_FAILURE;
    }
    if (uname(&u) != 0)
        snprintf(u.release, sizeof u.release, "unknown");
    if (setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, sizeof v) != 0) {
        if (errno == ENOPROTOOPT)
            ep_cli_error("exec",
                         "this kernel (%s) does not support IP_LOCAL_PORT_RANGE; "
                         "per-process port ranges need Linux 6.3 or later",
                         u.release);
        else
            ep_cli_error("exec", "setsockopt(IP_LOCAL_PORT_RANGE) failed: %s", strerror(errno));
        rc = EP_EXIT_FAILURE;
    } else if (no_port_bind &&
               setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0) {
        ep_cli_error("exec",
                     "this kernel (%s) rejects IP_BIND_ADDRESS_NO_PORT (Linux 4.2+): %s",
                     u.release, strerror(errno));
        rc = EP_EXIT_FAILURE;
    }
    close(fd);
    return rc;
}

/* Read /proc/sys/net/ipv4/<name> into buf (NUL-terminated, first line
 * only).  0, or -errno when it cannot be opened. */
static int ep_exec_read_sysctl(const char *name, char *buf, size_t len)
{
    char path[128];
    size_t n;
    FILE *f;
    snprintf(path, sizeof path, "/proc/sys/net/ipv4/%s", name);
    if (!(f = fopen(path, "re")))
        return -errno;
    n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

/* The kernel intersects a socket's range with the namespace's range only
 * where the bounds fall inside it; a range outside is silently ignored, so
 * refuse it here. */
static int ep_exec_check_system_range(uint16_t lo, uint16_t hi)
{
    char buf[64];
    uint16_t slo, shi;
    ep_parse_error err;
    int rc = ep_exec_read_sysctl("ip_local_port_range", buf, sizeof buf);

    if (rc < 0) {
        ep_cli_error("exec",
                     "warning: cannot read net.ipv4.ip_local_port_range (%s); "
                     "not checking that %u-%u lies inside it",
                     strerror(-rc), lo, hi);
        return EP_EXIT_OK;
    }
    if (ep_range_parse(buf, &slo, &shi, &err) != 0) {
        ep_cli_error("exec", "cannot parse net.ipv4.ip_local_port_range '%s': %s", buf,
                     err.message);
        return EP_EXIT_FAILURE;
    }
    if (lo < slo || hi > shi) {
        ep_cli_error("exec",
                     "range %u-%u is not inside net.ipv4.ip_local_port_range %u-%u of this "
                     "network namespace; the kernel only narrows that range per socket",
                     lo, hi, slo, shi);
        return EP_EXIT_FAILURE;
    }
    return EP_EXIT_OK;
}

/* The kernel never hands out a port of net.ipv4.ip_local_reserved_ports,
 * with a per-socket range too (measured: range 40000-40009 all reserved ->
 * TCP connect() EADDRNOTAVAIL, UDP connect() EAGAIN; 40005-40012 with
 * 40000-40009 reserved -> only 40010-40012).  A range entirely reserved is
 * refused; a partly reserved one is said with the ports left. */
static int ep_exec_check_reserved(uint16_t lo, uint16_t hi)
{
    static char buf[65536];
    static ep_portset reserved;
    ep_parse_error err;
    uint32_t taken, all = (uint32_t)hi - lo + 1;
    int rc = ep_exec_read_sysctl("ip_local_reserved_ports", buf, sizeof buf);

    if (rc < 0) {
        ep_cli_error("exec",
                     "warning: cannot read net.ipv4.ip_local_reserved_ports (%s); not checking "
                     "that %u-%u has ports the kernel may hand out",
                     strerror(-rc), lo, hi);
        return EP_EXIT_OK;
    }
    if (ep_portset_parse(buf, &reserved, &err) != 0) {
        ep_cli_error("exec", "cannot parse net.ipv4.ip_local_reserved_ports '%s': %s", buf,
                     err.message);
        return EP_EXIT_FAILURE;
    }
    taken = ep_portset_count(&reserved, lo, hi);
    if (taken == all) {
        ep_cli_error("exec",
                     "every port of %u-%u is in net.ipv4.ip_local_reserved_ports (%s): the "
                     "kernel never hands out a reserved port, so every connect() would fail "
                     "(TCP: EADDRNOTAVAIL \"Cannot assign requested address\"; UDP: EAGAIN)",
                     lo, hi, buf);
        return EP_EXIT_FAILURE;
    }
    if (taken)
        ep_cli_error("exec",
                     "warning: %u of the %u ports of %u-%u are in "
                     "net.ipv4.ip_local_reserved_ports; %u remain",
                     taken, all, lo, hi, all - taken);
    return EP_EXIT_OK;
}

static bool ep_exec_readable(const char *path)
{
    return access(path, R_OK) == 0;
}

/* Resolve CMD as execvp() will: as given if it has a slash, else the first
 * executable match in $PATH.  false if not found (execvp reports that). */
static bool ep_exec_resolve(const char *cmd, char *out, size_t len)
{
    const char *path = getenv("PATH"), *p, *end;
    if (strchr(cmd, '/')) {
        snprintf(out, len, "%s", cmd);
        return true;
    }
    for (p = path && *path ? path : "/usr/local/bin:/usr/bin:/bin"; *p; p = *end ? end + 1 : end) {
        size_t dl;
        end = strchr(p, ':');
        if (!end)
            end = p + strlen(p);
        dl = (size_t)(end - p);
        if ((size_t)snprintf(out, len, "%.*s/%s", (int)(dl ? dl : 1), dl ? p : ".", cmd) < len &&
            access(out, X_OK) == 0)
            return true;
    }
    return false;
}

/* Walk the program headers of an ELF class (64 or 32 bit) looking for
 * PT_INTERP: 1 when there is none (static), 0 when there is, -1 on a
 * malformed or unreadable file. */
#define EP_EXEC_ELF_INTERP(Ehdr, Phdr)                                                        \
    do {                                                                                     \
        Ehdr eh;                                                                             \
        Phdr ph;                                                                             \
        rc = -1;                                                                             \
        if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || eh.e_phentsize != sizeof ph || \
            (eh.e_type != ET_EXEC && eh.e_type != ET_DYN))                                   \
            break;                                                                           \
        rc = 1;                                                                              \
        for (unsigned i = 0; i < eh.e_phnum; i++) {                                          \
            if (pread(fd, &ph, sizeof ph, (off_t)eh.e_phoff + (off_t)i * (off_t)sizeof ph) !=  \
                (ssize_t)sizeof ph) {                                                        \
                rc = -1;                                                                     \
                break;                                                                       \
            }                                                                                \
            if (ph.p_type == PT_INTERP) {                                                    \
                rc = 0;                                                                      \
                break;                                                                       \
            }                                                                                \
        }                                                                                    \
    } while (0)

/* 1 if the file is an ELF program without PT_INTERP (statically linked: no
 * dynamic loader, so no LD_PRELOAD); 0 if it has one or is not ELF (a
 * script: its interpreter is normally dynamic); -1 if unreadable. */
static int ep_exec_is_static(const char *path)
{
    unsigned char id[EI_NIDENT];
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -1;
    if (pread(fd, id, sizeof id, 0) == (ssize_t)sizeof id && memcmp(id, ELFMAG, SELFMAG) == 0) {
        if (id[EI_CLASS] == ELFCLASS64)
            EP_EXEC_ELF_INTERP(Elf64_Ehdr, Elf64_Phdr);
        else if (id[EI_CLASS] == ELFCLASS32)
            EP_EXEC_ELF_INTERP(Elf32_Ehdr, Elf32_Phdr);
    }
    close(fd);
    return rc;
}

/* An ELF file's class and machine: 0, or -1 if it is not ELF or unreadable. */
static int ep_exec_elf_kind(const char *path, unsigned *cls, unsigned *machine)
{
    unsigned char h[EI_NIDENT + 4];
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
    if (fd < 0)
        return -1;
    if (pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h && memcmp(h, ELFMAG, SELFMAG) == 0 &&
        (h[EI_DATA] == ELFDATA2LSB || h[EI_DATA] == ELFDATA2MSB)) {
        /* e_machine follows e_type, right after e_ident, in both classes */
        unsigned char *m = h + EI_NIDENT + 2;
        *cls = h[EI_CLASS];
        *machine = h[EI_DATA] == ELFDATA2LSB ? (unsigned)(m[0] | m[1] << 8)
                                             : (unsigned)(m[1] | m[0] << 8);
        rc = 0;
    }
    close(fd);
    return rc;
}

static void ep_exec_elf_name(unsigned cls, unsigned machine, char *buf, size_t len)
{
    const char *m;
    switch (machine) {
    case EM_386: m = "i386"; break;
    case EM_X86_64: m = "x86-64"; break;
    case EM_ARM: m = "ARM"; break;
    case EM_AARCH64: m = "AArch64"; break;
    case EM_RISCV: m = "RISC-V"; break;
    case EM_PPC: m = "PowerPC"; break;
    case EM_PPC64: m = "PowerPC64"; break;
    case EM_S390: m = "s390"; break;
    case EM_MIPS: m = "MIPS"; break;
    default: m = NULL;
    }
    if (m)
        snprintf(buf, len, "%s-bit %s", cls == ELFCLASS64 ? "64" : "32", m);
    else
        snprintf(buf, len, "%s-bit, ELF machine %u", cls == ELFCLASS64 ? "64" : "32", machine);
}

/* Refuse commands the shim provably cannot reach, rather than run them
 * without the range: statically linked programs, and set-user/group-ID
 * programs that change our credentials (the loader then ignores
 * LD_PRELOAD), and programs of another ELF class or machine than the shim
 * (measured: a 32-bit i386 program under the 64-bit shim, ld.so says
 * "cannot be preloaded (wrong ELF class: ELFCLASS64): ignored" and runs the
 * program without it).  0, or an exit code after a message.  A command
 * that cannot be found or read is left to execvp() to report. */
static int ep_exec_check_target(const char *cmd, const char *shim)
{
    char path[PATH_MAX], want[48], got[48];
    unsigned scls, smach, tcls, tmach;
    struct stat st;
    if (!ep_exec_resolve(cmd, path, sizeof path) || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return EP_EXIT_OK;
    if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
        ((st.st_mode & S_ISGID) && st.st_gid != getegid())) {
        ep_cli_error("exec",
                     "%s is set-user/group-ID: the dynamic loader ignores LD_PRELOAD for it, "
                     "so the port range would not apply", path);
        return EP_EXIT_FAILURE;
    }
    if (ep_exec_elf_kind(path, &tcls, &tmach) == 0 &&
        ep_exec_elf_kind(shim, &scls, &smach) == 0 && (tcls != scls || tmach != smach)) {
        ep_exec_elf_name(tcls, tmach, got, sizeof got);
        ep_exec_elf_name(scls, smach, want, sizeof want);
        ep_cli_error("exec",
                     "%s is a %s program and %s is %s: the dynamic loader would skip the "
                     "shim, so the port range would not apply",
                     path, got, shim, want);
        return EP_EXIT_FAILURE;
    }
    if (ep_exec_is_static(path) == 1) {
        ep_cli_error("exec",
                     "%s is statically linked: LD_PRELOAD cannot reach it, so the port range "
                     "would not apply", path);
        return EP_EXIT_FAILURE;
    }
    return EP_EXIT_OK;
}

/* Find the shim: $EPHPORT_PRELOAD, else next to us in the build tree
 * (build/src/cli/ephport -> build/src/preload/), else the install path.
 * Writes an absolute path into out.  0 or an exit code after a message. */
static int ep_exec_find_preload(char *out, size_t len)
{
    const char *env = getenv("EPHPORT_PRELOAD");
    char self[PATH_MAX], cand[PATH_MAX + 64], *slash;
    ssize_t n;

    if (env && env[0] != '\0') {
        if (!realpath(env, out) || !ep_exec_readable(out)) {
            ep_cli_error("exec", "EPHPORT_PRELOAD=%s: %s", env, strerror(errno));
            return EP_EXIT_FAILURE;
        }
        return EP_EXIT_OK;
    }
    n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(cand, sizeof cand, "%s/../preload/%s", self, EP_PRELOAD_NAME);
            if (ep_exec_readable(cand) && realpath(cand, out))
                return EP_EXIT_OK;
        }
    }
    if (ep_exec_readable(EP_PRELOAD_INSTALL_PATH) && strlen(EP_PRELOAD_INSTALL_PATH) < len) {
        snprintf(out, len, "%s", EP_PRELOAD_INSTALL_PATH);
        return EP_EXIT_OK;
    }
    ep_cli_error("exec",
                 "cannot find %s (looked next to the ephport binary and at %s); "
                 "set EPHPORT_PRELOAD to its path",
                 EP_PRELOAD_NAME, EP_PRELOAD_INSTALL_PATH);
    return EP_EXIT_FAILURE;
}

/* LD_PRELOAD = shim, then whatever was there (ld.so separates entries with
 * spaces or colons, so a shim path containing either cannot be used). */
static int ep_exec_set_env(const char *shim, uint16_t lo, uint16_t hi, bool no_port_bind)
{
    const char *old = getenv("LD_PRELOAD");
    char range[16];
    char *val;
    size_t need;

    if (strpbrk(shim, " :\t\n")) {
        ep_cli_error("exec", "the preload path '%s' contains a space or colon, which "
                     "LD_PRELOAD cannot carry", shim);
        return EP_EXIT_FAILURE;
    }
    need = strlen(shim) + (old ? strlen(old) + 1 : 0) + 1;
    val = malloc(need);
    if (!val) {
        ep_cli_error("exec", "out of memory");
        return EP_EXIT_FAILURE;
    }
    if (old && old[0] != '\0')
        snprintf(val, need, "%s:%s", shim, old);
    else
        snprintf(val, need, "%s", shim);
    snprintf(range, sizeof range, "%u-%u", lo, hi);
    if (setenv("LD_PRELOAD", val, 1) != 0 || setenv(EP_PRELOAD_ENV_RANGE, range, 1) != 0 ||
        (no_port_bind ? setenv(EP_PRELOAD_ENV_NO_PORT_BIND, "1", 1)
                      : unsetenv(EP_PRELOAD_ENV_NO_PORT_BIND)) != 0) {
        ep_cli_error("exec", "cannot set the environment: %s", strerror(errno));
        free(val);
        return EP_EXIT_FAILURE;
    }
    free(val);
    return EP_EXIT_OK;
}

int ep_cmd_exec(int argc, char **argv)
{
    static const struct option opts[] = {
        { "range", required_argument, NULL, 'r' },
        { "no-port-bind", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *range_text = NULL;
    bool no_port_bind = false;
    char shim[PATH_MAX];
    uint16_t lo, hi;
    ep_parse_error err;
    int c, rc;

    /* '+': stop at CMD, so its own options are not ours. */
    while ((c = getopt_long(argc, argv, "+r:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            range_text = optarg;
            break;
        case 'n':
            no_port_bind = true;
            break;
        case 'h':
            ep_exec_usage(stdout);
            return EP_EXIT_OK;
        default:
            ep_exec_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (!range_text) {
        ep_cli_error("exec", "--range LO-HI is required");
        return EP_EXIT_USAGE;
    }
    if (ep_range_parse(range_text, &lo, &hi, &err) != 0) {
        ep_cli_error("exec", "bad --range '%s': %s (expected LO-HI, 1 <= LO <= HI <= 65535)",
                     range_text, err.message);
        return EP_EXIT_USAGE;
    }
    if (optind >= argc) {
        ep_cli_error("exec", "no command given (usage: ephport exec --range LO-HI -- CMD ...)");
        return EP_EXIT_USAGE;
    }
    if ((rc = ep_exec_probe_kernel(lo, hi, no_port_bind)) != EP_EXIT_OK ||
        (rc = ep_exec_check_system_range(lo, hi)) != EP_EXIT_OK ||
        (rc = ep_exec_check_reserved(lo, hi)) != EP_EXIT_OK ||
        (rc = ep_exec_find_preload(shim, sizeof shim)) != EP_EXIT_OK ||
        (rc = ep_exec_check_target(argv[optind], shim)) != EP_EXIT_OK ||
        (rc = ep_exec_set_env(shim, lo, hi, no_port_bind)) != EP_EXIT_OK)
        return rc;
    fflush(NULL);
    execvp(argv[optind], &argv[optind]);
    rc = errno;
    ep_cli_error("exec", "cannot run '%s': %s", argv[optind], strerror(rc));
    return rc == ENOENT ? EP_EXIT_NOT_FOUND : EP_EXIT_CANNOT_EXEC;
}
