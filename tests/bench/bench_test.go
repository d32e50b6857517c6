//go:build linux

// Package bench is `make bench`: the switchover of N sessions between two
// node processes over the sync link (package ha, across network
// namespaces; without the kernel module on the host, with it in the VM:
// make bench-vm, ci/vm/bench.sh), next to a plain serial
// TCP_REPAIR dump → restore loop measured in the same run on the same
// topology (tests/host/topo), both verified byte for byte both ways.
//
//	TCPTAKE_BENCH=1 go test -count=1 -timeout 0 -v -run '^TestBench$' ./tests/bench
//
// Environment: BENCH_N (comma-separated session counts, default
// 1,100,1000), BENCH_REPEATS (3), BENCH_PINGERS (8), BENCH_LOSSY (the
// pingers behind the lossy link, BENCH_PINGERS), BENCH_LOSS (its random
// loss each way, percent, 2), BENCH_OUT (the directory for bench.md and
// bench.svg, /tmp/tcptake-bench). Progress goes
// to stderr; the result lines "bench: N=<n> <figure>=<min/median/max>
// baseline=<min/median/max> ratio=<median/median>" to stdout.
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcptake/tcptake/ha"
	"github.com/tcptake/tcptake/internal/plainloop"
	"github.com/tcptake/tcptake/libtcptake"
	"github.com/tcptake/tcptake/tests/host/topo"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if os.Getenv(clientEnv) != "" {
		if err := clientMain(); err != nil {
			fmt.Fprintln(os.Stderr, "bench clients:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if conf := os.Getenv(nodeEnv); conf != "" {
		if err := nodeMain(conf); err != nil {
			fmt.Fprintln(os.Stderr, "bench node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Ports on the service address: the nodes' hold and echo services, and
// the baseline's.
const (
	nodeHold, nodeEcho   = 9000, 9001
	plainHold, plainEcho = 9100, 9101
)

var vip = topo.VIP4

func vipAddr(port int) string { return netip.AddrPortFrom(vip, uint16(port)).String() }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func TestBench(t *testing.T) {
	if os.Getenv("TCPTAKE_BENCH") != "1" {
		t.Skip("make bench only (TCPTAKE_BENCH=1, as root)")
	}
	os.Setenv(topo.EnvVar, "1")
	var ns []int
	for _, f := range strings.Split(cmp(os.Getenv("BENCH_N"), "1,100,1000"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("BENCH_N: %q is not a session count", f)
		}
		ns = append(ns, n)
	}
	repeats, pingers := envInt("BENCH_REPEATS", 3), envInt("BENCH_PINGERS", 8)
	lossy, loss := envInt("BENCH_LOSSY", pingers), envInt("BENCH_LOSS", 2)
	out := cmp(os.Getenv("BENCH_OUT"), "/tmp/tcptake-bench")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}

	tp := topo.New(t)
	for _, n := range []*topo.Netns{tp.Cli, tp.Act, tp.Sby} {
		n.Run("sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000",
			"net.core.somaxconn=65535", "net.ipv4.tcp_max_syn_backlog=65535")
	}
	b := &bench{t: t, tp: tp, out: out, pingers: pingers, lossy: lossy, loss: loss, results: map[int]*results{}}
	b.module = tp.Act.Do(func() error {
		c, err := libtcptake.New()
		if err == nil {
			c.Close()
		}
		return err
	}) == nil
	b.impair()
	b.startNodes()
	b.cli = b.startClients()
	osrel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	with := "without"
	if b.module {
		with = "with"
	}
	kernel := fmt.Sprintf("%s %s the tcptake module", strings.TrimSpace(string(osrel)), with)
	progress("kernel %s, N %v, %d repeats, %d pingers + %d behind %s (BENCH_LOSS=%d); nodes act pid %d, sby pid %d",
		kernel, ns, repeats, pingers, lossy, lossyLink, loss, b.nodes[tp.Act].cmd.Process.Pid, b.nodes[tp.Sby].cmd.Process.Pid)
	for _, n := range ns {
		r := &results{}
		b.results[n] = r
		for i := range repeats {
			progress("N=%d run %d/%d: baseline (plain loop)", n, i+1, repeats)
			if err := b.plainRun(n, r); err != nil {
				t.Fatalf("N=%d baseline: %v", n, err)
			}
			progress("N=%d run %d/%d: tcptake switchover %s → %s", n, i+1, repeats, b.active.Role, b.other().Role)
			if err := b.tcptakeRun(n, r); err != nil {
				t.Fatalf("N=%d tcptake: %v", n, err)
			}
		}
		b.report(n)
	}
	b.writeTable(ns, kernel)
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

type bench struct {
	t       *testing.T
	tp      *topo.Topology
	out     string
	pingers int  // on the client's fast link
	lossy   int  // behind the lossy one (from lossyAddr)
	loss    int  // the lossy link's, percent each way
	module  bool // the tcptake module is loaded: the nodes use it
	nodes   map[*topo.Netns]*nodeProc
	active  *topo.Netns // holds the service address; its node is the active
	cli     *clientProc
	results map[int]*results
}

func (b *bench) other() *topo.Netns {
	if b.active == b.tp.Act {
		return b.tp.Sby
	}
	return b.tp.Act
}

type nodeProc struct {
	cmd   *exec.Cmd
	sock  string
	lines chan nodeStats
}

func (b *bench) startNodes() {
	t := b.t
	dir := t.TempDir()
	keys := map[*topo.Netns]string{}
	pubs := map[*topo.Netns]string{}
	for _, n := range []*topo.Netns{b.tp.Act, b.tp.Sby} {
		keys[n] = filepath.Join(dir, n.Role+".key")
		pub, err := ha.GenerateKey(keys[n])
		if err != nil {
			t.Fatal(err)
		}
		pubs[n] = ha.FormatPublicKey(pub)
	}
	b.nodes = map[*topo.Netns]*nodeProc{}
	sync := topo.ActAddr4.String() + ":7000"
	for _, n := range []*topo.Netns{b.tp.Act, b.tp.Sby} {
		peer := b.tp.Sby
		cfg := nodeConfig{Role: "active", Key: keys[n], SyncListen: sync, Control: filepath.Join(dir, n.Role+".sock"),
			VIP: netip.PrefixFrom(vip, 24).String() + "@" + topo.Dev, Hold: vipAddr(nodeHold), Echo: vipAddr(nodeEcho)}
		if n == b.tp.Sby {
			peer = b.tp.Act
			cfg.Role, cfg.SyncListen, cfg.SyncPeer = "standby", "", sync
		}
		cfg.PeerKey = pubs[peer]
		conf, _ := json.Marshal(cfg)
		cmd := n.Command(context.Background(), named(t, "node-"+n.Role), "-test.run=^$")
		cmd.Env = append(os.Environ(), nodeEnv+"="+string(conf))
		logf, err := os.Create(filepath.Join(b.out, "node-"+n.Role+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = logf
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &nodeProc{cmd: cmd, sock: cfg.Control, lines: make(chan nodeStats, 16)}
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var s nodeStats
				if json.Unmarshal(sc.Bytes(), &s) == nil {
					p.lines <- s
				}
			}
			close(p.lines)
		}()
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
			logf.Close()
		})
		b.nodes[n] = p
		if _, err := p.next(); err != nil { // ready
			t.Fatalf("node %s: %v", n.Role, err)
		}
	}
	b.active = b.tp.Act
	b.waitFor("the sync link", 20*time.Second, func() bool {
		s, err := b.nodes[b.tp.Act].status()
		return err == nil && s.Peer != nil
	})
}

// named is this test binary under another name (a symbolic link), so
// that its processes tell apart by their command name in ps and perf.
func named(t *testing.T, name string) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// clientProc is the clients' process in the client's namespace.
type clientProc struct {
	in  *json.Encoder
	out *json.Decoder
}

func (b *bench) startClients() *clientProc {
	cmd := b.tp.Cli.Command(context.Background(), named(b.t, "clients"), "-test.run=^$")
	cmd.Env = append(os.Environ(), clientEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	return &clientProc{in: json.NewEncoder(in), out: json.NewDecoder(bufio.NewReader(out))}
}

func (c *clientProc) do(cmd clientCmd) (*clientReply, error) {
	if err := c.in.Encode(cmd); err != nil {
		return nil, err
	}
	var r clientReply
	if err := c.out.Decode(&r); err != nil {
		return nil, fmt.Errorf("clients: %w", err)
	}
	if r.Err != "" {
		return &r, fmt.Errorf("clients: %s: %s", cmd.Op, r.Err)
	}
	return &r, nil
}

// open opens n held sessions to the hold port and the pingers' to the
// echo port; it returns when they are open.
func (b *bench) open(hold, echo, n int) (time.Time, error) {
	_, err := b.cli.do(clientCmd{Op: "open", Hold: vipAddr(hold), Echo: vipAddr(echo), N: n,
		Pingers: b.pingers, Lossy: b.lossy, LossyAt: lossyAddr})
	return time.Now(), err
}

// warm is the shortest time the pingers run before the move, and settle
// after it. warm is longer than the longest move here (N = 10,000: the
// freeze takes ~1.4 s), so that the lossy pingers' gaps before the move
// are measured over as long a window as the move's, on connections whose
// RTT estimates have settled; settle is long enough for the lossy link's
// retransmission timeouts (200 ms and more). The pingers run warm before
// the server writes its 4 KiB, so that the move still comes as soon after
// those as it would without the wait (the held sessions'
// retransmissions, 3 segments each, load the CPUs).
const (
	warm   = 2 * time.Second
	settle = 500 * time.Millisecond
)

// arm starts the clients' checks of the held sessions.
func (b *bench) arm() error {
	if _, err := b.cli.do(clientCmd{Op: "arm"}); err != nil {
		return err
	}
	time.Sleep(50 * time.Millisecond)
	return nil
}

// pings are the pingers' answer times of a run (clientReply) and when
// the move began.
type pings struct {
	fast, lossy [][]int64
	move, stop  int64
}

// stalls are the client-seen stalls of a run, one per pinger: the longest
// gap that ended after the move began (fast, lossy), the lossy pingers'
// longest in as long a window before it (lossyNoMove), what the move cost
// each pinger (moveStall over the move and its blackout, which ended at
// end: fastMove, lossyMove), and what the same computation gives for the
// lossy pingers over as long a time just before the move, when nothing
// moved (lossyMoveNoMove: what their link alone costs there).
type stalls struct {
	fast, lossy, lossyNoMove             []time.Duration
	fastMove, lossyMove, lossyMoveNoMove []time.Duration
}

func (p *pings) stalls(end time.Time) *stalls {
	each := func(logs [][]int64, f func([]int64) int64) []time.Duration {
		ds := make([]time.Duration, len(logs))
		for i, l := range logs {
			ds[i] = time.Duration(f(l))
		}
		return slices.Sorted(slices.Values(ds))
	}
	after := func(l []int64) int64 { return stall(l, p.move, math.MaxInt64) }
	span := p.stop - p.move
	st := &stalls{
		fast:        each(p.fast, after),
		lossy:       each(p.lossy, after),
		lossyNoMove: each(p.lossy, func(l []int64) int64 { return stall(l, p.move-span, p.move) }),
		fastMove:    each(p.fast, func(l []int64) int64 { return moveStall(l, p.move, end.UnixNano()) }),
		lossyMove:   each(p.lossy, func(l []int64) int64 { return moveStall(l, p.move, end.UnixNano()) }),
		lossyMoveNoMove: each(p.lossy, func(l []int64) int64 {
			d := end.UnixNano() - p.move
			return moveStall(l, p.move-d-int64(time.Millisecond), p.move-int64(time.Millisecond))
		}),
	}
	worst := func(ds []time.Duration) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		return ds[len(ds)-1]
	}
	progress("  worst stall: fast link %v, lossy %v (before the move %v); the move's: fast %v, lossy %v (before the move %v)",
		worst(st.fast), worst(st.lossy), worst(st.lossyNoMove), worst(st.fastMove), worst(st.lossyMove), worst(st.lossyMoveNoMove))
	return st
}

// collect, called once the move is done, lets the pingers run settle
// more, stops them, then waits for every session's check (which would
// otherwise delay the pingers' answers with its own work), and returns
// when the last in-flight bytes arrived and the pingers' answers.
func (b *bench) collect(move time.Time) (time.Time, *pings, error) {
	time.Sleep(settle)
	r, err := b.cli.do(clientCmd{Op: "collect"})
	if err != nil {
		return time.Time{}, nil, err
	}
	return time.Unix(0, r.LastArrival), &pings{fast: r.Fast, lossy: r.Lossy, move: move.UnixNano(), stop: r.Stop}, nil
}

func (p *nodeProc) next() (nodeStats, error) {
	select {
	case s, ok := <-p.lines:
		if !ok {
			return s, fmt.Errorf("node exited")
		}
		return s, nil
	case <-time.After(time.Minute):
		return nodeStats{}, fmt.Errorf("node silent for a minute")
	}
}

// signal sends sig and returns the node's answer line.
func (p *nodeProc) signal(sig syscall.Signal) (nodeStats, error) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return nodeStats{}, err
	}
	return p.next()
}

func (p *nodeProc) control(op string) (*ha.ControlResponse, error) {
	c, err := net.Dial("unix", p.sock)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, `{"op":%q}`+"\n", op); err != nil {
		return nil, err
	}
	var resp ha.ControlResponse
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return &resp, fmt.Errorf("%s: %s", op, resp.Error)
	}
	return &resp, nil
}

func (p *nodeProc) status() (*ha.Status, error) {
	r, err := p.control("status")
	if err != nil {
		return nil, err
	}
	return r.Status, nil
}

// peakRSS is the node's VmHWM in MiB.
func (p *nodeProc) peakRSS() float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}

func (b *bench) waitFor(what string, d time.Duration, ok func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holdInFlight makes the server's data of the sessions from ns (ports
// nodeHold and plainHold) vanish before the client's stack: the bytes
// are sent but never acknowledged. The drop matches ns's MAC address, so
// the same session's bytes from the other node pass, and full-sized
// segments only: the data is lost on the way, the path itself works
// (a window probe, with one byte, passes).
func (b *bench) holdInFlight(from *topo.Netns) {
	var links []struct {
		Address string `json:"address"`
	}
	json.Unmarshal([]byte(from.Run("ip", "-j", "link", "show", topo.Dev)), &links)
	if len(links) != 1 {
		b.t.Fatalf("no MAC address of %s", from.Name)
	}
	rules := fmt.Sprintf(`table inet ttbench
delete table inet ttbench
table inet ttbench {
	chain in {
		type filter hook input priority -300; policy accept;
		ether saddr %s tcp sport { %d, %d } meta length > 256 drop
	}
}
`, links[0].Address, nodeHold, plainHold)
	b.nft(b.tp.Cli, rules)
}

func (b *bench) nft(ns *topo.Netns, rules string) {
	f := filepath.Join(b.t.TempDir(), "rules.nft")
	if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
		b.t.Fatal(err)
	}
	ns.Run("nft", "-f", f)
}

// lossyAddr is the client's second address, behind a lossy link: the
// lossy pingers' source.
var lossyAddr = netip.MustParseAddr("192.0.2.11")

const (
	lossyRate = "512kbit"
	lossyLink = "a " + lossyRate + "/s bottleneck toward the client and BENCH_LOSS % random loss each way"
)

// impair puts lossyAddr behind an unfriendly link, made in the bridge so
// that a drop is a loss on the wire, not a local send error: b.loss % of
// its packets dropped at random each way, and a bottleneck toward it (the
// lossy pingers queue behind each other, a few ms; the host has no netem,
// so no fixed delay).
func (b *bench) impair() {
	b.tp.Cli.Run("ip", "addr", "add", netip.PrefixFrom(lossyAddr, 24).String(), "dev", topo.Dev)
	// On the bridge's port toward the client, unclassified packets go
	// straight through, with a queue long enough for the held sessions'
	// bursts (the port had none).
	br, port := b.tp.Br, b.tp.Cli.Role
	br.Run("tc", "qdisc", "add", "dev", port, "root", "handle", "1:", "htb", "direct_qlen", "100000")
	br.Run("tc", "class", "add", "dev", port, "parent", "1:", "classid", "1:1", "htb", "rate", lossyRate, "burst", "1600")
	br.Run("tc", "filter", "add", "dev", port, "parent", "1:", "protocol", "ip", "prio", "1",
		"u32", "match", "ip", "dst", lossyAddr.String()+"/32", "flowid", "1:1")
	b.nft(br, fmt.Sprintf(`table bridge ttlossy {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ip saddr %[1]s numgen random mod 100 < %[2]d drop
		ip daddr %[1]s numgen random mod 100 < %[2]d drop
	}
}
`, lossyAddr, b.loss))
}

// letThrough removes holdInFlight's drop.
func (b *bench) letThrough() {
	b.tp.Cli.Try("nft", "delete", "table", "inet", "ttbench")
}

// waitQueues waits until every session on port in ns has 4 KiB unread
// and 4 KiB unacknowledged, and returns their MSS values.
func (b *bench) waitQueues(ns *topo.Netns, port, n int) map[int]int {
	b.waitFor(fmt.Sprintf("%d sessions with 4 KiB in each queue", n), 30*time.Second, func() bool {
		full := 0
		for _, line := range strings.Split(ns.Run("ss", "-tnH", "state", "established", fmt.Sprintf("( sport = :%d )", port)), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "4096" && f[1] == "4096" {
				full++
			}
		}
		return full == n
	})
	return mssOf(ns, port)
}

// mssOf counts the snd_mss values of the established sessions on port.
func mssOf(ns *topo.Netns, port int) map[int]int {
	out := ns.Run("ss", "-tinH", "state", "established", fmt.Sprintf("( sport = :%d )", port))
	m := map[int]int{}
	for _, s := range regexp.MustCompile(`\bmss:(\d+)`).FindAllStringSubmatch(out, -1) {
		v, _ := strconv.Atoi(s[1])
		m[v]++
	}
	return m
}

func sameMSS(before, after map[int]int) (int, error) {
	if len(before) != 1 || len(after) != 1 {
		return 0, fmt.Errorf("MSS before %v, after %v: want one value, the same", before, after)
	}
	for v := range before {
		if after[v] == 0 {
			return 0, fmt.Errorf("restored MSS %v, original %d", after, v)
		}
		return v, nil
	}
	return 0, nil
}

// tcptakeRun moves n held sessions and the pingers' from the active node
// to the other with a switchover.
func (b *bench) tcptakeRun(n int, r *results) error {
	from, to := b.active, b.other()
	src, dst := b.nodes[from], b.nodes[to]
	for _, p := range []*nodeProc{src, dst} {
		if _, err := p.signal(syscall.SIGUSR2); err != nil { // reset
			return err
		}
	}
	b.letThrough()
	opened, err := b.open(nodeHold, nodeEcho, n)
	if err != nil {
		return err
	}
	sessions := n + b.pingers + b.lossy
	b.waitFor("every session tracked", time.Minute, func() bool {
		s, err := src.status()
		return err == nil && s.Sessions == sessions
	})
	time.Sleep(time.Until(opened.Add(warm)))
	b.holdInFlight(from)
	if w, err := src.signal(syscall.SIGUSR1); err != nil || w.Wrote != n {
		return fmt.Errorf("the active wrote %d sessions' 4 KiB of %d (%v)", w.Wrote, n, err)
	}
	mssBefore := b.waitQueues(from, nodeHold, n)
	if err := b.arm(); err != nil {
		return err
	}

	stopTrace, traceReport := b.trace(n, src, dst)
	move := time.Now()
	resp, err := src.control("switchover")
	stopTrace()
	if err != nil {
		return err
	}
	rep := resp.Report
	mssAfter := mssOf(to, nodeHold)
	arrival, pg, err := b.collect(move)
	if err != nil {
		return err
	}
	a, err := src.signal(syscall.SIGUSR2)
	if err != nil {
		return err
	}
	s, err := dst.signal(syscall.SIGUSR2)
	if err != nil {
		return err
	}
	if rep.Failed != 0 || rep.Sessions != sessions || s.Restored != int64(sessions) {
		return fmt.Errorf("switchover moved %d sessions, %d failed, %d restored; want %d", rep.Sessions, rep.Failed, s.Restored, sessions)
	}
	mss, err := sameMSS(mssBefore, mssAfter)
	if err != nil {
		return err
	}
	b.active = to
	traceReport(time.Unix(0, a.Down), time.Unix(0, s.FirstRestore))
	// RestartAll returned every session live before the first is handed
	// to the application (ha calls Restore after it, and the application's
	// own work on the first sessions delays the hand-over of the last).
	end := time.Unix(0, s.FirstRestore)
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(rep.Sessions) }
	r.add(tcptake, map[string]float64{
		"blackout_ms":      ms(end.Sub(time.Unix(0, a.Down))),
		"freeze_ms":        ms(end.Sub(time.Unix(0, a.FirstPause))),
		"dump_us":          per(rep.StopGet),
		"restore_us":       per(rep.Set + rep.Restart),
		"inflight_ms":      max(0, ms(arrival.Sub(end))),
		"mss":              float64(mss),
		"rss_active_mib":   src.peakRSS(),
		"rss_standby_mib":  dst.peakRSS(),
		"report_blackout":  ms(rep.Blackout),
		"report_addr_ms":   ms(rep.AddressMoved),
		"report_restart_u": per(rep.Restart),
	}, pg.stalls(end))
	progress("  blackout %.1f ms (down → up %.1f, → first restored %.1f, → last %.1f), freeze %.1f ms (report: stop+get %v, set %v, transfer %v, address %v, restart %v)",
		ms(end.Sub(time.Unix(0, a.Down))), ms(time.Duration(s.Up-a.Down)), ms(time.Duration(s.FirstRestore-s.Up)),
		ms(time.Duration(s.LastRestore-s.FirstRestore)), ms(end.Sub(time.Unix(0, a.FirstPause))),
		rep.StopGet, rep.Set, rep.Transfer, rep.AddressMoved, rep.Restart)
	return nil
}

// trace watches a switchover of n sessions: with BENCH_STRACE=DIR it
// counts the nodes' system calls into DIR/strace-ROLE-N.txt (the times
// are then ptrace's, not the nodes'); with BENCH_PERF=DIR it samples every
// CPU (perf record -a -g: the nodes, the clients, the softirqs) into
// DIR/perf-N.data. stop ends both; report, given the blackout, writes
// perf's reports (perfReport).
func (b *bench) trace(n int, src, dst *nodeProc) (stop func(), report func(down, end time.Time)) {
	var cmds []*exec.Cmd
	start := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	if dir := os.Getenv("BENCH_STRACE"); dir != "" {
		for role, p := range map[string]*nodeProc{"active": src, "standby": dst} {
			start("strace", "-c", "-f", "-q", "-o", filepath.Join(dir, fmt.Sprintf("strace-%s-%d.txt", role, n)),
				"-p", strconv.Itoa(p.cmd.Process.Pid))
		}
	}
	report = func(time.Time, time.Time) {}
	if dir := os.Getenv("BENCH_PERF"); dir != "" {
		os.MkdirAll(dir, 0o755)
		data := filepath.Join(dir, fmt.Sprintf("perf-%d", n))
		// CLOCK_MONOTONIC: the samples' times compare with the nodes'.
		start("perf", "record", "-q", "-N", "-a", "-g", "-F", "199", "-k", "CLOCK_MONOTONIC", "-o", data+".data")
		report = func(down, end time.Time) { b.perfReport(data, down, end) }
	}
	if len(cmds) == 0 {
		return func() {}, report
	}
	time.Sleep(500 * time.Millisecond) // attached to every thread
	return func() {
		for _, cmd := range cmds {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}
	}, report
}

// perfReport writes perf's reports of data.data: of the whole switchover
// into data.txt (by process and shared object), data-sym.txt (by symbol)
// and data-children.txt (by symbol with its callees: the calls that take
// the time), and of the blackout alone (the address released → every
// session restarted) into data-blackout*.txt.
func (b *bench) perfReport(data string, down, end time.Time) {
	var now unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
	wall := time.Now()
	mono := func(t time.Time) string { // perf --time: seconds.micros
		ns := now.Nano() + t.Sub(wall).Nanoseconds()
		return fmt.Sprintf("%d.%06d", ns/1e9, ns%1e9/1e3)
	}
	for _, w := range []struct{ name, time string }{{"", ""}, {"-blackout", mono(down) + "," + mono(end)}} {
		for out, args := range map[string][]string{
			".txt":          {"--no-children", "--sort", "comm,dso", "--percent-limit", "0.5"},
			"-sym.txt":      {"--no-children", "--sort", "comm,sym", "--percent-limit", "0.5"},
			"-children.txt": {"--children", "--sort", "comm,sym", "--percent-limit", "2"},
		} {
			args = append([]string{"report", "-i", data + ".data", "--stdio", "-g", "none"}, args...)
			if w.time != "" {
				args = append(args, "--time", w.time)
			}
			rep, err := exec.Command("perf", args...).Output()
			if err != nil {
				b.t.Logf("perf report: %v", err)
			}
			os.WriteFile(data+w.name+out, rep, 0o644)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// plainRun moves n held sessions and the pingers' from the node holding
// the service address to the other with the plain loop, then moves the
// address back.
func (b *bench) plainRun(n int, r *results) error {
	from, to := b.active, b.other()
	ctx := context.Background()
	var lh, le *net.TCPListener
	err := from.Do(func() (err error) {
		if lh, err = ha.Listen(ctx, vipAddr(plainHold)); err != nil {
			return err
		}
		le, err = ha.Listen(ctx, vipAddr(plainEcho))
		return err
	})
	if err != nil {
		return fmt.Errorf("%w; sockets on the port:\n%s", err, from.Run("ss", "-tanH", fmt.Sprintf("( sport = :%d )", plainHold)))
	}
	accepted := make(chan *net.TCPConn, n)
	go func() {
		for {
			c, err := lh.AcceptTCP()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	type echoServer struct {
		c    *net.TCPConn
		done chan struct{}
	}
	pingers := b.pingers + b.lossy
	echoes := make(chan echoServer, pingers)
	go func() {
		for {
			c, err := le.AcceptTCP()
			if err != nil {
				return
			}
			e := echoServer{c, make(chan struct{})}
			go func() { defer close(e.done); echo(c) }()
			echoes <- e
		}
	}()
	b.letThrough()
	opened, err := b.open(plainHold, plainEcho, n)
	if err != nil {
		return err
	}
	servers := make([]*net.TCPConn, 0, n+pingers)
	for range n {
		servers = append(servers, <-accepted)
	}
	var es []echoServer
	for range pingers {
		es = append(es, <-echoes)
	}
	lh.Close()
	le.Close()
	time.Sleep(time.Until(opened.Add(warm)))
	b.holdInFlight(from)
	for _, c := range servers {
		if _, err := c.Write(pattern(serverByte, remotePort(c), queueBytes)); err != nil {
			return err
		}
	}
	mssBefore := b.waitQueues(from, plainHold, n)

	// The checkpoint figure, and the image's bytes beyond the queues:
	// libtcptake.Checkpoint (without the module: stop, get, restart in
	// place) of up to 1000 of these sessions.
	ckpt, imgExtra, err := b.checkpoints(from, servers[:min(n, 1000)])
	if err != nil {
		return err
	}

	if err := b.arm(); err != nil {
		return err
	}

	// The echo servers pause (as the node's do), then every socket is
	// the loop's own descriptor: the Go conns let go of theirs.
	move := time.Now()
	for _, e := range es {
		e.c.SetReadDeadline(time.Unix(1, 0))
		<-e.done
		servers = append(servers, e.c)
	}
	fds := make([]int, len(servers))
	imgs := make([]plainloop.Image, len(servers))
	for i, c := range servers {
		rc, _ := c.SyscallConn()
		rc.Control(func(fd uintptr) { fds[i], err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) })
		if err != nil {
			return err
		}
		imgs[i].Local, imgs[i].Remote = plainloop.Sockaddr4(c.LocalAddr()), plainloop.Sockaddr4(c.RemoteAddr())
		c.Close() // the socket lives on in fds[i]: no FIN
	}

	// The blackout: address down, dump, close, restore, address up (and
	// announced).
	addr := ha.Addresses{{Prefix: netip.PrefixFrom(vip, 24), Dev: topo.Dev}}
	t0 := time.Now()
	if err := from.Do(func() error { return addr.Down(ctx) }); err != nil {
		return err
	}
	for i, fd := range fds {
		if err := plainloop.Dump(fd, &imgs[i]); err != nil {
			return fmt.Errorf("dump: %w", err)
		}
	}
	t1 := time.Now()
	for _, fd := range fds {
		unix.Close(fd) // repair mode: silent
	}
	t2 := time.Now()
	restored := make([]int, len(imgs))
	if err := to.Do(func() error {
		for i := range imgs {
			var err error
			if restored[i], err = plainloop.Restore(&imgs[i]); err != nil {
				return err
			}
		}
		return addr.Up(ctx)
	}); err != nil {
		return err
	}
	end := time.Now()

	for i, fd := range restored {
		f := os.NewFile(uintptr(fd), "restored")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return err
		}
		tc := c.(*net.TCPConn)
		if i < n {
			go func() { defer tc.Close(); serveRestored(tc) }()
		} else {
			go func() { defer tc.Close(); echo(tc) }()
		}
	}
	mssAfter := mssOf(to, plainHold)
	arrival, pg, err := b.collect(move)
	if err != nil {
		return err
	}
	mss, err := sameMSS(mssBefore, mssAfter)
	if err != nil {
		return err
	}
	// The address goes back to the node that is the active once the
	// restored sessions have closed (with it gone, their FINs would go
	// unanswered, and the lingering sockets hold the next run's tuples).
	b.waitFor("the baseline's sessions closed", time.Minute, func() bool {
		return strings.TrimSpace(to.Run("ss", "-tanH", fmt.Sprintf("( sport = :%d or sport = :%d )", plainHold, plainEcho))) == ""
	})
	if err := b.tp.MoveServiceIP(to, from); err != nil {
		return err
	}
	k := float64(len(imgs))
	r.add(baseline, map[string]float64{
		"blackout_ms":   ms(end.Sub(t0)),
		"freeze_ms":     ms(end.Sub(t0)),
		"dump_us":       float64(t2.Sub(t0).Microseconds()) / k,
		"restore_us":    float64(end.Sub(t2).Microseconds()) / k,
		"inflight_ms":   max(0, ms(arrival.Sub(end))),
		"mss":           float64(mss),
		"image_bytes":   plainloop.HeaderBytes,
		"checkpoint_us": float64(t1.Sub(t0).Microseconds()) / k,
	}, pg.stalls(end))
	r.add(tcptake, map[string]float64{"image_bytes": float64(imgExtra), "checkpoint_us": ckpt}, nil)
	progress("  blackout %.1f ms (dump %v, close %v, restore+address %v)", ms(end.Sub(t0)), t1.Sub(t0), t2.Sub(t1), end.Sub(t2))
	return nil
}

// checkpoints takes libtcptake checkpoints of conns in ns and returns
// µs per session and the image bytes per session beyond the queue bytes
// (with the bench node's 1 byte of application state). With the module:
// CheckpointAll, one GET dump of them all (after a first of one session,
// which opens the module's client); without: Checkpoint of each, with the
// nftables freezer.
func (b *bench) checkpoints(ns *topo.Netns, conns []*net.TCPConn) (per float64, extra int, err error) {
	var imgs []*libtcptake.Image
	var took time.Duration
	err = ns.Do(func() error {
		ctx := context.Background()
		if b.module {
			mc, err := libtcptake.New()
			if err != nil {
				return err
			}
			defer mc.Close()
			o := &libtcptake.Options{Freezer: &libtcptake.ModuleFreezer{C: mc}}
			sc := make([]syscall.Conn, len(conns))
			for i, c := range conns {
				sc[i] = c
			}
			if _, err := libtcptake.CheckpointAll(ctx, sc[:1], o); err != nil {
				return err
			}
			start := time.Now()
			imgs, err = libtcptake.CheckpointAll(ctx, sc, o)
			took = time.Since(start)
			return err
		}
		nsfd, err := unix.Open("/run/netns/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f, err := libtcptake.NewNFTFreezer(nsfd)
		unix.Close(nsfd)
		if err != nil {
			return err
		}
		defer f.Close()
		o := &libtcptake.Options{Freezer: f}
		start := time.Now()
		for _, c := range conns {
			img, err := libtcptake.Checkpoint(ctx, c, o)
			if err != nil {
				return err
			}
			imgs = append(imgs, img)
		}
		took = time.Since(start)
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	first := imgs[0]
	first.AppState = []byte{1}
	raw, err := first.MarshalBinary()
	if err != nil {
		return 0, 0, err
	}
	return float64(took.Microseconds()) / float64(len(conns)), len(raw) - len(first.RecvQueue) - len(first.SendUnacked) - len(first.SendUnsent), nil
}

// results are one N's figures, per side, one value per run.
type results struct {
	v [2]map[string][]float64
}

const (
	tcptake  = 0
	baseline = 1
)

// add adds a run's figures, and its stalls' (if st is not nil).
func (r *results) add(side int, figs map[string]float64, st *stalls) {
	if r.v[side] == nil {
		r.v[side] = map[string][]float64{}
	}
	if st != nil {
		for name, ds := range map[string][]time.Duration{"stall": st.fast, "stall_lossy": st.lossy, "stall_lossy_nomove": st.lossyNoMove,
			"stall_move": st.fastMove, "stall_lossy_move": st.lossyMove, "stall_lossy_move_nomove": st.lossyMoveNoMove} {
			if len(ds) == 0 {
				continue
			}
			q := func(p float64) float64 { return ms(ds[min(len(ds)-1, int(p*float64(len(ds))))]) }
			figs[name+"_p50_ms"], figs[name+"_p99_ms"], figs[name+"_max_ms"] = q(0.5), q(0.99), ms(ds[len(ds)-1])
		}
		if lossy, ok := figs["stall_lossy_p99_ms"]; ok && figs["stall_p99_ms"] > 0 {
			figs["stall_lossy_vs_fast"] = lossy / figs["stall_p99_ms"]
		}
		for _, q := range []string{"p50", "p99"} {
			if lossy, ok := figs["stall_lossy_move_"+q+"_ms"]; ok && figs["stall_move_"+q+"_ms"] > 0 {
				figs["stall_lossy_move_vs_fast_"+q] = lossy / figs["stall_move_"+q+"_ms"]
			}
		}
	}
	for k, v := range figs {
		r.v[side][k] = append(r.v[side][k], v)
	}
}

// mmm is min/median/max of vs (the median of an even count is the lower
// middle value).
func mmm(vs []float64) (lo, med, hi float64) {
	s := slices.Sorted(slices.Values(vs))
	return s[0], s[(len(s)-1)/2], s[len(s)-1]
}

func fmtMMM(vs []float64) string {
	if len(vs) == 0 {
		return "-"
	}
	lo, med, hi := mmm(vs)
	return fmt.Sprintf("%s/%s/%s", num(lo), num(med), num(hi))
}

func num(v float64) string {
	switch {
	case v == float64(int64(v)) && v >= 100:
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// figures, in the order they are printed: name, what it is.
var figures = []struct{ name, what string }{
	{"blackout_ms", "address released on the active → every session restarted on the standby (RestartAll returned; baseline: address deleted → every session restored and the address announced)"},
	{"freeze_ms", "first session paused on the active → every session restarted (the longest a session is stopped)"},
	{"stall_p50_ms", "client-seen stall, median over the pingers (longest gap between two echoes that ended after the move began)"},
	{"stall_p99_ms", "client-seen stall, p99 over the pingers"},
	{"stall_max_ms", "client-seen stall, worst pinger"},
	{"stall_lossy_p50_ms", "client-seen stall of the pingers behind the lossy link (" + lossyLink + "), median"},
	{"stall_lossy_p99_ms", "client-seen stall behind the lossy link, p99"},
	{"stall_lossy_max_ms", "client-seen stall behind the lossy link, worst pinger"},
	{"stall_lossy_nomove_p50_ms", "the lossy pingers' longest gap ending in as long a window just before the move (what the link alone costs), median"},
	{"stall_lossy_nomove_p99_ms", "the same, p99"},
	{"stall_lossy_nomove_max_ms", "the same, worst pinger"},
	{"stall_lossy_vs_fast", "stall_lossy_p99_ms / stall_p99_ms of each run (target: ≤ 1, the lossy link's stall no larger than the fast one's)"},
	{"stall_move_p50_ms", "what the move cost a pinger, median: its longest gap between two echoes that overlaps the move (from its start to the blackout's end), less its median gap before the move (its round trip)"},
	{"stall_move_p99_ms", "the same, p99"},
	{"stall_lossy_move_p50_ms", "what the move cost a pinger behind the lossy link, median (a loss on the link after the move is not the move's)"},
	{"stall_lossy_move_p99_ms", "the same, p99"},
	{"stall_lossy_move_nomove_p50_ms", "the same computed over as long a time just before the move, when nothing moved: what the lossy link alone costs a pinger at any moment, median"},
	{"stall_lossy_move_nomove_p99_ms", "the same, p99"},
	{"stall_lossy_move_vs_fast_p50", "stall_lossy_move_p50_ms / stall_move_p50_ms of each run"},
	{"stall_lossy_move_vs_fast_p99", "stall_lossy_move_p99_ms / stall_move_p99_ms of each run"},
	{"dump_us", "dump µs/session (tcptake: step 1, pause+stop+get+encode+send; baseline: libsoccr dump + close)"},
	{"restore_us", "restore µs/session (tcptake: set + restart; baseline: libsoccr restore)"},
	{"inflight_ms", "in-flight (unacked) 4 KiB complete at the last client, ms after the blackout (0: before it ended)"},
	{"image_bytes", "image bytes per session beyond the queue bytes"},
	{"checkpoint_us", "checkpoint µs/session (tcptake: with the module, CheckpointAll, one GET dump of them all; without, Checkpoint per fd; baseline: libsoccr dump without close)"},
	{"mss", "restored MSS (checked equal to the original)"},
	{"rss_active_mib", "peak RSS of the active node, MiB"},
	{"rss_standby_mib", "peak RSS of the standby node, MiB"},
}

func (b *bench) report(n int) {
	r := b.results[n]
	for _, f := range figures {
		t, p := r.v[tcptake][f.name], r.v[baseline][f.name]
		fmt.Printf("bench: N=%d %s=%s baseline=%s ratio=%s\n", n, f.name, fmtMMM(t), fmtMMM(p), ratio(t, p))
	}
}

// ratio is the median of t over the median of p, or "-".
func ratio(t, p []float64) string {
	if len(t) == 0 || len(p) == 0 {
		return "-"
	}
	_, mt, _ := mmm(t)
	_, mp, _ := mmm(p)
	if mp == 0 {
		return "-"
	}
	return strconv.FormatFloat(mt/mp, 'f', 2, 64)
}
