//go:build linux

package libtcptake

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// dumpRetries is how many times a dump flagged NLM_F_DUMP_INTR is rerun.
const dumpRetries = 5

// errDumpInterrupted: every attempt at a dump was interrupted.
var errDumpInterrupted = errors.New("dump interrupted by concurrent changes on every attempt")

var _ osClient = (*linuxClient)(nil)

// linuxClient is the generic netlink implementation of a Client.
type linuxClient struct {
	family genetlink.Family
	// dial opens a new socket in the Client's namespace: for Events, and
	// to replace a socket left with unread replies by a cancelled request.
	// nil in tests that inject one connection.
	dial func() (*netlink.Conn, error)

	mu sync.Mutex
	c  *genetlink.Conn // nil after Close, or until redialled
	// nl is c's socket, for batches of requests in one system call
	// (executeAll); nil in tests whose fakes take one request at a time.
	nl *netlink.Conn
	// spare are more sockets, which executeAll runs parts of a long list
	// of requests on at the same time as c's (dialled on first need).
	spareMu sync.Mutex
	spare   []*netlink.Conn

	// noCompact: the module rejected GET flag compact (it predates it);
	// dumps ask for the session attributes instead.
	noCompact atomic.Bool
	// oldChosen: the module predates tuples-compact and known-digests
	// (one uapi revision); dumps of chosen sessions send a tuples nest
	// each and no digests, reading every session.
	oldChosen atomic.Bool
}

// recvBuffer is the buffer each read of a reply gets: larger than any
// message of the family (a GET do reply: 60 KiB of queue bytes and the
// session), so that no read is truncated and none needs a peek first. The
// kernel then fills dump messages up to its 32 KiB cap instead of one page
// each: a GET dump of idle sessions is read with ~1/16 of the system calls.
const recvBuffer = 128 << 10

func newClient(o ClientOptions) (osClient, error) {
	dial := func() (*netlink.Conn, error) {
		return netlink.Dial(unix.NETLINK_GENERIC, &netlink.Config{Strict: true, NetNS: o.NetNS, MessageBufferSize: recvBuffer})
	}
	nl, err := dial()
	if err != nil {
		return nil, opErr(OpOpen, nil, err)
	}
	c, err := initClient(genetlink.NewConn(nl), nl, dial)
	if err != nil {
		nl.Close()
		return nil, err
	}
	return c, nil
}

// initClient looks the family up on conn (whose socket is nl, or nil);
// tests call it with genltest connections.
func initClient(conn *genetlink.Conn, nl *netlink.Conn, dial func() (*netlink.Conn, error)) (*linuxClient, error) {
	f, err := conn.GetFamily(tcptakeh.FamilyName)
	if err != nil {
		e := opErr(OpOpen, nil, err).(*Error)
		if errors.Is(err, os.ErrNotExist) {
			e.Err = fmt.Errorf("kernel module not loaded (generic netlink family %q not found): %w", tcptakeh.FamilyName, e.Err)
		}
		return nil, e
	}
	return &linuxClient{family: f, dial: dial, c: conn, nl: nl}, nil
}

func (c *linuxClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		return nil
	}
	err := c.c.Close()
	c.c, c.nl, c.dial = nil, nil, nil
	c.spareMu.Lock()
	for _, nl := range c.spare {
		nl.Close()
	}
	c.spare = nil
	c.spareMu.Unlock()
	return err
}

// msg is one reply message of the family.
type msg struct {
	h netlink.Header
	m genetlink.Message
}

// execute sends a request of command cmd with the attributes of ae and
// returns the family's reply messages (acks and other types left out),
// under ctx (see with).
func (c *linuxClient) execute(ctx context.Context, cmd uint8, flags netlink.HeaderFlags, ae *netlink.AttributeEncoder) ([]msg, error) {
	var data []byte
	if ae != nil {
		b, err := ae.Encode()
		if err != nil {
			return nil, err
		}
		data = b
	}
	var msgs []msg
	err := c.with(ctx, func(conn *genetlink.Conn, _ *netlink.Conn) (err error) {
		msgs, err = c.roundTrip(conn, cmd, flags, data)
		return err
	})
	return msgs, err
}

// with runs fn on the Client's socket, alone, under ctx: its deadline, and
// cancellation (the socket is then replaced, since replies may still be
// on their way).
func (c *linuxClient) with(ctx context.Context, fn func(*genetlink.Conn, *netlink.Conn) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.c == nil {
		if c.dial == nil {
			return errors.New("client closed")
		}
		nl, err := c.dial()
		if err != nil {
			return err
		}
		c.c, c.nl = genetlink.NewConn(nl), nl
	}
	stale, err := underCtx(ctx, c.c, c.nl, fn)
	if stale && c.dial != nil {
		// Replies may still come: never read them as the answer to the
		// next request.
		c.c.Close()
		c.c, c.nl = nil, nil
	}
	return err
}

// underCtx runs fn on conn (whose socket is nl, or nil) under ctx's
// deadline and cancellation. stale: fn was cut short, and replies may
// still come on the socket.
func underCtx(ctx context.Context, conn *genetlink.Conn, nl *netlink.Conn, fn func(*genetlink.Conn, *netlink.Conn) error) (stale bool, err error) {
	// Deadlines are best effort: test sockets have none.
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = conn.SetDeadline(time.Unix(1, 0))
	})
	err = fn(conn, nl)
	if !stop() {
		<-fired
	}
	if err != nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) {
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		return true, context.DeadlineExceeded
	}
	return false, err
}

// withSpare is with on a spare socket of its own, dialled if none is
// free, so that several can run at once; a socket cut short is closed.
func (c *linuxClient) withSpare(ctx context.Context, fn func(*genetlink.Conn, *netlink.Conn) error) error {
	c.mu.Lock()
	dial := c.dial
	c.mu.Unlock()
	if dial == nil {
		return errors.New("client closed")
	}
	c.spareMu.Lock()
	var nl *netlink.Conn
	if k := len(c.spare); k > 0 {
		nl, c.spare = c.spare[k-1], c.spare[:k-1]
	}
	c.spareMu.Unlock()
	if nl == nil {
		var err error
		if nl, err = dial(); err != nil {
			return err
		}
	}
	stale, err := underCtx(ctx, genetlink.NewConn(nl), nl, fn)
	if stale {
		nl.Close()
		return err
	}
	c.spareMu.Lock()
	c.spare = append(c.spare, nl)
	c.spareMu.Unlock()
	return err
}

func (c *linuxClient) roundTrip(conn *genetlink.Conn, cmd uint8, flags netlink.HeaderFlags, data []byte) ([]msg, error) {
	req, err := conn.Send(genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: tcptakeh.FamilyVersion},
		Data:   data,
	}, c.family.ID, flags)
	if err != nil {
		return nil, err
	}
	gmsgs, nmsgs, err := conn.Receive()
	if err != nil {
		return nil, err
	}
	if err := netlink.Validate(req, nmsgs); err != nil {
		return nil, err
	}
	out := make([]msg, 0, len(gmsgs))
	for i := range gmsgs {
		if isControl(nmsgs[i].Header.Type) {
			continue // the ack of a command without reply
		}
		out = append(out, msg{h: nmsgs[i].Header, m: gmsgs[i]})
	}
	return out, nil
}

// batchMax is how many requests executeAll puts in one system call. Each
// failed request is answered by an error message of its own; the socket's
// receive buffer (208 KiB by default, counted with each message's ~1.3 KiB
// of kernel overhead) must hold them all.
const batchMax = 64

// executeAll sends one request of command cmd per encoder, without reply
// data, and returns each one's error (nil: done). A batch of up to
// batchMax requests goes out in one system call, and only its last
// request asks for an ack: the kernel runs them in order, answers a
// failed one with an error message carrying its sequence number, and goes
// on. A long list is cut in parts of at least partMin requests, up to
// one per core, each on a socket of its own at the same time (the module
// runs requests in parallel: thawing 10,000 sessions is a sixth of a
// restart's CPU). Without a socket of its own (test fakes), one request
// at a time.
func (c *linuxClient) executeAll(ctx context.Context, cmd uint8, aes []*netlink.AttributeEncoder) []error {
	errs := make([]error, len(aes))
	data := make([][]byte, len(aes))
	for i, ae := range aes {
		data[i], errs[i] = ae.Encode()
	}
	parts := min(runtime.GOMAXPROCS(0), len(data)/partMin)
	c.mu.Lock()
	if c.nl == nil || c.dial == nil {
		parts = 1
	}
	c.mu.Unlock()
	if parts <= 1 {
		c.executeRange(ctx, c.with, cmd, data, errs)
		return errs
	}
	var wg sync.WaitGroup
	per := (len(data) + parts - 1) / parts
	for p := range parts {
		lo, hi := p*per, min(len(data), (p+1)*per)
		with := c.withSpare
		if p == 0 {
			with = c.with
		}
		wg.Go(func() { c.executeRange(ctx, with, cmd, data[lo:hi], errs[lo:hi]) })
	}
	wg.Wait()
	return errs
}

// partMin is the fewest requests executeAll gives a socket of its own.
const partMin = 512

// executeRange is executeAll's batches of data on the socket with gives.
func (c *linuxClient) executeRange(ctx context.Context, with func(context.Context, func(*genetlink.Conn, *netlink.Conn) error) error, cmd uint8, data [][]byte, errs []error) {
	answered := 0 // the requests before it have their answers
	err := with(ctx, func(conn *genetlink.Conn, nl *netlink.Conn) error {
		for answered < len(data) {
			idx := make([]int, 0, batchMax) // the batch's requests
			end := answered
			for ; end < len(data) && len(idx) < batchMax; end++ {
				if errs[end] == nil {
					idx = append(idx, end)
				}
			}
			failed := func(k int, err error) { errs[idx[k]] = err }
			if err := c.sendBatch(conn, nl, cmd, data, idx, failed); err != nil {
				return err
			}
			answered = end
		}
		return nil
	})
	for i := answered; err != nil && i < len(errs); i++ {
		if errs[i] == nil {
			errs[i] = err
		}
	}
}

// sendBatch sends the requests data[idx[k]] of command cmd, in one system
// call where nl is a socket, and reports each failed one to failed with
// its k.
func (c *linuxClient) sendBatch(conn *genetlink.Conn, nl *netlink.Conn, cmd uint8, data [][]byte, idx []int, failed func(int, error)) error {
	if nl == nil {
		for k, i := range idx {
			if _, err := c.roundTrip(conn, cmd, netlink.Request|netlink.Acknowledge, data[i]); err != nil {
				failed(k, err)
			}
		}
		return nil
	}
	if len(idx) == 0 {
		return nil
	}
	batch := make([]netlink.Message, len(idx))
	for k, i := range idx {
		b, err := (&genetlink.Message{Header: genetlink.Header{Command: cmd, Version: tcptakeh.FamilyVersion}, Data: data[i]}).MarshalBinary()
		if err != nil {
			return err
		}
		batch[k] = netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(c.family.ID), Flags: netlink.Request}, Data: b}
	}
	batch[len(batch)-1].Header.Flags |= netlink.Acknowledge
	sent, err := nl.SendMessages(batch)
	if err != nil {
		return err
	}
	return receiveAcks(nl, sent, failed)
}

// receiveAcks reads the answers to the batch sent, whose last message asks
// for an ack, until that ack: each error message goes to failed with the
// index of its request in sent.
func receiveAcks(nl *netlink.Conn, sent []netlink.Message, failed func(int, error)) error {
	first, last := sent[0].Header.Sequence, sent[len(sent)-1].Header.Sequence
	for {
		msgs, err := nl.Receive()
		var oe *netlink.OpError
		if errors.As(err, &oe) && oe.Sequence-first < uint32(len(sent)) {
			failed(int(oe.Sequence-first), err)
			if oe.Sequence == last {
				return nil
			}
			continue
		}
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return errors.New("netlink: the batch's ack did not come")
		}
		for _, m := range msgs {
			if m.Header.Type == netlink.Error && m.Header.Sequence == last {
				return nil
			}
		}
	}
}

// isControl reports whether t is a netlink control message type (an ack,
// the end of a dump), not a message of the family.
func isControl(t netlink.HeaderType) bool {
	switch t {
	case netlink.Noop, netlink.Error, netlink.Done, netlink.Overrun:
		return true
	}
	return false
}

// dump runs a dump request until no reply carries NLM_F_DUMP_INTR.
func (c *linuxClient) dump(ctx context.Context, cmd uint8, ae *netlink.AttributeEncoder) ([]msg, error) {
	for range dumpRetries {
		msgs, err := c.execute(ctx, cmd, netlink.Request|netlink.Dump, ae)
		if err != nil {
			return nil, err
		}
		intr := false
		for _, m := range msgs {
			intr = intr || m.h.Flags&netlink.DumpInterrupted != 0
		}
		if !intr {
			return msgs, nil
		}
	}
	return nil, errDumpInterrupted
}

// tupleRequest is an encoder holding the request's tuple nest.
func tupleRequest(t Tuple) *netlink.AttributeEncoder {
	ae := netlink.NewAttributeEncoder()
	encodeTupleNest(ae, tcptakeh.ATuple, t)
	return ae
}

// eachAttr iterates over the top-level attributes of every message with fn
// and checks the decoder once at the end.
func eachAttr(msgs []msg, fn func(ad *netlink.AttributeDecoder)) error {
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.m.Data)
		if err != nil {
			return err
		}
		for ad.Next() {
			fn(ad)
		}
		if err := ad.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (c *linuxClient) info(ctx context.Context) (*ModuleInfo, error) {
	msgs, err := c.execute(ctx, tcptakeh.CmdInfo, netlink.Request, nil)
	if err != nil {
		return nil, opErr(OpInfo, nil, err)
	}
	if len(msgs) != 1 {
		return nil, opErr(OpInfo, nil, fmt.Errorf("module sent %d replies, want 1", len(msgs)))
	}
	var mi ModuleInfo
	ad, err := netlink.NewAttributeDecoder(msgs[0].m.Data)
	if err == nil {
		err = decodeInfo(ad, &mi)
	}
	if err != nil {
		return nil, opErr(OpInfo, nil, fmt.Errorf("bad reply: %w", err))
	}
	return &mi, nil
}

func (c *linuxClient) freeze(ctx context.Context, ts []Tuple, o FreezeOptions) []error {
	return c.tupleRequests(ctx, OpFreeze, tcptakeh.CmdFreeze, ts, func(_ int, ae *netlink.AttributeEncoder) {
		if o.Timeout > 0 {
			ae.Uint32(tcptakeh.ATimeoutMs, timeoutMs(o.Timeout))
		}
		if o.Replace {
			ae.Uint32(tcptakeh.AFreezeFlags, tcptakeh.FreezeFlagsReplace)
		}
	})
}

func (c *linuxClient) thaw(ctx context.Context, ts []Tuple, kick bool) []error {
	return c.tupleRequests(ctx, OpThaw, tcptakeh.CmdThaw, ts, func(_ int, ae *netlink.AttributeEncoder) {
		if kick {
			ae.Uint32(tcptakeh.AThawFlags, tcptakeh.ThawFlagsKick)
		}
	})
}

// tupleRequests runs command cmd once for each tuple of ts (executeAll),
// each request the tuple and what more adds, and returns the *Error of op
// on each tuple that failed.
func (c *linuxClient) tupleRequests(ctx context.Context, op Op, cmd uint8, ts []Tuple, more func(i int, ae *netlink.AttributeEncoder)) []error {
	aes := make([]*netlink.AttributeEncoder, len(ts))
	for i, t := range ts {
		aes[i] = tupleRequest(t)
		more(i, aes[i])
	}
	errs := c.executeAll(ctx, cmd, aes)
	for i, err := range errs {
		errs[i] = opErr(op, ts[i], err)
	}
	return errs
}

// getFlags adds the get-flags attribute.
func getFlags(ae *netlink.AttributeEncoder, withBuffers, compact bool) {
	var f uint32
	if withBuffers {
		f |= tcptakeh.GetFlagsBuffers
	}
	if compact {
		f |= tcptakeh.GetFlagsCompact
	}
	if f != 0 {
		ae.Uint32(tcptakeh.AGetFlags, f)
	}
}

// decodeSessions merges the session nests of GET replies.
func decodeSessions(msgs []msg, withBuffers bool) ([]*Image, error) {
	var d sessionDecoder
	err := eachAttr(msgs, func(ad *netlink.AttributeDecoder) {
		if ad.Type() == tcptakeh.ASession {
			ad.Nested(d.decode)
		}
	})
	if err != nil {
		return nil, asBadImage(err)
	}
	return d.images(withBuffers)
}

func (c *linuxClient) get(ctx context.Context, t Tuple, withBuffers bool) (*Image, error) {
	ae := tupleRequest(t)
	getFlags(ae, withBuffers, false)
	msgs, err := c.execute(ctx, tcptakeh.CmdGet, netlink.Request, ae)
	if withBuffers && errors.Is(err, syscall.EMSGSIZE) {
		// The module's do replies carry at most about 60 KiB of queue
		// bytes; a dump continues the session over several messages.
		return c.getByDump(ctx, t)
	}
	if err != nil {
		return nil, opErr(OpGet, t, err)
	}
	imgs, err := decodeSessions(msgs, withBuffers)
	if err != nil {
		return nil, sessionErr(OpGet, t, err)
	}
	if len(imgs) != 1 {
		return nil, opErr(OpGet, t, fmt.Errorf("%w: module replied with %d sessions", ErrBadImage, len(imgs)))
	}
	if !sameSession(imgs[0].Tuple, t) {
		return nil, opErr(OpGet, t, fmt.Errorf("%w: module replied with session %s", ErrBadImage, imgs[0].Tuple))
	}
	return imgs[0], nil
}

// getByDump gets the session of t with its buffers through a dump
// filtered on the whole tuple.
func (c *linuxClient) getByDump(ctx context.Context, t Tuple) (*Image, error) {
	fam, err := tupleFamily(t)
	if err != nil {
		return nil, opErr(OpGet, t, err)
	}
	imgs, _, err := c.sessions(ctx, SessionFilter{
		Family:     fam,
		LocalAddr:  t.Local.Addr(),
		LocalPort:  t.Local.Port(),
		RemoteAddr: t.Remote.Addr(),
		RemotePort: t.Remote.Port(),
	}, nil, nil, true)
	var partial *SessionsError
	if err != nil && !errors.As(err, &partial) {
		var e *Error
		if errors.As(err, &e) {
			ne := *e
			ne.Op, ne.Session = OpGet, t.String()
			return nil, &ne
		}
		return nil, opErr(OpGet, t, err)
	}
	if partial != nil {
		for i, ft := range partial.tuples {
			if sameSession(ft, t) {
				ne := *partial.Failed[i]
				ne.Op, ne.Session = OpGet, t.String()
				return nil, &ne
			}
		}
	}
	for _, img := range imgs {
		if sameSession(img.Tuple, t) && (t.IfIndex == 0 || img.Tuple.IfIndex == t.IfIndex) {
			return img, nil
		}
	}
	e := opErr(OpGet, t, syscall.ENOENT).(*Error)
	e.Message = "session gone before the dump"
	return nil, e
}

// sessionErr names op and the tuple in a decoding error.
func sessionErr(op Op, t fmt.Stringer, err error) error {
	var e *Error
	if errors.As(err, &e) {
		ne := *e
		ne.Op = op
		ne.Err = fmt.Errorf("%s: %w", e.Op, e.Err)
		if ne.Session == "" && t != nil {
			ne.Session = t.String()
		}
		return &ne
	}
	return opErr(op, t, err)
}

// sessions dumps the sessions f selects, or with ts non-nil those of ts
// (get-tuples-max to a dump, in one tuples-compact attribute), each
// session's scalar state in one struct (GET flag compact: a fraction of
// the module's and the decoder's work per session), or in attributes from
// a module without the flag. With known non-nil, each dump of ts carries
// their known-digests. To a module without tuples-compact and
// known-digests, ts go as a tuples nest each and every session is read
// (unchanged all false).
func (c *linuxClient) sessions(ctx context.Context, f SessionFilter, ts []Tuple, known []uint64, withBuffers bool) ([]*Image, []bool, error) {
	if ts == nil {
		imgs, _, err := c.dumpSessions(ctx, withBuffers, 0, func(ae *netlink.AttributeEncoder) {
			if f != (SessionFilter{}) { // Client.Sessions checked it
				ae.Nested(tcptakeh.ATuple, func(nae *netlink.AttributeEncoder) error { return encodeFilter(nae, f) })
			}
		})
		return imgs, nil, err
	}
	var out []*Image
	var unchanged []bool
	var failed SessionsError
	for len(ts) > 0 {
		part := ts[:min(len(ts), tcptakeh.GetTuplesMax)]
		ts = ts[len(part):]
		var pknown []uint64
		if known != nil {
			pknown, known = known[:len(part)], known[len(part):]
		}
		dump := func(old bool) ([]*Image, []bool, error) {
			if old {
				imgs, _, err := c.dumpSessions(ctx, withBuffers, 0, func(ae *netlink.AttributeEncoder) {
					for _, t := range part {
						encodeTupleNest(ae, tcptakeh.ATuples, t)
					}
				})
				if pknown == nil {
					return imgs, nil, err
				}
				return imgs, make([]bool, len(part)), err
			}
			return c.dumpSessions(ctx, withBuffers, len(pknown), func(ae *netlink.AttributeEncoder) {
				ae.Bytes(tcptakeh.ATuplesCompact, tuplesCompact(part))
				if pknown != nil {
					b := make([]byte, 8*len(pknown))
					for i, d := range pknown {
						binary.NativeEndian.PutUint64(b[8*i:], d)
					}
					ae.Bytes(tcptakeh.AKnownDigests, b)
				}
			})
		}
		old := c.oldChosen.Load()
		imgs, pu, err := dump(old)
		if !old && errors.Is(err, syscall.EINVAL) {
			// A module older than both (the policy's unknown attribute):
			// the nests, from now on if they pass.
			if imgs, pu, err = dump(true); err == nil {
				c.oldChosen.Store(true)
			}
		}
		var partial *SessionsError
		if err != nil && !errors.As(err, &partial) {
			return nil, nil, err
		}
		out, unchanged = append(out, imgs...), append(unchanged, pu...)
		if partial != nil {
			failed.Failed = append(failed.Failed, partial.Failed...)
			failed.tuples = append(failed.tuples, partial.tuples...)
		}
	}
	if len(failed.Failed) > 0 {
		return out, unchanged, &failed
	}
	return out, unchanged, nil
}

// dumpSessions runs a GET dump whose request attributes choose puts,
// besides the flags; with known > 0 (the request's known-digests), it
// also returns the reply's unchanged bitmap of that many tuples.
func (c *linuxClient) dumpSessions(ctx context.Context, withBuffers bool, known int, choose func(*netlink.AttributeEncoder)) ([]*Image, []bool, error) {
	request := func(compact bool) *netlink.AttributeEncoder {
		ae := netlink.NewAttributeEncoder()
		choose(ae)
		getFlags(ae, withBuffers, compact)
		return ae
	}
	compact := !c.noCompact.Load()
	msgs, err := c.dump(ctx, tcptakeh.CmdGet, request(compact))
	if compact && errors.Is(err, syscall.EOPNOTSUPP) {
		// The only flag a module can lack (buffers came with GET).
		c.noCompact.Store(true)
		msgs, err = c.dump(ctx, tcptakeh.CmdGet, request(false))
	}
	if err != nil {
		return nil, nil, opErr(OpDump, nil, err)
	}
	var unchanged []bool
	if known > 0 {
		if unchanged, err = decodeUnchanged(msgs, known); err != nil {
			return nil, nil, opErr(OpDump, nil, err)
		}
	}
	imgs, err := decodeSessions(msgs, withBuffers)
	var partial *SessionsError
	if err != nil && !errors.As(err, &partial) {
		return nil, nil, sessionErr(OpDump, nil, err)
	}
	return imgs, unchanged, err
}

// decodeUnchanged reads the unchanged bitmap of a GET dump of n tuples
// with known-digests: the last one of the replies, ceil(n / 8) bytes.
func decodeUnchanged(msgs []msg, n int) ([]bool, error) {
	var bits []byte
	found := false
	err := eachAttr(msgs, func(ad *netlink.AttributeDecoder) {
		if ad.Type() == tcptakeh.AUnchanged {
			bits, found = ad.Bytes(), true
		}
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBadImage, err)
	case !found:
		return nil, fmt.Errorf("%w: no unchanged attribute in a dump with known digests", ErrBadImage)
	case len(bits) != (n+7)/8:
		return nil, fmt.Errorf("%w: unchanged of %d bytes for %d tuples", ErrBadImage, len(bits), n)
	}
	out := make([]bool, n)
	for i := range out {
		out[i] = bits[i/8]&(1<<(i%8)) != 0
	}
	return out, nil
}

func (c *linuxClient) set(ctx context.Context, ts []Tuple, ks []KernelState, fields KernelFields) []error {
	return c.tupleRequests(ctx, OpSet, tcptakeh.CmdSet, ts, func(i int, ae *netlink.AttributeEncoder) {
		ae.Nested(tcptakeh.ASession, func(nae *netlink.AttributeEncoder) error {
			encodeTupleNest(nae, tcptakeh.ASessionTuple, ts[i])
			encodeKernelState(nae, ks[i], fields)
			return nil
		})
	})
}

func (c *linuxClient) peerSegments(ctx context.Context, t Tuple) ([]Segment, error) {
	msgs, err := c.execute(ctx, tcptakeh.CmdPeerGet, netlink.Request, tupleRequest(t))
	if err != nil {
		return nil, opErr(OpPeerGet, t, err)
	}
	segs := []Segment{}
	err = eachAttr(msgs, func(ad *netlink.AttributeDecoder) {
		if ad.Type() == tcptakeh.ASegment {
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				var s Segment
				if err := decodeSegment(nad, &s); err != nil {
					return err
				}
				segs = append(segs, s)
				return nil
			})
		}
	})
	if err != nil {
		return nil, opErr(OpPeerGet, t, fmt.Errorf("bad reply: %w", err))
	}
	return segs, nil
}

// decodeFreezeMsg reads the freeze nest of a FREEZE-LIST reply or a
// notification.
func decodeFreezeMsg(m msg) (FreezeInfo, EventType, error) {
	var (
		fi  FreezeInfo
		ev  EventType
		saw bool
	)
	err := eachAttr([]msg{m}, func(ad *netlink.AttributeDecoder) {
		if ad.Type() == tcptakeh.AFreeze {
			saw = true
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				var err error
				ev, err = decodeFreeze(nad, &fi)
				return err
			})
		}
	})
	if err == nil && !saw {
		err = errors.New("no freeze attribute")
	}
	return fi, ev, err
}

func (c *linuxClient) freezes(ctx context.Context) ([]FreezeInfo, error) {
	msgs, err := c.dump(ctx, tcptakeh.CmdFreezeList, nil)
	if err != nil {
		return nil, opErr(OpFreezeList, nil, err)
	}
	out := make([]FreezeInfo, 0, len(msgs))
	for _, m := range msgs {
		fi, _, err := decodeFreezeMsg(m)
		if err != nil {
			return nil, opErr(OpFreezeList, nil, fmt.Errorf("bad reply: %w", err))
		}
		out = append(out, fi)
	}
	return out, nil
}

func (c *linuxClient) events(ctx context.Context) (<-chan FreezeEvent, error) {
	c.mu.Lock()
	dial := c.dial
	c.mu.Unlock()
	if dial == nil {
		return nil, opErr(OpEvents, nil, errors.New("client closed or cannot open sockets"))
	}
	var group uint32
	found := false
	for _, g := range c.family.Groups {
		if g.Name == tcptakeh.McgrpEvents {
			group, found = g.ID, true
		}
	}
	if !found {
		return nil, opErr(OpEvents, nil, fmt.Errorf("%w: module has no %q multicast group", ErrUnsupported, tcptakeh.McgrpEvents))
	}
	nl, err := dial()
	if err != nil {
		return nil, opErr(OpEvents, nil, err)
	}
	conn := genetlink.NewConn(nl)
	if err := conn.JoinGroup(group); err != nil {
		conn.Close()
		return nil, opErr(OpEvents, nil, err)
	}
	ch := make(chan FreezeEvent)
	go c.receiveEvents(ctx, conn, ch)
	return ch, nil
}

// receiveEvents feeds ch from conn until ctx ends or conn fails.
func (c *linuxClient) receiveEvents(ctx context.Context, conn *genetlink.Conn, ch chan<- FreezeEvent) {
	defer close(ch)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	send := func(ev FreezeEvent) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		gmsgs, nmsgs, err := conn.Receive()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, syscall.ENOBUFS) {
				if !send(FreezeEvent{Err: ErrEventsLost}) {
					return
				}
				continue
			}
			send(FreezeEvent{Err: opErr(OpEvents, nil, err)})
			return
		}
		for i := range gmsgs {
			if isControl(nmsgs[i].Header.Type) || gmsgs[i].Header.Command != tcptakeh.CmdFreezeNtf {
				continue
			}
			fi, ev, err := decodeFreezeMsg(msg{h: nmsgs[i].Header, m: gmsgs[i]})
			if err != nil {
				// A notification we cannot read is reported, not fatal.
				if !send(FreezeEvent{Err: opErr(OpEvents, nil, fmt.Errorf("bad notification: %w", err))}) {
					return
				}
				continue
			}
			if !send(FreezeEvent{Type: ev, Freeze: fi}) {
				return
			}
		}
	}
}
