package dev.kubemtls.kafka;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import java.time.Duration;
import java.time.InstantSource;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The named registry through which Kafka finds kube-mtls material, and the configuration that
 * points a Kafka client or broker at it.
 *
 * <p>Kafka makes its {@code ssl.engine.factory.class} itself, by class name with a no-argument
 * constructor, and gives it the client's or broker's configuration map. A broker's map holds
 * strings only (it comes from {@code server.properties}), and so does a Spring Boot application's;
 * a Java client's map would carry an object, but not through every layer that copies it. So the
 * application registers its {@link MaterialSource} here under a name, and the configuration carries
 * that name in {@value #SOURCE_CONFIG}: one line beside {@code security.protocol=SSL} and
 * {@code ssl.engine.factory.class}. {@link #clientConfig(String)} and {@link #brokerConfig(String)}
 * return those lines.
 *
 * <pre>{@code
 * try (KafkaMtls.Registration r = KafkaMtls.register("orders", source)) {
 *   Map<String, Object> config = new HashMap<>(KafkaMtls.clientConfig("orders"));
 *   config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, "kafka.shop.svc:9093");
 *   try (KafkaProducer<String, String> producer = new KafkaProducer<>(config, ...)) { ... }
 * }
 * }</pre>
 *
 * <p>A registration lives until it is {@linkplain Registration#close() closed}; a factory that Kafka
 * configured with it keeps following its source after that, until Kafka closes the factory (the
 * client or listener closes). A name names one registration at a time.
 */
public final class KafkaMtls {

  /** The configuration key that names the registration a factory takes its material from. */
  public static final String SOURCE_CONFIG = "kube.mtls.source";

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,252}");
  private static final Map<String, Registration> REGISTRY = new ConcurrentHashMap<>();

  private KafkaMtls() {}

  /**
   * Registers {@code source} under {@code name} with {@link TlsPolicy#defaults()} and
   * {@link PeerPolicy#anySpiffeId()}; see {@link #source(String, MaterialSource)}.
   *
   * @throws IllegalStateException if the name is taken
   */
  public static Registration register(String name, MaterialSource source) {
    return source(name, source).register();
  }

  /** A builder for a registration of {@code source} under {@code name}. */
  public static Builder source(String name, MaterialSource source) {
    return new Builder(name, source);
  }

  /**
   * The registration under {@code name}, if there is one.
   */
  public static Optional<Registration> lookup(String name) {
    return Optional.ofNullable(REGISTRY.get(Objects.requireNonNull(name, "name")));
  }

  static Set<String> names() {
    return new TreeSet<>(REGISTRY.keySet());
  }

  /**
   * The client configuration that uses the registration {@code name}: {@code security.protocol=SSL},
   * {@code ssl.engine.factory.class} and {@value #SOURCE_CONFIG}. Kafka's default
   * {@code ssl.endpoint.identification.algorithm} ({@code https}) stays: the client checks that the
   * broker's certificate names the host it dialled.
   */
  public static Map<String, Object> clientConfig(String name) {
    requireName(name);
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("security.protocol", "SSL");
    config.put("ssl.engine.factory.class", MtlsSslEngineFactory.class.getName());
    config.put(SOURCE_CONFIG, name);
    return Map.copyOf(config);
  }

  /**
   * The broker configuration that makes every SSL listener use the registration {@code name}
   * ({@code ssl.engine.factory.class}, {@value #SOURCE_CONFIG}) and name clients by their SPIFFE ID
   * ({@code principal.builder.class}, see {@link SpiffePrincipalBuilder}). Listeners, the
   * listener security protocol map and the authorizer are the broker's own settings.
   */
  public static Map<String, Object> brokerConfig(String name) {
    requireName(name);
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("ssl.engine.factory.class", MtlsSslEngineFactory.class.getName());
    config.put(SOURCE_CONFIG, name);
    config.put("principal.builder.class", SpiffePrincipalBuilder.class.getName());
    return Map.copyOf(config);
  }

  private static String requireName(String name) {
    Objects.requireNonNull(name, "name");
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("kube-mtls: registration name '" + name + "' must be 1-253"
          + " letters, digits, '.', '_' or '-', starting with a letter or digit");
    }
    return name;
  }

  /** Options for one registration. */
  public static final class Builder {
    private final String name;
    private final MaterialSource source;
    private TlsPolicy tlsPolicy = TlsPolicy.defaults();
    private PeerPolicy peerPolicy = PeerPolicy.anySpiffeId();
    private Duration maxConnectionAge;
    private InstantSource clock = InstantSource.system();
    private TlsListener listener = TlsListener.NO_OP;

    private Builder(String name, MaterialSource source) {
      this.name = requireName(name);
      this.source = Objects.requireNonNull(source, "source");
    }

    /**
     * Protocols, suites, signature schemes and groups of every connection. A broker's listeners
     * always require a client certificate, whatever {@link TlsPolicy#clientAuth()} says.
     */
    public Builder tlsPolicy(TlsPolicy policy) {
      this.tlsPolicy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * The peers this side accepts, checked in the handshake: a client's policy names the brokers
     * (for example {@code allowServiceAccount("kafka", "broker")}), a broker's the clients it lets
     * connect at all (ACLs then decide what each may do). {@link PeerPolicy#anySpiffeId()} unless
     * set.
     */
    public Builder peerPolicy(PeerPolicy policy) {
      this.peerPolicy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * Bounds how long a client connection keeps the material it was made with: the first request
     * written after {@code age} closes the connection instead (TLS close_notify; that request was
     * not sent, and Kafka clients retry it on a new connection, which takes the current material).
     * Requests already sent on that connection whose responses had not arrived are retried as after
     * any lost connection (idempotent producers, the default, do not duplicate them). Without it a
     * busy client connection lives until it is idle for {@code connections.max.idle.ms}, a broker
     * restarts or the network drops it. Broker listeners do not close connections by age.
     *
     * @throws IllegalArgumentException if {@code age} is not positive
     */
    public Builder maxConnectionAge(Duration age) {
      Objects.requireNonNull(age, "age");
      if (age.isNegative() || age.isZero()) {
        throw new IllegalArgumentException("kube-mtls: maxConnectionAge must be positive, got " + age);
      }
      this.maxConnectionAge = age;
      return this;
    }

    /**
     * Told of every handshake of the connections of factories configured with this registration
     * (client connections as {@code CLIENT}, broker listener connections as {@code SERVER}): the peer
     * on success, the classified cause on failure. None unless set.
     */
    public Builder listener(TlsListener listener) {
      this.listener = Objects.requireNonNull(listener, "listener");
      return this;
    }

    /** The clock connection ages are measured with; the system clock unless set (for tests). */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /**
     * Registers, or fails if the name is taken.
     *
     * @throws IllegalStateException if another registration holds the name
     */
    public Registration register() {
      Registration r = new Registration(name, source, tlsPolicy, peerPolicy, maxConnectionAge, clock, listener);
      Registration previous = REGISTRY.putIfAbsent(name, r);
      if (previous != null) {
        throw new IllegalStateException("kube-mtls: the Kafka source name '" + name
            + "' is already registered; close that registration first or pick another name");
      }
      return r;
    }
  }

  /**
   * A source registered under a name, with the policies its connections use. Closing it frees the
   * name; factories already configured with it keep following the source.
   */
  public static final class Registration implements AutoCloseable {
    private final String name;
    private final MaterialSource source;
    private final TlsPolicy tlsPolicy;
    private final PeerPolicy peerPolicy;
    private final Duration maxConnectionAge;
    private final InstantSource clock;
    private final TlsListener listener;
    private final java.util.concurrent.atomic.AtomicBoolean hostnameWarned =
        new java.util.concurrent.atomic.AtomicBoolean();

    private Registration(String name, MaterialSource source, TlsPolicy tlsPolicy, PeerPolicy peerPolicy,
        Duration maxConnectionAge, InstantSource clock, TlsListener listener) {
      this.name = name;
      this.source = source;
      this.tlsPolicy = tlsPolicy;
      this.peerPolicy = peerPolicy;
      this.maxConnectionAge = maxConnectionAge;
      this.clock = clock;
      this.listener = listener;
    }

    /** The maximum age of a client connection, if one was set. */
    public Optional<Duration> maxConnectionAge() {
      return Optional.ofNullable(maxConnectionAge);
    }

    InstantSource clock() {
      return clock;
    }

    /** The listener told of each handshake ({@link TlsListener#NO_OP} unless set). */
    public TlsListener listener() {
      return listener;
    }

    /** True the first time only: the warning about a client without a hostname check is logged once. */
    boolean firstHostnameWarning() {
      return hostnameWarned.compareAndSet(false, true);
    }

    public String name() {
      return name;
    }

    public MaterialSource source() {
      return source;
    }

    public TlsPolicy tlsPolicy() {
      return tlsPolicy;
    }

    public PeerPolicy peerPolicy() {
      return peerPolicy;
    }

    /** {@link KafkaMtls#clientConfig(String)} for this registration. */
    public Map<String, Object> clientConfig() {
      return KafkaMtls.clientConfig(name);
    }

    /** {@link KafkaMtls#brokerConfig(String)} for this registration. */
    public Map<String, Object> brokerConfig() {
      return KafkaMtls.brokerConfig(name);
    }

    /** Frees the name (if this registration still holds it). */
    @Override
    public void close() {
      REGISTRY.remove(name, this);
    }

    @Override
    public String toString() {
      return "KafkaMtls.Registration[" + name + ", " + peerPolicy + "]";
    }
  }
}
