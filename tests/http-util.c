/* http-util.c - see http-util.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "http-util.h"

char *ep_test_http_get(uint16_t port, const char *path)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    size_t len = 0, cap = 1 << 16;
    char req[512], *buf = malloc(cap);
    int fd = -1, rn;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rn = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    for (int tries = 0; tries < 500; tries++) {   /* up to 5 s for it to listen */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            break;
        if (fd >= 0)
            close(fd);
        fd = -1;
        usleep(10000);
    }
    if (fd < 0 || !buf || rn <= 0 || (size_t)rn >= sizeof req ||
        write(fd, req, (size_t)rn) != rn) {
        free(buf);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    for (;;) {
        ssize_t n;
        if (len + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b)
                break;
            buf = b;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

double ep_test_sample(const char *text, const char *prefix)
{
    const char *p = text;
    while ((p = strstr(p, prefix)) != NULL) {
        if (p == text || p[-1] == '\n') {
            const char *end = strchr(p, '\n'), *sp;
            if (!end)
                return -1;
            for (sp = end; sp > p && sp[-1] != ' '; sp--)
                ;
            return strtod(sp, NULL);
        }
        p++;
    }
    return -1;
}
