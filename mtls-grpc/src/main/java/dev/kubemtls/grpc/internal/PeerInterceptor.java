package dev.kubemtls.grpc.internal;

import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks every call's caller against the {@link PeerPolicy} and, if it passes, runs the call with
 * the caller's {@link PeerIdentity} in the gRPC {@link Context} ({@link PeerContext#PEER}). A
 * caller outside the policy gets {@code PERMISSION_DENIED} with the reason, a caller without a
 * certificate (or without TLS at all) {@code UNAUTHENTICATED}; the listener hears of both.
 */
public final class PeerInterceptor implements ServerInterceptor {

  private static final Logger LOG = LoggerFactory.getLogger(PeerInterceptor.class);

  private final PeerPolicy policy;
  private final boolean certificateRequired;
  private final TlsListener listener;

  public PeerInterceptor(PeerPolicy policy, boolean certificateRequired, TlsListener listener) {
    this.policy = Objects.requireNonNull(policy, "policy");
    this.certificateRequired = certificateRequired;
    this.listener = Objects.requireNonNull(listener, "listener");
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    if (call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION) == null) {
      return refuse(call, Status.UNAUTHENTICATED, HandshakeFailure.NO_PEER_CERTIFICATE, null,
          "kube-mtls: the call did not arrive over TLS");
    }
    PeerIdentity peer;
    try {
      peer = PeerContext.fromTransport(call.getAttributes());
    } catch (RuntimeException e) {
      return refuse(call, Status.PERMISSION_DENIED, HandshakeFailure.PEER_NOT_ALLOWED, null,
          "kube-mtls: the client certificate cannot be read: " + e.getMessage());
    }
    if (peer == null) {
      if (certificateRequired || policy.hasAllowList()) {
        return refuse(call, Status.UNAUTHENTICATED, HandshakeFailure.NO_PEER_CERTIFICATE, null,
            "kube-mtls: the client presented no certificate and "
                + (certificateRequired ? "one is required" : "the allow-list needs an identity"));
      }
      return next.startCall(call, headers);
    }
    Optional<String> denial;
    try {
      denial = policy.denialReason(peer);
    } catch (RuntimeException e) {
      denial = Optional.of("its identity could not be checked: " + e.getMessage());
    }
    if (denial.isPresent()) {
      return refuse(call, Status.PERMISSION_DENIED, HandshakeFailure.PEER_NOT_ALLOWED, peer,
          "kube-mtls: " + denial.get());
    }
    Context context = Context.current().withValue(PeerContext.PEER, peer);
    return Contexts.interceptCall(context, call, headers, next);
  }

  private <Q, R> ServerCall.Listener<Q> refuse(ServerCall<Q, R> call, Status status,
      HandshakeFailure failure, PeerIdentity peer, String reason) {
    LOG.warn("kube-mtls gRPC server: refused {} from {}: {}", call.getMethodDescriptor().getFullMethodName(),
        call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR), reason);
    listener.requestRefused(failure, Optional.ofNullable(peer), reason);
    call.close(status.withDescription(reason), new Metadata());
    return new ServerCall.Listener<>() { };
  }
}
