package dev.kubemtls.core.tls;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.internal.FollowingSslContextSpi;
import dev.kubemtls.core.internal.HandshakeFailures;
import dev.kubemtls.core.internal.JdkTls;
import dev.kubemtls.core.internal.MtlsTrustManager;
import dev.kubemtls.core.internal.RateLimitedLog;
import dev.kubemtls.core.internal.SafeTlsListener;
import dev.kubemtls.core.peer.PeerPolicy;
import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.InstantSource;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import org.slf4j.LoggerFactory;

/**
 * The JDK building blocks of one TLS client (or server) that follows a {@link MaterialSource}: an
 * {@link SSLContext}, an {@link SSLSocketFactory}, and an {@link X509ExtendedKeyManager} and
 * {@link X509ExtendedTrustManager} for libraries that want managers (OkHttp needs the trust manager
 * beside the socket factory), all from one engine. Each new connection takes the snapshot current when
 * it is created; an established connection keeps the one it was made with.
 *
 * <p>A client made by {@link #forClient(MaterialSource)} checks the server in the handshake: its chain
 * must end in the trust bundle, its certificate must carry the host name or IP address that was dialled
 * (HTTPS endpoint identification) and its identity must pass the {@link PeerPolicy}, for example one
 * that pins the server's SPIFFE ID or ServiceAccount. Engines and sockets report their handshakes to the
 * {@link TlsListener}: engines both outcomes; sockets their successes and the refusals this side's trust
 * manager makes (a socket that fails for another reason reports nothing; its caller sees the
 * exception). A server socket from {@code sslContext().getServerSocketFactory()} keeps the snapshot
 * current when it was made and none of the policy's parameters: servers should use engines (or
 * mtls-netty, mtls-servlet).
 *
 * <p><b>Connection pools.</b> A pool keeps TLS connections open across renewals and trust changes. It
 * asks {@link #retirementReason(SSLSession)} about each connection's session, on every
 * {@linkplain #onMaterialChange material change} and periodically; a connection must be retired when
 * <ol>
 *   <li>the CA its peer's chain ended in, in the bundle it was made under, is no longer in the current
 *       bundle (the CA left during a rotation); or</li>
 *   <li>the peer certificate it saw has expired (by the injected clock); or</li>
 *   <li>only if {@link Builder#retireOnRenewal(boolean)} is set: the certificate this side presented
 *       is no longer the current one (it was renewed).</li>
 * </ol>
 * Nothing else retires a connection: a renewal alone leaves connections open by default, because the
 * peer accepted the old certificate and it stays valid until its notAfter.
 *
 * <pre>{@code
 * MtlsJdkTls tls = MtlsJdkTls.forClient(source)
 *     .peerPolicy(PeerPolicy.builder().allowServiceAccount("shop", "orders").build())
 *     .build();
 * HttpClient client = HttpClient.newBuilder().sslContext(tls.sslContext())
 *     .sslParameters(tls.sslParameters()).build();
 * }</pre>
 */
public final class MtlsJdkTls implements AutoCloseable {

  private final MaterialSource source;
  private final FollowingSslContextSpi spi;
  private final MaterialSource.Subscription following;
  private final SSLContext context;
  private final JdkTls tls;
  private final boolean client;
  private final boolean retireOnRenewal;
  private final InstantSource clock;
  private final FollowingKeyManager keyManager = new FollowingKeyManager();
  private final FollowingTrustManager trustManager = new FollowingTrustManager();

  private MtlsJdkTls(Builder b) {
    this.source = b.source;
    this.client = b.client;
    this.retireOnRenewal = b.retireOnRenewal;
    this.clock = b.clock;
    this.tls = new JdkTls(b.tlsPolicy);
    String side = b.client ? "client" : "server";
    TlsListener listener = b.listener == TlsListener.NO_OP ? null : SafeTlsListener.wrap(b.listener);
    RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger(MtlsJdkTls.class), System::nanoTime);
    PeerPolicy peerPolicy = b.peerPolicy;
    TlsListener.Side listenerSide = b.client ? TlsListener.Side.CLIENT : TlsListener.Side.SERVER;
    this.spi = new FollowingSslContextSpi(source, tls, side,
        m -> new ReportingTrustManager(new MtlsTrustManager(m.trust(), side, peerPolicy, log), listener,
            listenerSide),
        clock, listener, b.client);
    this.following = spi.follow();
    this.context = spi.newSslContext();
  }

  /** A client: presents the source's certificate and checks the server's as described above. */
  public static Builder forClient(MaterialSource source) {
    return new Builder(source, true);
  }

  /** A server: presents the source's certificate and asks for the client's as the policy demands. */
  public static Builder forServer(MaterialSource source) {
    return new Builder(source, false);
  }

  /** The context: every engine and socket it makes takes the current snapshot. */
  public SSLContext sslContext() {
    return context;
  }

  /** The context's socket factory: each new socket takes the current snapshot. */
  public SSLSocketFactory socketFactory() {
    return context.getSocketFactory();
  }

  /**
   * Fresh parameters of the policy (protocols, suites, signature schemes, groups); for a client with
   * HTTPS endpoint identification. Engines and sockets of {@link #sslContext()} already have them.
   */
  public SSLParameters sslParameters() {
    return tls.parameters(client);
  }

  /**
   * A key manager that always offers the current snapshot's certificate, under an alias of its
   * generation ({@code id-<generation>}), so a chain and key are always read from the same snapshot.
   * A context of one's own built from it caches sessions across renewals and trust changes (a resumed
   * session keeps the old identity and skips the trust manager); prefer {@link #sslContext()}, which
   * gives each snapshot its own session cache.
   */
  public X509ExtendedKeyManager keyManager() {
    return keyManager;
  }

  /**
   * A trust manager that checks peers against the current snapshot's bundle and the peer policy, for
   * libraries that need one beside the socket factory. Before the first snapshot it refuses every peer.
   */
  public X509ExtendedTrustManager trustManager() {
    return trustManager;
  }

  /** The snapshot new connections get (the last good one), or empty before the first. */
  public Optional<MtlsMaterial> current() {
    return spi.material();
  }

  /**
   * The generation of the snapshot {@code session} was made under, or empty when this engine did not
   * make it.
   */
  public OptionalLong generationOf(SSLSession session) {
    return spi.materialOf(session).map(m -> OptionalLong.of(m.generation())).orElse(OptionalLong.empty());
  }

  /** Whether a connection with {@code session} must be retired; see {@link #retirementReason}. */
  public boolean mustRetire(SSLSession session) {
    return retirementReason(session).isPresent();
  }

  /**
   * Why a pooled connection with {@code session} must be retired now, or empty to keep it: the rules
   * are in the class description. A session this engine did not make is judged against the current
   * bundle alone. Cheap enough to call for every pooled connection on each change.
   */
  public Optional<String> retirementReason(SSLSession session) {
    Objects.requireNonNull(session, "session");
    Optional<MtlsMaterial> now = spi.material();
    if (now.isEmpty()) {
      return Optional.empty();
    }
    MtlsMaterial current = now.get();
    MtlsMaterial madeUnder = spi.materialOf(session).orElse(current);
    X509Certificate[] peer = peerChain(session);
    if (peer.length > 0) {
      X509Certificate top = peer[peer.length - 1];
      X509Certificate anchor = issuerIn(madeUnder.trust().certificates(), top);
      if (anchor == null && madeUnder != current) {
        anchor = issuerIn(current.trust().certificates(), top);
      }
      if (anchor == null || !current.trust().certificates().contains(anchor)) {
        return Optional.of("the CA its peer's certificate chains to ("
            + top.getIssuerX500Principal().getName() + ") is no longer in the trust bundle ("
            + current.trust().sourceVersion() + ")");
      }
      X509Certificate leaf = peer[0];
      if (!leaf.getNotAfter().toInstant().isAfter(clock.instant())) {
        return Optional.of("the peer certificate it saw (serial " + leaf.getSerialNumber().toString(16)
            + ") expired at " + leaf.getNotAfter().toInstant());
      }
    }
    if (retireOnRenewal) {
      Certificate[] local = session.getLocalCertificates();
      if (local != null && local.length > 0 && !local[0].equals(current.identity().leaf())) {
        return Optional.of("the certificate it presented was renewed (now generation "
            + current.identity().generation() + ")");
      }
    }
    return Optional.empty();
  }

  private static X509Certificate[] peerChain(SSLSession session) {
    try {
      Certificate[] chain = session.getPeerCertificates();
      return Arrays.stream(chain).filter(X509Certificate.class::isInstance)
          .map(X509Certificate.class::cast).toArray(X509Certificate[]::new);
    } catch (SSLPeerUnverifiedException e) {
      return new X509Certificate[0];
    }
  }

  private static X509Certificate issuerIn(Iterable<X509Certificate> cas, X509Certificate cert) {
    for (X509Certificate ca : cas) {
      if (ca.equals(cert)) {
        return ca;
      }
      if (ca.getSubjectX500Principal().equals(cert.getIssuerX500Principal())) {
        try {
          cert.verify(ca.getPublicKey());
          return ca;
        } catch (java.security.GeneralSecurityException e) {
          // another CA of the same name
        }
      }
    }
    return null;
  }

  /**
   * Calls {@code listener} with each new snapshot after this engine has taken it up, on the source's
   * publishing thread (it must not block), until the returned subscription is closed. A pool
   * retirement hook calls {@link #retirementReason} from here.
   */
  public MaterialSource.Subscription onMaterialChange(Consumer<MtlsMaterial> listener) {
    Objects.requireNonNull(listener, "listener");
    return source.subscribe(m -> {
      spi.context();
      listener.accept(m);
    });
  }

  /** The clock that peer certificates are checked against. */
  public InstantSource clock() {
    return clock;
  }

  /** Stops following the source; open connections are not touched, new ones fail. */
  @Override
  public void close() {
    following.close();
    spi.close();
  }

  /** Builds an {@link MtlsJdkTls}. */
  public static final class Builder {
    private final MaterialSource source;
    private final boolean client;
    private TlsPolicy tlsPolicy = TlsPolicy.defaults();
    private PeerPolicy peerPolicy = PeerPolicy.anySpiffeId();
    private TlsListener listener = TlsListener.NO_OP;
    private InstantSource clock = InstantSource.system();
    private boolean retireOnRenewal;

    private Builder(MaterialSource source, boolean client) {
      this.source = Objects.requireNonNull(source, "source");
      this.client = client;
    }

    /** Protocols, suites, schemes, groups and client-certificate demand; {@link TlsPolicy#defaults()}. */
    public Builder tlsPolicy(TlsPolicy policy) {
      this.tlsPolicy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /** The peers allowed; {@link PeerPolicy#anySpiffeId()} unless set. */
    public Builder peerPolicy(PeerPolicy policy) {
      this.peerPolicy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /** Told of each handshake; see the class description for what sockets report. */
    public Builder listener(TlsListener listener) {
      this.listener = Objects.requireNonNull(listener, "listener");
      return this;
    }

    /** The clock peer certificates are checked against; the system clock unless set. */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Whether a connection is also retired when this side's certificate was renewed; false unless set. */
    public Builder retireOnRenewal(boolean retire) {
      this.retireOnRenewal = retire;
      return this;
    }

    /**
     * Builds the engine and starts following the source.
     *
     * @throws dev.kubemtls.core.InvalidMaterialException if the current material is unusable
     */
    public MtlsJdkTls build() {
      return new MtlsJdkTls(this);
    }
  }

  /** Offers the current snapshot's identity; reads chain and key by the generation alias. */
  private final class FollowingKeyManager extends X509ExtendedKeyManager {
    private final Map<String, TlsIdentity> recent = new ConcurrentHashMap<>();

    private String alias(String[] types) {
      Optional<MtlsMaterial> m = spi.material();
      if (m.isEmpty()) {
        return null;
      }
      TlsIdentity id = m.get().identity();
      String algorithm = id.privateKey().getAlgorithm();
      if (types != null && Arrays.stream(types).noneMatch(t -> t != null
          && (t.equals(algorithm) || t.startsWith(algorithm + "_")
          || ("EC".equals(algorithm) && t.startsWith("EC"))))) {
        return null;
      }
      if (recent.size() > 8) {
        recent.clear();
      }
      recent.put(id.alias(), id);
      return id.alias();
    }

    private TlsIdentity identity(String alias) {
      TlsIdentity id = alias == null ? null : recent.get(alias);
      if (id == null) {
        Optional<MtlsMaterial> m = spi.material();
        if (m.isPresent() && m.get().identity().alias().equals(alias)) {
          id = m.get().identity();
        }
      }
      return id;
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
      String a = alias(new String[] {keyType});
      return a == null ? null : new String[] {a};
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
      return alias(keyType);
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
      return alias(keyType);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
      return getClientAliases(keyType, issuers);
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
      return alias(new String[] {keyType});
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
      return alias(new String[] {keyType});
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
      TlsIdentity id = identity(alias);
      return id == null ? null : id.chain().toArray(X509Certificate[]::new);
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
      TlsIdentity id = identity(alias);
      return id == null ? null : id.privateKey();
    }
  }

  /** Checks with the current snapshot's trust manager. */
  private final class FollowingTrustManager extends X509ExtendedTrustManager {
    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      spi.trustManager().checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      spi.trustManager().checkServerTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      spi.trustManager().checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      spi.trustManager().checkServerTrusted(chain, authType, engine);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      spi.trustManager().checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      spi.trustManager().checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return spi.trustManager().getAcceptedIssuers();
    }
  }

  /**
   * Reports the refusals of socket handshakes (engines report their own outcome) to the listener.
   */
  private static final class ReportingTrustManager extends X509ExtendedTrustManager {
    private final X509ExtendedTrustManager delegate;
    private final TlsListener listener;
    private final TlsListener.Side side;

    ReportingTrustManager(X509ExtendedTrustManager delegate, TlsListener listener, TlsListener.Side side) {
      this.delegate = delegate;
      this.listener = listener;
      this.side = side;
    }

    private CertificateException report(CertificateException e) {
      if (listener != null) {
        listener.handshakeFailed(side, HandshakeFailures.classify(e), e, Duration.ZERO);
      }
      return e;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      try {
        delegate.checkClientTrusted(chain, authType, socket);
      } catch (CertificateException e) {
        throw report(e);
      }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      try {
        delegate.checkServerTrusted(chain, authType, socket);
      } catch (CertificateException e) {
        throw report(e);
      }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      delegate.checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      delegate.checkServerTrusted(chain, authType, engine);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      delegate.checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      delegate.checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return delegate.getAcceptedIssuers();
    }
  }
}
