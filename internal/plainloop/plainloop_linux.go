//go:build linux

// Package plainloop is the benchmarks' baseline: a plain serial
// TCP_REPAIR dump → restore loop in one process, libsoccr's call sequence
// (CRIU's soccr.c), no pipelining, no freeze, no module. Its image is in
// memory: a 64-byte fixed header (the 4-tuple, state, options, window
// scales, mss_clamp, timestamp, the five window fields, two sequence
// numbers, three lengths) and the queue bytes. IPv4 only.
package plainloop

import (
	"encoding/binary"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// HeaderBytes is the image's size beyond its queue bytes.
const HeaderBytes = 64

// Image is one session's state.
type Image struct {
	Local, Remote  unix.SockaddrInet4
	options        uint8
	sndWS, rcvWS   uint8
	mss, tsval     uint32
	window         [5]uint32 // snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup
	inqSeq, outSeq uint32
	inq, outq      []byte
	unsent         int
}

// Kernel constants golang.org/x/sys/unix lacks.
const (
	tcpRecvQueue    = 1
	tcpSendQueue    = 2
	tcpoptMSS       = 2
	tcpoptWindow    = 3
	tcpoptSACKPerm  = 4
	tcpoptTimestamp = 8
	tcpiTimestamps  = 1
	tcpiSACK        = 2
	tcpiWScale      = 4
)

// Sockaddr4 is a (TCP, IPv4) address as the image keeps it.
func Sockaddr4(a net.Addr) unix.SockaddrInet4 {
	ta := a.(*net.TCPAddr)
	return unix.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ta.IP.To4())}
}

func getBytes(fd, opt int, b []byte) error {
	l := uint32(len(b))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, uintptr(opt),
		uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return nil
}

func setTCP(fd, opt, v int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, opt, v) }

// Dump is libsoccr_pause + libsoccr_save: 14 calls for a session with
// timestamps and data in both queues (the close is the 15th).
func Dump(fd int, img *Image) error {
	if err := setTCP(fd, unix.TCP_REPAIR, 1); err != nil {
		return fmt.Errorf("TCP_REPAIR: %w", err)
	}
	var info [8]byte
	if err := getBytes(fd, unix.TCP_INFO, info[:7]); err != nil {
		return fmt.Errorf("TCP_INFO: %w", err)
	}
	if info[0] != unix.BPF_TCP_ESTABLISHED {
		return fmt.Errorf("state %d", info[0])
	}
	img.options = info[5]
	img.sndWS, img.rcvWS = info[6]&0xf, info[6]>>4
	outq, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return err
	}
	if img.unsent, err = unix.IoctlGetInt(fd, unix.SIOCOUTQNSD); err != nil {
		return err
	}
	inq, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return err
	}
	mss, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG)
	if err != nil {
		return err
	}
	img.mss = uint32(mss)
	if img.options&tcpiTimestamps != 0 {
		ts, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_TIMESTAMP)
		if err != nil {
			return err
		}
		img.tsval = uint32(ts)
	}
	var w [20]byte
	if err := getBytes(fd, unix.TCP_REPAIR_WINDOW, w[:]); err != nil {
		return fmt.Errorf("TCP_REPAIR_WINDOW: %w", err)
	}
	for i := range img.window {
		img.window[i] = binary.NativeEndian.Uint32(w[4*i:])
	}
	if img.inqSeq, img.inq, err = dumpQueue(fd, tcpRecvQueue, inq); err != nil {
		return err
	}
	img.outSeq, img.outq, err = dumpQueue(fd, tcpSendQueue, outq)
	return err
}

func dumpQueue(fd, q, n int) (uint32, []byte, error) {
	if err := setTCP(fd, unix.TCP_REPAIR_QUEUE, q); err != nil {
		return 0, nil, err
	}
	seq, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return uint32(seq), nil, nil
	}
	b := make([]byte, n+1)
	got, _, err := unix.Recvfrom(fd, b, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != nil {
		return 0, nil, fmt.Errorf("peek queue %d: %w", q, err)
	}
	if got != n {
		return 0, nil, fmt.Errorf("queue %d: %d bytes, expected %d", q, got, n)
	}
	return uint32(seq), b[:n], nil
}

// Restore is libsoccr_restore and libsoccr_resume, and CRIU's
// SO_REUSEADDR after them, with two calls more than libsoccr: IP_TRANSPARENT, so
// the socket is built before the service address arrives (as tcptake's),
// and TCP_MAXSEG before connect, so the session does not run at MSS 524
// (restored MSS equal to the original). 18 calls for a session with data
// in both queues.
func Restore(img *Image) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, err
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("restore %s: %w", what, err)
	}
	if err := setTCP(fd, unix.TCP_REPAIR, 1); err != nil {
		return fail("TCP_REPAIR", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TRANSPARENT, 1); err != nil {
		return fail("IP_TRANSPARENT", err)
	}
	if err := unix.Bind(fd, &img.Local); err != nil {
		return fail("bind", err)
	}
	for _, q := range []struct {
		q   int
		seq uint32
	}{{tcpRecvQueue, img.inqSeq - uint32(len(img.inq))}, {tcpSendQueue, img.outSeq - uint32(len(img.outq))}} {
		if err := setTCP(fd, unix.TCP_REPAIR_QUEUE, q.q); err != nil {
			return fail("TCP_REPAIR_QUEUE", err)
		}
		if err := setTCP(fd, unix.TCP_QUEUE_SEQ, int(int32(q.seq))); err != nil {
			return fail("TCP_QUEUE_SEQ", err)
		}
	}
	if err := setTCP(fd, unix.TCP_MAXSEG, int(img.mss)); err != nil {
		return fail("TCP_MAXSEG", err)
	}
	if err := unix.Connect(fd, &img.Remote); err != nil {
		return fail("connect", err)
	}
	opts := binary.NativeEndian.AppendUint32(nil, tcpoptMSS)
	opts = binary.NativeEndian.AppendUint32(opts, img.mss)
	if img.options&tcpiWScale != 0 {
		opts = binary.NativeEndian.AppendUint32(opts, tcpoptWindow)
		opts = binary.NativeEndian.AppendUint32(opts, uint32(img.sndWS)|uint32(img.rcvWS)<<16)
	}
	if img.options&tcpiSACK != 0 {
		opts = binary.NativeEndian.AppendUint32(opts, tcpoptSACKPerm)
		opts = binary.NativeEndian.AppendUint32(opts, 0)
	}
	if img.options&tcpiTimestamps != 0 {
		opts = binary.NativeEndian.AppendUint32(opts, tcpoptTimestamp)
		opts = binary.NativeEndian.AppendUint32(opts, 0)
	}
	if err := unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_OPTIONS, string(opts)); err != nil {
		return fail("TCP_REPAIR_OPTIONS", err)
	}
	if img.options&tcpiTimestamps != 0 {
		if err := setTCP(fd, unix.TCP_TIMESTAMP, int(int32(img.tsval))); err != nil {
			return fail("TCP_TIMESTAMP", err)
		}
	}
	sent := img.outq[:len(img.outq)-img.unsent]
	for _, q := range []struct {
		q int
		b []byte
	}{{tcpRecvQueue, img.inq}, {tcpSendQueue, sent}} {
		if len(q.b) == 0 {
			continue
		}
		if err := setTCP(fd, unix.TCP_REPAIR_QUEUE, q.q); err != nil {
			return fail("TCP_REPAIR_QUEUE", err)
		}
		if _, err := unix.Write(fd, q.b); err != nil {
			return fail("write queue", err)
		}
	}
	var w [20]byte
	for i, v := range img.window {
		binary.NativeEndian.PutUint32(w[4*i:], v)
	}
	if err := unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_WINDOW, string(w[:])); err != nil {
		return fail("TCP_REPAIR_WINDOW", err)
	}
	if err := setTCP(fd, unix.TCP_REPAIR, 0); err != nil {
		return fail("TCP_REPAIR off", err)
	}
	// Leaving repair clears sk_reuse; CRIU sets SO_REUSEADDR again.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	if img.unsent > 0 {
		if _, err := unix.Write(fd, img.outq[len(sent):]); err != nil {
			return fail("write unsent", err)
		}
	}
	return fd, nil
}
