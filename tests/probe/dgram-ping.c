/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An ICMP echo over a datagram socket (IPPROTO_ICMP / IPPROTO_ICMPV6), as iputils' ping does
 * without CAP_NET_RAW: the tests' ping inside containers, which have no CAP_NET_RAW (busybox's
 * ping only knows raw sockets). Static, so that it runs on the busybox base.
 *   dgram-ping [-c N] [-W SECONDS] [-6] ADDRESS[%IFACE]
 * Numeric addresses only. Exit 0 on a reply, 1 on none within the time, 2 on an error. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        int timeout = 3, v6 = 0, opt, fd;
        struct sockaddr_storage sa = {};
        socklen_t len;
        char addr[128], *pct;
        unsigned char pkt[64] = {}, buf[512];

        while ((opt = getopt(argc, argv, "c:W:6")) >= 0)
                switch (opt) {
                case 'c': break;        /* one echo: enough to say whether it answers */
                case 'W': timeout = atoi(optarg); break;
                case '6': v6 = 1; break;
                default: return 2;
                }
        if (optind != argc - 1 || strlen(argv[optind]) >= sizeof(addr))
                return 2;
        strcpy(addr, argv[optind]);
        pct = strchr(addr, '%');
        if (pct)
                *pct++ = 0;
        if (strchr(addr, ':'))
                v6 = 1;
        if (v6) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &sa;
                s6->sin6_family = AF_INET6;
                if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
                        return 2;
                if (pct)
                        s6->sin6_scope_id = if_nametoindex(pct);
                len = sizeof(*s6);
                pkt[0] = ICMP6_ECHO_REQUEST;
        } else {
                struct sockaddr_in *s4 = (struct sockaddr_in *) &sa;
                s4->sin_family = AF_INET;
                if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
                        return 2;
                len = sizeof(*s4);
                pkt[0] = ICMP_ECHO;
        }
        fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
        if (fd < 0) {
                fprintf(stderr, "dgram-ping: socket: %s\n", strerror(errno));
                return 2;
        }
        /* the kernel fills in the identifier and the checksum */
        pkt[7] = 1;
        printf("PING %s\n", argv[optind]);
        if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *) &sa, len) < 0) {
                fprintf(stderr, "dgram-ping: sendto: %s\n", strerror(errno));
                return 2;
        }
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;
                int r = poll(&p, 1, timeout * 1000);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0) {
                        printf("no answer from %s\n", argv[optind]);
                        return 1;
                }
                n = recv(fd, buf, sizeof(buf), 0);
                if (n > 0 && buf[0] == (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY)) {
                        printf("%zd bytes from %s\n", n, argv[optind]);
                        return 0;
                }
        }
}
