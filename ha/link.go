package ha

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"time"
)

// The sync link: TLS 1.3 with pinned Ed25519 keys, then frames.
//
// Each frame is a 32-byte header and a payload:
//
//	magic "TH" | version 1 | type | epoch u64 | seq u64 | conn id [8] | length u32
//
// all big-endian. The first frame each way is a hello (seq 0, conn id
// zero) carrying a random nonce; every later frame carries the connection
// id derived from both nonces and the TLS session, and the sequence number
// 1, 2, … of its direction. A frame with another id or sequence — a frame
// recorded on another connection and replayed — is refused, as is one
// whose epoch is older than the highest the peer has sent, and one longer
// than the size limit (refused from its header, before any allocation).
const (
	protoVersion = 1
	headerLen    = 32
	// DefaultMaxFrame bounds a frame's payload.
	DefaultMaxFrame = 64 << 20
)

var frameMagic = [2]byte{'T', 'H'}

type frameHeader struct {
	typ    msgType
	epoch  uint64
	seq    uint64
	connID [8]byte
	length uint32
}

func (h *frameHeader) marshal(b []byte) {
	copy(b, frameMagic[:])
	b[2] = protoVersion
	b[3] = byte(h.typ)
	binary.BigEndian.PutUint64(b[4:], h.epoch)
	binary.BigEndian.PutUint64(b[12:], h.seq)
	copy(b[20:28], h.connID[:])
	binary.BigEndian.PutUint32(b[28:], h.length)
}

func parseHeader(b []byte, max uint32) (frameHeader, error) {
	var h frameHeader
	if b[0] != frameMagic[0] || b[1] != frameMagic[1] {
		return h, ErrBadFrame
	}
	if b[2] != protoVersion {
		return h, fmt.Errorf("%w %d", ErrVersion, b[2])
	}
	h.typ = msgType(b[3])
	h.epoch = binary.BigEndian.Uint64(b[4:])
	h.seq = binary.BigEndian.Uint64(b[12:])
	copy(h.connID[:], b[20:28])
	h.length = binary.BigEndian.Uint32(b[28:])
	if h.length > max {
		return h, fmt.Errorf("%w: %d > %d bytes", ErrFrameTooBig, h.length, max)
	}
	return h, nil
}

// frameConn reads and writes the frames of one connection.
type frameConn struct {
	rw  io.ReadWriter
	max uint32

	wmu     sync.Mutex
	sendSeq uint64

	connID    [8]byte
	recvSeq   uint64
	peerEpoch uint64 // highest epoch the peer sent on this link
}

// write sends frames of type typ at epoch, one per payload, in one write
// (one system call and as few TLS records as the bytes need).
func (c *frameConn) write(typ msgType, epoch uint64, payloads ...[]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	size := 0
	for _, p := range payloads {
		size += headerLen + len(p)
	}
	b := make([]byte, 0, size)
	for _, p := range payloads {
		h := frameHeader{typ: typ, epoch: epoch, seq: c.sendSeq, connID: c.connID, length: uint32(len(p))}
		if typ == msgHello {
			h.seq, h.connID = 0, [8]byte{}
		} else {
			c.sendSeq++
			h.seq = c.sendSeq
		}
		b = b[:len(b)+headerLen]
		h.marshal(b[len(b)-headerLen:])
		b = append(b, p...)
	}
	_, err := c.rw.Write(b)
	return err
}

// read returns the next frame; any error is fatal to the connection.
func (c *frameConn) read() (frameHeader, []byte, error) {
	var hb [headerLen]byte
	if _, err := io.ReadFull(c.rw, hb[:]); err != nil {
		return frameHeader{}, nil, err
	}
	h, err := parseHeader(hb[:], c.max)
	if err != nil {
		return h, nil, err
	}
	if h.typ == msgHello {
		if c.recvSeq != 0 || h.seq != 0 || h.connID != ([8]byte{}) {
			return h, nil, ErrReplay
		}
	} else if h.seq != c.recvSeq+1 || subtle.ConstantTimeCompare(h.connID[:], c.connID[:]) != 1 {
		return h, nil, ErrReplay
	}
	if h.epoch < c.peerEpoch {
		return h, nil, fmt.Errorf("%w: %d < %d", ErrStaleEpoch, h.epoch, c.peerEpoch)
	}
	b := make([]byte, h.length)
	if _, err := io.ReadFull(c.rw, b); err != nil {
		return h, nil, err
	}
	c.recvSeq = h.seq
	if h.typ == msgHello {
		c.recvSeq = 0
	}
	c.peerEpoch = h.epoch
	return h, b, nil
}

// hello is the first frame each way.
type hello struct {
	Version int    `json:"version"`
	Nonce   []byte `json:"nonce"`
	Role    Role   `json:"role"`
	Epoch   uint64 `json:"epoch"`
	Name    string `json:"name,omitempty"`
}

// tlsConfig makes the TLS 1.3 configuration of one side: a self-signed
// certificate from key, the peer's certificate required, and its public
// key compared in constant time to peer — the handshake fails, before
// any application byte, for any other key.
func tlsConfig(key ed25519.PrivateKey, peer ed25519.PublicKey) (*tls.Config, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return ErrWrongKey
		}
		pk, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
		if !ok || subtle.ConstantTimeCompare(pk, peer) != 1 {
			return ErrWrongKey
		}
		return nil
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
		ClientAuth:         tls.RequireAnyClientCert,
		InsecureSkipVerify: true, // no chain: VerifyConnection pins the key
		VerifyConnection:   verify,
	}, nil
}

// link is an established, authenticated connection to the peer.
type link struct {
	conn   net.Conn
	raw    net.Conn // under conn's TLS
	fc     *frameConn
	remote string
	peer   hello
}

// handshake runs TLS and the hello exchange on raw; on any failure it
// closes raw. me is this node's hello; the dialer is the TLS client.
func handshake(ctx context.Context, raw net.Conn, cfg *tls.Config, dialer bool, me hello, max uint32) (*link, error) {
	remote := raw.RemoteAddr().String()
	fail := func(op string, err error) (*link, error) {
		raw.Close()
		return nil, &LinkError{Op: op, Remote: remote, Err: err}
	}
	var tc *tls.Conn
	if dialer {
		tc = tls.Client(raw, cfg)
	} else {
		tc = tls.Server(raw, cfg)
	}
	if d, ok := ctx.Deadline(); ok {
		raw.SetDeadline(d)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail("handshake", err)
	}
	me.Version = protoVersion
	me.Nonce = make([]byte, 16)
	if _, err := rand.Read(me.Nonce); err != nil {
		return fail("hello", err)
	}
	fc := &frameConn{rw: tc, max: min(max, 4096)} // a hello is small
	b, _ := json.Marshal(me)
	// The dialer speaks first; the listener answers a valid hello only.
	if dialer {
		if err := fc.write(msgHello, me.Epoch, b); err != nil {
			return fail("hello", err)
		}
	}
	h, p, err := fc.read()
	if err != nil {
		return fail("hello", err)
	}
	var peer hello
	if h.typ != msgHello || json.Unmarshal(p, &peer) != nil || len(peer.Nonce) != 16 || peer.Epoch != h.epoch {
		return fail("hello", ErrBadFrame)
	}
	if peer.Version != protoVersion {
		return fail("hello", fmt.Errorf("%w %d", ErrVersion, peer.Version))
	}
	if !dialer {
		if err := fc.write(msgHello, me.Epoch, b); err != nil {
			return fail("hello", err)
		}
	}
	// The connection id binds the frames to this TLS session and both
	// nonces: a frame recorded elsewhere never matches.
	dn, ln := me.Nonce, peer.Nonce
	if !dialer {
		dn, ln = ln, dn
	}
	cs := tc.ConnectionState()
	ekm, err := cs.ExportKeyingMaterial("EXPORTER-tcptake-ha", append(append([]byte{}, dn...), ln...), 32)
	if err != nil {
		return fail("hello", err)
	}
	sum := sha256.Sum256(ekm)
	copy(fc.connID[:], sum[:8])
	fc.max = max
	raw.SetDeadline(time.Time{})
	return &link{conn: tc, raw: raw, fc: fc, remote: remote, peer: peer}, nil
}

// abort closes a link whose peer is gone: at once, without the TLS
// close_notify that would wait (up to 5 s) on a full send buffer.
func (l *link) abort() {
	l.raw.Close()
	l.conn.Close()
}

// errClosed reports whether err only says the connection went away.
func errClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}
