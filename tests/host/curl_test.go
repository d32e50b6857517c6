//go:build linux

package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tcptake/tcptake/examples/node"
)

// TestCurlMigration (a): curl downloads a 4 MiB body at 1 MiB/s from the
// rateserver on act through the service address; a quarter of the way in,
// the rateserver hands its sessions to the rateserver on sby (SIGUSR1:
// stop+get on act, images over a unix socket, set on sby, service address
// moves, restart on sby, release on act). The body curl saved must be
// byte-exact (length and sha256), curl must exit 0, and the client must
// see no RST.
func TestCurlMigration(t *testing.T) {
	needTool(t, "curl")
	for _, v6 := range []bool{false, true} {
		t.Run(family(v6), func(t *testing.T) { testCurl(t, v6) })
	}
}

func testCurl(t *testing.T, v6 bool) {
	e := newEnv(t)
	bin := binary(t, "rateserver")
	dir := t.TempDir()
	actSock, sbySock := filepath.Join(dir, "act.sock"), filepath.Join(dir, "sby.sock")
	args := func(me, peer string) []string {
		return []string{"-listen", vip(false, 8080).String(), "-listen", vip(true, 8080).String(),
			"-vip", "192.0.2.100/24@eth0", "-vip", "2001:db8::100/64@eth0",
			"-handoff", me, "-peer", peer, "-rate", "1048576"}
	}
	act := startServer(t, e.Act, bin, args(actSock, sbySock)...)
	sby := startServer(t, e.Sby, bin, args(sbySock, actSock)...)

	const size = 4 << 20
	out := filepath.Join(dir, "body")
	url := fmt.Sprintf("http://%s/body?size=%d", vip(v6, 8080), size)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	curl := e.Cli.Command(ctx, "curl", "-sS", "-g", "--max-time", "50", "-o", out, url)
	curl.Stdout, curl.Stderr = testWriter{t}, testWriter{t}
	start := time.Now()
	if err := curl.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "curl to have 1 MiB", func() bool {
		fi, err := os.Stat(out)
		return err == nil && fi.Size() >= 1<<20
	})
	if err := act.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	pushed := act.next(t, 20*time.Second)
	taken := sby.next(t, 20*time.Second)
	for _, ev := range []map[string]any{pushed, taken} {
		if ev["err"] != nil || ev["sessions"] != 1.0 {
			t.Fatalf("handoff event %v: want 1 session, no error", ev)
		}
	}
	for _, d := range pushed["detail"].([]any) {
		d := d.(map[string]any)
		if d["mss_before"] != d["mss_after"] || d["mss_after"] == 524.0 || d["mss_after"] == 0.0 {
			t.Errorf("session %v: snd_mss %v before, %v after (want equal, not 524)", d["tuple"], d["mss_before"], d["mss_after"])
		}
	}
	t.Logf("handoff: image %v B, stop+get %v µs, set %v µs, restart %v µs, blackout %.1f ms",
		pushed["image_bytes"], pushed["stop_get_us"], pushed["set_us"], pushed["restart_us"], pushed["blackout_us"].(float64)/1000)

	if err := curl.Wait(); err != nil {
		t.Fatalf("curl: %v", err)
	}
	elapsed := time.Since(start)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	node.Body(0, want)
	if len(got) != size || sum(got) != sum(want) {
		t.Fatalf("downloaded %d bytes sha256 %s, want %d bytes sha256 %s", len(got), sum(got), size, sum(want))
	}
	// 4 MiB at 1 MiB/s: about 4 s; a retransmission-timeout stall would add seconds.
	if elapsed > 7*time.Second {
		t.Errorf("download took %v, want < 7 s (4 s of transfer plus the handoff)", elapsed)
	}
	t.Logf("downloaded %d bytes in %v, sha256 %s", len(got), elapsed, sum(got))
	e.checkNoRST()
}
