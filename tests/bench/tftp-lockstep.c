/*
 * tftp-lockstep: the smallest lock-step TFTP read server, for the tftp
 * benchmark only (never shipped). It is the differential reference for
 * pbxnet-tftpd's lock-step speed: per block it does what tftpd-hpa's
 * forked child does and nothing else, and each switch below adds one thing
 * pbxnet-tftpd does differently, so that a difference in speed can be
 * pinned to one of them.
 *
 *   tftp-lockstep [-t] [-e] [-d] [-n] [-E] ADDR ROOT
 *
 *   (default) fork a child per request (like tftpd-hpa -L); the child binds
 *             ADDR:0, connects to the client, sets IP_PMTUDISC_DONT (as
 *             tftpd-hpa does), then per block: pread, send, poll (1 s),
 *             recv. No further socket options.
 *   -t        a thread per request instead of a process.
 *   -e        the tokio pattern: non-blocking socket; after the send a recv
 *             that fails with EAGAIN, then epoll_wait, then recv.
 *   -d        leave path MTU discovery at the kernel default (DF set), as
 *             pbxnet-tftpd does.
 *   -n        no tsize/blksize OACK even if asked (plain RFC 1350).
 *   -E        one process, one thread, one level-triggered epoll loop over
 *             the listening socket and every transfer socket: per block
 *             recv, pread, send, and an epoll_wait shared by all transfers
 *             ready at once (no fork, no per-transfer wake-up of its own).
 *             The leanest server design measured here for the storm, as its reference.
 *
 * Options understood: blksize (up to 65464) and tsize; windowsize is not
 * acknowledged (lock-step only). Retransmits the last DATA after 1 s
 * without an ACK, gives up after 5 tries. Octet mode only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int use_thread, use_epoll, keep_df, no_options, event_loop;
static struct in_addr local_ip;
static int root_fd;

struct job {
	struct sockaddr_in peer;
	char req[1600];
	int len;
};

static void send_error(int s, int code, const char *msg)
{
	char b[600];
	b[0] = 0; b[1] = 5; b[2] = code >> 8; b[3] = code & 0xff;
	size_t n = strlen(msg);
	memcpy(b + 4, msg, n + 1);
	send(s, b, n + 5, 0);
}

/* Wait for a datagram for up to `ms`; returns its length, 0 on timeout. */
static int wait_recv(int s, int ep, char *buf, size_t cap, int ms)
{
	if (use_epoll) {
		for (;;) {
			ssize_t n = recv(s, buf, cap, MSG_DONTWAIT);
			if (n >= 0)
				return (int)n;
			if (errno != EAGAIN && errno != EINTR)
				return -1;
			struct epoll_event ev;
			int r = epoll_wait(ep, &ev, 1, ms);
			if (r == 0)
				return 0;
			if (r < 0 && errno != EINTR)
				return -1;
		}
	}
	struct pollfd p = { .fd = s, .events = POLLIN };
	for (;;) {
		int r = poll(&p, 1, ms);
		if (r == 0)
			return 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		ssize_t n = recv(s, buf, cap, MSG_DONTWAIT);
		if (n >= 0)
			return (int)n;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
	}
}

/* File name and options of a RRQ; nonzero if malformed. */
static int parse_rrq(struct job *j, char **pname, long *pblksize, int *pwant_blk, int *pwant_tsize)
{
	char *name = j->req + 2, *end = j->req + j->len;
	char *mode = memchr(name, 0, end - name);
	if (!mode)
		return 1;
	mode++;
	char *opt = memchr(mode, 0, end - mode);
	if (!opt)
		return 1;
	opt++;
	long blksize = 512;
	int want_tsize = 0, want_blk = 0;
	while (!no_options && opt < end) {
		char *val = memchr(opt, 0, end - opt);
		if (!val)
			break;
		val++;
		char *next = memchr(val, 0, end - val);
		if (!next)
			break;
		if (!strcasecmp(opt, "blksize")) {
			blksize = strtol(val, NULL, 10);
			if (blksize < 8)
				blksize = 512;
			if (blksize > 65464)
				blksize = 65464;
			want_blk = 1;
		} else if (!strcasecmp(opt, "tsize")) {
			want_tsize = 1;
		}
		opt = next + 1;
	}
	while (*name == '/')
		name++;
	*pname = name;
	*pblksize = blksize;
	*pwant_blk = want_blk;
	*pwant_tsize = want_tsize;
	return 0;
}

static void *serve(void *arg)
{
	struct job *j = arg;
	char *name;
	long blksize;
	int want_blk, want_tsize;
	if (parse_rrq(j, &name, &blksize, &want_blk, &want_tsize))
		goto out;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | (use_epoll ? SOCK_NONBLOCK : 0), 0);
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr = local_ip };
	if (s < 0 || bind(s, (struct sockaddr *)&me, sizeof me) < 0 ||
	    connect(s, (struct sockaddr *)&j->peer, sizeof j->peer) < 0)
		goto out;
	if (!keep_df) {
		int v = IP_PMTUDISC_DONT;
		setsockopt(s, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof v);
	}
	int ep = -1;
	if (use_epoll) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	}
	int fd = openat(root_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		send_error(s, 1, "file not found");
		goto close;
	}
	struct stat st;
	fstat(fd, &st);
	char *pkt = malloc(blksize + 4), ack[1600];
	if (want_blk || want_tsize) {
		int n = 2;
		pkt[0] = 0; pkt[1] = 6;
		if (want_blk)
			n += sprintf(pkt + n, "blksize%c%ld", 0, blksize) + 1;
		if (want_tsize)
			n += sprintf(pkt + n, "tsize%c%lld", 0, (long long)st.st_size) + 1;
		int tries = 0;
		for (;;) {
			send(s, pkt, n, 0);
			int r = wait_recv(s, ep, ack, sizeof ack, 1000);
			if (r >= 4 && ack[1] == 4 && ack[2] == 0 && ack[3] == 0)
				break;
			if (r >= 2 && ack[1] == 5)
				goto done;
			if (r <= 0 && ++tries == 5)
				goto done;
		}
	}
	uint64_t block = 1;
	for (;;) {
		ssize_t n = pread(fd, pkt + 4, blksize, (off_t)((block - 1) * blksize));
		if (n < 0)
			n = 0;
		pkt[0] = 0; pkt[1] = 3;
		pkt[2] = (block >> 8) & 0xff; pkt[3] = block & 0xff;
		int tries = 0;
		for (;;) {
			send(s, pkt, n + 4, 0);
			int r;
		again:
			r = wait_recv(s, ep, ack, sizeof ack, 1000);
			if (r >= 4 && ack[1] == 4) {
				if (((unsigned char)ack[2] << 8 | (unsigned char)ack[3]) == (int)(block & 0xffff))
					break;
				goto again; /* never resend on a duplicate ACK */
			}
			if (r >= 2 && ack[1] == 5)
				goto done;
			if (r <= 0 && ++tries == 5)
				goto done;
		}
		if (n < blksize)
			break;
		block++;
	}
done:
	free(pkt);
	close(fd);
close:
	if (ep >= 0)
		close(ep);
	close(s);
out:
	free(j);
	return NULL;
}

/* -E: one transfer of the event loop. */
struct xfer {
	struct xfer *next;
	int s, fd;
	long blksize;
	uint64_t block; /* last block sent; 0: the OACK */
	int len;        /* length of pkt */
	int tries;
	struct timespec sent;
	char *pkt;
};

static double since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) + (now.tv_nsec - t->tv_nsec) / 1e9;
}

static void x_send(struct xfer *x)
{
	send(x->s, x->pkt, x->len, 0);
	clock_gettime(CLOCK_MONOTONIC, &x->sent);
}

static void x_data(struct xfer *x)
{
	ssize_t n = pread(x->fd, x->pkt + 4, x->blksize, (off_t)((x->block - 1) * x->blksize));
	if (n < 0)
		n = 0;
	x->pkt[0] = 0; x->pkt[1] = 3;
	x->pkt[2] = (x->block >> 8) & 0xff; x->pkt[3] = x->block & 0xff;
	x->len = (int)n + 4;
	x->tries = 0;
	x_send(x);
}

static void run_event_loop(int l)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	struct xfer *all = NULL;
	struct timespec scanned;
	clock_gettime(CLOCK_MONOTONIC, &scanned);
	char buf[1600];
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 100);
		for (int i = 0; i < n; i++) {
			struct xfer *x = evs[i].data.ptr;
			if (!x) {
				struct job j;
				socklen_t pl = sizeof j.peer;
				j.len = recvfrom(l, j.req, sizeof j.req - 1, MSG_DONTWAIT,
						 (struct sockaddr *)&j.peer, &pl);
				if (j.len < 4 || j.req[1] != 1)
					continue;
				j.req[j.len] = 0;
				char *name;
				long blksize;
				int want_blk, want_tsize;
				if (parse_rrq(&j, &name, &blksize, &want_blk, &want_tsize))
					continue;
				int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
				struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr = local_ip };
				if (s < 0 || bind(s, (struct sockaddr *)&me, sizeof me) < 0 ||
				    connect(s, (struct sockaddr *)&j.peer, sizeof j.peer) < 0) {
					if (s >= 0)
						close(s);
					continue;
				}
				if (!keep_df) {
					int v = IP_PMTUDISC_DONT;
					setsockopt(s, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof v);
				}
				int fd = openat(root_fd, name, O_RDONLY | O_CLOEXEC);
				if (fd < 0) {
					send_error(s, 1, "file not found");
					close(s);
					continue;
				}
				x = calloc(1, sizeof *x);
				x->s = s; x->fd = fd; x->blksize = blksize;
				x->pkt = malloc(blksize + 4);
				x->next = all;
				all = x;
				struct epoll_event xe = { .events = EPOLLIN, .data.ptr = x };
				epoll_ctl(ep, EPOLL_CTL_ADD, s, &xe);
				if (want_blk || want_tsize) {
					struct stat st;
					fstat(fd, &st);
					int k = 2;
					x->pkt[0] = 0; x->pkt[1] = 6;
					if (want_blk)
						k += sprintf(x->pkt + k, "blksize%c%ld", 0, blksize) + 1;
					if (want_tsize)
						k += sprintf(x->pkt + k, "tsize%c%lld", 0, (long long)st.st_size) + 1;
					x->len = k;
					x_send(x);
				} else {
					x->block = 1;
					x_data(x);
				}
				continue;
			}
			ssize_t r = recv(x->s, buf, sizeof buf, MSG_DONTWAIT);
			if (r >= 2 && buf[1] == 5) {
				x->tries = 99; /* closed by the scan below */
			} else if (r >= 4 && buf[1] == 4 &&
				   (((unsigned char)buf[2] << 8) | (unsigned char)buf[3]) == (int)(x->block & 0xffff)) {
				if (x->block > 0 && x->len - 4 < x->blksize)
					x->tries = 99; /* last block acknowledged */
				else {
					x->block++;
					x_data(x);
				}
			}
		}
		if (since(&scanned) < 0.1)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &scanned);
		for (struct xfer **px = &all; *px;) {
			struct xfer *x = *px;
			if (x->tries < 99 && since(&x->sent) > 1.0) {
				if (++x->tries < 5)
					x_send(x);
				else
					x->tries = 99;
			}
			if (x->tries >= 99) {
				*px = x->next;
				close(x->s); /* also leaves the epoll set */
				close(x->fd);
				free(x->pkt);
				free(x);
			} else {
				px = &x->next;
			}
		}
	}
}

static void reap(int sig)
{
	(void)sig;
	int e = errno;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = e;
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "tednE")) != -1) {
		switch (c) {
		case 't': use_thread = 1; break;
		case 'e': use_epoll = 1; break;
		case 'd': keep_df = 1; break;
		case 'n': no_options = 1; break;
		case 'E': event_loop = 1; break;
		default:
			fprintf(stderr, "usage: tftp-lockstep [-t] [-e] [-d] [-n] [-E] ADDR ROOT\n");
			return 2;
		}
	}
	if (argc - optind != 2 || !inet_aton(argv[optind], &local_ip)) {
		fprintf(stderr, "usage: tftp-lockstep [-t] [-e] [-d] [-n] [-E] ADDR ROOT\n");
		return 2;
	}
	root_fd = open(argv[optind + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		perror("root");
		return 1;
	}
	/* Children are reaped (not ignored), so that their CPU time shows in
	 * this process's cutime/cstime as tftpd-hpa's does in its. */
	struct sigaction sa = { .sa_handler = reap, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
	sigaction(SIGCHLD, &sa, NULL);
	int l = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(69), .sin_addr = local_ip };
	if (l < 0 || bind(l, (struct sockaddr *)&me, sizeof me) < 0) {
		perror("bind");
		return 1;
	}
	if (event_loop) {
		run_event_loop(l);
		return 0;
	}
	for (;;) {
		struct job *j = malloc(sizeof *j);
		socklen_t pl = sizeof j->peer;
		j->len = recvfrom(l, j->req, sizeof j->req - 1, 0, (struct sockaddr *)&j->peer, &pl);
		if (j->len < 4 || j->req[1] != 1) {
			free(j);
			continue;
		}
		j->req[j->len] = 0;
		if (use_thread) {
			pthread_t t;
			pthread_attr_t a;
			pthread_attr_init(&a);
			pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&t, &a, serve, j))
				free(j);
		} else {
			pid_t p = fork();
			if (p == 0) {
				close(l);
				serve(j);
				_exit(0);
			}
			free(j);
		}
	}
}
