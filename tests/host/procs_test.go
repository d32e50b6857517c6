package host

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tcptake/tcptake/tests/host/topo"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds the example programs once per test run and returns the
// path of one of them.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "tcptake-hosttest-")
		if buildErr != nil {
			return
		}
		for p, pkg := range map[string]string{
			"rateserver": "examples/rateserver", "echoserver": "examples/echoserver",
			"streamd": "examples/streamd", "tcptakectl": "ctl",
		} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, p),
				"github.com/tcptake/tcptake/"+pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", p, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

func needTool(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (ci/hosttest.sh installs it)", tool)
		}
	}
}

// server is an example server process in a namespace, reporting events
// as JSON lines on its stdout.
type server struct {
	cmd    *exec.Cmd
	events chan map[string]any
}

func startServer(t *testing.T, n *topo.Netns, bin string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{cmd: n.Command(ctx, bin, args...), events: make(chan map[string]any, 16)}
	s.cmd.Stderr = testWriter{t}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		s.cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			t.Logf("%s: %s", n.Role, sc.Text())
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				s.events <- ev
			}
		}
		close(s.events)
	}()
	if ev := s.next(t, 10*time.Second); ev["event"] != "ready" {
		t.Fatalf("%s: first event %v, want ready", n.Role, ev)
	}
	return s
}

func (s *server) next(t *testing.T, d time.Duration) map[string]any {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatalf("server exited: %v", s.cmd.Wait())
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no event from the server within %v", d)
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
