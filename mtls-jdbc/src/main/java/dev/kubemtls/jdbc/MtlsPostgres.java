package dev.kubemtls.jdbc;

import dev.kubemtls.core.tls.MtlsJdkTls;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeSet;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;

/**
 * PostgreSQL connections (pgjdbc) that present the workload's kube-mtls certificate and check the
 * server's, following a {@link MtlsJdkTls} client: each new connection takes the current snapshot.
 *
 * <p>pgjdbc makes its {@code sslfactory} itself, by class name, for every connection, and hands it
 * only the connection's string properties; a private key and a live source cannot travel in a
 * string. So a client is {@linkplain #register registered} here under a name, and
 * {@link MtlsPgSocketFactory} finds it by the connection property {@value #SOURCE_PROPERTY} (or, for
 * older configurations, {@code sslfactoryarg}). The name, not the class, is the key, so one JVM can
 * hold several database identities; every connection of a name shares the client's engine and its
 * session caches. Registering is the application's explicit act, and a connection that names an
 * unregistered source fails saying so.
 *
 * <pre>{@code
 * MtlsJdkTls tls = MtlsJdkTls.forClient(source)
 *     .peerPolicy(PeerPolicy.builder().allowServiceAccount("db", "postgres").build()).build();
 * MtlsPostgres.Registration db = MtlsPostgres.register("orders-db", tls);
 * String url = "jdbc:postgresql://orders-db.db.svc:5432/orders?" + db.urlParameters();
 * }</pre>
 *
 * <p>The server maps the certificate to a role: the subject CN is
 * {@code system:serviceaccount:<namespace>:<serviceaccount>}; see the module README for a
 * {@code pg_hba.conf}/{@code pg_ident.conf} example. Connections use {@code sslmode=verify-full}: the
 * server's certificate must chain to the trust bundle, pass the peer policy and name the host dialled.
 */
public final class MtlsPostgres {

  /** The connection property that names the registered source. */
  public static final String SOURCE_PROPERTY = "kubemtlsSource";

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
  private static final Map<String, Registration> REGISTERED = new ConcurrentHashMap<>();

  private MtlsPostgres() {}

  /**
   * Registers {@code tls} under {@code name} until the registration is closed.
   *
   * @throws IllegalArgumentException if the name is not 1-63 letters, digits, '.', '_' or '-'
   * @throws IllegalStateException    if the name is registered already
   */
  public static Registration register(String name, MtlsJdkTls tls) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(tls, "tls");
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("kube-mtls PostgreSQL source name '" + name
          + "' must be 1-63 letters, digits, '.', '_' or '-' (it travels in a JDBC URL)");
    }
    Registration r = new Registration(name, tls);
    if (REGISTERED.putIfAbsent(name, r) != null) {
      throw new IllegalStateException("a kube-mtls PostgreSQL source named '" + name
          + "' is registered already; close it first or choose another name");
    }
    return r;
  }

  /** The registration of {@code name}, if any. */
  public static Optional<Registration> lookup(String name) {
    return Optional.ofNullable(REGISTERED.get(name));
  }

  static Registration require(Properties info) {
    String name = info == null ? null : info.getProperty(SOURCE_PROPERTY);
    if (name == null || name.isBlank()) {
      name = info == null ? null : info.getProperty("sslfactoryarg");
    }
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException("kube-mtls: the connection names no source; add "
          + SOURCE_PROPERTY + "=<name> to the JDBC URL or properties, with the name given to"
          + " MtlsPostgres.register");
    }
    Registration r = REGISTERED.get(name);
    if (r == null) {
      throw new IllegalStateException("kube-mtls: no PostgreSQL source is registered as '" + name
          + "' (registered: " + new TreeSet<>(REGISTERED.keySet()) + "); call MtlsPostgres.register"
          + " before the first connection");
    }
    return r;
  }

  /**
   * One registered client and the TLS connections its factory made (while they are open), for
   * connection pools that retire connections.
   */
  public static final class Registration implements AutoCloseable {
    private final String name;
    private final MtlsJdkTls tls;
    private final Map<SSLSocket, Handshaken> sockets = Collections.synchronizedMap(new WeakHashMap<>());

    private Registration(String name, MtlsJdkTls tls) {
      this.name = name;
      this.tls = tls;
    }

    public String name() {
      return name;
    }

    /** The client every connection of this name uses. */
    public MtlsJdkTls tls() {
      return tls;
    }

    /**
     * The pgjdbc properties that select this source: {@code ssl=true}, {@code sslmode=verify-full},
     * {@code sslfactory} and {@value #SOURCE_PROPERTY}. A fresh object each call.
     */
    public Properties connectionProperties() {
      Properties p = new Properties();
      p.setProperty("ssl", "true");
      p.setProperty("sslmode", "verify-full");
      p.setProperty("sslfactory", MtlsPgSocketFactory.class.getName());
      p.setProperty(SOURCE_PROPERTY, name);
      return p;
    }

    /** The same as {@link #connectionProperties()}, as a JDBC URL query string. */
    public String urlParameters() {
      return "ssl=true&sslmode=verify-full&sslfactory=" + MtlsPgSocketFactory.class.getName()
          + "&" + SOURCE_PROPERTY + "=" + name;
    }

    void track(Socket socket) {
      if (socket instanceof SSLSocket ssl) {
        ssl.addHandshakeCompletedListener(e -> sockets.put(ssl, new Handshaken(e.getSession(), System.nanoTime())));
      }
    }

    /** Open connections whose handshake completed. */
    public int openConnections() {
      return open().size();
    }

    /** The open connections that must be retired now, each with why ({@link MtlsJdkTls#retirementReason}). */
    public List<Retiring> mustRetire() {
      List<Retiring> out = new ArrayList<>();
      for (Map.Entry<SSLSocket, Handshaken> e : open()) {
        tls.retirementReason(e.getValue().session()).ifPresent(r -> out.add(new Retiring(e.getKey(), r)));
      }
      return out;
    }

    /** The open, handshaken connections. */
    List<Map.Entry<SSLSocket, Handshaken>> open() {
      List<Map.Entry<SSLSocket, Handshaken>> out = new ArrayList<>();
      synchronized (sockets) {
        sockets.entrySet().removeIf(e -> e.getKey().isClosed());
        for (Map.Entry<SSLSocket, Handshaken> e : sockets.entrySet()) {
          out.add(Map.entry(e.getKey(), e.getValue()));
        }
      }
      return out;
    }

    /** Unregisters the name; open connections are not touched, new ones of this name fail. */
    @Override
    public void close() {
      REGISTERED.remove(name, this);
    }

    @Override
    public String toString() {
      return "MtlsPostgres.Registration[" + name + "]";
    }
  }

  /** A connection's TLS session and when (System.nanoTime) its handshake completed. */
  record Handshaken(SSLSession session, long nanos) {}

  /** An open connection that must be retired and why. */
  public record Retiring(Socket socket, String reason) {}
}
