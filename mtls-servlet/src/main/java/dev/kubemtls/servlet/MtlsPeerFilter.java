package dev.kubemtls.servlet;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.internal.SafeTlsListener;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.FilterConfig;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.Principal;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Jakarta Servlet filter that turns the client certificate of an mTLS request into a
 * {@link PeerIdentity}, and lets through only the peers a {@link PeerPolicy} allows.
 *
 * <p>The TLS connector has already verified the client's certificate chain against the trust
 * bundle during the handshake; the container hands the chain to the application as the request
 * attribute {@value #CERTIFICATE_ATTRIBUTE}. The filter reads the leaf, exposes its identity as the
 * request attribute {@value #PEER_IDENTITY_ATTRIBUTE} and as the user principal (a
 * {@link PeerPrincipal}, with auth type {@code CLIENT_CERT}), and checks the allow-list. A request
 * that is refused gets {@code 403 Forbidden} with a one-line {@code text/plain} reason, and the
 * rest of the chain is not called. The filter must only sit behind a connector that verifies
 * client certificates (such as one from {@link JettyMtls}): it parses, it does not verify.
 *
 * <p>A kept-alive HTTP/1.1 connection can outlive the client certificate it was authenticated with
 * (a pooled client connection keeps presenting its first certificate after renewals). When the
 * certificate on the connection has expired ({@link Builder#clock}), the request is served and its
 * response carries {@code Connection: close}, so the connection ends there and the client's next
 * request comes on a new connection with its current certificate: at most one request per
 * connection after the expiry, and nothing fails.
 *
 * <p>It uses only the Servlet 6 API, so it works in any Servlet 6 container. Configure it in code:
 *
 * <pre>{@code
 * MtlsPeerFilter filter = MtlsPeerFilter.builder()
 *     .policy(PeerPolicy.builder().allowNamespace("billing").build())
 *     .build();
 * }</pre>
 *
 * <p>or, created by the container from {@code web.xml}, with init-params (all optional):
 * {@value #INIT_ALLOWED_NAMESPACES}, {@value #INIT_ALLOWED_SERVICE_ACCOUNTS} (as
 * {@code namespace/name}) and {@value #INIT_ALLOWED_SPIFFE_IDS}, each comma-separated, and
 * {@value #INIT_REQUIRE_CERTIFICATE} ({@code true} by default). With no allow-list entries every
 * verified peer whose certificate carries a SPIFFE ID is allowed ({@link PeerPolicy#anySpiffeId()},
 * the default of every kube-mtls integration); a programmatic filter given
 * {@link PeerPolicy#allowAll()} also lets certificates without one through.
 *
 * <p>A filter configured in code can report each refused request to a {@link TlsListener}
 * ({@link Builder#listener}, through {@link TlsListener#requestRefused}): a missing certificate as
 * {@link HandshakeFailure#NO_PEER_CERTIFICATE}, a peer outside the allow-list or with an unreadable
 * certificate as {@link HandshakeFailure#PEER_NOT_ALLOWED}. A filter configured by init-params
 * reports nothing.
 */
public final class MtlsPeerFilter implements Filter {

  /** The request attribute holding the peer's {@link PeerIdentity}. */
  public static final String PEER_IDENTITY_ATTRIBUTE = "dev.kubemtls.servlet.peerIdentity";

  /** The standard Servlet request attribute with the client's certificate chain. */
  public static final String CERTIFICATE_ATTRIBUTE = "jakarta.servlet.request.X509Certificate";

  /** Init-param: comma-separated namespaces whose workloads are allowed. */
  public static final String INIT_ALLOWED_NAMESPACES = "allowed-namespaces";

  /** Init-param: comma-separated {@code namespace/serviceAccount} pairs that are allowed. */
  public static final String INIT_ALLOWED_SERVICE_ACCOUNTS = "allowed-service-accounts";

  /** Init-param: comma-separated SPIFFE IDs that are allowed. */
  public static final String INIT_ALLOWED_SPIFFE_IDS = "allowed-spiffe-ids";

  /** Init-param: {@code true} (default) or {@code false}; whether requests without a certificate are refused. */
  public static final String INIT_REQUIRE_CERTIFICATE = "require-certificate";

  private static final Logger LOG = LoggerFactory.getLogger(MtlsPeerFilter.class);
  private static final List<String> INIT_PARAMS = List.of(INIT_ALLOWED_NAMESPACES,
      INIT_ALLOWED_SERVICE_ACCOUNTS, INIT_ALLOWED_SPIFFE_IDS, INIT_REQUIRE_CERTIFICATE);

  private final boolean programmatic;
  private final TlsListener listener;
  private final java.time.InstantSource clock;
  private volatile PeerPolicy policy;
  private volatile boolean requireCertificate;

  /**
   * A filter configured from its init-params when the container initializes it; until then it
   * requires a certificate and allows every verified peer with a SPIFFE ID. Meant for {@code web.xml}.
   */
  public MtlsPeerFilter() {
    this.programmatic = false;
    this.listener = TlsListener.NO_OP;
    this.clock = java.time.InstantSource.system();
    this.policy = PeerPolicy.anySpiffeId();
    this.requireCertificate = true;
  }

  private MtlsPeerFilter(Builder builder) {
    this.programmatic = true;
    this.listener = builder.listener;
    this.clock = builder.clock;
    this.policy = builder.policy;
    this.requireCertificate = builder.requireCertificate;
  }

  /** Starts a programmatic configuration: certificate required, every verified peer with a SPIFFE ID allowed. */
  public static Builder builder() {
    return new Builder();
  }

  /** The allow-list in force. */
  public PeerPolicy policy() {
    return policy;
  }

  /** Whether requests without a client certificate are refused. */
  public boolean requiresCertificate() {
    return requireCertificate;
  }

  /**
   * Reads the init-params of a filter made with the no-argument constructor.
   *
   * @throws ServletException if an init-param is malformed, or init-params are given to a filter
   *     that was configured with {@link #builder()}
   */
  @Override
  public void init(FilterConfig config) throws ServletException {
    boolean any = INIT_PARAMS.stream().anyMatch(p -> config.getInitParameter(p) != null);
    if (programmatic) {
      if (any) {
        throw new ServletException("filter " + config.getFilterName() + " was configured with"
            + " MtlsPeerFilter.builder(); remove its init-params " + INIT_PARAMS);
      }
      return;
    }
    try {
      PeerPolicy.Builder b = PeerPolicy.builder();
      for (String ns : split(config.getInitParameter(INIT_ALLOWED_NAMESPACES))) {
        b.allowNamespace(ns);
      }
      for (String pair : split(config.getInitParameter(INIT_ALLOWED_SERVICE_ACCOUNTS))) {
        int slash = pair.indexOf('/');
        if (slash <= 0 || slash != pair.lastIndexOf('/') || slash == pair.length() - 1) {
          throw new IllegalArgumentException(INIT_ALLOWED_SERVICE_ACCOUNTS + " entry '" + pair
              + "' must have the form namespace/serviceAccount");
        }
        b.allowServiceAccount(pair.substring(0, slash), pair.substring(slash + 1));
      }
      for (String id : split(config.getInitParameter(INIT_ALLOWED_SPIFFE_IDS))) {
        b.allowSpiffeId(id);
      }
      PeerPolicy parsed = b.build();
      boolean require = parseBoolean(config.getInitParameter(INIT_REQUIRE_CERTIFICATE));
      this.policy = parsed;
      this.requireCertificate = require;
      LOG.info("filter {} enforces {}, certificate {}", config.getFilterName(), parsed,
          require ? "required" : "optional");
    } catch (IllegalArgumentException e) {
      throw new ServletException("filter " + config.getFilterName() + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
      throws IOException, ServletException {
    if (!(request instanceof HttpServletRequest http) || !(response instanceof HttpServletResponse out)) {
      throw new ServletException("MtlsPeerFilter handles HTTP requests only");
    }
    Optional<X509Certificate> leaf = leafCertificate(http);
    PeerPolicy current = policy;
    if (leaf.isEmpty()) {
      if (requireCertificate || current.hasAllowList()) {
        deny(http, out, HandshakeFailure.NO_PEER_CERTIFICATE, null,
            "a client certificate is required: connect with mutual TLS");
        return;
      }
      chain.doFilter(request, response);
      return;
    }
    PeerIdentity peer;
    try {
      peer = PeerIdentity.of(leaf.get());
    } catch (InvalidMaterialException e) {
      deny(http, out, HandshakeFailure.PEER_NOT_ALLOWED, null,
          "the client certificate cannot be read: " + e.getMessage());
      return;
    }
    Optional<String> denial = current.denialReason(peer);
    if (denial.isPresent()) {
      deny(http, out, HandshakeFailure.PEER_NOT_ALLOWED, peer, denial.get());
      return;
    }
    request.setAttribute(PEER_IDENTITY_ATTRIBUTE, peer);
    if (leaf.get().getNotAfter().toInstant().isBefore(clock.instant())) {
      // A kept-alive connection outlives the client certificate it was made with: this request is
      // served (the certificate was valid when the connection was authenticated), and the
      // connection ends with its response, so the client's next request makes a new connection with
      // its renewed certificate. HTTP/1.1 only: HTTP/2 has no per-response way to close.
      if (!out.isCommitted() && "HTTP/1.1".equals(http.getProtocol())) {
        out.setHeader("Connection", "close");
      }
      LOG.debug("{} {} from {}: the client certificate (serial {}) expired at {} on this kept-alive"
          + " connection; it is closed after this response", http.getMethod(), http.getRequestURI(),
          http.getRemoteAddr(), leaf.get().getSerialNumber().toString(16), leaf.get().getNotAfter().toInstant());
    }
    chain.doFilter(new PeerRequest(http, new PeerPrincipal(peer)), response);
  }

  private static Optional<X509Certificate> leafCertificate(HttpServletRequest request) {
    Object attribute = request.getAttribute(CERTIFICATE_ATTRIBUTE);
    if (attribute instanceof X509Certificate[] chain && chain.length > 0 && chain[0] != null) {
      return Optional.of(chain[0]);
    }
    return Optional.empty();
  }

  private void deny(HttpServletRequest request, HttpServletResponse response, HandshakeFailure failure,
      PeerIdentity peer, String reason) throws IOException {
    LOG.debug("refused {} {} from {}: {}", request.getMethod(), request.getRequestURI(),
        request.getRemoteAddr(), reason);
    if (listener != TlsListener.NO_OP) {
      listener.requestRefused(failure, Optional.ofNullable(peer), reason);
    }
    if (response.isCommitted()) {
      return;
    }
    response.resetBuffer();
    response.setStatus(HttpServletResponse.SC_FORBIDDEN);
    response.setContentType("text/plain;charset=UTF-8");
    byte[] body = (reason + "\n").getBytes(StandardCharsets.UTF_8);
    response.setContentLength(body.length);
    response.getOutputStream().write(body);
  }

  private static List<String> split(String value) {
    if (value == null) {
      return List.of();
    }
    return Arrays.stream(value.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
  }

  private static boolean parseBoolean(String value) {
    if (value == null) {
      return true;
    }
    return switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new IllegalArgumentException(
          INIT_REQUIRE_CERTIFICATE + " must be true or false, was '" + value + "'");
    };
  }

  /** Options of a programmatically configured {@link MtlsPeerFilter}. */
  public static final class Builder {
    private PeerPolicy policy = PeerPolicy.anySpiffeId();
    private boolean requireCertificate = true;
    private TlsListener listener = TlsListener.NO_OP;
    private java.time.InstantSource clock = java.time.InstantSource.system();

    private Builder() {}

    /**
     * The clock that tells when a client certificate has expired on a kept-alive connection (whose
     * response then closes the connection); the system clock by default.
     */
    public Builder clock(java.time.InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** The allow-list; {@link PeerPolicy#anySpiffeId()} by default. */
    public Builder policy(PeerPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * Whether a request without a client certificate is refused; {@code true} by default. Set it
     * to {@code false} only behind a connector with {@link dev.kubemtls.core.tls.ClientAuth#OPTIONAL} where some paths
     * are public; a policy with allow-list entries refuses such requests anyway.
     */
    public Builder requireCertificate(boolean requireCertificate) {
      this.requireCertificate = requireCertificate;
      return this;
    }

    /**
     * Told about each refused request ({@link TlsListener#requestRefused}); {@link TlsListener#NO_OP}
     * by default. It is called on the request's thread before the 403 is written and must not block;
     * what it throws is logged and ignored.
     */
    public Builder listener(TlsListener listener) {
      this.listener = SafeTlsListener.wrap(listener);
      return this;
    }

    /** A filter with these options; it refuses init-params, since its configuration is complete. */
    public MtlsPeerFilter build() {
      return new MtlsPeerFilter(this);
    }
  }

  private static final class PeerRequest extends HttpServletRequestWrapper {
    private final PeerPrincipal principal;

    PeerRequest(HttpServletRequest request, PeerPrincipal principal) {
      super(request);
      this.principal = principal;
    }

    @Override
    public Principal getUserPrincipal() {
      return principal;
    }

    @Override
    public String getRemoteUser() {
      return principal.getName();
    }

    @Override
    public String getAuthType() {
      return HttpServletRequest.CLIENT_CERT_AUTH;
    }
  }
}
