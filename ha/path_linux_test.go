package ha

import (
	"io"
	"testing"
	"time"
)

// TestConnRTO reads a live loopback session's path RTO: a few round
// trips of microseconds, far below the kernel's 200 ms floor; a closed
// conn's is 0.
func TestConnRTO(t *testing.T) {
	c, s := loopback(t)
	for range 5 {
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
	}
	if rto := connRTO(s); rto <= 0 || rto >= 50*time.Millisecond {
		t.Errorf("loopback path RTO %v, want (0, 50ms)", rto)
	}
	s.Close()
	if rto := connRTO(s); rto != 0 {
		t.Errorf("closed conn's path RTO %v, want 0", rto)
	}
}
