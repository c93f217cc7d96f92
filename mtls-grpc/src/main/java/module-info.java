/**
 * kube-mtls for gRPC-java (grpc-netty): server and channel credentials that take each new
 * connection's material from a {@code MaterialSource}. See the {@code dev.kubemtls.grpc} package.
 */
module dev.kubemtls.grpc {
  requires transitive dev.kubemtls.core;
  requires transitive dev.kubemtls.netty;
  requires transitive io.grpc;
  requires transitive io.grpc.netty;
  // grpc-core: ObjectPool, in the signature of grpc-netty's negotiator factory.
  requires io.grpc.internal;
  requires io.netty.codec.http2;
  requires io.netty.buffer;
  requires io.netty.common;
  requires io.netty.handler;
  requires io.netty.tcnative.classes.openssl;
  requires org.slf4j;

  exports dev.kubemtls.grpc;
}
