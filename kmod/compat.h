/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels tcptake supports (6.1 and later), kept
 * in one place so that the rest of the module is written for one API.
 * Each difference is probed by a feature, not by version, except the
 * floor.
 */
#ifndef _TCPTAKE_COMPAT_H
#define _TCPTAKE_COMPAT_H

#include <linux/timer.h>
#include <linux/version.h>
#include <net/genetlink.h>
#include <net/tcp.h>

#if KERNEL_VERSION(6, 1, 0) > LINUX_VERSION_CODE
#error "tcptake needs Linux 6.1 or later"
#endif

/* 6.16 renamed from_timer(); later kernels removed the old name. */
#ifndef timer_container_of
#define timer_container_of(var, callback_timer, timer_fieldname)	\
	from_timer(var, callback_timer, timer_fieldname)
#endif

/* 6.3 added the check that a dump context fits cb->ctx. */
#ifndef NL_ASSERT_DUMP_CTX_FITS
#define NL_ASSERT_DUMP_CTX_FITS(type_name)				\
	BUILD_BUG_ON(sizeof(type_name) >				\
		     sizeof_field(struct netlink_callback, ctx))
#endif

/*
 * TSval as getsockopt(TCP_TIMESTAMP) reports it.  6.7 added microsecond
 * timestamps (and TCPI_OPT_USEC_TS with them); getsockopt then carries
 * the usec flag in bit 0.
 */
#ifdef TCPI_OPT_USEC_TS
static inline bool tcptake_usec_ts(const struct tcp_sock *tp)
{
	return tp->tcp_usec_ts;
}

static inline u32 tcptake_tsval(const struct tcp_sock *tp)
{
	u32 val = tcp_clock_ts(tp->tcp_usec_ts) + READ_ONCE(tp->tsoffset);

	return tp->tcp_usec_ts ? val | 1 : val & ~1U;
}
#else
static inline bool tcptake_usec_ts(const struct tcp_sock *tp)
{
	return false;
}

static inline u32 tcptake_tsval(const struct tcp_sock *tp)
{
	return tcp_time_stamp_raw() + READ_ONCE(tp->tsoffset);
}
#endif

#endif /* _TCPTAKE_COMPAT_H */
