//go:build cgo

// Package uapicheck proves the Go constants (internal/tcptakeh) equal the
// C uapi header (uapi/linux/tcptake.h): both come from uapi/tcptake.yaml,
// through two generators.
package uapicheck

import "testing"

func TestGoMatchesUAPIHeader(t *testing.T) {
	if len(Ints) < 100 {
		t.Fatalf("only %d constants compared", len(Ints))
	}
	for _, c := range Ints {
		if c.Go != c.C {
			t.Errorf("%s = %d in Go, %d in the C header", c.Name, c.Go, c.C)
		}
	}
	for _, c := range Strings {
		if c.Go != c.C {
			t.Errorf("%s = %q in Go, %q in the C header", c.Name, c.Go, c.C)
		}
	}
}
