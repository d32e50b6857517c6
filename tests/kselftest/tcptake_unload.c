// SPDX-License-Identifier: GPL-2.0
/*
 * tcptake_unload: unloading the module while tuples are frozen (in two
 * network namespaces, one of them with a live session and a socket in
 * repair mode, with a listener on the events group) succeeds, the family
 * disappears and the formerly frozen session flows again.
 *
 * It removes the module, so it is TEST_GEN_PROGS_EXTENDED: not run by
 * `make run_tests`; ci/vmtest.sh runs it last in the VM.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/tcp.h>

#include "tt.h"

static int n_test;
static bool failed;

static void result(bool ok, const char *name, const char *why)
{
	if (!ok) {
		diag("%s", why);
		failed = true;
	}
	printf("%sok %d - %s\n", ok ? "" : "not ", ++n_test, name);
}

int main(void)
{
	struct tuple tup, tup2, tup3 = { .family = AF_INET, .laddr = { 10, 0, 0, 1 },
		.raddr = { 10, 0, 0, 2 }, .lport = htons(1), .rport = htons(2) };
	int c, s, r, on = 1, nsa, nsb, evfd;
	struct tt t, tb;
	struct nlres res;
	char buf[8], why[256] = "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
	if (geteuid()) {
		printf("1..0 # SKIP needs root\n");
		return KSFT_SKIP;
	}
	if (tt_open(&t)) {
		printf("1..0 # SKIP genl family tcptake not found\n");
		return KSFT_SKIP;
	}
	printf("1..4\n");

	/* netns A: a live frozen session; netns B: a frozen session in repair mode */
	close(t.fd);
	nsa = netns_new();
	tt_open_or_fail(&t);
	evfd = tt_events_open(&t);
	tcp_pair4("127.0.0.1", &c, &s);
	tuple_from_fd(c, &tup);
	nsb = netns_new();
	tt_open_or_fail(&tb);
	{
		int c2, s2;

		tcp_pair4("127.0.0.1", &c2, &s2);
		tuple_from_fd(c2, &tup2);
		if (setsockopt(c2, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
			FAIL("TCP_REPAIR: %s", strerror(errno));
		if (tt_freeze(&tb, &tup2, 60000, 0, &res) || tt_freeze(&tb, &tup3, 300, 0, &res))
			FAIL("FREEZE in B: %s (%s)", strerror(res.err), res.msg);
	}
	netns_enter(nsa);
	if (tt_freeze(&t, &tup, 60000, 0, &res) || tt_freeze(&t, &tup3, 60000, 0, &res))
		FAIL("FREEZE in A: %s (%s)", strerror(res.err), res.msg);
	write_all(c, "late", 4);	/* queued behind the freeze */
	diag("frozen: %s and %s in A, %s and %s in B", tuple_str(&tup), tuple_str(&tup3),
	     tuple_str(&tup2), tuple_str(&tup3));
	close(t.fd);
	close(tb.fd);

	r = syscall(SYS_delete_module, "tcptake", O_NONBLOCK);
	snprintf(why, sizeof(why), "delete_module(tcptake): %s", r ? strerror(errno) : "ok");
	result(r == 0, "rmmod tcptake with 4 frozen tuples in 2 netns", why);

	result(access("/sys/module/tcptake", F_OK) != 0, "/sys/module/tcptake is gone",
	       "/sys/module/tcptake still exists");

	r = tt_open(&t);
	snprintf(why, sizeof(why), "resolving the family after rmmod: %s", r ? strerror(-r) : "found");
	result(r == -ENOENT, "genl family tcptake is gone", why);

	/* The netfilter hooks went with the module: the session flows. */
	r = read_within(s, buf, 4, 8000);
	snprintf(why, sizeof(why), "the queued bytes did not arrive (%d bytes)", r);
	result(r == 4 && !memcmp(buf, "late", 4), "the formerly frozen session flows again", why);

	close(evfd);
	close(nsb);
	return failed ? KSFT_FAIL : KSFT_PASS;
}
