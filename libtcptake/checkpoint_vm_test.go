//go:build linux

package libtcptake

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// TestVMCheckpointDump checkpoints idle loopback sessions with the module
// (CheckpointAll: one dump for all) and, in the same run, with the plain
// per-fd TCP_REPAIR dump (libsoccr's calls, no freeze): the images must
// agree on every sequence number and queue, and the figure is printed as
// a bench line (TCPTAKE_BENCH_N sessions, default 1000; ratios only).
// The module's dump is in the compact form (GET flag compact); the same
// dump in attributes must give the same images, and is timed too. Each
// figure is the median of benchReps runs, taken in turn with the baseline.
// Then CheckpointSince given the last images: every session unchanged,
// each gets its previous image back (timed, against the same baseline); a
// session that received 3 bytes gets a new one, with them.
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
	// No keepalive probes (Go's default: after 15 s idle, within the run
	// at N = 10,000): they move ts-recent and the windows between the
	// checkpoints compared.
	for i := range servers {
		if err := errors.Join(servers[i].SetKeepAlive(false), clients[i].SetKeepAlive(false)); err != nil {
			t.Fatal(err)
		}
	}
	conns := syscallConns(servers)

	// The namespace's freezer (the module's client) is made once, by a
	// first checkpoint of one session (a GET), before the timing.
	if one, err := CheckpointAll(t.Context(), conns[:1], nil); err != nil || moduleOf(mustFreezer(t)) == nil {
		t.Fatalf("a first checkpoint with the module: %v, %v", one, err)
	}
	lc := moduleOf(mustFreezer(t)).c.(*linuxClient)
	// Each figure in turn, benchReps times: the per-fd dump, the module's
	// (GET flag compact), the module's in attributes (a module without the
	// flag), and the module's dump alone (reading, decoding).
	var dPlain, dModule, dAttrs, dRecv, dDecode, dTuples, dMatch []time.Duration
	var plain, imgs, attrs []*Image
	for range benchReps {
		var d time.Duration
		runtime.GC() // each figure starts without the garbage of the one before
		plain, d = plainDumpAll(t, servers)
		dPlain = append(dPlain, d)
		runtime.GC()
		imgs, d = timedCheckpoint(t, conns)
		dModule = append(dModule, d)
		lc.noCompact.Store(true)
		runtime.GC()
		attrs, d = timedCheckpoint(t, conns)
		dAttrs = append(dAttrs, d)
		lc.noCompact.Store(false)
		// CheckpointAll's parts: the conns' tuples; the dumps of them
		// (the requests, the module's work and the reads); decoding them;
		// matching the images to the conns.
		runtime.GC()
		start := time.Now()
		tus := tuples(t, conns)
		dTuples = append(dTuples, time.Since(start))
		start = time.Now()
		var msgs []msg
		for part := range slices.Chunk(tus, tcptakeh.GetTuplesMax) {
			ae := netlink.NewAttributeEncoder()
			for _, tu := range part {
				encodeTupleNest(ae, tcptakeh.ATuples, tu)
			}
			getFlags(ae, true, true)
			m, err := lc.dump(t.Context(), tcptakeh.CmdGet, ae)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, m...)
		}
		dRecv = append(dRecv, time.Since(start))
		start = time.Now()
		got, err := decodeSessions(msgs, true)
		dDecode = append(dDecode, time.Since(start))
		if err != nil || len(got) != n {
			t.Fatalf("dump: %d sessions, %v", len(got), err)
		}
		start = time.Now()
		byKey := make(map[sessionKey]*Image, n)
		for _, img := range got {
			byKey[keyOf(img.Tuple)] = img
		}
		for _, tu := range tus {
			if byKey[keyOf(tu)] == nil {
				t.Fatalf("%v not in the dump", tu)
			}
		}
		dMatch = append(dMatch, time.Since(start))
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
		// The attribute form: the same images but the capture times and
		// our TSval (a clock, in ms: moved forward by at most the time
		// between the two checkpoints).
		a, b := *img, *attrs[i]
		if d := b.TSVal - a.TSVal; d > 60000 {
			t.Fatalf("session %d: TSval %d in the compact dump, %d in the later one in attributes", i, a.TSVal, b.TSVal)
		}
		a.CaptureTime, b.CaptureTime, a.TSVal, b.TSVal = time.Time{}, time.Time{}, 0, 0
		if diff := cmp.Diff(b, a, cmpAddrPort); diff != "" {
			t.Fatalf("session %d: compact image differs from the attribute form (-attributes +compact):\n%s", i, diff)
		}
	}
	dSince, dSinceDumps := checkpointSince(t, clients[0], conns, imgs)
	// One GET per session instead (batches under dumpMin), on a part.
	k := min(n, 200)
	start := time.Now()
	for _, c := range conns[:k] {
		if _, err := CheckpointAll(t.Context(), []syscall.Conn{c}, nil); err != nil {
			t.Fatal(err)
		}
	}
	dGet := time.Since(start)
	base := perSession(median(dPlain), n)
	line := func(figure string, ds []time.Duration, note string) {
		v := perSession(median(ds), n)
		t.Log(fmt.Sprintf("bench: N=%d %s=%.2f baseline=%.2f ratio=%.3f (%s; median of %d, min/max %.2f/%.2f, baseline %.2f/%.2f)",
			n, figure, v, base, v/base, note, len(ds), perSession(slices.Min(ds), n), perSession(slices.Max(ds), n),
			perSession(slices.Min(dPlain), n), perSession(slices.Max(dPlain), n)))
	}
	line("checkpoint_module_us", dModule, kernelRelease())
	line("checkpoint_module_attrs_us", dAttrs, "without GET flag compact")
	line("checkpoint_module_unchanged_us", dSince, "CheckpointSince, no session changed since: looked up, not read")
	line("checkpoint_module_unchanged_dump_us", dSinceDumps, "its dumps alone: the requests, the module's work and the reads")
	line("checkpoint_module_recv_us", dRecv, "the compact dumps of their tuples: the requests, the module's work and the reads")
	line("checkpoint_module_decode_us", dDecode, "decoding them")
	line("checkpoint_module_tuples_us", dTuples, "the conns' tuples")
	line("checkpoint_module_match_us", dMatch, "matching the images to the conns")
	v := perSession(dGet, k)
	t.Log(fmt.Sprintf("bench: N=%d checkpoint_module_get_us=%.2f baseline=%.2f ratio=%.3f (one GET each, %d sessions)",
		n, v, base, v/base, k))
}

// checkpointSince takes benchReps checkpoints of conns, idle since prev
// was taken, with CheckpointSince and checks that each session got its
// previous image back; then client, the peer of conns[0], sends 3 bytes,
// and conns[0] alone gets a new image, with them. It returns the durations
// of CheckpointSince and of its dumps alone (Client.SessionsChanged).
func checkpointSince(t *testing.T, client net.Conn, conns []syscall.Conn, prev []*Image) (ds, dumps []time.Duration) {
	tus, known := make([]Tuple, len(prev)), make([]uint64, len(prev))
	for i, img := range prev {
		tus[i], known[i] = img.Tuple, img.Digest
	}
	for range benchReps {
		runtime.GC()
		start := time.Now()
		imgs, err := CheckpointSince(t.Context(), conns, prev, nil)
		ds = append(ds, time.Since(start))
		if err != nil {
			t.Fatalf("CheckpointSince: %v", err)
		}
		runtime.GC()
		start = time.Now()
		got, unchanged, err := moduleOf(mustFreezer(t)).SessionsChanged(t.Context(), tus, known, true)
		dumps = append(dumps, time.Since(start))
		if err != nil || len(got) != 0 || slices.Contains(unchanged, false) {
			t.Fatalf("SessionsChanged: %d sessions changed, %v", len(got), err)
		}
		for i, img := range imgs {
			if img != prev[i] {
				t.Fatalf("session %d, unchanged: image %p, not the previous one %p", i, img, prev[i])
			}
		}
	}
	if _, err := client.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	imgs, err := CheckpointSince(t.Context(), conns, prev, nil)
	if err != nil {
		t.Fatalf("CheckpointSince: %v", err)
	}
	if a, b := imgs[0], prev[0]; a.RcvNxt != b.RcvNxt+3 || string(a.RecvQueue) != string(b.RecvQueue)+"abc" || a.Digest == b.Digest {
		t.Fatalf("the session that received 3 bytes: rcv-nxt %d (before %d), %q unread (before %q), digest %x (before %x)",
			a.RcvNxt, b.RcvNxt, a.RecvQueue, b.RecvQueue, a.Digest, b.Digest)
	}
	for i := 1; i < len(imgs); i++ {
		if imgs[i] != prev[i] {
			t.Fatalf("session %d, unchanged: image %p, not the previous one %p", i, imgs[i], prev[i])
		}
	}
	return ds, dumps
}

// benchReps is how many times TestVMCheckpointDump takes each figure.
const benchReps = 3

// timedCheckpoint is CheckpointAll of conns and its duration.
func timedCheckpoint(t *testing.T, conns []syscall.Conn) ([]*Image, time.Duration) {
	start := time.Now()
	imgs, err := CheckpointAll(t.Context(), conns, nil)
	d := time.Since(start)
	if err != nil {
		t.Fatalf("CheckpointAll: %v", err)
	}
	return imgs, d
}

func perSession(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
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

// tuples are the conns' tuples, as CheckpointAll reads them.
func tuples(t *testing.T, conns []syscall.Conn) []Tuple {
	out := make([]Tuple, len(conns))
	for i, c := range conns {
		var ok bool
		if out[i], ok = connTuple(c.(*net.TCPConn)); !ok {
			t.Fatalf("conn %d: no tuple", i)
		}
	}
	return out
}
