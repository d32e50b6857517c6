//go:build linux

package host

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcptake/tcptake/ha"
	"github.com/tcptake/tcptake/tests/host/topo"
)

// samples are a scrape's values by series: name{label="value",…}, and a
// histogram's name_count and name_sum.
type samples map[string]float64

// scrape fetches the metrics streamd serves in n on 127.0.0.1:9100.
func scrape(n *topo.Netns) (samples, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := n.Command(ctx, "curl", "-sS", "--fail", "--max-time", "5", "http://127.0.0.1:9100/metrics").Output()
	if err != nil {
		return nil, fmt.Errorf("scrape in %s: %w", n.Name, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(out)))
	if err != nil {
		return nil, fmt.Errorf("scrape in %s: %w", n.Name, err)
	}
	s := samples{}
	for name, f := range fams {
		for _, m := range f.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(ls)
			lbl := ""
			if len(ls) > 0 {
				lbl = "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_GAUGE:
				s[name+lbl] = m.Gauge.GetValue()
			case dto.MetricType_COUNTER:
				s[name+lbl] = m.Counter.GetValue()
			case dto.MetricType_HISTOGRAM:
				s[name+"_count"+lbl] = float64(m.Histogram.GetSampleCount())
				s[name+"_sum"+lbl] = m.Histogram.GetSampleSum()
			}
		}
	}
	return s, nil
}

func mustScrape(t *testing.T, n *topo.Netns) samples {
	t.Helper()
	s, err := scrape(n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// check compares the series of want with the scrape, exactly.
func (s samples) check(t *testing.T, who string, want samples) {
	t.Helper()
	for k, v := range want {
		if got, ok := s[k]; !ok || got != v {
			t.Errorf("%s: %s = %v (present %v), want %v", who, k, got, ok, v)
		}
	}
}

// roles are the series of a node in role r at epoch e.
func roles(r ha.Role, e uint64) samples {
	return samples{`tcptake_ha_role{role="active"}`: b2f(r == ha.RoleActive), `tcptake_ha_role{role="standby"}`: b2f(r == ha.RoleStandby),
		"tcptake_ha_epoch": float64(e), "tcptake_ha_link_up": 1}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestStreamdMetrics scrapes the metrics both streamd nodes serve
// (--metrics-listen, in their namespaces) while curl downloads and a socat
// echo run through the service address: before the switchover, during it
// (every scrape answers, with one role), after it, and after the old
// active takes over again (fencing the new one). Roles, epochs, sessions,
// checkpoints and counts move as they should; the durations are exactly
// those of the reports tcptakectl -j prints.
func TestStreamdMetrics(t *testing.T) {
	needTool(t, "curl", "socat")
	e := newEnv(t)
	c := startCluster(t, e, nil, "--checkpoint-interval", "100ms", "--metrics-listen", "127.0.0.1:9100")
	idle := samples{"tcptake_ha_sessions": 0, "tcptake_ha_checkpoint_interval_seconds": 0.1,
		`tcptake_ha_switchovers_total{result="done"}`: 0, `tcptake_ha_switchovers_total{result="failed"}`: 0,
		`tcptake_ha_takeovers_total{result="done"}`: 0, `tcptake_ha_takeovers_total{result="failed"}`: 0,
		"tcptake_ha_switchover_blackout_seconds_count": 0, "tcptake_ha_takeover_duration_seconds_count": 0}
	for _, r := range ha.RefusalReasons {
		idle[fmt.Sprintf("tcptake_ha_link_refused_total{reason=%q}", r)] = 0
	}
	with := func(a, b samples) samples {
		out := samples{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}
	// Each heartbeat echoes the peer's: the RTT is measured within two
	// intervals (1 s).
	var a, s samples
	waitFor(t, 5*time.Second, "the link's RTT on both nodes", func() bool {
		a, s = mustScrape(t, e.Act), mustScrape(t, e.Sby)
		_, okA := a["tcptake_ha_link_rtt_seconds"]
		_, okS := s["tcptake_ha_link_rtt_seconds"]
		return okA && okS
	})
	a.check(t, "act", with(idle, roles(ha.RoleActive, 0)))
	s.check(t, "sby", with(idle, roles(ha.RoleStandby, 0)))
	for who, m := range map[string]samples{"act": a, "sby": s} {
		if rtt := m["tcptake_ha_link_rtt_seconds"]; rtt <= 0 || rtt > 0.5 {
			t.Errorf("%s: link RTT %v s between two namespaces", who, rtt)
		}
	}

	cl := startClients(t, e, 2, 9_000_000, 1_500_000, 30*time.Second)
	n := float64(cl.n)
	waitFor(t, 10*time.Second, "every session tracked on act and checkpointed on sby", func() bool {
		a, s = mustScrape(t, e.Act), mustScrape(t, e.Sby)
		return a["tcptake_ha_sessions"] == n && s["tcptake_ha_checkpoint_sessions"] == n
	})
	a.check(t, "act", samples{"tcptake_ha_checkpoint_sessions": n})
	for who, m := range map[string]samples{"act": a, "sby": s} {
		// the checkpoints run every 100 ms: under load on two
		// shared cores, a few may be late
		if c, sum, age := m["tcptake_ha_checkpoint_size_bytes_count"], m["tcptake_ha_checkpoint_size_bytes_sum"],
			m["tcptake_ha_checkpoint_age_oldest_seconds"]; c < 1 || sum < 12*c || age <= 0 || age > 2 {
			t.Errorf("%s: %v checkpoints of %v bytes, oldest session's %v s old", who, c, sum, age)
		}
	}

	// The switchover, scraped while it runs.
	done := make(chan []byte)
	go func() {
		out, err := exec.Command(c.ctl, "-j", "node", "switchover", "--control", c.act).Output()
		if err != nil {
			t.Errorf("switchover: %v", err)
		}
		done <- out
	}()
	var out []byte
	for scrapes := 0; out == nil; scrapes++ {
		select {
		case out = <-done:
			t.Logf("%d scrapes of act during the switchover", scrapes)
			continue
		default:
		}
		m, err := scrape(e.Act)
		if err != nil {
			t.Fatalf("during the switchover: %v", err)
		}
		if m[`tcptake_ha_role{role="active"}`]+m[`tcptake_ha_role{role="standby"}`] != 1 {
			t.Errorf("during the switchover: roles %v and %v", m[`tcptake_ha_role{role="active"}`], m[`tcptake_ha_role{role="standby"}`])
		}
	}
	var rep ha.Report
	if err := json.Unmarshal(out, &rep); err != nil || rep.Sessions != cl.n || rep.Failed != 0 {
		t.Fatalf("switchover: %+v, %v", rep, err)
	}
	a, s = mustScrape(t, e.Act), mustScrape(t, e.Sby)
	steps := samples{"tcptake_ha_switchover_blackout_seconds_count": 1, "tcptake_ha_switchover_blackout_seconds_sum": rep.Blackout.Seconds()}
	for i, d := range []time.Duration{rep.StopGet, rep.Transfer, rep.Set, rep.AddressMoved, rep.Restart} {
		steps[fmt.Sprintf("tcptake_ha_switchover_step_seconds_count{step=%q}", ha.SwitchoverSteps[i])] = 1
		steps[fmt.Sprintf("tcptake_ha_switchover_step_seconds_sum{step=%q}", ha.SwitchoverSteps[i])] = d.Seconds()
	}
	a.check(t, "act after the switchover", with(roles(ha.RoleStandby, 1), with(steps, samples{"tcptake_ha_sessions": 0,
		`tcptake_ha_switchovers_total{result="done"}`: 1, `tcptake_ha_switchovers_total{result="failed"}`: 0})))
	s.check(t, "sby after the switchover", with(roles(ha.RoleActive, 1), samples{"tcptake_ha_sessions": n,
		`tcptake_ha_switchovers_total{result="done"}`: 0, "tcptake_ha_switchover_blackout_seconds_count": 0}))

	// The new active checkpoints to the old one, which takes over once
	// the switchover settled (as TestStreamdSwitchover waits between its
	// two moves).
	time.Sleep(time.Second)
	waitFor(t, 5*time.Second, "every session checkpointed on act", func() bool {
		return mustScrape(t, e.Act)["tcptake_ha_checkpoint_sessions"] == n
	})
	to := c.takeover(t, c.act)
	if !to.Fenced || to.Sessions != cl.n || to.Failed != 0 || to.Kept+to.Reconciled+to.Closed != cl.n {
		t.Fatalf("takeover: %+v", to)
	}
	a, s = mustScrape(t, e.Act), mustScrape(t, e.Sby)
	a.check(t, "act after the takeover", with(roles(ha.RoleActive, to.Epoch), samples{
		`tcptake_ha_takeovers_total{result="done"}`: 1, `tcptake_ha_takeovers_total{result="failed"}`: 0,
		`tcptake_ha_last_takeover_sessions{outcome="kept"}`:       float64(to.Kept),
		`tcptake_ha_last_takeover_sessions{outcome="reconciled"}`: float64(to.Reconciled),
		`tcptake_ha_last_takeover_sessions{outcome="closed"}`:     float64(to.Closed),
		`tcptake_ha_last_takeover_sessions{outcome="failed"}`:     0,
		"tcptake_ha_last_takeover_unanswered_sessions":            float64(to.NoAnswer),
		"tcptake_ha_takeover_duration_seconds_count":              1, "tcptake_ha_takeover_duration_seconds_sum": to.Total.Seconds(),
		`tcptake_ha_takeover_step_seconds_sum{step="set"}`:        to.Set.Seconds(),
		`tcptake_ha_takeover_step_seconds_sum{step="address_up"}`: to.AddressUp.Seconds(),
		`tcptake_ha_takeover_step_seconds_sum{step="restart"}`:    to.Restart.Seconds(),
		`tcptake_ha_switchovers_total{result="done"}`:             1,
	}))
	s.check(t, "sby after the takeover", with(roles(ha.RoleStandby, to.Epoch), samples{
		`tcptake_ha_takeovers_total{result="done"}`: 0, "tcptake_ha_sessions": 0}))
	if to.Epoch != 2 {
		t.Errorf("takeover at epoch %d, want 2", to.Epoch)
	}
	if _, ok := s["tcptake_ha_last_takeover_unanswered_sessions"]; ok {
		t.Error("sby reports a last takeover it never ran")
	}

	// Sessions the takeover closed (a client's bytes in flight at the
	// fence) end with a correct prefix; the others complete.
	closed := map[string]bool{}
	for _, r := range to.Results {
		if r.Outcome == ha.Closed {
			closed[sessionKind(r.Session)] = true
		}
	}
	for _, o := range cl.wait() {
		t.Logf("%s: exit %v, %d bytes", o.name, o.exitErr, o.received)
		kind := "http"
		if strings.HasPrefix(o.name, "socat") {
			kind = "echo"
		}
		if o.corrupt != nil || (o.exitErr != nil && !closed[kind]) {
			t.Errorf("%s: exit %v, content %v", o.name, o.exitErr, o.corrupt)
		}
	}
	if to.Closed == 0 {
		e.checkNoRST()
	}
}
