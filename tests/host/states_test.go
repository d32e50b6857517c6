//go:build linux

package host

import (
	"bytes"
	"testing"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

// TestStates (d): the server side of a session is driven into each
// movable TCP state with shutdown() sequences and a client that drops the
// server's segments when a FIN must stay unacknowledged; it is stopped,
// its image must carry that state, it moves to sby, and then the close is
// completed both ways: each side must read the other's exact bytes and a
// clean EOF, and no RST may cross the client's link.
func TestStates(t *testing.T) {
	cases := []struct {
		want libtcptake.State
		// cliShut/srvShut: that side's write side is shut at stop time.
		cliShut, srvShut bool
		setup            func(t *testing.T, p *pair)
	}{
		{libtcptake.StateEstablished, false, false, func(t *testing.T, p *pair) {}},
		{libtcptake.StateFinWait1, false, true, func(t *testing.T, p *pair) {
			drop(t, p.e.Cli, p.port) // our FIN is never acked
			p.srv.CloseWrite()
		}},
		{libtcptake.StateFinWait2, false, true, func(t *testing.T, p *pair) {
			p.srv.CloseWrite()
		}},
		{libtcptake.StateCloseWait, true, false, func(t *testing.T, p *pair) {
			p.cli.CloseWrite()
		}},
		{libtcptake.StateLastAck, true, true, func(t *testing.T, p *pair) {
			p.cli.CloseWrite()
			waitState(t, p, libtcptake.StateCloseWait)
			drop(t, p.e.Cli, p.port)
			p.srv.CloseWrite()
		}},
		{libtcptake.StateClosing, true, true, func(t *testing.T, p *pair) {
			drop(t, p.e.Cli, p.port)
			p.srv.CloseWrite()
			waitState(t, p, libtcptake.StateFinWait1)
			p.cli.CloseWrite() // crosses our unacked FIN: simultaneous close
		}},
	}
	for _, v6 := range []bool{false, true} {
		for _, c := range cases {
			t.Run(family(v6)+"/"+c.want.String(), func(t *testing.T) {
				e := newEnv(t)
				p := newPair(t, e, v6, 8100, nil)
				a1, b1 := pattern(6, 0, 1500), pattern(7, 0, 2500)
				if _, err := p.cli.Write(a1); err != nil {
					t.Fatal(err)
				}
				if _, err := p.srv.Write(b1); err != nil {
					t.Fatal(err)
				}
				got := collect(p.cli, len(b1))
				got.waitMark(t)
				waitFor(t, 5*time.Second, "the client's bytes in the server's receive queue", func() bool {
					return ioctl(p.srv, 0x541B /* SIOCINQ */) == len(a1)
				})
				c.setup(t, p)
				waitState(t, p, c.want)
				sess, img := p.stop(t, opts(t, e.Act))
				if img.State != c.want {
					t.Fatalf("image state %v, want %v", img.State, c.want)
				}
				if !bytes.Equal(img.RecvQueue, a1) {
					t.Errorf("image receive queue holds %d bytes, want the %d unread bytes", len(img.RecvQueue), len(a1))
				}
				undrop2(t, p)
				conn, _ := p.moveTo(t, sess, img, opts(t, e.Act), opts(t, e.Sby))

				// Complete the close both ways.
				a2, b2 := pattern(8, 0, 3000), pattern(9, 0, 4000)
				wantSrv, wantCli := append([]byte{}, a1...), append([]byte{}, b1...)
				if !c.srvShut {
					if _, err := conn.Write(b2); err != nil {
						t.Fatalf("server write after restart: %v", err)
					}
					conn.CloseWrite()
					wantCli = append(wantCli, b2...)
				}
				if !c.cliShut {
					if _, err := p.cli.Write(a2); err != nil {
						t.Fatalf("client write after restart: %v", err)
					}
					p.cli.CloseWrite()
					wantSrv = append(wantSrv, a2...)
				}
				fromCli, err := readAll(conn, 10*time.Second)
				if err != nil {
					t.Errorf("server: %v", err)
				}
				if !bytes.Equal(fromCli, wantSrv) {
					t.Errorf("server read %d bytes then EOF, want %d exact bytes", len(fromCli), len(wantSrv))
				}
				toCli, err := got.wait(t)
				if err != nil {
					t.Errorf("client: %v (want a clean EOF)", err)
				}
				if !bytes.Equal(toCli, wantCli) {
					t.Errorf("client read %d bytes then EOF, want %d exact bytes", len(toCli), len(wantCli))
				}
				conn.Close()
				p.cli.Close()
				// Let the last FIN/ACK exchange happen before counting RSTs.
				l, r := p.tuple()
				waitFor(t, 5*time.Second, "both ends to finish closing", func() bool {
					for _, s := range append(e.Sby.Sockets(l, r), e.Cli.Sockets(r, l)...) {
						if !bytes.HasPrefix([]byte(s), []byte("TIME-WAIT")) {
							return false
						}
					}
					return true
				})
				e.checkNoRST()
			})
		}
	}
}

func waitState(t *testing.T, p *pair, want libtcptake.State) {
	t.Helper()
	waitFor(t, 5*time.Second, "server state "+want.String(), func() bool { return state(p.srv) == want })
}

// undrop2 lifts the client's drop rule if a case installed one.
func undrop2(t *testing.T, p *pair) {
	if _, err := p.e.Cli.Try("nft", "list", "table", "inet", "ttloss"); err == nil {
		undrop(t, p.e.Cli)
	}
}
