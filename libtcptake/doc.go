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
// StopAll, GetAll, SetAll and RestartAll do the same for many sessions
// with one freeze batch (with the kernel module: many requests to a
// system call, and GetAll's images from one GET dump), and PrepareAll does
// ahead of RestartAll what needs neither the peers nor the address (the
// send queues of the sessions whose peers' positions were given), so that
// the clients wait for less; Checkpoint and CheckpointAll take failover
// checkpoints of live sessions, and CheckpointSince those that changed
// since the previous ones. A checkpoint restored after its node died is
// stale: with Options.Adjust, Restart learns where each peer really is and
// re-aligns the session on it, and Session.Adjustment reports what it
// found (OutgoingAhead, IncomingLost) for the application to decide.
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
// namespace. Errors are *Error values that name the operation (an Op) and
// the session and keep the kernel's extack text; use errors.Is with
// ErrPermission, ErrUnsupported, ErrBadImage, ErrState, ErrInUse,
// ErrNotLocal. The API exists on every platform; outside Linux every
// operation fails with ErrUnsupported.
//
// # Files, along the data path
//
//	session.go             Session and Options: either end of the path on one node
//	stop_linux.go          socket → stopped session (Stop, StopAll; Release, Thaw)
//	get_linux.go           stopped session → Image (Get; Checkpoint of a live one)
//	image.go               the Image, its Tuple, State and options, and its validation
//	attrs.go               every attribute set of uapi/tcptake.yaml: the image is the "session" set
//	frame.go               Image ⇄ wire: the framed, CRC32C-checked bytes (WriteImage, ReadImage)
//	set_linux.go           Image → restored session (Set, SetAll)
//	restart_linux.go       session → live *net.TCPConn (Restart, RestartAll)
//	adjust*.go             the TCP status adjustment of a stale image (Options.Adjust)
//	segment_linux.go       the raw segments tcptake sends past a freeze and the capture of the answers
//	freeze.go              the Freezer interface and batches
//	freeze_nft_linux.go    NFTFreezer: the freeze as an nftables set
//	freeze_module.go       ModuleFreezer: the freeze as the module's FREEZE
//	client.go              Client: the kernel module's operations
//	client_linux.go        their netlink transport
//	sockopt_linux.go       the socket options and TCP_REPAIR calls
//	errors.go              Error, Op and the sentinels
//	*_others.go            the same API outside Linux: ErrUnsupported
package libtcptake
