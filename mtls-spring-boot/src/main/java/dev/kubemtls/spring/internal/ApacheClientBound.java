package dev.kubemtls.spring.internal;

import java.io.IOException;
import java.net.Socket;
import java.net.SocketAddress;
import java.time.Instant;
import java.util.Objects;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import org.apache.hc.client5.http.HttpRoute;
import org.apache.hc.client5.http.impl.DefaultUserTokenHandler;
import org.apache.hc.client5.http.impl.io.ManagedHttpClientConnectionFactory;
import org.apache.hc.client5.http.protocol.HttpClientContext;
import org.apache.hc.core5.http.protocol.HttpContext;
import org.apache.hc.client5.http.io.ManagedHttpClientConnection;
import org.apache.hc.core5.http.ClassicHttpRequest;
import org.apache.hc.core5.http.ClassicHttpResponse;
import org.apache.hc.core5.http.EndpointDetails;
import org.apache.hc.core5.http.HttpException;
import org.apache.hc.core5.http.ProtocolVersion;
import org.apache.hc.core5.http.io.HttpConnectionFactory;
import org.apache.hc.core5.io.CloseMode;
import org.apache.hc.core5.util.TimeValue;
import org.apache.hc.core5.util.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.http.client.HttpComponentsClientHttpRequestFactoryBuilder;
import org.springframework.boot.http.client.autoconfigure.ClientHttpRequestFactoryBuilderCustomizer;

/**
 * Bounds the pooled connections of Apache HttpClient 5 as Spring Boot builds it for
 * {@code RestClient}/{@code RestTemplate}: each connection the pool makes is checked by its
 * {@link ClientConnectionBound} every time the pool is about to hand it out (HttpClient's own
 * validation before reuse, asked on every lease), and one that has outlived its material is closed
 * (with close_notify) and replaced by a new connection, so the request never sees it. Apache's own
 * stale check still runs for connections idle 2 s or more, as by default.
 */
public final class ApacheClientBound
    implements ClientHttpRequestFactoryBuilderCustomizer<HttpComponentsClientHttpRequestFactoryBuilder> {

  private static final Logger LOG = LoggerFactory.getLogger(ApacheClientBound.class);
  private static final long STALE_CHECK_AFTER_NANOS = 2_000_000_000L;

  private final ClientConnectionBound bound;

  public ApacheClientBound(ClientConnectionBound bound) {
    this.bound = Objects.requireNonNull(bound, "bound");
  }

  @Override
  public HttpComponentsClientHttpRequestFactoryBuilder customize(HttpComponentsClientHttpRequestFactoryBuilder builder) {
    return builder
        .withConnectionManagerCustomizer(manager -> manager.setConnectionFactory(factory(ManagedHttpClientConnectionFactory.INSTANCE)))
        .withConnectionConfigCustomizer(config -> config.setValidateAfterInactivity(TimeValue.ZERO_MILLISECONDS))
        .withHttpClientCustomizer(client -> client.setUserTokenHandler(this::userToken));
  }

  /**
   * HttpClient's default keys a TLS connection made with a client certificate by that certificate's
   * subject, and Spring's requests carry no such key, so a kube-mtls connection was never reused: it
   * sat idle in the pool while every request made a new one. A connection to a kube-mtls server is
   * keyed by nothing (any request of this client may reuse it, within its bound); others as by default.
   */
  private Object userToken(HttpRoute route, HttpContext context) {
    if (bound.isKubeMtlsServer(HttpClientContext.castOrCreate(context).getSSLSession())) {
      return null;
    }
    return DefaultUserTokenHandler.INSTANCE.getUserToken(route, context);
  }

  /** A connection factory whose connections are {@code delegate}'s, bounded. */
  public HttpConnectionFactory<ManagedHttpClientConnection> factory(
      HttpConnectionFactory<ManagedHttpClientConnection> delegate) {
    return socket -> new Bounded(delegate.createConnection(socket), bound.now());
  }

  private final class Bounded implements ManagedHttpClientConnection {
    private final ManagedHttpClientConnection delegate;
    private final Instant madeAt;
    private volatile long idleSince = System.nanoTime();

    Bounded(ManagedHttpClientConnection delegate, Instant madeAt) {
      this.delegate = delegate;
      this.madeAt = madeAt;
    }

    @Override
    public boolean isStale() throws IOException {
      String why = bound.ended(delegate.getSSLSession(), madeAt);
      if (why != null) {
        LOG.debug("not reusing connection to {}: {}", delegate.getRemoteAddress(), why);
        delegate.close(CloseMode.GRACEFUL);
        return true;
      }
      return System.nanoTime() - idleSince >= STALE_CHECK_AFTER_NANOS && delegate.isStale();
    }

    @Override
    public void passivate() {
      idleSince = System.nanoTime();
      delegate.passivate();
    }

    @Override
    public void activate() {
      delegate.activate();
    }

    @Override
    public void bind(Socket socket) throws IOException {
      delegate.bind(socket);
    }

    @Override
    public void bind(SSLSocket sslSocket, Socket socket) throws IOException {
      delegate.bind(sslSocket, socket);
    }

    @Override
    public Socket getSocket() {
      return delegate.getSocket();
    }

    @Override
    public SSLSession getSSLSession() {
      return delegate.getSSLSession();
    }

    @Override
    public boolean isConsistent() {
      return delegate.isConsistent();
    }

    @Override
    public void sendRequestHeader(ClassicHttpRequest request) throws HttpException, IOException {
      delegate.sendRequestHeader(request);
    }

    @Override
    public void terminateRequest(ClassicHttpRequest request) throws HttpException, IOException {
      delegate.terminateRequest(request);
    }

    @Override
    public void sendRequestEntity(ClassicHttpRequest request) throws HttpException, IOException {
      delegate.sendRequestEntity(request);
    }

    @Override
    public ClassicHttpResponse receiveResponseHeader() throws HttpException, IOException {
      return delegate.receiveResponseHeader();
    }

    @Override
    public void receiveResponseEntity(ClassicHttpResponse response) throws HttpException, IOException {
      delegate.receiveResponseEntity(response);
    }

    @Override
    public boolean isDataAvailable(Timeout timeout) throws IOException {
      return delegate.isDataAvailable(timeout);
    }

    @Override
    public void flush() throws IOException {
      delegate.flush();
    }

    @Override
    public void close() throws IOException {
      delegate.close();
    }

    @Override
    public void close(CloseMode mode) {
      delegate.close(mode);
    }

    @Override
    public EndpointDetails getEndpointDetails() {
      return delegate.getEndpointDetails();
    }

    @Override
    public SocketAddress getLocalAddress() {
      return delegate.getLocalAddress();
    }

    @Override
    public SocketAddress getRemoteAddress() {
      return delegate.getRemoteAddress();
    }

    @Override
    public ProtocolVersion getProtocolVersion() {
      return delegate.getProtocolVersion();
    }

    @Override
    public boolean isOpen() {
      return delegate.isOpen();
    }

    @Override
    public Timeout getSocketTimeout() {
      return delegate.getSocketTimeout();
    }

    @Override
    public void setSocketTimeout(Timeout timeout) {
      delegate.setSocketTimeout(timeout);
    }

    @Override
    public String toString() {
      return delegate.toString();
    }
  }
}
