//go:build linux

package node

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// Main is the whole program of an example server (newService may return
// nil to end the program after flag parsing): it listens, runs
// newService's sessions, takes sessions pushed to -handoff and, on SIGUSR1,
// pushes all of its sessions and the -vip addresses to -peer. It reports
// on stdout, one JSON object per line: {"event":"ready"}, {"event":"pushed",
// ...Report}, {"event":"taken", ...Report}, {"event":"error", "err":...}.
func Main(newService func() Service) {
	var listens, vipFlags listFlag
	flag.Var(&listens, "listen", "`ADDR:PORT` to serve on (repeatable; IP_FREEBIND, so a standby may listen on the service IP)")
	flag.Var(&vipFlags, "vip", "service address `ADDR/LEN@DEV` that moves with the sessions (repeatable)")
	handoff := flag.String("handoff", "", "unix socket `PATH` on which this node takes sessions from its peer")
	peer := flag.String("peer", "", "unix socket `PATH` of the peer; SIGUSR1 hands all sessions to it")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var vips []VIP
	for _, s := range vipFlags {
		v, err := ParseVIP(s)
		if err != nil {
			fatal(err)
		}
		vips = append(vips, v)
	}
	svc := newService()
	if svc == nil { // the program did its job already
		return
	}
	n := &Node{Name: filepath.Base(os.Args[0]), Service: svc, Log: log}
	var out sync.Mutex
	emit := func(event string, rep *Report, err error) {
		m := map[string]any{"event": event}
		if rep != nil {
			b, _ := json.Marshal(rep)
			json.Unmarshal(b, &m)
		}
		if err != nil {
			m["err"] = err.Error()
		}
		b, _ := json.Marshal(m)
		out.Lock()
		fmt.Printf("%s\n", b)
		out.Unlock()
	}
	for _, a := range listens {
		l, err := Listen(a)
		if err != nil {
			fatal(err)
		}
		go n.Serve(l)
	}
	if *handoff != "" {
		os.Remove(*handoff)
		l, err := net.Listen("unix", *handoff)
		if err != nil {
			fatal(err)
		}
		defer os.Remove(*handoff)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				rep, err := n.Take(context.Background(), c, vips)
				c.Close()
				if err != nil {
					log.Error("take", "err", err)
				}
				emit("taken", rep, err)
			}
		}()
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	emit("ready", nil, nil)
	for s := range sig {
		if s != syscall.SIGUSR1 {
			return
		}
		if *peer == "" {
			log.Error("SIGUSR1 without -peer")
			continue
		}
		c, err := net.Dial("unix", *peer)
		if err != nil {
			emit("pushed", nil, err)
			continue
		}
		rep, err := n.Push(context.Background(), c, vips)
		c.Close()
		if err != nil {
			log.Error("push", "err", err)
		}
		emit("pushed", rep, err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
