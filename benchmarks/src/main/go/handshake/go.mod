module kubemtls.dev/bench/handshake

go 1.22
