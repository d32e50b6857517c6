// Package libtcptake moves live TCP sessions between nodes: it provides the
// four operations of the CGL requirement (CAF.2.3/2.4) on a TCP session —
// stop, get, set, restart — and the session image they exchange.
//
// The data path is socket → image → wire → image → socket:
//
//	sess, err := libtcptake.Stop(ctx, conn, nil) // freeze + repair mode
//	img, err := sess.Get()                        // the session image
//	b, err := img.MarshalBinary()                 // framed, CRC32C-checked bytes
//	// ... b travels to the standby ...
//	var img2 libtcptake.Image
//	err = img2.UnmarshalBinary(b)
//	sess2, err := libtcptake.Set(ctx, &img2, nil) // new socket, repair mode, frozen
//	conn2, err := sess2.Restart(ctx)              // repair off, thaw: traffic flows
//	sess.Release()                                // the old socket goes away silently
//
// Stop drops the session's packets in both directions first (repair mode
// alone does not freeze a socket: it keeps receiving and ACKing), then puts
// the socket in TCP_REPAIR mode. Get reads sequence numbers, windows,
// options, timestamps and the queue bytes. Set recreates the session on a
// new socket in the order known to work on mainline kernels (bind with
// IP_FREEBIND, TSval, queue sequences, TCP_MAXSEG before connect, connect,
// receive queue, unacked bytes, options, FIN state, window). Restart leaves
// repair mode, lifts the drop and sends the unsent bytes, so nothing waits
// for a retransmission timeout. Restart on the original session resumes it
// in place. Release closes a stopped session without a FIN or RST.
// StopAll, SetAll and RestartAll do the same for many sessions with one
// freeze batch; Checkpoint takes a failover checkpoint of a live session.
//
// When the tcptake kernel module is loaded, DefaultFreezer uses it: the
// freeze is the module's FREEZE, Get adds what TCP_REPAIR cannot read
// (RTT, RTO, congestion window, ts_recent, locked buffer sizes), Set seeds
// them into the restored socket, Restart thaws with a kick, and Checkpoint
// is one atomic GET that does not stop the session. Without it, an
// nftables set (NFTFreezer) freezes. Client speaks to the module directly.
//
// Sessions must be plain TCP: Go may negotiate MPTCP on listeners; listen
// with net.ListenConfig{} and SetMultipathTCP(false) (or
// GODEBUG=multipathtcp=0) for sessions tcptake should move.
//
// All operations need CAP_NET_ADMIN in the network namespace's user
// namespace. Errors are *Error values that name the session; use errors.Is
// with ErrPermission, ErrUnsupported, ErrBadImage, ErrState, ErrInUse.
package libtcptake
