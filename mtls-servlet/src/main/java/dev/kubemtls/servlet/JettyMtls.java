package dev.kubemtls.servlet;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.core.internal.SafeTlsListener;
import dev.kubemtls.servlet.internal.ConnectionBound;
import dev.kubemtls.servlet.internal.HandshakeFailureLogger;
import dev.kubemtls.servlet.internal.MaterialClientSslContextFactory;
import dev.kubemtls.servlet.internal.MaterialServerSslContextFactory;
import dev.kubemtls.servlet.internal.ReportingClientConnector;
import dev.kubemtls.servlet.internal.ReportingSslConnectionFactory;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * Entry points for mutual TLS with Jetty 12: HTTPS server connectors and HTTP clients whose
 * certificate and trust follow a {@link MaterialSource}.
 *
 * <p>The source (usually a {@code CertificateManager}) holds one immutable snapshot at a time: the
 * workload's private key and certificate chain plus the CA bundle it trusts. A connector or client
 * built here takes each new connection's TLS engine from a JDK context built for the snapshot that
 * is current (the same context as {@link dev.kubemtls.core.tls.MtlsSslContexts#following}), built
 * once per snapshot when the source publishes it. Connections that are open keep the certificate
 * they started with and finish normally; connections opened afterwards present the new certificate
 * and check peers against the new bundle. Material that fails validation is logged and the working
 * material stays.
 *
 * <p>Both builders have the options of every kube-mtls integration: a {@link TlsPolicy}
 * ({@link TlsPolicy#defaults()}), a {@link PeerPolicy} ({@link PeerPolicy#anySpiffeId()}, checked in
 * the handshake against every certificate a peer presents) and a {@link TlsListener}. A connector
 * or client may start before the source has material: until the first snapshot arrives every
 * handshake fails (the server has no certificate to present, the client trusts nobody), and the
 * first snapshot is used as soon as it is published. A refused peer certificate is logged at WARN,
 * at most once a minute per cause, with its subject, serial, the reason and what to check.
 *
 * <pre>{@code
 * Server server = new Server();
 * ServerConnector https = JettyMtls.forServer(manager).port(8443).newConnector(server);
 * server.addConnector(https);
 *
 * HttpClient client = JettyMtls.forClient(manager).newHttpClient();
 * client.start();
 * }</pre>
 *
 * <p>Nothing touches the disk: key and trust stores exist only in memory.
 *
 * <p>Give a {@link TlsListener} to a builder ({@code .listener(...)}) to hear the outcome of every
 * TLS handshake of its connectors or clients, for metrics and alerts; allow-list refusals are
 * reported by {@link MtlsPeerFilter}, per request.
 */
public final class JettyMtls {

  private JettyMtls() {}

  /** The default {@linkplain ServerBuilder#maxConnectionAge maximum connection age}: 30 minutes. */
  public static final Duration DEFAULT_MAX_CONNECTION_AGE = Duration.ofMinutes(30);

  /** Starts a server connector configuration: client certificates required, any interface, port 8443. */
  public static ServerBuilder forServer(MaterialSource source) {
    return new ServerBuilder(Objects.requireNonNull(source, "source"));
  }

  /** Starts a client configuration that presents the source's certificate to servers. */
  public static ClientBuilder forClient(MaterialSource source) {
    return new ClientBuilder(Objects.requireNonNull(source, "source"));
  }

  /**
   * Options of an mTLS server connector. A builder can make any number of connectors; each gets its
   * own {@link SslContextFactory.Server} and subscription.
   *
   * <p>The connector speaks HTTP/1.1 over TLS 1.3 or 1.2 with ECDHE and AEAD ciphers only. It does
   * not require SNI and does not compare SNI or the {@code Host} header with its certificate, so
   * peers may dial a pod IP or a short Service name. The client certificate of every request is
   * available to servlets as {@code jakarta.servlet.request.X509Certificate}; see
   * {@link MtlsPeerFilter}.
   */
  public static final class ServerBuilder {
    private final MaterialSource source;
    private String host;
    private int port = 8443;
    private TlsPolicy policy = TlsPolicy.defaults();
    private PeerPolicy peerPolicy = PeerPolicy.anySpiffeId();
    private Duration idleTimeout = Duration.ofSeconds(30);
    private HttpConfiguration httpConfiguration;
    private TlsListener listener = TlsListener.NO_OP;
    private java.time.InstantSource clock = java.time.InstantSource.system();
    private Duration maxConnectionAge = DEFAULT_MAX_CONNECTION_AGE;

    private ServerBuilder(MaterialSource source) {
      this.source = source;
    }

    /**
     * The clock a client's certificate validity is checked against when a handshake completes,
     * resumed or not; the system clock by default. For tests.
     */
    ServerBuilder clock(java.time.InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** The interface to listen on, e.g. {@code 0.0.0.0} or {@code 127.0.0.1}; all by default. */
    public ServerBuilder host(String host) {
      Objects.requireNonNull(host, "host");
      if (host.isBlank()) {
        throw new IllegalArgumentException("host must not be blank; leave it unset to listen on all interfaces");
      }
      this.host = host;
      return this;
    }

    /** The TCP port, 0 for an ephemeral one; 8443 by default. */
    public ServerBuilder port(int port) {
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("port must be between 0 and 65535, was " + port);
      }
      this.port = port;
      return this;
    }

    /**
     * Protocols, suites, signature schemes, groups and whether clients must present a certificate
     * ({@link TlsPolicy#clientAuth()}); {@link TlsPolicy#defaults()} by default.
     */
    public ServerBuilder policy(TlsPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * Which clients may complete the handshake, checked against every certificate a client
     * presents; {@link PeerPolicy#anySpiffeId()} by default. A client without a certificate (with
     * {@link dev.kubemtls.core.tls.ClientAuth#OPTIONAL}) is left to {@link MtlsPeerFilter}.
     */
    public ServerBuilder peerPolicy(PeerPolicy peerPolicy) {
      this.peerPolicy = Objects.requireNonNull(peerPolicy, "peerPolicy");
      return this;
    }

    /**
     * The longest a connection stays open, 30 minutes by default (as the gRPC integration's
     * servers). Whatever the age, a connection also ends at the client certificate's
     * {@code notAfter} and when a new snapshot's trust bundle no longer holds the CA that issued the
     * client's chain. It ends gracefully: a request that starts on an ended connection is served
     * and answered with {@code Connection: close}; a connection that gets no new request within one
     * second of its end (or of its in-flight responses) is closed with a TLS close_notify, so a
     * client about to reuse it does not race the close. Applies to connectors made by {@link #newConnector}
     * and {@link JettyServerTls#newConnector}, not to bare {@link #newSslContextFactory factories}.
     */
    public ServerBuilder maxConnectionAge(Duration maxAge) {
      Objects.requireNonNull(maxAge, "maxAge");
      if (maxAge.isNegative() || maxAge.isZero()) {
        throw new IllegalArgumentException("maxConnectionAge must be positive, was " + maxAge);
      }
      this.maxConnectionAge = maxAge;
      return this;
    }

    /**
     * Turns the connection bound off: connections stay open while the client keeps them, also past
     * its certificate's {@code notAfter} and the retirement of its CA.
     */
    public ServerBuilder unboundedConnections() {
      this.maxConnectionAge = null;
      return this;
    }

    /** How long an idle connection stays open; 30 seconds by default. */
    public ServerBuilder idleTimeout(Duration idleTimeout) {
      Objects.requireNonNull(idleTimeout, "idleTimeout");
      if (idleTimeout.isNegative() || idleTimeout.isZero()) {
        throw new IllegalArgumentException("idleTimeout must be positive, was " + idleTimeout);
      }
      this.idleTimeout = idleTimeout;
      return this;
    }

    /**
     * HTTP settings to start from (header sizes, other customizers). The builder copies it when it
     * makes a connector and never changes the given object; any {@link SecureRequestCustomizer} in
     * it is replaced by one without SNI checks.
     */
    public ServerBuilder httpConfiguration(HttpConfiguration httpConfiguration) {
      this.httpConfiguration = Objects.requireNonNull(httpConfiguration, "httpConfiguration");
      return this;
    }

    /**
     * Told about the outcome of every TLS handshake on connectors made by {@link #newConnector}
     * (not on factories from {@link #newSslContextFactory}); {@link TlsListener#NO_OP} by default,
     * which adds nothing per connection. With TLS 1.3 a client whose certificate is refused is
     * reported here as a failure while the client itself reports a success. It is called on Jetty's
     * I/O threads and must not block; what it throws is logged and ignored.
     */
    public ServerBuilder listener(TlsListener listener) {
      this.listener = SafeTlsListener.wrap(listener);
      return this;
    }

    /**
     * A new TLS context factory bound to the source, for callers that assemble their own
     * connectors. Every engine it makes comes from the snapshot current at that moment.
     */
    public SslContextFactory.Server newSslContextFactory() {
      return new MaterialServerSslContextFactory(source, policy, peerPolicy, clock);
    }

    /**
     * A new HTTPS connector for {@code server}, not yet added to it: call
     * {@link Server#addConnector}. It starts and stops with the server.
     */
    public ServerConnector newConnector(Server server) {
      Objects.requireNonNull(server, "server");
      return connector(server, newSslContextFactory());
    }

    /**
     * A closeable handle on these options: its connectors and factories share one TLS context
     * that follows the source, and {@link JettyServerTls#close()} ends it for all of them.
     */
    public JettyServerTls build() {
      ServerBuilder options = copy();
      return new JettyServerTls(
          MaterialServerSslContextFactory.newSpi(source, new dev.kubemtls.core.internal.JdkTls(policy), peerPolicy,
              clock),
          policy, peerPolicy, options::connector);
    }

    private ServerBuilder copy() {
      ServerBuilder b = new ServerBuilder(source);
      b.host = host;
      b.port = port;
      b.policy = policy;
      b.peerPolicy = peerPolicy;
      b.idleTimeout = idleTimeout;
      b.httpConfiguration = httpConfiguration == null ? null : new HttpConfiguration(httpConfiguration);
      b.listener = listener;
      b.clock = clock;
      b.maxConnectionAge = maxConnectionAge;
      return b;
    }

    private ServerConnector connector(Server server, SslContextFactory.Server factory) {
      Objects.requireNonNull(server, "server");
      HttpConfiguration http = httpConfiguration == null
          ? new HttpConfiguration() : new HttpConfiguration(httpConfiguration);
      List<HttpConfiguration.Customizer> customizers = new java.util.ArrayList<>(http.getCustomizers());
      customizers.removeIf(c -> c instanceof SecureRequestCustomizer);
      SecureRequestCustomizer secure = new SecureRequestCustomizer(false, false, -1, false);
      customizers.add(0, secure);
      http.setCustomizers(customizers);
      http.setSecureScheme("https");
      if (port != 0) {
        http.setSecurePort(port);
      }
      ServerConnector connector = new ServerConnector(server,
          new ReportingSslConnectionFactory(factory, HttpVersion.HTTP_1_1.asString(),
              listener),
          new HttpConnectionFactory(http));
      if (host != null) {
        connector.setHost(host);
      }
      connector.setPort(port);
      connector.setIdleTimeout(idleTimeout.toMillis());
      connector.addBean(new HandshakeFailureLogger());
      if (maxConnectionAge != null) {
        ConnectionBound bound = new ConnectionBound(source, maxConnectionAge, clock, connector.getScheduler());
        connector.addBean(bound);
        http.addCustomizer(bound);
      }
      return connector;
    }
  }

  /**
   * Options of an mTLS client. The client presents the source's current certificate, accepts only
   * servers whose certificate chains to the current trust bundle and names the host or IP address
   * that was dialled (HTTPS endpoint identification), and picks up renewals without being rebuilt.
   */
  public static final class ClientBuilder {
    private final MaterialSource source;
    private TlsPolicy policy = TlsPolicy.defaults();
    private PeerPolicy peerPolicy = PeerPolicy.anySpiffeId();
    private Duration connectTimeout = Duration.ofSeconds(5);
    private Duration idleTimeout = Duration.ofSeconds(30);
    private TlsListener listener = TlsListener.NO_OP;
    private java.time.InstantSource clock = java.time.InstantSource.system();

    private ClientBuilder(MaterialSource source) {
      this.source = source;
    }

    /**
     * The clock the server's certificate validity is checked against when a handshake completes,
     * resumed or not; the system clock by default. For tests.
     */
    ClientBuilder clock(java.time.InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Protocols, suites, signature schemes and groups; {@link TlsPolicy#defaults()} by default. */
    public ClientBuilder policy(TlsPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * Which servers may be talked to beyond the name check, checked in the handshake;
     * {@link PeerPolicy#anySpiffeId()} by default.
     */
    public ClientBuilder peerPolicy(PeerPolicy peerPolicy) {
      this.peerPolicy = Objects.requireNonNull(peerPolicy, "peerPolicy");
      return this;
    }

    /** How long to wait for a TCP connection; 5 seconds by default. */
    public ClientBuilder connectTimeout(Duration connectTimeout) {
      this.connectTimeout = positive("connectTimeout", connectTimeout);
      return this;
    }

    /** How long an idle pooled connection stays open; 30 seconds by default. */
    public ClientBuilder idleTimeout(Duration idleTimeout) {
      this.idleTimeout = positive("idleTimeout", idleTimeout);
      return this;
    }

    /**
     * Told about the outcome of every TLS handshake of clients made by {@link #newHttpClient};
     * {@link TlsListener#NO_OP} by default, which adds nothing per connection. With TLS 1.3 the
     * client finishes its side of the handshake before the server checks the client's certificate,
     * so a refusal by the server is reported here as a success and reaches the request as an I/O
     * error; the server's listener reports the failure. It is called on Jetty's I/O threads and must
     * not block; what it throws is logged and ignored.
     */
    public ClientBuilder listener(TlsListener listener) {
      this.listener = SafeTlsListener.wrap(listener);
      return this;
    }

    /**
     * A new TLS context factory bound to the source, for callers that assemble their own
     * {@link ClientConnector}. Every engine it makes comes from the snapshot current at that moment.
     */
    public SslContextFactory.Client newSslContextFactory() {
      return new MaterialClientSslContextFactory(source, policy, peerPolicy, clock);
    }

    /**
     * A new HTTP/1.1 client, not started. Start it before use and stop it when done; it follows
     * the source.
     */
    public HttpClient newHttpClient() {
      return httpClient(newSslContextFactory());
    }

    /**
     * A closeable handle on these options: its clients and factories share one TLS context that
     * follows the source, and {@link JettyClientTls#close()} ends it for all of them.
     */
    public JettyClientTls build() {
      ClientBuilder options = new ClientBuilder(source);
      options.policy = policy;
      options.peerPolicy = peerPolicy;
      options.connectTimeout = connectTimeout;
      options.idleTimeout = idleTimeout;
      options.listener = listener;
      options.clock = clock;
      return new JettyClientTls(
          MaterialClientSslContextFactory.newSpi(source, new dev.kubemtls.core.internal.JdkTls(policy), peerPolicy,
              clock),
          policy, peerPolicy, options::httpClient);
    }

    private HttpClient httpClient(SslContextFactory.Client factory) {
      ClientConnector connector = new ReportingClientConnector(listener);
      connector.setSslContextFactory(factory);
      connector.setConnectTimeout(connectTimeout);
      connector.setIdleTimeout(idleTimeout);
      return new HttpClient(new HttpClientTransportOverHTTP(connector));
    }

    private static Duration positive(String name, Duration value) {
      Objects.requireNonNull(value, name);
      if (value.isNegative() || value.isZero()) {
        throw new IllegalArgumentException(name + " must be positive, was " + value);
      }
      return value;
    }
  }
}
