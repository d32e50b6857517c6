package libtcptake_test

import (
	"bytes"
	"context"
	"log"
	"net"

	"github.com/tcptake/tcptake/libtcptake"
)

// The four operations: the active node stops a session and gets its image,
// the image travels, the standby sets it onto a new socket and restarts it.
func Example() {
	ctx := context.Background()
	var conn *net.TCPConn // a session the application accepted (plain TCP, not MPTCP)

	// Active node.
	sess, err := libtcptake.Stop(ctx, conn, nil) // freeze + TCP_REPAIR
	if err != nil {
		log.Fatal(err)
	}
	img, err := sess.Get()
	if err != nil {
		log.Fatal(err)
	}
	img.AppState = []byte("offset=4096") // the application's state, same instant
	var link bytes.Buffer                // stands for the sync link
	if err := libtcptake.WriteImage(&link, img); err != nil {
		log.Fatal(err)
	}

	// Standby node (after the service address moved).
	img2, err := libtcptake.ReadImage(&link)
	if err != nil {
		log.Fatal(err)
	}
	restored, err := libtcptake.Set(ctx, img2, nil)
	if err != nil {
		log.Fatal(err)
	}
	conn2, err := restored.Restart(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer conn2.Close()

	// Active node again: the old socket goes away without FIN or RST.
	sess.Release()
	conn.Close()
}

// A checkpoint stops a session for microseconds and resumes it in place.
func ExampleSession_Restart_checkpoint() {
	ctx := context.Background()
	var conn *net.TCPConn
	sess, err := libtcptake.Stop(ctx, conn, nil)
	if err != nil {
		log.Fatal(err)
	}
	img, err := sess.Get()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := sess.Restart(ctx); err != nil {
		log.Fatal(err)
	}
	_ = img // stream it to the standby
}
