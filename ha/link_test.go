package ha

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func testKeys(t *testing.T) (ed25519.PrivateKey, ed25519.PrivateKey) {
	t.Helper()
	_, a, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

type hsResult struct {
	l   *link
	err error
}

// pipeHandshake runs both sides of a handshake over loopback TCP; the
// listener pins listenerPeer, the dialer pins dialerPeer.
func pipeHandshake(t *testing.T, dk, lk ed25519.PrivateKey, dialerPeer, listenerPeer ed25519.PublicKey) (d, l hsResult) {
	t.Helper()
	a, b := loopback(t)
	if a == nil {
		t.FailNow()
	}
	dcfg, err := tlsConfig(dk, dialerPeer)
	if err != nil {
		t.Fatal(err)
	}
	lcfg, err := tlsConfig(lk, listenerPeer)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dc := make(chan hsResult, 1)
	go func() {
		l, err := handshake(ctx, a, dcfg, true, hello{Role: RoleStandby, Epoch: 3}, DefaultMaxFrame)
		dc <- hsResult{l, err}
	}()
	ll, lerr := handshake(ctx, b, lcfg, false, hello{Role: RoleActive, Epoch: 4}, DefaultMaxFrame)
	return <-dc, hsResult{ll, lerr}
}

func TestLinkHandshakeAndFrames(t *testing.T) {
	dk, lk := testKeys(t)
	d, l := pipeHandshake(t, dk, lk, pub(lk), pub(dk))
	if d.err != nil || l.err != nil {
		t.Fatalf("handshake: dialer %v, listener %v", d.err, l.err)
	}
	if d.l.peer.Role != RoleActive || d.l.peer.Epoch != 4 || l.l.peer.Role != RoleStandby || l.l.peer.Epoch != 3 {
		t.Fatalf("hellos: dialer saw %+v, listener saw %+v", d.l.peer, l.l.peer)
	}
	if d.l.fc.connID != l.l.fc.connID || d.l.fc.connID == ([8]byte{}) {
		t.Fatalf("connection ids differ or are zero: %x %x", d.l.fc.connID, l.l.fc.connID)
	}
	for i, p := range [][]byte{nil, []byte("one"), bytes.Repeat([]byte{7}, 100000)} {
		go d.l.fc.write(msgImage, 5, p)
		h, got, err := l.l.fc.read()
		if err != nil {
			t.Fatal(err)
		}
		if h.typ != msgImage || h.epoch != 5 || h.seq != uint64(i+1) || !bytes.Equal(got, p) {
			t.Fatalf("frame %d: %+v %d bytes", i, h, len(got))
		}
	}
}

func TestLinkWrongKey(t *testing.T) {
	dk, lk := testKeys(t)
	other, _ := testKeys(t)
	// The listener expects another dialer key.
	d, l := pipeHandshake(t, dk, lk, pub(lk), pub(other))
	if !errors.Is(l.err, ErrWrongKey) || d.err == nil {
		t.Fatalf("listener pinned to another key: listener %v, dialer %v", l.err, d.err)
	}
	var le *LinkError
	if !errors.As(l.err, &le) || le.Op != "handshake" {
		t.Fatalf("want a handshake LinkError, got %v", l.err)
	}
	// The dialer expects another listener key.
	d, l = pipeHandshake(t, dk, lk, pub(other), pub(dk))
	if !errors.Is(d.err, ErrWrongKey) || l.err == nil {
		t.Fatalf("dialer pinned to another key: dialer %v, listener %v", d.err, l.err)
	}
}

// listenerRefuses feeds raw bytes to a listener's handshake and checks it
// fails at the handshake, having written nothing but TLS alerts.
func listenerRefuses(t *testing.T, send []byte, closeAfter bool) error {
	t.Helper()
	dk, lk := testKeys(t)
	cfg, err := tlsConfig(lk, pub(dk))
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	go func() {
		a.Write(send)
		if closeAfter {
			a.Close()
		} else {
			io.Copy(io.Discard, a)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	l, err := handshake(ctx, b, cfg, false, hello{Role: RoleActive}, DefaultMaxFrame)
	if err == nil {
		t.Fatalf("handshake accepted %q: peer %+v", send, l.peer)
	}
	var le *LinkError
	if !errors.As(err, &le) || le.Op != "handshake" {
		t.Fatalf("want a handshake LinkError, got %v", err)
	}
	return err
}

func TestLinkPlaintextPeer(t *testing.T) {
	listenerRefuses(t, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), true)
	// a plaintext frame of our own protocol, too
	var b [headerLen]byte
	(&frameHeader{typ: msgHello}).marshal(b[:])
	listenerRefuses(t, b[:], true)
}

func TestLinkGarbage(t *testing.T) {
	g := make([]byte, 4096)
	rand.Read(g)
	listenerRefuses(t, g, true)
}

func TestLinkTruncatedHandshake(t *testing.T) {
	// The start of a TLS record header for a ClientHello, then silence:
	// the handshake times out.
	err := listenerRefuses(t, []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, false)
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, io.ErrClosedPipe) && !isTimeout(err) {
		t.Logf("truncated handshake refused with %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	c.n += k
	return k, err
}

func (c *countingReader) Write(b []byte) (int, error) { return len(b), nil }

func TestFrameOversizeRefusedBeforeAllocation(t *testing.T) {
	var b [headerLen]byte
	(&frameHeader{typ: msgImage, seq: 1, length: 1 << 30}).marshal(b[:])
	cr := &countingReader{r: io.MultiReader(bytes.NewReader(b[:]), bytes.NewReader(make([]byte, 1<<20)))}
	fc := &frameConn{rw: cr, max: 1 << 20}
	_, _, err := fc.read()
	if !errors.Is(err, ErrFrameTooBig) {
		t.Fatalf("want ErrFrameTooBig, got %v", err)
	}
	if cr.n != headerLen {
		t.Fatalf("read %d bytes, want only the %d-byte header", cr.n, headerLen)
	}
}

func TestFrameBadMagicAndVersion(t *testing.T) {
	var b [headerLen]byte
	(&frameHeader{typ: msgHeartbeat, seq: 1}).marshal(b[:])
	bad := b
	bad[0] = 'X'
	if _, _, err := (&frameConn{rw: &countingReader{r: bytes.NewReader(bad[:])}, max: 10}).read(); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("bad magic: %v", err)
	}
	bad = b
	bad[2] = 9
	if _, _, err := (&frameConn{rw: &countingReader{r: bytes.NewReader(bad[:])}, max: 10}).read(); !errors.Is(err, ErrVersion) {
		t.Fatalf("bad version: %v", err)
	}
}

// recorder keeps what a frameConn writes.
type recorder struct{ bytes.Buffer }

func TestFrameReplay(t *testing.T) {
	var rec recorder
	w := &frameConn{rw: &rec, connID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}}
	w.write(msgGo, 2, []byte(`{"id":1}`))
	frame := bytes.Clone(rec.Bytes())

	// The same frame on the connection it was recorded on is read once.
	r := &frameConn{rw: &countingReader{r: bytes.NewReader(append(bytes.Clone(frame), frame...))}, max: 100, connID: w.connID}
	if _, _, err := r.read(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.read(); !errors.Is(err, ErrReplay) {
		t.Fatalf("frame replayed on its own connection: %v", err)
	}
	// On a new connection (another id), even as its first frame.
	r = &frameConn{rw: &countingReader{r: bytes.NewReader(frame)}, max: 100, connID: [8]byte{9}}
	if _, _, err := r.read(); !errors.Is(err, ErrReplay) {
		t.Fatalf("frame replayed on a new connection: %v", err)
	}
	// A hello after the first frame is a replay too.
	rec.Reset()
	w.write(msgHello, 2, []byte(`{}`))
	r = &frameConn{rw: &countingReader{r: bytes.NewReader(rec.Bytes())}, max: 100, recvSeq: 3}
	if _, _, err := r.read(); !errors.Is(err, ErrReplay) {
		t.Fatalf("late hello: %v", err)
	}
}

// TestFrameBatch: frames written together (one write) are read back one
// by one, in order, with consecutive sequence numbers, empty ones too.
func TestFrameBatch(t *testing.T) {
	var rec writeCounter
	w := &frameConn{rw: &rec, connID: [8]byte{7}}
	payloads := [][]byte{[]byte("one"), nil, []byte("three")}
	if err := w.write(msgImage, 3, payloads...); err != nil || rec.writes != 1 {
		t.Fatalf("write: %v, %d writes, want 1", err, rec.writes)
	}
	r := &frameConn{rw: &countingReader{r: bytes.NewReader(rec.Bytes())}, max: 100, connID: w.connID}
	for i, want := range payloads {
		h, p, err := r.read()
		if err != nil || h.typ != msgImage || h.epoch != 3 || h.seq != uint64(i+1) || !bytes.Equal(p, want) {
			t.Fatalf("frame %d: %+v %q %v, want seq %d, %q", i, h, p, err, i+1, want)
		}
	}
	if _, _, err := r.read(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the batch: %v, want EOF", err)
	}
}

func TestOneWrite(t *testing.T) {
	b := func(n int) []byte { return make([]byte, n) }
	for _, c := range []struct {
		payloads [][]byte
		want     int
	}{
		{[][]byte{b(3), b(3), b(4)}, 3}, // 10 bytes: all
		{[][]byte{b(3), b(3), b(5)}, 2}, // 11: the third waits
		{[][]byte{b(20), b(1)}, 1},      // larger than max: alone
		{[][]byte{nil, nil, b(10), nil}, 4},
		{[][]byte{b(1)}, 1},
	} {
		if got := oneWrite(c.payloads, 10); got != c.want {
			t.Errorf("oneWrite(%d payloads) = %d, want %d", len(c.payloads), got, c.want)
		}
	}
}

// writeCounter keeps what is written and counts the writes.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(b []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(b)
}

func TestFrameOldEpoch(t *testing.T) {
	var rec recorder
	w := &frameConn{rw: &rec, connID: [8]byte{1}}
	w.write(msgHeartbeat, 5, nil)
	w.write(msgHeartbeat, 5, nil)
	w.write(msgHeartbeat, 4, nil)
	r := &frameConn{rw: &countingReader{r: bytes.NewReader(rec.Bytes())}, max: 100, connID: w.connID}
	for i := range 2 {
		if _, _, err := r.read(); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if _, _, err := r.read(); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("epoch 4 after 5: %v", err)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	var b [headerLen]byte
	(&frameHeader{typ: msgImage, seq: 1, length: 3}).marshal(b[:])
	f.Add(append(b[:], 1, 2, 3))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &frameConn{rw: &countingReader{r: bytes.NewReader(in)}, max: 1 << 16}
		for {
			h, p, err := r.read()
			if err != nil {
				return
			}
			if len(p) != int(h.length) {
				t.Fatalf("payload %d bytes, header says %d", len(p), h.length)
			}
		}
	})
}
