/*
 * test/bench/receiver.c - a minimal keep-alive HTTP receiver for the
 * webhook benchmark: answers every request "200 OK" at once and counts
 * the events it got (the "id" keys of the bodies); prints the count and
 * the time of the last request when it receives SIGUSR1 (to its stdout).
 *
 *   cc -O2 -o receiver receiver.c && ./receiver PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAXC 256
#define BUF (1 << 20)

static volatile sig_atomic_t report = 0;
static void on_usr1(int s) { report = 1; }

struct conn { int fd; char *buf; size_t len; };

int
main(int argc, char **argv)
{
	struct pollfd p[MAXC + 1];
	struct conn c[MAXC + 1];
	int n = 1, one = 1;
	long events = 0, requests = 0;
	double last = 0;
	struct sockaddr_in a = {0};
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	signal(SIGUSR1, on_usr1);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_family = AF_INET;
	a.sin_port = htons(atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(ls, 64) < 0)
		return 1;
	p[0].fd = ls;
	p[0].events = POLLIN;
	for (;;)
	{
		if (report)
		{
			printf("%ld %ld %.6f\n", requests, events, last);
			fflush(stdout);
			report = 0;
		}
		if (poll(p, n, 100) <= 0)
			continue;
		if ((p[0].revents & POLLIN) && n <= MAXC)
		{
			int fd = accept(ls, NULL, NULL);

			if (fd >= 0)
			{
				/* answer at once: no Nagle wait behind the client's delayed ACK */
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				p[n].fd = fd;
				p[n].events = POLLIN;
				c[n].fd = fd;
				c[n].buf = malloc(BUF);
				c[n].len = 0;
				n++;
			}
		}
		for (int i = 1; i < n; i++)
		{
			ssize_t r;
			char *hdr_end;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(c[i].fd, c[i].buf + c[i].len, BUF - c[i].len - 1);
			if (r <= 0)
			{
				close(c[i].fd);
				free(c[i].buf);
				p[i] = p[n - 1];
				c[i] = c[n - 1];
				n--;
				i--;
				continue;
			}
			c[i].len += r;
			c[i].buf[c[i].len] = '\0';
			/* whole requests: headers, then Content-Length bytes */
			while ((hdr_end = strstr(c[i].buf, "\r\n\r\n")) != NULL)
			{
				char *cl = strcasestr(c[i].buf, "content-length:");
				size_t body = cl && cl < hdr_end ? strtoul(cl + 15, NULL, 10) : 0;
				size_t total = (hdr_end + 4 - c[i].buf) + body;
				struct timeval tv;

				if (c[i].len < total)
					break;
				for (char *q = hdr_end; (q = strstr(q, "\"id\":")) != NULL && q < c[i].buf + total; q++)
					events++;
				requests++;
				gettimeofday(&tv, NULL);
				last = tv.tv_sec + tv.tv_usec / 1e6;
				if (write(c[i].fd, reply, sizeof(reply) - 1) < 0)
					break;
				memmove(c[i].buf, c[i].buf + total, c[i].len - total);
				c[i].len -= total;
				c[i].buf[c[i].len] = '\0';
			}
		}
	}
}
