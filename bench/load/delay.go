package load

import (
	"context"
	"net"
	"sync"
	"time"
)

// Delay forwards every connection accepted on ln to target, holding each
// piece of data for d in each direction, so that a service on loopback
// (redis-server) answers as if across a network with a round trip of 2×d.
// The delay is added, not a bandwidth limit: pieces read while earlier ones
// wait are in flight together, and each goes out d after it came in.
//
// Delay returns when ctx ends or ln fails; it closes ln and every
// connection it opened before returning.
func Delay(ctx context.Context, ln net.Listener, target string, d time.Duration) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		in, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var dialer net.Dialer
		out, err := dialer.DialContext(ctx, "tcp", target)
		if err != nil {
			in.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			closeBoth := context.AfterFunc(ctx, func() { in.Close(); out.Close() })
			defer closeBoth()
			var pair sync.WaitGroup
			pair.Add(2)
			go func() { defer pair.Done(); delayCopy(out, in, d) }()
			go func() { defer pair.Done(); delayCopy(in, out, d) }()
			pair.Wait()
		}()
	}
}

// piece is data read at a time, to be written d later.
type piece struct {
	at   time.Time
	data []byte
}

// delayCopy copies src to dst, each piece d after it was read. When
// either side ends it closes both, which ends the copy the other way too.
func delayCopy(dst, src net.Conn, d time.Duration) {
	q := make(chan piece, 1024)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- piece{at: time.Now(), data: buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		dst.Close()
		src.Close()
		for range q { // let the reader finish
		}
	}()
	for p := range q {
		time.Sleep(time.Until(p.at.Add(d)))
		if _, err := dst.Write(p.data); err != nil {
			return
		}
	}
}
