// Command handshake is the Go baseline of the kube-mtls handshake harness: full mutual TLS 1.3
// handshakes with crypto/tls, a one-line exchange per connection, no resumption, with the
// certificates the Java harness wrote (same CA, same EC P-256 keys and extensions).
//
// Modes:
//
//	handshake -mode=both   -dir=D -conns=4   server and client in this process
//	handshake -mode=server -dir=D            a server only; prints "listening <port>"
//	handshake -mode=client -dir=D -addr=A -conns=4  a client only
//
// Each mode then reads commands on stdin, one per line: "mark" starts a measurement window,
// "report" prints "handshakes=<n> cpu_seconds=<s> wall_seconds=<s>" for the window (handshakes
// this process completed: as a client, exchanges answered; as a server, exchanges served; in
// "both", the client's count) and the CPU time (user+system, getrusage) this process used in it.
// End of input stops the process. Standard library only.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

const serverName = "orders.shop.svc"

var request = []byte("ping-0123456789abcdef0123456789abcdef0123456789abcdef\n")

var (
	served   atomic.Int64
	answered atomic.Int64
	failed   atomic.Int64
)

func main() {
	mode := flag.String("mode", "both", "both, server or client")
	dir := flag.String("dir", ".", "directory with ca.pem, server.pem, server-key.pem, client.pem, client-key.pem")
	addr := flag.String("addr", "", "server address (client mode)")
	conns := flag.Int("conns", 4, "concurrent connections (client and both modes)")
	flag.Parse()

	pool := x509.NewCertPool()
	caPem, err := os.ReadFile(filepath.Join(*dir, "ca.pem"))
	check(err)
	if !pool.AppendCertsFromPEM(caPem) {
		fail("no CA certificate in " + filepath.Join(*dir, "ca.pem"))
	}
	// X25519 only: Go would otherwise offer its hybrid post-quantum key share first, which
	// BoringSSL in netty-tcnative does not offer; the Java side negotiates x25519.
	curves := []tls.CurveID{tls.X25519}
	var counter *atomic.Int64
	switch *mode {
	case "server", "both":
		cert, err := tls.LoadX509KeyPair(filepath.Join(*dir, "server.pem"), filepath.Join(*dir, "server-key.pem"))
		check(err)
		cfg := &tls.Config{
			Certificates:           []tls.Certificate{cert},
			ClientCAs:              pool,
			ClientAuth:             tls.RequireAndVerifyClientCert,
			MinVersion:             tls.VersionTLS13,
			CurvePreferences:       curves,
			SessionTicketsDisabled: true,
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
		check(err)
		go serve(ln)
		port := ln.Addr().(*net.TCPAddr).Port
		if *mode == "server" {
			fmt.Printf("listening %d\n", port)
			counter = &served
			break
		}
		*addr = fmt.Sprintf("127.0.0.1:%d", port)
		fallthrough
	case "client":
		if *addr == "" {
			fail("client mode needs -addr")
		}
		cert, err := tls.LoadX509KeyPair(filepath.Join(*dir, "client.pem"), filepath.Join(*dir, "client-key.pem"))
		check(err)
		cfg := &tls.Config{
			Certificates:     []tls.Certificate{cert},
			RootCAs:          pool,
			ServerName:       serverName,
			MinVersion:       tls.VersionTLS13,
			CurvePreferences: curves,
			// No ClientSessionCache: every connection is a full handshake.
		}
		for i := 0; i < *conns; i++ {
			go dial(*addr, cfg)
		}
		counter = &answered
	default:
		fail("unknown mode " + *mode)
	}
	commands(counter)
}

func serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			line, err := bufio.NewReader(c).ReadSlice('\n')
			if err != nil {
				return
			}
			if _, err := c.Write(line); err == nil {
				served.Add(1)
			}
		}(c)
	}
}

func dial(addr string, cfg *tls.Config) {
	buf := make([]byte, len(request))
	for {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			failed.Add(1)
			continue
		}
		if _, err = c.Write(request); err == nil {
			_, err = io.ReadFull(c, buf)
		}
		c.Close()
		if err != nil {
			failed.Add(1)
			continue
		}
		answered.Add(1)
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func commands(counter *atomic.Int64) {
	in := bufio.NewScanner(os.Stdin)
	var n0, f0 int64
	var cpu0 float64
	var t0 time.Time
	for in.Scan() {
		switch in.Text() {
		case "mark":
			n0, f0, cpu0, t0 = counter.Load(), failed.Load(), cpuSeconds(), time.Now()
			fmt.Println("ok")
		case "report":
			fmt.Printf("handshakes=%d cpu_seconds=%.4f wall_seconds=%.4f failed=%d\n",
				counter.Load()-n0, cpuSeconds()-cpu0, time.Since(t0).Seconds(), failed.Load()-f0)
		default:
			fmt.Println("unknown command " + in.Text())
		}
	}
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "handshake: "+msg)
	os.Exit(2)
}
