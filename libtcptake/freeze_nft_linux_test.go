package libtcptake

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/nftables"
)

func setLen(t *testing.T, f *NFTFreezer, set *nftables.Set) int {
	t.Helper()
	els, err := f.c.GetSetElements(set)
	if err != nil {
		t.Fatal(err)
	}
	return len(els)
}

// TestNFTFreezerBatch freezes 10,000 tuples (several batches), checks the
// elements, thaws them, and checks thawing is idempotent.
func TestNFTFreezerBatch(t *testing.T) {
	inNewNetns(t, func() {
		ctx := context.Background()
		f := testFreezer(t)
		var ts []Tuple
		for i := range 10000 {
			ts = append(ts, Tuple{
				Local:  netip.MustParseAddrPort("[2001:db8::100]:80"),
				Remote: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), uint16(1024+i)),
			})
		}
		ts = append(ts, Tuple{Local: netip.MustParseAddrPort("192.0.2.100:80"), Remote: netip.MustParseAddrPort("192.0.2.1:4000")})
		if err := f.FreezeAll(ctx, ts); err != nil {
			t.Fatal(err)
		}
		if n := setLen(t, f, f.set6); n != 10000 {
			t.Fatalf("conns6 holds %d elements, want 10000 (one per tuple)", n)
		}
		if n := setLen(t, f, f.set4); n != 1 {
			t.Fatalf("conns4 holds %d elements, want 1", n)
		}
		if err := f.FreezeAll(ctx, ts[:10]); err != nil {
			t.Fatalf("freezing twice: %v", err)
		}
		if err := f.ThawAll(ctx, ts); err != nil {
			t.Fatal(err)
		}
		if n := setLen(t, f, f.set6) + setLen(t, f, f.set4); n != 0 {
			t.Fatalf("%d elements left after thaw", n)
		}
		if err := f.Thaw(ctx, ts[0], false); err != nil {
			t.Fatalf("thawing a thawed tuple: %v", err)
		}
		bad := Tuple{Local: netip.MustParseAddrPort("192.0.2.100:80"), Remote: netip.MustParseAddrPort("[2001:db8::1]:1")}
		if err := f.Freeze(ctx, bad); err == nil {
			t.Fatal("froze a tuple mixing IPv4 and IPv6")
		}

		// All or nothing: a bad tuple in the second batch leaves none of
		// the first frozen.
		if err := f.FreezeAll(ctx, append(ts[:nftTuplesPerBatch+10:nftTuplesPerBatch+10], bad)); err == nil {
			t.Fatal("froze a list holding a tuple mixing IPv4 and IPv6")
		}
		if n := setLen(t, f, f.set6) + setLen(t, f, f.set4); n != 0 {
			t.Fatalf("%d elements left after a failed FreezeAll", n)
		}

		// A dual-stack socket's view of an IPv4 session is the IPv4 tuple.
		mapped := Tuple{Local: netip.MustParseAddrPort("[::ffff:192.0.2.100]:80"), Remote: netip.MustParseAddrPort("[::ffff:192.0.2.1]:4000")}
		if err := f.Freeze(ctx, mapped); err != nil {
			t.Fatal(err)
		}
		if n4, n6 := setLen(t, f, f.set4), setLen(t, f, f.set6); n4 != 1 || n6 != 0 {
			t.Fatalf("a v4-mapped tuple: conns4 %d, conns6 %d elements, want 1 and 0", n4, n6)
		}
		if err := f.Thaw(ctx, ts[len(ts)-1], false); err != nil {
			t.Fatal(err)
		}
		if n := setLen(t, f, f.set4); n != 0 {
			t.Fatalf("thawing the IPv4 tuple left %d elements in conns4", n)
		}
	})
}

// TestNFTFreezerDrops checks a freeze drops both directions and expires.
func TestNFTFreezerDrops(t *testing.T) {
	inNewNetns(t, func() {
		ctx := context.Background()
		f := testFreezer(t)
		f.Timeout = 1500 * time.Millisecond
		client, server := pair(t, "127.0.0.1:0")
		defer client.Close()
		defer server.Close()
		tuple, err := fdTupleOf(server)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Freeze(ctx, tuple); err != nil {
			t.Fatal(err)
		}
		client.Write([]byte("ping"))
		server.Write([]byte("pong"))
		var b [4]byte
		for _, c := range []interface {
			SetReadDeadline(time.Time) error
			Read([]byte) (int, error)
		}{server, client} {
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if n, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read %d bytes through a freeze (%v)", n, err)
			}
		}
		// The freeze expires by itself; the retransmissions get through.
		if got := readN(t, server, 4); string(got) != "ping" {
			t.Fatalf("server read %q after expiry", got)
		}
		if got := readN(t, client, 4); string(got) != "pong" {
			t.Fatalf("client read %q after expiry", got)
		}
	})
}

// TestNFTFreezerRenew checks that freezing a frozen tuple again restarts
// its timeout (the ha keeper renews long switchovers' freezes so), for
// the tuples of a whole batch, and that a new tuple in the same batch is
// frozen as usual.
func TestNFTFreezerRenew(t *testing.T) {
	inNewNetns(t, func() {
		ctx := context.Background()
		f := testFreezer(t)
		f.Timeout = 10 * time.Second
		var ts []Tuple
		for i := range 3 {
			ts = append(ts, Tuple{Local: netip.MustParseAddrPort("192.0.2.100:80"),
				Remote: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(4000+i))})
		}
		if err := f.FreezeAll(ctx, ts[:2]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		if err := f.FreezeAll(ctx, ts); err != nil {
			t.Fatal(err)
		}
		els, err := f.c.GetSetElements(f.set4)
		if err != nil {
			t.Fatal(err)
		}
		if len(els) != len(ts) {
			t.Fatalf("conns4 holds %d elements, want %d", len(els), len(ts))
		}
		for _, el := range els {
			// Renewed: the whole timeout left, less this test's own
			// few milliseconds; not renewed, 8.5 s.
			if el.Expires < 9500*time.Millisecond || el.Expires > f.Timeout {
				t.Errorf("element %x expires in %v after a renewal, want (9.5 s, %v]", el.Key, el.Expires, f.Timeout)
			}
		}
	})
}
