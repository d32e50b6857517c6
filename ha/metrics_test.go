package ha

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcptake/tcptake/libtcptake"
)

// set moves the fake clock without ticking.
func (c *fakeClock) set(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// scraped is a node's metrics endpoint under test.
type scraped struct {
	t   *testing.T
	url string
}

func serveMetrics(t *testing.T, n *Node) scraped {
	srv := httptest.NewServer(n.MetricsHandler())
	t.Cleanup(srv.Close)
	return scraped{t, srv.URL}
}

// expect compares the named metrics with want: "name{labels} value"
// lines, in any order, for the metrics of the table.
func (s scraped) expect(want ...string) {
	s.t.Helper()
	var b strings.Builder
	var names []string
	for _, m := range metrics {
		var lines []string
		for _, w := range want {
			if w == m.name || strings.HasPrefix(w, m.name+" ") || strings.HasPrefix(w, m.name+"{") {
				lines = append(lines, w)
			}
		}
		if len(lines) == 0 {
			continue
		}
		names = append(names, m.name)
		if lines[0] == m.name { // the name alone: the metric is absent
			continue
		}
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s\n", m.name, m.help, m.name, m.kind, strings.Join(lines, "\n"))
	}
	if err := testutil.ScrapeAndCompare(s.url, strings.NewReader(b.String()), names...); err != nil {
		s.t.Errorf("scrape: %v", err)
	}
}

// histogram returns the count and sum of the histogram name with the
// label values lvs (in the order of the metric's labels).
func (s scraped) histogram(name string, lvs ...string) (uint64, float64) {
	s.t.Helper()
	resp, err := http.Get(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	f := fams[name]
	if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		s.t.Fatalf("no histogram %s", name)
	}
	for _, m := range f.Metric {
		var got []string
		for _, l := range m.Label {
			got = append(got, l.GetValue())
		}
		if slices.Equal(got, lvs) {
			return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum()
		}
	}
	s.t.Fatalf("no %s%q", name, lvs)
	return 0, 0
}

// checkHistogram checks the count and sum of a histogram.
func (s scraped) checkHistogram(count uint64, sum float64, name string, lvs ...string) {
	s.t.Helper()
	if c, sm := s.histogram(name, lvs...); c != count || sm != sum {
		s.t.Errorf("%s%q: count %d sum %v, want %d and %v", name, lvs, c, sm, count, sum)
	}
}

// TestMetrics follows two nodes on a fake clock through checkpoints, a
// switchover and a takeover, scraping both after each: every figure is
// exact (durations are 0: the clock moves only between the steps).
func TestMetrics(t *testing.T) {
	ak, sk := testKeys(t)
	addr := freePort(t)
	clk := &fakeClock{now: time.Unix(1000, 0), tick: make(chan time.Time)}
	hour := time.Hour // no heartbeat, no timeout
	// The takeover's application keeps, reconciles and closes sessions
	// by their state.
	outcomes := map[string]Outcome{"state-a": Kept, "state-b": Reconciled, "state-c": Closed}
	act := newTestNode(t, "act", Options{Role: RoleActive, Key: ak, PeerKey: pub(sk), SyncListen: addr, Clock: clk,
		HeartbeatInterval: hour, Failover: func(c *net.TCPConn, st []byte, _ libtcptake.Adjustment) Outcome {
			return outcomes[string(st)]
		}})
	sby := newTestNode(t, "sby", Options{Role: RoleStandby, Key: sk, PeerKey: pub(ak), SyncPeer: addr, Clock: clk, HeartbeatInterval: hour})
	eventually(t, "the link", func() bool { return act.Status().Peer != nil && sby.Status().Peer != nil })
	am, sm := serveMetrics(t, act.Node), serveMetrics(t, sby.Node)
	zero := []string{
		`tcptake_ha_switchovers_total{result="done"} 0`, `tcptake_ha_switchovers_total{result="failed"} 0`,
		`tcptake_ha_takeovers_total{result="done"} 0`, `tcptake_ha_takeovers_total{result="failed"} 0`,
		`tcptake_ha_link_rtt_seconds`, `tcptake_ha_last_takeover_sessions`, `tcptake_ha_last_takeover_unanswered_sessions`,
	}
	for _, r := range RefusalReasons {
		zero = append(zero, fmt.Sprintf(`tcptake_ha_link_refused_total{reason=%q} 0`, r))
	}
	am.expect(append(zero, `tcptake_ha_role{role="active"} 1`, `tcptake_ha_role{role="standby"} 0`, `tcptake_ha_epoch 0`,
		`tcptake_ha_link_up 1`, `tcptake_ha_sessions 0`, `tcptake_ha_checkpoint_sessions 0`,
		`tcptake_ha_checkpoint_age_freshest_seconds`, `tcptake_ha_checkpoint_age_oldest_seconds`,
		`tcptake_ha_checkpoint_interval_seconds 0`)...)
	sm.expect(append(zero, `tcptake_ha_role{role="active"} 0`, `tcptake_ha_role{role="standby"} 1`, `tcptake_ha_epoch 0`,
		`tcptake_ha_link_up 1`, `tcptake_ha_sessions 0`, `tcptake_ha_checkpoint_sessions 0`)...)
	am.checkHistogram(0, 0, "tcptake_ha_switchover_blackout_seconds")
	am.checkHistogram(0, 0, "tcptake_ha_checkpoint_size_bytes")

	// Sessions not checkpointed yet count from when they were tracked.
	want := []string{"state-a", "state-b", "state-c", "state-d"}
	track := func(states ...string) {
		for _, st := range states {
			act.TrackResumable(tcpConn(t), func() []byte { return []byte(st) }, func() {})
		}
	}
	track(want[:2]...)
	clk.set(time.Second)
	track(want[2:]...)
	clk.set(time.Second)
	am.expect(`tcptake_ha_sessions 4`, `tcptake_ha_checkpoint_sessions 4`,
		`tcptake_ha_checkpoint_age_freshest_seconds 1`, `tcptake_ha_checkpoint_age_oldest_seconds 2`)

	// A checkpoint: captured now on the active, held on the standby.
	ck, err := act.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "4 checkpoints on the standby", func() bool { return sby.Status().checkpointSessions() == 4 })
	clk.set(500 * time.Millisecond)
	ages := []string{`tcptake_ha_checkpoint_sessions 4`,
		`tcptake_ha_checkpoint_age_freshest_seconds 0.5`, `tcptake_ha_checkpoint_age_oldest_seconds 0.5`}
	am.expect(ages...)
	sm.expect(ages...)
	am.checkHistogram(1, float64(ck.Bytes), "tcptake_ha_checkpoint_size_bytes")
	sm.checkHistogram(1, float64(ck.Bytes), "tcptake_ha_checkpoint_size_bytes")

	// A switchover: counted on the active that ran it.
	if _, err := act.Switchover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sby.takeRestored(); !sameSet(got, want) {
		t.Fatalf("restored %q, want %q", got, want)
	}
	am.expect(`tcptake_ha_role{role="active"} 0`, `tcptake_ha_role{role="standby"} 1`, `tcptake_ha_epoch 1`,
		`tcptake_ha_sessions 0`, `tcptake_ha_switchovers_total{result="done"} 1`, `tcptake_ha_switchovers_total{result="failed"} 0`,
		`tcptake_ha_checkpoint_sessions 0`, `tcptake_ha_checkpoint_age_oldest_seconds`)
	am.checkHistogram(1, 0, "tcptake_ha_switchover_blackout_seconds")
	for _, step := range SwitchoverSteps {
		am.checkHistogram(1, 0, "tcptake_ha_switchover_step_seconds", step)
		sm.checkHistogram(0, 0, "tcptake_ha_switchover_step_seconds", step)
	}
	sm.expect(`tcptake_ha_role{role="active"} 1`, `tcptake_ha_role{role="standby"} 0`, `tcptake_ha_epoch 1`,
		`tcptake_ha_sessions 4`, `tcptake_ha_switchovers_total{result="done"} 0`, `tcptake_ha_switchovers_total{result="failed"} 0`,
		`tcptake_ha_checkpoint_sessions 4`, `tcptake_ha_checkpoint_age_oldest_seconds 0`)
	sm.checkHistogram(0, 0, "tcptake_ha_switchover_blackout_seconds")

	// The new active checkpoints; the old one takes over, fencing it (a
	// last checkpoint): state-a kept, state-b reconciled, state-c closed
	// (its peer silent), state-d failed.
	if _, err := sby.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "4 checkpoints on the old active", func() bool { return act.Status().checkpointSessions() == 4 })
	act.ops.mu.Lock()
	act.ops.failRestart = map[string]bool{"state-d": true}
	act.ops.adjust = map[string]libtcptake.Adjustment{"state-c": {}}
	act.ops.mu.Unlock()
	rep, err := act.Takeover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Fenced || rep.Kept != 1 || rep.Reconciled != 1 || rep.Closed != 1 || rep.Failed != 1 || rep.NoAnswer != 1 {
		t.Fatalf("takeover %+v", rep)
	}
	am.expect(`tcptake_ha_role{role="active"} 1`, `tcptake_ha_role{role="standby"} 0`, `tcptake_ha_epoch 2`,
		`tcptake_ha_takeovers_total{result="done"} 1`, `tcptake_ha_takeovers_total{result="failed"} 0`,
		`tcptake_ha_last_takeover_sessions{outcome="kept"} 1`, `tcptake_ha_last_takeover_sessions{outcome="reconciled"} 1`,
		`tcptake_ha_last_takeover_sessions{outcome="closed"} 1`, `tcptake_ha_last_takeover_sessions{outcome="failed"} 1`,
		`tcptake_ha_last_takeover_unanswered_sessions 1`)
	am.checkHistogram(1, 0, "tcptake_ha_takeover_duration_seconds")
	for _, step := range TakeoverSteps {
		am.checkHistogram(1, 0, "tcptake_ha_takeover_step_seconds", step)
	}
	sm.expect(`tcptake_ha_role{role="active"} 0`, `tcptake_ha_role{role="standby"} 1`, `tcptake_ha_epoch 2`,
		`tcptake_ha_takeovers_total{result="done"} 0`, `tcptake_ha_takeovers_total{result="failed"} 0`, `tcptake_ha_last_takeover_sessions`)
	// each node sent one checkpoint and received two (the fence's last)
	// or one
	if c, _ := am.histogram("tcptake_ha_checkpoint_size_bytes"); c != 3 {
		t.Errorf("old active: %d checkpoints, want 3 (1 sent, 2 received)", c)
	}
	if c, _ := sm.histogram("tcptake_ha_checkpoint_size_bytes"); c != 3 {
		t.Errorf("old standby: %d checkpoints, want 3 (1 received, 2 sent)", c)
	}
	// the status says the same
	if s := act.Status(); s.Stats.Takeovers != 1 || s.Stats.Switchovers != 1 || s.Stats.Blackout.Count != 1 ||
		s.Stats.CheckpointBytes.Count != 3 || s.Stats.TakeoverSteps["restart"].Count != 1 {
		t.Errorf("status: %+v", s.Stats)
	}
}

// TestMetricsRefusals: each refused sync link is counted by its reason.
func TestMetricsRefusals(t *testing.T) {
	for _, tc := range []struct {
		reason string
		err    error
	}{
		{"bad_key", &LinkError{Op: "handshake", Err: fmt.Errorf("tls: %w", ErrWrongKey)}},
		{"replay", &LinkError{Op: "read", Err: ErrReplay}},
		{"old_epoch", fmt.Errorf("%w: 4 < 5", ErrStaleEpoch)},
		{"timeout", &LinkError{Op: "read", Err: ErrLinkTimeout}},
		{"frame_too_big", fmt.Errorf("%w: 1 > 0", ErrFrameTooBig)},
		{"other", io.ErrUnexpectedEOF},
	} {
		if got := RefusalReason(tc.err); got != tc.reason {
			t.Errorf("%v: reason %q, want %q", tc.err, got, tc.reason)
		}
	}
}

// TestMetricsListen: Options.MetricsListen serves /metrics, and the link's
// round-trip time is measured from the heartbeats.
func TestMetricsListen(t *testing.T) {
	ak, sk := testKeys(t)
	addr, maddr := freePort(t), freePort(t)
	act := newTestNode(t, "act", Options{Role: RoleActive, Key: ak, PeerKey: pub(sk), SyncListen: addr,
		HeartbeatInterval: 10 * time.Millisecond, MetricsListen: maddr})
	newTestNode(t, "sby", Options{Role: RoleStandby, Key: sk, PeerKey: pub(ak), SyncPeer: addr, HeartbeatInterval: 10 * time.Millisecond})
	eventually(t, "the link's RTT", func() bool { p := act.Status().Peer; return p != nil && p.RTT > 0 })
	if rtt := act.Status().Peer.RTT; rtt > time.Second {
		t.Errorf("RTT %v on loopback", rtt)
	}
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !regexp.MustCompile(`(?m)^tcptake_ha_link_rtt_seconds [0-9.e-]+$`).Match(b) ||
		!strings.Contains(string(b), "\ntcptake_ha_link_up 1\n") {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	if resp, err := http.Get("http://" + maddr + "/"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("GET /: %v %v", resp.Status, err)
	}
}

// TestMetricsDocumented: README's "Operating" section lists exactly the
// metrics, with their types.
func TestMetricsDocumented(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, op, ok := strings.Cut(string(b), "\n## Operating\n")
	if !ok {
		t.Fatal(`README.md has no "## Operating" section`)
	}
	op, _, _ = strings.Cut(op, "\n## ")
	var got, want []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(tcptake_ha_[a-z_]+)(?:\\{[a-z_]+\\})?` \\| ([a-z]+) \\|").FindAllStringSubmatch(op, -1) {
		got = append(got, m[1]+" "+m[2])
	}
	for _, m := range metrics {
		want = append(want, m.name+" "+m.kind)
	}
	if !slices.Equal(got, want) {
		t.Errorf("README lists\n%s\nthe metrics are\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
