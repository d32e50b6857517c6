package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcptake/tcptake/ha"
)

func TestKeygen(t *testing.T) {
	out := filepath.Join(t.TempDir(), "node.key")
	stdout, stderr, code := runCtl(t, nil, "keygen", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Count(stdout, "\n") != 1 {
		t.Fatalf("want one line, got %q", stdout)
	}
	pub, err := ha.ParsePublicKey(stdout)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	key, err := ha.LoadKey(out)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(key.Public()) {
		t.Fatal("printed public key is not the file's")
	}
	// --peer-key takes the line or a file holding it
	pf := filepath.Join(t.TempDir(), "peer.pub")
	os.WriteFile(pf, []byte(stdout), 0o644)
	if p2, err := ha.LoadPublicKey(pf); err != nil || !p2.Equal(pub) {
		t.Fatalf("public key file: %v", err)
	}
	if p2, err := ha.LoadPublicKey(strings.TrimSpace(stdout)); err != nil || !p2.Equal(pub) {
		t.Fatalf("public key line: %v", err)
	}

	// never overwritten
	_, stderr, code = runCtl(t, nil, "keygen", out)
	if code != 1 || !strings.Contains(stderr, "remove it first") {
		t.Fatalf("existing file: exit %d, %q", code, stderr)
	}
	if k2, _ := ha.LoadKey(out); !k2.Equal(key) {
		t.Fatal("key file was overwritten")
	}
	// a key others may read is refused
	os.Chmod(out, 0o644)
	if _, err := ha.LoadKey(out); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("mode 0644 key accepted: %v", err)
	}

	if _, _, code := runCtl(t, nil, "keygen"); code != 2 {
		t.Fatalf("keygen without OUT: exit %d, want 2", code)
	}
	out2 := filepath.Join(t.TempDir(), "j.key")
	stdout, _, code = runCtl(t, nil, "-j", "keygen", out2)
	var j struct {
		Key       string `json:"key"`
		PublicKey string `json:"public_key"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &j) != nil || j.Key != out2 || !strings.HasPrefix(j.PublicKey, "tcptake-ed25519 ") {
		t.Fatalf("keygen -j: exit %d, %q", code, stdout)
	}
}
