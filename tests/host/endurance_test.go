//go:build linux

package host

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcptake/tcptake/examples/node"
)

// TestEndurance (e): one session carries 100 MB from the client through
// an echo service and back while it is moved 10 times in a row
// (act→sby→act…, the service address with it). Both directions must be
// byte-exact, in bounded time.
func TestEndurance(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(family(v6), func(t *testing.T) { testEndurance(t, v6) })
	}
}

func testEndurance(t *testing.T, v6 bool) {
	const (
		total = 100 << 20
		moves = 10
		chunk = 64 << 10
		rate  = 40 << 20 // bytes/s the client sends: about 2.5 s of streaming
	)
	e := newEnv(t)
	nodes := [2]*node.Node{newNode(t, e.Act, node.Echo{}), newNode(t, e.Sby, node.Echo{})}
	listen(t, e.Act, nodes[0], vip(v6, 7))
	listen(t, e.Sby, nodes[1], vip(v6, 7))
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
	var received func() int64
	{
		cr := &countingWriter{w: v}
		received = cr.n
		go func() {
			c.SetReadDeadline(time.Now().Add(90 * time.Second))
			_, err := io.Copy(cr, c)
			rerr <- err
		}()
	}
	for i := 0; i < moves; i++ {
		mark := int64(i+1) * total / (moves + 1)
		if !eventually(20*time.Second, func() bool { return received() >= mark }) {
			e.diagnose(t)
			t.Fatalf("the stream stalled at %d bytes (waiting for %d) after %d moves", received(), mark, i)
		}
		from, to := nodes[i%2], nodes[(i+1)%2]
		rep := migrate(t, from, to, 1)
		t.Logf("move %d %s→%s at %d MB: blackout %.1f ms, image %d B", i+1, from.Name, to.Name, received()>>20, float64(rep.BlackoutUs)/1000, rep.ImageBytes)
	}
	if err := <-werr; err != nil {
		t.Fatalf("client write: %v", err)
	}
	if err := <-rerr; err != nil {
		t.Fatalf("client read: %v after %d bytes", err, received())
	}
	if v.bad != nil || v.off != total {
		t.Fatalf("echoed stream: %d bytes (want %d), first difference: %v", v.off, total, v.bad)
	}
	el := time.Since(start)
	t.Logf("100 MB echoed byte-exact through %d moves in %v", moves, el)
	if el > 30*time.Second {
		t.Errorf("took %v, want < 30 s", el)
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
