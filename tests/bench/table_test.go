//go:build linux

package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// writeTable writes bench.md (the table README's Performance section
// reproduces) and bench.svg (blackout against N, both sides, medians with
// min–max bars), and prints the table.
func (b *bench) writeTable(ns []int, kernel string) {
	var md strings.Builder
	fmt.Fprintf(&md, "Kernel %s, %d CPUs shared by the clients, both nodes and the bridge; %d + %d pingers, the latter behind a %s/s bottleneck with %d %% loss each way; medians over the runs, tcptake / baseline (ratio).\n\n",
		kernel, numCPU(), b.pingers, b.lossy, lossyRate, b.loss)
	cols := []struct{ head, fig string }{
		{"blackout ms", "blackout_ms"}, {"freeze ms", "freeze_ms"}, {"client stall p99 ms", "stall_p99_ms"},
		{"lossy client stall p99 ms", "stall_lossy_p99_ms"}, {"lossy, before the move, p99 ms", "stall_lossy_nomove_p99_ms"},
		{"lossy / fast stall p99", "stall_lossy_vs_fast"},
		{"the move's stall p50 ms", "stall_move_p50_ms"}, {"lossy, the move's stall p50 ms", "stall_lossy_move_p50_ms"},
		{"lossy, the same before the move, p50 ms", "stall_lossy_move_nomove_p50_ms"},
		{"dump µs/session", "dump_us"}, {"restore µs/session", "restore_us"}, {"in-flight data after the blackout, ms", "inflight_ms"},
		{"image B/session beyond queues", "image_bytes"}, {"checkpoint µs/session", "checkpoint_us"},
	}
	md.WriteString("| N |")
	for _, c := range cols {
		md.WriteString(" " + c.head + " |")
	}
	md.WriteString(" MSS | peak RSS active / standby MiB |\n|---|")
	md.WriteString(strings.Repeat("---|", len(cols)+2) + "\n")
	med := func(vs []float64) string {
		if len(vs) == 0 {
			return "-"
		}
		_, m, _ := mmm(vs)
		return num(m)
	}
	for _, n := range ns {
		r := b.results[n]
		fmt.Fprintf(&md, "| %d |", n)
		for _, c := range cols {
			t, p := r.v[tcptake][c.fig], r.v[baseline][c.fig]
			fmt.Fprintf(&md, " %s / %s (%s) |", med(t), med(p), ratio(t, p))
		}
		fmt.Fprintf(&md, " %s / %s | %s / %s |\n", med(r.v[tcptake]["mss"]), med(r.v[baseline]["mss"]),
			med(r.v[tcptake]["rss_active_mib"]), med(r.v[tcptake]["rss_standby_mib"]))
	}
	md.WriteString("\nFigures:\n\n")
	for _, f := range figures {
		fmt.Fprintf(&md, "- `%s`: %s\n", f.name, f.what)
	}
	os.WriteFile(filepath.Join(b.out, "bench.md"), []byte(md.String()), 0o644)
	os.WriteFile(filepath.Join(b.out, "bench.svg"), []byte(b.plot(ns)), 0o644)
	fmt.Print(md.String())
	progress("wrote %s and %s", filepath.Join(b.out, "bench.md"), filepath.Join(b.out, "bench.svg"))
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t")
}

// plot draws blackout (ms, log scale) against N (log scale).
func (b *bench) plot(ns []int) string {
	const w, h, m = 640, 400, 60
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, n := range ns {
		for side := range 2 {
			for _, v := range b.results[n].v[side]["blackout_ms"] {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	lo, hi = math.Pow(10, math.Floor(math.Log10(math.Max(lo, 0.01)))), math.Pow(10, math.Ceil(math.Log10(math.Max(hi, 0.1))))
	nlo, nhi := math.Log10(float64(ns[0])), math.Log10(float64(ns[len(ns)-1]))
	if nhi == nlo {
		nlo, nhi = nlo-1, nhi+1
	}
	x := func(n int) float64 { return m + (math.Log10(float64(n))-nlo)/(nhi-nlo)*(w-2*m) }
	y := func(v float64) float64 {
		return h - m - (math.Log10(math.Max(v, lo))-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*(h-2*m)
	}
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="20">blackout (ms) against sessions N, log–log; bars: min–max</text>`+"\n", m)
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n",
		m, h-m, w-m, h-m, m, m, m, h-m)
	for d := lo; d <= hi*1.001; d *= 10 {
		fmt.Fprintf(&s, `<text x="%d" y="%.0f" text-anchor="end">%g</text><line x1="%d" x2="%d" y1="%.0f" y2="%.0f" stroke="#ddd"/>`+"\n", m-5, y(d)+4, d, m, w-m, y(d), y(d))
	}
	for _, n := range ns {
		fmt.Fprintf(&s, `<text x="%.0f" y="%d" text-anchor="middle">%d</text>`+"\n", x(n), h-m+18, n)
	}
	for side, style := range []struct{ name, color string }{{"tcptake switchover", "#c0392b"}, {"plain TCP_REPAIR loop", "#2c3e50"}} {
		var pts []string
		for _, n := range ns {
			vs := b.results[n].v[side]["blackout_ms"]
			if len(vs) == 0 {
				continue
			}
			vlo, med, vhi := mmm(vs)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(n), y(med)))
			fmt.Fprintf(&s, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/><circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n",
				x(n), x(n), y(vlo), y(vhi), style.color, x(n), y(med), style.color)
		}
		fmt.Fprintf(&s, `<polyline points="%s" fill="none" stroke="%s"/><text x="%d" y="%d" fill="%s">%s</text>`+"\n",
			strings.Join(pts, " "), style.color, m+10, m+15*side, style.color, style.name)
	}
	s.WriteString("</svg>\n")
	return s.String()
}
