package dev.kubemtls.core.tls;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.internal.FollowingSslContextSpi;
import dev.kubemtls.core.internal.JdkTls;
import dev.kubemtls.core.internal.MtlsTrustManager;
import dev.kubemtls.core.internal.RateLimitedLog;
import dev.kubemtls.core.peer.PeerPolicy;
import java.time.InstantSource;
import java.util.Objects;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import org.slf4j.LoggerFactory;

/**
 * JDK {@link SSLContext}s that present kube-mtls material and apply a {@link TlsPolicy}, for TLS
 * users without a kube-mtls integration of their own, such as {@code java.net.http.HttpClient} or
 * {@code HttpsURLConnection}. The Jetty integration is built on the same contexts.
 *
 * <p>{@link #following(MaterialSource)} makes a context that follows the source: each new
 * connection (engine or socket) takes the snapshot that is current when it is created, established
 * connections keep theirs. A context made before the source has material fails every handshake
 * until the first snapshot arrives, then uses it at once. {@link #of(MtlsMaterial)} makes a
 * context fixed to one snapshot. Engines and sockets from either get the policy's protocols,
 * cipher suites, signature schemes and groups, and a server engine or socket asks for the client
 * certificate the policy's {@link TlsPolicy#clientAuth()} demands; {@link SSLContext#getDefaultSSLParameters()} is the
 * policy's client parameters (with HTTPS endpoint identification), which a JDK {@code HttpClient}
 * uses unless it is given others, such as {@link #sslParameters()}.
 *
 * <p>The peer's certificate must chain to the trust bundle and pass a {@link PeerPolicy}
 * ({@link PeerPolicy#anySpiffeId()} unless another is given), in the handshake: a refused peer gets
 * a TLS alert ({@code certificate_unknown} from SunJSSE). A resumed session skips those checks in
 * SunJSSE, so every engine also checks the peer's certificate validity on every handshake: a server
 * engine refuses to resume a session whose client certificate has expired, before its first flight
 * and with a {@code certificate_expired} alert; a client engine or socket does not offer a session
 * whose server certificate has expired (it makes a full handshake instead, whose trust check refuses that server with an alert); and
 * any engine refuses, when its handshake completes, a session whose peer certificate expired while
 * it ran (a {@code close_notify} then, no alert can follow a completed handshake). Sessions and
 * tickets live no longer than this side's certificate, and at most an hour.
 *
 * <pre>{@code
 * HttpClient client = HttpClient.newBuilder()
 *     .sslContext(MtlsSslContexts.following(source))
 *     .build();
 * }</pre>
 */
public final class MtlsSslContexts {

  private MtlsSslContexts() {}

  /**
   * A context fixed to {@code material}, under {@link TlsPolicy#defaults()} and
   * {@link PeerPolicy#anySpiffeId()}.
   *
   * @throws InvalidMaterialException if the key does not match the certificate, the chain is out of
   *     order or a trust anchor is not a CA
   */
  public static SSLContext of(MtlsMaterial material) {
    return of(material, PeerPolicy.anySpiffeId());
  }

  /** A context fixed to {@code material} that allows the peers {@code peerPolicy} allows; see {@link #of(MtlsMaterial)}. */
  public static SSLContext of(MtlsMaterial material, PeerPolicy peerPolicy) {
    return following(new MaterialPublisher(Objects.requireNonNull(material, "material")),
        TlsPolicy.defaults(), peerPolicy);
  }

  /**
   * A context that follows {@code source} under {@link TlsPolicy#defaults()} and
   * {@link PeerPolicy#anySpiffeId()}; see {@link #following(MaterialSource, TlsPolicy, PeerPolicy)}.
   */
  public static SSLContext following(MaterialSource source) {
    return following(source, TlsPolicy.defaults());
  }

  /**
   * A context that follows {@code source} under {@code policy} and {@link PeerPolicy#anySpiffeId()};
   * see {@link #following(MaterialSource, TlsPolicy, PeerPolicy)}.
   */
  public static SSLContext following(MaterialSource source, TlsPolicy policy) {
    return following(source, policy, PeerPolicy.anySpiffeId());
  }

  /**
   * A context that follows {@code source} under {@code policy}, allowing the peers
   * {@code peerPolicy} allows (checked in the handshake, so a refused peer gets an alert). The current snapshot, if any, is
   * validated now; a later one when it is published, and if it fails the previous one stays in use
   * and the failure is logged. Each snapshot gets its own JDK context, so cached TLS sessions are
   * not resumed across a renewal or trust change. The context cannot be
   * {@linkplain SSLContext#init initialized} again. A JDK {@code HttpClient} keeps pooled
   * connections open across renewals; new connections present the new certificate. A refused peer
   * certificate is logged at WARN (at most once a minute per cause) with its subject, serial and
   * what to check.
   *
   * @throws InvalidMaterialException if the current material is unusable
   */
  public static SSLContext following(MaterialSource source, TlsPolicy policy, PeerPolicy peerPolicy) {
    return following(source, policy, peerPolicy, InstantSource.system());
  }

  /** With the clock peer certificates are checked against when a handshake completes; for tests. */
  static SSLContext following(MaterialSource source, TlsPolicy policy, PeerPolicy peerPolicy,
      InstantSource clock) {
    Objects.requireNonNull(source, "source");
    Objects.requireNonNull(policy, "policy");
    Objects.requireNonNull(peerPolicy, "peerPolicy");
    RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger(MtlsSslContexts.class), System::nanoTime);
    FollowingSslContextSpi spi = new FollowingSslContextSpi(source, new JdkTls(policy), "jdk",
        m -> new MtlsTrustManager(m.trust(), "jdk", peerPolicy, log), clock);
    spi.follow();
    return spi.newSslContext();
  }

  /**
   * Fresh client parameters under {@link TlsPolicy#defaults()}: its protocols, suites, signature
   * schemes and groups, and HTTPS endpoint identification, so a client checks that the server's
   * certificate names the host or IP address it dialled.
   */
  public static SSLParameters sslParameters() {
    return sslParameters(TlsPolicy.defaults());
  }

  /** Fresh client parameters under {@code policy}; see {@link #sslParameters()}. */
  public static SSLParameters sslParameters(TlsPolicy policy) {
    return new JdkTls(Objects.requireNonNull(policy, "policy")).parameters(true);
  }
}
