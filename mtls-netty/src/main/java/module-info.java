/**
 * kube-mtls for Netty: server and client TLS handlers that take each new connection's material from
 * a {@code MaterialSource}. See the {@code dev.kubemtls.netty} package.
 */
module dev.kubemtls.netty {
  requires transitive dev.kubemtls.core;
  requires transitive io.netty.handler;
  requires transitive io.netty.transport;
  requires io.netty.buffer;
  requires io.netty.common;
  requires io.netty.tcnative.classes.openssl;
  // Optional: graceful ends of HTTP/1.1 and HTTP/2 connections when they are present.
  requires static io.netty.codec.http;
  requires static io.netty.codec.http2;
  requires org.slf4j;

  exports dev.kubemtls.netty;
  // Not API: the engine mtls-grpc is built on.
  exports dev.kubemtls.netty.internal to dev.kubemtls.grpc;
}
