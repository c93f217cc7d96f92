package dev.kubemtls.spring.internal;

import io.netty.channel.Channel;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.AttributeKey;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import reactor.netty.Connection;
import reactor.netty.http.client.HttpClient;
import reactor.netty.resources.ConnectionProvider;

/**
 * Bounds the pooled connections of Reactor Netty's HTTP client as Spring Boot builds it for
 * {@code WebClient} (and for {@code RestClient} on Reactor Netty): the clients get a connection
 * pool of their own whose eviction predicate is the {@link ClientConnectionBound}, checked by
 * Reactor Netty's pool whenever it is about to hand out an idle connection (and when one comes
 * back, and in the background every second), so a connection that has outlived its material is
 * closed (with close_notify) instead of being reused, and the request takes a new one. The pool
 * otherwise has Reactor Netty's defaults for Spring's clients: 500 connections per remote host and
 * no idle or life time limit of its own. Closed with the application context.
 */
public final class ReactorClientBound implements DisposableBean {

  private static final Logger LOG = LoggerFactory.getLogger(ReactorClientBound.class);
  private static final AttributeKey<Instant> MADE_AT = AttributeKey.valueOf("kube-mtls.made-at");

  private final ClientConnectionBound bound;
  private final ConnectionProvider provider;

  public ReactorClientBound(ClientConnectionBound bound) {
    this.bound = Objects.requireNonNull(bound, "bound");
    this.provider = ConnectionProvider.builder("kube-mtls")
        .maxConnections(500)
        .evictionPredicate((connection, metadata) -> evict(connection, metadata.lifeTime()))
        .evictInBackground(Duration.ofSeconds(1))
        .build();
  }

  /** A new Reactor Netty client on the bounded pool. */
  public HttpClient httpClient() {
    return HttpClient.create(provider).doOnChannelInit((observer, channel, remote) ->
        channel.attr(MADE_AT).setIfAbsent(bound.now()));
  }

  private boolean evict(Connection connection, long lifeTimeMillis) {
    Channel channel = connection.channel();
    if (!channel.isActive()) {
      return true;
    }
    SslHandler ssl = channel.pipeline().get(SslHandler.class);
    if (ssl == null || !ssl.handshakeFuture().isSuccess()) {
      return false;
    }
    Instant madeAt = channel.attr(MADE_AT).get();
    if (madeAt == null) {
      madeAt = bound.now().minusMillis(lifeTimeMillis);
    }
    String why = bound.ended(ssl.engine().getSession(), madeAt);
    if (why != null) {
      LOG.debug("not reusing connection {}: {}", channel, why);
      return true;
    }
    return false;
  }

  /** Customizes Spring Boot's Reactor Netty connector builder (WebClient) onto the bounded pool. */
  public org.springframework.boot.http.client.autoconfigure.reactive.ClientHttpConnectorBuilderCustomizer<
      org.springframework.boot.http.client.reactive.ReactorClientHttpConnectorBuilder> connectorCustomizer() {
    return new ConnectorCustomizer(this);
  }

  /** Customizes Spring Boot's Reactor Netty request factory builder (RestClient) onto the bounded pool. */
  public org.springframework.boot.http.client.autoconfigure.ClientHttpRequestFactoryBuilderCustomizer<
      org.springframework.boot.http.client.ReactorClientHttpRequestFactoryBuilder> requestFactoryCustomizer() {
    return new RequestFactoryCustomizer(this);
  }

  private record ConnectorCustomizer(ReactorClientBound bound) implements
      org.springframework.boot.http.client.autoconfigure.reactive.ClientHttpConnectorBuilderCustomizer<
          org.springframework.boot.http.client.reactive.ReactorClientHttpConnectorBuilder> {
    @Override
    public org.springframework.boot.http.client.reactive.ReactorClientHttpConnectorBuilder customize(
        org.springframework.boot.http.client.reactive.ReactorClientHttpConnectorBuilder builder) {
      return builder.withHttpClientFactory(bound::httpClient);
    }
  }

  private record RequestFactoryCustomizer(ReactorClientBound bound) implements
      org.springframework.boot.http.client.autoconfigure.ClientHttpRequestFactoryBuilderCustomizer<
          org.springframework.boot.http.client.ReactorClientHttpRequestFactoryBuilder> {
    @Override
    public org.springframework.boot.http.client.ReactorClientHttpRequestFactoryBuilder customize(
        org.springframework.boot.http.client.ReactorClientHttpRequestFactoryBuilder builder) {
      return builder.withHttpClientFactory(bound::httpClient);
    }
  }

  @Override
  public void destroy() {
    provider.disposeLater().block(Duration.ofSeconds(10));
  }
}
