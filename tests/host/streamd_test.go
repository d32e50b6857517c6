//go:build linux

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
	"slices"
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
	args     map[*topo.Netns][]string
	procs    map[*topo.Netns]*exec.Cmd
}

// startCluster starts streamd active in act and standby in sby; env adds
// environment variables to each one's first start, extra arguments to both.
func startCluster(t *testing.T, e *env, env map[*topo.Netns]string, extra ...string) *cluster {
	t.Helper()
	return newCluster(t, e, env, append([]string{"--vip", "192.0.2.100/24@eth0", "--vip", "2001:db8::100/64@eth0"}, extra...))
}

// newCluster is startCluster with the streamd arguments args, service
// addresses included.
func newCluster(t *testing.T, e *env, env map[*topo.Netns]string, args []string) *cluster {
	t.Helper()
	ctl := program(t, "tcptakectl")
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
	c := &cluster{e: e, ctl: ctl, act: filepath.Join(dir, "act.sock"), sby: filepath.Join(dir, "sby.sock"),
		procs: map[*topo.Netns]*exec.Cmd{}}
	common := []string{"-v",
		"--listen", vip(false, 8080).String(), "--listen", vip(true, 8080).String(),
		"--echo-listen", vip(false, 7).String(), "--echo-listen", vip(true, 7).String(),
	}
	common = append(common, args...)
	c.args = map[*topo.Netns][]string{
		e.Act: append(common, "--role", "active", "--sync-listen", topo.ActAddr4.String()+":7000",
			"--key", actKey, "--peer-key", sbyPub, "--control", c.act),
		e.Sby: append(slices.Clone(common), "--role", "standby", "--sync-peer", topo.ActAddr4.String()+":7000",
			"--key", sbyKey, "--peer-key", actPub, "--control", c.sby),
	}
	c.start(t, e.Act, env[e.Act])
	c.start(t, e.Sby, env[e.Sby])
	c.waitLink(t)
	return c
}

// start starts (or restarts) streamd in n.
func (c *cluster) start(t *testing.T, n *topo.Netns, env string) {
	t.Helper()
	cmd := n.Command(context.Background(), program(t, "streamd"), c.args[n]...)
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if env != "" {
		cmd.Env = append(os.Environ(), env)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		<-exited
	})
	c.procs[n] = cmd
}

func (c *cluster) waitLink(t *testing.T) {
	t.Helper()
	waitFor(t, 15*time.Second, "the sync link", func() bool {
		a, errA := c.status(c.act)
		s, errS := c.status(c.sby)
		return errA == nil && errS == nil && a.Peer != nil && s.Peer != nil
	})
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

// outcome is how one client session ended.
type outcome struct {
	name     string
	exitErr  error // the client failed: its connection was closed
	corrupt  error // what it received differs from what it should have
	received int64
}

// clients runs curl downloads (curls per family) and one socat echo
// session through the service address.
type clients struct {
	wg       sync.WaitGroup
	started  sync.WaitGroup
	outcomes chan outcome
	n        int
}

func startClients(t *testing.T, e *env, curls, size, rate int, maxTime time.Duration) *clients {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	dir := t.TempDir()
	cl := &clients{outcomes: make(chan outcome, 2*curls+1), n: 2*curls + 1}
	for i := range 2 * curls {
		v6 := i%2 == 1
		out := filepath.Join(dir, fmt.Sprintf("body%d", i))
		url := fmt.Sprintf("http://%s/stream?bytes=%d&rate=%d", vip(v6, 8080), size, rate)
		cmd := e.Cli.Command(ctx, "curl", "-sS", "-g", "--fail", "--max-time", fmt.Sprint(maxTime.Seconds()), "-o", out, url)
		cmd.Stderr = testWriter{t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cl.started.Add(1)
		cl.wg.Go(func() {
			eventually(20*time.Second, func() bool {
				fi, err := os.Stat(out)
				return err == nil && fi.Size() > 0
			})
			cl.started.Done()
			o := outcome{name: "curl " + url, exitErr: cmd.Wait()}
			b, err := os.ReadFile(out)
			if err != nil {
				o.corrupt = err
			} else {
				o.received = int64(len(b))
				want := int64(size)
				if o.exitErr != nil { // what came must be a prefix
					want = int64(len(b))
				}
				o.corrupt = checkLines(bytes.NewReader(b), want)
			}
			cl.outcomes <- o
		})
	}

	// socat: 4 MiB of random bytes at 1 MiB/s, echoed back.
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	socat := e.Cli.Command(ctx, "socat", "-b", "65536", "-t", fmt.Sprint(maxTime.Seconds()/2), "-T", fmt.Sprint(maxTime.Seconds()),
		"STDIO", "TCP4:"+vip(false, 7).String())
	in, err := socat.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var echoed bytes.Buffer
	socat.Stdout, socat.Stderr = &echoed, testWriter{t}
	if err := socat.Start(); err != nil {
		t.Fatal(err)
	}
	cl.started.Add(1)
	cl.wg.Go(func() {
		var once sync.Once
		defer once.Do(cl.started.Done) // socat failed early
		for off := 0; off < len(data); off += 16 << 10 {
			if _, err := in.Write(data[off : off+16<<10]); err != nil {
				break // socat is gone; its exit status says why
			}
			if off == 64<<10 {
				once.Do(cl.started.Done)
			}
			time.Sleep(16 * time.Millisecond)
		}
		in.Close()
		o := outcome{name: "socat echo", exitErr: socat.Wait()}
		got := echoed.Bytes()
		o.received = int64(len(got))
		if (o.exitErr == nil && len(got) != len(data)) || !bytes.HasPrefix(data, got) {
			n := 0
			for n < min(len(got), len(data)) && got[n] == data[n] {
				n++
			}
			o.corrupt = fmt.Errorf("%d bytes back of %d, first difference at byte %d", len(got), len(data), n)
		}
		cl.outcomes <- o
	})
	cl.started.Wait()
	return cl
}

// wait returns every client's outcome.
func (cl *clients) wait() []outcome {
	cl.wg.Wait()
	close(cl.outcomes)
	var out []outcome
	for o := range cl.outcomes {
		out = append(out, o)
	}
	return out
}

// waitDownloads waits for the clients and checks that nothing arrived
// corrupt and every download completed (the echo may have been closed).
func (cl *clients) waitDownloads(t *testing.T) {
	t.Helper()
	for _, o := range cl.wait() {
		t.Logf("%s: exit %v, %d bytes", o.name, o.exitErr, o.received)
		if o.corrupt != nil {
			t.Errorf("%s: corrupt: %v", o.name, o.corrupt)
		}
		if strings.HasPrefix(o.name, "curl") && o.exitErr != nil {
			t.Errorf("%s: failed (%v), want it completed byte-exact", o.name, o.exitErr)
		}
	}
}

func testStreamd(t *testing.T, curls, size, rate int) {
	e := newEnv(t)
	c := startCluster(t, e, nil)
	cl := startClients(t, e, curls, size, rate, 60*time.Second)
	want := cl.n
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
	for _, o := range cl.wait() {
		if o.exitErr != nil || o.corrupt != nil {
			t.Errorf("%s: exit %v, content %v (%d bytes)", o.name, o.exitErr, o.corrupt, o.received)
		}
	}
	e.checkNoRST()
}

// TestStreamdFaults kills one streamd process with SIGKILL at each step
// of a switchover, makes the standby refuse, or cuts the sync link at
// each step (STREAMD_FAULT), while curl downloads and a socat echo run. Afterwards every client has either completed byte-exact or seen
// its connection closed with a correct prefix — never a corrupt body —
// and the service address is on exactly one node. Where the outcome is
// known, it is asserted: the sessions survive when the killed process
// no longer held any of them.
func TestStreamdFaults(t *testing.T) {
	needTool(t, "curl", "socat")
	for _, tc := range []struct {
		node    string // act or sby is killed
		step    ha.Step
		action  string // kill, or fail the step
		restart bool   // restart the killed standby, so the active learns the outcome
		survive bool   // the sessions must complete
		vipOn   string
	}{
		{"act", ha.StepStop, "kill", false, false, "act"},
		{"act", ha.StepSet, "kill", false, false, "act"},
		{"act", ha.StepAddressDown, "kill", false, false, "act"},
		{"act", ha.StepAddressUp, "kill", false, true, "sby"},
		{"act", ha.StepRestart, "kill", false, true, "sby"},
		{"sby", ha.StepSet, "kill", false, true, "act"},
		{"sby", ha.StepAddressUp, "kill", true, true, "act"},
		// killed after its new epoch, with the address: restarted, it
		// serves nothing and drops the address; the active resumes
		{"sby", ha.StepRestart, "kill", true, true, "act"},
		// the standby refuses: before confirming, or taking the address
		{"sby", ha.StepSet, "fail", false, true, "act"},
		{"sby", ha.StepAddressUp, "fail", false, true, "act"},
		// the sync link cut at each step: once the standby has redialed,
		// one node serves them
		{"act", ha.StepStop, "cut", false, true, "act"},
		{"act", ha.StepSet, "cut", false, true, "act"},
		{"act", ha.StepAddressDown, "cut", false, true, "act"},
		{"act", ha.StepAddressUp, "cut", false, true, "sby"},
		{"act", ha.StepRestart, "cut", false, true, "sby"},
		{"sby", ha.StepSet, "cut", false, true, "act"},
		{"sby", ha.StepAddressUp, "cut", false, true, "sby"},
		{"sby", ha.StepRestart, "cut", false, true, "sby"},
	} {
		t.Run(fmt.Sprintf("%s-step%d-%s", tc.node, tc.step, tc.action), func(t *testing.T) {
			e := newEnv(t)
			victim := e.Act
			if tc.node == "sby" {
				victim = e.Sby
			}
			c := startCluster(t, e, map[*topo.Netns]string{victim: fmt.Sprintf("STREAMD_FAULT=%d:%s", tc.step, tc.action)})
			// A download client sends nothing: when the process that
			// held its session dies, only its own timeout ends it.
			cl := startClients(t, e, 1, 6_000_000, 1_500_000, 15*time.Second)
			waitFor(t, 10*time.Second, "every session tracked", func() bool {
				s, err := c.status(c.act)
				return err == nil && s.Sessions == cl.n
			})
			out, err := exec.Command(c.ctl, "node", "switchover", "--control", c.act).CombinedOutput()
			t.Logf("switchover (exit %v):\n%s", err, out)
			if tc.restart {
				eventually(5*time.Second, func() bool { return c.procs[victim].ProcessState != nil })
				c.start(t, victim, "")
				c.waitLink(t)
			}
			for _, o := range cl.wait() {
				t.Logf("%s: exit %v, %d bytes", o.name, o.exitErr, o.received)
				if o.corrupt != nil {
					t.Errorf("%s: corrupt: %v", o.name, o.corrupt)
				}
				if tc.survive && o.exitErr != nil {
					t.Errorf("%s: closed (%v), want it completed", o.name, o.exitErr)
				}
			}
			if on := vipHolders(e); len(on) != 1 || on[0] != tc.vipOn {
				t.Errorf("service address on %q, want on %s alone", on, tc.vipOn)
			}
			if tc.survive {
				e.checkNoRST()
			}
		})
	}
}

func (c *cluster) mustStatus(t *testing.T, sock string) *ha.Status {
	t.Helper()
	s, err := c.status(sock)
	if err != nil {
		t.Fatalf("node status %s: %v", sock, err)
	}
	return s
}
