//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Each session carries queueBytes each way: the client's in the server's
// receive queue (unread), the server's sent but unacknowledged. Bytes
// depend on the client's port, so a session restored with another's
// queue fails its check.
const (
	queueBytes = 4096
	reqBytes   = 64
	pingBytes  = 16
)

func clientByte(port, j int) byte { return byte(j*7 + port*13 + j>>8) }
func serverByte(port, j int) byte { return byte(j*11 + port*17 + 0x33 + j>>9) }

func pattern(f func(port, j int) byte, port, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = f(port, j)
	}
	return b
}

// held is a client's session with 4 KiB in each queue of the server.
// Until the check it is a socket outside Go's poller: bytes that reach it
// during the move wake no thread here, as they would not on the remote
// machine the client stands for.
type held struct {
	fd      int          // until the check
	c       *net.TCPConn // from the check on
	port    int
	arrived time.Time // the server's 4 KiB complete at the client
	err     error
}

// dialHeld opens n sessions to addr and sends each its 4 KiB.
func dialHeld(addr string, n int) ([]*held, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("hold address %q: want IPv4 address:port", addr)
	}
	hs := make([]*held, 0, n)
	for i := range n {
		h, err := dial(ap)
		if err != nil {
			closeHeld(hs)
			return nil, fmt.Errorf("dial %s (session %d): %w", addr, i, err)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// dial connects a non-blocking socket to ap, stamps what it receives
// (SO_TIMESTAMPNS) and sends its 4 KiB.
func dial(ap netip.AddrPort) (*held, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	port, err := connectSend(fd, ap)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &held{fd: fd, port: port}, nil
}

// connectSend is dial's work on its socket fd; it returns the local port.
func connectSend(fd int, ap netip.AddrPort) (port int, err error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return 0, err
	}
	switch err := unix.Connect(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err {
	case nil:
	case unix.EINPROGRESS:
		if err := await(fd, unix.POLLOUT); err != nil {
			return 0, err
		}
		e, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return 0, err
		}
		if e != 0 {
			return 0, unix.Errno(e)
		}
	default:
		return 0, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	port = sa.(*unix.SockaddrInet4).Port
	for b := pattern(clientByte, port, queueBytes); len(b) > 0; {
		k, err := unix.Write(fd, b)
		switch err {
		case nil:
			b = b[k:]
		case unix.EAGAIN:
			if err := await(fd, unix.POLLOUT); err != nil {
				return 0, err
			}
		default:
			return 0, err
		}
	}
	return port, nil
}

// await waits up to 10 s for fd to be ready for events.
func await(fd int, events int16) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(pfd, int(left.Milliseconds())+1)
		switch {
		case err == unix.EINTR:
		case err != nil:
			return err
		case n > 0:
			return nil
		}
	}
}

// conn hands h's socket to Go's poller.
func (h *held) conn() error {
	f := os.NewFile(uintptr(h.fd), "held")
	c, err := net.FileConn(f)
	f.Close()
	h.fd = -1
	if err != nil {
		return err
	}
	h.c = c.(*net.TCPConn)
	return nil
}

// readStamped fills b from c and returns when its last bytes reached the
// client's kernel (SO_TIMESTAMPNS, set at dial), however late they are read.
func readStamped(c *net.TCPConn, b []byte) (time.Time, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return time.Time{}, err
	}
	var at time.Time
	oob := make([]byte, unix.CmsgSpace(16))
	for n := 0; n < len(b); {
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			k, oobn, _, _, e := unix.Recvmsg(int(fd), b[n:], oob, 0)
			switch {
			case e == unix.EAGAIN:
				return false
			case e != nil:
				rerr = e
			case k == 0:
				rerr = io.ErrUnexpectedEOF
			default:
				n += k
				cms, _ := unix.ParseSocketControlMessage(oob[:oobn])
				for _, cm := range cms {
					if cm.Header.Level == unix.SOL_SOCKET && cm.Header.Type == unix.SO_TIMESTAMPNS && len(cm.Data) >= 16 {
						at = time.Unix(int64(binary.NativeEndian.Uint64(cm.Data)), int64(binary.NativeEndian.Uint64(cm.Data[8:])))
					}
				}
			}
			return true
		})
		if err = errors.Join(err, rerr); err != nil {
			return at, err
		}
	}
	if at.IsZero() {
		return at, errors.New("no receive timestamp")
	}
	return at, nil
}

func closeHeld(hs []*held) {
	for _, h := range hs {
		if h.c != nil {
			h.c.Close()
		} else if h.fd >= 0 {
			unix.Close(h.fd)
		}
	}
}

// verifyHeld, once wait is called (after the move: the clients stand for
// remote machines, and load no CPU the move shares), reads each session's
// in-flight 4 KiB with the time its kernel received them, checks them,
// then sends a request whose answer says the server found the client's
// 4 KiB intact, all within timeout of the call (10,000 sessions under
// TCG take over a minute).
func verifyHeld(hs []*held, timeout time.Duration) (wait func() error) {
	var wg sync.WaitGroup
	check := make(chan struct{})
	for _, h := range hs {
		wg.Go(func() {
			<-check
			deadline := time.Now().Add(timeout)
			if err := h.conn(); err != nil {
				h.err = fmt.Errorf("session :%d: %w", h.port, err)
				return
			}
			h.c.SetDeadline(deadline)
			got := make([]byte, queueBytes)
			var err error
			if h.arrived, err = readStamped(h.c, got); err != nil {
				h.err = fmt.Errorf("session :%d: in-flight bytes: %w", h.port, err)
				return
			}
			if !bytes.Equal(got, pattern(serverByte, h.port, queueBytes)) {
				h.err = fmt.Errorf("session :%d: the server's 4 KiB differ", h.port)
				return
			}
			req := pattern(func(p, j int) byte { return byte(p + j*3) }, h.port, reqBytes)
			if _, err := h.c.Write(req); err != nil {
				h.err = fmt.Errorf("session :%d: request: %w", h.port, err)
				return
			}
			ans := make([]byte, reqBytes)
			if _, err := io.ReadFull(h.c, ans); err != nil {
				h.err = fmt.Errorf("session :%d: answer: %w", h.port, err)
				return
			}
			for j := range ans {
				if ans[j] != req[j]^0x5a {
					h.err = fmt.Errorf("session :%d: the server found its receive queue corrupt (answer %x)", h.port, ans[:8])
					return
				}
			}
		})
	}
	return func() error {
		close(check)
		wg.Wait()
		var errs []error
		for _, h := range hs {
			if h.err != nil {
				errs = append(errs, h.err)
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%d of %d sessions failed: %w", len(errs), len(hs), errors.Join(errs[:min(5, len(errs))]...))
		}
		return nil
	}
}

// pinger is an echo session that sends a 16-byte ping every 2 ms and
// waits for it back: the longest gap between two answers is the stall it
// saw.
type pinger struct {
	c       *net.TCPConn
	stop    chan struct{}
	done    chan struct{}
	answers []int64 // Unix ns: the start, then each answer
	err     error
}

// startPingers opens n pingers to addr, from the address from if it is
// valid.
func startPingers(addr string, n int, from netip.Addr) ([]*pinger, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if from.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	}
	var ps []*pinger
	err := func() error {
		for range n {
			c, err := d.Dial("tcp4", addr)
			if err != nil {
				return err
			}
			ps = append(ps, &pinger{c: c.(*net.TCPConn), stop: make(chan struct{}), done: make(chan struct{})})
		}
		return nil
	}()
	for _, p := range ps {
		go p.run()
	}
	return ps, err
}

func (p *pinger) run() {
	defer close(p.done)
	msg, got := make([]byte, pingBytes), make([]byte, pingBytes)
	p.answers = append(p.answers, time.Now().UnixNano())
	for seq := 0; ; seq++ {
		select {
		case <-p.stop:
			return
		default:
		}
		for j := range msg {
			msg[j] = byte(seq + j)
		}
		p.c.SetDeadline(time.Now().Add(time.Minute))
		if _, err := p.c.Write(msg); err != nil {
			p.err = err
			return
		}
		if _, err := io.ReadFull(p.c, got); err != nil {
			p.err = err
			return
		}
		if !bytes.Equal(got, msg) {
			p.err = fmt.Errorf("ping %d: echo %x, sent %x", seq, got, msg)
			return
		}
		p.answers = append(p.answers, time.Now().UnixNano())
		time.Sleep(2 * time.Millisecond)
	}
}

// stall is the longest gap between two answers that ended in (from, to]
// (Unix ns).
func stall(answers []int64, from, to int64) int64 {
	var m int64
	for i := 1; i < len(answers); i++ {
		if a := answers[i]; a > from && a <= to {
			m = max(m, a-answers[i-1])
		}
	}
	return m
}

// moveStall is what the move cost a pinger: the longest gap between two
// answers that overlaps [from, to] (it waited across the move), less its
// median gap before from (its usual round trip on its link). A loss on
// the link later than the move is not the move's, nor is the link's
// round trip.
func moveStall(answers []int64, from, to int64) int64 {
	var m int64
	var before []int64
	for i := 1; i < len(answers); i++ {
		a, b := answers[i-1], answers[i]
		if b <= from {
			before = append(before, b-a)
		} else if a < to {
			m = max(m, b-a)
		}
	}
	if len(before) == 0 {
		return m
	}
	slices.Sort(before)
	return max(0, m-before[len(before)/2])
}

// stopPingers ends the pingers (each after its exchange in progress).
func stopPingers(ps []*pinger) error {
	var errs []error
	for _, p := range ps {
		close(p.stop)
		<-p.done
		p.c.Close()
		if p.err != nil {
			errs = append(errs, fmt.Errorf("pinger %v: %w", p.c.LocalAddr(), p.err))
		}
	}
	return errors.Join(errs...)
}

// The clients run in a process of their own in the client's namespace
// (this test binary again, with clientEnv set): the descriptor limit
// (20,000 here, and no CAP_SYS_RESOURCE to raise it) would not hold
// 10,000 clients beside the baseline's 10,000 sockets. The bench sends it
// one JSON clientCmd a line on stdin, it answers each with a clientReply.
const clientEnv = "TCPTAKE_BENCH_CLIENT"

type clientCmd struct {
	Op      string     `json:"op"` // open, arm, collect
	Hold    string     `json:"hold,omitempty"`
	Echo    string     `json:"echo,omitempty"`
	N       int        `json:"n,omitempty"`
	Pingers int        `json:"pingers,omitempty"`
	Lossy   int        `json:"lossy,omitempty"`   // pingers from LossyAt
	LossyAt netip.Addr `json:"lossy_at,omitzero"` // the client's address behind the lossy link
}

// clientReply's Fast and Lossy are the answer times of each pinger (Unix
// ns: its start, then each answer), those of the fast link and those of
// the lossy one; Stop is when collect stopped them.
type clientReply struct {
	Err         string    `json:"err,omitempty"`
	LastArrival int64     `json:"last_arrival,omitempty"` // Unix ns
	Fast        [][]int64 `json:"fast,omitempty"`
	Lossy       [][]int64 `json:"lossy,omitempty"`
	Stop        int64     `json:"stop,omitempty"`
}

func clientMain() error {
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	var (
		hs        []*held
		ps, lossy []*pinger
		wait      func() error
	)
	for in.Scan() {
		var cmd clientCmd
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			return err
		}
		var r clientReply
		var err error
		switch cmd.Op {
		case "open":
			if hs, err = dialHeld(cmd.Hold, cmd.N); err == nil {
				ps, err = startPingers(cmd.Echo, cmd.Pingers, netip.Addr{})
			}
			if err == nil {
				lossy, err = startPingers(cmd.Echo, cmd.Lossy, cmd.LossyAt)
			}
		case "arm":
			wait = verifyHeld(hs, 2*time.Minute)
		case "collect":
			r.Stop = time.Now().UnixNano()
			err = errors.Join(stopPingers(ps), stopPingers(lossy), wait())
			for _, p := range ps {
				r.Fast = append(r.Fast, p.answers)
			}
			for _, p := range lossy {
				r.Lossy = append(r.Lossy, p.answers)
			}
			for _, h := range hs {
				if h.arrived.UnixNano() > r.LastArrival {
					r.LastArrival = h.arrived.UnixNano()
				}
			}
			closeHeld(hs)
			hs, ps, lossy = nil, nil, nil
		default:
			err = fmt.Errorf("unknown op %q", cmd.Op)
		}
		if err != nil {
			r.Err = err.Error()
		}
		if err := out.Encode(r); err != nil {
			return err
		}
	}
	return in.Err()
}

func TestPingerStall(t *testing.T) {
	// Started at 0; answers at 2, 4, 204 (a 200 ns gap), 206, 1206 (1000).
	answers := []int64{0, 2, 4, 204, 206, 1206}
	for _, c := range []struct{ from, to, want int64 }{
		{0, math.MaxInt64, 1000}, // everything
		{205, math.MaxInt64, 1000},
		{1206, math.MaxInt64, 0}, // nothing ended after the last answer
		{100, 300, 200},          // the gap in progress at 100 ended in the window
		{204, 1205, 2},           // gaps ending at from are not in the window, at to are
		{-500, 4, 2},             // before the start: no gap
	} {
		if got := stall(answers, c.from, c.to); got != c.want {
			t.Errorf("stall(%d, %d) = %d, want %d", c.from, c.to, got, c.want)
		}
	}
	for _, c := range []struct{ from, to, want int64 }{
		{100, 150, 200 - 2},  // the 200 gap overlaps; median gap before: 2
		{210, 220, 1000 - 2}, // before: 2, 2, 200, 2 (median 2)
		{204, 204, 0},        // an answer at that instant: no gap spans it
		{1, 3, 2},            // nothing before it: the gap itself
		{1300, 1400, 0},      // after the last answer: nothing overlaps
	} {
		if got := moveStall(answers, c.from, c.to); got != c.want {
			t.Errorf("moveStall(%d, %d) = %d, want %d", c.from, c.to, got, c.want)
		}
	}
}
