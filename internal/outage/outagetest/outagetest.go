// Package outagetest simulates a Redis outage for tests: a dialer for
// go-redis that reaches a real Redis and can be switched off, and that
// counts what still tries to reach it while off.
package outagetest

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
)

// ErrOff is what dials, reads and writes fail with while the network is
// off.
var ErrOff = errors.New("outagetest: the network is off")

// A Network dials a real server until it is switched off; then dials,
// and reads and writes on the connections it made, fail with ErrOff. Use
// its Dial as redis.Options.Dialer. The zero Network is on.
type Network struct {
	off      atomic.Bool
	attempts atomic.Int64
}

// SetOff switches the network off (true) or back on.
func (n *Network) SetOff(off bool) { n.off.Store(off) }

// Attempts returns how many dials, reads and writes were tried while the
// network was off.
func (n *Network) Attempts() int64 { return n.attempts.Load() }

// Dial dials addr, or fails while the network is off.
func (n *Network) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if n.refuse() {
		return nil, ErrOff
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, n: n}, nil
}

func (n *Network) refuse() bool {
	if !n.off.Load() {
		return false
	}
	n.attempts.Add(1)
	return true
}

type conn struct {
	net.Conn
	n *Network
}

func (c *conn) Read(p []byte) (int, error) {
	if c.n.refuse() {
		return 0, ErrOff
	}
	return c.Conn.Read(p)
}

func (c *conn) Write(p []byte) (int, error) {
	if c.n.refuse() {
		return 0, ErrOff
	}
	return c.Conn.Write(p)
}
