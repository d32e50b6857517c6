//go:build linux

package host

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// TestEndurance (e): one session carries 100 MB from the client through
// streamd's echo service and back while it is switched over 25 times in
// a row (act→sby→act…, the service address with it), per address family:
// 50 consecutive switchovers under load. Both directions must be
// byte-exact (nothing lost, duplicated or reordered), in bounded time,
// without an RST.
func TestEndurance(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(family(v6), func(t *testing.T) { testEndurance(t, v6) })
	}
}

func testEndurance(t *testing.T, v6 bool) {
	const (
		total = 100 << 20
		moves = 25
		chunk = 64 << 10
		rate  = 20 << 20 // bytes/s the client sends: about 5 s of streaming
	)
	e := newEnv(t)
	cl := startCluster(t, e, nil)
	c := dial(t, e.Cli, vip(v6, 7))

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	werr := make(chan error, 1)
	go func() {
		for off := int64(0); off < total; off += chunk {
			// pace: off bytes are due at off/rate seconds
			if d := time.Until(start.Add(time.Duration(off) * time.Second / rate)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					werr <- ctx.Err()
					return
				}
			}
			if _, err := c.Write(pattern(10, off, chunk)); err != nil {
				werr <- err
				return
			}
		}
		werr <- c.CloseWrite()
	}()
	v := &verifier{seed: 10}
	rerr := make(chan error, 1)
	cr := &countingWriter{w: v}
	go func() {
		c.SetReadDeadline(time.Now().Add(90 * time.Second))
		_, err := io.Copy(cr, c)
		rerr <- err
	}()
	socks := [2]string{cl.act, cl.sby}
	for i := range moves {
		mark := int64(i+1) * total / (moves + 1)
		if !eventually(20*time.Second, func() bool { return cr.n() >= mark }) {
			e.diagnose(t)
			t.Fatalf("the stream stalled at %d bytes (waiting for %d) after %d moves", cr.n(), mark, i)
		}
		cl.switchover(t, socks[i%2], 1)
	}
	if err := <-werr; err != nil {
		t.Fatalf("client write: %v", err)
	}
	if err := <-rerr; err != nil {
		t.Fatalf("client read: %v after %d bytes", err, cr.n())
	}
	if v.bad != nil || v.off != total {
		t.Fatalf("echoed stream: %d bytes (want %d), first difference: %v", v.off, total, v.bad)
	}
	el := time.Since(start)
	t.Logf("100 MB echoed byte-exact through %d switchovers in %v", moves, el)
	if el > 40*time.Second {
		t.Errorf("took %v, want < 40 s", el)
	}
	e.checkNoRST()
}

type countingWriter struct {
	w io.Writer
	c atomic.Int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.c.Add(int64(n))
	return n, err
}

func (w *countingWriter) n() int64 { return w.c.Load() }
