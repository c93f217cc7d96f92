package dev.kubemtls.kafka;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.peer.PeerIdentity;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.common.security.auth.AuthenticationContext;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.common.security.auth.KafkaPrincipalBuilder;
import org.apache.kafka.common.security.auth.KafkaPrincipalSerde;
import org.apache.kafka.common.security.auth.SslAuthenticationContext;
import org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder;

/**
 * A broker's {@code principal.builder.class} that names each mTLS client by the SPIFFE ID in its
 * verified certificate, so ACLs can name workloads: a client whose certificate carries the URI SAN
 * {@code spiffe://cluster.local/ns/shop/sa/orders} is the principal of type {@code User} named
 * {@code spiffe://cluster.local/ns/shop/sa/orders}, written {@code User:spiffe://cluster.local/ns/shop/sa/orders}
 * in ACLs, {@code super.users} and {@code kafka-acls --allow-principal}. The whole ID, trust
 * domain included, is the name, so workloads of two trust domains never share a principal.
 *
 * <p>The certificate was verified in the handshake (by {@link MtlsSslEngineFactory}, against the
 * trust bundle and the listener's {@code PeerPolicy}, which by default already refuses certificates
 * without a SPIFFE ID). A TLS connection whose peer certificate has no well-formed SPIFFE ID, or
 * more than one URI SAN, gets no principal: building it fails with an
 * {@link SslAuthenticationException} that says why, and the broker closes the connection. Non-TLS
 * listeners (PLAINTEXT, SASL) get Kafka's default principals ({@code User:ANONYMOUS}, the SASL
 * authorization ID). The principal is also its own serde, as KRaft requires for forwarded requests.
 */
public final class SpiffePrincipalBuilder implements KafkaPrincipalBuilder, KafkaPrincipalSerde {

  private final DefaultKafkaPrincipalBuilder defaults = new DefaultKafkaPrincipalBuilder(null, null);

  /** For Kafka, which creates the builder by class name. */
  public SpiffePrincipalBuilder() {}

  /**
   * {@code User:<spiffe id>} for a TLS peer; Kafka's default for other contexts.
   *
   * @throws SslAuthenticationException if a TLS peer presented no certificate or one without a
   *     SPIFFE ID
   */
  @Override
  public KafkaPrincipal build(AuthenticationContext context) {
    if (!(context instanceof SslAuthenticationContext ssl)) {
      return defaults.build(context);
    }
    return principalOf(ssl);
  }

  static KafkaPrincipal principalOf(SslAuthenticationContext ssl) {
    Certificate[] chain;
    try {
      chain = ssl.session().getPeerCertificates();
    } catch (SSLPeerUnverifiedException e) {
      throw new SslAuthenticationException("kube-mtls: the client at " + ssl.clientAddress()
          + " on listener " + ssl.listenerName() + " presented no certificate; a kube-mtls"
          + " listener requires one with a SPIFFE ID");
    }
    if (chain.length == 0 || !(chain[0] instanceof X509Certificate leaf)) {
      throw new SslAuthenticationException("kube-mtls: the client at " + ssl.clientAddress()
          + " presented no X.509 certificate");
    }
    return principalOf(leaf);
  }

  /**
   * The principal of a verified certificate: {@code User:<spiffe id>}.
   *
   * @throws SslAuthenticationException if the certificate has no well-formed SPIFFE ID, or more than
   *     one URI SAN
   */
  public static KafkaPrincipal principalOf(X509Certificate verifiedLeaf) {
    PeerIdentity peer;
    try {
      peer = PeerIdentity.of(verifiedLeaf);
    } catch (InvalidMaterialException e) {
      throw new SslAuthenticationException("kube-mtls: the client certificate " + subjectAndSerial(verifiedLeaf)
          + " has no single identity: " + e.getMessage());
    }
    String id = peer.spiffeId().orElseThrow(() -> new SslAuthenticationException(
        "kube-mtls: the client certificate " + subjectAndSerial(verifiedLeaf) + " carries no SPIFFE ID"
            + " (URI SAN spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>), so it names no"
            + " principal; issue the client a workload certificate"));
    return new KafkaPrincipal(KafkaPrincipal.USER_TYPE, id);
  }

  private static String subjectAndSerial(X509Certificate c) {
    return "'" + c.getSubjectX500Principal().getName() + "' (serial " + c.getSerialNumber().toString(16) + ")";
  }

  @Override
  public byte[] serialize(KafkaPrincipal principal) throws SerializationException {
    return defaults.serialize(principal);
  }

  @Override
  public KafkaPrincipal deserialize(byte[] bytes) throws SerializationException {
    return defaults.deserialize(bytes);
  }
}
