package dev.kubemtls.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.testing.EnginePair;
import dev.kubemtls.core.tls.MtlsSslContexts;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSessionContext;
import org.junit.jupiter.api.Test;

/**
 * A client's session cache is swept only when a session in it may have expired: at the earliest
 * end of validity the last sweep saw, a second after it, or when the clock goes back; read on a real
 * cache filled by a real handshake, counting the passes over it.
 */
class SessionSweepTest {

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  private static final TrustBundle TRUST = new TrustBundle(List.of(CA.certificate()), "t@1");
  private static final String HOST = "orders.shop.svc";

  /** A real session cache, with its passes (calls of {@link #getIds()}) counted. */
  private static final class CountedPasses implements SSLSessionContext {
    private final SSLSessionContext cache;
    private final AtomicInteger passes = new AtomicInteger();

    CountedPasses(SSLSessionContext cache) {
      this.cache = cache;
    }

    @Override
    public Enumeration<byte[]> getIds() {
      passes.incrementAndGet();
      return cache.getIds();
    }

    @Override
    public SSLSession getSession(byte[] id) {
      return cache.getSession(id);
    }

    @Override
    public void setSessionTimeout(int seconds) {
      cache.setSessionTimeout(seconds);
    }

    @Override
    public int getSessionTimeout() {
      return cache.getSessionTimeout();
    }

    @Override
    public void setSessionCacheSize(int size) {
      cache.setSessionCacheSize(size);
    }

    @Override
    public int getSessionCacheSize() {
      return cache.getSessionCacheSize();
    }
  }

  private static MtlsMaterial material(X509Certificate leaf, KeyPair kp) {
    return new MtlsMaterial(new TlsIdentity(kp.getPrivate(), List.of(leaf), 1), TRUST, 1);
  }

  @Test
  void aCacheIsSweptWhenASessionMayHaveExpiredAndNotBefore() {
    Instant start = Instant.now();
    Instant notAfter = start.plus(Duration.ofMinutes(30)).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
    KeyPair serverKey = TestCa.newKeyPair();
    Instant notBefore = start.minus(Duration.ofMinutes(1));
    X509Certificate serverCert = CA.leaf(serverKey.getPublic()).commonName("orders").spiffe("shop", "orders").dns(HOST)
        .validity(notBefore, Duration.between(notBefore, notAfter)).build();
    assertThat(serverCert.getNotAfter().toInstant()).isEqualTo(notAfter);
    SSLContext server = MtlsSslContexts.following(new MaterialPublisher(material(serverCert, serverKey)));
    KeyPair clientKey = TestCa.newKeyPair();
    SSLContext client = MtlsSslContexts.of(material(CA.leaf(clientKey.getPublic()).commonName("web")
        .spiffe("shop", "web").build(), clientKey));
    assertThat(EnginePair.run(client.createSSLEngine(HOST, 8443), server.createSSLEngine()).succeeded()).isTrue();
    SSLSessionContext real = client.getClientSessionContext();
    assertThat(Collections.list(real.getIds())).as("the handshake left a session to resume").isNotEmpty();
    CountedPasses cache = new CountedPasses(real);

    PeerValidity.sweepExpiredWhenDue(cache, start);
    assertThat(cache.passes).as("the first call sweeps").hasValue(1);
    PeerValidity.sweepExpiredWhenDue(cache, start.plusMillis(500));
    assertThat(cache.passes).as("nothing is due half a second later").hasValue(1);
    PeerValidity.sweepExpiredWhenDue(cache, start.plus(PeerValidity.SWEEP_INTERVAL));
    assertThat(cache.passes).as("a second later, for sessions cached since").hasValue(2);

    Instant beforeExpiry = notAfter.minusMillis(300);
    PeerValidity.sweepExpiredWhenDue(cache, beforeExpiry);
    assertThat(cache.passes).hasValue(3);
    PeerValidity.sweepExpiredWhenDue(cache, notAfter);
    assertThat(cache.passes).as("the server's certificate is still valid at its notAfter").hasValue(3);
    assertThat(Collections.list(real.getIds())).isNotEmpty();
    PeerValidity.sweepExpiredWhenDue(cache, notAfter.plusMillis(1));
    assertThat(cache.passes).as("due once it has expired, before the interval").hasValue(4);
    assertThat(Collections.list(real.getIds())).as("the expired server's sessions are gone").isEmpty();

    PeerValidity.sweepExpiredWhenDue(cache, start);
    assertThat(cache.passes).as("a clock set back sweeps again").hasValue(5);
  }
}
