package ha

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics: a node's figures for Prometheus. Status is their one source:
// the collector reads it at each scrape, so that `tcptakectl node status`
// and a scrape never disagree. The counts and distributions of events live
// in Stats, updated by the procedures under Node.mu.

// Histogram is a distribution of observations in base units (seconds,
// bytes): Buckets[i] counts those at most Bounds[i] (cumulative).
type Histogram struct {
	Count   uint64    `json:"count"`
	Sum     float64   `json:"sum"`
	Bounds  []float64 `json:"bounds"`
	Buckets []uint64  `json:"buckets"`
}

var (
	// durationBounds are the bounds of the duration histograms (seconds).
	durationBounds = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// sizeBounds are those of the checkpoint sizes: 1 KiB to 64 MiB.
	sizeBounds = prometheus.ExponentialBuckets(1024, 4, 9)
)

func newHistogram(bounds []float64) *Histogram {
	return &Histogram{Bounds: bounds, Buckets: make([]uint64, len(bounds))}
}

func (h *Histogram) observe(v float64) {
	h.Count++
	h.Sum += v
	for i, b := range h.Bounds {
		if v <= b {
			h.Buckets[i]++
		}
	}
}

func (h *Histogram) clone() *Histogram {
	c := *h
	c.Buckets = slices.Clone(h.Buckets)
	return &c
}

// Stats are a node's counts and distributions of events since it started.
type Stats struct {
	// Switchovers this node ran as the active: done (the standby serves
	// the sessions) or failed.
	Switchovers       uint64 `json:"switchovers"`
	SwitchoversFailed uint64 `json:"switchovers_failed"`
	// Takeovers this node ran as the standby (not those that found it
	// the active already).
	Takeovers       uint64 `json:"takeovers"`
	TakeoversFailed uint64 `json:"takeovers_failed"`
	// LinkRefused counts the sync link connections this node refused or
	// dropped, by reason (see RefusalReason).
	LinkRefused map[string]uint64 `json:"link_refused"`
	// Blackout and the steps of the switchovers done, by SwitchoverSteps
	// name; the takeovers' total and steps, by TakeoverSteps name.
	Blackout        *Histogram            `json:"switchover_blackout"`
	SwitchoverSteps map[string]*Histogram `json:"switchover_steps"`
	Takeover        *Histogram            `json:"takeover_duration"`
	TakeoverSteps   map[string]*Histogram `json:"takeover_steps"`
	// CheckpointBytes: the size of each checkpoint sent (active) or
	// received (standby).
	CheckpointBytes *Histogram `json:"checkpoint_bytes"`
}

// The step names of Stats.SwitchoverSteps and Stats.TakeoverSteps, and the
// refusal reasons of Stats.LinkRefused: the label values of the metrics.
var (
	SwitchoverSteps = []string{"stop_get", "transfer", "set", "address_moved", "restart"}
	TakeoverSteps   = []string{"set", "address_up", "restart"}
	RefusalReasons  = []string{"bad_key", "replay", "old_epoch", "two_actives", "bad_frame", "version", "frame_too_big", "timeout", "other"}
)

func newStats() Stats {
	s := Stats{LinkRefused: map[string]uint64{}, Blackout: newHistogram(durationBounds),
		SwitchoverSteps: map[string]*Histogram{}, Takeover: newHistogram(durationBounds),
		TakeoverSteps: map[string]*Histogram{}, CheckpointBytes: newHistogram(sizeBounds)}
	for _, r := range RefusalReasons {
		s.LinkRefused[r] = 0
	}
	for _, k := range SwitchoverSteps {
		s.SwitchoverSteps[k] = newHistogram(durationBounds)
	}
	for _, k := range TakeoverSteps {
		s.TakeoverSteps[k] = newHistogram(durationBounds)
	}
	return s
}

func (s Stats) clone() Stats {
	c := s
	c.LinkRefused = maps.Clone(s.LinkRefused)
	c.Blackout, c.Takeover, c.CheckpointBytes = s.Blackout.clone(), s.Takeover.clone(), s.CheckpointBytes.clone()
	c.SwitchoverSteps, c.TakeoverSteps = cloneSteps(s.SwitchoverSteps), cloneSteps(s.TakeoverSteps)
	return c
}

func cloneSteps(hs map[string]*Histogram) map[string]*Histogram {
	c := make(map[string]*Histogram, len(hs))
	for k, h := range hs {
		c[k] = h.clone()
	}
	return c
}

// switchoverDone counts a switchover; rep nil: it failed. n.mu is held.
func (s *Stats) switchoverDone(rep *Report) {
	if rep == nil {
		s.SwitchoversFailed++
		return
	}
	s.Switchovers++
	s.Blackout.observe(rep.Blackout.Seconds())
	observeSteps(s.SwitchoverSteps, SwitchoverSteps, rep.StopGet, rep.Transfer, rep.Set, rep.AddressMoved, rep.Restart)
}

// takeoverDone counts a takeover; rep nil: it failed. n.mu is held.
func (s *Stats) takeoverDone(rep *TakeoverReport) {
	if rep == nil {
		s.TakeoversFailed++
		return
	}
	s.Takeovers++
	s.Takeover.observe(rep.Total.Seconds())
	observeSteps(s.TakeoverSteps, TakeoverSteps, rep.Set, rep.AddressUp, rep.Restart)
}

// observeSteps observes the durations ds of the steps names in hs.
func observeSteps(hs map[string]*Histogram, names []string, ds ...time.Duration) {
	for i, d := range ds {
		hs[names[i]].observe(d.Seconds())
	}
}

// RefusalReason names why a sync link connection was refused or dropped:
// one of RefusalReasons.
func RefusalReason(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{ErrWrongKey, "bad_key"}, {ErrReplay, "replay"}, {ErrStaleEpoch, "old_epoch"},
		{ErrTwoActives, "two_actives"}, {ErrFrameTooBig, "frame_too_big"}, {ErrVersion, "version"},
		{ErrBadFrame, "bad_frame"}, {ErrLinkTimeout, "timeout"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "other"
}

// CheckpointAges are the ages of the sessions' checkpoints, the sessions a
// takeover would restore: on the standby, the checkpoints it holds; on the
// active, those it last sent of its sessions that checkpoints include
// (TrackResumable; one not checkpointed yet counts from when it was
// tracked). Ages run from the capture, on the active's clock.
type CheckpointAges struct {
	Sessions int           `json:"sessions"`
	Freshest time.Duration `json:"freshest_ns"`
	Oldest   time.Duration `json:"oldest_ns"`
}

// checkpointAges computes the ages at now; nil without sessions. n.mu is
// held.
func (n *Node) checkpointAges(now time.Time) *CheckpointAges {
	var at []time.Time
	if n.role == RoleStandby {
		for _, st := range n.ckStore {
			at = append(at, st.img.CaptureTime)
		}
	} else {
		for t := range n.tracked {
			if t.resume != nil {
				at = append(at, t.ckAt)
			}
		}
	}
	if len(at) == 0 {
		return nil
	}
	return &CheckpointAges{Sessions: len(at),
		Freshest: now.Sub(slices.MaxFunc(at, time.Time.Compare)), Oldest: now.Sub(slices.MinFunc(at, time.Time.Compare))}
}

// metric is one metric: its name, kind and help (as README's "Operating"
// lists them), its labels, and how its values come from a Status.
type metric struct {
	name, kind, help string
	labels           []string
	emit             func(e emitter, s *Status)
}

type emitter struct {
	ch   chan<- prometheus.Metric
	desc *prometheus.Desc
}

func (e emitter) value(t prometheus.ValueType, v float64, lvs ...string) {
	e.ch <- prometheus.MustNewConstMetric(e.desc, t, v, lvs...)
}

func (e emitter) histogram(h *Histogram, lvs ...string) {
	b := make(map[float64]uint64, len(h.Bounds))
	for i, bound := range h.Bounds {
		b[bound] = h.Buckets[i]
	}
	e.ch <- prometheus.MustNewConstHistogram(e.desc, h.Count, h.Sum, b, lvs...)
}

// results emits the counts of done and failed.
func (e emitter) results(done, failed uint64) {
	e.value(prometheus.CounterValue, float64(done), "done")
	e.value(prometheus.CounterValue, float64(failed), "failed")
}

// steps emits the histograms of the steps names, in that order.
func (e emitter) steps(names []string, hs map[string]*Histogram) {
	for _, k := range names {
		e.histogram(hs[k], k)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var metrics = []metric{
	{"tcptake_ha_role", "gauge", "The node's role: 1 for the role it has, 0 for the other.", []string{"role"},
		func(e emitter, s *Status) {
			e.value(prometheus.GaugeValue, b2f(s.Role == RoleActive), "active")
			e.value(prometheus.GaugeValue, b2f(s.Role == RoleStandby), "standby")
		}},
	{"tcptake_ha_epoch", "gauge", "The node's epoch; it rises with every switchover and takeover.", nil,
		func(e emitter, s *Status) { e.value(prometheus.GaugeValue, float64(s.Epoch)) }},
	{"tcptake_ha_link_up", "gauge", "1 while the sync link to the peer is up.", nil,
		func(e emitter, s *Status) { e.value(prometheus.GaugeValue, b2f(s.Peer != nil)) }},
	{"tcptake_ha_link_rtt_seconds", "gauge", "Round-trip time of the sync link, from the last heartbeat the peer echoed (absent while not measured).", nil,
		func(e emitter, s *Status) {
			if s.Peer != nil && s.Peer.RTT > 0 {
				e.value(prometheus.GaugeValue, s.Peer.RTT.Seconds())
			}
		}},
	{"tcptake_ha_link_refused_total", "counter", "Sync link connections this node refused or dropped, by reason.", []string{"reason"},
		func(e emitter, s *Status) {
			for _, r := range RefusalReasons {
				e.value(prometheus.CounterValue, float64(s.Stats.LinkRefused[r]), r)
			}
		}},
	{"tcptake_ha_sessions", "gauge", "Sessions the node tracks (serves, on the active).", nil,
		func(e emitter, s *Status) { e.value(prometheus.GaugeValue, float64(s.Sessions)) }},
	{"tcptake_ha_checkpoint_sessions", "gauge", "Sessions a takeover would restore from checkpoints: held (standby) or checkpointed (active).", nil,
		func(e emitter, s *Status) { e.value(prometheus.GaugeValue, float64(s.checkpointSessions())) }},
	{"tcptake_ha_checkpoint_age_freshest_seconds", "gauge", "Age of the freshest session's checkpoint (absent without sessions).", nil,
		func(e emitter, s *Status) {
			if a := s.CheckpointAges; a != nil {
				e.value(prometheus.GaugeValue, a.Freshest.Seconds())
			}
		}},
	{"tcptake_ha_checkpoint_age_oldest_seconds", "gauge", "Age of the oldest session's checkpoint (absent without sessions).", nil,
		func(e emitter, s *Status) {
			if a := s.CheckpointAges; a != nil {
				e.value(prometheus.GaugeValue, a.Oldest.Seconds())
			}
		}},
	{"tcptake_ha_checkpoint_interval_seconds", "gauge", "The configured checkpoint interval (0: on demand only).", nil,
		func(e emitter, s *Status) { e.value(prometheus.GaugeValue, s.CheckpointInterval.Seconds()) }},
	{"tcptake_ha_checkpoint_size_bytes", "histogram", "Size of each checkpoint sent (active) or received (standby).", nil,
		func(e emitter, s *Status) { e.histogram(s.Stats.CheckpointBytes) }},
	{"tcptake_ha_switchovers_total", "counter", "Switchovers this node ran as the active, by result (done, failed).", []string{"result"},
		func(e emitter, s *Status) { e.results(s.Stats.Switchovers, s.Stats.SwitchoversFailed) }},
	{"tcptake_ha_switchover_blackout_seconds", "histogram", "Blackout of each switchover done: from the first stop to the standby's word that it serves.", nil,
		func(e emitter, s *Status) { e.histogram(s.Stats.Blackout) }},
	{"tcptake_ha_switchover_step_seconds", "histogram", "Duration of each step of the switchovers done, by step.", []string{"step"},
		func(e emitter, s *Status) { e.steps(SwitchoverSteps, s.Stats.SwitchoverSteps) }},
	{"tcptake_ha_takeovers_total", "counter", "Takeovers this node ran as the standby, by result (done, failed).", []string{"result"},
		func(e emitter, s *Status) { e.results(s.Stats.Takeovers, s.Stats.TakeoversFailed) }},
	{"tcptake_ha_takeover_duration_seconds", "histogram", "Duration of each takeover done, fencing included.", nil,
		func(e emitter, s *Status) { e.histogram(s.Stats.Takeover) }},
	{"tcptake_ha_takeover_step_seconds", "histogram", "Duration of each step of the takeovers done, by step.", []string{"step"},
		func(e emitter, s *Status) { e.steps(TakeoverSteps, s.Stats.TakeoverSteps) }},
	{"tcptake_ha_last_takeover_sessions", "gauge", "Sessions of the last takeover by outcome (kept, reconciled, closed, failed; absent before one).", []string{"outcome"},
		func(e emitter, s *Status) {
			if r := s.LastTakeover; r != nil {
				for _, o := range []struct {
					v int
					o Outcome
				}{{r.Kept, Kept}, {r.Reconciled, Reconciled}, {r.Closed, Closed}, {r.Failed, Failed}} {
					e.value(prometheus.GaugeValue, float64(o.v), string(o.o))
				}
			}
		}},
	{"tcptake_ha_last_takeover_unanswered_sessions", "gauge", "Sessions of the last takeover whose peer did not answer the probe (absent before one).", nil,
		func(e emitter, s *Status) {
			if r := s.LastTakeover; r != nil {
				e.value(prometheus.GaugeValue, float64(r.NoAnswer))
			}
		}},
}

// checkpointSessions is the number of sessions with checkpoint ages.
func (s Status) checkpointSessions() int {
	if s.CheckpointAges == nil {
		return 0
	}
	return s.CheckpointAges.Sessions
}

// collector is a node's prometheus.Collector.
type collector struct {
	n     *Node
	descs []*prometheus.Desc
}

func newCollector(n *Node) *collector {
	c := &collector{n: n}
	for _, m := range metrics {
		c.descs = append(c.descs, prometheus.NewDesc(m.name, m.help, m.labels, nil))
	}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.n.Status()
	for i, m := range metrics {
		m.emit(emitter{ch, c.descs[i]}, &s)
	}
}

// Collector returns the node's metrics (tcptake_ha_*), read from its
// Status at each collection, for a service that registers them in its own
// prometheus.Registry.
func (n *Node) Collector() prometheus.Collector { return n.collector }

// MetricsHandler serves the node's metrics in the Prometheus exposition
// formats, from a registry of their own (not the default one), for a
// service that embeds the node to mount where it likes;
// Options.MetricsListen serves it on /metrics.
func (n *Node) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.collector) // descriptors are the package's own: valid
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// serveMetrics serves MetricsHandler on /metrics until ctx is done.
func (n *Node) serveMetrics(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.MetricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: n.o.HandshakeTimeout}
	context.AfterFunc(ctx, func() { srv.Close() })
	if err := srv.Serve(l); ctx.Err() == nil {
		return err
	}
	return nil
}
