package dev.kubemtls.kafka;

import dev.kubemtls.core.internal.EndingSslEngine;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.MtlsJdkTls;
import java.security.KeyStore;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.security.auth.SslEngineFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kafka's {@code ssl.engine.factory.class} for kube-mtls: every new connection of a Kafka client or
 * broker listener takes its key, certificate chain and trusted CAs from the
 * {@link dev.kubemtls.core.MaterialSource} registered under the name in
 * {@value KafkaMtls#SOURCE_CONFIG} (see {@link KafkaMtls}), so a renewed certificate or a changed
 * trust bundle reaches the next connection without a restart, and open connections keep the
 * material they were made with.
 *
 * <p>Kafka creates one factory per client (per mode) and per broker listener, by class name, and
 * calls {@link #configure(Map)} once. The factory builds two kube-mtls JDK contexts that follow the
 * source ({@link MtlsJdkTls}, one for client engines and one for server engines, each reporting to
 * the registration's {@link dev.kubemtls.core.tls.TlsListener} as its side); material that fails
 * validation is refused and the last good material stays in use. Before the source has material
 * every handshake fails.
 *
 * <ul>
 *   <li>Client engines verify the broker's name with the algorithm Kafka passes
 *       ({@code ssl.endpoint.identification.algorithm}, {@code https} by default) and the broker's
 *       SPIFFE ID against the registration's {@link dev.kubemtls.core.peer.PeerPolicy}.
 *   <li>Server engines always require a client certificate that chains to the trust bundle and
 *       passes the registration's {@code PeerPolicy}; {@code ssl.client.auth} is not read.
 *   <li>Kafka's own {@code ssl.keystore.*}, {@code ssl.truststore.*}, {@code ssl.protocol},
 *       {@code ssl.enabled.protocols} and {@code ssl.cipher.suites} are not read: the registration's
 *       {@link dev.kubemtls.core.tls.TlsPolicy} decides protocols and suites.
 * </ul>
 *
 * <p>Nothing is dynamically reconfigurable ({@link #reconfigurableConfigs()} is empty): the material
 * already follows the source. {@link #keystore()} and {@link #truststore()} return {@code null}:
 * Kafka reads them only to log and to compare file keystores when a broker's SSL settings are
 * changed at run time, which does not apply to material that is not in a file. On a broker's
 * inter-broker listener Kafka checks at start-up that a client engine of this factory can complete a
 * handshake with a server engine of it, so the broker's certificate must also allow client
 * authentication and its SPIFFE ID must pass its own {@code PeerPolicy}.
 */
public final class MtlsSslEngineFactory implements SslEngineFactory {

  private static final Logger LOG = LoggerFactory.getLogger(MtlsSslEngineFactory.class);

  private volatile KafkaMtls.Registration registration;
  private volatile MtlsJdkTls client;
  private volatile MtlsJdkTls server;
  private volatile boolean closed;

  /** For Kafka, which creates the factory by class name; {@link #configure(Map)} follows. */
  public MtlsSslEngineFactory() {}

  /**
   * Finds the registration named in {@value KafkaMtls#SOURCE_CONFIG} and builds the context that
   * follows its source.
   *
   * @throws ConfigException if the key is missing, or no registration holds the name
   * @throws dev.kubemtls.core.InvalidMaterialException if the source's current material is unusable
   */
  @Override
  public void configure(Map<String, ?> configs) {
    KafkaMtls.Registration r = resolve(configs);
    MtlsJdkTls c = MtlsJdkTls.forClient(r.source()).tlsPolicy(r.tlsPolicy()).peerPolicy(r.peerPolicy())
        .listener(r.listener()).build();
    MtlsJdkTls s;
    try {
      s = MtlsJdkTls.forServer(r.source()).tlsPolicy(r.tlsPolicy().withClientAuth(ClientAuth.REQUIRE))
          .peerPolicy(r.peerPolicy()).listener(r.listener()).build();
    } catch (RuntimeException e) {
      c.close();
      throw e;
    }
    this.client = c;
    this.server = s;
    this.registration = r;
    Object endpoint = configs.get("ssl.endpoint.identification.algorithm");
    if ((endpoint == null || endpoint.toString().isEmpty()) && r.firstHostnameWarning()) {
      LOG.warn("kube-mtls Kafka '{}': ssl.endpoint.identification.algorithm is empty, so client"
          + " connections do not check that the broker's certificate names the host they dial;"
          + " only the PeerPolicy ({}) identifies the broker (logged once per registration)", r.name(),
          r.peerPolicy());
    }
    LOG.debug("kube-mtls Kafka: SSL engine factory follows the material source '{}'", r.name());
  }

  static KafkaMtls.Registration resolve(Map<String, ?> configs) {
    Objects.requireNonNull(configs, "configs");
    Object value = configs.get(KafkaMtls.SOURCE_CONFIG);
    if (value instanceof KafkaMtls.Registration r) {
      return r;
    }
    if (value == null || value.toString().isBlank()) {
      throw new ConfigException("kube-mtls: " + MtlsSslEngineFactory.class.getName() + " needs '"
          + KafkaMtls.SOURCE_CONFIG + "' naming a source registered with KafkaMtls.register(name,"
          + " source) before the Kafka client or broker starts; registered names: " + KafkaMtls.names());
    }
    String name = value.toString().trim();
    return KafkaMtls.lookup(name).orElseThrow(() -> new ConfigException(KafkaMtls.SOURCE_CONFIG, name,
        "kube-mtls: no material source is registered under this name; register it with"
            + " KafkaMtls.register(\"" + name + "\", source) before the Kafka client or broker"
            + " starts (registered names: " + KafkaMtls.names() + ")"));
  }

  private SSLContext context(boolean forClient) {
    MtlsJdkTls tls = forClient ? client : server;
    if (tls == null) {
      throw new IllegalStateException("kube-mtls: the SSL engine factory has not been configured");
    }
    if (closed) {
      throw new IllegalStateException("kube-mtls: the SSL engine factory for '" + registration.name()
          + "' has been closed");
    }
    return tls.sslContext();
  }

  /**
   * A client engine with the source's current material; with a non-empty
   * {@code endpointIdentification} (Kafka passes {@code https} unless configured otherwise) it
   * checks that the broker's certificate names {@code peerHost}. With a
   * {@linkplain KafkaMtls.Builder#maxConnectionAge maximum connection age} the connection ends at
   * its first write after that age.
   */
  @Override
  public SSLEngine createClientSslEngine(String peerHost, int peerPort, String endpointIdentification) {
    SSLEngine engine = context(true).createSSLEngine(peerHost, peerPort);
    engine.setUseClientMode(true);
    SSLParameters p = engine.getSSLParameters();
    // Empty, not null, turns the check off: the JDK keeps the context's HTTPS default when given null.
    p.setEndpointIdentificationAlgorithm(endpointIdentification == null ? "" : endpointIdentification);
    engine.setSSLParameters(p);
    KafkaMtls.Registration r = registration;
    return r.maxConnectionAge().<SSLEngine>map(age -> {
      java.time.Instant deadline = r.clock().instant().plus(age);
      return new EndingSslEngine(engine, e -> r.clock().instant().isBefore(deadline) ? null
          : "maximum connection age " + age);
    }).orElse(engine);
  }

  /** A server engine with the source's current material that requires a client certificate. */
  @Override
  public SSLEngine createServerSslEngine(String peerHost, int peerPort) {
    SSLEngine engine = context(false).createSSLEngine(peerHost, peerPort);
    engine.setUseClientMode(false);
    SSLParameters p = engine.getSSLParameters();
    p.setNeedClientAuth(true);
    engine.setSSLParameters(p);
    return engine;
  }

  /**
   * True only if {@code nextConfigs} names another registration: renewals and trust changes need no
   * rebuild, the factory follows its source.
   */
  @Override
  public boolean shouldBeRebuilt(Map<String, Object> nextConfigs) {
    Object next = nextConfigs.get(KafkaMtls.SOURCE_CONFIG);
    KafkaMtls.Registration r = registration;
    if (r == null) {
      return true;
    }
    if (next instanceof KafkaMtls.Registration other) {
      return other != r;
    }
    return next == null || !next.toString().trim().equals(r.name());
  }

  /** None: the material follows the source without reconfiguration. */
  @Override
  public Set<String> reconfigurableConfigs() {
    return Set.of();
  }

  /** {@code null}: there is no file keystore (see the class documentation). */
  @Override
  public KeyStore keystore() {
    return null;
  }

  /** {@code null}: there is no file truststore (see the class documentation). */
  @Override
  public KeyStore truststore() {
    return null;
  }

  /** New engines are refused afterwards and the contexts stop following the source; open connections are not touched. */
  @Override
  public void close() {
    closed = true;
    MtlsJdkTls c = client;
    MtlsJdkTls s = server;
    if (c != null) {
      c.close();
    }
    if (s != null) {
      s.close();
    }
  }

  @Override
  public String toString() {
    KafkaMtls.Registration r = registration;
    return "MtlsSslEngineFactory[" + (r == null ? "not configured" : r.name()) + "]";
  }
}
