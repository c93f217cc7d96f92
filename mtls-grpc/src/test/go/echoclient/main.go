// Command echoclient is a gRPC client written in Go, used by the Java tests of mtls-grpc as a peer
// that shares no code with them. It dials a kube-mtls gRPC server with a client certificate,
// checks the server's certificate against a CA bundle and the server name, calls the test service's
// unary method once with a raw string codec (no protoc needed) and prints the answer.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

// rawCodec sends and receives a message's bytes as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *string:
		return []byte(*m), nil
	case string:
		return []byte(m), nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	s, ok := v.(*string)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*s = string(data)
	return nil
}

func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

func main() {
	addr := flag.String("addr", "", "host:port to dial")
	serverName := flag.String("server-name", "", "name the server certificate must carry")
	certFile := flag.String("cert", "", "client certificate chain (PEM)")
	keyFile := flag.String("key", "", "client private key (PEM, PKCS#8)")
	caFile := flag.String("ca", "", "trusted CA bundle (PEM)")
	method := flag.String("method", "/test.Echo/Unary", "full method name")
	message := flag.String("message", "hello from go", "request")
	flag.Parse()
	if *addr == "" || *serverName == "" || *caFile == "" {
		fmt.Fprintln(os.Stderr, "usage: echoclient -addr host:port -server-name name -ca ca.pem [-cert c.pem -key k.pem]")
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	caPem, err := os.ReadFile(*caFile)
	if err != nil || !pool.AppendCertsFromPEM(caPem) {
		fmt.Fprintf(os.Stderr, "cannot read CA bundle %s: %v\n", *caFile, err)
		os.Exit(2)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: *serverName, MinVersion: tls.VersionTLS12}
	if *certFile != "" {
		pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cannot read client certificate: %v\n", err)
			os.Exit(2)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot create client: %v\n", err)
		os.Exit(2)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var answer string
	if err := conn.Invoke(ctx, *method, message, &answer); err != nil {
		st := status.Convert(err)
		fmt.Printf("STATUS %s %s\n", st.Code(), st.Message())
		os.Exit(1)
	}
	fmt.Printf("OK %s\n", answer)
}
