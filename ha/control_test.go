package ha

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestControlHelper is the client that TestControlRefusesNonRoot runs as
// another user.
func TestControlHelper(t *testing.T) {
	path := os.Getenv("HA_CONTROL_HELPER")
	if path == "" {
		t.Skip("helper process only")
	}
	_, err := Control(context.Background(), path, ControlRequest{Op: "status"})
	fmt.Println("HELPER:", err)
}

func TestControlRefusesNonRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	act, _ := pair(t)
	dir, err := os.MkdirTemp("", "ha-control")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "ctl.sock")
	l, err := listenControl(path)

	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go act.serve(ctx, l, func(c net.Conn) { act.control(ctx, c.(*net.UnixConn)) })
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v %v", fi.Mode(), err)
	}
	// root is served
	resp, err := Control(ctx, path, ControlRequest{Op: "status"})
	if err != nil || resp.Status == nil || resp.Status.Role != RoleActive {
		t.Fatalf("root: %+v %v", resp, err)
	}
	if _, err := Control(ctx, path, ControlRequest{Op: "frob"}); err == nil || !strings.Contains(err.Error(), "unknown operation") {
		t.Fatalf("unknown op: %v", err)
	}
	// the test binary, where nobody may run it
	bin := filepath.Join(dir, "ha.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	asNobody := func() string {
		cmd := exec.Command(bin, "-test.run=^TestControlHelper$")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HA_CONTROL_HELPER="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v: %s", err, out)
		}
		return string(out)
	}
	// The file mode keeps others out ...
	if out := asNobody(); !strings.Contains(out, "permission denied") {
		t.Fatalf("nobody through the 0600 socket: %s", out)
	}
	// ... and were it opened, the credentials check refuses them.
	os.Chmod(path, 0o666)
	if out := asNobody(); !strings.Contains(out, "uid 65534 is not root") {
		t.Fatalf("nobody through an open socket: %s", out)
	}
	if st, se, re := act.ops.count(); st+se+re != 0 {
		t.Fatal("session operations")
	}
}
