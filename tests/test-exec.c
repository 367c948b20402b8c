/* test-exec.c - `ephport exec` end to end, in a private network namespace:
 * the built ephport binary runs tests/exec-client (a C TCP/UDP client, IPv4
 * and IPv6) and ordinary programs (curl, nc, python3, each skipped when not
 * installed) under the preload shim; a listener in this process sees where
 * the kernel took the source ports from.  Also the command-line contract: exit status and
 * environment pass through, LD_PRELOAD is prepended, bad ranges exit 2. */
#include <arpa/inet.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "netns-util.h"

#define CLIENT EP_BUILD_ROOT "/tests/exec-client"

static const char *ephport_bin(void)
{
    const char *b = getenv("EPHPORT_BIN");
    return b ? b : EP_BUILD_ROOT "/src/cli/ephport";
}

/* Run argv with extra "NAME=VALUE" settings (NULL-terminated, may be NULL);
 * capture stdout (and stderr when want_err) into out; return the exit
 * status, or 128 + signal. */
static int run(char *const argv[], const char *const *env, bool want_err, char *out, size_t len)
{
    int p[2], st;
    size_t got = 0;
    ssize_t n;
    pid_t pid;

    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        if (want_err)
            dup2(p[1], 2);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execv(argv[0], argv);
        _exit(99);
    }
    close(p[1]);
    while (got + 1 < len && (n = read(p[0], out + got, len - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    /* Drain anything beyond the buffer so the child never blocks. */
    {
        char sink[4096];
        while (read(p[0], sink, sizeof sink) > 0)
            ;
    }
    close(p[0]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int listener(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1024), 0);
    return fd;
}

/* Accept every queued connection; count the peers, and those whose source
 * port lies in [lo, hi]. */
static void drain(int lfd, uint16_t lo, uint16_t hi, int *total, int *inside)
{
    struct sockaddr_in peer;
    socklen_t plen;
    int c;
    *total = *inside = 0;
    fcntl(lfd, F_SETFL, O_NONBLOCK);
    for (;;) {
        plen = sizeof peer;
        c = accept(lfd, (struct sockaddr *)&peer, &plen);
        if (c < 0)
            break;
        (*total)++;
        if (ntohs(peer.sin_port) >= lo && ntohs(peer.sin_port) <= hi)
            (*inside)++;
        close(c);
    }
}

static int count_lines(const char *out, const char *prefix, uint16_t lo, uint16_t hi,
                       int *inside)
{
    int n = 0;
    size_t pl = strlen(prefix);
    *inside = 0;
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, prefix, pl) == 0) {
            unsigned p = (unsigned)strtoul(l + pl, NULL, 10);
            n++;
            if (p >= lo && p <= hi)
                (*inside)++;
        }
    }
    return n;
}

static int ns_setup(void **state)
{
    static char why[256];
    if (!ep_test_enter_private_netns(why, sizeof why)) {
        fprintf(stderr, "SKIP: cannot make a private network namespace: %s\n", why);
        *state = why;
    } else {
        *state = NULL;
    }
    return 0;
}

static void fifty_connections_stay_in_range(void **state)
{
    static char out[65536];
    char *argv[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "--",
                     CLIENT, "127.0.0.1", "5501", "50", NULL };
    int lfd, total, inside, lines, linside;
    if (*state)
        skip();
    lfd = listener(5501);
    assert_int_equal(run(argv, NULL, false, out, sizeof out), 0);
    lines = count_lines(out, "port ", 40000, 40099, &linside);
    assert_int_equal(lines, 50);
    assert_int_equal(linside, 50);
    drain(lfd, 40000, 40099, &total, &inside);
    assert_int_equal(total, 50);
    assert_int_equal(inside, 50);
    close(lfd);
}

static void range_exhausts_with_eaddrnotavail(void **state)
{
    static char out[65536];
    char *argv[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "--",
                     CLIENT, "127.0.0.1", "5502", "101", NULL };
    int lfd, total, inside, lines, linside;
    if (*state)
        skip();
    lfd = listener(5502);
    assert_int_equal(run(argv, NULL, false, out, sizeof out), 3);
    lines = count_lines(out, "port ", 40000, 40099, &linside);
    assert_int_equal(lines, 100);
    assert_int_equal(linside, 100);
    assert_non_null(strstr(out, "fail EADDRNOTAVAIL\n"));
    drain(lfd, 40000, 40099, &total, &inside);
    assert_int_equal(total, 100);
    assert_int_equal(inside, 100);
    close(lfd);
}

static void without_exec_ports_leave_the_range(void **state)
{
    /* The control: the same client alone takes ports from the namespace's
     * whole range, so the tests above cannot pass by accident. */
    static char out[65536];
    char *argv[] = { CLIENT, "127.0.0.1", "5503", "101", NULL };
    int lfd, total, inside, lines, linside;
    if (*state)
        skip();
    lfd = listener(5503);
    assert_int_equal(run(argv, NULL, false, out, sizeof out), 0);
    lines = count_lines(out, "port ", 40000, 40099, &linside);
    assert_int_equal(lines, 101);
    assert_true(linside < 101);
    drain(lfd, 0, 65535, &total, &inside);
    assert_int_equal(total, 101);
    close(lfd);
}

static void no_port_bind_defers_the_port(void **state)
{
    static char out[65536];
    char *with[] = { (char *)ephport_bin(), "exec", "--range", "40200-40299", "--no-port-bind",
                     "--", CLIENT, "127.0.0.1", "5504", "5", "bind0", NULL };
    /* Its own range: the earlier tests' closed connections still hold every
     * port of 40000-40099 (FIN_WAIT2 / TIME_WAIT), which a plain bind(0)
     * cannot take.  Another destination: the first run's closed connections to 5504 still
     * hold their 4-tuples (FIN_WAIT2 / TIME_WAIT), which bind(0) does not
     * consider, so a plain bind could pick a port whose tuple is taken. */
    char *without[] = { (char *)ephport_bin(), "exec", "--range", "40200-40299", "--",
                        CLIENT, "127.0.0.1", "5505", "5", "bind0", NULL };
    int lfd, lfd2, total, inside, n, in;
    if (*state)
        skip();
    lfd = listener(5504);
    lfd2 = listener(5505);
    assert_int_equal(run(with, NULL, false, out, sizeof out), 0);
    /* bind(addr, 0) reserved nothing: getsockname says port 0 until connect. */
    assert_int_equal(count_lines(out, "bound ", 0, 0, &in), 5);
    assert_int_equal(in, 5);
    n = count_lines(out, "port ", 40200, 40299, &in);
    assert_int_equal(n, 5);
    assert_int_equal(in, 5);
    assert_int_equal(run(without, NULL, false, out, sizeof out), 0);
    /* Plain bind(addr, 0) picks a port at once, from the range too. */
    assert_int_equal(count_lines(out, "bound ", 40200, 40299, &in), 5);
    assert_int_equal(in, 5);
    drain(lfd, 40200, 40299, &total, &inside);
    assert_int_equal(total, 5);
    assert_int_equal(inside, 5);
    drain(lfd2, 40200, 40299, &total, &inside);
    assert_int_equal(total, 5);
    assert_int_equal(inside, 5);
    close(lfd);
    close(lfd2);
}

static int listener6(uint16_t port)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port),
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int one = 1, fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1024), 0);
    return fd;
}

static void ipv6_and_udp_stay_in_range(void **state)
{
    static char out[65536];
    char *tcp6[] = { (char *)ephport_bin(), "exec", "--range", "40100-40199", "--", CLIENT,
                     "::1", "5510", "20", NULL };
    char *udp4[] = { (char *)ephport_bin(), "exec", "--range", "40100-40199", "--", CLIENT,
                     "127.0.0.1", "5511", "20", "udp", NULL };
    char *udp6[] = { (char *)ephport_bin(), "exec", "--range", "40100-40199", "--", CLIENT,
                     "::1", "5512", "20", "udp", NULL };
    struct sockaddr_in6 peer;
    socklen_t plen;
    int lfd, c, n, in, total = 0, inside = 0;
    if (*state)
        skip();
    lfd = listener6(5510);
    assert_int_equal(run(tcp6, NULL, false, out, sizeof out), 0);
    n = count_lines(out, "port ", 40100, 40199, &in);
    assert_int_equal(n, 20);
    assert_int_equal(in, 20);
    fcntl(lfd, F_SETFL, O_NONBLOCK);
    for (;;) {
        plen = sizeof peer;
        c = accept(lfd, (struct sockaddr *)&peer, &plen);
        if (c < 0)
            break;
        total++;
        inside += ntohs(peer.sin6_port) >= 40100 && ntohs(peer.sin6_port) <= 40199;
        close(c);
    }
    assert_int_equal(total, 20);
    assert_int_equal(inside, 20);
    close(lfd);
    /* UDP: connect() binds the socket, from the range too. */
    assert_int_equal(run(udp4, NULL, false, out, sizeof out), 0);
    n = count_lines(out, "port ", 40100, 40199, &in);
    assert_int_equal(n, 20);
    assert_int_equal(in, 20);
    assert_int_equal(run(udp6, NULL, false, out, sizeof out), 0);
    n = count_lines(out, "port ", 40100, 40199, &in);
    assert_int_equal(n, 20);
    assert_int_equal(in, 20);
}

static bool have_program(const char *prog)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* An ordinary program connects once to 127.0.0.1:port under exec; the
 * listener must see its source port inside 40300-40399. */
static void ordinary_program(void **state, const char *prog, char *const cmd[], uint16_t port)
{
    static char out[4096];
    char *argv[16];
    int lfd, total, inside, n = 0;
    if (*state)
        skip();
    if (!have_program(prog)) {
        fprintf(stderr, "SKIP: %s is not installed\n", prog);
        skip();
    }
    argv[n++] = (char *)ephport_bin();
    argv[n++] = "exec";
    argv[n++] = "--range";
    argv[n++] = "40300-40399";
    argv[n++] = "--";
    for (size_t i = 0; cmd[i] && n < 15; i++)
        argv[n++] = cmd[i];
    argv[n] = NULL;
    lfd = listener(port);
    run(argv, NULL, true, out, sizeof out); /* its status is the program's business */
    drain(lfd, 40300, 40399, &total, &inside);
    if (total != 1)
        fprintf(stderr, "%s said: %s\n", prog, out);
    assert_int_equal(total, 1);
    assert_int_equal(inside, 1);
    close(lfd);
}

static void works_with_curl(void **state)
{
    char *cmd[] = { "curl", "-s", "--max-time", "1", "http://127.0.0.1:5530/", NULL };
    ordinary_program(state, "curl", cmd, 5530);
}

static void works_with_nc(void **state)
{
    char *cmd[] = { "nc", "-z", "-w", "2", "127.0.0.1", "5531", NULL };
    ordinary_program(state, "nc", cmd, 5531);
}

static void works_with_python(void **state)
{
    char *cmd[] = { "python3", "-c",
                    "import socket; s = socket.create_connection(('127.0.0.1', 5532)); s.close()",
                    NULL };
    ordinary_program(state, "python3", cmd, 5532);
}

static void exit_status_passes_through(void **state)
{
    char out[256];
    char *argv[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "--", "/bin/sh",
                     "-c", "exit 42", NULL };
    char *sig[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "/bin/sh", "-c",
                    "kill -TERM $$", NULL };
    char *missing[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "--",
                        "/nonexistent/ephport-test-command", NULL };
    (void)state;
    assert_int_equal(run(argv, NULL, false, out, sizeof out), 42);
    /* exec, not fork: a signal that kills the command is our status too. */
    assert_int_equal(run(sig, NULL, false, out, sizeof out), 128 + 15);
    assert_int_equal(run(missing, NULL, true, out, sizeof out), 127);
    assert_non_null(strstr(out, "cannot run"));
}

static void environment_passes_through(void **state)
{
    char out[4096];
    /* An ASan build of ephport refuses to start with a foreign LD_PRELOAD
     * ahead of its runtime; tell it not to check (no effect otherwise). */
    static char asan[512];
    const char *old = getenv("ASAN_OPTIONS");
    const char *env[] = { "EPHPORT_TEST_VALUE=kept as is", "LD_PRELOAD=libm.so.6", asan, NULL };
    char *argv[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "--", "/bin/sh",
                     "-c", "printf '%s|%s|%s' \"$EPHPORT_TEST_VALUE\" \"$LD_PRELOAD\" "
                     "\"$EPHPORT_EXEC_RANGE\"", NULL };
    char *shim_end;
    (void)state;
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old ? old : "",
             old && *old ? ":" : "");
    assert_int_equal(run(argv, env, false, out, sizeof out), 0);
    assert_true(strncmp(out, "kept as is|/", 12) == 0);
    /* LD_PRELOAD: our absolute shim path first, the old value kept after it. */
    shim_end = strstr(out, "libephport-preload.so:libm.so.6|");
    assert_non_null(shim_end);
    assert_non_null(strstr(out, "|40000-40099"));
}

static void bad_ranges_exit_2(void **state)
{
    static const char *bad[] = { "", "40000", "40099-40000", "0-100", "1-65536", "abc",
                                 "40000-40099x", "-5-10", NULL };
    char out[1024];
    (void)state;
    for (size_t i = 0; bad[i]; i++) {
        char *argv[] = { (char *)ephport_bin(), "exec", "--range", (char *)bad[i], "--", "true",
                         NULL };
        assert_int_equal(run(argv, NULL, true, out, sizeof out), 2);
        assert_non_null(strstr(out, "bad --range"));
    }
    {
        char *noarg[] = { (char *)ephport_bin(), "exec", "--", "true", NULL };
        char *nocmd[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", NULL };
        char *unknown[] = { (char *)ephport_bin(), "exec", "--bogus", NULL };
        assert_int_equal(run(noarg, NULL, true, out, sizeof out), 2);
        assert_non_null(strstr(out, "--range LO-HI is required"));
        assert_int_equal(run(nocmd, NULL, true, out, sizeof out), 2);
        assert_non_null(strstr(out, "no command given"));
        assert_int_equal(run(unknown, NULL, true, out, sizeof out), 2);
    }
}

static void range_outside_the_system_range_fails(void **state)
{
    char out[1024];
    char *argv[] = { (char *)ephport_bin(), "exec", "--range", "1000-2000", "--", "true", NULL };
    if (*state)
        skip(); /* needs our own namespace's sysctl, known to be 32768-60999 */
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "32768 60999"), 0);
    assert_int_equal(run(argv, NULL, true, out, sizeof out), 1);
    assert_non_null(strstr(out, "not inside net.ipv4.ip_local_port_range 32768-60999"));
}

static void unreachable_commands_are_refused(void **state)
{
    char out[1024], dir[] = "/tmp/ephport-test-suid-XXXXXX", suid[64], cmd[256];
    char *stat_argv[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "--",
                          "/sbin/ldconfig", "--version", NULL };
    char *suid_argv[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "--", suid,
                          NULL };
    (void)state;
    /* A statically linked program (Debian's ldconfig is static-pie). */
    if (access("/sbin/ldconfig", X_OK) == 0) {
        assert_int_equal(run(stat_argv, NULL, true, out, sizeof out), 1);
        assert_non_null(strstr(out, "statically linked"));
    } else {
        fprintf(stderr, "SKIP: static case: no /sbin/ldconfig\n");
    }
    /* A set-user-ID program owned by someone else. */
    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: setuid case: needs root to chown\n");
        return;
    }
    assert_non_null(mkdtemp(dir));
    snprintf(suid, sizeof suid, "%s/true", dir);
    snprintf(cmd, sizeof cmd, "cp /bin/true %s && chown 65534 %s && chmod 4755 %s", suid, suid,
             suid);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run(suid_argv, NULL, true, out, sizeof out), 1);
    assert_non_null(strstr(out, "set-user/group-ID"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The kernel never hands out a reserved port, per-socket range or not: a
 * range entirely reserved is refused, a partly reserved one is said. */
static void range_inside_reserved_ports_is_refused(void **state)
{
    char out[1024];
    char *argv[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "--", "true", NULL };
    if (*state)
        skip(); /* needs our own namespace's sysctls */
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "32768 60999"), 0);
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_reserved_ports", "39000-40199"), 0);
    assert_int_equal(run(argv, NULL, true, out, sizeof out), 1);
    assert_non_null(strstr(out, "every port of 40000-40099 is in "
                                "net.ipv4.ip_local_reserved_ports (39000-40199)"));
    assert_non_null(strstr(out, "EADDRNOTAVAIL"));
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_reserved_ports", "40000-40049"), 0);
    assert_int_equal(run(argv, NULL, true, out, sizeof out), 0);
    assert_non_null(strstr(out, "warning: 50 of the 100 ports of 40000-40099 are in "
                                "net.ipv4.ip_local_reserved_ports; 50 remain"));
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_reserved_ports", ""), 0);
}

/* A dynamically linked program of another ELF class or machine: the loader
 * would skip the 64-bit shim and run it unconfined.  Written by hand (an
 * ELF header and one PT_INTERP program header are all exec reads). */
static void ep_write_elf(const char *path, bool is64, unsigned machine)
{
    unsigned char buf[256];
    FILE *f;
    size_t n;
    memset(buf, 0, sizeof buf);
    if (is64) {
        Elf64_Ehdr *e = (Elf64_Ehdr *)buf;
        Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof *e);
        memcpy(e->e_ident, ELFMAG, SELFMAG);
        e->e_ident[EI_CLASS] = ELFCLASS64;
        e->e_ident[EI_DATA] = ELFDATA2LSB;
        e->e_ident[EI_VERSION] = EV_CURRENT;
        e->e_type = ET_EXEC;
        e->e_machine = (Elf64_Half)machine;
        e->e_version = EV_CURRENT;
        e->e_phoff = sizeof *e;
        e->e_ehsize = sizeof *e;
        e->e_phentsize = sizeof *ph;
        e->e_phnum = 1;
        ph->p_type = PT_INTERP;
        n = sizeof *e + sizeof *ph;
    } else {
        Elf32_Ehdr *e = (Elf32_Ehdr *)buf;
        Elf32_Phdr *ph = (Elf32_Phdr *)(buf + sizeof *e);
        memcpy(e->e_ident, ELFMAG, SELFMAG);
        e->e_ident[EI_CLASS] = ELFCLASS32;
        e->e_ident[EI_DATA] = ELFDATA2LSB;
        e->e_ident[EI_VERSION] = EV_CURRENT;
        e->e_type = ET_EXEC;
        e->e_machine = (Elf32_Half)machine;
        e->e_version = EV_CURRENT;
        e->e_phoff = sizeof *e;
        e->e_ehsize = sizeof *e;
        e->e_phentsize = sizeof *ph;
        e->e_phnum = 1;
        ph->p_type = PT_INTERP;
        n = sizeof *e + sizeof *ph;
    }
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0755), 0);
}

static void other_elf_class_or_machine_is_refused(void **state)
{
    char out[1024], dir[] = "/tmp/ephport-test-elf-XXXXXX", p32[64], pforeign[64];
    char *argv32[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "--", p32, NULL };
    char *argvf[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "--", pforeign,
                      NULL };
#if defined(__x86_64__)
    unsigned m32 = EM_386, foreign = EM_AARCH64;
    const char *name32 = "is a 32-bit i386 program", *namef = "is a 64-bit AArch64 program";
#elif defined(__aarch64__)
    unsigned m32 = EM_ARM, foreign = EM_X86_64;
    const char *name32 = "is a 32-bit ARM program", *namef = "is a 64-bit x86-64 program";
#else
    (void)state;
    fprintf(stderr, "SKIP: no foreign-architecture case written for this machine\n");
    skip();
#endif
    if (*state)
        skip(); /* the range must lie inside our namespace's */
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "32768 60999"), 0);
    assert_non_null(mkdtemp(dir));
    snprintf(p32, sizeof p32, "%s/prog32", dir);
    snprintf(pforeign, sizeof pforeign, "%s/foreign", dir);
    ep_write_elf(p32, false, m32);
    ep_write_elf(pforeign, true, foreign);
    assert_int_equal(run(argv32, NULL, true, out, sizeof out), 1);
    if (!strstr(out, name32) || !strstr(out, "the dynamic loader would skip the shim"))
        fail_msg("32-bit program not refused: %s", out);
    assert_int_equal(run(argvf, NULL, true, out, sizeof out), 1);
    if (!strstr(out, namef))
        fail_msg("foreign program not refused: %s", out);
    unlink(p32);
    unlink(pforeign);
    rmdir(dir);
}

static void missing_preload_is_reported(void **state)
{
    char out[1024];
    const char *env[] = { "EPHPORT_PRELOAD=/nonexistent/libephport-preload.so", NULL };
    char *argv[] = { (char *)ephport_bin(), "exec", "--range", "40000-40099", "--", "true", NULL };
    (void)state;
    assert_int_equal(run(argv, env, true, out, sizeof out), 1);
    assert_non_null(strstr(out, "EPHPORT_PRELOAD=/nonexistent/libephport-preload.so"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fifty_connections_stay_in_range),
        cmocka_unit_test(range_exhausts_with_eaddrnotavail),
        cmocka_unit_test(without_exec_ports_leave_the_range),
        cmocka_unit_test(no_port_bind_defers_the_port),
        cmocka_unit_test(ipv6_and_udp_stay_in_range),
        cmocka_unit_test(works_with_curl),
        cmocka_unit_test(works_with_nc),
        cmocka_unit_test(works_with_python),
        cmocka_unit_test(exit_status_passes_through),
        cmocka_unit_test(environment_passes_through),
        cmocka_unit_test(bad_ranges_exit_2),
        cmocka_unit_test(range_outside_the_system_range_fails),
        cmocka_unit_test(unreachable_commands_are_refused),
        cmocka_unit_test(range_inside_reserved_ports_is_refused),
        cmocka_unit_test(other_elf_class_or_machine_is_refused),
        cmocka_unit_test(missing_preload_is_reported),
    };
    return cmocka_run_group_tests(tests, ns_setup, NULL);
}
