package ha

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Role is what a node does now.
type Role uint8

const (
	// RoleStandby receives sessions and never serves them on its own.
	RoleStandby Role = iota
	// RoleActive serves the sessions and holds the service address.
	RoleActive
)

func (r Role) String() string {
	if r == RoleActive {
		return "active"
	}
	return "standby"
}

// ParseRole parses "active" or "standby".
func ParseRole(s string) (Role, error) {
	switch s {
	case "active":
		return RoleActive, nil
	case "standby":
		return RoleStandby, nil
	}
	return 0, fmt.Errorf("role %q: want active or standby", s)
}

func (r Role) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

func (r *Role) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseRole(s)
	*r = v
	return err
}

// epochStore keeps the epoch across restarts when a file is configured,
// so that a restarted node never comes back believing an older epoch.
type epochStore struct{ path string }

func (s epochStore) load() (uint64, error) {
	if s.path == "" {
		return 0, nil
	}
	b, err := os.ReadFile(s.path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// save writes the epoch durably (temporary file, fsync, rename).
func (s epochStore) save(e uint64) error {
	if s.path == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".epoch")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := fmt.Fprintf(tmp, "%d\n", e); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}
