// Get: a stopped Session becomes an Image, read with TCP_REPAIR, plus what
// only the kernel module can read. Checkpoint does the same for a live
// session without moving it.

package libtcptake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Get reads the stopped session's image, queue bytes included. The
// session stays stopped: Get may be called again.
func (s *Session) Get() (*Image, error) {
	imgs, err := GetAll(context.Background(), []*Session{s})
	if err != nil {
		return nil, err
	}
	return imgs[0], nil
}

// GetAll reads the images of stopped sessions, as Get does: imgs[i] is
// ss[i]'s, nil where it failed, and err joins the *Error of each failure.
// Where the module freezes dumpMin sessions or more, their images come
// from a GET dump of their tuples (each atomic, under its socket lock)
// instead of a dozen system calls and a GET each.
func GetAll(ctx context.Context, ss []*Session) (imgs []*Image, err error) {
	imgs = make([]*Image, len(ss))
	errs := make([]error, len(ss))
	var dump []int // the sessions to read from a dump
	var one []int  // the sessions to read through their sockets
	var mc *Client // the module of the first session, if any
	for _, s := range ss {
		if s != nil {
			mc = moduleOf(s.freezer)
			break
		}
	}
	seen := make(map[*Session]bool, len(ss))
	for i, s := range ss {
		switch {
		case s == nil:
			errs[i] = opErr(OpGet, nil, errors.New("nil session"))
			continue
		case seen[s]: // locking it twice would wait forever
			errs[i] = opErr(OpGet, s, errors.New("session listed twice"))
			continue
		}
		seen[s] = true
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case !s.open() || s.started:
			errs[i] = opErr(OpGet, s, errors.New("session is not stopped"))
		case s.img != nil: // restored: its send queue is still to be written
			img := *s.img
			imgs[i] = &img
		case mc != nil && moduleOf(s.freezer) == mc:
			dump = append(dump, i)
		default:
			one = append(one, i)
		}
	}
	if len(dump) >= dumpMin {
		tuples := make([]Tuple, len(dump))
		for k, i := range dump {
			tuples[k] = ss[i].tuple
		}
		dumped, err := mc.SessionsOf(ctx, tuples, true)
		got := make([]*Image, len(tuples))
		err = matchImages(tuples, make([]error, len(tuples)), got, dumped, err)
		if err != nil {
			ss[dump[0]].opts.logger().Debug("tcptake: get: the dump failed, reading each session", "err", err)
		}
		for k, i := range dump {
			var img *Image
			if err == nil {
				img = got[k]
			}
			switch {
			case img == nil:
			case !img.State.Migratable(): // as getImage says it
				errs[i] = opErr(OpGet, ss[i], fmt.Errorf("%w: %v", ErrState, img.State))
				dump[k] = -1
			default:
				imgs[i] = img
				ss[i].gen++
				img.Generation = ss[i].gen
			}
		}
	}
	for _, i := range dump {
		if i >= 0 && imgs[i] == nil { // too few, or not in the dump (its error is Get's)
			one = append(one, i)
		}
	}
	// Mostly the kernel's work: spread over the cores.
	parallel(len(one), func(k int) { imgs[one[k]], errs[one[k]] = ss[one[k]].get() })
	return imgs, errors.Join(errs...)
}

// get reads the image of a stopped session through its socket, and what
// TCP_REPAIR cannot read through the module.
func (s *Session) get() (*Image, error) {
	var img *Image
	err := s.sock(func(fd int) (err error) {
		img, err = getImage(fd, s.tuple)
		return err
	})
	if err != nil {
		return nil, err
	}
	if mc := moduleOf(s.freezer); mc != nil {
		// What TCP_REPAIR cannot read: RTT, RTO, congestion state,
		// ts_recent, and the buffer sizes the application locked.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		k, err := mc.Get(ctx, s.tuple, false)
		cancel()
		if err != nil {
			return nil, err
		}
		img.Kernel = k.Kernel
		img.Sock.RcvBuf, img.Sock.SndBuf = k.Sock.RcvBuf, k.Sock.SndBuf
	}
	s.gen++
	img.Generation = s.gen
	return img, nil
}

// getImage dumps a socket in repair mode whose packets are dropped.
func getImage(fd int, t Tuple) (*Image, error) {
	fail := func(call string, err error) (*Image, error) { return nil, sockErr(OpGet, t, call, err) }
	info, err := getTCPInfo(fd)
	if err != nil {
		return fail("getsockopt TCP_INFO", err)
	}
	if !info.state.Migratable() {
		return nil, opErr(OpGet, t, fmt.Errorf("%w: %v", ErrState, info.state))
	}
	img := &Image{Tuple: t, State: info.state, CaptureTime: time.Now().UTC()}
	// Repair-mode peeks honour SO_PEEK_OFF on newer kernels: turn it off.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, -1)

	outq, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return fail("ioctl SIOCOUTQ", err)
	}
	unsent, err := unix.IoctlGetInt(fd, unix.SIOCOUTQNSD)
	if err != nil {
		return fail("ioctl SIOCOUTQNSD", err)
	}
	writeSeq, err := queueSeq(fd, tcpSendQueue)
	if err != nil {
		return fail("getsockopt TCP_QUEUE_SEQ", err)
	}
	sndq, err := peekQueue(fd, outq)
	if err != nil {
		return fail("recv send queue", err)
	}
	rcvNxt, err := queueSeq(fd, tcpRecvQueue)
	if err != nil {
		return fail("getsockopt TCP_QUEUE_SEQ", err)
	}
	inq, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return fail("ioctl SIOCINQ", err)
	}
	rcvq, err := peekQueue(fd, inq)
	if err != nil {
		return fail("recv receive queue", err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, 0)

	// The kernel's write_seq and queue counts include our FIN, rcv_nxt
	// the peer's; the image's sequence numbers cover data only.
	dataEnd := writeSeq
	if img.State.finSent() {
		dataEnd--
	}
	sndUna := writeSeq - uint32(outq)
	sndNxt := writeSeq - uint32(unsent)
	if seqAfter(sndUna, dataEnd) { // FIN acked (FIN-WAIT-2)
		sndUna = dataEnd
	}
	if seqAfter(sndNxt, dataEnd) { // FIN sent
		sndNxt = dataEnd
	}
	if uint32(len(sndq)) != dataEnd-sndUna {
		return nil, opErr(OpGet, t, fmt.Errorf("send queue holds %d bytes, sequence numbers say %d: is the session frozen?", len(sndq), dataEnd-sndUna))
	}
	img.SndUna, img.SndNxt, img.WriteSeq = sndUna, sndNxt, dataEnd
	img.SendUnacked, img.SendUnsent = sndq[:sndNxt-sndUna], sndq[sndNxt-sndUna:]
	img.RcvNxt = rcvNxt
	if img.State.finReceived() {
		img.RcvNxt--
	}
	if len(rcvq) > inq {
		return nil, opErr(OpGet, t, fmt.Errorf("receive queue grew while reading: is the session frozen?"))
	}
	img.RecvQueue = rcvq

	if info.options&tcpiOptSACK != 0 {
		img.Options |= OptSACK
	}
	if info.options&tcpiOptWScale != 0 {
		img.Options |= OptWScale
		img.SndWScale, img.RcvWScale = info.sndWScale, info.rcvWScale
	}
	if info.options&tcpiOptECN != 0 {
		img.Options |= OptECN
	}
	if info.options&tcpiOptUsecTS != 0 {
		img.Options |= OptUsecTS
	}
	if info.options&tcpiOptTimestamps != 0 {
		img.Options |= OptTimestamps
		ts, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_TIMESTAMP)
		if err != nil {
			return fail("getsockopt TCP_TIMESTAMP", err)
		}
		img.TSVal = uint32(ts)
	}
	mss, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG) // mss_clamp in repair mode
	if err != nil {
		return fail("getsockopt TCP_MAXSEG", err)
	}
	img.MSSClamp = uint32(mss)
	if img.Window, err = getRepairWindow(fd); err != nil {
		return fail("getsockopt TCP_REPAIR_WINDOW", err)
	}
	img.Sock = getSockOpts(fd, t.Is6())
	return img, nil
}

// Checkpoint takes the image of a live session without moving it, for a
// standby to restore should this node die. With the kernel module it is
// one atomic GET under the socket lock: the session does not stop. Without
// it, the session is stopped, read and restarted in place (a freeze of
// microseconds). The caller numbers checkpoints (Image.Generation) and
// adds its own state (Image.AppState).
func Checkpoint(ctx context.Context, conn syscall.Conn, o *Options) (*Image, error) {
	imgs, err := CheckpointAll(ctx, []syscall.Conn{conn}, o)
	if len(imgs) == 0 || imgs[0] == nil {
		return nil, err
	}
	return imgs[0], err
}

// CheckpointAll takes the images of many live sessions, as Checkpoint
// does, with one freeze batch without the module (StopAll, GetAll,
// RestartAll in place). imgs[i] is conns[i]'s image, nil when it could not
// be taken; err joins the failures. The application must not use the
// conns meanwhile (repair mode refuses its reads and writes).
func CheckpointAll(ctx context.Context, conns []syscall.Conn, o *Options) (imgs []*Image, err error) {
	return CheckpointSince(ctx, conns, nil, o)
}

// CheckpointSince is CheckpointAll given prev[i], the previous image of
// conns[i]'s session (nil, or prev nil or shorter: none). With the kernel
// module, a session whose state has not changed since prev[i] was taken
// (the same Image.Digest: only its clock moved) is not read again: the
// module looks it up and leaves it out of its dump, and imgs[i] is prev[i]
// itself, still exact (its CaptureTime and TSVal those of its capture,
// which go together). Modify such an image only in a copy. A periodic
// checkpoint of idle sessions then costs little more than their lookup.
// Without the module, or with one older than the known digests, every
// session is read.
func CheckpointSince(ctx context.Context, conns []syscall.Conn, prev []*Image, o *Options) (imgs []*Image, err error) {
	f, err := o.getFreezer()
	if err != nil {
		return nil, err
	}
	if mc := moduleOf(f); mc != nil {
		return moduleCheckpointAll(ctx, mc, conns, prev)
	}
	ss, err := StopAll(ctx, conns, o)
	if err != nil {
		return nil, err
	}
	imgs, err = GetAll(ctx, ss)
	_, rerr := RestartAll(ctx, ss)
	return imgs, errors.Join(err, rerr)
}

// moduleCheckpointAll takes each session's image atomically, under its
// socket lock, buffers included: a few sessions with one GET each, more
// (dumpMin) with GET dumps of their tuples (Client.SessionsChanged), which
// cost the kernel's work and a few reads for all of them instead of a
// round trip each, and leave out those unchanged since prev.
func moduleCheckpointAll(ctx context.Context, mc *Client, conns []syscall.Conn, prev []*Image) ([]*Image, error) {
	imgs := make([]*Image, len(conns))
	errs := make([]error, len(conns))
	tuples := make([]Tuple, len(conns))
	dump := len(conns) >= dumpMin
	for i, conn := range conns {
		if c, ok := conn.(*net.TCPConn); ok && dump {
			// The dump holds TCP sessions only: a conn without one is
			// found missing there, without a system call here.
			if tuples[i], ok = connTuple(c); ok {
				continue
			}
		}
		tuples[i], errs[i] = liveTuple(conn)
	}
	if !dump {
		for i, t := range tuples {
			if errs[i] == nil {
				if imgs[i], errs[i] = mc.Get(ctx, t, true); imgs[i] != nil {
					imgs[i].Tuple = t // the socket's family
				}
			}
		}
		return imgs, errors.Join(errs...)
	}
	live, idx, known := knownDigests(tuples, errs, prev)
	dumped, unchanged, err := mc.SessionsChanged(ctx, live, known, true)
	for k, u := range unchanged {
		if u {
			imgs[idx[k]] = prev[idx[k]] // still exact
		}
	}
	if err = matchImages(tuples, errs, imgs, dumped, err); err != nil {
		return nil, err
	}
	return imgs, errors.Join(errs...)
}

// knownDigests lists the tuples whose errs are nil (live), their indexes
// (idx) and the digest of each one's prev image (known; nil when none has
// one). prev[i] counts when it has the same tuple, as matchImages sets it.
func knownDigests(tuples []Tuple, errs []error, prev []*Image) (live []Tuple, idx []int, known []uint64) {
	live, idx, known = make([]Tuple, 0, len(tuples)), make([]int, 0, len(tuples)), make([]uint64, 0, len(tuples))
	anyKnown := false
	for i, t := range tuples {
		if errs[i] != nil {
			continue
		}
		var d uint64
		if i < len(prev) && prev[i] != nil && prev[i].Tuple == t {
			d = prev[i].Digest
		}
		live, idx, known = append(live, t), append(idx, i), append(known, d)
		anyKnown = anyKnown || d != 0
	}
	if !anyKnown {
		known = nil
	}
	return live, idx, known
}

// matchImages gives each of tuples whose errs and imgs are nil its image
// of dumped, the result of a GET dump with buffers, and its error derr:
// imgs[i] is tuples[i]'s, with that tuple. A session missing from the
// dump (closed, in a state that cannot move, or named by the dump's
// *SessionsError) gets its error in errs[i]; err is the failure of the
// dump as a whole.
func matchImages(tuples []Tuple, errs []error, imgs, dumped []*Image, derr error) error {
	var partial *SessionsError
	if derr != nil && !errors.As(derr, &partial) {
		return derr
	}
	byKey := make(map[sessionKey]*Image, len(dumped))
	for _, img := range dumped {
		byKey[keyOf(img.Tuple)] = img
	}
	for i, t := range tuples {
		if errs[i] != nil || imgs[i] != nil {
			continue
		}
		if imgs[i] = byKey[keyOf(t)]; imgs[i] == nil {
			errs[i] = opErr(OpCheckpoint, t, errors.Join(os.ErrNotExist, derr))
			continue
		}
		imgs[i].Tuple = t // the socket's family
	}
	return nil
}

// dumpMin is the batch from which moduleCheckpointAll and GetAll dump.
const dumpMin = 32

// liveTuple checks that conn is a TCP session tcptake can move and
// returns its tuple.
func liveTuple(conn syscall.Conn) (Tuple, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return Tuple{}, opErr(OpCheckpoint, nil, err)
	}
	s := &Session{fd: -1, rc: rc}
	s.orig, _ = conn.(*net.TCPConn) // its addresses without a system call
	err = s.sock(s.check)
	return s.tuple, err
}

// sessionKey is a tuple as on the wire (as wireTuple), as a map key: the
// addresses in their 16-byte form, IPv4 as v4-mapped. Without a zone
// handle (a pointer), it hashes as plain bytes, several times faster than
// a Tuple.
type sessionKey struct {
	local, remote [16]byte
	lport, rport  uint16
	ifindex       uint32
}

func keyOf(t Tuple) sessionKey {
	return sessionKey{
		local: t.Local.Addr().As16(), remote: t.Remote.Addr().As16(),
		lport: t.Local.Port(), rport: t.Remote.Port(), ifindex: t.IfIndex,
	}
}

// wireTuple is t as on the wire, and as the module reports it: IPv4 for a
// v4-mapped address, no zone (IfIndex scopes a link-local address).
func wireTuple(t Tuple) Tuple {
	unmap := func(ap netip.AddrPort) netip.AddrPort {
		return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
	}
	return Tuple{Local: unmap(t.Local), Remote: unmap(t.Remote), IfIndex: t.IfIndex}
}
