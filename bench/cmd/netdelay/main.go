// Command netdelay puts a network's round trip between a client and a
// service on loopback: it forwards every connection to -target, holding
// data for -delay in each direction (see load.Delay).
//
//	netdelay -listen 127.0.0.1:6494 -target 127.0.0.1:6493 -delay 250us
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/llmgate/llmgate/bench/load"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6494", "address to listen on (loopback)")
	target := flag.String("target", "127.0.0.1:6379", "address to forward to")
	delay := flag.Duration("delay", 250*time.Microsecond, "delay in each direction (the round trip adds twice this)")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netdelay:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := load.Delay(ctx, ln, *target, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "netdelay:", err)
		os.Exit(1)
	}
}
