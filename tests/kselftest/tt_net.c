// SPDX-License-Identifier: GPL-2.0
/*
 * Namespaces, links and sockets for the tcptake selftests, and the KTAP
 * runner. Links are made with rtnetlink directly: busybox ip can create
 * neither veth pairs nor namespaces.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/rtnetlink.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <linux/tcp.h>

#include "tt.h"

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t now_ms(void)
{
	return now_us() / 1000;
}

void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- KTAP runner ----------------------------------------------------------- */

static bool selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

/* Run the tests named in argv[1..], or all of them. */
int ktap_run(const struct ktest *tests, size_t n, int argc, char **argv)
{
	unsigned int pass = 0, fail = 0, skip = 0, num = 0, plan = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < n; i++)
		plan += selected(tests[i].name, argc, argv);
	printf("TAP version 13\n1..%u\n", plan);
	for (size_t i = 0; i < n; i++) {
		int status;
		pid_t pid;

		if (!selected(tests[i].name, argc, argv))
			continue;
		num++;
		pid = fork();

		if (pid < 0) {
			perror("fork");
			exit(KSFT_FAIL);
		}
		if (pid == 0) {
			/* Each test gets a fresh netns: nothing leaks between tests. */
			netns_new();
			alarm(tests[i].timeout_s ? tests[i].timeout_s : 30);
			tests[i].fn();
			exit(KSFT_PASS);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_PASS) {
			printf("ok %u - %s\n", num, tests[i].name);
			pass++;
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP) {
			printf("ok %u - %s # SKIP\n", num, tests[i].name);
			skip++;
		} else {
			if (WIFSIGNALED(status))
				diag("%s: killed by signal %d%s", tests[i].name, WTERMSIG(status),
				     WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
			printf("not ok %u - %s\n", num, tests[i].name);
			fail++;
		}
	}
	printf("# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0\n", pass, fail, skip);
	if (fail)
		return KSFT_FAIL;
	return pass ? KSFT_PASS : KSFT_SKIP;
}

/* ---- namespaces and links ---------------------------------------------------- */

int netns_self(void)
{
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		FAIL("open netns: %s", strerror(errno));
	return fd;
}

int netns_new(void)
{
	int fd;

	if (unshare(CLONE_NEWNET))
		FAIL("unshare(CLONE_NEWNET): %s", strerror(errno));
	fd = netns_self();
	link_up("lo");
	return fd;
}

void netns_enter(int nsfd)
{
	if (setns(nsfd, CLONE_NEWNET))
		FAIL("setns: %s", strerror(errno));
}

void link_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		FAIL("SIOCGIFFLAGS %s: %s", ifname, strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		FAIL("SIOCSIFFLAGS %s: %s", ifname, strerror(errno));
	close(fd);
}

static void rtnl_do(struct msg *m, const char *what)
{
	int fd = nl_open(NETLINK_ROUTE);

	nl_do(fd, m, NULL, NULL, what);
	close(fd);
}

void veth_pair(const char *ifa, const char *ifb, int nsb)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct msg m;

	msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	memcpy(m.buf + NLMSG_HDRLEN, &ifi, sizeof(ifi));
	m.nh.nlmsg_len += NLMSG_ALIGN(sizeof(ifi));
	put_str(&m, IFLA_IFNAME, ifa);
	nest_start(&m, IFLA_LINKINFO);
	put_str(&m, IFLA_INFO_KIND, "veth");
	nest_start(&m, IFLA_INFO_DATA);
	nest_start(&m, VETH_INFO_PEER);
	/* the peer's ifinfomsg, then its attributes */
	memcpy(m.buf + m.nh.nlmsg_len, &ifi, sizeof(ifi));
	m.nh.nlmsg_len += NLMSG_ALIGN(sizeof(ifi));
	put_str(&m, IFLA_IFNAME, ifb);
	put_u32(&m, IFLA_NET_NS_FD, nsb);
	nest_end(&m);
	nest_end(&m);
	nest_end(&m);
	rtnl_do(&m, "RTM_NEWLINK veth");
	link_up(ifa);
}

void addr_add4(const char *ifname, const char *addr, int prefix)
{
	struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = prefix };
	struct in_addr a;
	struct msg m;

	ifa.ifa_index = if_nametoindex(ifname);
	if (!ifa.ifa_index || inet_pton(AF_INET, addr, &a) != 1)
		FAIL("addr_add4 %s %s", ifname, addr);
	msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	memcpy(m.buf + NLMSG_HDRLEN, &ifa, sizeof(ifa));
	m.nh.nlmsg_len += NLMSG_ALIGN(sizeof(ifa));
	put(&m, IFA_LOCAL, &a, 4);
	put(&m, IFA_ADDRESS, &a, 4);
	rtnl_do(&m, "RTM_NEWADDR");
}

/*
 * A /32 route to @dst in @table: through @ifname with rto_min @rto_min_ms
 * (@type RTN_UNICAST), or of @type RTN_BLACKHOLE (@ifname NULL); it
 * replaces one to the same @dst.
 */
void route4(uint32_t table, uint8_t type, const char *ifname, const char *dst,
	    uint32_t rto_min_ms)
{
	struct rtmsg rt = {
		.rtm_family = AF_INET, .rtm_dst_len = 32, .rtm_table = RT_TABLE_UNSPEC,
		.rtm_protocol = RTPROT_STATIC,
		.rtm_scope = ifname ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
		.rtm_type = type,
	};
	struct in_addr a;
	struct msg m;

	if (inet_pton(AF_INET, dst, &a) != 1)
		FAIL("route4 %s", dst);
	msg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
	memcpy(m.buf + NLMSG_HDRLEN, &rt, sizeof(rt));
	m.nh.nlmsg_len += NLMSG_ALIGN(sizeof(rt));
	put(&m, RTA_DST, &a, 4);
	put_u32(&m, RTA_TABLE, table);
	if (ifname) {
		put_u32(&m, RTA_OIF, if_nametoindex(ifname));
		nest_start(&m, RTA_METRICS);
		put_u32(&m, RTAX_LOCK, 1u << RTAX_RTO_MIN);
		put_u32(&m, RTAX_RTO_MIN, rto_min_ms);
		nest_end(&m);
	}
	rtnl_do(&m, "RTM_NEWROUTE");
}

void route_rto_min4(const char *ifname, const char *dst, uint32_t rto_min_ms)
{
	route4(RT_TABLE_MAIN, RTN_UNICAST, ifname, dst, rto_min_ms);
}

/*
 * An IPv4 policy rule: packets marked @mark look up @table. A kernel
 * without policy routing (CONFIG_IP_MULTIPLE_TABLES) skips the test.
 */
void rule_fwmark4(uint32_t mark, uint32_t table, uint32_t prio)
{
	struct fib_rule_hdr frh = { .family = AF_INET, .action = FR_ACT_TO_TBL };
	struct nlres res;
	struct msg m;
	int fd;

	msg_init(&m, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL);
	memcpy(m.buf + NLMSG_HDRLEN, &frh, sizeof(frh));
	m.nh.nlmsg_len += NLMSG_ALIGN(sizeof(frh));
	put_u32(&m, FRA_FWMARK, mark);
	put_u32(&m, FRA_TABLE, table);
	put_u32(&m, FRA_PRIORITY, prio);
	fd = nl_open(NETLINK_ROUTE);
	nl_request(fd, &m, &res, NULL, NULL);
	close(fd);
	if (res.err == EOPNOTSUPP || res.err == EAFNOSUPPORT)
		SKIP("RTM_NEWRULE: %s (no policy routing in this kernel)", strerror(res.err));
	if (res.err)
		FAIL("RTM_NEWRULE: %s%s%s", strerror(res.err), res.has_msg ? ": " : "", res.msg);
}

void sysctl_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		FAIL("sysctl %s=%s: %s", path, val, strerror(errno));
	close(fd);
}

/* ---- TCP ------------------------------------------------------------------- */

static void nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		FAIL("TCP_NODELAY: %s", strerror(errno));
}

void tcp_pair4_ns(const char *server, const char *client_bind, int ns_client,
		  int ns_server, int *c, int *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int l, self = -1;

	if (ns_client >= 0 || ns_server >= 0)
		self = netns_self();
	if (ns_server >= 0)
		netns_enter(ns_server);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	inet_pton(AF_INET, server, &sa.sin_addr);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 8) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl))
		FAIL("listen on %s: %s", server, strerror(errno));
	if (ns_client >= 0)
		netns_enter(ns_client);
	*c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (client_bind) {
		struct sockaddr_in cb = { .sin_family = AF_INET };

		inet_pton(AF_INET, client_bind, &cb.sin_addr);
		if (bind(*c, (struct sockaddr *)&cb, sizeof(cb)))
			FAIL("bind %s: %s", client_bind, strerror(errno));
	}
	if (connect(*c, (struct sockaddr *)&sa, sizeof(sa)))
		FAIL("connect %s: %s", server, strerror(errno));
	*s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (*s < 0)
		FAIL("accept: %s", strerror(errno));
	close(l);
	nodelay(*c);
	nodelay(*s);
	if (self >= 0) {
		netns_enter(self);
		close(self);
	}
}

int tuple_from_fd(int fd, struct tuple *t)
{
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r);

	memset(t, 0, sizeof(*t));
	if (getsockname(fd, (struct sockaddr *)&l, &ll) || getpeername(fd, (struct sockaddr *)&r, &rl))
		return -errno;
	t->family = l.ss_family;
	if (l.ss_family == AF_INET) {
		const struct sockaddr_in *a = (void *)&l, *b = (void *)&r;

		memcpy(t->laddr, &a->sin_addr, 4);
		memcpy(t->raddr, &b->sin_addr, 4);
		t->lport = a->sin_port;
		t->rport = b->sin_port;
	} else {
		const struct sockaddr_in6 *a = (void *)&l, *b = (void *)&r;

		memcpy(t->laddr, &a->sin6_addr, 16);
		memcpy(t->raddr, &b->sin6_addr, 16);
		t->lport = a->sin6_port;
		t->rport = b->sin6_port;
	}
	return 0;
}

void tcp_pair4(const char *server, int *c, int *s)
{
	tcp_pair4_ns(server, NULL, -1, -1, c, s);
}

void tcp_pair6(const char *server, int *c, int *s)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET6, server, &sa.sin6_addr);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 8) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl))
		FAIL("listen on %s: %s", server, strerror(errno));
	*c = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(*c, (struct sockaddr *)&sa, sizeof(sa)))
		FAIL("connect %s: %s", server, strerror(errno));
	*s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (*s < 0)
		FAIL("accept: %s", strerror(errno));
	close(l);
	nodelay(*c);
	nodelay(*s);
}

uint32_t segs_out(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		FAIL("TCP_INFO: %s", strerror(errno));
	if (len < offsetof(struct tcp_info, tcpi_segs_in))
		FAIL("TCP_INFO too short for tcpi_segs_out");
	return ti.tcpi_segs_out;
}

void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			FAIL("write: %s", strerror(errno));
		p += n;
		len -= n;
	}
}

ssize_t read_within(int fd, void *buf, size_t len, unsigned int ms)
{
	uint64_t end = now_ms() + ms;
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(end - now_ms());
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			FAIL("recv: %s", strerror(errno));
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

void fill_pattern(uint8_t *buf, size_t len, unsigned int seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = x >> 16;
	}
}
