package dev.kubemtls.spring;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.InstantSource;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.Ordered;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.http.server.reactive.SslInfo;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;

/**
 * The WebFlux counterpart of the servlet {@code MtlsPeerFilter}: reads the verified client
 * certificate of each request, exposes its {@link PeerIdentity} as the exchange attribute
 * {@value #PEER_IDENTITY_ATTRIBUTE} and as the principal ({@link MtlsPeerPrincipal}), and lets
 * through only callers the {@link PeerPolicy} allows. A refused request gets {@code 403} with a
 * one-line {@code text/plain} reason. It parses, it does not verify: the TLS server has verified
 * the chain against the trust bundle already.
 *
 * <p>A kept-alive connection can outlive the client certificate it was authenticated with (a
 * pooled client connection keeps presenting its first certificate after renewals). When the
 * certificate on the connection has expired by the filter's clock, the request is served and its
 * response carries {@code Connection: close} (the starter serves WebFlux over HTTP/1.1 only), so the
 * client's next request comes on a new connection with its current certificate: at most one
 * request per connection after the expiry, and nothing fails.
 */
public final class MtlsPeerWebFilter implements WebFilter, Ordered {

  /** The exchange attribute holding the caller's {@link PeerIdentity}. */
  public static final String PEER_IDENTITY_ATTRIBUTE = "dev.kubemtls.spring.peerIdentity";

  private static final Logger LOG = LoggerFactory.getLogger(MtlsPeerWebFilter.class);

  private final PeerPolicy policy;
  private final TlsListener listener;
  private final InstantSource clock;

  /** A filter enforcing {@code policy}, reporting refusals to {@code listener}, on the system clock. */
  public MtlsPeerWebFilter(PeerPolicy policy, TlsListener listener) {
    this(policy, listener, InstantSource.system());
  }

  /**
   * As {@link #MtlsPeerWebFilter(PeerPolicy, TlsListener)}; {@code clock} tells when a client
   * certificate has expired on a kept-alive connection (whose response then closes it).
   */
  public MtlsPeerWebFilter(PeerPolicy policy, TlsListener listener, InstantSource clock) {
    this.policy = Objects.requireNonNull(policy, "policy");
    this.listener = Objects.requireNonNull(listener, "listener");
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  /** The policy this filter enforces. */
  public PeerPolicy policy() {
    return policy;
  }

  @Override
  public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
    SslInfo ssl = exchange.getRequest().getSslInfo();
    X509Certificate[] certificates = ssl == null ? null : ssl.getPeerCertificates();
    if (certificates == null || certificates.length == 0 || certificates[0] == null) {
      return deny(exchange, HandshakeFailure.NO_PEER_CERTIFICATE, null,
          "a client certificate is required: connect with mutual TLS");
    }
    PeerIdentity peer;
    try {
      peer = PeerIdentity.of(certificates[0]);
    } catch (InvalidMaterialException e) {
      return deny(exchange, HandshakeFailure.PEER_NOT_ALLOWED, null,
          "the client certificate cannot be read: " + e.getMessage());
    }
    Optional<String> denial = policy.denialReason(peer);
    if (denial.isPresent()) {
      return deny(exchange, HandshakeFailure.PEER_NOT_ALLOWED, peer, denial.get());
    }
    exchange.getAttributes().put(PEER_IDENTITY_ATTRIBUTE, peer);
    if (certificates[0].getNotAfter().toInstant().isBefore(clock.instant())) {
      // Valid when the connection was authenticated, expired now: serve this request and end the
      // connection with its response, so the next one comes with the renewed certificate.
      exchange.getResponse().getHeaders().set("Connection", "close");
      LOG.debug("{} {} from {}: the client certificate (serial {}) expired at {} on this kept-alive"
          + " connection; it is closed after this response", exchange.getRequest().getMethod(),
          exchange.getRequest().getPath(), exchange.getRequest().getRemoteAddress(),
          certificates[0].getSerialNumber().toString(16), certificates[0].getNotAfter().toInstant());
    }
    MtlsPeerPrincipal principal = new MtlsPeerPrincipal(peer);
    return chain.filter(exchange.mutate().principal(Mono.just(principal)).build());
  }

  private Mono<Void> deny(ServerWebExchange exchange, HandshakeFailure failure, PeerIdentity peer, String reason) {
    LOG.debug("refused {} {}: {}", exchange.getRequest().getMethod(), exchange.getRequest().getPath(), reason);
    try {
      listener.requestRefused(failure, Optional.ofNullable(peer), reason);
    } catch (RuntimeException e) {
      LOG.warn("a TLS listener failed on a refused request", e);
    }
    ServerHttpResponse response = exchange.getResponse();
    response.setStatusCode(HttpStatus.FORBIDDEN);
    response.getHeaders().setContentType(new MediaType(MediaType.TEXT_PLAIN, StandardCharsets.UTF_8));
    DataBuffer body = response.bufferFactory().wrap((reason + "\n").getBytes(StandardCharsets.UTF_8));
    return response.writeWith(Mono.just(body));
  }

  @Override
  public int getOrder() {
    return Ordered.HIGHEST_PRECEDENCE + 10;
  }
}
