package dev.kubemtls.testkit;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real PostgreSQL server from the distribution's packages ({@code /usr/lib/postgresql/<version>/bin},
 * the newest version there), on a temporary data directory and a loopback port, for tests.
 *
 * <p>TLS clients authenticate with certificates: {@code hostssl all all 127.0.0.1/32 cert map=kube}, with
 * a {@code pg_ident.conf} map from the certificate CN {@code system:serviceaccount:<ns>:<sa>} to a role.
 * The superuser {@code postgres} connects without TLS over loopback (trust), for setting up roles and
 * reading {@code pg_stat_ssl}/{@code pg_stat_activity}. The server refuses to run as root, so when the
 * tests run as root initdb and the server run as the {@code postgres} OS user (through
 * {@code runuser}), with the data directory owned by it. If anything is missing or fails to start, the
 * constructor throws saying what and why: a test never skips. {@link #admin()} needs the PostgreSQL
 * JDBC driver on the test class path.
 */
public final class PostgresServer implements AutoCloseable {

  private static final Path PACKAGES = Path.of("/usr/lib/postgresql");

  private final Path bin;
  private final Path dir;
  private final Path data;
  private final boolean asPostgresUser;
  private final int port;

  /**
   * Initializes and starts a server.
   *
   * @param identMap lines of pg_ident.conf after the map name, e.g.
   *                 {@code system:serviceaccount:shop:web app}
   * @param serverCertPem the server's certificate chain, PEM
   * @param serverKeyPem  the server's private key, PEM (PKCS#8)
   * @param clientCaPem   the CAs client certificates must chain to, PEM
   */
  public PostgresServer(List<String> identMap, String serverCertPem, String serverKeyPem, String clientCaPem)
      throws IOException, InterruptedException {
    this("127.0.0.1", identMap, serverCertPem, serverKeyPem, clientCaPem);
  }

  /**
   * As {@link #PostgresServer(List, String, String, String)}, listening also on the loopback address
   * {@code listenAddress} (such as {@code 127.0.0.10}, a pod IP the demo gives a process), where TLS
   * clients authenticate with certificates as on {@code 127.0.0.1}; the superuser stays on
   * {@code 127.0.0.1}.
   *
   * @throws IllegalArgumentException if {@code listenAddress} is not an IPv4 loopback address
   */
  public PostgresServer(String listenAddress, List<String> identMap, String serverCertPem, String serverKeyPem,
      String clientCaPem) throws IOException, InterruptedException {
    if (!listenAddress.matches("127\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}")) {
      throw new IllegalArgumentException("listenAddress must be an IPv4 loopback address such as 127.0.0.10, was '"
          + listenAddress + "'");
    }
    boolean extra = !listenAddress.equals("127.0.0.1");
    this.bin = findBin();
    this.asPostgresUser = "root".equals(System.getProperty("user.name"));
    this.dir = Files.createTempDirectory("kube-mtls-pg");
    this.data = dir.resolve("data");
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      this.port = s.getLocalPort();
    }
    chown();
    run(List.of(bin.resolve("initdb").toString(), "-D", data.toString(), "-U", "postgres",
        "--auth=trust", "-E", "UTF8"), 120);
    writeTls(serverCertPem, serverKeyPem, clientCaPem);
    String conf = "\n# kube-mtls test server\n"
        + "listen_addresses = '127.0.0.1" + (extra ? "," + listenAddress : "") + "'\n"
        + "port = " + port + "\n"
        + "unix_socket_directories = '" + dir + "'\n"
        + "ssl = on\n"
        + "ssl_cert_file = '" + dir.resolve("server.crt") + "'\n"
        + "ssl_key_file = '" + dir.resolve("server.key") + "'\n"
        + "ssl_ca_file = '" + dir.resolve("client-ca.crt") + "'\n"
        + "ssl_min_protocol_version = 'TLSv1.2'\n"
        + "max_connections = 60\n"
        + "fsync = off\n";
    Files.writeString(data.resolve("postgresql.conf"), conf, StandardCharsets.UTF_8,
        java.nio.file.StandardOpenOption.APPEND);
    Files.writeString(data.resolve("pg_hba.conf"), String.join("\n",
        "local all all trust",
        "hostnossl all postgres 127.0.0.1/32 trust",
        "hostssl all all 127.0.0.1/32 cert map=kube",
        extra ? "hostssl all all " + listenAddress + "/32 cert map=kube\n" : ""));
    List<String> ident = new ArrayList<>();
    for (String line : identMap) {
      ident.add("kube " + line);
    }
    Files.writeString(data.resolve("pg_ident.conf"), String.join("\n", ident) + "\n");
    chown();
    run(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-l",
        dir.resolve("server.log").toString(), "-w", "-t", "60", "start"), 90);
  }

  private static Path findBin() {
    if (!Files.isDirectory(PACKAGES)) {
      throw new IllegalStateException("no PostgreSQL server installed: " + PACKAGES + " does not exist;"
          + " install the distribution's postgresql package (scripts/install-prereqs.sh does)");
    }
    try (Stream<Path> versions = Files.list(PACKAGES)) {
      return versions.map(v -> v.resolve("bin"))
          .filter(b -> Files.isExecutable(b.resolve("initdb")) && Files.isExecutable(b.resolve("pg_ctl")))
          .max(Comparator.comparingInt(b -> version(b.getParent().getFileName().toString())))
          .orElseThrow(() -> new IllegalStateException("no PostgreSQL version under " + PACKAGES
              + " has bin/initdb and bin/pg_ctl; install the postgresql server package"));
    } catch (IOException e) {
      throw new IllegalStateException("cannot list " + PACKAGES + ": " + e.getMessage(), e);
    }
  }

  private static int version(String name) {
    try {
      return Integer.parseInt(name.replaceAll("\\..*", ""));
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** Replaces the server's certificate and key and reloads the configuration (SIGHUP). */
  public void replaceServerCertificate(String certPem, String keyPem, String clientCaPem)
      throws IOException, InterruptedException {
    writeTls(certPem, keyPem, clientCaPem);
    chown();
    run(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "reload"), 30);
  }

  private void writeTls(String certPem, String keyPem, String caPem) throws IOException {
    Files.writeString(dir.resolve("server.crt"), certPem);
    Path key = dir.resolve("server.key");
    Files.deleteIfExists(key);
    Files.createFile(key, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    Files.writeString(key, keyPem);
    Files.writeString(dir.resolve("client-ca.crt"), caPem);
  }

  private void chown() throws IOException, InterruptedException {
    if (asPostgresUser) {
      exec(List.of("chown", "-R", "postgres:postgres", dir.toString()), 30, false);
    }
  }

  private void run(List<String> command, int seconds) throws IOException, InterruptedException {
    exec(command, seconds, asPostgresUser);
  }

  private void exec(List<String> command, int seconds, boolean asPostgres)
      throws IOException, InterruptedException {
    List<String> full = new ArrayList<>();
    if (asPostgres) {
      full.addAll(List.of("runuser", "-u", "postgres", "--"));
    }
    full.addAll(command);
    Path out = Files.createTempFile(dir, "cmd", ".log");
    Process p = new ProcessBuilder(full).redirectErrorStream(true).redirectOutput(out.toFile())
        .directory(dir.toFile()).start();
    if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException("PostgreSQL test server: " + String.join(" ", full)
          + " did not finish in " + seconds + " s: " + tail(out) + serverLog());
    }
    if (p.exitValue() != 0) {
      throw new IllegalStateException("PostgreSQL test server: " + String.join(" ", full)
          + " failed with exit code " + p.exitValue() + ": " + tail(out) + serverLog());
    }
  }

  private static String tail(Path file) throws IOException {
    String s = Files.readString(file);
    return s.length() > 20000 ? s.substring(s.length() - 20000) : s;
  }

  /** The last lines of the server's log, for failure messages. */
  public String serverLog() {
    try {
      Path log = dir.resolve("server.log");
      return Files.exists(log) ? "\nserver log:\n" + tail(log) : "";
    } catch (IOException e) {
      return "";
    }
  }

  public int port() {
    return port;
  }

  /** A JDBC URL for {@code host} (the name the client dials) and database {@code postgres}. */
  public String url(String host) {
    return "jdbc:postgresql://" + host + ":" + port + "/postgres";
  }

  /** A superuser connection without TLS over loopback. */
  public Connection admin() throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", "postgres");
    p.setProperty("sslmode", "disable");
    return DriverManager.getConnection(url("127.0.0.1"), p);
  }

  /** Runs statements as the superuser. */
  public void sql(String... statements) throws SQLException {
    try (Connection c = admin(); java.sql.Statement s = c.createStatement()) {
      for (String statement : statements) {
        s.execute(statement);
      }
    }
  }

  @Override
  public void close() throws IOException {
    try {
      run(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-m", "immediate", "-w",
          "stop"), 60);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }
}
