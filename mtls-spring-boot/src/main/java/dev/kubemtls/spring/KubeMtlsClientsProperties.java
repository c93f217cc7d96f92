package dev.kubemtls.spring;

import dev.kubemtls.core.peer.PeerPolicy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code kube-mtls.clients.*}: the outgoing connections the starter builds on the workload's identity
 * besides Spring's own clients: a PostgreSQL {@code DataSource} and java.net.http, OkHttp and Apache
 * HttpClient beans. See {@link KubeMtlsClientsAutoConfiguration}.
 */
@ConfigurationProperties(prefix = "kube-mtls.clients")
public class KubeMtlsClientsProperties {

  private final Postgres postgres = new Postgres();
  private final Http http = new Http();
  /**
   * Whether pooled connections of Spring's HTTP clients (RestClient, RestTemplate and WebClient on
   * Apache HttpClient 5 or Reactor Netty, as Spring Boot builds them) to servers whose chain ends in
   * a kube-mtls CA are bounded by their material: not reused past {@link #getMaxConnectionAge()},
   * the server certificate's {@code notAfter}, or the removal of that CA from the trust bundle.
   */
  private boolean boundConnections = true;
  /**
   * The maximum age of those pooled client connections; unset: {@code kube-mtls.max-connection-age};
   * {@code 0}: no maximum age (the certificate and CA bounds stay).
   */
  private Duration maxConnectionAge;

  /**
   * Whether the bundle's {@code createSslContext()} ends a reused connection past its bound at its
   * next request (what bounds the JDK {@code HttpClient}, which has no pool hook and retries such a
   * request); unset: only when Spring Boot's HTTP client is the JDK one. Other clients that take that
   * context (Jetty's {@code HttpClient}) do not retry, so the default leaves them alone.
   */
  private Boolean boundJdkClient;

  public Boolean getBoundJdkClient() {
    return boundJdkClient;
  }

  public void setBoundJdkClient(Boolean boundJdkClient) {
    this.boundJdkClient = boundJdkClient;
  }

  public boolean isBoundConnections() {
    return boundConnections;
  }

  public void setBoundConnections(boolean boundConnections) {
    this.boundConnections = boundConnections;
  }

  public Duration getMaxConnectionAge() {
    return maxConnectionAge;
  }

  public void setMaxConnectionAge(Duration maxConnectionAge) {
    this.maxConnectionAge = maxConnectionAge;
  }

  /**
   * The maximum age of bounded client connections: {@link #getMaxConnectionAge()} if set (null when
   * zero or negative), else {@code serverDefault} (the starter's {@code kube-mtls.max-connection-age}).
   */
  public Duration clientMaxConnectionAge(Duration serverDefault) {
    if (maxConnectionAge == null) {
      return serverDefault;
    }
    return maxConnectionAge.isZero() || maxConnectionAge.isNegative() ? null : maxConnectionAge;
  }

  public Postgres getPostgres() {
    return postgres;
  }

  public Http getHttp() {
    return http;
  }

  /** Whom a client accepts as its server, and when its pooled connections are retired. */
  public abstract static class Client {
    /** Allowed servers as {@code namespace/serviceaccount}; with no entries any SPIFFE ID is allowed. */
    private List<String> serverServiceAccounts = new ArrayList<>();
    /** Allowed servers by exact SPIFFE ID. */
    private List<String> serverSpiffeIds = new ArrayList<>();
    /** Also retire pooled connections when the workload's own certificate is renewed. */
    private boolean retireOnRenewal;
    /** How often pooled connections are checked for retirement (and at once on every new snapshot). */
    private Duration checkEvery = Duration.ofSeconds(10);

    /** The peer policy these entries make. */
    public PeerPolicy serverPolicy() {
      if (serverServiceAccounts.isEmpty() && serverSpiffeIds.isEmpty()) {
        return PeerPolicy.anySpiffeId();
      }
      PeerPolicy.Builder b = PeerPolicy.builder();
      for (String entry : serverServiceAccounts) {
        int slash = entry.indexOf('/');
        if (slash <= 0 || slash != entry.lastIndexOf('/') || slash == entry.length() - 1) {
          throw new IllegalArgumentException("kube-mtls.clients: server ServiceAccount '" + entry
              + "' must be written namespace/serviceaccount");
        }
        b.allowServiceAccount(entry.substring(0, slash), entry.substring(slash + 1));
      }
      serverSpiffeIds.forEach(b::allowSpiffeId);
      return b.build();
    }

    public List<String> getServerServiceAccounts() {
      return serverServiceAccounts;
    }

    public void setServerServiceAccounts(List<String> serverServiceAccounts) {
      this.serverServiceAccounts = serverServiceAccounts;
    }

    public List<String> getServerSpiffeIds() {
      return serverSpiffeIds;
    }

    public void setServerSpiffeIds(List<String> serverSpiffeIds) {
      this.serverSpiffeIds = serverSpiffeIds;
    }

    public boolean isRetireOnRenewal() {
      return retireOnRenewal;
    }

    public void setRetireOnRenewal(boolean retireOnRenewal) {
      this.retireOnRenewal = retireOnRenewal;
    }

    public Duration getCheckEvery() {
      return checkEvery;
    }

    public void setCheckEvery(Duration checkEvery) {
      this.checkEvery = checkEvery;
    }
  }

  /** {@code kube-mtls.clients.postgres.*}: a HikariCP {@code DataSource} to PostgreSQL over kube-mtls. */
  public static class Postgres extends Client {
    /** The JDBC URL, {@code jdbc:postgresql://host:port/database}, without TLS parameters. */
    private String url;
    /** The database role; the server maps the certificate's CN to it in pg_ident.conf. */
    private String username;
    /** The name the source is registered under for pgjdbc. */
    private String sourceName = "kube-mtls-postgres";
    /** The pool's maximum size. */
    private int maximumPoolSize = 10;

    public String getUrl() {
      return url;
    }

    public void setUrl(String url) {
      this.url = url;
    }

    public String getUsername() {
      return username;
    }

    public void setUsername(String username) {
      this.username = username;
    }

    public String getSourceName() {
      return sourceName;
    }

    public void setSourceName(String sourceName) {
      this.sourceName = sourceName;
    }

    public int getMaximumPoolSize() {
      return maximumPoolSize;
    }

    public void setMaximumPoolSize(int maximumPoolSize) {
      this.maximumPoolSize = maximumPoolSize;
    }
  }

  /** {@code kube-mtls.clients.http.*}: java.net.http, OkHttp and Apache HttpClient beans. */
  public static class Http extends Client {
    /** Whether to define the HTTP client beans. */
    private boolean enabled;

    public boolean isEnabled() {
      return enabled;
    }

    public void setEnabled(boolean enabled) {
      this.enabled = enabled;
    }
  }
}
