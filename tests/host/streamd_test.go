package host

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcptake/tcptake/ha"
	"github.com/tcptake/tcptake/tests/host/topo"
)

// TestStreamdSwitchover runs two streamd processes, active in act and
// standby in sby, linked over TCP with keys from tcptakectl keygen. curl
// downloads over IPv4 and IPv6 and a socat echo session run through the
// service address while tcptakectl node switchover moves every session to
// sby and then back to act. Every body must be the %015d lines, line by
// line, the echo stream byte for byte, and the client must see no RST.
func TestStreamdSwitchover(t *testing.T) {
	needTool(t, "curl", "socat")
	for _, tc := range []struct {
		name       string
		curls      int // per family
		size, rate int // per download: long enough to outlast starting them all
	}{{"few", 1, 6_000_000, 1_500_000}, {"100", 50, 4_000_000, 250_000}} {
		t.Run(tc.name, func(t *testing.T) { testStreamd(t, tc.curls, tc.size, tc.rate) })
	}
}

// cluster is two streamd processes and their control sockets.
type cluster struct {
	e        *env
	ctl      string // tcptakectl
	act, sby string // control sockets
}

func startCluster(t *testing.T, e *env) *cluster {
	t.Helper()
	bin, ctl := binary(t, "streamd"), binary(t, "tcptakectl")
	dir := t.TempDir()
	key := func(name string) (file, pub string) {
		file = filepath.Join(dir, name+".key")
		out, err := exec.Command(ctl, "keygen", file).Output()
		if err != nil {
			t.Fatalf("keygen: %v", err)
		}
		return file, strings.TrimSpace(string(out))
	}
	actKey, actPub := key("act")
	sbyKey, sbyPub := key("sby")
	c := &cluster{e: e, ctl: ctl, act: filepath.Join(dir, "act.sock"), sby: filepath.Join(dir, "sby.sock")}
	common := []string{"-v",
		"--listen", vip(false, 8080).String(), "--listen", vip(true, 8080).String(),
		"--echo-listen", vip(false, 7).String(),
		"--vip", "192.0.2.100/24@eth0", "--vip", "2001:db8::100/64@eth0",
	}
	start := func(n *topo.Netns, args ...string) {
		cmd := n.Command(context.Background(), bin, append(common, args...)...)
		cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		})
	}
	start(e.Act, "--role", "active", "--sync-listen", topo.ActAddr4.String()+":7000",
		"--key", actKey, "--peer-key", sbyPub, "--control", c.act)
	start(e.Sby, "--role", "standby", "--sync-peer", topo.ActAddr4.String()+":7000",
		"--key", sbyKey, "--peer-key", actPub, "--control", c.sby)
	waitFor(t, 15*time.Second, "the sync link", func() bool {
		a, errA := c.status(c.act)
		s, errS := c.status(c.sby)
		return errA == nil && errS == nil && a.Peer != nil && s.Peer != nil
	})
	return c
}

func (c *cluster) status(sock string) (*ha.Status, error) {
	out, err := exec.Command(c.ctl, "-j", "node", "status", "--control", sock).Output()
	if err != nil {
		return nil, err
	}
	var s ha.Status
	return &s, json.Unmarshal(out, &s)
}

// switchover runs tcptakectl node switchover on sock and checks that it
// moved want sessions.
func (c *cluster) switchover(t *testing.T, sock string, want int) {
	t.Helper()
	out, err := exec.Command(c.ctl, "node", "switchover", "--control", sock).CombinedOutput()
	t.Logf("tcptakectl node switchover:\n%s", out)
	if err != nil {
		t.Fatalf("switchover: %v", err)
	}
	if !strings.Contains(string(out), fmt.Sprintf("sessions %d failed 0\n", want)) {
		t.Fatalf("switchover moved other than %d sessions", want)
	}
}

// checkLines reads an HTTP body and checks it is exactly n bytes of the
// %015d lines.
func checkLines(body io.Reader, n int64) error {
	r := bufio.NewReaderSize(body, 1<<16)
	want := make([]byte, 16)
	var off int64
	for k := int64(0); off < n; k++ {
		want = fmt.Appendf(want[:0], "%015d\n", k)
		l := min(16, n-off)
		got := make([]byte, l)
		if _, err := io.ReadFull(r, got); err != nil {
			return fmt.Errorf("line %d (byte %d): %v", k, off, err)
		}
		if !bytes.Equal(got, want[:l]) {
			return fmt.Errorf("line %d (byte %d): got %q, want %q", k, off, got, want[:l])
		}
		off += l
	}
	if extra, _ := io.Copy(io.Discard, r); extra != 0 {
		return fmt.Errorf("%d bytes beyond the %d expected", extra, n)
	}
	return nil
}

func testStreamd(t *testing.T, curls, size, rate int) {
	e := newEnv(t)
	c := startCluster(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()

	var wg sync.WaitGroup
	errs := make(chan error, 2*curls+1)
	var started sync.WaitGroup
	for i := range 2 * curls {
		v6 := i%2 == 1
		out := filepath.Join(dir, fmt.Sprintf("body%d", i))
		url := fmt.Sprintf("http://%s/stream?bytes=%d&rate=%d", vip(v6, 8080), size, rate)
		cmd := e.Cli.Command(ctx, "curl", "-sS", "-g", "--fail", "--max-time", "60", "-o", out, url)
		cmd.Stderr = testWriter{t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		started.Add(1)
		wg.Go(func() {
			eventually(20*time.Second, func() bool {
				fi, err := os.Stat(out)
				return err == nil && fi.Size() > 0
			})
			started.Done()
			if err := cmd.Wait(); err != nil {
				errs <- fmt.Errorf("curl %s: %v", url, err)
				return
			}
			f, err := os.Open(out)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			if err := checkLines(f, int64(size)); err != nil {
				errs <- fmt.Errorf("curl %s: %v", url, err)
			}
		})
	}

	// socat: 4 MiB of random bytes at 1 MiB/s, echoed back.
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	socat := e.Cli.Command(ctx, "socat", "-b", "65536", "-t", "30", "STDIO", "TCP4:"+vip(false, 7).String())
	in, err := socat.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var echoed bytes.Buffer
	socat.Stdout, socat.Stderr = &echoed, testWriter{t}
	if err := socat.Start(); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		for off := 0; off < len(data); off += 16 << 10 {
			if _, err := in.Write(data[off : off+16<<10]); err != nil {
				errs <- fmt.Errorf("socat stdin: %v", err)
				break
			}
			time.Sleep(16 * time.Millisecond)
		}
		in.Close()
		if err := socat.Wait(); err != nil {
			errs <- fmt.Errorf("socat: %v", err)
			return
		}
		if got := echoed.Bytes(); !bytes.Equal(got, data) {
			n := 0
			for n < min(len(got), len(data)) && got[n] == data[n] {
				n++
			}
			errs <- fmt.Errorf("echo: %d bytes back of %d, first difference at byte %d", len(got), len(data), n)
		}
	})

	started.Wait()
	want := 2*curls + 1
	waitFor(t, 10*time.Second, "every session tracked", func() bool {
		s, err := c.status(c.act)
		return err == nil && s.Sessions == want
	})
	time.Sleep(500 * time.Millisecond)
	c.switchover(t, c.act, want)
	if a, s := c.mustStatus(t, c.act), c.mustStatus(t, c.sby); a.Role != ha.RoleStandby || s.Role != ha.RoleActive ||
		a.Epoch != 1 || s.Epoch != 1 || a.Sessions != 0 || s.Sessions != want {
		t.Fatalf("after the switchover: act %s epoch %d %d sessions, sby %s epoch %d %d sessions",
			a.Role, a.Epoch, a.Sessions, s.Role, s.Epoch, s.Sessions)
	}
	time.Sleep(time.Second)
	c.switchover(t, c.sby, want)
	if a := c.mustStatus(t, c.act); a.Role != ha.RoleActive {
		t.Fatalf("after the switchover back: act is %s", a.Role)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.checkNoRST()
}

func (c *cluster) mustStatus(t *testing.T, sock string) *ha.Status {
	t.Helper()
	s, err := c.status(sock)
	if err != nil {
		t.Fatalf("node status %s: %v", sock, err)
	}
	return s
}
