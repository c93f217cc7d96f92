package dev.kubemtls.grpc.internal;

import dev.kubemtls.core.peer.PeerIdentity;
import io.grpc.Attributes;
import io.grpc.Context;
import io.grpc.Grpc;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/** Where the verified caller is kept: on the transport's attributes and in each call's Context. */
public final class PeerContext {

  /** The caller of the current call, set by the interceptor once it passed the policy. */
  public static final Context.Key<PeerIdentity> PEER = Context.key("kube-mtls-peer");

  /** The client's identity, read once per connection by the transport filter. */
  public static final Attributes.Key<PeerIdentity> TRANSPORT_PEER = Attributes.Key.create("kube-mtls-peer");

  private PeerContext() {}

  /**
   * The identity in the verified leaf of the connection's TLS session, or null when the client sent
   * no certificate or there is no TLS session.
   *
   * @throws dev.kubemtls.core.InvalidMaterialException if the certificate names no single identity
   */
  public static PeerIdentity fromTransport(Attributes attributes) {
    PeerIdentity known = attributes.get(TRANSPORT_PEER);
    if (known != null) {
      return known;
    }
    SSLSession session = attributes.get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
    if (session == null) {
      return null;
    }
    Certificate[] chain;
    try {
      chain = session.getPeerCertificates();
    } catch (SSLPeerUnverifiedException e) {
      return null;
    }
    if (chain.length == 0 || !(chain[0] instanceof X509Certificate leaf)) {
      return null;
    }
    return PeerIdentity.of(leaf);
  }
}
