package dev.kubemtls.spring.internal;

import dev.kubemtls.core.internal.Issuers;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TrustBundle;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Collection;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * Decides when a pooled client connection to a kube-mtls server has outlived its material, for the
 * connection pools of Spring's HTTP clients ({@link ApacheClientBound}, {@link ReactorClientBound})
 * and the engines of the bundle's SSL context ({@link BoundingSslContext}, the JDK client's):
 * a connection whose server chain ends in a CA that kube-mtls trusts or has trusted is not handed
 * out again once it is within the lead (5 s, or a tenth of the maximum age if less) of its maximum
 * age (counted from when it was made), within the lead of the server certificate's
 * {@code notAfter}, or once the CA its server
 * chain ended in has left the current trust bundle. Connections to other servers (a public API on
 * the same client) are left alone. Time comes from the injected clock.
 */
public final class ClientConnectionBound implements AutoCloseable {

  /** How long before its bound a connection stops being handed out, at most. */
  static final Duration MAX_LEAD = Duration.ofSeconds(5);

  private final MaterialSource source;
  private final InstantSource clock;
  private final Duration maxAge;
  private final Duration lead;
  /** Every CA a snapshot of the source has held: the mark of a kube-mtls server. */
  private final Set<X509Certificate> seen = ConcurrentHashMap.newKeySet();
  private final MaterialSource.Subscription subscription;
  /** Chain tops known to end in a kube-mtls CA. */
  private final Map<X509Certificate, Boolean> ours = new ConcurrentHashMap<>();
  private volatile Trusted trusted;

  private record Trusted(TrustBundle bundle, Map<X509Certificate, Boolean> answers) {}

  /** {@code maxAge} null: no maximum age (the certificate and CA bounds stay). */
  public ClientConnectionBound(MaterialSource source, InstantSource clock, Duration maxAge) {
    this.source = Objects.requireNonNull(source, "source");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.maxAge = maxAge;
    Duration tenth = maxAge == null ? MAX_LEAD : maxAge.dividedBy(10);
    this.lead = tenth.compareTo(MAX_LEAD) < 0 ? tenth : MAX_LEAD;
    this.subscription = source.subscribe(m -> seen.addAll(m.trust().certificates()));
    source.currentIfReady().ifPresent(m -> seen.addAll(m.trust().certificates()));
  }

  /** The clock connections are timed by. */
  public Instant now() {
    return clock.instant();
  }

  /** The maximum age, or null. */
  public Duration maxAge() {
    return maxAge;
  }

  /**
   * Why the connection of {@code session}, made at {@code madeAt}, must not be handed out again, or
   * null while it may. Null as well for a session without a verified server chain, or a server
   * whose chain ends in a CA kube-mtls never trusted.
   */
  public String ended(SSLSession session, Instant madeAt) {
    X509Certificate[] peer = kubeMtlsChain(session);
    if (peer == null) {
      return null;
    }
    X509Certificate leaf = peer[0];
    X509Certificate top = peer[peer.length - 1];
    Instant now = clock.instant();
    if (maxAge != null && madeAt != null && !now.isBefore(madeAt.plus(maxAge).minus(lead))) {
      return "maximum connection age " + maxAge + " (made " + madeAt + ")";
    }
    Instant notAfter = leaf.getNotAfter().toInstant();
    if (!now.isBefore(notAfter.minus(lead))) {
      return "the server's certificate expires at " + notAfter;
    }
    Optional<MtlsMaterial> material = source.currentIfReady();
    if (material.isPresent() && !trusted(top, material.get().trust())) {
      return "the CA that issued the server's certificate left the trust bundle";
    }
    return null;
  }

  /** Whether the server of {@code session} presented a chain that ends in a CA kube-mtls trusts or has trusted. */
  public boolean isKubeMtlsServer(SSLSession session) {
    return kubeMtlsChain(session) != null;
  }

  private X509Certificate[] kubeMtlsChain(SSLSession session) {
    if (session == null) {
      return null;
    }
    Certificate[] peer;
    try {
      peer = session.getPeerCertificates();
    } catch (SSLPeerUnverifiedException e) {
      return null;
    }
    if (peer.length == 0) {
      return null;
    }
    X509Certificate[] chain = new X509Certificate[peer.length];
    for (int i = 0; i < peer.length; i++) {
      if (!(peer[i] instanceof X509Certificate x509)) {
        return null;
      }
      chain[i] = x509;
    }
    X509Certificate top = chain[chain.length - 1];
    if (!ours.containsKey(top)) {
      if (!issuedByAny(top, seen)) {
        return null;
      }
      if (ours.size() > 10_000) {
        ours.clear();
      }
      ours.put(top, Boolean.TRUE);
    }
    return chain;
  }

  private boolean trusted(X509Certificate top, TrustBundle bundle) {
    Trusted t = trusted;
    if (t == null || t.bundle() != bundle) {
      t = new Trusted(bundle, new ConcurrentHashMap<>());
      trusted = t;
    }
    Map<X509Certificate, Boolean> answers = t.answers();
    Boolean answer = answers.get(top);
    if (answer == null) {
      answer = issuedByAny(top, bundle.certificates());
      if (answers.size() < 10_000) {
        answers.put(top, answer);
      }
    }
    return answer;
  }

  /** Whether {@code top} is one of, or signed by one of, {@code cas} ({@link Issuers#issuedByAny}). */
  static boolean issuedByAny(X509Certificate top, Collection<X509Certificate> cas) {
    return Issuers.issuedByAny(top, cas);
  }

  @Override
  public void close() {
    subscription.close();
  }
}
