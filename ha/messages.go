package ha

import (
	"encoding/json"
	"fmt"
	"time"
)

// msgType is a frame's type. Session images travel as msgImage frames
// whose payload is the image in the project's image encoding
// (libtcptake.Image.MarshalBinary: the session attribute nest, which holds
// the application state as one of its attributes) — no second encoding.
// The small control messages are JSON.
type msgType uint8

const (
	msgHello     msgType = 1  // hello
	msgHeartbeat msgType = 2  // heartbeatMsg (or none, from an older peer)
	msgSync      msgType = 3  // syncMsg: the active's state, sent on every new link
	msgBegin     msgType = 10 // beginMsg: a switchover starts
	msgImage     msgType = 11 // one session image
	msgEnd       msgType = 12 // endMsg: all images sent
	msgReady     msgType = 13 // readyMsg: the standby set every session
	msgAbort     msgType = 14 // abortMsg: the sender gives up the switchover
	msgGo        msgType = 15 // goMsg: the active gave up the address
	msgServing   msgType = 16 // servingMsg: the new active serves
	msgDone      msgType = 17 // no payload: the old active released its sockets
	// Failover.
	msgCheckpoint msgType = 20 // the active's sessions, delta-encoded (checkpoint.go)
	msgFence      msgType = 21 // fenceMsg: a standby takes over; the active must stop
	msgFenced     msgType = 22 // fencedMsg: the old active stopped
	msgLeaseReq   msgType = 23 // leaseMsg: the active asks for its lease (lease.go)
	msgLeaseAck   msgType = 24 // leaseMsg: the standby grants it
)

func (t msgType) String() string {
	switch t {
	case msgHello:
		return "hello"
	case msgHeartbeat:
		return "heartbeat"
	case msgSync:
		return "sync"
	case msgBegin:
		return "begin"
	case msgImage:
		return "image"
	case msgEnd:
		return "end"
	case msgReady:
		return "ready"
	case msgAbort:
		return "abort"
	case msgGo:
		return "go"
	case msgServing:
		return "serving"
	case msgDone:
		return "done"
	case msgCheckpoint:
		return "checkpoint"
	case msgFence:
		return "fence"
	case msgFenced:
		return "fenced"
	case msgLeaseReq:
		return "lease request"
	case msgLeaseAck:
		return "lease grant"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// syncMsg is the full state an active sends a (re)connected standby. A
// restarted standby learns the epoch and the sessions from it; the
// failover issue adds the checkpoints.
type syncMsg struct {
	Sessions int `json:"sessions"`
}

// heartbeatMsg measures the link's round-trip time. T is the time since
// the sender's link began; Echo the T of the last heartbeat it received
// (0: none yet) and Held how long ago that one came.
type heartbeatMsg struct {
	T    time.Duration `json:"t"`
	Echo time.Duration `json:"echo,omitempty"`
	Held time.Duration `json:"held,omitempty"`
}

type beginMsg struct {
	ID uint64 `json:"id"` // the switchover, echoed in every later message
}

type endMsg struct {
	ID       uint64        `json:"id"`
	Sessions int           `json:"sessions"`
	StopGet  time.Duration `json:"stop_get"`
	// PeerAcks are what the sessions' peers acknowledged, asked by the
	// active after the stop, in the order of the images (absent: not
	// asked); Unanswered lists the sessions whose peers did not answer,
	// Exact those whose peers hold nothing beyond their ACK
	// (libtcptake.PeerPosition.Exact); Received holds, by session, what a
	// peer sent into the freeze from the image's rcv_nxt on.
	PeerAcks   []uint32       `json:"peer_acks,omitempty"`
	Unanswered []int          `json:"unanswered,omitempty"`
	Exact      []int          `json:"exact,omitempty"`
	Received   map[int][]byte `json:"received,omitempty"`
}

type readyMsg struct {
	ID       uint64        `json:"id"`
	Transfer time.Duration `json:"transfer"`
	Set      time.Duration `json:"set"`
}

type abortMsg struct {
	ID     uint64 `json:"id"`
	Reason string `json:"reason"`
}

type goMsg struct {
	ID     uint64        `json:"id"`
	IPDown time.Duration `json:"ip_down"`
	// Received are the bytes the peers sent after those of endMsg, read
	// just before the address went (session index: the bytes that
	// follow on).
	Received map[int][]byte `json:"received,omitempty"`
}

type servingMsg struct {
	ID      uint64        `json:"id"`
	IPUp    time.Duration `json:"ip_up"`
	Restart time.Duration `json:"restart"`
	Failed  int           `json:"failed"`
}

type doneMsg struct {
	ID uint64 `json:"id"`
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are encoded
	}
	return b
}
