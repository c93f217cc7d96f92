package dev.kubemtls.core.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.security.KeyManagementException;
import java.security.SecureRandom;
import java.time.InstantSource;
import java.util.Objects;
import java.util.function.Function;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLContextSpi;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocketFactory;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * The engine of an {@link SSLContext} that follows a {@link MaterialSource}: every new engine or
 * socket comes from a JDK context built for the source's current snapshot and gets the policy's
 * protocols, suites, signature schemes and groups. The contexts are kept in core's generation cache
 * ({@link Generations}): a snapshot's context is built when the source publishes it (while
 * {@link #follow()}ing; the source holds the cache weakly, so a dropped context costs nothing), or by
 * the first connection that sees it should that come first. A snapshot gets its own context, so TLS
 * sessions of an older identity or bundle are never resumed after a change. Material that fails
 * validation is logged once and the last good context stays. Before the first snapshot every
 * handshake fails: the placeholder context has no key and refuses every peer.
 *
 * <p>Every engine checks the peer's certificate validity against the injected clock when its
 * handshake completes ({@link CheckedSslEngine}), because SunJSSE resumes a session without
 * looking at the peer's notAfter; and a snapshot's sessions and TLS 1.3 tickets live no longer than
 * its own certificate's remaining validity when the context is built, and at most
 * {@link PeerValidity#MAX_SESSION_LIFETIME}. A server engine refuses a resumed session whose peer
 * has expired before its first flight, with a fatal alert; before a client engine writes its
 * ClientHello, and before a socket is made, cached client sessions whose peer certificate has
 * expired are invalidated, so a client never offers one and an expired server meets a full
 * handshake (and its trust check). Sockets made here get the same session lifetimes, but no
 * completion check: the JDK tells sockets' handshake listeners on another thread, too late to
 * stop the first application bytes.
 */
public final class FollowingSslContextSpi extends SSLContextSpi {

  private final MaterialSource source;
  private final JdkTls tls;
  private final String side;
  private final Function<MtlsMaterial, X509ExtendedTrustManager> trust;
  private final SSLContext noMaterial;
  private final SSLParameters engineParameters;
  /** {@link #engineParameters} with the client constraints, for sockets made in client mode. */
  private final SSLParameters clientSocketParameters;
  private final InstantSource clock;
  private final dev.kubemtls.core.tls.TlsListener listener;
  /** {@link #listener} for engines: a client refused for a group it withheld is told so ({@link JdkTls#explainingRefusals}). */
  private final dev.kubemtls.core.tls.TlsListener engineListener;
  private final boolean identifyServer;
  /** The snapshot each built context's session contexts belong to, to tell which one a session was made under. */
  private final java.util.Map<SSLSessionContext, MtlsMaterial> madeUnder =
      java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());
  private final Generations<Built> generations;

  private record Built(MtlsMaterial material, SSLContext context, X509ExtendedTrustManager trustManager) {}

  /**
   * Builds the context of the current snapshot now, if there is one, so that bad material fails
   * here.
   *
   * @param side  {@code server} or {@code client}, for log lines
   * @param trust the trust manager for a snapshot
   * @throws dev.kubemtls.core.InvalidMaterialException if the current material is unusable
   */
  public FollowingSslContextSpi(MaterialSource source, JdkTls tls, String side,
      Function<MtlsMaterial, X509ExtendedTrustManager> trust) {
    this(source, tls, side, trust, InstantSource.system());
  }

  /**
   * As {@link #FollowingSslContextSpi(MaterialSource, JdkTls, String, Function)}, with the clock that
   * peer certificates are checked against when a handshake completes and that session lifetimes are
   * computed from.
   */
  public FollowingSslContextSpi(MaterialSource source, JdkTls tls, String side,
      Function<MtlsMaterial, X509ExtendedTrustManager> trust, InstantSource clock) {
    this(source, tls, side, trust, clock, null, false);
  }

  /**
   * As {@link #FollowingSslContextSpi(MaterialSource, JdkTls, String, Function, InstantSource)}, with
   * a listener every engine and socket reports its handshake to (null for none), and whether engines
   * and sockets check the server's certificate against the name they dial (HTTPS endpoint
   * identification; for contexts used only by clients).
   */
  public FollowingSslContextSpi(MaterialSource source, JdkTls tls, String side,
      Function<MtlsMaterial, X509ExtendedTrustManager> trust, InstantSource clock,
      dev.kubemtls.core.tls.TlsListener listener, boolean identifyServer) {
    this.listener = listener;
    this.identifyServer = identifyServer;
    this.clock = Objects.requireNonNull(clock, "clock");
    this.source = Objects.requireNonNull(source, "source");
    this.tls = Objects.requireNonNull(tls, "tls");
    this.engineListener = tls.explainingRefusals(listener);
    this.side = Objects.requireNonNull(side, "side");
    this.trust = Objects.requireNonNull(trust, "trust");
    this.noMaterial = MaterialStores.withoutMaterial("kube-mtls " + side + ": no TLS material yet");
    this.engineParameters = engineParameters(tls.constraints());
    this.clientSocketParameters = engineParameters(tls.constraints(true));
    this.generations = Generations.unmanaged(side, "JDK TLS context", source, this::build);
    generations.start();
  }

  /**
   * Builds each new snapshot's context as soon as the source publishes it, until the returned
   * subscription is closed or this is unreachable. Without it a snapshot's context is built by the
   * first connection that sees the snapshot.
   */
  public MaterialSource.Subscription follow() {
    context();
    return generations.follow();
  }

  /**
   * Stops following the source for good: open subscriptions close, and engines or sockets asked
   * for afterwards fail with an {@link IllegalStateException}; open connections are not touched.
   */
  public void close() {
    generations.close();
  }

  /** A JDK {@link SSLContext} whose engines and sockets come from this. */
  public SSLContext newSslContext() {
    return new FollowingSslContext(this);
  }

  private static final class FollowingSslContext extends SSLContext {
    FollowingSslContext(FollowingSslContextSpi spi) {
      super(spi, spi.context().getProvider(), "TLS");
    }
  }

  /** The generation new connections get, or 0 before the first snapshot. */
  public long generation() {
    return generations.generation();
  }

  /**
   * The JDK context of the current snapshot (or of the last good one, or the placeholder).
   *
   * @throws IllegalStateException once closed
   */
  public SSLContext context() {
    Built built = built();
    return built == null ? noMaterial : built.context();
  }

  /** The current snapshot's context and trust manager, built first if need be; null before the first. */
  private Built built() {
    Generations.Lease<Built> lease = generations.current();
    return lease == null ? null : lease.value();
  }

  private Built build(MtlsMaterial material) {
    X509ExtendedTrustManager trustManager = trust.apply(material);
    SSLContext context = MaterialStores.newSslContext(material, trustManager);
    int seconds = PeerValidity.sessionSeconds(material.identity().notAfter(), clock.instant());
    context.getServerSessionContext().setSessionTimeout(seconds);
    context.getClientSessionContext().setSessionTimeout(seconds);
    madeUnder.put(context.getServerSessionContext(), material);
    madeUnder.put(context.getClientSessionContext(), material);
    return new Built(material, context, trustManager);
  }

  /** The snapshot new connections get (the last good one), or empty before the first. */
  public java.util.Optional<MtlsMaterial> material() {
    Built built = built();
    return built == null ? java.util.Optional.empty() : java.util.Optional.of(built.material());
  }

  /**
   * The trust manager of the snapshot new connections get; before the first snapshot one that
   * refuses every peer.
   */
  public X509ExtendedTrustManager trustManager() {
    Built built = built();
    return built == null ? MaterialStores.refuseAll("kube-mtls " + side + ": no TLS material yet")
        : built.trustManager();
  }

  /**
   * The snapshot {@code session} was made under, if a context of this engine made it and that
   * context is still reachable; empty for a session of another context.
   */
  public java.util.Optional<MtlsMaterial> materialOf(javax.net.ssl.SSLSession session) {
    SSLSessionContext sessions = session == null ? null : session.getSessionContext();
    return sessions == null ? java.util.Optional.empty()
        : java.util.Optional.ofNullable(madeUnder.get(sessions));
  }

  /** The policy's parameters for engines and sockets of this context, with {@code constraints}. */
  private SSLParameters engineParameters(PolicyConstraints constraints) {
    SSLParameters p = new SSLParameters(tls.policy().cipherSuites().toArray(String[]::new),
        tls.policy().protocols().toArray(String[]::new));
    p.setUseCipherSuitesOrder(true);
    p.setAlgorithmConstraints(constraints);
    if (identifyServer) {
      p.setEndpointIdentificationAlgorithm("HTTPS");
    }
    // Read in server mode only: a server engine asks for the client certificate the policy demands.
    if (tls.policy().clientAuth() == dev.kubemtls.core.tls.ClientAuth.REQUIRE) {
      p.setNeedClientAuth(true);
    } else {
      p.setWantClientAuth(true);
    }
    return p;
  }

  private SSLEngine configure(SSLContext context, SSLEngine engine) {
    engine.setSSLParameters(engineParameters);
    // An engine's role is known only once it starts: a client gets the client constraints then.
    return new CheckedSslEngine(engine, clock, side, engineListener, () -> {
      tls.restrictClient(engine);
      sweepExpiredClientSessions(context);
    });
  }

  private Socket configure(Socket socket) {
    if (socket instanceof SSLSocket ssl) {
      ssl.setSSLParameters(ssl.getUseClientMode() ? clientSocketParameters : engineParameters);
      if (listener != null) {
        long started = System.nanoTime();
        ssl.addHandshakeCompletedListener(event -> listener.handshakeSucceeded(
            ssl.getUseClientMode() ? dev.kubemtls.core.tls.TlsListener.Side.CLIENT
                : dev.kubemtls.core.tls.TlsListener.Side.SERVER,
            CheckedSslEngine.peerOf(event.getSession()), event.getSession().getProtocol(),
            event.getCipherSuite(), java.time.Duration.ofNanos(System.nanoTime() - started)));
      }
    }
    return socket;
  }

  @Override
  protected void engineInit(KeyManager[] km, TrustManager[] tm, SecureRandom sr) throws KeyManagementException {
    throw new KeyManagementException("this SSLContext takes its keys and trust from a kube-mtls"
        + " MaterialSource and cannot be initialized again");
  }

  @Override
  protected SSLSocketFactory engineGetSocketFactory() {
    return new FollowingSocketFactory();
  }

  /** Server sockets are long-lived: one made here keeps the snapshot it was made with. */
  @Override
  protected SSLServerSocketFactory engineGetServerSocketFactory() {
    return context().getServerSocketFactory();
  }

  @Override
  protected SSLEngine engineCreateSSLEngine() {
    SSLContext context = context();
    return configure(context, context.createSSLEngine());
  }

  @Override
  protected SSLEngine engineCreateSSLEngine(String host, int port) {
    SSLContext context = context();
    return configure(context, context.createSSLEngine(host, port));
  }

  @Override
  protected SSLSessionContext engineGetServerSessionContext() {
    return context().getServerSessionContext();
  }

  @Override
  protected SSLSessionContext engineGetClientSessionContext() {
    return context().getClientSessionContext();
  }

  /** The policy's client parameters, so that a JDK {@code HttpClient} follows it by default. */
  @Override
  protected SSLParameters engineGetDefaultSSLParameters() {
    return tls.parameters(true);
  }

  @Override
  protected SSLParameters engineGetSupportedSSLParameters() {
    return context().getSupportedSSLParameters();
  }

  /**
   * Invalidates the cached client sessions whose peer certificate has expired by the injected
   * clock, so that no socket or client engine resumes one: a socket's handshake cannot be checked
   * when it completes (the JDK tells its listeners on another thread, after application data may
   * have flowed), and an engine that refused a resumed session at completion could only send a
   * close_notify; so the session either could resume is checked before its ClientHello instead,
   * and an expired peer meets a full handshake, whose trust check refuses it with an alert. For an
   * engine, a pass over the cache only when one may be due ({@link PeerValidity#sweepExpiredWhenDue}:
   * the engine's own check at completion covers the rest); for a socket, which has no such check,
   * a pass every time.
   */
  private void sweepExpiredClientSessions(SSLContext context) {
    PeerValidity.sweepExpiredWhenDue(context.getClientSessionContext(), clock.instant());
  }

  /** Takes each new socket from the current snapshot's context. */
  private final class FollowingSocketFactory extends SSLSocketFactory {
    private SSLSocketFactory delegate() {
      SSLContext context = context();
      PeerValidity.sweepExpired(context.getClientSessionContext(), clock.instant());
      return context.getSocketFactory();
    }

    @Override
    public String[] getDefaultCipherSuites() {
      return tls.policy().cipherSuites().toArray(String[]::new);
    }

    @Override
    public String[] getSupportedCipherSuites() {
      return delegate().getSupportedCipherSuites();
    }

    @Override
    public Socket createSocket() throws IOException {
      return configure(delegate().createSocket());
    }

    @Override
    public Socket createSocket(Socket s, String host, int port, boolean autoClose) throws IOException {
      return configure(delegate().createSocket(s, host, port, autoClose));
    }

    @Override
    public Socket createSocket(Socket s, InputStream consumed, boolean autoClose) throws IOException {
      return configure(delegate().createSocket(s, consumed, autoClose));
    }

    @Override
    public Socket createSocket(String host, int port) throws IOException {
      return configure(delegate().createSocket(host, port));
    }

    @Override
    public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
      return configure(delegate().createSocket(host, port, localHost, localPort));
    }

    @Override
    public Socket createSocket(InetAddress host, int port) throws IOException {
      return configure(delegate().createSocket(host, port));
    }

    @Override
    public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort)
        throws IOException {
      return configure(delegate().createSocket(address, port, localAddress, localPort));
    }
  }
}
