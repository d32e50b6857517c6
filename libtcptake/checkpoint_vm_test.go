//go:build linux

package libtcptake

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestVMCheckpointDump checkpoints idle loopback sessions with the module
// (CheckpointAll: one dump for all) and, in the same run, with the plain
// per-fd TCP_REPAIR dump (libsoccr's calls, no freeze): the images must
// agree on every sequence number and queue, and the figure is printed as
// a bench line (TCPTAKE_BENCH_N sessions, default 1000; ratios only).
func TestVMCheckpointDump(t *testing.T) {
	needVM(t)
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("TCPTAKE_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	lim := unix.Rlimit{Cur: uint64(2*n + 256), Max: uint64(2*n + 256)}
	var old unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &old)
	if old.Cur < lim.Cur {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("RLIMIT_NOFILE %d: %v", lim.Cur, err)
		}
		defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // dies with its namespace
		benchInNetns(t, func() { checkpointDump(t, n) })
	}()
	<-done
}

func checkpointDump(t *testing.T, n int) {
	clients, servers := benchPairs(t, n, 0)
	defer func() {
		for i := range servers {
			servers[i].Close()
			clients[i].Close()
		}
	}()
	conns := syscallConns(servers)
	plain, dPlain := plainDumpAll(t, servers)

	// The namespace's freezer (the module's client) is made once, by a
	// first checkpoint of one session (a GET), before the timing.
	if one, err := CheckpointAll(t.Context(), conns[:1], nil); err != nil || moduleOf(mustFreezer(t)) == nil {
		t.Fatalf("a first checkpoint with the module: %v, %v", one, err)
	}
	start := time.Now()
	imgs, err := CheckpointAll(t.Context(), conns, nil)
	dModule := time.Since(start)
	if err != nil {
		t.Fatalf("CheckpointAll: %v", err)
	}
	for i, img := range imgs {
		p := plain[i]
		if img.Tuple != p.Tuple || img.State != p.State || img.SndUna != p.SndUna || img.SndNxt != p.SndNxt ||
			img.WriteSeq != p.WriteSeq || img.RcvNxt != p.RcvNxt || !bytes.Equal(img.RecvQueue, p.RecvQueue) ||
			len(img.SendUnacked)+len(img.SendUnsent) != 0 {
			t.Fatalf("session %d: module image %v %v snd %d/%d/%d rcv %d (%d B queued), per-fd %v %v snd %d/%d/%d rcv %d",
				i, img.Tuple, img.State, img.SndUna, img.SndNxt, img.WriteSeq, img.RcvNxt,
				len(img.RecvQueue)+len(img.SendUnacked)+len(img.SendUnsent),
				p.Tuple, p.State, p.SndUna, p.SndNxt, p.WriteSeq, p.RcvNxt)
		}
	}
	// The same dump in attributes (a module without GET flag compact):
	// the same images but the capture times.
	lc := moduleOf(mustFreezer(t)).c.(*linuxClient)
	lc.noCompact.Store(true)
	start = time.Now()
	tlv, err := CheckpointAll(t.Context(), conns, nil)
	dTLV := time.Since(start)
	lc.noCompact.Store(false)
	if err != nil {
		t.Fatalf("CheckpointAll in attributes: %v", err)
	}
	for i, img := range imgs {
		a, b := *img, *tlv[i]
		a.CaptureTime, b.CaptureTime = time.Time{}, time.Time{}
		if diff := cmp.Diff(b, a, cmpAddrPort); diff != "" {
			t.Fatalf("session %d: compact image differs from the attribute form (-attributes +compact):\n%s", i, diff)
		}
	}
	// One GET per session instead (batches under dumpMin), on a part.
	k := min(n, 200)
	start = time.Now()
	for _, c := range conns[:k] {
		if _, err := CheckpointAll(t.Context(), []syscall.Conn{c}, nil); err != nil {
			t.Fatal(err)
		}
	}
	dGet := time.Since(start)
	per := func(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }
	t.Log(fmt.Sprintf("bench: N=%d checkpoint_module_us=%.2f baseline=%.2f ratio=%.3f (%s)",
		n, per(dModule, n), per(dPlain, n), per(dModule, n)/per(dPlain, n), kernelRelease()))
	t.Log(fmt.Sprintf("bench: N=%d checkpoint_module_attrs_us=%.2f baseline=%.2f ratio=%.3f (the dump without flag compact)",
		n, per(dTLV, n), per(dPlain, n), per(dTLV, n)/per(dPlain, n)))
	t.Log(fmt.Sprintf("bench: N=%d checkpoint_module_get_us=%.2f baseline=%.2f ratio=%.3f (one GET each, %d sessions)",
		n, per(dGet, k), per(dPlain, n), per(dGet, k)/per(dPlain, n), k))
}

func kernelRelease() string {
	var u unix.Utsname
	unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}

func mustFreezer(t *testing.T) Freezer {
	f, err := DefaultFreezer()
	if err != nil {
		t.Fatal(err)
	}
	return f
}
