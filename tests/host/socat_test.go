//go:build linux

package host

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tcptake/tcptake/examples/node"
)

// TestSocatMigration (b): socat on the client streams 4 MiB of random
// bytes through an echo service (1 MiB/s) on act and writes what comes
// back; a quarter of the way in, the session moves to sby with the service
// address. What socat wrote must equal what it read, byte for byte.
func TestSocatMigration(t *testing.T) {
	needTool(t, "socat")
	for _, v6 := range []bool{false, true} {
		t.Run(family(v6), func(t *testing.T) { testSocat(t, v6) })
	}
}

func testSocat(t *testing.T, v6 bool) {
	e := newEnv(t)
	act := newNode(t, e.Act, node.Echo{Rate: 1 << 20})
	sby := newNode(t, e.Sby, node.Echo{Rate: 1 << 20})
	listen(t, e.Act, act, vip(v6, 7))
	listen(t, e.Sby, sby, vip(v6, 7))

	const size = 4 << 20
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fin, _ := os.Open(in)
	defer fin.Close()
	fout, _ := os.Create(out)
	defer fout.Close()
	addr := fmt.Sprintf("TCP4:%s", vip(v6, 7))
	if v6 {
		addr = fmt.Sprintf("TCP6:%s", vip(v6, 7))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	socat := e.Cli.Command(ctx, "socat", "-b", "65536", "-t", "30", "STDIO", addr)
	socat.Stdin, socat.Stdout, socat.Stderr = fin, fout, testWriter{t}
	start := time.Now()
	if err := socat.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "1 MiB to come back", func() bool {
		fi, err := fout.Stat()
		return err == nil && fi.Size() >= 1<<20
	})
	migrate(t, act, sby, 1)
	if err := socat.Wait(); err != nil {
		t.Fatalf("socat: %v", err)
	}
	got, _ := os.ReadFile(out)
	if len(got) != size || sum(got) != sum(data) {
		t.Fatalf("got back %d bytes sha256 %s, sent %d bytes sha256 %s", len(got), sum(got), size, sum(data))
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Errorf("echo took %v, want < 8 s (4 s at 1 MiB/s plus the handoff)", el)
	}
	e.checkNoRST()
}
